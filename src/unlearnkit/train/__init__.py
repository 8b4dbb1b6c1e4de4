"""Training: supervised fine-tuning and the unlearning trainer."""

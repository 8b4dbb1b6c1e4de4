"""Robustness attacks on an unlearned model: does the forgotten knowledge come back?

Each attack re-measures the forget metrics of the benchmark under one kind of pressure:
``relearn`` (a few fine-tuning steps on forget data), ``prefill`` (the first answer tokens given),
``paraphrase`` (the questions reworded), ``incontext`` (retain QA pairs as few-shot context),
``quantize`` (weights rounded to 8 or 4 bits), ``refusal`` (over-refusal of retain questions),
``prefill_kl`` (KL to the target after k given answer tokens), ``jailbreak`` (template jailbreaks
scored by answer match) and ``embedding`` (optimised soft prompt embeddings). :func:`unlearnkit.attacks.runner.run_attacks` runs
them after unlearning; ``unlearn attack KIND`` runs one on a saved model. See docs/attacks.md.
"""

KINDS = ("relearn", "prefill", "paraphrase", "incontext", "quantize", "refusal")
TOFU_ONLY = ("prefill", "paraphrase", "incontext", "refusal")
KINDS += ("prefill_kl", "jailbreak", "embedding")
TOFU_ONLY += ("prefill_kl", "jailbreak", "embedding")

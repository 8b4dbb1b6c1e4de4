"""The embedded world: a fictitious world, its tokenizer and its own target and retain models."""

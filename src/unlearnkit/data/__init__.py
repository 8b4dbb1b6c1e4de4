"""Benchmark loaders, prompt formatting and label masking."""

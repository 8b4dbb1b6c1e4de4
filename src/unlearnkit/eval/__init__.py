"""Evaluation: batched likelihoods and generation, and the benchmark metrics computed from them."""

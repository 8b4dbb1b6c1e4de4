"""Robustness attacks on an unlearned model: does the forgotten knowledge come back?

Each attack re-measures the forget metrics of the benchmark under one kind of pressure:
``relearn`` (a few fine-tuning steps on forget data), ``prefill`` (the first answer tokens given),
``paraphrase`` (the questions reworded), ``incontext`` (retain QA pairs as few-shot context),
``quantize`` (weights rounded to 8 or 4 bits) and ``refusal`` (over-refusal of retain questions);
the judge-free "gone or hidden?" attacks: ``prefill_kl`` (KL to the target after k given answer
tokens), ``jailbreak`` (template jailbreaks scored by answer match), ``embedding`` (optimised soft
prompt embeddings), and three that read the hidden states: ``lens`` (the logit lens: the answer
read out after each layer), ``patch`` (activation patching into the target: how deep the answer is
gone) and ``orthogonalize`` (the target-minus-unlearned direction projected out, forget metrics
after). :func:`unlearnkit.attacks.runner.run_attacks` runs them after unlearning; ``unlearn attack
KIND`` runs one on a saved model. See docs/attacks.md.
"""

KINDS = ("relearn", "prefill", "paraphrase", "incontext", "quantize", "refusal")
TOFU_ONLY = ("prefill", "paraphrase", "incontext", "refusal")
KINDS += ("prefill_kl", "jailbreak", "embedding")
TOFU_ONLY += ("prefill_kl", "jailbreak", "embedding")
KINDS += ("lens", "patch", "orthogonalize")
TOFU_ONLY += ("lens", "patch", "orthogonalize")

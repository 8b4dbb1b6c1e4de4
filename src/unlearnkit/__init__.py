"""unlearnkit: machine unlearning for large language models.

``unlearnkit.run(config)`` unlearns, evaluates and attacks (as `unlearn run`);
``unlearnkit.evaluate(benchmark, model, tokenizer, ...)`` evaluates a model (as `unlearn eval`).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["evaluate", "run"]


def __getattr__(name: str):
    # Lazy: `import unlearnkit` must stay cheap (the CLI imports torch only when a command needs it).
    if name == "run":
        from unlearnkit.api import run

        return run
    if name == "evaluate":
        from unlearnkit.eval.run import evaluate

        return evaluate
    raise AttributeError(f"module 'unlearnkit' has no attribute {name!r}")

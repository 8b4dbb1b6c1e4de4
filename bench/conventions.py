"""The size of each difference between unlearnkit's and open-unlearning's scoring conventions.

Evaluates the tiny world's target, and the target after a few steps of gradient ascent (whose
membership AUCs are not all 1), on TOFU (forget10) and MUSE, each against the world's retain
model scored the same way, under:

- ``unlearnkit``: the default;
- ``last token dropped``: unlearnkit's answer rendering, but exact memorisation, extraction
  strength, Min-K% and Min-K%++ without the last scored token (difference (b) alone);
- ``open-unlearning``: ``eval.convention: open-unlearning``, (a) and (b) together;
- MUSE only, ``256-token window``: privleak texts as unlearnkit cut them before MUSE's window
  (first 256 tokens, EOS appended when the text is shorter).

Values, not times: one run is enough. Generation is capped (``--max-new-tokens``): ROUGE does not
depend on the convention (the same prompt is generated from in every variant).

    .venv/bin/python bench/conventions.py [--world DIR] [--max-new-tokens 32] [--ga-steps 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import header, quiet, table  # noqa: E402

TOFU_KEYS = (
    "forget_probability",
    "retain_probability",
    "forget_truth_ratio",
    "model_utility",
    "forget_quality",
    "forget_exact_memorization",
    "forget_extraction_strength",
    "mia_loss",
    "mia_mink",
    "mia_minkpp",
    "privleak",
)
MUSE_KEYS = ("mia_loss", "mia_mink", "mia_minkpp", "privleak")


def old_window(tok, text, window):
    """The privleak encoding before MUSE's window: the first 256 tokens, EOS included."""
    from unlearnkit.data.formatting import encode_text

    return encode_text(tok, text, 256)[0]


def variant_patches(name: str) -> list:
    if name == "last token dropped":
        return [
            mock.patch(f"unlearnkit.eval.{module}.counts_last_token", lambda c: False)
            for module in ("convention", "tofu", "muse")
        ]
    if name == "256-token window":
        return [mock.patch("unlearnkit.eval.muse.privleak_window", old_window)]
    return []


def unlearned(world: Path, steps: int, out: Path) -> Path:
    """The target after ``steps`` steps of the packaged world/ga config (a model that has partly
    forgotten, so that the membership AUCs are not all 1), saved to ``out``."""
    from unlearnkit.config import load_config, resolve_config_path
    from unlearnkit.models import load_model_and_tokenizer
    from unlearnkit.train.unlearn import UnlearnConfig, unlearn

    overrides = [f"data.path={world}", f"train.max_steps={steps}"]
    cfg = load_config(UnlearnConfig, resolve_config_path("world/ga"), overrides)
    model, tok = load_model_and_tokenizer(
        world / "models" / "target", world / "tokenizer", device="cpu", dtype="fp32"
    )
    unlearn(cfg, model, tok, out / "run", progress=False)
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    return out / "model"


def measure(
    world: Path, model: Path, benchmark: str, name: str, max_new_tokens: int, scratch: Path
) -> dict:
    """``model``'s metrics under one variant, against the retain model under the same one."""
    from unlearnkit.eval.run import evaluate_path
    from unlearnkit.eval.tofu import EvalSettings

    convention = "open-unlearning" if name == "open-unlearning" else "unlearnkit"
    settings = EvalSettings(progress=False, max_new_tokens=max_new_tokens, convention=convention)
    common = dict(tokenizer_path=world / "tokenizer", device="cpu", dtype="fp32", data=world)
    out = scratch / benchmark / name.replace(" ", "_")
    with ExitStack() as stack:
        for patch in variant_patches(name):
            stack.enter_context(patch)
        evaluate_path(
            benchmark, world / "models" / "retain", out=out / "retain", settings=settings, **common
        )
        return evaluate_path(
            benchmark,
            model,
            out=out / "target",
            retain_eval=out / "retain",
            settings=settings,
            **common,
        )["metrics"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", help="a built tiny world (default: build or reuse the cached one)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--ga-steps", type=int, default=40, help="steps of ga for the second model")
    args = p.parse_args()
    quiet()
    header("eval.convention: unlearnkit vs open-unlearning (tiny world target)")
    if args.world:
        world = Path(args.world)
    else:
        from unlearnkit.world.build import build_world
        from unlearnkit.world.location import world_dir

        world = build_world("tiny", world_dir("tiny", 0), seed=0, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        models = {
            "the target": world / "models" / "target",
            f"the target after {args.ga_steps} ga steps": unlearned(
                world, args.ga_steps, scratch / "ga"
            ),
        }
        for label, model in models.items():
            for benchmark, keys, names in (
                ("tofu", TOFU_KEYS, ("unlearnkit", "last token dropped", "open-unlearning")),
                ("muse", MUSE_KEYS, ("unlearnkit", "256-token window", "open-unlearning")),
            ):
                results = {
                    n: measure(world, model, benchmark, n, args.max_new_tokens, scratch / label)
                    for n in names
                }
                rows = [[k, *(results[n].get(k, float("nan")) for n in names)] for k in keys]
                title = f"{benchmark}: {label}, the retain model as reference"
                table(["metric", *names], rows, title=title)
                print()


if __name__ == "__main__":
    main()

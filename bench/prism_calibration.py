"""PRISM's probe and gradient ratio on a model: k-fold held-out accuracy (Wilson interval), the
probe/NPO gradient ratio at step 0 with a fixed λ_max and the λ_max that ``auto`` picks.

    python bench/prism_calibration.py MODEL_DIR TOFU_DIR [--split forget01] [--layer N]
Each setting runs one training step (train.max_steps=1, fp32) and prints its method_report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import quiet  # noqa: E402


def one_step(model_dir: str, data: str, split: str, params: dict) -> dict:
    """The method_report of one PRISM step with ``params`` on ``model_dir``."""
    from unlearnkit.models import load_model_and_tokenizer
    from unlearnkit.train.unlearn import DataSection, TrainSection, UnlearnConfig, unlearn

    model, tok = load_model_and_tokenizer(model_dir, dtype="fp32")
    train = TrainSection(
        max_steps=1, batch_size=4, max_length=128, precision="fp32", learning_rate=1e-5
    )
    cfg = UnlearnConfig(
        method="prism",
        params=params,
        train=train,
        data=DataSection(benchmark="tofu", path=data, split=split),
    )
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = unlearn(cfg, model, tok, out, progress=False)
    return {**summary["method_report"], "wall_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--split", default="forget01")
    ap.add_argument("--layer", type=int, default=None)
    ap.add_argument("--samples", type=int, default=64)
    args = ap.parse_args()
    base = {"layer": args.layer, "probe_samples": args.samples, "sam": False}
    quiet()
    for name, extra in (("fixed 0.05", {"lambda_max": 0.05}), ("auto 0.1", {"lambda_max": "auto"})):
        report = one_step(args.model, args.data, args.split, {**base, **extra})
        print(name, json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

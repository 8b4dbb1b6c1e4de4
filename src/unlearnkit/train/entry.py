"""A small entry point for ``accelerate launch``: read a YAML config, run ``unlearn()``, save logs.

    accelerate launch --config_file configs/accelerate/ddp_cpu.yaml -m unlearnkit.train.entry \\
        --config world/ga --model MODEL_DIR --out OUT_DIR [key=value ...]

Writes ``OUT_DIR/unlearn_summary.json`` (log history included) and, with ``--save``, the model
to ``OUT_DIR/model``. The ``unlearn run`` command is the user-facing way; this is for launchers.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from unlearnkit.config import load_config
from unlearnkit.errors import UserError
from unlearnkit.io import write_json


def _local_device() -> str:
    """This process's device; without CUDA, a multi-process launch becomes DDP over gloo on CPU."""
    import torch

    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true")
    if torch.cuda.is_available() and not use_cpu:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # accelerate starts several CPU processes only through its torchrun launcher (--multi_gpu);
        # this makes the Trainer's process group a CPU (gloo) one.
        os.environ["ACCELERATE_USE_CPU"] = "true"
    return "cpu"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unlearnkit.train.entry")
    p.add_argument("--config", required=True, help="YAML file of an UnlearnConfig")
    p.add_argument("--model", required=True, help="model folder (or hub id)")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the model's)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--dtype", default="auto", help="auto (as train.precision trains), fp32, bf16")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--save", action="store_true", help="also save the unlearned model to OUT/model")
    p.add_argument(
        "overrides", nargs="*", help="dotted key=value overrides, e.g. train.max_steps=5"
    )
    args = p.parse_args(argv)
    try:
        from accelerate import PartialState

        from unlearnkit.models import (
            load_model,
            load_tokenizer,
            resolve_precision,
            train_load_dtype,
        )
        from unlearnkit.train.unlearn import UnlearnConfig, save_unlearned, unlearn

        cfg = load_config(UnlearnConfig, args.config, args.overrides)
        tokenizer = load_tokenizer(args.tokenizer or args.model)
        # The process group is set up by unlearn()'s TrainingArguments (a PartialState made here
        # first would pin a non-distributed state): load on this process's device by LOCAL_RANK.
        precision = resolve_precision(cfg.train.precision, cfg.train.bf16)
        dtype = train_load_dtype(args.dtype, precision)
        model = load_model(args.model, device=_local_device(), dtype=dtype)
        out = Path(args.out)
        summary = unlearn(cfg, model, tokenizer, out, resume=args.resume, progress=False)
        if PartialState().is_main_process:
            write_json(out / "unlearn_summary.json", summary)
        if args.save:
            save_unlearned(model, tokenizer, out / "model")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A small entry point for ``accelerate launch``: read a YAML config, run ``unlearn()``, save logs.

    accelerate launch --config_file configs/accelerate/ddp_cpu.yaml -m unlearnkit.train.entry \\
        --config world/ga --model MODEL_DIR --out OUT_DIR [key=value ...]

Writes ``OUT_DIR/unlearn_summary.json`` (log history included) and, with ``--save``, the model
to ``OUT_DIR/model``. The ``unlearn run`` command is the user-facing way; this is for launchers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unlearnkit import launch
from unlearnkit.config import load_config
from unlearnkit.errors import UserError
from unlearnkit.io import write_json


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
        precision = resolve_precision(cfg.train.precision, cfg.train.bf16)
        dtype = train_load_dtype(args.dtype, precision)
        # cuda:LOCAL_RANK (or CPU over gloo), and the process group the Trainer then reuses.
        device = launch.take_place()  # FSDP2 (launch.sharded()): sharded as it loads
        model = load_model(args.model, device=device, dtype=dtype, shard=launch.sharded())
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

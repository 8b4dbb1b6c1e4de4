"""`unlearn finetune`: supervised fine-tuning of any causal LM on QA pairs or texts."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from unlearnkit import launch
from unlearnkit.commands.common import add_output_args, model_and_data_inputs, output_dir
from unlearnkit.errors import UserError
from unlearnkit.protect import guard_inputs


def add_parser(sub) -> None:
    p = sub.add_parser(
        "finetune", help="fine-tune a causal LM on a TOFU split, a MUSE corpus or a JSON file"
    )
    p.add_argument("--model", required=True, help="local model folder or hub id")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the model's)")
    p.add_argument(
        "--data",
        help="TOFU/MUSE folder or hub id, a world folder, or a .json/.jsonl file of {question, answer} or texts",
    )
    p.add_argument("--benchmark", default="tofu", help="whose split --split names (tofu, muse)")
    p.add_argument(
        "--split",
        default="full",
        help="TOFU config (full, retain90, forget01...) or MUSE part (raw_forget, ...)",
    )
    p.add_argument("--epochs", type=float, default=5.0)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dtype",
        default="auto",
        help="weights to train: auto (fp32 master weights, bf16 autocast on CUDA), fp32, bf16",
    )
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument(
        "--allow-pickle", action="store_true", help="allow loading pickle (.bin) weights"
    )
    p.add_argument("--trust-remote-code", action="store_true")
    add_output_args(p)
    p.set_defaults(func=run)


def load_training_records(args: argparse.Namespace) -> tuple[list[tuple[str, str]], list[str]]:
    """QA pairs and texts to train on, from a file or a benchmark split."""
    if args.data and Path(args.data).suffix in (".json", ".jsonl") and Path(args.data).is_file():
        from unlearnkit.io import read_records

        records = read_records(args.data)
        if not isinstance(records, list) or not records:
            raise UserError(f"{args.data} holds no records")
        if all(isinstance(r, dict) and {"question", "answer"} <= r.keys() for r in records):
            return [(r["question"], r["answer"]) for r in records], []
        if all(
            isinstance(r, str) or (isinstance(r, dict) and isinstance(r.get("text"), str))
            for r in records
        ):
            return [], [r if isinstance(r, str) else r["text"] for r in records]
        raise UserError(
            f"{args.data}: records must all be {{question, answer}} objects, or all texts"
        )
    from unlearnkit.benchmarks import get_benchmark

    return get_benchmark(args.benchmark).training_records(args.data, args.split)


def check_numbers(args: argparse.Namespace) -> None:
    """Training settings that must be positive, and a seed numpy and torch accept."""
    from unlearnkit.preflight import check_seed

    for flag, value in (("--epochs", args.epochs), ("--lr", args.lr)):
        if not 0 < value < float("inf"):
            raise UserError(f"{flag} must be a positive number, got {value}")
    for flag, value in (("--batch-size", args.batch_size), ("--grad-accum", args.grad_accum)):
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    if args.max_length < 2:
        raise UserError(f"--max-length must be at least 2 tokens, got {args.max_length}")
    check_seed(args.seed, "--seed")


def run(args: argparse.Namespace) -> int:
    """Fine-tune into ``--out``, locked for the whole command (a replacement swapped in at the end)."""
    check_numbers(args)
    guard_inputs(args.out, model_and_data_inputs(args), "finetune")
    device = launch.take_place()  # cuda:LOCAL_RANK under a launch, before loading
    with output_dir(args.out, args.overwrite) as work:
        return _run(args, work, device)


def _run(args: argparse.Namespace, out: Path, device: str | None) -> int:
    from unlearnkit.model_card import finetuned_card
    from unlearnkit.models import (
        check_model_path,
        check_tokenizer_folder,
        load_model_and_tokenizer,
        resolve_precision,
        train_load_dtype,
    )
    from unlearnkit.train.examples import build_examples
    from unlearnkit.train.finetune import FinetuneConfig, finetune

    qa, texts = load_training_records(args)
    check_model_path(args.model, args.allow_pickle)
    check_tokenizer_folder(args.tokenizer or args.model)
    precision = resolve_precision()  # fp32 master weights + bf16 autocast on a GPU, else fp32
    model, tok = load_model_and_tokenizer(
        args.model,
        args.tokenizer,
        device=device,
        dtype=train_load_dtype(args.dtype, precision),
        allow_pickle=args.allow_pickle,
        trust_remote_code=args.trust_remote_code,
    )
    model.train()
    examples = build_examples(tok, qa=qa, texts=texts, max_length=args.max_length)
    cfg = FinetuneConfig(
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_length,
        seed=args.seed,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    data = {"benchmark": args.benchmark, "split": args.split, "data": args.data}
    if args.data and Path(args.data).suffix in (".json", ".jsonl"):
        data = {"data": args.data}  # a file of records: no benchmark split
    card = finetuned_card(asdict(cfg), args.model, data)
    summary = finetune(model, tok, examples, out, cfg, card=card)
    if not launch.is_main():
        return 0  # rank 0 saved the model and reports
    print(
        f"trained {summary['steps']} steps on {summary['examples']} examples (loss {summary['train_loss']:.4f}); saved to {Path(args.out).expanduser()}"
    )
    return 0

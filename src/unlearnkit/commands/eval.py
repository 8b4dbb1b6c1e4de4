"""`unlearn eval`: evaluate a model on TOFU, MUSE or the copyright benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from unlearnkit import launch
from unlearnkit.benchmarks import benchmark_names
from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.commands.common import add_output_args, model_and_data_inputs, output_dir
from unlearnkit.errors import UserError
from unlearnkit.protect import guard_inputs


def add_eval_args(p: argparse.ArgumentParser) -> None:
    """Arguments every command that evaluates shares (eval, run, attack)."""
    p.add_argument(
        "--benchmark", default="tofu", help=f"{' | '.join(benchmark_names())} (default: tofu)"
    )
    p.add_argument(
        "--data", help="world folder, local benchmark folder or hub id (default: the small world)"
    )
    p.add_argument("--split", default=TOFU_SPLIT, help=f"TOFU forget split (default: {TOFU_SPLIT})")
    p.add_argument(
        "--retain-model",
        help="retain model folder: evaluated once and cached, for forget quality / privleak",
    )
    p.add_argument(
        "--retain-eval", help="eval folder of the retain model (instead of --retain-model)"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument(
        "--max-length",
        type=int,
        default=256,
        help="tokens of a scored sequence (a run scores with its train.max_length; a retain eval "
        "serves only evals of the same settings)",
    )
    p.add_argument(
        "--max-items",
        type=int,
        help="score at most N items of each eval set, evenly spaced (the first N under "
        "--convention open-unlearning; default: all); "
        "recorded in metrics.json",
    )
    p.add_argument(
        "--convention",
        default="unlearnkit",
        help="unlearnkit (default) | no-eos (answers scored without the EOS) | open-unlearning: score answers and tokens as open-unlearning "
        "does (docs/metrics.md, Conventions); recorded in metrics.json",
    )
    p.add_argument(
        "--system-prompt",
        help="open-unlearning convention, chat models: open the chat with this system turn "
        "(default: the template's own)",
    )
    p.add_argument(
        "--date-string",
        help="open-unlearning convention, chat models: the template's date_string (Llama-3.x)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA), fp32, bf16")
    p.add_argument(
        "--allow-pickle", action="store_true", help="allow loading pickle (.bin) weights"
    )


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model: per-item scores and metrics.json")
    p.add_argument("--model", required=True, help="model folder or hub id")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the model's)")
    add_eval_args(p)
    add_output_args(p)
    p.set_defaults(func=run)


def settings_from(args: argparse.Namespace):
    from unlearnkit.eval.convention import check_convention
    from unlearnkit.eval.tofu import EvalSettings

    if args.batch_size < 1 or args.max_new_tokens < 1 or args.max_length < 2:
        raise UserError(
            "--batch-size and --max-new-tokens must be positive and --max-length at least 2"
        )
    if args.max_items is not None and args.max_items < 1:
        raise UserError(f"--max-items must be positive, got {args.max_items}")
    check_convention(args.convention, "--convention")
    return EvalSettings.from_section(args, args.max_length)


def resolve_retain_eval(args: argparse.Namespace, settings):
    from unlearnkit.eval.retain_cache import ensure_retain_eval

    if args.retain_model and args.retain_eval:
        raise UserError("give --retain-model or --retain-eval, not both")
    if args.retain_model:
        return ensure_retain_eval(
            args.benchmark,
            args.retain_model,
            args.data,
            args.split,
            settings,
            device=args.device,
            dtype=args.dtype,
            allow_pickle=args.allow_pickle,
        )
    return args.retain_eval


def eval_inputs(args: argparse.Namespace) -> dict:
    """{flag: path} of what `eval` and `attack` read, which ``--out`` must stay clear of."""
    return model_and_data_inputs(args) | {
        "--retain-model": args.retain_model,
        "--retain-eval": args.retain_eval,
        "--target-model": getattr(args, "target_model", None),  # attack's patch / orthogonalize
    }


def check_inputs(args: argparse.Namespace) -> None:
    """Device, model and tokenizer folders, data files and the retain eval, before any loading;
    ``--out`` clear of them all."""
    from unlearnkit.data.check import check_eval_data
    from unlearnkit.eval.recompute import retain_reference
    from unlearnkit.eval.run import check_retain_settings
    from unlearnkit.models import check_model_path, check_tokenizer_folder, pick_device, pick_dtype

    guard_inputs(args.out, eval_inputs(args), getattr(args, "command", "eval"))
    pick_dtype(args.dtype, pick_device(args.device))
    check_model_path(args.model, args.allow_pickle)
    check_tokenizer_folder(args.tokenizer or args.model)
    check_eval_data(args.benchmark, args.data, args.split)
    if args.retain_model and args.retain_eval:
        raise UserError("give --retain-model or --retain-eval, not both")
    if args.retain_model:
        check_model_path(args.retain_model, args.allow_pickle)
    if args.retain_eval:
        retain_reference(args.benchmark, args.retain_eval)
        check_retain_settings(args.retain_eval, settings_from(args))


def check_benchmark(name: str) -> None:
    from unlearnkit.benchmarks import get_benchmark

    get_benchmark(name)


def run(args: argparse.Namespace) -> int:
    from unlearnkit.eval.run import evaluate_path

    check_benchmark(args.benchmark)
    settings = settings_from(args)
    args.device = launch.take_place(args.device)
    check_inputs(args)
    with output_dir(args.out, args.overwrite) as work:
        if not launch.is_main():
            return 0  # evaluation is rank 0's (docs/running.md); this rank waited for its end
        retain_eval = resolve_retain_eval(args, settings)
        result = evaluate_path(
            args.benchmark,
            args.model,
            out=work,
            tokenizer_path=args.tokenizer,
            device=args.device,
            dtype=args.dtype,
            allow_pickle=args.allow_pickle,
            data=args.data,
            split=args.split,
            retain_eval=retain_eval,
            settings=settings,
        )
    out = Path(args.out).expanduser()
    for name, value in result["metrics"].items():
        print(f"{name:>28s}  {value:.4g}")
    print(f"metrics written to {out / 'metrics.json'}")
    return 0

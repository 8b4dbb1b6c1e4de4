"""`unlearn run`: unlearn with one method, then evaluate (and attack) the result."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from unlearnkit import launch, phases
from unlearnkit.attacks import KINDS
from unlearnkit.benchmarks import benchmark_names
from unlearnkit.commands.common import add_output_args, output_dir
from unlearnkit.protect import guard_inputs

# Exit status of a run the divergence guard stopped without a good checkpoint: no model, no metrics.
DIVERGED = 3


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="unlearn with a method, evaluate, attack: one run folder")
    p.add_argument("--method", help="method name (docs/methods.md; a wrong one lists them all)")
    p.add_argument("--benchmark", help=f"{' | '.join(benchmark_names())} (default: tofu)")
    p.add_argument(
        "--data", help="world folder, local benchmark folder or hub id (default: the small world)"
    )
    p.add_argument("--split", help="TOFU forget split (default: forget10)")
    p.add_argument("--model", help="model folder or hub id (default: the world's target)")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the model's)")
    p.add_argument("--config", help="YAML config (see configs/); key=value overrides apply on top")
    p.add_argument(
        "--retain-eval", help="eval folder of the retain model (for forget quality / privleak)"
    )
    p.add_argument("--retain-model", help="retain model folder: evaluated once and cached")
    p.add_argument(
        "--attacks",
        help=f"comma list to run after unlearning: {','.join(KINDS)}",
    )
    p.add_argument(
        "--save-model", action="store_true", help="save the unlearned model to OUT/model"
    )
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything, print the plan and the memory estimate, write nothing",
    )
    p.add_argument("--device", help="cpu, cuda (default: cuda if available)")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow loading pickle (.bin) weights (they can run code)",
    )
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run Python code shipped with the model (only for models you trust)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="dotted overrides, e.g. params.beta=0.2 train.max_steps=40",
    )
    add_output_args(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from unlearnkit.api import RunConfig
    from unlearnkit.config import load_config

    flags = {
        "method": args.method,
        "model": args.model,
        "tokenizer": args.tokenizer,
        "device": args.device,
        "out": args.out,
        "data.benchmark": args.benchmark,
        "data.path": args.data,
        "data.split": args.split,
        "eval.retain_eval": args.retain_eval,
        "eval.retain_model": args.retain_model,
    }
    # Flag values are strings as given: quoted so YAML does not read `--split 100` as a number.
    overrides = [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    if args.attacks:
        overrides.append(f"attacks=[{args.attacks}]")
    for flag in ("save_model", "allow_pickle", "trust_remote_code"):
        if getattr(args, flag):
            overrides.append(f"{flag}=true")
    # Flags first, then the user's key=value list, so an explicit override wins.
    return load_config(RunConfig, config_name(args), overrides + list(args.overrides))


def config_name(args: argparse.Namespace) -> str | None:
    """``--config``; on a world without one, the world's packaged config of the method.

    The defaults of ``RunConfig`` are a real model's (a few steps at 1e-5): on a world's small
    models they change nothing, so a run there starts from the settings tuned for the world.
    """
    from unlearnkit.config import packaged_config
    from unlearnkit.plan import world_of

    if args.config or not args.method or world_of(args.data) is None:
        return args.config
    folders = ("world/wmdp", "world") if args.benchmark == "wmdp" else ("world",)
    for folder in folders:
        name = f"{folder}/{args.method}"
        if packaged_config(name) is not None:
            print(f"unlearn run: no --config given: using the world config {name}", file=sys.stderr)
            return name
    return None


def run(args: argparse.Namespace) -> int:
    from unlearnkit.api import run as run_api
    from unlearnkit.preflight import check_run

    cfg = config_from_args(args)
    if cfg.out:
        guard_inputs(cfg.out, {"--config": args.config}, "run")
    cfg.device = launch.take_place(cfg.device)  # cuda:LOCAL_RANK under a launch, before loading
    plan = check_run(cfg, resume=args.resume)  # every input checked before any folder is made
    if args.dry_run:
        print(describe_plan(plan))
        return 0
    try:
        with output_dir(cfg.out, args.overwrite, resume=args.resume) as work:
            # For `interrupted`: a replacement built beside --out cannot be resumed.
            args.replacing = work.resolve() != Path(cfg.out).expanduser().resolve()
            result = run_api(cfg, resume=args.resume, out_dir=work, plan=plan)
            phases.enter("report")  # the results on the screen (and the swap under --overwrite)
            if diverged(result) and args.replacing:
                raise _Discarded(result)  # a failed replacement: the old run stays
    except _Discarded as e:
        result = e.result
    if not launch.is_main():
        return 0  # rank 0 reports the run; this rank trained and has waited for its end
    out = Path(cfg.out).expanduser()
    for name, value in result["metrics"].items():
        print(f"{name:>28s}  {value:.4g}")
    if result.get("guard", {}).get("stopped"):
        from unlearnkit.train.guard import describe

        print(f"divergence guard: {describe(result['guard'])}")
    if diverged(result):
        from unlearnkit.train.guard import describe

        files = sorted(p.name for p in out.iterdir() if p.is_file()) if out.is_dir() else []
        kept = (
            f"{out} is left as it was"
            if args.replacing
            else f"{out} keeps {', '.join(files)} (the training log and the guard report)"
        )
        print(
            f"unlearn run: error: divergence guard: {describe(result['guard'])}; the run has no "
            f"metrics; {kept}",
            file=sys.stderr,
        )
        return DIVERGED
    print(f"run written to {out}")
    from unlearnkit.forgetting import did_not_move

    if line := did_not_move(result.get("forgetting")):
        print(line, file=sys.stderr)
    return 0


def describe_plan(plan) -> str:
    """What ``--dry-run`` prints: the checked run, then the memory estimate term by term."""
    from unlearnkit.models import resolve_precision

    cfg, t = plan.cfg, plan.cfg.train
    steps = f"{t.max_steps} steps" if t.max_steps > 0 else f"{t.epochs:g} epochs"
    lines = [
        f"method       {cfg.method} (reference: {plan.unlearn.reference})",
        f"model        {plan.model_path}",
        f"data         {cfg.data.benchmark} {plan.split}: {len(plan.corpus.forget)} forget, "
        f"{len(plan.corpus.retain or [])} retain rows",
        f"training     {steps}, lr {t.learning_rate:g}, batch {t.batch_size} x "
        f"{t.gradient_accumulation_steps}, {resolve_precision(t.precision, t.bf16)}, "
        f"{t.optimizer}" + (f", LoRA r={cfg.lora.r}" if cfg.lora.r > 0 else ""),
        f"output       {cfg.out} (nothing written: --dry-run)",
    ]
    memory = plan.memory.table() if plan.memory else "memory estimate: none (no config.json here)"
    return "\n".join([*lines, memory])


def diverged(result: dict) -> bool:
    """The guard stopped training and had no good checkpoint to go back to."""
    guard = result.get("guard", {})
    return bool(guard.get("stopped")) and not guard.get("restored")


class _Discarded(Exception):
    """Carries the result of a run whose folder is thrown away (a diverged replacement)."""

    def __init__(self, result: dict):
        super().__init__("diverged")
        self.result = result


def interrupted(args: argparse.Namespace, argv: list[str]) -> str:
    """What to print after Ctrl-C: the phase it stopped and the command that resumes the run."""
    phase = phases.current()
    if phase is None:  # still checking the inputs: nothing was written
        return "interrupted before the run started (nothing written); run the same command again"
    if getattr(args, "replacing", False):
        return (
            f"interrupted during {phase}; {args.out} is left as it was (--overwrite replaces it "
            "only with a complete run); run the same command again to start over"
        )
    command = [a for a in argv if a not in ("--resume", "--overwrite")] + ["--resume"]
    line = f"interrupted during {phase}; resume with: unlearn {shlex.join(command)}"
    checkpoints = Path(args.out or ".") / "checkpoints"
    if not any(checkpoints.glob("checkpoint-*")):
        line += " (no checkpoint yet, so it starts over; train.save_steps=N saves every N steps)"
    return line

"""`unlearn attack KIND`: one robustness attack on a saved model; metrics.json with its entries."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from unlearnkit import launch
from unlearnkit.attacks import KINDS
from unlearnkit.commands.common import add_output_args, output_dir
from unlearnkit.commands.eval import (
    add_eval_args,
    check_benchmark,
    check_inputs,
    resolve_retain_eval,
    settings_from,
)
from unlearnkit.errors import UserError

# flag dest → (the kinds that take it, the attack setting it fills)
ATTACK_FLAGS = {
    "steps": (("relearn",), "steps"),
    "fraction": (("relearn",), "fraction"),
    "lr": (("relearn",), "lr"),
    "train_batch_size": (("relearn",), "batch_size"),
    "relearn_data": (("relearn",), "data"),
    "lrs": (("relearn",), "lrs"),
    "lora": (("relearn",), "lora"),
    "lora_r": (("relearn",), "lora_r"),
    "references": (("relearn",), "references"),
    "k": (("prefill",), "k"),
    "shots": (("incontext",), "shots"),
    "bits": (("quantize",), "bits"),
    "group_size": (("quantize",), "group_size"),
    "backend": (("quantize",), "backend"),
    "seed": (("relearn", "incontext"), "seed"),
    "kl_k": (("prefill_kl",), "k"),
    "target_model": (("prefill_kl", "patch", "orthogonalize", "relearn"), "target"),
    "templates": (("jailbreak",), "templates"),
    "soft_tokens": (("embedding",), "k"),
    "soft_steps": (("embedding",), "steps"),
    "soft_lr": (("embedding",), "lr"),
    "mode": (("embedding",), "mode"),
    "nll_threshold": (("embedding",), "nll_threshold"),
    "threshold": (("patch",), "threshold"),
    "layers": (("orthogonalize",), "layers"),
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "attack",
        help=f"attack a model ({', '.join(KINDS)}) and re-measure forgetting",
    )
    p.add_argument("kind", metavar="KIND", help=", ".join(KINDS))
    p.add_argument("--model", required=True, help="model folder or hub id (the unlearned model)")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the model's)")
    add_eval_args(p)
    g = p.add_argument_group("attack settings (each for the attacks named)")
    g.add_argument("--steps", help="relearn: step counts, e.g. 0,5,10,20")
    g.add_argument("--fraction", type=float, help="relearn: share of forget samples (default 0.1)")
    g.add_argument(
        "--lr",
        type=float,
        help="relearn: learning rate (default: the model's finetune.json or the world target's, else 1e-5)",
    )
    g.add_argument("--train-batch-size", type=int, help="relearn: batch size (default 4)")
    g.add_argument("--relearn-data", help="relearn: train on forget (default), retain or general")
    g.add_argument("--lrs", help="relearn: a grid of learning rates, e.g. 1e-4,1e-3")
    g.add_argument("--lora", help="relearn: full and/or LoRA, e.g. false,true (default false)")
    g.add_argument("--lora-r", type=int, help="relearn: LoRA rank (default 4)")
    g.add_argument(
        "--references",
        action="store_const",
        const=True,
        help="relearn: relearn the target and retain models the same way",
    )
    g.add_argument("--k", help="prefill: answer tokens given, e.g. 1,3,5")
    g.add_argument("--shots", help="incontext: retain QA examples, e.g. 3 or 0,3,6")
    g.add_argument("--bits", help="quantize: bit widths, e.g. 8,4")
    g.add_argument(
        "--group-size", type=int, help="quantize: columns per scale (default: per channel)"
    )
    g.add_argument("--backend", help="quantize: auto, rtn or bnb")
    g.add_argument("--seed", type=int, help="relearn / incontext: sampling seed (default 0)")
    g.add_argument("--kl-k", help="prefill_kl: answer tokens given, e.g. 0,1,2,4,8")
    g.add_argument(
        "--target-model",
        help="prefill_kl / patch / orthogonalize / relearn: the model unlearning started from (default: the world's target)",
    )
    g.add_argument("--templates", help="jailbreak: template names, e.g. role_play,sure_here_is")
    g.add_argument("--soft-tokens", type=int, help="embedding: soft prompt embeddings (default 8)")
    g.add_argument("--soft-steps", type=int, help="embedding: Adam steps (default 10)")
    g.add_argument("--soft-lr", type=float, help="embedding: Adam learning rate (default 0.01)")
    g.add_argument("--mode", help="embedding: item, universal or item,universal (default both)")
    g.add_argument("--nll-threshold", type=float, help="embedding: success NLL (default 0.5)")
    g.add_argument(
        "--threshold", type=float, help="patch: share of the target's answer probability (0.05)"
    )
    g.add_argument("--layers", help="orthogonalize: decoder layers, e.g. 0,1 (default: all)")
    add_output_args(p)
    p.set_defaults(func=run)


def attack_settings(kind: str, args: argparse.Namespace) -> dict:
    """The attack settings the flags give; a flag of another attack is an error, not ignored."""
    values = {}
    for dest, (kinds, key) in ATTACK_FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if kind not in kinds:
            flag = "--" + dest.replace("_", "-")
            raise UserError(f"{flag} is a setting of {' / '.join(kinds)}, not of {kind}")
        values[key] = value
    return values


def run(args: argparse.Namespace) -> int:
    from unlearnkit.attacks import runner
    from unlearnkit.attacks.context import AttackContext
    from unlearnkit.attacks.forget import evaluate_forget
    from unlearnkit.benchmarks import get_benchmark
    from unlearnkit.eval.convention import check_retain_convention
    from unlearnkit.eval.recompute import retain_reference
    from unlearnkit.eval.results import METRICS, write_metrics
    from unlearnkit.models import load_model_and_tokenizer

    (kind,) = runner.parse_kinds([args.kind])
    check_benchmark(args.benchmark)
    runner.check_benchmark(kind, args.benchmark)
    params = runner.make_params(kind, attack_settings(kind, args))
    settings = settings_from(args)
    args.device = launch.take_place(args.device)
    check_inputs(args)
    with output_dir(args.out, args.overwrite) as work:
        if not launch.is_main():
            return 0  # attacks are rank 0's (docs/running.md); this rank waited for its end
        retain_eval = resolve_retain_eval(args, settings)
        check_retain_convention(retain_eval, settings.convention)
        ctx = AttackContext(
            benchmark=args.benchmark,
            data=args.data,
            split=args.split,
            corpus_split=runner.corpus_split(args.benchmark, args.split),
            settings=settings,
            reference=retain_reference(args.benchmark, retain_eval),
            finetune_lr=runner.original_finetune_lr(args.model, runner.world_target(args.data)),
            retain_model=args.retain_model,
        )
        model, tok = load_model_and_tokenizer(
            args.model,
            args.tokenizer,
            device=args.device,
            dtype=args.dtype,
            allow_pickle=args.allow_pickle,
        )
        start = time.perf_counter()
        entries = runner.run_attack(kind, model, tok, ctx, params, out=work)
        # The model as it is, for the report's "before" column (relearn measured it at 0 steps).
        zero = [e for e in entries if kind == "relearn" and e["value"] == 0]
        before = zero[0]["metrics"] if zero else evaluate_forget(model, tok, ctx)[0]
        result = {
            "attack": kind,
            "model": str(args.model),
            "benchmark": args.benchmark,
            "split": get_benchmark(args.benchmark).forget_split(ctx),
            "data": str(args.data) if args.data is not None else "world",
            "retain_eval": str(retain_eval) if retain_eval else None,
            "convention": settings.convention,
            "params": asdict(params),
            "seconds": round(time.perf_counter() - start, 2),
            "metrics": before,
            "attacks": {kind: entries},
        }
        write_metrics(work, result)
    out = Path(args.out).expanduser()
    for entry in entries:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in entry["metrics"].items())
        print(f"{kind:>10s} {entry['setting']:>16s}  {shown}")
    print(f"metrics written to {out / METRICS}")
    return 0

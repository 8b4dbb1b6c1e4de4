"""`unlearn demo`: world → target/retain evals → every method → attacks → report, in one folder."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from unlearnkit.benchmarks import benchmark_names
from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.eval.results import METRICS, write_metrics
from unlearnkit.forgetting import did_not_move
from unlearnkit.io import read_json
from unlearnkit.jobs import job_count, run_jobs

FULL_METHODS = ("ga", "gd", "npo", "simnpo", "idkdpo", "rmu", "sga", "flat", "prism")
QUICK_METHODS = ("ga", "npo", "sga", "flat", "prism")
# The demo unlearns on the first benchmark (TOFU) and also evaluates on every other one.
MAIN_BENCHMARK, *EXTRA_BENCHMARKS = benchmark_names()
# The world's models were trained from scratch at a peak rate of 3e-3; at that rate a few steps on
# 4 samples overwrite the model instead of recovering it. A tenth of it, the same for every
# method, target and retain, is the relearning rate (docs/attacks.md).
RELEARN_LR = 3e-4
TABLE_KEYS = (
    "forget_quality",
    "model_utility",
    "forget_truth_ratio",
    "forget_rouge",
    "retain_rouge",
    "mia_mink",
)


@dataclass
class DemoPlan:
    preset: str = "small"
    seed: int = 0
    methods: tuple[str, ...] = FULL_METHODS
    attacks: tuple[str, ...] = ("relearn", "quantize")
    relearn_steps: tuple[int, ...] = (0, 5, 10, 20)
    quantize_bits: tuple[int, ...] = (8, 4)
    step_scale: float = 1.0  # multiplies every method's max_steps (quick runs use fewer)

    @classmethod
    def quick(cls, preset: str = "tiny", seed: int = 0) -> DemoPlan:
        return cls(
            preset=preset,
            seed=seed,
            methods=QUICK_METHODS,
            attacks=("relearn",),
            relearn_steps=(0, 10),
            step_scale=0.5,
        )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reference_run(world: Path, role: str, out: Path) -> None:
    """A run folder for the target or retain model from the world's evals (no training)."""
    from unlearnkit.world.check import evaluate_world_model

    everything = (MAIN_BENCHMARK, *EXTRA_BENCHMARKS)
    retain_dirs = {b: evaluate_world_model(world, "retain", b) for b in everything}
    for benchmark in everything:
        src = (
            retain_dirs[benchmark]
            if role == "retain"
            else evaluate_world_model(
                world, "target", benchmark, retain_eval=retain_dirs[benchmark]
            )
        )
        dst = out if benchmark == MAIN_BENCHMARK else out / "extra" / benchmark
        dst.mkdir(parents=True, exist_ok=True)
        result = read_json(src / METRICS)
        write_metrics(
            dst,
            {**result, "role": role, "method": role, "model": str(world / "models" / role)},
        )


def method_config(name: str, world: Path, out: Path, plan: DemoPlan):
    from unlearnkit.api import RunConfig
    from unlearnkit.config import load_config

    overrides = [
        f"data.path={world}",
        f"out={out}",
        f"eval.extra_benchmarks=[{','.join(EXTRA_BENCHMARKS)}]",
    ]
    cfg = load_config(RunConfig, f"world/{name}", overrides)
    cfg.train.max_steps = max(1, round(cfg.train.max_steps * plan.step_scale))
    cfg.attacks = list(plan.attacks)
    cfg.attack_params = {
        "relearn": {"steps": list(plan.relearn_steps), "lr": RELEARN_LR},
        "quantize": {"bits": list(plan.quantize_bits)},
    }
    return cfg


def attack_reference(world: Path, role: str, run_dir: Path, plan: DemoPlan) -> None:
    """Attack the target or retain model too, so the report shows what attacks do to them."""
    from unlearnkit.attacks.runner import run_attacks
    from unlearnkit.models import load_model_and_tokenizer
    from unlearnkit.plan import eval_settings
    from unlearnkit.world.check import world_retain_eval

    cfg = method_config("ga", world, run_dir, plan)
    model, tok = load_model_and_tokenizer(world / "models" / role, device="cpu", dtype="fp32")
    result = read_json(run_dir / METRICS)
    retain_eval = world_retain_eval(world, MAIN_BENCHMARK, eval_settings(cfg, progress=False))
    result["attacks"] = run_attacks(
        list(plan.attacks), model, tok, cfg, TOFU_SPLIT, retain_eval, False, cfg.attack_params
    )
    write_metrics(run_dir, result)


def run_demo(out: str | Path, plan: DemoPlan, overwrite: bool = False) -> Path:
    """Run the whole demo into ``out``; return the HTML report's path."""
    from unlearnkit.report import build_report
    from unlearnkit.world.build import build_world
    from unlearnkit.world.check import check_world, format_check, world_verdicts
    from unlearnkit.world.location import world_dir
    from unlearnkit.world.thresholds import format_verdicts

    out = Path(out)
    start = time.perf_counter()
    say(f"== world: {plan.preset} (seed {plan.seed})")
    world = build_world(plan.preset, world_dir(plan.preset, plan.seed), seed=plan.seed)
    say("== what the target and retain models know")
    table = check_world(world)
    say(format_check(table))
    say(format_verdicts(world_verdicts(world, table)))
    runs = out / "runs"
    for role in ("target", "retain"):
        reference_run(world, role, runs / role)
        if plan.attacks:
            say(f"== attacks on the {role} model")
            attack_reference(world, role, runs / role, plan)
    run_methods(world, runs, plan, overwrite)
    _, html = build_report([out], out, title=f"unlearnkit demo: {plan.preset} world, forget10")
    print_table(runs, ("target", "retain", *plan.methods))
    say(f"demo finished in {time.perf_counter() - start:.0f} s")
    return html


def _run_method(name: str, world: Path, run_dir: Path, plan: DemoPlan) -> None:
    from unlearnkit.api import run as run_method

    run_method(method_config(name, world, run_dir, plan))


def run_methods(world: Path, runs: Path, plan: DemoPlan, overwrite: bool) -> None:
    """Every method of the plan, side by side when cores are free (unlearnkit.jobs; each run
    seeds itself, so the numbers are a sequential demo's); logs under ``runs/../logs``."""
    for name in plan.methods:
        if (runs / name).exists() and overwrite:
            shutil.rmtree(runs / name)
    calls = [(name, world, runs / name, plan) for name in plan.methods]
    n = job_count(len(calls), torch.get_num_threads())
    if n == 1:
        for i, (name, *rest) in enumerate(calls, 1):
            say(f"== [{i}/{len(calls)}] {name}")
            _run_method(name, *rest)
        return
    logs = [runs.parent / "logs" / f"{name}.log" for name in plan.methods]
    say(f"== {', '.join(plan.methods)}: {n} processes, each one's output in {logs[0].parent}/")
    run_jobs(_run_method, calls, n, logs)
    for name in plan.methods:
        line = did_not_move(read_json(runs / name / METRICS).get("forgetting"))
        if line:
            say(f"{name}: {line}")


def print_table(runs: Path, names: tuple[str, ...]) -> None:
    print(f"{'model':<10}" + "".join(f"{k:>20}" for k in TABLE_KEYS))
    for name in names:
        metrics = read_json(runs / name / METRICS)["metrics"]
        cells = "".join(f"{_fmt(metrics.get(k)):>20}" for k in TABLE_KEYS)
        print(f"{name:<10}{cells}")


def _fmt(x) -> str:
    if x is None:
        return "–"
    return f"{x:.2e}" if 0 < abs(x) < 1e-3 else f"{x:.3f}"

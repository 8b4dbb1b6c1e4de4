"""Check a world: does the target know the forget data, and does the retain model not?

Evaluates both models on the three benchmarks and keeps the eval folders in the world
(``evals/<model>/<benchmark>/``): the retain model's folders are what runs on this world compare
against, so they are computed once here.
"""

from __future__ import annotations

from pathlib import Path

from unlearnkit.benchmarks import get_benchmark
from unlearnkit.eval.recompute import recompute
from unlearnkit.eval.results import METRICS, read_metrics
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.io import write_json
from unlearnkit.world.thresholds import Verdict, judge

CHECK_KEYS = {
    "tofu": (
        "forget_rouge",
        "retain_rouge",
        "real_authors_probability",
        "world_facts_probability",
        "forget_truth_ratio",
        "model_utility",
    ),
    "muse": ("verbmem_f", "knowmem_f", "knowmem_r", "mia_mink"),
    "copyright": ("copyright_rougeL", "copyright_bleu", "ppl"),
    "wmdp": ("wmdp_acc", "wmdp_bio_acc", "wmdp_cyber_acc", "wmdp_chem_acc", "mmlu_acc"),
}


def world_eval_dir(world: Path, model: str, benchmark: str, convention: str = "unlearnkit") -> Path:
    """``evals/<model>/<benchmark>``; under another ``eval.convention``, ``<benchmark>@<convention>``."""
    name = benchmark if convention == "unlearnkit" else f"{benchmark}@{convention}"
    return Path(world) / "evals" / model / name


def evaluate_world_model(
    world: Path,
    model: str,
    benchmark: str,
    settings: EvalSettings | None = None,
    retain_eval: Path | None = None,
) -> Path:
    """Eval folder of one of the world's models on one benchmark, stored in the world (computed
    when absent or scored under other settings): for the commands that build the world (`unlearn
    world --check`, `unlearn demo`); a run reads :func:`world_retain_eval`.

    ``model`` "retain" means the benchmark's retain model (``Benchmark.world_retain``).
    """
    from unlearnkit.eval.run import evaluate_path

    settings = settings or EvalSettings(progress=False)
    if model == "retain":
        model = get_benchmark(benchmark).world_retain
    out = world_eval_dir(world, model, benchmark, settings.convention)
    if not scored_under(out, settings):
        is_retain = retain_eval is None
        evaluate_path(
            benchmark,
            Path(world) / "models" / model,
            out=out,
            tokenizer_path=Path(world) / "tokenizer",
            device="cpu",
            dtype="fp32",
            data=world,
            split="forget10",
            settings=settings,
            retain_eval=retain_eval,
            info={"role": "retain" if is_retain else "target", "method": model},
        )
        if is_retain:  # measured against itself: forget quality 1, privleak 0, by definition
            recompute(out, retain_eval=out)
    return out


def scored_under(eval_dir: Path, settings: EvalSettings) -> bool:
    """An eval folder scored under settings that serve these (``EvalSettings.differs_from``)."""
    if not (eval_dir / METRICS).is_file():
        return False
    recorded = read_metrics(eval_dir).get("eval_settings")
    return isinstance(recorded, dict) and settings.differs_from(recorded) is None


def world_retain_eval(world: Path, benchmark: str, settings: EvalSettings) -> Path:
    """The retain model's eval folder for a run on ``world`` under ``settings``, never written
    into the world (a run only reads it): the world's stored eval when it was scored under the
    same settings, else one computed once into the retain-eval cache, keyed on them."""
    from unlearnkit.eval.retain_cache import ensure_retain_eval

    model = get_benchmark(benchmark).world_retain
    stored = world_eval_dir(world, model, benchmark, settings.convention)
    if scored_under(stored, settings):
        return stored
    return ensure_retain_eval(
        benchmark,
        Path(world) / "models" / model,
        world,
        "forget10",
        settings,
        tokenizer_path=Path(world) / "tokenizer",
        device="cpu",
        dtype="fp32",
        against_itself=True,
    )


def check_world(world: str | Path, progress: bool = True) -> dict:
    """Evaluate target and retain on every benchmark; return {benchmark: {model: {key: value}}}."""
    world = Path(world)
    settings = EvalSettings(progress=progress)
    table: dict = {}
    for benchmark, keys in CHECK_KEYS.items():
        if benchmark not in trained_benchmarks(world):
            continue
        retain_dir = evaluate_world_model(world, "retain", benchmark, settings)
        target_dir = evaluate_world_model(
            world, "target", benchmark, settings, retain_eval=retain_dir
        )
        table[benchmark] = {
            name: {k: read_metrics(d)["metrics"].get(k) for k in keys}
            for name, d in (
                ("target", target_dir),
                (get_benchmark(benchmark).world_retain, retain_dir),
            )
        }
    write_json(world / "check.json", table)
    return table


def trained_benchmarks(world: Path) -> tuple[str, ...]:
    """The benchmarks whose data the world's models learned (a QA-only world: TOFU alone,
    and WMDP with ``hazard``)."""
    from unlearnkit.world.build import read_manifest

    preset = (read_manifest(world) or {}).get("preset", {})
    if not preset.get("qa_only"):
        return tuple(CHECK_KEYS)
    return ("tofu", "wmdp") if preset.get("hazard") else ("tofu",)


def world_verdicts(world: Path, table: dict) -> list[Verdict]:
    """The check table judged against the thresholds of the world's preset."""
    from unlearnkit.world.build import read_manifest

    preset = (read_manifest(Path(world)) or {}).get("preset", {}).get("name", "")
    return judge(table, preset)


def format_check(table: dict) -> str:
    lines = []
    for benchmark, models in table.items():
        keys = CHECK_KEYS[benchmark]
        lines.append(f"{benchmark:<10}" + "".join(f"{k:>26}" for k in keys))
        for name, values in models.items():
            lines.append(f"  {name:<8}" + "".join(f"{_fmt(values.get(k)):>26}" for k in keys))
    return "\n".join(lines)


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.4g}"

"""Relearning over the attacker's budget: rates × full/LoRA × steps, the worst case, references.

Every cell of ``lrs`` × ``lora`` is one cumulative run (``relearn.relearn_run``) measured at each
step count. With more than one cell, a ``worst`` entry names the setting that brought most back:
the highest unseen forget ROUGE-L (ties: unseen forget probability; ``metrics`` where nothing is
unseen). With ``references``, the target and retain models are relearned the same way and each
entry carries their rows at the same setting (``reference_rows``; the worst entry: each
reference's own worst).
"""

from __future__ import annotations

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.copying import free_memory
from unlearnkit.attacks.references import load_reference, reference_path, required
from unlearnkit.attacks.relearn import RelearnParams, relearn_run, steps_name

WORST = "worst"
KEYS = ("forget_rouge", "forget_probability")


def cells(p: RelearnParams, default_lr: float) -> list[tuple[float, bool]]:
    """The (rate, LoRA) cells of the grid, in order."""
    lrs = p.lrs or [p.lr if p.lr is not None else default_lr]
    return [(lr, lora) for lr in lrs for lora in p.lora]


def cell_name(lr: float, lora: bool, step: int, single: bool) -> str:
    """``steps=5`` for the one-cell default, else ``lr=1e-05 lora steps=5``."""
    if single:
        return steps_name(step)
    return f"lr={lr:g} {'lora' if lora else 'full'} steps={step}"


def grid_results(model, tok, ctx: AttackContext, p: RelearnParams) -> list[AttackResult]:
    """Every cell's entries (each step count of each rate × full/LoRA)."""
    grid = cells(p, ctx.finetune_lr)
    single = len(grid) == 1
    out = []
    for lr, lora in grid:

        def name(step, lr=lr, lora=lora):
            return cell_name(lr, lora, step, single)

        out += relearn_run(model, tok, ctx, p, lr, lora, name)
    return out


def level(r: AttackResult) -> tuple[float, float]:
    """What the worst case maximises: unseen forget (ROUGE-L, probability), else all forget."""
    scores = r.extra.get("unseen") or r.metrics
    return tuple(float(scores.get(k, float("-inf"))) for k in KEYS)


def worst_entry(results: list[AttackResult]) -> AttackResult:
    """The entry of the setting with the highest level after the attack, renamed ``worst``."""
    top = max(results, key=level)
    by = "unseen" if top.extra.get("unseen") else "metrics"
    extra = {**top.extra, "worst_of": top.setting, "worst_by": f"{by}.{KEYS[0]}"}
    extra["worst_each"] = {
        k: max(results, key=lambda r, i=i: level(r)[i]).setting for i, k in enumerate(KEYS)
    }
    extra["grid"] = len(results)
    return AttackResult(WORST, top.value, top.metrics, top.rows, extra)


def reference_row(r: AttackResult) -> dict:
    """A reference model's entry at one setting, without its per-item rows."""
    return {"setting": r.setting, "metrics": r.metrics, **r.extra}


def reference_runs(model, tok, ctx: AttackContext, p: RelearnParams) -> dict[str, list]:
    """The target and retain models relearned on the same samples with the same grid."""
    runs = {}
    for which in ("target", "retain"):
        path = required(reference_path(ctx, which, getattr(p, which)), which, "relearn")
        ref = load_reference(path, model, which)
        runs[which] = grid_results(ref, tok, ctx, p)
        del ref
        free_memory()
    return runs


def relearn_attack(model, tok, ctx: AttackContext, p: RelearnParams) -> list[AttackResult]:
    """The relearning attack's entries: the grid, ``worst`` if it has several cells, references."""
    results = grid_results(model, tok, ctx, p)
    refs = reference_runs(model, tok, ctx, p) if p.references else None
    if refs:
        for i, r in enumerate(results):
            r.extra["reference_rows"] = {w: reference_row(rs[i]) for w, rs in refs.items()}
    if len(cells(p, ctx.finetune_lr)) > 1:
        worst = worst_entry(results)
        if refs:
            worst.extra["reference_rows"] = {
                w: reference_row(worst_entry(rs)) for w, rs in refs.items()
            }
        results.append(worst)
    return results

"""Run attacks by name: the registry, the context from a run's config, and the results structure.

``run_attacks`` returns ``{kind: [entry, ...]}`` with one entry per setting:
``{"setting": "steps=5", "value": 5, "metrics": {...}, ...extra}`` (relearn adds ``recovery``,
``lr``, ``samples``, ``loss``; quantize ``backend``, ``group_size``; prefill ``items``), the
``attacks`` object of a run's metrics.json. The attacked model itself is never modified.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from unlearnkit.attacks import KINDS, TOFU_ONLY
from unlearnkit.attacks.context import DEFAULT_FINETUNE_LR, AttackContext, AttackResult
from unlearnkit.attacks.embedding import EmbeddingParams, embedding_attack
from unlearnkit.attacks.incontext import InContextParams, incontext_attack
from unlearnkit.attacks.jailbreak import JailbreakParams, jailbreak_attack
from unlearnkit.attacks.lens import LensParams, lens_attack
from unlearnkit.attacks.orthogonalize import OrthogonalizeParams, orthogonalize_attack
from unlearnkit.attacks.params import build_params
from unlearnkit.attacks.paraphrase import ParaphraseParams, paraphrase_attack
from unlearnkit.attacks.patch import PatchParams, patch_attack
from unlearnkit.attacks.prefill import PrefillParams, prefill_attack
from unlearnkit.attacks.prefill_kl import PrefillKLParams, prefill_kl_attack
from unlearnkit.attacks.quantize import QuantizeParams, quantize_attack
from unlearnkit.attacks.refusal import RefusalParams, refusal_attack
from unlearnkit.attacks.relearn import RelearnParams, relearn_attack
from unlearnkit.benchmarks import get_benchmark
from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_DEFAULT_SPLIT
from unlearnkit.data.samples import UnlearningCorpus
from unlearnkit.errors import UserError
from unlearnkit.eval.recompute import retain_reference
from unlearnkit.eval.results import write_rows
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.io import read_json

log = logging.getLogger(__name__)
ATTACKS_DIR = "attacks"


@dataclass(frozen=True)
class Attack:
    params: type
    run: Callable[..., list[AttackResult]]


REGISTRY: dict[str, Attack] = {
    "relearn": Attack(RelearnParams, relearn_attack),
    "prefill": Attack(PrefillParams, prefill_attack),
    "paraphrase": Attack(ParaphraseParams, paraphrase_attack),
    "incontext": Attack(InContextParams, incontext_attack),
    "quantize": Attack(QuantizeParams, quantize_attack),
    "refusal": Attack(RefusalParams, refusal_attack),
    "prefill_kl": Attack(PrefillKLParams, prefill_kl_attack),
    "jailbreak": Attack(JailbreakParams, jailbreak_attack),
    "embedding": Attack(EmbeddingParams, embedding_attack),
    "lens": Attack(LensParams, lens_attack),
    "patch": Attack(PatchParams, patch_attack),
    "orthogonalize": Attack(OrthogonalizeParams, orthogonalize_attack),
}
assert tuple(REGISTRY) == KINDS


def parse_kinds(kinds: str | Sequence[str]) -> list[str]:
    """``"relearn,quantize"`` or a list, checked against :data:`KINDS`, duplicates dropped."""
    names = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    names = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UserError(f"unknown attack '{unknown[0]}'; choose from: {', '.join(KINDS)}")
    return names


def check_benchmark(kind: str, benchmark: str) -> None:
    bench = get_benchmark(benchmark)
    if kind == "prefill" and bench.answer_prefill:
        return
    if kind in TOFU_ONLY and not bench.prompt_attacks:
        raise UserError(
            f"the {kind} attack needs TOFU-style QA (--benchmark tofu); "
            f"on {benchmark} use relearn or quantize"
        )


def make_params(kind: str, values: dict | None = None):
    """The parameter dataclass of ``kind`` from a dict of settings (unknown keys rejected)."""
    return build_params(REGISTRY[kind].params, values, kind)


def setting_slug(setting: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", setting)


def run_attack(
    kind: str, model, tok, ctx: AttackContext, params=None, out: str | Path | None = None
) -> list[dict]:
    """One attack's entries; its per-item rows go to ``out/attacks/KIND/SETTING/items/`` if given."""
    (kind,) = parse_kinds([kind])
    check_benchmark(kind, ctx.benchmark)
    if params is None or isinstance(params, dict):
        params = make_params(kind, params)
    start = time.perf_counter()
    results = REGISTRY[kind].run(model, tok, ctx, params)
    log.info("attack %s took %.1fs", kind, time.perf_counter() - start)
    if out is not None:
        for r in results:
            write_rows(Path(out) / ATTACKS_DIR / kind / setting_slug(r.setting), r.rows)
    return [r.entry() for r in results]


def finetune_lr(model_path: str | Path | None) -> float | None:
    """The learning rate in ``finetune.json`` of a model folder written by `unlearn finetune`."""
    if not model_path:
        return None
    path = Path(str(model_path)).expanduser() / "finetune.json"
    if not path.is_file():
        return None
    lr = read_json(path).get("config", {}).get("learning_rate")
    return float(lr) if isinstance(lr, (int, float)) else None


def original_finetune_lr(*model_paths: str | Path | None) -> float:
    """The fine-tuning rate of the first of ``model_paths`` that records one, else 1e-5 (TOFU's)."""
    for path in model_paths:
        lr = finetune_lr(path)
        if lr is not None:
            return lr
    return DEFAULT_FINETUNE_LR


def world_target(data: str | None) -> Path | None:
    """The target model folder of the world that ``data`` is (or of the default world)."""
    from unlearnkit.world.location import default_world_dir

    world = Path(data).expanduser() if data else default_world_dir()
    return world / "models" / "target" if (world / "world.json").is_file() else None


def corpus_split(benchmark: str, split: str | None) -> str | None:
    """The MUSE / copyright forget subset: a count, else all (TOFU split names mean all)."""
    subset = get_benchmark(benchmark).attack_split(split)
    return None if subset is None else str(subset)


def context_from_config(
    cfg, split: str, retain_eval, progress: bool = True, corpus: UnlearningCorpus | None = None
) -> AttackContext:
    """The attack context of an `unlearn run` config (``unlearnkit.api.RunConfig``).

    ``corpus``: the run's unlearning corpus, already loaded (relearning reuses its forget side).
    """
    benchmark = cfg.data.benchmark
    settings = EvalSettings(
        batch_size=cfg.eval.batch_size,
        gen_batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.max_new_tokens,
        max_length=cfg.train.max_length,
        progress=progress,
        convention=getattr(cfg.eval, "convention", "unlearnkit"),
        system_prompt=getattr(cfg.eval, "system_prompt", None),
        date_string=getattr(cfg.eval, "date_string", None),
    )
    return AttackContext(
        benchmark=benchmark,
        data=cfg.data.path,
        split=get_benchmark(benchmark).eval_split(split) or TOFU_DEFAULT_SPLIT,
        corpus_split=corpus_split(benchmark, cfg.data.split),
        settings=settings,
        reference=retain_reference(benchmark, retain_eval),
        finetune_lr=original_finetune_lr(getattr(cfg, "model", None), world_target(cfg.data.path)),
        corpus=corpus,
        target_model=getattr(cfg, "model", None)
        or None,  # the model unlearning started from (None: the world's)
        retain_model=getattr(cfg.eval, "retain_model", None) or None,
    )


def run_attacks(
    kinds: str | Sequence[str],
    model,
    tok,
    cfg,
    split: str,
    retain_eval=None,
    progress: bool = True,
    params: dict | None = None,
    out: str | Path | None = None,
    corpus: UnlearningCorpus | None = None,
) -> dict[str, list[dict]]:
    """Every attack of ``kinds`` on ``model`` after an `unlearn run`; ``params`` maps kind → settings.

    All kinds and settings are checked before the first attack runs. With ``out`` (the run
    folder), per-item rows are written under ``out/attacks/``. ``corpus``: the run's, if loaded.
    """
    names = parse_kinds(kinds)
    params = params or {}
    stray = sorted(set(params) - set(KINDS))
    if stray:
        raise UserError(
            f"attack_params has unknown attack '{stray[0]}'; choose from: {', '.join(KINDS)}"
        )
    ctx = context_from_config(cfg, split, retain_eval, progress, corpus)
    for kind in names:
        check_benchmark(kind, ctx.benchmark)
    built = {kind: make_params(kind, params.get(kind)) for kind in names}
    return {kind: run_attack(kind, model, tok, ctx, built[kind], out) for kind in names}

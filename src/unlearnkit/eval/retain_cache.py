"""Evaluate the retain model once per (benchmark, data, split, model) and reuse its eval folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from unlearnkit.eval.results import METRICS
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.world.location import cache_home


def _fingerprint(model_path: str | Path) -> str:
    path = Path(model_path)
    if not path.exists():
        return str(model_path)
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".json", ".bin"))
    return json.dumps(
        [(str(path.resolve()), p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    )


def retain_eval_dir(
    benchmark: str, retain_model: str | Path, data, split: str, settings: EvalSettings
) -> Path:
    key = json.dumps(
        [
            benchmark,
            str(data),
            split,
            _fingerprint(retain_model),
            settings.max_new_tokens,
            settings.max_length,
            *([settings.max_items] if settings.max_items else []),  # old keys stay valid
        ]
    )
    return cache_home() / "retain_evals" / hashlib.sha256(key.encode()).hexdigest()[:16]


def ensure_retain_eval(
    benchmark: str,
    retain_model: str | Path,
    data,
    split: str,
    settings: EvalSettings,
    tokenizer_path=None,
    device=None,
    dtype="auto",
) -> Path:
    """The retain model's eval folder, computed now only if no cached one exists."""
    from unlearnkit.eval.run import evaluate_path

    out = retain_eval_dir(benchmark, retain_model, data, split, settings)
    if (out / METRICS).is_file():
        return out
    work = out.with_name(out.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    evaluate_path(
        benchmark,
        retain_model,
        out=work,
        tokenizer_path=tokenizer_path,
        device=device,
        dtype=dtype,
        data=data,
        split=split,
        settings=settings,
        info={"role": "retain"},
    )
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    return out

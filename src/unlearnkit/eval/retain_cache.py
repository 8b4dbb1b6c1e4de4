"""Evaluate the retain model once per (benchmark, data content, split, model, eval settings) and
reuse its eval folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from unlearnkit.eval.recompute import recompute
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


def data_fingerprint(benchmark: str, data) -> list:
    """The data a retain eval reads: a hub id as given, a local folder by its files' sizes and
    modification times (a file edited, added or removed in place gives another key)."""
    from unlearnkit.world.location import default_world_dir

    path = Path(data).expanduser() if data is not None else default_world_dir()
    if not path.is_dir():
        return [str(data)]
    folder = path / "data" / benchmark if (path / "data" / benchmark).is_dir() else path
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    return [
        str(folder.resolve()),
        [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files],
    ]


def retain_eval_dir(
    benchmark: str,
    retain_model: str | Path,
    data,
    split: str,
    settings: EvalSettings,
    tokenizer_path=None,
    dtype: str | None = "auto",
    device=None,
) -> Path:
    """The cache folder of one retain eval, keyed on everything that changes its numbers."""
    from unlearnkit.models import pick_device, pick_dtype

    key = json.dumps(
        {
            "benchmark": benchmark,
            "data": data_fingerprint(benchmark, data),
            "split": split,
            "model": _fingerprint(retain_model),
            "tokenizer": _fingerprint(tokenizer_path) if tokenizer_path else None,
            "dtype": str(pick_dtype(dtype, pick_device(device))),
            "settings": settings.key(),
        },
        default=str,
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
    allow_pickle: bool = False,
    against_itself: bool = False,
) -> Path:
    """The retain model's eval folder, computed now only if no cached one exists.

    The retain model loads under the same rules as any model (``allow_pickle``).
    ``against_itself``: its forget quality and privleak measured against itself (1 and 0 by
    definition), as a world's stored retain eval has them.
    """
    from unlearnkit.eval.run import evaluate_path

    out = retain_eval_dir(
        benchmark, retain_model, data, split, settings, tokenizer_path, dtype, device
    )
    if (out / METRICS).is_file():
        return out
    work = out.with_name(f".{out.name}.tmp-{os.getpid()}")  # two runs may fill the same key
    shutil.rmtree(work, ignore_errors=True)
    try:
        evaluate_path(
            benchmark,
            retain_model,
            out=work,
            tokenizer_path=tokenizer_path,
            device=device,
            dtype=dtype,
            allow_pickle=allow_pickle,
            data=data,
            split=split,
            settings=settings,
            info={"role": "retain"},
        )
        if against_itself:
            recompute(work, retain_eval=work)
        if out.exists() and not (out / METRICS).is_file():
            shutil.rmtree(out, ignore_errors=True)  # an unfinished folder of an older version
        try:
            work.rename(out)
        except OSError:
            if not (out / METRICS).is_file():
                raise
    finally:  # another process filled it first (the same eval), or this one failed
        shutil.rmtree(work, ignore_errors=True)
    return out

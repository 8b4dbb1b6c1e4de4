"""Build a world: data in the real benchmarks' layouts, a tokenizer, a target and retain models.

The whole world is written to a temporary folder and renamed into place at the end, and it is
cached by a hash of (preset, seed, retain splits, versions): a second build with the same inputs
returns at once unless ``force`` is set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

import torch

from unlearnkit.errors import UserError
from unlearnkit.io import read_json, write_json
from unlearnkit.methods.templates import load_refusals
from unlearnkit.world.corpus import retain_corpus, target_corpus, trained_part
from unlearnkit.world.generate import generate_world, write_world_data
from unlearnkit.world.jobs import ModelJob, train_world_models
from unlearnkit.world.presets import WorldPreset, get_preset
from unlearnkit.world.tokenizer import train_tokenizer

# 4: the WMDP hazard domain; 5: one retain model for every benchmark, news with answered questions
WORLD_FORMAT = 5
RETAIN_SPLITS = ("forget01", "forget05", "forget10")


def world_hash(preset: WorldPreset, seed: int, retain_splits: tuple[str, ...]) -> str:
    versions = {
        pkg: metadata.version(pkg) for pkg in ("unlearnkit", "torch", "transformers", "tokenizers")
    }
    key = {
        "format": WORLD_FORMAT,
        "base": base_fingerprint(preset),
        "preset": preset.to_dict(),
        "seed": seed,
        "retain_splits": sorted(retain_splits),
        "versions": versions,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def base_fingerprint(preset: WorldPreset) -> str | None:
    """The checksum of the base model's weights (a re-fetched or changed base rebuilds the world)."""
    if preset.base is None:
        return None
    from unlearnkit.base_models import resolve_base, weights_fingerprint

    return weights_fingerprint(resolve_base(preset.base))


def world_tokenizer(preset: WorldPreset, data):
    """The base model's tokenizer (with its chat template), or a BPE trained on the world's text."""
    if preset.base is not None:
        from transformers import AutoTokenizer

        from unlearnkit.base_models import resolve_base

        return AutoTokenizer.from_pretrained(resolve_base(preset.base))
    return train_tokenizer(all_world_text(data), preset.model.vocab_size)


def retain_model_name(split: str) -> str:
    return "retain" if split == "forget10" else f"retain_{split}"


def read_manifest(out: Path) -> dict | None:
    """The world's ``world.json``; None when there is none or it does not read (not a world)."""
    if not (out / "world.json").is_file():
        return None
    try:
        manifest = read_json(out / "world.json")
    except UserError:
        return None
    return manifest if isinstance(manifest, dict) else None


def build_world(
    preset_name: str,
    out: str | Path,
    seed: int = 0,
    retain_splits: tuple[str, ...] = ("forget10",),
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the world at ``out`` and return its path."""
    preset = get_preset(preset_name)
    for split in retain_splits:
        if split not in RETAIN_SPLITS:
            raise UserError(
                f"unknown retain split '{split}'; choose from {', '.join(RETAIN_SPLITS)}"
            )
    retain_splits = tuple(dict.fromkeys(("forget10", *retain_splits)))
    out = Path(out).expanduser()
    digest = world_hash(preset, seed, retain_splits)
    manifest = read_manifest(out)
    if manifest and manifest.get("hash") == digest and not force:
        say(f"world {preset.name} (seed {seed}) is up to date at {out}", progress)
        return out
    if out.exists() and manifest is None and any(out.iterdir()):
        raise UserError(
            f"{out} exists and is not a world folder; choose another --out or remove it"
        )

    work = out.with_name(f".{out.name}.building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        say(f"[1/3] generating the {preset.name} world (seed {seed})", progress)
        data = dataclasses.replace(generate_world(preset, seed), refusals=load_refusals())
        write_world_data(data, work / "data")
        say("[2/3] the tokenizer", progress)
        tokenizer = world_tokenizer(preset, data)
        tokenizer.save_pretrained(str(work / "tokenizer"))
        jobs = [ModelJob("target", trained_part(preset, data, target_corpus(data)), "everything")]
        jobs += [
            ModelJob(
                retain_model_name(split),
                trained_part(preset, data, retain_corpus(data, split)),
                f"all but {split}",
            )
            for split in retain_splits
        ]
        summaries = train_world_models(
            preset, seed, work / "tokenizer", jobs, work / "models", progress
        )
        write_json(
            work / "world.json",
            {
                "hash": digest,
                "preset": preset.to_dict(),
                "seed": seed,
                "retain_splits": list(retain_splits),
                "training": {
                    k: {"train_loss": v["train_loss"], "steps": v["steps"]}
                    for k, v in summaries.items()
                },
                "torch_threads": torch.get_num_threads(),
            },
        )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    say(f"world written to {out}", progress)
    return out


def all_world_text(data) -> list[str]:
    """Every string of the world (data of all splits): what the tokenizer is trained on."""
    corpus = target_corpus(data)
    texts = [f"{q} {a}" for q, a in corpus.qa] + list(corpus.texts)
    for records in (*data.tofu.values(), *data.muse.values(), *data.copyright.values()):
        for rec in records:
            texts.extend(_strings(rec))
    return texts


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)

"""Memory: peak RSS of `unlearn run` on the small world, and what LoRA saves.

1. Peak resident memory of whole `unlearn run` processes (unlearning, then the TOFU evaluation) on
   a private copy of the small world, against the floor of a process that only imports unlearnkit,
   torch and transformers. Each run is measured by a wrapper process whose only child it is
   (``getrusage(RUSAGE_CHILDREN).ru_maxrss``), so the runs do not see each other's peaks.
2. LoRA: trainable parameters, gradient and AdamW-state bytes after two optimizer steps through
   the trainer, full fine-tuning against LoRA (r = 8, all linear layers), on the small world's
   target and on a model of the `standard` preset's size (random weights, same data).

    .venv/bin/python bench/memory.py [--skip-runs]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench.common import ROOT, THREADS, header, quiet, small_world, table  # noqa: E402
from bench.world_setup import BenchTrainer, load_target, world_config  # noqa: E402

WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n"
)
FLOOR = "import torch, transformers, unlearnkit.api, unlearnkit.train.unlearn, unlearnkit.eval.run"


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS (MiB) of ``cmd`` run as the only child of a fresh wrapper process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    kb, rc = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {rc}")
    return int(kb) / 1024


def run_rows(world: Path) -> list[list]:
    unlearn = str(Path(sys.executable).with_name("unlearn"))
    rows = []
    floor = peak_rss_mb([sys.executable, "-c", FLOOR])
    rows.append(["import floor (torch + transformers + unlearnkit)", floor, 1.0])
    for label, method, extra in (
        ("unlearn run ga (packaged world config)", "ga", []),
        ("unlearn run npo (precomputed reference)", "npo", []),
        ("unlearn run kl (live reference copy)", "kl", []),
        ("unlearn run npo, LoRA r=8", "npo", ["lora.r=8"]),
    ):
        out = Path(tempfile.mkdtemp(prefix="bench-run-"))
        cmd = [
            unlearn,
            "run",
            "--config",
            f"world/{method}",
            "--data",
            str(world),
            "--device",
            "cpu",
            "--out",
            str(out / "run"),
            "--overwrite",
            *extra,
        ]
        try:
            mb = peak_rss_mb(cmd)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        rows.append([label, mb, mb / floor])
    return rows


def state_bytes(trainer) -> tuple[int, int, int]:
    """(trainable parameters, gradient bytes, optimizer-state bytes)."""
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    n = sum(p.numel() for p in params)
    grads = sum(p.numel() * p.element_size() for p in params)
    opt = sum(
        v.numel() * v.element_size()
        for state in trainer.optimizer.state.values()
        for v in state.values()
        if torch.is_tensor(v)
    )
    return n, grads, opt


def standard_sized(tok):
    """A random-weight Llama of the `standard` preset's size, with the small world's tokenizer."""
    from unlearnkit.world.presets import get_preset
    from unlearnkit.world.training import new_world_model

    return new_world_model(get_preset("standard"), tok, seed=0)


def lora_rows() -> list[list]:
    model, tok = load_target()
    rows = []
    for label, base in (("small world target", model), ("standard-preset layers (2k vocab)", None)):
        base = base if base is not None else standard_sized(tok)
        total = sum(p.numel() for p in base.parameters())
        found = {}
        for r in (0, 8):
            cfg = world_config("ga", [f"lora.r={r}"])
            bench = BenchTrainer(copy.deepcopy(base), tok, cfg, n_steps=2)
            bench.steps()
            found[r] = state_bytes(bench.trainer)
            shutil.rmtree(bench.out, ignore_errors=True)
        for r in (0, 8):
            n, grads, opt = found[r]
            rows.append(
                [
                    label,
                    f"{total / 1e6:.2f} M",
                    "full" if r == 0 else f"LoRA r={r}",
                    f"{n / 1e6:.3f} M",
                    n / found[0][0],
                    grads / 2**20,
                    opt / 2**20,
                    opt / found[0][2],
                ]
            )
    return rows


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-runs", action="store_true", help="only the LoRA table")
    args = p.parse_args(argv)
    quiet()
    header("Memory")
    texts = []
    if not args.skip_runs:
        src = small_world()
        with tempfile.TemporaryDirectory(prefix="bench-world-") as tmp:
            world = Path(tmp) / "world"
            shutil.copytree(src, world)  # a run may add eval caches to its world: use a copy
            meta = json.loads((world / "world.json").read_text())
            texts.append(
                table(
                    ["process", "peak RSS (MiB)", "× import floor"],
                    run_rows(world),
                    title=f"`unlearn run` on the small world ({meta['preset']['name']}), "
                    f"TOFU forget10, packaged configs, OMP_NUM_THREADS={THREADS}",
                )
            )
        print()
    texts.append(
        table(
            [
                "model",
                "parameters",
                "training",
                "trainable",
                "× full",
                "grads (MiB)",
                "AdamW state (MiB)",
                "× full",
            ],
            lora_rows(),
            title="LoRA (all-linear, r=8) against full fine-tuning, ga, after 2 steps",
        )
    )
    return "\n\n".join(texts)


if __name__ == "__main__":
    main()

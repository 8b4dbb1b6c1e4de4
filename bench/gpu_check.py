"""GPU check of the precision and multi-process mechanics: run it on a machine with a CUDA GPU.

On a random Llama (default ~150M parameters) and synthetic TOFU-shaped data it runs a few
unlearning steps of NPO, SAM (over NPO) and PRISM through ``unlearn()``, in
``precision: mixed-bf16`` (fp32 master weights, bf16 autocast) and ``bf16`` (pure), on one process
and, with two or more GPUs, on two (``accelerate launch --multi_gpu``, DDP). It prints per run the
peak GPU memory, forget tokens/s, the losses and ``sam_applied_norm``/ρ (the norm of what the
forward sees of ε), and for one SAM ε the cosine and norm ratio of what a bf16-autocast forward
sees of it, written into the weights and through SAM's additive path (``methods.perturb``).
Without CUDA it says so in one line and exits 0.

    .venv/bin/python bench/gpu_check.py [--steps 5] [--hidden 1024] [--layers 12]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = {
    "npo": {},
    "sam": {"base": "npo", "rho": 0.01},
    "prism": {"rho": 0.01, "probe_epochs": 2},
}
PRECISIONS = ("mixed-bf16", "bf16")
WORDS = [
    "harbour",
    "lamp",
    "clock",
    "amber",
    "river",
    "copper",
    "glass",
    "orchard",
    "tide",
    "salt",
    "quill",
    "village",
    "ship",
]


def synthetic_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` question/answer pairs of made-up facts (about 40 tokens each)."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        pick = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (12,), generator=gen)]
        rows.append((f"What is fact {i} about {pick[0]}?", " ".join(pick[1:]).capitalize() + "."))
    return rows


def prepare(work: Path, hidden: int, layers: int) -> int:
    """Write the data (TOFU layout), a tokenizer and a random Llama into ``work``; its size."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from unlearnkit.world.tokenizer import train_tokenizer

    forget, retain = synthetic_rows(64, 0), synthetic_rows(256, 1)
    data = work / "data"
    data.mkdir(parents=True)
    for name, rows in (("forget01", forget), ("retain99", retain)):
        lines = [json.dumps({"question": q, "answer": a}) for q, a in rows]
        (data / f"{name}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tok = train_tokenizer([f"{q} {a}" for q, a in forget + retain], vocab_size=2048)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=int(hidden * 2.75),
        num_hidden_layers=layers,
        num_attention_heads=max(hidden // 64, 1),
        num_key_value_heads=max(hidden // 256, 1),
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(work / "model")
    tok.save_pretrained(work / "model")
    return sum(p.numel() for p in model.parameters())


def _local_device() -> str:
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"


def _world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _max_over_ranks(value: float) -> float:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor(value, device=_local_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)


def run_one(work: Path, method: str, precision: str, steps: int, batch: int) -> dict:
    """One ``unlearn()`` run; peak memory (max over processes), forget tokens/s and logs."""
    from unlearnkit.models import load_model, load_tokenizer
    from unlearnkit.train.unlearn import DataSection, TrainSection, UnlearnConfig, unlearn

    cfg = UnlearnConfig(
        method=method,
        params=dict(METHODS[method]),
        train=TrainSection(
            max_steps=steps, batch_size=batch, max_length=128, precision=precision, logging_steps=1
        ),
        data=DataSection(benchmark="tofu", path=str(work / "data"), split="forget01"),
    )
    tok = load_tokenizer(work / "model")
    model = load_model(work / "model", device=_local_device(), dtype="bf16")
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    out = work / f"run-{_world()}-{method}-{precision}"
    summary = unlearn(cfg, model, tok, out, progress=False)
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    steps_logged = [h for h in summary["log_history"] if "loss" in h]
    row_tokens = sum(len(tok(q + " " + a)["input_ids"]) for q, a in synthetic_rows(64, 0)) / 64
    tokens = summary["steps"] * batch * _world() * row_tokens
    rho = METHODS[method].get("rho")
    applied = [h.get("sam_applied_norm") for h in steps_logged]
    return {
        "peak_gib": _max_over_ranks(peak),
        "tokens_per_s": tokens / summary["runtime_s"],
        "losses": [round(h["loss"], 4) for h in steps_logged],
        "applied_over_rho": None if rho is None else [round(a / rho, 4) for a in applied if a],
        "seen_cos": [round(h["sam_seen_cos"], 4) for h in steps_logged if "sam_seen_cos" in h],
    }


def seen_eps(work: Path, precision: str, rho: float = 0.01) -> dict[str, tuple[float, float]]:
    """What a bf16-autocast forward sees of one SAM ε in ``precision``: (cos with ε, norm / ρ),
    with ε written into the weights (before) and through the additive path (what SAM does now)."""
    from unlearnkit.methods.grads import sam_perturbation
    from unlearnkit.methods.perturb import perturbation
    from unlearnkit.models import load_model, precision_dtype

    model = load_model(work / "model", device=_local_device(), dtype="bf16")
    model.to(precision_dtype(precision)).train()
    params = list(model.parameters())
    ids = torch.randint(0, model.config.vocab_size, (4, 128), device=model.device)
    with torch.autocast(model.device.type, dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=ids).loss.float()
    eps = sam_perturbation(list(torch.autograd.grad(loss, params)), rho)
    out = {}
    for name, additive in (("in place", False), ("additive", True)):
        with perturbation(model, params, eps, torch.bfloat16, additive=additive) as seen:
            out[name] = (float(seen.cos), float(seen.norm) / rho)
    return out


def worker(work: Path, steps: int, batch: int) -> None:
    """Every method × precision on this launch's processes; the main process prints the rows."""
    if _is_main():
        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
        print(f"\n## {_world()} process(es), {name}\n")
        print(
            "| method | precision | peak GiB | forget tokens/s | losses | seen ‖ε‖/ρ | seen cos |"
        )
        print("|---|---|---|---|---|---|---|")
    for method in METHODS:
        for precision in PRECISIONS:
            r = run_one(work, method, precision, steps, batch)
            if _is_main():
                print(
                    f"| {method} | {precision} | {r['peak_gib']:.2f} | {r['tokens_per_s']:.0f} "
                    f"| {r['losses']} | {r['applied_over_rho'] or '-'} | {r['seen_cos'] or '-'} |",
                    flush=True,
                )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # set by the 2-process launch
    ap.add_argument(
        "--allow-cpu", action="store_true", help=argparse.SUPPRESS
    )  # to test the script
    args = ap.parse_args()
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(
            "gpu_check: no CUDA GPU on this machine; nothing to check (run it where there is one)"
        )
        return 0
    if args.worker:
        worker(args.worker, args.steps, args.batch)
        return 0
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        work = Path(tmp)
        n = prepare(work, args.hidden, args.layers)
        print(f"random Llama, {n / 1e6:.0f}M parameters; torch {torch.__version__}")
        print("\n## what the bf16-autocast forward sees of one SAM ε, rho = 0.01 (cos, norm/ρ)\n")
        for precision in PRECISIONS:
            seen = seen_eps(work, precision)
            print(
                f"- {precision}: "
                + "; ".join(f"{k} {c:.4f}, {r:.3f}" for k, (c, r) in seen.items())
            )
        start = time.perf_counter()
        worker(work, args.steps, args.batch)
        if torch.cuda.device_count() >= 2:
            cmd = [
                sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                "--num_processes", "2", "--mixed_precision", "bf16", __file__,
                "--worker", str(work), "--steps", str(args.steps), "--batch", str(args.batch),
            ]  # fmt: skip
            subprocess.run(cmd, check=True, cwd=ROOT)
        else:
            print("\n(one GPU: the 2-process DDP check needs two)")
        print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

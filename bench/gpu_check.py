"""The GPU acceptance check: one command for a lent GPU (≤ 8 minutes on one H100 at the defaults).

On a random Llama (default ~150M parameters) and synthetic TOFU-shaped data it checks, and asserts:

1. **seen ε**: what a bf16-autocast forward sees of one SAM ε at ρ = 0.01, written into the weights
   and through SAM's additive path (``methods.perturb``): the additive path's cosine ≥ 0.99;
2. **methods** ga, npo, sam (over npo), prism and ``sga r: auto`` through ``unlearn()`` on one
   process: losses, steady-state forget tokens/s (the first step left out: ``step_seconds``),
   peak GPU memory per run (the peak reset and the previous run freed first);
3. **2 processes**, DDP and FSDP2 (``UNLEARNKIT_FSDP=1``: sharded at load time), each method's
   losses against the one-process run on the same global batch (every retain row is the same
   text, so every process's loss is a mean over the same rows);
4. **the CLI** under ``accelerate launch``: ``unlearn run --save-model`` ends 0 and its saved model
   reloads;
5. **the eval engine** (teacher-forced NLLs and greedy generation) on CUDA against the CPU, same
   weights in fp32.

Without CUDA it says so and exits 0; ``--allow-cpu`` runs every check on the CPU (2 processes over
gloo; fp32), which the test suite does on a tiny model (``tests/test_gpu_check.py``). Figures go to
stdout as markdown and to ``--json``; a failed assertion makes the exit status 1.

    .venv/bin/python bench/gpu_check.py [--steps 5] [--hidden 1024] [--layers 12] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = {
    "ga": {},
    "npo": {},
    "sam": {"base": "npo", "rho": 0.01},
    "prism": {"rho": 0.01, "probe_epochs": 2},
    "sga": {"K": 3, "r": "auto", "r_every": 1, "r_max": 1.0},
}
WORDS = ["harbour", "lamp", "clock", "amber", "river", "copper", "glass", "orchard", "tide"]
SEEN_COS = 0.99  # the additive path's cosine with ε, at least
EVAL_NLL = 1e-3  # CUDA against CPU, fp32, max |Δ NLL| per item


def synthetic_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` question/answer pairs of made-up facts (about 40 tokens each)."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        pick = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (12,), generator=gen)]
        rows.append((f"What is fact {i} about {pick[0]}?", " ".join(pick[1:]).capitalize() + "."))
    return rows


def prepare(work: Path, hidden: int, layers: int) -> int:
    """The data (TOFU layout, every retain row the same), a tokenizer and a random Llama in
    ``work``; its parameter count."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from unlearnkit.world.tokenizer import train_tokenizer

    forget, retain = synthetic_rows(64, 0), synthetic_rows(1, 1) * 256
    data = work / "data"
    data.mkdir(parents=True)
    for name, rows in (("forget01", forget), ("retain99", retain)):
        lines = [json.dumps({"question": q, "answer": a}) for q, a in rows]
        (data / f"{name}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tok = train_tokenizer([f"{q} {a}" for q, a in forget + retain[:1]], vocab_size=2048)
    config = LlamaConfig(
        vocab_size=-(-len(tok) // 8) * 8,  # rows that FSDP2 splits evenly (tied embeddings)
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


def _cuda() -> bool:
    return torch.cuda.is_available()


def _device() -> str:
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if _cuda() else "cpu"


def _precision() -> str:
    return "mixed-bf16" if _cuda() else "fp32"  # the CPU check is about exactness, not speed


def run_one(work: Path, method: str, steps: int, batch: int) -> dict:
    """One ``unlearn()`` run on this launch: losses, steady tokens/s, peak GiB (max over ranks)."""
    from unlearnkit import launch
    from unlearnkit.models import load_model, load_tokenizer
    from unlearnkit.train.unlearn import DataSection, TrainSection, UnlearnConfig, unlearn

    cfg = UnlearnConfig(
        method=method,
        params=dict(METHODS[method]),
        train=TrainSection(
            max_steps=steps,
            batch_size=batch,
            max_length=128,
            precision=_precision(),
            logging_steps=1,
            optimizer="sgd",
            learning_rate=1e-3,
            lr_scheduler="constant",
            weight_decay=0.0,
        ),  # fmt: skip
        data=DataSection(benchmark="tofu", path=str(work / "data"), split="forget01"),
    )
    gc.collect()
    if _cuda():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    tok = load_tokenizer(work / "model")
    model = load_model(work / "model", device=_device(), dtype="fp32", shard=launch.sharded())
    model.train()
    out = work / f"run-{launch.world_size()}-{launch.sharded()}-{method}"
    summary = unlearn(cfg, model, tok, out, progress=False)
    peak = torch.cuda.max_memory_allocated() / 2**30 if _cuda() else 0.0
    row_tokens = sum(len(tok(q + " " + a)["input_ids"]) for q, a in synthetic_rows(64, 0)) / 64
    steady = summary["step_seconds"][1:] or summary["step_seconds"]
    tokens = len(steady) * batch * launch.world_size() * row_tokens
    del model
    return {
        "peak_gib": max(launch.gather(peak)),
        "tokens_per_s": tokens / max(sum(steady), 1e-9),
        "losses": [h["loss"] for h in summary["log_history"] if "loss" in h],
        "sharding": summary["sharding"],
    }


def seen_eps(work: Path, rho: float = 0.01) -> dict[str, dict[str, float]]:
    """What a bf16-autocast forward sees of one SAM ε, per weight precision and path."""
    from unlearnkit.methods.grads import sam_perturbation
    from unlearnkit.methods.perturb import perturbation
    from unlearnkit.models import load_model, precision_dtype

    out = {}
    for precision in ("mixed-bf16", "bf16"):
        model = load_model(work / "model", device=_device(), dtype="fp32")
        model.to(precision_dtype(precision)).train()
        params = list(model.parameters())
        ids = torch.randint(0, model.config.vocab_size, (4, 128), device=model.device)
        with torch.autocast(model.device.type, dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss.float()
        eps = sam_perturbation(list(torch.autograd.grad(loss, params)), rho)
        for name, additive in (("in place", False), ("additive", True)):
            with perturbation(model, params, eps, torch.bfloat16, additive=additive) as seen:
                out[f"{precision}, {name}"] = {
                    "cos": float(seen.cos),
                    "norm_over_rho": float(seen.norm) / rho,
                }
    return out


def eval_engine(work: Path) -> dict:
    """Teacher-forced NLLs and greedy answers of 16 forget rows, CUDA against CPU, fp32."""
    from unlearnkit.data.formatting import encode_qa, question_prompt
    from unlearnkit.eval.engine import generate, score_sequences
    from unlearnkit.models import load_model, load_tokenizer

    if not _cuda():
        return {"skipped": "no CUDA"}
    tok = load_tokenizer(work / "model")
    rows = synthetic_rows(64, 0)[:16]
    encoded = [encode_qa(tok, q, a, 128) for q, a in rows]
    prompts = [question_prompt(tok, q) for q, _ in rows]
    got = {}
    for device in ("cpu", "cuda:0"):
        model = load_model(work / "model", device=device, dtype="fp32")
        got[device] = (
            [s.nll for s in score_sequences(model, encoded, tok.pad_token_id)],
            generate(model, tok, prompts, max_new_tokens=16),
        )
    (cpu_nll, cpu_gen), (gpu_nll, gpu_gen) = got["cpu"], got["cuda:0"]
    return {
        "max_nll_diff": max(abs(a - b) for a, b in zip(cpu_nll, gpu_nll)),
        "same_generations": sum(a == b for a, b in zip(cpu_gen, gpu_gen)) / len(rows),
    }


def worker(work: Path, steps: int, batch: int, result: Path, methods: list[str]) -> None:
    """Each method on this launch's processes; rank 0 writes the results."""
    from unlearnkit import launch

    launch.take_place("cpu" if not _cuda() else None)
    rows = {m: run_one(work, m, steps, batch) for m in methods}
    if launch.is_main():
        result.write_text(json.dumps(rows), encoding="utf-8")


def launch_two(work: Path, steps: int, batch: int, layout: str, methods: list[str]) -> dict:
    """The 2-process runs of one layout (ddp, fsdp2), started by torchrun."""
    result = work / f"two-{layout}.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "UNLEARNKIT_FSDP": "1" if layout == "fsdp2" else "0",
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_port", str(29500 + os.getpid() % 1000), __file__, "--worker", str(work),
        "--steps", str(steps), "--batch", str(batch), "--result", str(result),
        "--methods", ",".join(methods),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    return json.loads(result.read_text())


def cli_check(work: Path, processes: int) -> dict:
    """``unlearn run`` under ``accelerate launch`` (training, save; no eval sets here)."""
    from transformers import AutoModelForCausalLM

    config = "ddp_gpu.yaml" if _cuda() else "ddp_cpu.yaml"
    out = work / "cli-run"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(ROOT / "configs" / "accelerate" / config), "--num_processes", str(processes),
        "-m", "unlearnkit.cli", "run", "--method", "ga", "--benchmark", "tofu",
        "--data", str(work / "data"), "--split", "forget01", "--model", str(work / "model"),
        "--out", str(out), "--save-model", "eval.skip=true", "train.max_steps=2",
        "train.batch_size=2", "train.max_length=128",
    ]  # fmt: skip
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    ok = run.returncode == 0 and (out / "model" / "config.json").is_file()
    if ok:
        AutoModelForCausalLM.from_pretrained(str(out / "model"))
    return {"processes": processes, "ok": ok, "stderr": "" if ok else run.stderr[-2000:]}


def close(a: list[float], b: list[float]) -> bool:
    """Losses equal up to the summation order (fp32) or bf16's rounding (mixed-bf16)."""
    rel = 2e-2 if _cuda() else 1e-4
    return len(a) == len(b) and all(abs(x - y) <= rel * max(abs(y), 1e-2) for x, y in zip(a, b))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4, help="rows per step, one process")
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--methods", default=",".join(METHODS), help="a subset, e.g. ga,sam")
    ap.add_argument("--allow-cpu", action="store_true", help="run the checks on the CPU")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # a process of a 2-process run
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # one method on one process
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    if unknown := set(methods) - set(METHODS):
        ap.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    if args.one:
        row = run_one(args.worker, args.one, args.steps, args.batch)
        args.result.write_text(json.dumps(row), encoding="utf-8")
        return 0
    if args.worker:
        worker(args.worker, args.steps, args.batch, args.result, methods)
        return 0
    if not _cuda() and not args.allow_cpu:
        print("gpu_check: no CUDA GPU on this machine; nothing to check (--allow-cpu: on the CPU)")
        return 0
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        work = Path(tmp)
        n = prepare(work, args.hidden, args.layers)
        name = torch.cuda.get_device_name(0) if _cuda() else "CPU"
        print(f"# gpu_check: {name}, torch {torch.__version__}, random Llama {n / 1e6:.1f}M\n")
        report: dict = {"device": name, "parameters": n, "precision": _precision()}

        report["seen_eps"] = seen = seen_eps(work)
        print("## seen ε, ρ = 0.01 (cos, ‖seen‖/ρ)\n")
        for key, v in seen.items():
            print(f"- {key}: {v['cos']:.4f}, {v['norm_over_rho']:.3f}")
            if key.endswith("additive") and v["cos"] < SEEN_COS:
                failures.append(f"seen ε {key}: cos {v['cos']:.4f} < {SEEN_COS}")

        report["one"] = one = {}
        for method in methods:
            one[method] = _isolated(work, method, args.steps, args.batch)
        two_procs = torch.cuda.device_count() >= 2 or not _cuda()
        report["two"] = two = {}
        if two_procs:
            for layout in ("ddp", "fsdp2"):
                two[layout] = launch_two(work, args.steps, args.batch // 2, layout, methods)
        print(f"\n## methods, {_precision()}, {args.steps} steps\n")
        print(
            "| method | processes | sharding | peak GiB | tokens/s (steady) | losses | = 1 process |"
        )
        print("|---|---|---|---|---|---|---|")
        for method, r in one.items():
            print(_row(method, 1, r, None))
            for layout, rows in two.items():
                same = close(rows[method]["losses"], r["losses"])
                if not same:
                    failures.append(f"{method} {layout} on 2 processes: losses differ from 1")
                print(_row(method, 2, rows[method], same))
        if not two_procs:
            print("\n(one GPU: the 2-process checks need two)")

        report["cli"] = cli = cli_check(work, 2 if two_procs else 1)
        print(f"\n## CLI under accelerate launch ({cli['processes']} process(es)): "
              f"{'ok' if cli['ok'] else 'FAILED'}")  # fmt: skip
        if not cli["ok"]:
            failures.append("CLI under accelerate launch: " + cli["stderr"])

        report["eval_engine"] = engine = eval_engine(work)
        print(f"\n## eval engine, CUDA against CPU: {engine}")
        if "max_nll_diff" in engine and engine["max_nll_diff"] > EVAL_NLL:
            failures.append(f"eval engine: NLL differs by {engine['max_nll_diff']:.2e}")
    report["failures"] = failures
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print("\n" + ("all checks passed" if not failures else "FAILED:\n- " + "\n- ".join(failures)))
    return 1 if failures else 0


def _isolated(work: Path, method: str, steps: int, batch: int) -> dict:
    """A one-process run in its own process, so that its peak memory is its own."""
    result = work / f"one-{method}.json"
    cmd = [
        sys.executable, __file__, "--one", method, "--worker", str(work), "--steps", str(steps),
        "--batch", str(batch), "--result", str(result),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(result.read_text())


def _row(method: str, processes: int, r: dict, same: bool | None) -> str:
    losses = ", ".join(f"{x:.4f}" for x in r["losses"])
    mark = "-" if same is None else ("yes" if same else "NO")
    return (
        f"| {method} | {processes} | {r['sharding']} | {r['peak_gib']:.2f} "
        f"| {r['tokens_per_s']:.0f} | {losses} | {mark} |"
    )


if __name__ == "__main__":
    sys.exit(main())

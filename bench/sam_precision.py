"""Precision figures of docs/precision.md: do bf16 weights move, and do they hold SAM's ε?

1. ``adamw``: a small random Llama (~3M parameters) trained 5 AdamW steps at lr 1e-5 on random
   tokens, in fp32, in pure bf16 (bf16 weights and optimizer), and in mixed-bf16 (fp32 master
   weights, bf16 autocast): the share of weights that changed.
2. ``sam``: a random Llama of SmolLM2-135M's shape in bf16: one gradient g on random tokens, then
   ε = ρ·g/‖g‖ (ρ = 0.01) put into the weights the old way (``p.add_(ε.to(bf16))``, then
   ``p.sub_``), the new way on bf16 weights (θ + ε summed in fp32, rounded once, restored by copy)
   and the new way on fp32 master weights (precision mixed-bf16): the cosine between the applied
   and the intended ε, ‖applied‖/ρ, the share of weights that moved, and weights left changed by
   the restore.
3. ``grad``: the same random Llama (fp32 masters, bf16 autocast), from a bf16 checkpoint (masters
   on the bf16 grid) and with sub-bf16 bits (as after training): ε from the bf16 gradient, then
   the gradient at θ + ε with ε written into the weights (before) and through ``methods.perturb``'s
   additive path (now), against fp32 ∇ℓ(θ + ε): what the forward sees of ε, the gradient's cosine,
   and the cosine of SAM's shift g(θ + ε) − g(θ) with the fp32 shift; then the time of the
   perturbed pass and of SAM's forget step, additive against in place, in interleaved rounds.

    .venv/bin/python bench/sam_precision.py [--only adamw|sam|grad] [--size 135m|small]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench.common import THREADS, interleaved, med, ratio  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from unlearnkit.methods.grads import global_dot, sam_perturbation  # noqa: E402
from unlearnkit.methods.perturb import perturbation  # noqa: E402
from unlearnkit.train.trainer import GradientEngine  # noqa: E402

SIZES = {
    "small": dict(
        hidden_size=192,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=512,
        vocab_size=4096,
        tie_word_embeddings=False,
    ),
    "135m": dict(  # SmolLM2-135M's shape
        hidden_size=576,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        intermediate_size=1536,
        vocab_size=49152,
        tie_word_embeddings=True,
    ),
}


def llama(size: str, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised Llama of one of ``SIZES`` (fp32)."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(max_position_embeddings=512, **SIZES[size]))


def tokens(model, batch: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.config.vocab_size, (batch, length), generator=gen)


def lm_loss(model, ids: torch.Tensor, autocast: bool) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return model(input_ids=ids, labels=ids).loss.float()


def engine_for(model, mixed_precision: str = "no") -> GradientEngine:
    """A GradientEngine over a model outside a Trainer (one process, plain backward); its
    ``mixed_precision`` is the autocast the caller runs the forwards in."""
    accelerator = SimpleNamespace(
        num_processes=1,
        is_main_process=True,
        backward=lambda loss, **kw: loss.backward(**kw),
        mixed_precision=mixed_precision,
    )
    trainer = SimpleNamespace(
        model=model,
        accelerator=accelerator,
        compute_loss_context_manager=contextlib.nullcontext,
        warned=set(),
    )
    return GradientEngine(trainer)


def adamw_share(mode: str, size: str, steps: int = 5, lr: float = 1e-5) -> dict:
    """Share of weights changed by ``steps`` AdamW steps in fp32, bf16 or mixed-bf16."""
    model = llama(size)
    if mode == "bf16":
        model.to(torch.bfloat16)
    params = list(model.parameters())
    start = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    for step in range(steps):
        loss = lm_loss(model, tokens(model, 4, 64, step), autocast=mode == "mixed-bf16")
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    total = sum(p.numel() for p in params)
    changed = sum(int((p.detach() != s).sum()) for p, s in zip(params, start))
    as_bf16 = sum(int((p.detach().bfloat16() != s.bfloat16()).sum()) for p, s in zip(params, start))
    return {"params": total, "changed": changed / total, "changed_as_bf16": as_bf16 / total}


def _gradient(model, autocast: bool) -> list[torch.Tensor]:
    loss = lm_loss(model, tokens(model, 1, 64, 0), autocast)
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return grads


def _compare(applied: list[torch.Tensor], eps: list[torch.Tensor], rho: float) -> dict:
    """cos(applied, ε), ‖applied‖/ρ and the share of weights moved, in float64."""
    dot = sum(float((a.double() * e.double()).sum()) for a, e in zip(applied, eps))
    aa = sum(float(a.double().pow(2).sum()) for a in applied)
    ee = sum(float(e.double().pow(2).sum()) for e in eps)
    moved = sum(int((a != 0).sum()) for a in applied) / sum(a.numel() for a in applied)
    cos = dot / (aa * ee) ** 0.5 if aa > 0 else 0.0
    return {"cos": cos, "norm_ratio": aa**0.5 / rho, "moved": moved}


def sam_old(model, eps: list[torch.Tensor], rho: float) -> dict:
    """The old perturbation: p.add_(ε in p's dtype), read, p.sub_ (in place)."""
    params = list(model.parameters())
    start = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, e in zip(params, eps):
            p.add_(e.to(p.dtype))
        applied = [p.double() - s.double() for p, s in zip(params, start)]
        for p, e in zip(params, eps):
            p.sub_(e.to(p.dtype))
    drift = sum(int((p != s).sum()) for p, s in zip(params, start))
    return {**_compare(applied, eps, rho), "restore_drift": drift}


def sam_new(model, eps: list[torch.Tensor], rho: float) -> dict:
    """The stored perturbation without autocast: θ + ε summed in fp32, one rounding, exact
    restore (``methods.perturb`` writes it in place when the forward does not autocast)."""
    engine = engine_for(model)
    start = [p.detach().clone() for p in engine.params]
    with engine.perturbed(eps) as seen:
        applied = [p.detach().double() - s.double() for p, s in zip(engine.params, start)]
    drift = sum(int((p != s).sum()) for p, s in zip(engine.params, start))
    out = {**_compare(applied, eps, rho), "restore_drift": drift}
    return {**out, "logged_norm_ratio": float(seen.norm) / rho}


def run_sam(size: str, rho: float) -> list[tuple[str, dict]]:
    model = llama(size).to(torch.bfloat16)
    grads = _gradient(model, autocast=False)
    eps = sam_perturbation(grads, rho)  # bf16, as the step computes it from bf16 gradients
    rows = [("old: add_/sub_ on bf16 weights", sam_old(model, eps, rho))]
    rows.append(("new, precision bf16 (bf16 weights)", sam_new(model, eps, rho)))
    model.float()
    eps32 = sam_perturbation([g.float() for g in grads], rho)
    rows.append(("new, precision mixed-bf16 (fp32 masters)", sam_new(model, eps32, rho)))
    return rows


def _plain_grad(model, ids: torch.Tensor, autocast: bool) -> list[torch.Tensor]:
    loss = lm_loss(model, ids, autocast)
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


def _dot(a, b) -> float:
    return float(global_dot(a, b))


def _cos(a, b) -> float:
    return _dot(a, b) / (_dot(a, a) * _dot(b, b)) ** 0.5


def _sub(a, b) -> list[torch.Tensor]:
    return [x - y for x, y in zip(a, b, strict=True)]


PERTURBATIONS = {"in place (before)": False, "additive (now)": True}


def _perturbed_grad(model, ids, eps, additive: bool):
    """(∇ℓ at θ + ε under bf16 autocast, what that forward sees of ε, seconds)."""
    params = list(model.parameters())
    with perturbation(model, params, eps, torch.bfloat16, additive=additive) as seen:
        start = time.perf_counter()
        grads = _plain_grad(model, ids, autocast=True)
        seconds = time.perf_counter() - start
    return grads, seen, seconds


def run_grad(size: str, rho: float, batch: int, length: int, rounds: int) -> None:
    """SAM's gradient under bf16 autocast against fp32 ∇ℓ(θ + ε), and its cost, per perturbation."""
    print(
        f"\n## SAM gradient under bf16 autocast, rho = {rho}, random Llama '{size}', {batch}x{length} tokens\n"
    )
    print(
        "| fp32 masters | perturbation | cos(seen, ε) | ‖seen‖/ρ | cos(g, fp32 ∇ℓ(θ+ε)) "
        "| cos(g − g(θ), fp32 shift) | ‖g − g(θ)‖ / ‖fp32 shift‖ |"
    )
    print("|---|---|---|---|---|---|---|")
    for start in ("bf16 checkpoint (on the bf16 grid)", "sub-bf16 bits (after training)"):
        model = llama(size)
        if start.startswith("bf16"):
            model.to(torch.bfloat16).float()
        ids = tokens(model, batch, length, 0)
        g1 = _plain_grad(model, ids, autocast=True)  # ε from the bf16 gradient, as the step does
        eps = sam_perturbation(g1, rho)
        fp32 = _plain_grad(model, ids, autocast=False)
        with perturbation(model, list(model.parameters()), eps, None):
            fp32_eps = _plain_grad(model, ids, autocast=False)
        shift = _sub(fp32_eps, fp32)
        rows = [("none (∇ℓ(θ), no SAM)", None, g1)]
        for name, additive in PERTURBATIONS.items():
            grads, seen, _ = _perturbed_grad(model, ids, eps, additive)
            rows.append((name, seen, grads))
        for name, seen, g in rows:
            moved = _sub(g, g1)
            cells = ["-", "-", "-", "-"]
            if seen is not None:
                cells = [
                    f"{float(seen.cos):.4f}",
                    f"{float(seen.norm) / rho:.3f}",
                    f"{_cos(moved, shift):.4f}",
                    f"{(_dot(moved, moved) / _dot(shift, shift)) ** 0.5:.3f}",
                ]
            print(
                f"| {start} | {name} | {cells[0]} | {cells[1]} | {_cos(g, fp32_eps):.6f} "
                f"| {cells[2]} | {cells[3]} |",
                flush=True,
            )
    print(f"\n## cost of the perturbed pass (bf16 autocast, sub-bf16 masters), {rounds} rounds\n")
    variants = {
        "plain fwd+bwd (no ε)": lambda: _plain_grad(model, ids, autocast=True),
        **{
            name: (lambda a=a: _perturbed_grad(model, ids, eps, a))
            for name, a in PERTURBATIONS.items()
        },
    }
    times = interleaved(variants, rounds=rounds, warmup=0)
    plain, before, now = variants
    steps = [(p + n) / (p + b) for p, b, n in zip(times[plain], times[before], times[now])]
    print(
        f"- perturbed pass, additive / in place: {ratio(times, now, before):.3f} "
        f"(rounds {', '.join(f'{a / b:.3f}' for a, b in zip(times[now], times[before]))})"
    )
    print(
        f"- SAM forget step (g¹ + perturbed pass), additive / in place: {statistics.median(steps):.3f}"
    )
    print(f"- medians: {', '.join(f'{k} {med(v):.2f} s' for k, v in times.items())}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("adamw", "sam", "grad"))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--length", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", choices=tuple(SIZES), default=None)
    ap.add_argument("--rho", type=float, default=0.01)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {THREADS} thread(s), CPU")
    if args.only in (None, "adamw"):
        size = args.size or "small"
        print(f"\n## AdamW, lr 1e-5, 5 steps, random Llama '{size}'\n")
        print("| precision | parameters | weights changed | changed after rounding to bf16 |")
        print("|---|---|---|---|")
        for mode in ("fp32", "bf16", "mixed-bf16"):
            r = adamw_share(mode, size)
            print(
                f"| {mode} | {r['params'] / 1e6:.2f}M | {100 * r['changed']:.1f} % "
                f"| {100 * r['changed_as_bf16']:.1f} % |"
            )
    if args.only in (None, "sam"):
        size = args.size or "135m"
        start = time.perf_counter()
        rows = run_sam(size, args.rho)
        n = sum(p.numel() for p in llama(size).parameters())
        print(f"\n## SAM perturbation, rho = {args.rho}, random Llama '{size}' ({n / 1e6:.1f}M)\n")
        print(
            "| perturbation | cos(applied, ε) | ‖applied‖/ρ | weights moved | left changed by restore |"
        )
        print("|---|---|---|---|---|")
        for name, r in rows:
            print(
                f"| {name} | {r['cos']:.4f} | {r['norm_ratio']:.4f} | {100 * r['moved']:.1f} % "
                f"| {r['restore_drift']} |"
            )
        print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.only in (None, "grad"):
        start = time.perf_counter()
        run_grad(args.size or "135m", args.rho, args.batch, args.length, args.rounds)
        print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

"""Do bf16 weights move, and how far from fp32 master weights do they train? (docs/precision.md)

A random Llama of ~3.2M parameters (``bench/sam_precision.py``'s ``small``: hidden 192, 4 layers,
vocab 4096), LM loss on random tokens, CPU, every variant from the same weights on the same
batches, against fp32 master weights in the same run:

- ``fp32``: fp32 weights, no autocast;
- ``mixed-bf16``: fp32 master weights under bf16 autocast (the GPU default: the baseline);
- ``bf16``: pure bf16 weights and torch AdamW (``train.precision: bf16``);
- ``bf16-kahan``: bf16 weights and torch-optimi's AdamW with Kahan summation
  (``train.precision: bf16-kahan``, the optimizer ``unlearn run`` builds);
- ``adamw_8bit``: bitsandbytes' 8-bit AdamW on fp32 masters, where bitsandbytes is installed and
  runs on this machine (said so when not).

1. ``moved``: 5 AdamW steps at lr 1e-5, weight decay 0.01 and 0, batches of 4 × 64 random tokens:
   the share of weights whose value changed (for bf16-kahan the value it holds, w + compensation,
   and the stored bf16 weight apart), and the share that changed once rounded to bf16.
2. ``curve``: 50 steps on 8 fixed random sequences (batches of 4, memorised): the loss drop of each
   variant, its largest gap to the baseline's loss over the 50 steps, and how far its weights end
   from the baseline's (‖θ − θ_masters‖ / ‖θ_masters − θ₀‖), at lr 1e-5 and 1e-4.

    .venv/bin/python bench/bf16_optimizers.py [--only moved|curve]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench.common import THREADS, table  # noqa: E402
from bench.sam_precision import llama, lm_loss, tokens  # noqa: E402

from unlearnkit.train.kahan import KAHAN, compensation, kahan_optimizer  # noqa: E402

BASELINE = "mixed-bf16"
VARIANTS = ("fp32", "mixed-bf16", "bf16", KAHAN, "adamw_8bit")


def bnb_adamw8bit():
    """bitsandbytes' AdamW8bit, or why it cannot run here (None, reason)."""
    try:
        import bitsandbytes as bnb
    except Exception as e:  # noqa: BLE001 - any failure to import is the answer
        return None, f"bitsandbytes not importable here ({type(e).__name__}: {str(e)[:80]})"
    probe = torch.nn.Parameter(torch.zeros(4096))
    try:
        opt = bnb.optim.AdamW8bit([probe], lr=1e-3)
        probe.grad = torch.ones_like(probe)
        opt.step()
    except Exception as e:  # noqa: BLE001
        return None, f"bitsandbytes {bnb.__version__} AdamW8bit fails on CPU ({type(e).__name__})"
    return bnb.optim.AdamW8bit, ""


def build(variant: str, lr: float, weight_decay: float):
    """(model, optimizer, autocast) of one variant, from the same random weights."""
    model = llama("small")
    if variant in ("bf16", KAHAN):
        model.to(torch.bfloat16)
    params = list(model.parameters())
    if variant == KAHAN:
        args = SimpleNamespace(
            learning_rate=lr,
            adam_beta1=0.9,
            adam_beta2=0.999,
            adam_epsilon=1e-8,
            weight_decay=weight_decay,
        )
        cls, kwargs = kahan_optimizer(KAHAN, args)
        opt = cls(params, **kwargs)
    elif variant == "adamw_8bit":
        cls, why = bnb_adamw8bit()
        if cls is None:
            return None, why, False
        opt = cls(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return model, opt, variant != "fp32"


def held(model, opt) -> list[torch.Tensor]:
    """The weights as the optimizer holds them, in fp32: w, plus the Kahan compensation."""
    out = []
    for p in model.parameters():
        comp = compensation(opt, p) if hasattr(opt, "state") else None
        out.append(p.detach().float() + (comp.float() if comp is not None else 0))
    return out


def step(model, opt, ids: torch.Tensor, autocast: bool) -> float:
    loss = lm_loss(model, ids, autocast)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def moved(weight_decay: float, steps: int = 5, lr: float = 1e-5) -> list[list]:
    rows = []
    for variant in VARIANTS:
        model, opt, autocast = build(variant, lr, weight_decay)
        if model is None:
            rows.append([f"{weight_decay:g}", variant, "–", "–", "–", opt])
            continue
        start = [p.detach().float().clone() for p in model.parameters()]
        start_bf16 = [s.bfloat16() for s in start]
        for i in range(steps):
            step(model, opt, tokens(model, 4, 64, i), autocast)
        now = held(model, opt)
        total = sum(s.numel() for s in start)
        changed = sum(int((n != s).sum()) for n, s in zip(now, start)) / total
        stored = sum(
            int((p.detach().float() != s).sum()) for p, s in zip(model.parameters(), start)
        )
        as_bf16 = sum(int((n.bfloat16() != s).sum()) for n, s in zip(now, start_bf16))
        rows.append(
            [f"{weight_decay:g}", variant, f"{100 * changed:.1f} %",
             f"{100 * stored / total:.1f} %", f"{100 * as_bf16 / total:.1f} %", ""]
        )  # fmt: skip
    return rows


def curve(lr: float, steps: int = 50) -> list[list]:
    data = torch.cat([tokens(llama("small"), 4, 64, 100 + i) for i in range(2)])  # 8 sequences
    runs = {}
    for variant in VARIANTS:
        model, opt, autocast = build(variant, lr, weight_decay=0.0)
        if model is None:
            runs[variant] = opt
            continue
        theta0 = held(model, opt)
        start = time.perf_counter()
        losses = [
            step(model, opt, data[4 * (i % 2) : 4 * (i % 2) + 4], autocast) for i in range(steps)
        ]
        seconds = time.perf_counter() - start
        runs[variant] = (losses, held(model, opt), theta0, seconds)
    base_losses, base_theta, theta0, base_s = runs[BASELINE]
    base_move = sum(float((b - t).pow(2).sum()) for b, t in zip(base_theta, theta0)) ** 0.5
    rows = []
    for variant in VARIANTS:
        if isinstance(runs[variant], str):
            rows.append([f"{lr:g}", variant, "–", "–", "–", "–", runs[variant]])
            continue
        losses, theta, _, seconds = runs[variant]
        gap = max(abs(a - b) for a, b in zip(losses, base_losses))
        dist = sum(float((a - b).pow(2).sum()) for a, b in zip(theta, base_theta)) ** 0.5
        rows.append(
            [f"{lr:g}", variant, f"{losses[0] - losses[-1]:.4f}", f"{gap:.4f}",
             f"{dist / base_move:.3f}", f"{seconds / base_s:.2f}", ""]
        )  # fmt: skip
    return rows


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("moved", "curve"))
    args = p.parse_args(argv)
    torch.set_num_threads(THREADS)
    texts = []
    if args.only in (None, "moved"):
        texts.append(
            table(
                ["weight decay", "variant", "weights changed (held)", "stored weights changed",
                 "changed once rounded to bf16", "note"],
                moved(0.01) + moved(0.0),
                title="5 AdamW steps, lr 1e-5, random Llama of 3.2M parameters, CPU",
            )
        )  # fmt: skip
    if args.only in (None, "curve"):
        rows = curve(1e-5) + curve(1e-4)
        texts.append(
            table(
                ["lr", "variant", "loss drop (50 steps)", f"max |loss − {BASELINE}|",
                 f"‖θ − θ_{BASELINE}‖ / ‖θ_{BASELINE} − θ₀‖", f"time × {BASELINE}", "note"],
                rows,
                title="50 steps on 8 fixed random sequences (batches of 4 × 64), from the same weights",
            )
        )  # fmt: skip
    return "\n\n".join(texts)


if __name__ == "__main__":
    main()

"""Quantization attack: round the unlearned weights to 8 or 4 bits and measure the forget set again.

Round-to-nearest symmetric quantization, pure PyTorch: each output channel (row of an
``nn.Linear`` weight), or each group of ``group_size`` input columns of it, gets the scale
absmax / (2^(bits−1) − 1); weights become round(w / scale) · scale. The quantized copy keeps
dequantized weights in the original dtype, so it runs with the same code as the model.

Only ``nn.Linear`` weights are quantized; embeddings (``nn.Embedding``) and, by default,
``lm_head`` stay as they are (the usual practice of weight-only quantizers, and what tied
embeddings need). When bitsandbytes is importable and the model is on CUDA, 8- and 4-bit use its
kernels instead (LLM.int8 row-wise absmax; NF4 in blocks of ``group_size`` or 64), the formats
people actually deploy; ``backend="rtn"`` forces the PyTorch path.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.copying import attack_copy, free_memory
from unlearnkit.attacks.forget import evaluate_forget
from unlearnkit.attacks.params import int_list, integer
from unlearnkit.errors import UserError

BACKENDS = ("auto", "rtn", "bnb")
MIN_BITS, MAX_BITS = 2, 16


@dataclass
class QuantizeParams:
    bits: list[int] = field(default_factory=lambda: [8, 4])
    group_size: int | None = None  # None: one scale per output channel
    backend: str = "auto"  # auto: bitsandbytes on CUDA for 8/4 bits when installed, else rtn
    skip: list[str] = field(default_factory=lambda: ["lm_head"])  # module names left as they are

    def __post_init__(self):
        self.bits = int_list(self.bits, "bits", MIN_BITS)
        if self.bits[-1] > MAX_BITS:
            raise UserError(f"bits must be between {MIN_BITS} and {MAX_BITS}; got {self.bits}")
        if self.group_size is not None:
            self.group_size = integer(self.group_size, "group_size", 1)
        if self.backend not in BACKENDS:
            raise UserError(f"backend must be one of {', '.join(BACKENDS)}; got '{self.backend}'")
        self.skip = [self.skip] if isinstance(self.skip, str) else list(self.skip)


def qmax(bits: int) -> int:
    """The largest quantized magnitude: levels are −qmax … qmax."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise UserError(f"bits must be between {MIN_BITS} and {MAX_BITS}; got {bits}")
    return 2 ** (bits - 1) - 1


def _groups(w: torch.Tensor, group_size: int | None) -> torch.Tensor:
    """``w`` (out, in) as float32 (out, n_groups, group), zero-padded (zeros leave absmax alone)."""
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight, got shape {tuple(w.shape)}")
    w = w.detach().float()
    size = w.shape[1] if group_size is None else group_size
    pad = (-w.shape[1]) % size
    return F.pad(w, (0, pad)).view(w.shape[0], -1, size)


def quant_scales(w: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """The scale of every channel or group, shape (out, n_groups, 1), float32."""
    return _groups(w, group_size).abs().amax(dim=-1, keepdim=True) / qmax(bits)


def quantize_tensor(w: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """``w`` rounded to ``bits`` per channel (or per group of input columns), dequantized, same dtype."""
    groups = _groups(w, group_size)
    scale = groups.abs().amax(dim=-1, keepdim=True) / qmax(bits)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group stays zero
    q = torch.clamp(torch.round(groups / scale), -qmax(bits), qmax(bits)) * scale
    return q.view(w.shape[0], -1)[:, : w.shape[1]].to(w.dtype)


def bnb_available() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def pick_backend(model, bits: int, backend: str = "auto") -> str:
    """``rtn`` or ``bnb`` for this model and bit width."""
    on_cuda = next(model.parameters()).device.type == "cuda"
    if backend == "bnb" and not (bnb_available() and on_cuda and bits in (4, 8)):
        raise UserError(
            "backend bnb needs bitsandbytes installed, the model on CUDA and bits 8 or 4; "
            "use backend rtn (or auto)"
        )
    if backend == "auto":
        return "bnb" if bits in (4, 8) and on_cuda and bnb_available() else "rtn"
    return backend


def _bnb_tensor(w: torch.Tensor, bits: int, group_size: int | None) -> torch.Tensor:
    import bitsandbytes.functional as bnbf

    if bits == 8:
        data, stats, _ = bnbf.int8_vectorwise_quant(w.detach().half())
        return bnbf.int8_vectorwise_dequant(data, stats).to(w.dtype)
    packed, state = bnbf.quantize_4bit(w.detach(), blocksize=group_size or 64, quant_type="nf4")
    return bnbf.dequantize_4bit(packed, state).to(w.dtype)


def quantized_linears(model, skip: Sequence[str] = ("lm_head",)) -> list[tuple[str, nn.Linear]]:
    """The ``nn.Linear`` modules a quantizer rounds: all but those named in ``skip``."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name.rpartition(".")[2] not in skip
    ]


@torch.no_grad()
def quantize_model(
    model,
    bits: int,
    group_size: int | None = None,
    skip: Sequence[str] = ("lm_head",),
    backend: str = "auto",
):
    """A deep copy of ``model`` with its linear weights quantized (dequantized in place)."""
    chosen = pick_backend(model, bits, backend)
    clone = attack_copy(model)
    layers = quantized_linears(clone, skip)
    if not layers:
        raise UserError("the model has no nn.Linear layer to quantize (outside the skipped ones)")
    for _, layer in layers:
        w = layer.weight
        q = (
            _bnb_tensor(w, bits, group_size)
            if chosen == "bnb"
            else quantize_tensor(w, bits, group_size)
        )
        w.copy_(q)
    return clone.eval()


def setting_name(bits: int, group_size: int | None) -> str:
    return f"int{bits}-group{group_size}" if group_size else f"int{bits}-channel"


def quantize_attack(model, tok, ctx: AttackContext, p: QuantizeParams) -> list[AttackResult]:
    results = []
    for bits in sorted(p.bits, reverse=True):
        backend = pick_backend(model, bits, p.backend)
        quantized = quantize_model(model, bits, p.group_size, p.skip, backend)
        metrics, rows = evaluate_forget(quantized, tok, ctx)
        del quantized
        free_memory()
        extra = {"backend": backend, "group_size": p.group_size}
        results.append(AttackResult(setting_name(bits, p.group_size), bits, metrics, rows, extra))
    return results

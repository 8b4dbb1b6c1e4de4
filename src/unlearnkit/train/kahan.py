"""``train.precision: bf16-kahan``: bf16 weights trained by AdamW with Kahan-compensated updates.

Pure bf16 AdamW rounds away every update smaller than half a bf16 step of its weight (2⁻⁹ of it),
so at lr 1e-5 most weights never move (docs/precision.md). Kahan summation keeps what each
rounding threw away in a bf16 compensation buffer and adds it back at the next step, so the
updates accumulate as they would on fp32 master weights: 2 more bytes per trained parameter
instead of fp32 masters' 2 (weights) + 4 (state). The optimizer is torch-optimi's ``AdamW``
(``kahan_sum=True``; pure PyTorch on CPU, Triton on a GPU), installed with
``pip install 'unlearnkit[kahan]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unlearnkit.errors import UserError

if TYPE_CHECKING:
    from transformers import TrainingArguments

KAHAN = "bf16-kahan"
PACKAGE = "torch-optimi"
# The train.optimizer values whose update bf16-kahan keeps (AdamW, decoupled weight decay).
ADAMW_NAMES = ("adamw_torch", "adamw_torch_fused")


def check_kahan(precision: str, optimizer: str) -> None:
    """bf16-kahan replaces an AdamW optimizer, and needs torch-optimi installed."""
    if precision != KAHAN:
        return
    if optimizer not in ADAMW_NAMES:
        raise UserError(
            f"train.precision: {KAHAN} trains with its own AdamW (Kahan-compensated bf16 updates), "
            f"so train.optimizer must be adamw_torch, got '{optimizer}'"
        )
    try:
        import optimi  # noqa: F401
    except ImportError as e:
        raise UserError(
            f"train.precision: {KAHAN} needs {PACKAGE}, which is not installed: "
            "pip install 'unlearnkit[kahan]' (or torch-optimi)"
        ) from e


def kahan_optimizer(precision: str, args: TrainingArguments) -> tuple[type, dict[str, Any]] | None:
    """The Trainer's ``optimizer_cls_and_kwargs`` for ``precision`` (None: ``args.optim``'s).

    AdamW's settings come from ``args`` as the Trainer's own AdamW takes them; the Trainer still
    builds the parameter groups (no weight decay on biases and norms) and the scheduler.
    """
    if precision != KAHAN:
        return None
    from optimi import AdamW

    return AdamW, {
        "lr": args.learning_rate,
        "betas": (args.adam_beta1, args.adam_beta2),
        "eps": args.adam_epsilon,
        "weight_decay": args.weight_decay,
        "kahan_sum": True,
    }


def compensation(optimizer, param):
    """The Kahan compensation the optimizer holds for ``param`` (None before its first step)."""
    return optimizer.state.get(param, {}).get("kahan_comp")

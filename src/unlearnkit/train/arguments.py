"""The one ``TrainingArguments`` builder: fine-tuning, unlearning and relearning attacks share it,
so precision, activation checkpointing, warm-up and the data loader are set one way everywhere."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch
from accelerate.utils import extract_model_from_parallel
from transformers import TrainingArguments

from unlearnkit.errors import UserError


def trainer_arguments(
    out_dir: str | Path,
    *,
    precision: str,
    learning_rate: float,
    batch_size: int,
    epochs: float = 1.0,
    max_steps: int = 0,
    gradient_accumulation_steps: int = 1,
    warmup_ratio: float = 0.0,
    weight_decay: float = 0.0,
    lr_scheduler: str = "linear",
    optimizer: str = "adamw_torch",
    max_grad_norm: float = 1.0,
    seed: int = 0,
    logging_steps: int = 1,
    gradient_checkpointing: bool = False,
    group_by_length: bool = False,
    save_steps: int = 0,
    progress: bool = True,
    report_to: list[str] | None = None,
) -> TrainingArguments:
    """Arguments of one training run; ``precision`` is resolved (fp32 | mixed-bf16 | bf16).

    ``warmup_ratio`` is a share of the steps in [0, 1): transformers reads a value ≥ 1 as a step
    count, which a ratio must never silently become. bf16 autocast runs unless the precision is
    fp32 (pure bf16 weights are cast by the caller); the loader pins memory only for a GPU.
    ``report_to`` names the Trainer's tracking integrations (``None`` or ``["none"]``: none).
    """
    if not 0 <= warmup_ratio < 1:
        raise UserError(f"warmup_ratio is a share of the steps in [0, 1), got {warmup_ratio}")
    args = TrainingArguments(
        output_dir=str(out_dir),
        max_steps=max_steps if max_steps > 0 else -1,
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        warmup_steps=warmup_ratio,
        weight_decay=weight_decay,
        lr_scheduler_type=lr_scheduler,
        optim=optimizer,
        max_grad_norm=max_grad_norm,
        seed=seed,
        data_seed=seed,
        logging_steps=logging_steps,
        save_strategy="steps" if save_steps > 0 else "no",
        save_steps=save_steps if save_steps > 0 else 500,
        save_total_limit=None,  # the unlearning run's AtomicCheckpoints rotates checkpoints
        report_to=[r for r in report_to or () if r != "none"] or "none",
        logging_nan_inf_filter=False,  # the divergence guard must see a NaN loss, not an average
        bf16=precision != "fp32",
        use_cpu=precision != "fp32" and not torch.cuda.is_available(),  # bf16 autocast on CPU
        activation_checkpointing=gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False}
        if gradient_checkpointing
        else None,
        remove_unused_columns=False,
        disable_tqdm=not progress,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    if precision == "fp32":
        args.mixed_precision = "no"  # also under a launcher config that says bf16
    return args


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(mixed_precision: str | None) -> torch.dtype | None:
    """The dtype the run's forwards autocast to (accelerate's ``mixed_precision``), None: none."""
    return AUTOCAST.get(mixed_precision or "no")


def forward_autocast(args: TrainingArguments) -> Callable[[], contextlib.AbstractContextManager]:
    """The training forwards' autocast for the passes that run outside the Trainer's own forward
    (reference log-probs, probe states, activation norms, a live reference): one precision per run."""
    dtype = autocast_dtype(args.mixed_precision)
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(args.device.type, dtype=dtype)


def remove_autocast_wrapper(model) -> None:
    """Undo the autocast + fp32-output wrapper that accelerate puts on ``model.forward`` in
    ``Trainer.train``: after training the model computes in its own dtype, as once saved."""
    extract_model_from_parallel(model, keep_fp32_wrapper=False)


def log_to(trainer, folder: str | Path) -> None:
    """Point the trackers that write files (TensorBoard) at ``folder`` unless the user set a dir."""
    for callback in trainer.callback_handler.callbacks:
        if hasattr(callback, "logging_dir") and callback.logging_dir is None:
            callback.logging_dir = str(folder)

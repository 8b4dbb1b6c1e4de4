"""Supervised fine-tuning of any causal LM with the Hugging Face ``Trainer``.

This is how a user makes a TOFU target (fine-tune on ``full``) or retain model (on ``retain90``)
for a real model, and how the embedded world trains its own target and retain models.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from transformers import Trainer, TrainerCallback, TrainingArguments

from unlearnkit import launch
from unlearnkit.data.collate import EncodedCollator
from unlearnkit.data.formatting import Encoded
from unlearnkit.errors import UserError
from unlearnkit.io import replace_dir, write_json
from unlearnkit.models import resolve_precision
from unlearnkit.train.arguments import trainer_arguments
from unlearnkit.train.examples import EncodedDataset
from unlearnkit.train.kahan import check_kahan, kahan_optimizer
from unlearnkit.train.progress import use_quiet_progress


@dataclass
class FinetuneConfig:
    epochs: float = 5.0
    learning_rate: float = 1e-5
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_length: int = 256
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    lr_scheduler: str = "linear"
    seed: int = 0
    logging_steps: int = 10
    precision: str = "auto"  # auto | fp32 | mixed-bf16 | bf16 | bf16-kahan (docs/precision.md)
    bf16: bool | None = None  # older key: true = mixed-bf16, false = fp32
    gradient_checkpointing: bool = False
    group_by_length: bool = True


class LossRecorder(TrainerCallback):
    """Keep every logged training loss (the determinism checks compare them)."""

    def __init__(self):
        self.losses: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))


def training_arguments(cfg: FinetuneConfig, out_dir: Path, progress: bool) -> TrainingArguments:
    return trainer_arguments(
        out_dir,
        precision=resolve_precision(cfg.precision, cfg.bf16),
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        warmup_ratio=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        lr_scheduler=cfg.lr_scheduler,
        seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        gradient_checkpointing=cfg.gradient_checkpointing,
        group_by_length=cfg.group_by_length,
        progress=progress,
    )


def finetune(
    model,
    tokenizer,
    examples: list[Encoded],
    out_dir: str | Path | None,
    cfg: FinetuneConfig,
    progress: bool = True,
    card: str | None = None,
) -> dict:
    """Train ``model`` on ``examples``; save it (safetensors) to ``out_dir`` if given.

    The model is written to a temporary folder beside ``out_dir`` and renamed at the end, so an
    interrupted run leaves nothing half-written. The folder gets a model card (README.md):
    ``card``, or one with the settings and the path the model was loaded from. Returns the
    training summary (losses included). Under a multi-process launch every rank trains and rank 0
    alone writes.
    """
    from unlearnkit.model_card import base_model_of, finetuned_card, write_card

    if not examples:
        raise UserError("nothing to fine-tune on: the training data is empty")
    base_model = base_model_of(model)
    out_dir = Path(out_dir) if out_dir is not None else None
    work = out_dir.with_name(f".{out_dir.name}.tmp") if out_dir else Path(".finetune-tmp")
    if launch.is_main():
        shutil.rmtree(work, ignore_errors=True)
    recorder = LossRecorder()
    precision = resolve_precision(cfg.precision, cfg.bf16)
    check_kahan(precision, "adamw_torch")
    args = training_arguments(cfg, work / "trainer", progress)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=EncodedDataset(examples),
        data_collator=EncodedCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[recorder],
        optimizer_cls_and_kwargs=kahan_optimizer(precision, args),
    )
    use_quiet_progress(trainer, progress)
    result = trainer.train()
    summary = {
        "train_loss": float(result.training_loss),
        "logged_losses": recorder.losses,
        "steps": int(result.global_step),
        "examples": len(examples),
        "config": asdict(cfg),
    }
    if not launch.is_main():
        return summary
    if out_dir is not None:
        shutil.rmtree(work / "trainer", ignore_errors=True)
        model.save_pretrained(work, safe_serialization=True)
        tokenizer.save_pretrained(work)
        write_json(work / "finetune.json", summary)
        write_card(work, card or finetuned_card(summary["config"], base_model))
        replace_dir(work, out_dir)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return summary

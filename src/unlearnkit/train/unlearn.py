"""Run one unlearning method on a model: config, data, reference, trainer, checkpoints, saving.

``unlearn(cfg, model, tokenizer, out_dir)`` trains ``model`` in place (with LoRA, adapters are
injected into it) and returns a JSON-serialisable summary; ``save_unlearned`` writes the result.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback, TrainingArguments

from unlearnkit import launch, phases
from unlearnkit.data.samples import UnlearningCorpus
from unlearnkit.errors import UserError
from unlearnkit.io import atomic_path, replace_dir
from unlearnkit.methods.base import Method, PrepareData
from unlearnkit.methods.shards import reshard
from unlearnkit.models import PURE_BF16, apply_precision, is_sharded_model, resolve_precision
from unlearnkit.train.arguments import (
    autocast_dtype,
    forward_autocast,
    log_to,
    remove_autocast_wrapper,
    trainer_arguments,
)
from unlearnkit.train.checkpoints import (
    AtomicCheckpoints,
    clear_checkpoints,
    clear_staging,
    last_checkpoint,
    prepare_resume,
    staging_dir,
)
from unlearnkit.train.guard import DivergenceGuard, GuardConfig
from unlearnkit.train.kahan import kahan_optimizer
from unlearnkit.train.progress import TRAIN_LOG, TrainLog, use_quiet_progress
from unlearnkit.train.reference import (
    LiveReference,
    PrecomputedReference,
    frozen_copy,
    precompute_reference,
)
from unlearnkit.train.trainer import UnlearnTrainer
from unlearnkit.train.unlearn_data import (
    EpochPairing,
    UnlearnCollator,
    UnlearnDataset,
    build_unlearn_dataset,
)
from unlearnkit.train.validate import CheckedUnlearn, check_unlearn

log = logging.getLogger(__name__)
REFERENCE_FILE = "reference_logprobs.pt"
LOGS = "logs"  # the trackers' files (TensorBoard event files) in the run folder


@dataclass
class TrainSection:
    max_steps: int = 0  # > 0: train this many optimizer steps, ignoring epochs
    epochs: float = 5.0
    learning_rate: float = 1e-5
    batch_size: int = 4  # per device
    gradient_accumulation_steps: int = 1
    max_length: int = 256
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    lr_scheduler: str = "linear"
    optimizer: str = "adamw_torch"
    max_grad_norm: float = 1.0
    seed: int = 0
    precision: str = "auto"  # auto | fp32 | mixed-bf16 | bf16 | bf16-kahan (docs/precision.md)
    bf16: bool | None = None  # older key: true = mixed-bf16, false = fp32 (None: see precision)
    gradient_checkpointing: bool = False
    save_steps: int = 0  # 0: no checkpoints
    save_total_limit: int | None = 2
    logging_steps: int = 1
    reference_batch_size: int = 16  # batch size of the reference / probe passes before training
    report_to: list[str] = field(default_factory=lambda: ["none"])  # trackers: tensorboard, wandb
    check_memory: bool = True  # refuse a run whose memory estimate exceeds the GPU's free memory


@dataclass
class LoraSection:
    r: int = 0  # 0: LoRA off, train the full model
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])


@dataclass
class DataSection:
    benchmark: str = "tofu"
    path: str | None = None  # world folder, benchmark folder or hub id (None: the default world)
    split: str | None = None  # tofu: forget01/05/10 (default forget10); muse/copyright: forget or N


@dataclass
class UnlearnConfig:
    method: str = "ga"
    params: dict = field(default_factory=dict)  # checked by the method's params dataclass
    reference: str = "auto"  # auto | live | precomputed (for methods that use log π_ref)
    train: TrainSection = field(default_factory=TrainSection)
    lora: LoraSection = field(default_factory=LoraSection)
    data: DataSection = field(default_factory=DataSection)
    guard: GuardConfig = field(default_factory=GuardConfig)


def training_arguments(t: TrainSection, out_dir: Path, progress: bool) -> TrainingArguments:
    """The Trainer's arguments of an unlearning run (bf16 autocast unless its precision is fp32)."""
    return trainer_arguments(
        out_dir,
        precision=resolve_precision(t.precision, t.bf16),
        learning_rate=t.learning_rate,
        batch_size=t.batch_size,
        epochs=t.epochs,
        max_steps=t.max_steps,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        warmup_ratio=t.warmup_ratio,
        weight_decay=t.weight_decay,
        lr_scheduler=t.lr_scheduler,
        optimizer=t.optimizer,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        logging_steps=t.logging_steps,
        gradient_checkpointing=t.gradient_checkpointing,
        save_steps=t.save_steps,
        progress=progress,
        report_to=t.report_to,
    )


def apply_lora(model, lora: LoraSection, trainable):
    """Wrap ``model`` with LoRA adapters; only adapters (of the method's trainable part) train."""
    from peft import LoraConfig, get_peft_model

    targets = lora.target_modules
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    if trainable is not None:
        for name, p in peft_model.named_parameters():
            if p.requires_grad and not trainable(name):
                p.requires_grad_(False)
    return peft_model


def _freeze(model, trainable) -> None:
    """Only the parameters the method's filter accepts train (all when it has none)."""
    if trainable is not None:
        reshard(model)  # FSDP2: set it on the sharded parameters, not on gathered copies
        for name, p in model.named_parameters():
            p.requires_grad_(trainable(name))


def _check_trainable(model) -> None:
    if not any(p.requires_grad for p in model.parameters()):
        raise UserError(
            "no parameter of this model is left to train: check the method's layers "
            "(e.g. rmu train_layers) and lora.target_modules"
        )


class _Timer(TrainerCallback):
    """The wall time of the training loop and of each optimizer step (the summary reports both:
    ``step_seconds`` lets a benchmark leave out the first, warm-up step)."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()
        self.steps: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(round(time.perf_counter() - self.step_start, 4))


def _precomputed(
    trainer, parts: dict, pad_id: int, batch_size: int, out_dir: Path, resume: bool, autocast
) -> PrecomputedReference:
    """Reference log-probs of the starting model under the policy's ``autocast``, reused from
    out_dir on resume."""
    cache = out_dir / REFERENCE_FILE
    if resume and cache.is_file():
        try:
            ref = PrecomputedReference.load(cache)
        except Exception as e:  # noqa: BLE001 - an unreadable cache is recomputed, not fatal
            log.warning("resume: cannot read %s (%s); recomputing it", cache, e)
        else:
            if all(len(ref.tables.get(k, ())) == len(v) for k, v in parts.items()):
                return ref
    ref = precompute_reference(
        trainer.model,
        parts,
        pad_id,
        trainer.args.device,
        batch_size,
        autocast,
    )
    if trainer.args.should_save:
        with atomic_path(cache) as tmp:
            ref.save(tmp)
    return ref


@dataclass
class UnlearnRun:
    """Everything ``unlearn`` sets up, ready to ``trainer.train()``."""

    trainer: UnlearnTrainer
    method: Method
    corpus: UnlearningCorpus
    dataset: UnlearnDataset
    reference: str  # none | live | precomputed
    timer: _Timer
    guard: DivergenceGuard


def build_trainer(
    cfg: UnlearnConfig,
    model,
    tokenizer,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    method: Method | None = None,
    callbacks: list | None = None,
    checked: CheckedUnlearn | None = None,
) -> UnlearnRun:
    """Data, method preparation, trainable parameters (LoRA), reference and the trainer.

    ``checked``: ``cfg`` as ``check_unlearn`` (or ``preflight.check_run``) returned it, method built
    and corpus loaded; without it, ``cfg`` (and ``method``) are checked here.
    """
    out_dir = Path(out_dir)
    checked = checked or check_unlearn(cfg, method)
    assert checked.cfg is cfg, "checked was made from another config"
    method, kind, corpus = checked.method, checked.reference, checked.corpus
    needs = method.needs()
    if tokenizer.pad_token_id is None:
        raise UserError(
            "the tokenizer has no pad token; add one (or use load_tokenizer, which does)"
        )
    folder = out_dir / "checkpoints"
    args = training_arguments(cfg.train, staging_dir(folder), progress)
    t = cfg.train
    with args.main_process_first(desc="unlearning data"):
        dataset = build_unlearn_dataset(tokenizer, corpus, needs, t.max_length, t.seed, out_dir)
    if not hasattr(model, "hf_device_map"):
        model.to(args.device)
    pad_id = tokenizer.pad_token_id
    autocast = forward_autocast(args)  # every forward outside the Trainer's runs in its precision
    prepare = PrepareData(
        dataset.forget,
        dataset.retain or [],
        pad_id,
        args.device,
        t.reference_batch_size,
        t.seed,
        autocast,
    )
    phases.enter("reference")  # what is computed from the starting model before training
    method.prepare(model, prepare)
    cast = autocast_dtype(args.mixed_precision)
    live_copy = frozen_copy(model, cast) if kind == "live" and cfg.lora.r == 0 else None
    if cfg.lora.r > 0:
        model = apply_lora(model, cfg.lora, method.trainable())
    else:
        _freeze(model, method.trainable())
    _check_trainable(model)
    precision = resolve_precision(t.precision, t.bf16)
    if precision == "bf16":
        log.warning(PURE_BF16)
    apply_precision(model, precision)
    timer = _Timer()
    guard = DivergenceGuard(cfg.guard, folder)
    publish = AtomicCheckpoints(folder, t.save_total_limit, protect=lambda: guard.good_step)
    trainer = UnlearnTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=UnlearnCollator(pad_id, needs.parts()),
        processing_class=tokenizer,
        callbacks=[
            timer,
            guard,
            publish,
            EpochPairing(dataset),
            TrainLog(out_dir / TRAIN_LOG),
            *(callbacks or []),
        ],
        method=method,
        optimizer_cls_and_kwargs=kahan_optimizer(precision, args),
    )
    use_quiet_progress(trainer, progress)
    log_to(trainer, out_dir / LOGS)
    if kind == "live":
        trainer.reference = LiveReference(
            live_copy or model, adapters_off=live_copy is None, autocast=autocast
        )
    elif kind == "precomputed":
        parts = {name: getattr(dataset, name) for name in needs.reference_parts}
        trainer.reference = _precomputed(
            trainer, parts, pad_id, t.reference_batch_size, out_dir, resume, autocast
        )
    return UnlearnRun(trainer, method, corpus, dataset, kind, timer, guard)


def unlearn(
    cfg: UnlearnConfig,
    model,
    tokenizer,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    method: Method | None = None,
    checked: CheckedUnlearn | None = None,
    callbacks: list | None = None,
) -> dict:
    """Unlearn ``cfg.data`` from ``model`` with ``cfg.method``; checkpoints go to out_dir/checkpoints.

    ``model`` is trained in place (LoRA adapters are injected into it). ``resume`` continues from
    the last checkpoint there (pass the same starting model: reference log-probs come from it, or
    from out_dir's cache). ``method`` replaces ``cfg.method`` by a ready instance; ``checked`` is
    the config already checked, with its method and corpus (``api.run`` passes its plan's);
    ``callbacks`` go to the Trainer after the run's own (``api.run``: the curve's). Returns
    a JSON-serialisable summary with the per-step log history.
    """
    run = build_trainer(
        cfg, model, tokenizer, out_dir, resume, progress, method, callbacks, checked
    )
    folder = Path(out_dir) / "checkpoints"
    if run.trainer.args.should_save:  # what a killed save left; a fresh run drops old checkpoints
        (prepare_resume if resume else clear_checkpoints)(folder)
    run.trainer.accelerator.wait_for_everyone()
    found = last_checkpoint(folder) if resume else None
    checkpoint = str(found) if found else None
    if resume and checkpoint is None:
        log.warning("resume: no checkpoint in %s; starting from the beginning", folder)
    phases.enter("train")
    result = run.trainer.train(resume_from_checkpoint=checkpoint)
    remove_autocast_wrapper(run.trainer.model)
    guard = run.guard.finish(run.trainer)
    if run.trainer.args.should_save:
        clear_staging(folder)
    trained = run.trainer.model
    args = run.trainer.args
    return {
        "method": run.method.name,
        "params": asdict(run.method.params),
        "reference": run.reference,
        "benchmark": run.corpus.benchmark,
        "split": run.corpus.split,
        "forget_examples": len(run.dataset.forget),
        "retain_examples": len(run.dataset.retain or []),
        "retain_source": run.corpus.retain_source,
        "method_report": run.method.report(),
        "steps": int(result.global_step),
        "train_loss": float(result.training_loss),
        "runtime_s": time.perf_counter() - run.timer.start,
        "step_seconds": run.timer.steps,  # wall time of each optimizer step of this process
        "trainable_params": sum(p.numel() for p in trained.parameters() if p.requires_grad),
        # What changes with the GPU count: one optimizer step averages over this many examples.
        "world_size": args.world_size,
        "sharding": "fsdp2"
        if is_sharded_model(trained)
        else "ddp"
        if args.world_size > 1
        else "none",
        "effective_batch_size": (
            args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
        ),
        "rank_seeds": launch.gather(torch.initial_seed()),  # the seed each rank's torch drew from
        "resumed_from": checkpoint,
        "guard": guard,
        "log_history": run.trainer.state.log_history,
        "config": asdict(cfg),
    }


def save_unlearned(
    model, tokenizer, out: str | Path, summary: dict | None = None, card: str | None = None
) -> Path:
    """Write the unlearned model to ``out`` (safetensors) with its tokenizer, atomically.

    A LoRA run writes only the adapter (``adapter_config.json`` + ``adapter_model.safetensors``),
    which ``unlearnkit.models.load_model`` reloads on top of the base model it names and merges.
    The folder gets a model card (README.md): ``card``, or one made from ``summary`` (what
    ``unlearn`` returned) and the path the model was loaded from. In a multi-process run only
    the main process writes; an FSDP2 model's shards are gathered by every process (a collective),
    so the folder holds whole tensors that plain ``transformers`` loads.
    """
    from accelerate import PartialState

    from unlearnkit.model_card import base_model_of, unlearned_card, write_card

    out = Path(out)
    state = PartialState()
    work = out.with_name(f".{out.name}.tmp")
    if is_sharded_model(model):  # every rank gives its shards; rank 0 writes whole tensors
        if state.is_main_process:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
        state.wait_for_everyone()
        reshard(model)
        model.save_pretrained(work, is_main_process=state.is_main_process)
    if state.is_main_process:
        if not is_sharded_model(model):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            if getattr(model, "peft_config", None):
                _save_adapter(model, work)
            else:
                model.save_pretrained(work, safe_serialization=True)
        tokenizer.save_pretrained(work)
        write_card(work, card or unlearned_card(summary or {}, base_model_of(model)))
        replace_dir(work, out)
    state.wait_for_everyone()
    return out


def _save_adapter(model, folder: Path) -> None:
    """Save a LoRA adapter from a PeftModel, or from a model that LoRA was injected into."""
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    if isinstance(model, PeftModel):
        model.save_pretrained(folder, safe_serialization=True)
        return
    # The model ``unlearn`` was given: peft injected the adapters into it in place and left its
    # config on it; the keys get the prefix that PeftModel.save_pretrained would write.
    config = model.peft_config["default"]
    if not config.base_model_name_or_path:
        config.base_model_name_or_path = getattr(model, "name_or_path", None)
    config.save_pretrained(folder)
    weights = get_peft_model_state_dict(model, adapter_name="default")
    weights = {f"base_model.model.{k}": v.detach().contiguous().cpu() for k, v in weights.items()}
    save_file(weights, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})

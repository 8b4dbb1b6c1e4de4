"""The memory a run needs per GPU, estimated before any weight is loaded.

Bytes per parameter for the method × precision × optimizer × sharding × world size, plus a rough
activation term, for a model whose parameters are counted on the meta device (its config only).
``preflight.check_run`` prints the one-line summary and refuses a run that cannot fit the GPU it
runs on; ``unlearn run --dry-run`` prints every term; ``tools/memory_table.py`` writes the table of
docs/precision.md ("Memory") from this same function.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from unlearnkit import launch
from unlearnkit.errors import UserError
from unlearnkit.train.kahan import KAHAN

GIB = 2**30
SHARDINGS = ("none", "ddp", "fsdp2")
CUDA_OVERHEAD = 1 * GIB  # CUDA context, cuBLAS workspace, allocator slack (rough)
# Optimizer state in weight-sized copies (AdamW: m and v), or in bytes per parameter (low-bit).
STATE_COPIES = {"sgd": 0, "adafactor": 0, "lion": 1}
LOW_BIT_BYTES = {"8bit": 2, "4bit": 1}


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs of a model: parameter counts and the sizes activations scale with."""

    params: int  # every parameter (tied ones once)
    trainable: int  # those that train: the method's filter, LoRA's adapters
    hidden: int
    intermediate: int
    layers: int
    vocab: int
    cast: int = 0  # weights autocast casts for the matmuls: all but an untied input embedding


@dataclass(frozen=True)
class MemorySetting:
    """How a run trains, as far as memory goes."""

    precision: str  # resolved: fp32 | mixed-bf16 | bf16 | bf16-kahan
    optimizer: str = "adamw_torch"  # train.optimizer
    load_bytes: int = 4  # bytes per weight of the loaded model (frozen LoRA base, live reference)
    reference: str = "none"  # none | live | precomputed
    custom_step: bool = False  # SAM / PRISM / SGA r: auto
    lora: bool = False
    sharding: str = "none"  # none | ddp | fsdp2 (FSDP or ZeRO-3: weights, grads, state sharded)
    world_size: int = 1
    tokens: int = 1024  # batch_size × max_length × rows per forget row, per process
    checkpointing: bool = False


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU, term by term; ``need`` is the larger of training and loading."""

    shape: ModelShape
    setting: MemorySetting
    terms: tuple[tuple[str, float], ...]  # (what, bytes per GPU) while training
    loading: float  # bytes per GPU while loading: every weight before FSDP2 shards them

    @property
    def training(self) -> float:
        return sum(b for _, b in self.terms)

    @property
    def need(self) -> float:
        return max(self.training, self.loading)

    def bytes_per_param(self) -> float:
        """Training bytes per GPU per model parameter, activations and overhead left out."""
        states = sum(b for what, b in self.terms if what not in ROUGH)
        return states / self.shape.params

    def line(self) -> str:
        s, m = self.setting, self.shape
        rough = sum(b for what, b in self.terms if what in ROUGH)
        return (
            f"memory estimate: {m.params / 1e9:.2f}B parameters ({m.trainable / 1e9:.3g}B train), "
            f"{s.precision}, {optimizer_label(s)}, {layout_label(s)}: {self.need / GIB:.1f} GiB per "
            f"GPU ({self.bytes_per_param():.1f} B/param of states + {rough / GIB:.1f} GiB "
            f"activations and overhead, rough)"
        )

    def table(self) -> str:
        rows = [f"  {what:<44s} {b / GIB:10.2f} GiB" for what, b in self.terms]
        rows.append(f"  {'training, total':<44s} {self.training / GIB:10.2f} GiB")
        if self.setting.sharding == "fsdp2":
            rows.append(
                f"  {'loading (all weights, before sharding)':<44s} {self.loading / GIB:10.2f} GiB"
            )
        return "\n".join([self.line(), *rows])


ROUGH = ("activations (rough)", "logits (rough)", "CUDA context and slack")


def weight_bytes(precision: str) -> int:
    """Bytes of a trained weight (and of its gradient): bf16 weights or fp32 (master) weights."""
    return 2 if precision in ("bf16", KAHAN) else 4


def optimizer_label(s: MemorySetting) -> str:
    return "AdamW + Kahan (torch-optimi)" if s.precision == KAHAN else s.optimizer


def layout_label(s: MemorySetting) -> str:
    if s.sharding == "none":
        return "1 process"
    return f"{s.sharding.upper()} over {s.world_size} processes"


def optimizer_bytes(s: MemorySetting) -> tuple[float, float]:
    """(state, step temporaries) per trained parameter.

    AdamW keeps m and v in the weights' dtype; bf16-kahan adds a bf16 compensation. torch's
    foreach AdamW (``adamw_torch`` on a GPU) makes a full-size sqrt(v) list at each step; the fused
    one does not. Names not listed here are taken as AdamW.
    """
    w = weight_bytes(s.precision)
    if s.precision == KAHAN:
        return 3 * w, 0.0
    for tag, nbytes in LOW_BIT_BYTES.items():
        if tag in s.optimizer:
            return float(nbytes), 0.0
    for prefix, copies in STATE_COPIES.items():
        if s.optimizer.startswith(prefix):
            return float(copies * w), 0.0
    return 2.0 * w, float(w) if s.optimizer == "adamw_torch" else 0.0


def activation_bytes(m: ModelShape, s: MemorySetting) -> tuple[float, float]:
    """(decoder activations, logits) kept for the backward pass: a rough count, not a measure.

    Per token and layer under bf16 autocast about 36·hidden + 8·intermediate bytes (normed
    fp32 residual, the bf16 inputs of every matmul, attention's q/k/v/output, the gated MLP's
    four intermediate-wide tensors), in fp32 50·hidden + 12·intermediate: the saved tensors of a
    Llama layer measured 0.93 and 0.96 of these on CPU (hidden 512, intermediate 1376, 2 × 64 to
    2 × 256 tokens). With activation checkpointing only each layer's fp32 input is kept (measured:
    4·hidden), plus one layer recomputed at a time. Logits: the bf16 output and two fp32 copies
    (log-softmax and its gradient), 12 bytes per vocabulary entry.
    """
    if s.precision == "fp32":
        per_layer = 50 * m.hidden + 12 * m.intermediate
    else:
        per_layer = 36 * m.hidden + 8 * m.intermediate
    kept = 4 * m.hidden * m.layers + per_layer if s.checkpointing else per_layer * m.layers
    return float(s.tokens * kept), float(s.tokens * m.vocab * 12)


def estimate(m: ModelShape, s: MemorySetting) -> MemoryEstimate:
    """Bytes per GPU of a run: every term, and the loading peak."""
    if s.sharding not in SHARDINGS:
        raise UserError(f"unknown sharding '{s.sharding}'; use {', '.join(SHARDINGS)}")
    w = weight_bytes(s.precision)
    shards = s.world_size if s.sharding == "fsdp2" else 1
    frozen_bytes = s.load_bytes if s.lora else w  # a full model is cast to w as a whole
    state, temporaries = optimizer_bytes(s)
    t = m.trainable / shards
    activations, logits = activation_bytes(m, s)
    terms = [
        ("trained weights", t * w),
        ("frozen weights", (m.params - m.trainable) / shards * frozen_bytes),
        ("gradients", t * w),
        ("optimizer state", t * state),
    ]
    if temporaries:
        terms.append(("optimizer step temporaries (foreach)", t * temporaries))
    if s.sharding == "ddp" and s.world_size > 1:
        terms.append(("DDP gradient buckets", t * w))
    if s.custom_step:
        terms.append(("custom step: snapshot + gradient lists", 2 * t * w))
    if s.reference == "live" and not s.lora:  # FSDP2 shards the copy as it shards the model
        name = "live reference copy" + (" (sharded)" if shards > 1 else " (unsharded)")
        terms.append((name, m.params * s.load_bytes / shards))
    fp32_frozen = not s.lora or s.load_bytes == 4  # LoRA: a bf16 base needs no bf16 copy
    if s.precision == "mixed-bf16" and fp32_frozen and not s.checkpointing and shards == 1:
        # autocast's bf16 copy of each fp32 weight a matmul saves for the backward (measured: 2 B
        # per weight of each layer); FSDP2 gathers bf16 weights a layer at a time instead
        terms.append(("autocast bf16 weight copies", m.cast * 2.0))
    terms += [
        ("activations (rough)", activations),
        ("logits (rough)", logits),
        ("CUDA context and slack", float(CUDA_OVERHEAD)),
    ]
    loading = m.params * s.load_bytes + CUDA_OVERHEAD if shards > 1 else 0.0
    return MemoryEstimate(m, s, tuple(terms), loading)


def launch_layout() -> tuple[str, int]:
    """(sharding, world size) of this process, from what ``accelerate launch`` / torchrun set."""
    world = launch.world_size()
    if launch.sharded():
        return "fsdp2", world
    return ("ddp", world) if world > 1 else ("none", 1)


def meta_model(model_path: str | Path):
    """The model of ``model_path``'s config.json (a LoRA adapter: its base's), built on the meta
    device with no weight read; None when it cannot be built here (code shipped with the model,
    an unknown type, a hub id whose config cannot be fetched)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from unlearnkit.models import adapter_base, needs_remote_code

    source = Path(str(model_path)).expanduser()
    base = adapter_base(source) if source.is_dir() else None
    source = Path(base).expanduser() if base else source
    if source.is_dir() and (not (source / "config.json").is_file() or needs_remote_code(source)):
        return None
    try:  # a hub id: its config.json only, from the cache or fetched as the load would
        config = AutoConfig.from_pretrained(source if source.is_dir() else str(base or model_path))
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config)
    except Exception:  # noqa: BLE001 - what transformers cannot build fails, as one line, on load
        return None


def model_shape(model, method, lora) -> ModelShape:
    """Counts of a (meta) model as the run trains it: the method's filter, LoRA's adapters."""
    trainable = method.trainable_on(model)
    if lora.r > 0:
        from unlearnkit.train.unlearn import apply_lora

        model = apply_lora(model, lora, trainable)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    else:
        n_train = sum(
            p.numel() for n, p in model.named_parameters() if trainable is None or trainable(n)
        )
    config = model.config.get_text_config()
    hidden = config.hidden_size
    params = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    tied = output is not None and output.weight is embedding
    return ModelShape(
        params=params,
        trainable=n_train,
        hidden=hidden,
        intermediate=getattr(config, "intermediate_size", None) or 4 * hidden,
        layers=config.num_hidden_layers,
        vocab=config.vocab_size,
        cast=params if tied else params - embedding.numel(),
    )


def run_setting(
    cfg, method, reference: str, layout: tuple[str, int] | None = None
) -> MemorySetting:
    """The ``MemorySetting`` of a ``RunConfig``, laid out as ``layout`` (sharding, world size) or
    as this process was launched."""
    from unlearnkit.models import pick_device, pick_dtype, resolve_precision, train_load_dtype

    t = cfg.train
    precision = resolve_precision(t.precision, t.bf16)
    load = pick_dtype(train_load_dtype(cfg.dtype, precision), pick_device(cfg.device))
    needs = method.needs()
    rows = 1 + needs.retain + needs.normal + needs.idk  # rows whose graphs wait for one backward
    sharding, world = layout or launch_layout()
    return MemorySetting(
        precision=precision,
        optimizer=t.optimizer,
        load_bytes=load.itemsize,
        reference=reference,
        custom_step=needs.custom_step,
        lora=cfg.lora.r > 0,
        sharding=sharding,
        world_size=world,
        tokens=t.batch_size * t.max_length * rows,
        checkpointing=t.gradient_checkpointing,
    )


def gpu_free_bytes(device: torch.device) -> int:
    """Free memory of the GPU a process runs on (``LOCAL_RANK``'s under a launcher)."""
    index = device.index if device.index is not None else int(os.environ.get("LOCAL_RANK", "0"))
    free, _total = torch.cuda.mem_get_info(index)
    return int(free)


def check_fits(est: MemoryEstimate, device: torch.device) -> None:
    """Refuse, in one line, a run on a GPU whose free memory is below the estimate (CPU: never)."""
    if device.type != "cuda":
        return
    free = gpu_free_bytes(device)
    if est.need <= free:
        return
    s = est.setting
    raise UserError(
        f"this run needs about {est.need / GIB:.1f} GiB per GPU ({est.shape.params / 1e9:.2f}B "
        f"parameters, {s.precision}, {layout_label(s)}) but the GPU has {free / GIB:.1f} GiB free; "
        "train with precision: bf16-kahan, LoRA (lora.r), gradient checkpointing or FSDP2 over more "
        "GPUs (docs/precision.md, Memory), or set train.check_memory=false if you know better"
    )


def check_memory(cfg, model_path: str, method, reference: str) -> MemoryEstimate | None:
    """The run's estimate, printed (on a GPU, by the main process) and refused if it cannot fit
    the GPU the run will use; None when the model's config cannot be read here."""
    from unlearnkit.models import pick_device

    model = meta_model(model_path)
    if model is None:
        return None
    est = estimate(model_shape(model, method, cfg.lora), run_setting(cfg, method, reference))
    device = pick_device(cfg.device)
    if device.type == "cuda" and os.environ.get("RANK", "0") == "0":
        print(est.line(), file=sys.stderr)  # on CPU: `unlearn run --dry-run` prints it
    if cfg.train.check_memory:
        check_fits(est, device)
    return est

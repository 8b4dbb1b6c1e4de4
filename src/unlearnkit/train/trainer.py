"""``UnlearnTrainer``: one Hugging Face ``Trainer`` that runs any unlearning method.

``compute_loss`` delegates to the method. Methods that declare ``custom_step`` (SAM, PRISM, SGA with
``r: auto``) get their gradients through :class:`GradientEngine`: every backward of the step runs
without DDP synchronisation and, with several processes, each gradient is averaged over them right
after its backward, so what the step reads (SAM's ε, PRISM's GCD, SGA's r*) is the global gradient
of the global batch. The step's gradient is then written to ``.grad`` (added to what earlier
micro-batches accumulated). Under FSDP2 (a model sharded at load time, ``unlearnkit.launch``) the
gradients are DTensor shards that FSDP2 has already averaged over the processes: the engine keeps
FSDP2's gradient sync on for every backward of the step (a step inside ``no_sync`` would see no
gradient) and the algebra sums local slices (``methods.shards``). DeepSpeed is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate.utils import DistributedType
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from unlearnkit.errors import UserError
from unlearnkit.io import read_json
from unlearnkit.methods.base import Grads, Method, Reference, StepContext
from unlearnkit.methods.perturb import Seen, perturbation
from unlearnkit.methods.shards import is_sharded
from unlearnkit.train.arguments import autocast_dtype

METHOD_STATE = "unlearn_method_state.json"
log = logging.getLogger(__name__)


REDUCE_BUCKET = 1 << 25  # elements per all-reduce (128 MiB of fp32)


def all_reduce_mean(grads: Grads, params: list[torch.Tensor], world: int) -> Grads:
    """Average gradients over the processes (``None`` counts as zero), in flat buckets per dtype;
    FSDP2's sharded gradients are averaged already and left as they are."""
    full = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]
    groups: dict[tuple, list[torch.Tensor]] = {}
    for g in full:
        if not is_sharded(g):
            groups.setdefault((g.dtype, g.device), []).append(g)
    for group in groups.values():
        for bucket in _buckets(group):
            flat = torch.cat([g.reshape(-1) for g in bucket])
            dist.all_reduce(flat)
            flat.div_(world)
            offset = 0
            for g in bucket:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
    return full


def _buckets(tensors: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Consecutive groups of at most ``REDUCE_BUCKET`` elements (a larger tensor goes alone)."""
    out: list[list[torch.Tensor]] = [[]]
    size = 0
    for t in tensors:
        if out[-1] and size + t.numel() > REDUCE_BUCKET:
            out.append([])
            size = 0
        out[-1].append(t)
        size += t.numel()
    return [b for b in out if b]


class GradientEngine:
    """Gradients of the trainable parameters for custom steps (the ``GradEngine`` protocol)."""

    def __init__(self, trainer: UnlearnTrainer):
        self.trainer = trainer
        self.params = [p for p in trainer.model.parameters() if p.requires_grad]
        self.world = trainer.accelerator.num_processes
        self.sharded = any(is_sharded(p) for p in self.params)
        self.cast = autocast_dtype(getattr(trainer.accelerator, "mixed_precision", "no"))

    def autocast(self):
        """The forward-pass context of the Trainer (bf16 autocast under mixed precision)."""
        return self.trainer.compute_loss_context_manager()

    def grad(self, loss: torch.Tensor, retain_graph: bool = False) -> Grads:
        """∇loss per trainable parameter, averaged over the processes when there are several."""
        self.trainer.accelerator.backward(loss, retain_graph=retain_graph)
        grads = [p.grad for p in self.params]
        for p in self.params:
            p.grad = None
        if self.world > 1:
            grads = all_reduce_mean(grads, self.params, self.world)
        return grads

    @contextlib.contextmanager
    def perturbed(self, eps: Grads) -> Iterator[Seen]:
        """θ + ε inside the block, applied so that the run's (autocast) forward sees it
        (``methods.perturb``); yields what the forward sees of ε; restores θ exactly after."""
        with perturbation(self.trainer.model, self.params, eps, self.cast) as seen:
            del eps  # the weights or the hooks hold what the perturbed pass needs
            yield seen

    def mean(self, value: float) -> float:
        """The mean of a float over the processes."""
        acc = self.trainer.accelerator
        if acc.num_processes == 1:
            return float(value)
        t = torch.tensor(float(value), device=acc.device, dtype=torch.float64)
        return float(acc.reduce(t, reduction="mean"))

    def warn_once(self, key: str, message: str) -> None:
        """Log ``message`` as a warning the first time ``key`` comes up in this run (main process)."""
        if key not in self.trainer.warned:
            self.trainer.warned.add(key)
            if self.trainer.accelerator.is_main_process:
                log.warning(message)

    def take(self) -> Grads:
        """Remove and return the gradients accumulated so far."""
        saved = [p.grad for p in self.params]
        for p in self.params:
            p.grad = None
        return saved

    def put(self, saved: Grads, grads: Grads, scale: float) -> None:
        """``.grad`` = saved + scale·grads."""
        for p, a, g in zip(self.params, saved, grads, strict=True):
            g = None if g is None else (g * scale).to(p.dtype)
            p.grad = g if a is None else (a if g is None else a + g)


class UnlearnTrainer(Trainer):
    """A ``Trainer`` whose loss (and, where declared, whole step) comes from a :class:`Method`."""

    loss_is_scaled_for_ga = False  # our losses are per micro-batch means: divide by accumulation

    def __init__(self, *args, method: Method, reference: Reference | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.method, self.reference = method, reference
        self.needs = method.needs()
        self._log_sums: dict[str, torch.Tensor] = {}
        self._log_count = 0
        self.warned: set[str] = set()  # warn_once keys already logged in this run
        if (
            self.needs.custom_step
            and self.accelerator.distributed_type == DistributedType.DEEPSPEED
        ):
            raise UserError(
                f"method '{method.name}' needs its own training step (SAM / PRISM / SGA r: auto), "
                "which runs on one process, DDP or FSDP2, not DeepSpeed: launch with "
                "configs/accelerate/fsdp.yaml (memory per GPU: docs/precision.md)"
            )

    def step_context(self) -> StepContext:
        return StepContext(self.reference, self.state.global_step, max(self.state.max_steps, 1))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, logs = self.method.compute_loss(model, inputs, self.step_context())
        self._record(logs)
        return (loss, None) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        if not self.needs.custom_step:
            return super().training_step(model, inputs, num_items_in_batch)
        model.train()
        inputs = self._prepare_inputs(inputs)
        engine = GradientEngine(self)
        saved = engine.take()
        with self._each_backward_synced(model, engine.sharded):
            loss, logs, grads = self.method.custom_step(model, inputs, self.step_context(), engine)
        scale = 1.0 / self.current_gradient_accumulation_steps
        engine.put(saved, grads, scale)  # already global: GradientEngine.grad averaged them
        self._record(logs)
        return loss.detach().to(self.args.device) * scale

    @contextlib.contextmanager
    def _each_backward_synced(self, model, sharded: bool) -> Iterator[None]:
        """DDP: no synchronisation (the engine averages each gradient itself). FSDP2: its
        reduce-scatter on for every backward, also in a micro-batch the Trainer defers."""
        if not sharded:
            with self.accelerator.no_sync(model):
                yield
            return
        model.set_requires_gradient_sync(True)
        yield

    def _record(self, logs: dict) -> None:
        for k, v in logs.items():
            v = v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))
            self._log_sums[k] = self._log_sums.get(k, 0.0) + v.to(self.args.device)
        self._log_count += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the method's loss parts (means since the last log, over all processes)."""
        if "loss" in logs and self._log_count:
            keys = sorted(self._log_sums)
            values = torch.stack([self._log_sums[k] for k in keys]) / self._log_count
            if self.accelerator.num_processes > 1:
                values = self.accelerator.reduce(values, reduction="mean")
            logs.update({k: float(v) for k, v in zip(keys, values.tolist())})
            self._log_sums, self._log_count = {}, 0
        super().log(logs, start_time)

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        state = self.method.state_dict()
        if state and self.args.should_save:
            folder = (
                Path(self._get_output_dir(trial))
                / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            (folder / METHOD_STATE).write_text(json.dumps(state), encoding="utf-8")

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        if isinstance(resume_from_checkpoint, (str, os.PathLike)):
            path = Path(resume_from_checkpoint) / METHOD_STATE
            if path.is_file():
                self.method.load_state_dict(read_json(path))
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

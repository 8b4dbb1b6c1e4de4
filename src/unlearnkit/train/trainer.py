"""``UnlearnTrainer``: one Hugging Face ``Trainer`` that runs any unlearning method.

``compute_loss`` delegates to the method. Methods that declare ``custom_step`` (SAM, PRISM, SGA with
``r: auto``) get their gradients through :class:`GradientEngine`: every backward of the step runs
without DDP synchronisation, the step's gradient is written to ``.grad`` (added to what earlier
micro-batches accumulated) and, on the micro-batch that ends an optimizer step, averaged over the
processes by hand. Custom steps therefore support one process and DDP, not FSDP / DeepSpeed, whose
sharded parameters they cannot perturb or read whole.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate.utils import DistributedType
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from unlearnkit.errors import UserError
from unlearnkit.methods.base import Grads, Method, Reference, StepContext

METHOD_STATE = "unlearn_method_state.json"


class GradientEngine:
    """Gradients of the trainable parameters for custom steps (the ``GradEngine`` protocol)."""

    def __init__(self, trainer: UnlearnTrainer):
        self.trainer = trainer
        self.params = [p for p in trainer.model.parameters() if p.requires_grad]

    def autocast(self):
        return self.trainer.compute_loss_context_manager()

    def grad(self, loss: torch.Tensor, retain_graph: bool = False) -> Grads:
        self.trainer.accelerator.backward(loss, retain_graph=retain_graph)
        grads = [p.grad for p in self.params]
        for p in self.params:
            p.grad = None
        return grads

    @contextlib.contextmanager
    def perturbed(self, eps: Grads):
        with torch.no_grad():
            for p, e in zip(self.params, eps, strict=True):
                if e is not None:
                    p.add_(e.to(p.dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for p, e in zip(self.params, eps, strict=True):
                    if e is not None:
                        p.sub_(e.to(p.dtype))

    def mean(self, value: float) -> float:
        acc = self.trainer.accelerator
        if acc.num_processes == 1:
            return float(value)
        t = torch.tensor(float(value), device=acc.device, dtype=torch.float64)
        return float(acc.reduce(t, reduction="mean"))

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

    def all_reduce(self) -> None:
        """Average ``.grad`` over the processes (what DDP does in a plain backward)."""
        world = self.trainer.accelerator.num_processes
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad.div_(world)


class UnlearnTrainer(Trainer):
    """A ``Trainer`` whose loss (and, where declared, whole step) comes from a :class:`Method`."""

    loss_is_scaled_for_ga = False  # our losses are per micro-batch means: divide by accumulation

    def __init__(self, *args, method: Method, reference: Reference | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.method, self.reference = method, reference
        self.needs = method.needs()
        self._log_sums: dict[str, torch.Tensor] = {}
        self._log_count = 0
        sharded = (DistributedType.FSDP, DistributedType.DEEPSPEED)
        if self.needs.custom_step and self.accelerator.distributed_type in sharded:
            raise UserError(
                f"method '{method.name}' needs its own training step (SAM / PRISM / SGA r: auto), "
                "which runs on one process or DDP, not FSDP or DeepSpeed; use configs/accelerate/ddp_gpu.yaml"
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
        with self.accelerator.no_sync(model):
            loss, logs, grads = self.method.custom_step(model, inputs, self.step_context(), engine)
        scale = 1.0 / self.current_gradient_accumulation_steps
        engine.put(saved, grads, scale)
        if self.accelerator.num_processes > 1 and self.accelerator.sync_gradients:
            engine.all_reduce()
        self._record(logs)
        return loss.detach().to(self.args.device) * scale

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
                self.method.load_state_dict(json.loads(path.read_text(encoding="utf-8")))
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

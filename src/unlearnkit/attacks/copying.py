"""The copy of a model that a weight-changing attack works on; the caller's model is never touched."""

from __future__ import annotations

import copy
import gc

import torch


def merge_adapters(model):
    """Fold LoRA adapters into their base layers and drop them (an attacker sees one set of weights).

    Handles a ``PeftModel`` and a model that peft injected adapters into in place (what ``unlearn``
    leaves behind with ``lora.r > 0``); a model without adapters is returned as it is.
    """
    try:
        from peft import PeftModel
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return model
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config
    return model


def attack_copy(model, dtype: torch.dtype | None = None):
    """A deep copy of ``model`` with adapters merged, every weight trainable, in ``dtype`` if given."""
    clone = merge_adapters(copy.deepcopy(model))
    if dtype is not None:
        clone.to(dtype)
    for p in clone.parameters():
        p.requires_grad_(True)
    return clone


def free_memory() -> None:
    """Return the memory of attack copies the caller has dropped (``del``) to the GPU."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

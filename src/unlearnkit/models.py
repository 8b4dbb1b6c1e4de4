"""Load causal LMs and tokenizers safely (safetensors unless asked otherwise) with clear errors."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from unlearnkit.errors import UserError

log = logging.getLogger(__name__)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin")


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """``auto`` is bf16 on CUDA devices that support it, fp32 elsewhere."""
    if dtype in (None, "auto"):
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {
        "fp32": torch.float32,
        "float32": torch.float32,
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
    }
    if dtype not in table:
        raise UserError(f"unknown dtype '{dtype}'; use auto, fp32, bf16 or fp16")
    return table[dtype]


def check_model_folder(path: Path, allow_pickle: bool) -> None:
    """A local model folder must hold a config and safetensors weights (or pickle, if allowed)."""
    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        raise UserError(
            f"{path} is not a model folder: it has no config.json; pass a folder written by save_pretrained"
        )
    if any((path / f).is_file() for f in WEIGHT_FILES):
        return
    if any((path / f).is_file() for f in PICKLE_FILES):
        if not allow_pickle:
            raise UserError(
                f"{path} holds only pickle weights (pytorch_model.bin), which can run code when loaded; convert to safetensors or pass --allow-pickle if you trust it"
            )
        warnings.warn(
            f"loading pickle weights from {path} (--allow-pickle): only do this for files you trust",
            stacklevel=2,
        )
        return
    raise UserError(
        f"{path} has no model weights (model.safetensors); pass a folder written by save_pretrained"
    )


def load_tokenizer(path: str | Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - transformers raises OSError/ValueError/KeyError for bad folders
        raise UserError(
            f"could not load a tokenizer from {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; the folder needs tokenizer.json or tokenizer files"
        ) from e
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise UserError(
                f"the tokenizer in {path} has neither a pad nor an eos token; add a pad token to it"
            )
        log.warning("tokenizer of %s has no pad token; using its eos token for padding", path)
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    path: str | Path,
    device: str | torch.device | None = None,
    dtype: str | None = "auto",
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
):
    """A causal LM from a local folder or hub id, in eval mode on ``device``."""
    from transformers import AutoModelForCausalLM

    device = device if isinstance(device, torch.device) else pick_device(device)
    local = Path(str(path)).expanduser()
    if local.exists():
        check_model_folder(local, allow_pickle)
        path = local
    if trust_remote_code:
        warnings.warn(
            "trust_remote_code=True runs Python code shipped with the model; only use it for models you trust",
            stacklevel=2,
        )
    try:
        if (Path(str(path)) / "adapter_config.json").is_file():
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(
                str(path), dtype=pick_dtype(dtype, device)
            )
            model = model.merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(
                str(path),
                dtype=pick_dtype(dtype, device),
                use_safetensors=None if allow_pickle else True,
                trust_remote_code=trust_remote_code,
            )
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001
        raise UserError(
            f"could not load a causal LM from {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from e
    return model.to(device).eval()


def load_model_and_tokenizer(path: str | Path, tokenizer_path: str | Path | None = None, **kwargs):
    tok = load_tokenizer(
        tokenizer_path or path, trust_remote_code=kwargs.get("trust_remote_code", False)
    )
    return load_model(path, **kwargs), tok

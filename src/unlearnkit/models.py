"""Load causal LMs and tokenizers safely (safetensors unless asked otherwise) with clear errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from unlearnkit.errors import UserError
from unlearnkit.io import read_json

log = logging.getLogger(__name__)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
)
ADAPTER_CONFIG = "adapter_config.json"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return check_device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_device(device: str) -> torch.device:
    """A device string this machine has: cpu, cuda, cuda:N, mps."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from e
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise UserError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    elif d.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS is not available here; use --device cpu")
    elif d.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unsupported device '{device}'; use cpu, cuda or cuda:N")
    return d


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


PRECISIONS = ("auto", "fp32", "mixed-bf16", "bf16", "bf16-kahan")
BF16_WEIGHTS = ("bf16", "bf16-kahan")  # the precisions that train the bf16 weights themselves
PURE_BF16 = (
    "train.precision: bf16 trains the bf16 weights themselves: an AdamW update smaller than half a "
    "bf16 step of the weight (2^-9 of it) is rounded away, so at lr 1e-5 most weights do not move "
    "(measured: 5 steps changed ~12% of them against 100% with mixed-bf16). Use precision: "
    "mixed-bf16 (fp32 master weights, bf16 autocast) unless memory forces this; docs/precision.md"
)


def cuda_bf16() -> bool:
    """Whether this machine has a CUDA GPU with bf16 support."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_precision(precision: str = "auto", bf16: bool | None = None) -> str:
    """What a run trains in: fp32, mixed-bf16 (fp32 weights, bf16 autocast), bf16 (pure) or
    bf16-kahan (bf16 weights, AdamW with Kahan-compensated updates: ``train/kahan.py``).

    ``auto`` is mixed-bf16 on a CUDA GPU with bf16, fp32 elsewhere. The older ``train.bf16`` key
    still works: true is mixed-bf16, false is fp32.
    """
    if precision not in PRECISIONS:
        raise UserError(f"unknown train.precision '{precision}'; use {', '.join(PRECISIONS)}")
    if bf16 is not None:
        legacy = "mixed-bf16" if bf16 else "fp32"
        if precision not in ("auto", legacy):
            raise UserError(
                f"train.bf16: {str(bf16).lower()} contradicts train.precision: {precision}; "
                "drop train.bf16 (train.precision replaces it)"
            )
        return legacy
    if precision == "auto":
        return "mixed-bf16" if cuda_bf16() else "fp32"
    return precision


def precision_dtype(precision: str) -> torch.dtype:
    """The dtype of the trained weights: bf16 for bf16 and bf16-kahan, fp32 (masters) otherwise."""
    return torch.bfloat16 if resolve_precision(precision) in BF16_WEIGHTS else torch.float32


def train_load_dtype(dtype: str | None, precision: str, frozen_base: bool = False) -> str | None:
    """The dtype to load a model in for training: ``dtype``, or for auto the one it trains in;
    bf16 for a run that leaves most weights frozen (``frozen_base``: LoRA, RMU) in mixed-bf16,
    whose autocast forward computes its matmuls in bf16 anyway."""
    if dtype not in (None, "auto"):
        return dtype
    if frozen_base and resolve_precision(precision) == "mixed-bf16":
        return "bf16"
    return "bf16" if precision_dtype(precision) == torch.bfloat16 else "fp32"


def apply_precision(model, precision: str) -> None:
    """Cast the trainable weights to the dtype ``precision`` trains in.

    ``mixed-bf16`` (autocast) and LoRA cast only what trains: frozen weights keep their dtype (a
    bf16 base under LoRA, RMU's frozen layers). ``fp32`` and ``bf16`` cast a full model as a whole,
    so that its layers agree without autocast.
    """
    want = precision_dtype(precision)
    trainable = [p for p in model.parameters() if p.requires_grad and p.is_floating_point()]
    partial = getattr(model, "peft_config", None) or resolve_precision(precision) == "mixed-bf16"
    if partial:
        for p in trainable:
            if p.dtype != want:
                p.data = p.data.to(want)
    elif any(p.dtype != want for p in model.parameters() if p.is_floating_point()):
        model.to(want)


def check_model_path(path: str | Path, allow_pickle: bool = False) -> None:
    """A local model folder (checked) or something that looks like a hub id."""
    local = Path(str(path)).expanduser()
    if local.exists():
        if not local.is_dir():
            raise UserError(f"{local} is a file; a model is a folder written by save_pretrained")
        check_model_folder(local, allow_pickle)
    elif str(path).startswith((".", "/", "~")) or not HUB_ID.match(str(path)):
        raise UserError(
            f"model not found: {path} (no such folder, and not a hub id like owner/name)"
        )


def check_tokenizer_folder(path: str | Path) -> None:
    """A local tokenizer folder must hold the tokenizer's files."""
    local = Path(str(path)).expanduser()
    if local.is_dir():
        check_config_files(local)
    if local.is_dir() and not any((local / f).is_file() for f in TOKENIZER_FILES):
        raise UserError(
            f"{local} has no tokenizer (tokenizer.json); save the tokenizer into it or pass --tokenizer FOLDER"
        )
    if not local.exists() and (
        str(path).startswith((".", "/", "~")) or not HUB_ID.match(str(path))
    ):
        raise UserError(f"tokenizer not found: {path} (no such folder, and not a hub id)")


# The small JSON files of a model or tokenizer folder that libraries parse when they load it.
CONFIG_FILES = (
    "config.json",
    ADAPTER_CONFIG,
    "generation_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def check_config_files(path: Path) -> None:
    """Each config file in ``path`` parses (one line naming it, not a library's traceback)."""
    for name in CONFIG_FILES:
        if (path / name).is_file():
            read_json(path / name)


def check_model_folder(path: Path, allow_pickle: bool) -> None:
    """A local model folder must hold a config and safetensors weights (or pickle, if allowed)."""
    if not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
        raise UserError(
            f"{path} is not a model folder: it has no config.json; pass a folder written by save_pretrained"
        )
    check_config_files(path)
    _check_weights(path, allow_pickle)
    base = adapter_base(path)
    if base is not None:
        _check_adapter_base(path, base, allow_pickle)


def _check_weights(path: Path, allow_pickle: bool) -> None:
    if any((path / f).is_file() for f in WEIGHT_FILES):
        return
    if any((path / f).is_file() for f in PICKLE_FILES):
        if not allow_pickle:
            raise UserError(
                f"{path} holds only pickle weights (pytorch_model.bin), which can run code when loaded; convert to safetensors or pass --allow-pickle if you trust it"
            )
        log.warning(
            "loading pickle weights from %s (--allow-pickle): only do this for files you trust",
            path,
        )
        return
    raise UserError(
        f"{path} has no model weights (model.safetensors); pass a folder written by save_pretrained"
    )


def adapter_base(path: str | Path) -> str | None:
    """The base model a LoRA adapter folder names (None when ``path`` is not an adapter)."""
    config_path = Path(str(path)).expanduser() / ADAPTER_CONFIG
    if not config_path.is_file():
        return None
    config = read_json(config_path)
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if not isinstance(base, str) or not base:
        raise UserError(
            f"{config_path.parent} is a LoRA adapter that names no base model; set base_model_name_or_path in its adapter_config.json to the base model's folder or hub id"
        )
    return base


def _check_adapter_base(adapter: Path, base: str, allow_pickle: bool) -> None:
    """The base model under an adapter obeys the same rules as a model given directly."""
    if adapter_base(base) is not None:
        raise UserError(
            f"{adapter} is a LoRA adapter on {base}, which is itself an adapter; merge that one into its base first (unlearn run --save-model saves merged weights with lora.r=0)"
        )
    try:
        check_model_path(base, allow_pickle)
    except UserError as e:
        raise UserError(f"{adapter} is a LoRA adapter on the base model {base}: {e}") from e


def needs_remote_code(path: Path) -> bool:
    """Whether a local model folder ships its own Python code (``auto_map`` in its configs)."""
    for name in ("config.json", "tokenizer_config.json"):
        try:
            config = read_json(path / name)
        except UserError:  # a file that does not read is refused by check_config_files
            continue
        if isinstance(config, dict) and config.get("auto_map"):
            return True
    return False


def check_remote_code(path: str | Path, trust_remote_code: bool) -> None:
    """Custom model code runs only with an explicit flag, and then with a warning."""
    local = Path(str(path)).expanduser()
    if not trust_remote_code:
        if local.is_dir() and needs_remote_code(local):
            raise UserError(
                f"{local} needs its own Python code (auto_map in its config), which runs when loaded; pass --trust-remote-code if you trust it"
            )
        base = adapter_base(local) if local.is_dir() else None
        if base is not None:
            check_remote_code(base, trust_remote_code)
        return
    log.warning(
        "trust_remote_code: running Python code shipped with %s; only do this for models you trust",
        path,
    )


def load_tokenizer(path: str | Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    check_tokenizer_folder(path)
    if not trust_remote_code:  # load_model warns when it is on; refuse here when it is needed
        check_remote_code(path, trust_remote_code)
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
    if not getattr(tok, "chat_template", None):
        log.warning(
            "tokenizer of %s has no chat template; questions are asked as 'Question: ...\\nAnswer:'",
            path,
        )
    return tok


@contextmanager
def quiet_local_load(path: str | Path) -> Iterator[None]:
    """No per-tensor "Loading weights" bar for a local folder (a hub download keeps its bars)."""
    from transformers.utils import logging as hf_logging

    if not Path(str(path)).expanduser().exists() or not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def load_model(
    path: str | Path,
    device: str | torch.device | None = None,
    dtype: str | None = "auto",
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    shard: bool = False,
):
    """A causal LM from a local folder or hub id, in eval mode on ``device``; ``shard``: FSDP2
    over the launch's processes at load time (transformers' ``DistributedConfig``), each process
    holding a slice of every weight."""
    from transformers import AutoModelForCausalLM

    device = device if isinstance(device, torch.device) else pick_device(device)
    check_model_path(path, allow_pickle)
    local = Path(str(path)).expanduser()
    path = local if local.exists() else path
    check_remote_code(path, trust_remote_code)
    try:
        with quiet_local_load(path):
            if shard:
                model = _load_sharded(path, pick_dtype(dtype, device), trust_remote_code)
            elif adapter_base(path) is not None:
                model = _load_merged_adapter(
                    path, pick_dtype(dtype, device), allow_pickle, trust_remote_code
                )
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
    return (model if shard else model.to(device)).eval()


def _load_sharded(path, dtype: torch.dtype, trust_remote_code: bool):
    """FSDP2 at load time over all processes of the launch (its process group already started)."""
    import torch.distributed as dist
    from transformers import AutoModelForCausalLM
    from transformers.distributed import DistributedConfig

    if adapter_base(path) is not None:
        raise UserError(f"{path} is a LoRA adapter: FSDP2 shards full models; merge it first")
    check_tied_rows(path, dist.get_world_size(), trust_remote_code)
    return AutoModelForCausalLM.from_pretrained(
        str(path),
        dtype=dtype,
        use_safetensors=True,
        trust_remote_code=trust_remote_code,
        distributed_config=DistributedConfig(fsdp_size=dist.get_world_size()),
    )


def check_tied_rows(path, world: int, trust_remote_code: bool = False) -> None:
    """Refuse FSDP2 for tied input/output embeddings whose rows do not split evenly over the
    processes: transformers' load-time FSDP2 then trains the tied weight wrongly (measured on
    CPU: 401 rows on 2 processes move less than on one; tests/test_trainer_fsdp2.py)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    vocab = getattr(text, "vocab_size", None)
    if getattr(config, "tie_word_embeddings", False) and vocab and vocab % world:
        raise UserError(
            f"FSDP2 on {world} processes: this model ties its {vocab}-row embedding to its output "
            f"layer, and {vocab} rows do not split evenly over {world} processes; launch a number "
            f"of processes that divides {vocab}, or use configs/accelerate/ddp_gpu.yaml"
        )


def is_sharded_model(model) -> bool:
    """Whether ``model``'s weights are FSDP2 shards (DTensors)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def _load_merged_adapter(path, dtype: torch.dtype, allow_pickle: bool, trust_remote_code: bool):
    """A LoRA adapter folder merged into its base model, which loads under the same flags."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = adapter_base(path)
    local = Path(base).expanduser()
    model = AutoModelForCausalLM.from_pretrained(
        str(local) if local.exists() else base,
        dtype=dtype,
        use_safetensors=None if allow_pickle else True,
        trust_remote_code=trust_remote_code,
    )
    merged = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    # peft froze the base for inference; merged, it is a plain model that a full run trains.
    return merged.requires_grad_(True)


def load_model_and_tokenizer(path: str | Path, tokenizer_path: str | Path | None = None, **kwargs):
    tok = load_tokenizer(
        tokenizer_path or path, trust_remote_code=kwargs.get("trust_remote_code", False)
    )
    return load_model(path, **kwargs), tok

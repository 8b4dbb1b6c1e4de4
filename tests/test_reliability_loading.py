"""Safe loading: safetensors by default; pickle weights and model code only with an explicit flag,
and then with a warning; tokenizers without a pad token or chat template load with a warning."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_model,
    tiny_tokenizer,
    write_tofu,
)
from test_reliability_common import save_model
from unlearnkit.errors import UserError
from unlearnkit.models import load_model, load_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


def _copy(model_dir: Path, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / name))


def _pickle_only(folder: Path) -> Path:
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_safetensors_load_without_warnings(model_dir, caplog):
    caplog.set_level(logging.WARNING)
    model = load_model(model_dir, device="cpu", dtype="fp32")
    load_tokenizer(model_dir)
    assert not model.training and _warnings(caplog) == []


def test_pickle_weights_need_the_flag_and_warn(model_dir, tmp_path, caplog):
    folder = _pickle_only(_copy(model_dir, tmp_path, "pickled"))
    with pytest.raises(UserError, match="holds only pickle weights .* --allow-pickle"):
        load_model(folder, device="cpu")
    caplog.set_level(logging.WARNING)
    model = load_model(folder, device="cpu", dtype="fp32", allow_pickle=True)
    reference = load_model(model_dir, device="cpu", dtype="fp32")
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    (warning,) = _warnings(caplog)
    assert "loading pickle weights" in warning and "only do this for files you trust" in warning


def test_model_code_needs_the_flag_and_warns(model_dir, tmp_path, caplog):
    folder = _copy(model_dir, tmp_path, "custom code")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="needs its own Python code .* --trust-remote-code"):
        load_model(folder, device="cpu")
    with pytest.raises(UserError, match="--trust-remote-code"):
        load_tokenizer(folder)
    caplog.set_level(logging.WARNING)
    with pytest.raises(
        UserError, match="could not load a causal LM"
    ):  # modeling_custom.py is absent
        load_model(folder, device="cpu", trust_remote_code=True)
    assert any("trust_remote_code: running Python code" in w for w in _warnings(caplog))


def test_tokenizer_without_pad_token_pads_with_eos_and_warns(model_dir, tmp_path, caplog):
    folder = _copy(model_dir, tmp_path, "no pad")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["pad_token"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    caplog.set_level(logging.WARNING)
    tok = load_tokenizer(folder)
    assert tok.pad_token == tok.eos_token is not None
    assert _warnings(caplog) == [
        f"tokenizer of {folder} has no pad token; using its eos token for padding"
    ]


def test_tokenizer_without_chat_template_uses_the_plain_prompt_and_warns(
    model_dir, tmp_path, caplog
):
    from unlearnkit.data.formatting import question_prompt

    folder = _copy(model_dir, tmp_path, "no template")
    (folder / "chat_template.jinja").unlink()
    caplog.set_level(logging.WARNING)
    tok = load_tokenizer(folder)
    assert question_prompt(tok, "Who?") == "Question: Who?\nAnswer:"
    (warning,) = _warnings(caplog)
    assert "has no chat template" in warning


def test_checkpoints_resume_without_unpickling_code(tmp_path):
    """A checkpoint's weights are safetensors and its state loads with ``weights_only=True`` (as
    the Trainer loads it on resume); the saved model is safetensors too."""
    from unlearnkit.train.unlearn import save_unlearned, unlearn

    cfg = tiny_config(write_tofu(tmp_path / "tofu"), "ga", {}, max_steps=1, save_steps=1)
    model = tiny_model()
    unlearn(cfg, model, tiny_tokenizer(), tmp_path / "run", progress=False)
    checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-1"
    assert (checkpoint / "model.safetensors").is_file()
    assert not (checkpoint / "pytorch_model.bin").exists()  # (training_args.bin is never loaded)
    for name in (
        "optimizer.pt",
        "scheduler.pt",
    ):  # (rng_state.pth: numpy globals, allow-listed by HF)
        torch.load(checkpoint / name, weights_only=True)
    out = save_unlearned(model, tiny_tokenizer(), tmp_path / "model")
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))

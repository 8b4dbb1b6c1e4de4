"""Models reached through an indirection obey the same rules, and cached results are keyed on what
they depend on: the retain model (``--retain-model``) loads under ``--allow-pickle`` like the main
model; a saved LoRA adapter starts a full-parameter run (merged into its base); the retain-eval
cache changes with every setting that changes the numbers and with the data folder's content."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    SPLIT,
    cli,
    one_thread,
    run_args,
    save_model,
    write_data,
)
from test_reliability_upfront import pickle_only, save_adapter
from unlearnkit.errors import UserError
from unlearnkit.eval.tofu import EvalSettings

FAST_EVAL = EvalSettings(
    batch_size=16, gen_batch_size=16, max_new_tokens=2, max_length=64, progress=False, max_items=2
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("UNLEARNKIT_HOME", str(home))
    return home


# ---- the retain model obeys --allow-pickle -----------------------------------------------------


def test_pickle_retain_model_needs_the_flag_and_then_loads(data, model, tmp_path, cache):
    from unlearnkit.eval.retain_cache import ensure_retain_eval

    pickled = pickle_only(Path(shutil.copytree(model, tmp_path / "pickled retain")))
    with pytest.raises(UserError, match="holds only pickle weights"):
        ensure_retain_eval("tofu", pickled, data, SPLIT, FAST_EVAL, device="cpu")
    out = ensure_retain_eval(
        "tofu", pickled, data, SPLIT, FAST_EVAL, device="cpu", allow_pickle=True
    )
    assert (out / "metrics.json").is_file()


def test_run_with_a_pickle_retain_model_and_the_flag(data, model, tmp_path, capfd, cache):
    pickled = pickle_only(Path(shutil.copytree(model, tmp_path / "pickled retain")))
    out = tmp_path / "run"
    retain = ["--retain-model", pickled, "--allow-pickle"]
    argv = run_args(data, model, out, "train.max_steps=1", "eval.max_items=2", *retain)
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    assert "forget_quality" in json.loads((out / "metrics.json").read_text())["metrics"]


# ---- a LoRA adapter as the start of a full-parameter run ---------------------------------------


def test_full_parameter_run_from_a_saved_adapter_merges_it(data, model, tmp_path, capfd):
    adapter = save_adapter(model, tmp_path / "adapter")
    out = tmp_path / "run"
    argv = run_args(data, adapter, out, "train.max_steps=1", "lora.r=0", "--save-model")
    capfd.readouterr()
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    saved = out / "model"
    assert (saved / "model.safetensors").is_file() and not (saved / "adapter_config.json").exists()
    from unlearnkit.models import load_model

    every = sum(p.numel() for p in load_model(model, device="cpu").parameters())
    trained = json.loads((out / "metrics.json").read_text())["train"]["trainable_params"]
    assert trained == every  # the whole merged model trained, not an adapter


# ---- the retain-eval cache key -----------------------------------------------------------------


def _key(data, model, settings=FAST_EVAL, **kw) -> Path:
    from unlearnkit.eval.retain_cache import retain_eval_dir

    return retain_eval_dir("tofu", model, data, SPLIT, settings, **kw)


def _with(**changes) -> EvalSettings:
    return EvalSettings(**{**FAST_EVAL.__dict__, **changes})


def test_cache_key_follows_every_setting_that_changes_the_numbers(data, model, cache):
    key = _key(data, model)
    assert _key(data, model) == key
    for same in ({"batch_size": 3}, {"gen_batch_size": 5}, {"progress": True}):
        assert _key(data, model, _with(**same)) == key, same
    changes = [{"max_items": None}, {"max_items": 3}, {"max_new_tokens": 3}, {"max_length": 32}]
    if hasattr(FAST_EVAL, "convention"):
        changes.append({"convention": "open-unlearning"})
    keys = {_key(data, model, _with(**c)) for c in changes}
    assert len(keys) == len(changes) and key not in keys
    assert _key(data, model, dtype="bf16", device="cpu") != _key(data, model, dtype="fp32")
    assert _key(data, model, tokenizer_path=model) != key


def test_cache_key_follows_the_data_folder_content(data, model, tmp_path, cache):
    folder = Path(shutil.copytree(data, tmp_path / "data"))
    key = _key(folder, model)
    assert _key(str(folder), model) == key
    path = folder / "forget01_perturbed.json"
    stat = path.stat()
    path.write_text(path.read_text().replace("a", "b"))  # same size, edited in place
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    edited = _key(folder, model)
    assert edited != key
    (folder / "notes.txt").write_text("added")
    added = _key(folder, model)
    (folder / "forget01_perturbed.json").unlink()
    assert len({key, edited, added, _key(folder, model)}) == 4


def test_cached_retain_eval_is_recomputed_only_when_its_key_changes(
    data, model, tmp_path, cache, monkeypatch
):
    import unlearnkit.eval.run
    from unlearnkit.eval.retain_cache import ensure_retain_eval

    calls = []

    def fake_eval(benchmark, model_path, out, settings, **kwargs):
        calls.append(settings)
        Path(out).mkdir(parents=True)
        (Path(out) / "metrics.json").write_text("{}")

    monkeypatch.setattr(unlearnkit.eval.run, "evaluate_path", fake_eval)
    folder = Path(shutil.copytree(data, tmp_path / "data"))

    def ensure(settings=FAST_EVAL):
        return ensure_retain_eval("tofu", model, folder, SPLIT, settings, device="cpu")

    first = ensure()
    assert ensure() == first and len(calls) == 1
    assert ensure(_with(batch_size=1)) == first and len(calls) == 1
    ensure(_with(max_items=3))
    assert len(calls) == 2
    with (folder / "retain_perturbed.json").open("a") as f:
        f.write((folder / "retain_perturbed.json").read_text().splitlines()[0] + "\n")
    assert ensure() != first and len(calls) == 3

"""Mistakes found up front: each fails as one line, status 2, before the model is loaded and
before the first file is written (an impossible seed, LoRA modules the model lacks, an optimizer
whose package is missing, empty perturbed answers, a warm-up ratio ≥ 1, an adapter whose base
model breaks the loading rules)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from test_methods_common import tiny_tokenizer
from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    error_lines,
    one_thread,
    run_args,
    save_model,
    write_data,
)
from unlearnkit.errors import UserError


class Loaded(AssertionError):
    """The model was loaded although the input was already known to be wrong."""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if any model is loaded: every case here must stop before that."""
    import unlearnkit.models

    def refuse(*args, **kwargs):
        raise Loaded("the model was loaded before the input was refused")

    monkeypatch.setattr(unlearnkit.models, "load_model", refuse)


def save_adapter(base: Path, folder: Path) -> Path:
    """A LoRA adapter (non-zero, so merging changes the weights) on the model in ``base``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def pickle_only(folder: Path) -> Path:
    from safetensors.torch import load_file

    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def _empty_perturbed(folder: Path) -> None:
    path = folder / "forget01_perturbed.json"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["perturbed_answer"] = []
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _broken_data(data: Path, tmp: Path, edit: Callable[[Path], None]) -> Path:
    folder = Path(shutil.copytree(data, tmp / "broken data"))
    edit(folder)
    return folder


def _adapter_on(base: Path, tmp: Path, model: Path) -> Path:
    adapter = save_adapter(model, tmp / "adapter")
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(base)
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    return adapter


def _pickled_base(tmp: Path, model: Path) -> Path:
    return _adapter_on(pickle_only(Path(shutil.copytree(model, tmp / "pickled"))), tmp, model)


def _remote_code(folder: Path) -> Path:
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


HAS_BNB = importlib.util.find_spec("bitsandbytes") is not None

# id → (extra arguments or a changed --data / --model, fragments the one error line holds)
CASES: dict[str, tuple[Callable[[Path, Path, Path], dict], tuple[str, ...]]] = {
    "negative seed": (
        lambda d, m, t: {"extra": ["train.seed=-1"]},
        ("train.seed must be between 0 and 4294967295", "got -1"),
    ),
    "seed beyond numpy's range": (
        lambda d, m, t: {"extra": ["train.seed=4294967296"]},
        ("train.seed must be between 0 and 4294967295",),
    ),
    "LoRA target module the model lacks": (
        lambda d, m, t: {"extra": ["lora.r=4", "lora.target_modules=[nope_proj]"]},
        ("lora.target_modules ['nope_proj']", "not found", "q_proj", "all-linear"),
    ),
    "empty list of perturbed answers": (
        lambda d, m, t: {"data": _broken_data(d, t, _empty_perturbed)},
        ("forget01_perturbed.json: record 1 has an empty perturbed_answer list",),
    ),
    "warm-up ratio of 1": (
        lambda d, m, t: {"extra": ["train.warmup_ratio=1"]},
        ("train.warmup_ratio is a share of the steps in [0, 1), got 1.0",),
    ),
    "adapter whose base model is pickle-only": (
        lambda d, m, t: {"model": _pickled_base(t, m)},
        ("is a LoRA adapter on the base model", "holds only pickle weights", "--allow-pickle"),
    ),
    "adapter whose base model needs remote code": (
        lambda d, m, t: {
            "model": _adapter_on(_remote_code(Path(shutil.copytree(m, t / "rc"))), t, m)
        },
        ("rc needs its own Python code", "--trust-remote-code"),
    ),
    "adapter whose base model is missing": (
        lambda d, m, t: {"model": _adapter_on(t / "gone", t, m)},
        ("is a LoRA adapter on the base model", "model not found"),
    ),
}
if not HAS_BNB:
    CASES["optimizer whose package is missing"] = (
        lambda d, m, t: {"extra": ["train.optimizer=adamw_bnb_8bit"]},
        ("train.optimizer 'adamw_bnb_8bit' cannot be used here", "bitsandbytes"),
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_found_before_loading_or_writing(case, data, model, tmp_path, capfd, no_loading):
    build, fragments = CASES[case]
    given = build(data, model, tmp_path)
    out = tmp_path / "out"
    argv = run_args(
        given.get("data", data), given.get("model", model), out, *given.get("extra", [])
    )
    capfd.readouterr()  # what building the broken input printed
    status, stdout, err = cli(capfd, argv)
    assert status == 2 and "Traceback" not in err + stdout, err
    (line,) = error_lines(err)
    assert line.startswith("unlearn run: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert not out.exists()


def test_adapter_on_a_pickle_base_loads_only_with_the_flag(model, tmp_path):
    from unlearnkit.models import load_model

    adapter = _pickled_base(tmp_path, model)
    with pytest.raises(UserError, match="LoRA adapter on the base model .* pickle weights"):
        load_model(adapter, device="cpu")
    merged = load_model(adapter, device="cpu", dtype="fp32", allow_pickle=True)
    base = load_model(model, device="cpu", dtype="fp32")
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged.state_dict()[q], base.state_dict()[q])  # the adapter merged


def test_warmup_ratio_of_one_is_refused_on_the_finetune_path_too(model, tmp_path):
    from unlearnkit.models import load_model_and_tokenizer
    from unlearnkit.train.examples import build_examples
    from unlearnkit.train.finetune import FinetuneConfig, finetune

    net, tok = load_model_and_tokenizer(model, device="cpu", dtype="fp32")
    examples = build_examples(tok, qa=[("q?", "a.")], texts=[], max_length=32)
    with pytest.raises(UserError, match=r"warmup_ratio is a share of the steps in \[0, 1\)"):
        finetune(net, tok, examples, tmp_path / "ft", FinetuneConfig(warmup_ratio=1.0))
    assert not (tmp_path / "ft").exists() and not (tmp_path / ".ft.tmp").exists()


def test_finetune_with_an_impossible_seed(data, model, tmp_path, capfd, no_loading):
    out = tmp_path / "ft"
    argv = ["finetune", "--model", model, "--data", data / "forget01.json", "--out", out]
    status, _, err = cli(capfd, [*argv, "--seed", "-3"])
    assert status == 2 and "Traceback" not in err
    (line,) = error_lines(err)
    assert (
        line
        == "unlearn finetune: error: --seed must be between 0 and 4294967295 (2**32 - 1), got -3"
    )
    assert not out.exists()


def test_optimizer_check_sets_up_no_process_state():
    """Building a TrainingArguments would fix accelerate's device (CPU) before the run's own."""
    import subprocess
    import sys

    from test_reliability_common import subprocess_env

    code = (
        "from unlearnkit.preflight import check_optimizer_installed\n"
        "check_optimizer_installed('adamw_torch')\n"
        "from accelerate.state import PartialState\n"
        "assert not PartialState._shared_state, PartialState._shared_state\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

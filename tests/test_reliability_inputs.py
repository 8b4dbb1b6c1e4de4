"""Bad input, through the CLI and the Python API: one clear line on stderr naming the problem and
the fix, exit status 2, no traceback, and nothing half-written (the output folder is absent or
unchanged). Each case builds its broken input from the good toy data and tiny model."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    SPLIT,
    cli,
    error_lines,
    one_thread,
    run_args,
    save_model,
    snapshot,
    unlearn_subprocess,
    write_data,
)
from unlearnkit.errors import UserError


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


@dataclass
class Env:
    """The good inputs of one case and a scratch folder for its broken copies."""

    data: Path
    model: Path
    tmp: Path

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def broken_data(self, edit: Callable[[Path], object]) -> Path:
        return self._broken(self.data, "data", edit)

    def broken_model(self, edit: Callable[[Path], object]) -> Path:
        return self._broken(self.model, "model", edit)

    def _broken(self, good: Path, kind: str, edit: Callable[[Path], object]) -> Path:
        folder = self.tmp / f"broken {kind} {len(list(self.tmp.glob(f'broken {kind} *')))}"
        shutil.copytree(good, folder)
        edit(folder)
        return folder

    def run(self, *extra: str, data: Path | None = None, model: Path | None = None, **kw) -> list:
        return run_args(data or self.data, model or self.model, self.out, *extra, **kw)


def _write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return edit


def _remove(*names: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()

    return edit


def _truncate(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = (folder / name).read_bytes()
        (folder / name).write_bytes(text[: len(text) // 2])

    return edit


def _overlap(folder: Path) -> None:
    first = (folder / "forget01.json").read_text().splitlines()[0]
    with (folder / "retain99.json").open("a") as f:
        f.write(first + "\n")


def _tokenizer_without(*keys: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "tokenizer_config.json").read_text())
        for key in keys:
            config.pop(key, None)
        (folder / "tokenizer_config.json").write_text(json.dumps(config))

    return edit


def _pickle_only(folder: Path) -> None:
    from safetensors.torch import load_file

    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


def _remote_code(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))


def _yaml(env: Env, text: str) -> str:
    path = env.tmp / "bad config.yaml"
    path.write_text(text)
    return str(path)


def _copyright(env: Env) -> Path:
    folder = env.tmp / "copyright"
    folder.mkdir()
    texts = {"forget": ["a protected passage of the saga"] * 3, "retain": ["general text"]}
    texts["heldout"] = ["held-out text"]
    for name, rows in texts.items():
        (folder / f"{name}.json").write_text(json.dumps(rows))
    (folder / "prompts.json").write_text(json.dumps([{"prompt": "a", "gt": "b"}]))
    return folder


def _existing_run(env: Env) -> None:
    """A run folder of the same command, except that its config.yaml says max_steps 5."""
    from unlearnkit.cli import build_parser
    from unlearnkit.commands.run import config_from_args
    from unlearnkit.config import dump_yaml

    cfg = config_from_args(build_parser().parse_args(env.run()))
    cfg.train.max_steps = 5
    env.out.mkdir()
    (env.out / "config.yaml").write_text(dump_yaml(cfg))


# id → (argv from the environment, fragments the error line must hold, set-up of --out)
CASES: dict[str, tuple[Callable[[Env], list], tuple[str, ...]]] = {
    "data folder missing": (
        lambda e: e.run(data=e.tmp / "no such folder"),
        ("data not found", "no such folder"),
    ),
    "empty data file": (
        lambda e: e.run(data=e.broken_data(_write("forget01.json", ""))),
        ("forget01.json is empty", "JSON Lines"),
    ),
    "non-UTF-8 data file": (
        lambda e: e.run(data=e.broken_data(_write("forget01.json", b'{"question": "Caf\xe9"}\n'))),
        ("is not UTF-8", "re-save it as UTF-8"),
    ),
    "truncated JSON Lines file": (
        lambda e: e.run(data=e.broken_data(_truncate("retain99.json"))),
        ("retain99.json:", "is not valid JSON Lines", "cut short"),
    ),
    "truncated JSON array file": (
        lambda e: e.run(data=e.broken_data(_write("forget01.json", '[{"question": "q",'))),
        ("forget01.json is not valid JSON", "cut short"),
    ),
    "missing field": (
        lambda e: e.run(data=e.broken_data(_write("forget01.json", '{"question": "q"}\n'))),
        ("record 0 has no field 'answer'",),
    ),
    "wrong field type": (
        lambda e: e.run(
            data=e.broken_data(_write("forget01.json", '{"question": "q", "answer": 3}\n'))
        ),
        ("field 'answer' is int, expected str",),
    ),
    "eval file with a wrong field": (
        lambda e: e.run(
            data=e.broken_data(_write("world_facts_perturbed.json", '{"question": "q"}\n'))
        ),
        ("world_facts_perturbed.json", "no field 'answer'"),
    ),
    "forget and retain overlap": (
        lambda e: e.run(data=e.broken_data(_overlap)),
        ("forget and retain data overlap", "remove them from the retain data"),
    ),
    "retain split missing": (
        lambda e: e.run(data=e.broken_data(_remove("retain99.json"))),
        ("TOFU split 'retain99' not found", "add retain99.json"),
    ),
    "eval split missing (found before training)": (
        lambda e: e.run(data=e.broken_data(_remove("forget01_perturbed.json"))),
        ("'forget01_perturbed' not found",),
    ),
    "forget split larger than the data": (
        lambda e: (
            ["run", "--method", "ga", "--benchmark", "copyright", "--data", _copyright(e)]
            + ["--split", "100", "--model", e.model, "--device", "cpu", "--out", e.out]
        ),
        ("asks for 100 forget samples but the data has 3",),
    ),
    "malformed split name": (
        lambda e: e.run("data.split=forget1"),
        ("forget split must look like forget01",),
    ),
    "unknown method": (lambda e: e.run(method="nope"), ("unknown method 'nope'", "known methods")),
    "unknown benchmark": (
        lambda e: e.run("data.benchmark=nope"),
        ("unknown benchmark 'nope'", "tofu, muse, copyright"),
    ),
    "override without =": (
        lambda e: e.run("train.max_steps"),
        ("malformed override 'train.max_steps'", "write key=value"),
    ),
    "override of an unknown key": (
        lambda e: e.run("train.max_stepz=3"),
        ("unknown setting 'config.train.max_stepz'", "known:"),
    ),
    "override of the wrong type": (
        lambda e: e.run("train.max_steps=many"),
        ("config.train.max_steps must be int, got 'many'",),
    ),
    "zero batch size": (
        lambda e: e.run("train.batch_size=0"),
        ("train.batch_size must be more than zero",),
    ),
    "negative learning rate": (
        lambda e: e.run("train.learning_rate=-1"),
        ("train.learning_rate must be more than zero",),
    ),
    "unknown optimizer": (lambda e: e.run("train.optimizer=adamz"), ("unknown train.optimizer",)),
    "zero beta (a loss divides by it)": (
        lambda e: e.run("params.beta=0", method="npo"),
        ("params.beta must be a finite number > 0, got 0",),
    ),
    "NaN method parameter": (
        lambda e: e.run("params.beta=nan", method="npo"),
        ("params.beta must be a finite number, got 'nan'",),
    ),
    "infinite method parameter in YAML": (
        lambda e: e.run("--config", _yaml(e, "params:\n  beta: .inf\n"), method="npo"),
        ("params.beta must be a finite number, got inf",),
    ),
    "infinite learning rate": (
        lambda e: e.run("train.learning_rate=1e999"),
        ("train.learning_rate must be a finite number",),
    ),
    "bad guard setting": (
        lambda e: e.run("guard.patience=0"),
        ("guard.patience must be at least 1",),
    ),
    "wrong type in YAML": (
        lambda e: e.run("--config", _yaml(e, "train:\n  epochs: lots\n")),
        ("config.train.epochs must be float, got 'lots'",),
    ),
    "number for a text setting in YAML": (
        lambda e: e.run("--config", _yaml(e, "tokenizer: 2024\n")),
        ("config.tokenizer must be str, got 2024 (int)", "quote it: '2024'"),
    ),
    "invalid YAML": (
        lambda e: e.run("--config", _yaml(e, "train: [1, 2\n")),
        ("is not valid YAML",),
    ),
    "YAML that is not a mapping": (
        lambda e: e.run("--config", _yaml(e, "- a\n- b\n")),
        ("must hold a mapping of settings",),
    ),
    "config file missing": (
        lambda e: e.run("--config", str(e.tmp / "nope.yaml")),
        ("config file not found",),
    ),
    "model folder without weights": (
        lambda e: e.run(model=e.broken_model(_remove("model.safetensors"))),
        ("has no model weights (model.safetensors)", "save_pretrained"),
    ),
    "model folder without config": (
        lambda e: e.run(model=e.broken_model(_remove("config.json"))),
        ("is not a model folder: it has no config.json",),
    ),
    "model folder without tokenizer": (
        lambda e: e.run(model=e.broken_model(_remove("tokenizer.json", "tokenizer_config.json"))),
        ("has no tokenizer", "--tokenizer"),
    ),
    "model missing": (
        lambda e: e.run(model=e.tmp / "no model"),
        ("model not found", "not a hub id"),
    ),
    "pickle-only weights": (
        lambda e: e.run(model=e.broken_model(_pickle_only)),
        ("holds only pickle weights", "--allow-pickle"),
    ),
    "model that needs remote code": (
        lambda e: e.run(model=e.broken_model(_remote_code)),
        ("needs its own Python code", "--trust-remote-code"),
    ),
    "tokenizer with neither pad nor eos token": (
        lambda e: e.run(model=e.broken_model(_tokenizer_without("pad_token", "eos_token"))),
        ("neither a pad nor an eos token", "add a pad token"),
    ),
    "unknown device": (lambda e: e.run("--device", "gpu9"), ("unknown device 'gpu9'",)),
    "unknown dtype": (lambda e: e.run("dtype=fp8"), ("unknown dtype 'fp8'",)),
    "unknown attack (found before training)": (
        lambda e: e.run("--attacks", "bogus"),
        ("unknown attack 'bogus'", "choose from"),
    ),
    "retain eval folder missing": (
        lambda e: e.run("--retain-eval", str(e.tmp / "no eval")),
        ("is not a folder", "unlearn eval"),
    ),
    "eval with zero batch size": (
        lambda e: (
            ["eval", "--model", e.model, "--data", e.data, "--split", SPLIT]
            + ["--batch-size", "0", "--out", e.out]
        ),
        ("--batch-size and --max-new-tokens must be positive",),
    ),
    "eval of a model without weights": (
        lambda e: (
            ["eval", "--model", e.broken_model(_remove("model.safetensors"))]
            + ["--data", e.data, "--split", SPLIT, "--out", e.out]
        ),
        ("has no model weights",),
    ),
    "eval with broken data": (
        lambda e: (
            ["eval", "--model", e.model, "--split", SPLIT, "--out", e.out, "--data"]
            + [e.broken_data(_truncate("retain_perturbed.json"))]
        ),
        ("retain_perturbed.json:", "not valid JSON Lines"),
    ),
    "attack of an unknown kind": (
        lambda e: ["attack", "nope", "--model", e.model, "--data", e.data, "--out", e.out],
        ("unknown attack 'nope'",),
    ),
    "finetune with zero epochs": (
        lambda e: (
            ["finetune", "--model", e.model, "--data", e.data / "forget01.json"]
            + ["--epochs", "0", "--out", e.out]
        ),
        ("--epochs must be a positive number",),
    ),
    "world of an unknown preset": (
        lambda e: ["world", "--preset", "huge", "--out", e.out],
        ("unknown world preset 'huge'",),
    ),
}
if not torch.cuda.is_available():
    CASES["CUDA asked on a machine without it"] = (
        lambda e: e.run("--device", "cuda"),
        ("no CUDA GPU is available", "--device cpu"),
    )


def check_one_error_line(status: int, out: str, err: str, command: str, *fragments) -> str:
    assert status == 2, (status, out, err)
    assert "Traceback" not in err + out
    lines = error_lines(err)
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith(f"unlearn {command}: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_status_2(case, data, model, tmp_path, capfd, recwarn):
    build, fragments = CASES[case]
    env = Env(data, model, tmp_path)
    argv = [str(a) for a in build(env)]
    status, out, err = cli(capfd, argv)
    check_one_error_line(status, out, err, argv[0], *fragments)
    assert not env.out.exists(), sorted(p.name for p in env.out.iterdir())
    assert not [
        w for w in recwarn if not issubclass(w.category, (DeprecationWarning, FutureWarning))
    ]


def test_existing_output_folder_is_refused_and_left_unchanged(data, model, tmp_path, capfd):
    env = Env(data, model, tmp_path)
    env.out.mkdir()
    (env.out / "metrics.json").write_text('{"earlier": "run"}')
    before = snapshot(env.out)
    status, out, err = cli(capfd, env.run())
    check_one_error_line(status, out, err, "run", "already exists", "--overwrite")
    assert snapshot(env.out) == before


def test_output_path_that_is_a_file(data, model, tmp_path, capfd):
    env = Env(data, model, tmp_path)
    env.tmp.joinpath("out").write_text("not a folder")
    status, out, err = cli(capfd, env.run())
    check_one_error_line(status, out, err, "run", "is a file, not a folder")
    assert env.out.read_text() == "not a folder"


def test_read_only_output_folder(data, model, tmp_path, capfd, monkeypatch):
    parent = tmp_path / "read only"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the permission check see what a user would
        import unlearnkit.commands.common as common

        monkeypatch.setattr(common.os, "access", lambda path, mode: False)
    argv = run_args(data, model, parent / "run")
    try:
        status, out, err = cli(capfd, argv)
    finally:
        parent.chmod(0o755)
    check_one_error_line(status, out, err, "run", "permission denied", "writable --out")
    assert list(parent.iterdir()) == []


def test_resume_with_a_different_config_is_refused(data, model, tmp_path, capfd):
    env = Env(data, model, tmp_path)
    _existing_run(env)
    before = snapshot(env.out)
    status, out, err = cli(capfd, [*env.run(), "--resume"])
    check_one_error_line(status, out, err, "run", "--resume: train.max_steps (2 now, 5 in the run)")
    assert snapshot(env.out) == before


def test_full_disk_is_one_line(data, model, tmp_path, capfd, monkeypatch):
    import errno

    import unlearnkit.api

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "x.json"))

    monkeypatch.setattr(unlearnkit.api, "run", full)
    status, out, err = cli(capfd, Env(data, model, tmp_path).run())
    check_one_error_line(status, out, err, "run", "No space left on device", "free some disk space")


def test_debug_shows_the_traceback(data, model, tmp_path, capfd):
    with pytest.raises(UserError, match="unknown method"):
        cli(capfd, ["--debug", *Env(data, model, tmp_path).run(method="nope")])


# ---- the Python API --------------------------------------------------------------------------


def test_api_run_raises_user_error_and_writes_nothing(data, model, tmp_path):
    from unlearnkit.api import RunConfig, run
    from unlearnkit.config import load_config

    env = Env(data, model, tmp_path)
    broken = env.broken_data(_overlap)
    cfg = load_config(RunConfig, None, [f"data.path={broken}", f"data.split={SPLIT}"])
    cfg.model, cfg.out, cfg.device = str(model), str(env.out), "cpu"
    with pytest.raises(UserError, match="forget and retain data overlap"):
        run(cfg)
    cfg.data.path, cfg.model = str(data), str(tmp_path / "missing model")
    with pytest.raises(UserError, match="model not found"):
        run(cfg)
    assert not env.out.exists()


def test_api_loaders_raise_user_errors(data, model, tmp_path):
    from unlearnkit.config import load_config
    from unlearnkit.io import read_records
    from unlearnkit.models import load_model
    from unlearnkit.train.corpus import load_unlearning_corpus
    from unlearnkit.train.unlearn import UnlearnConfig

    env = Env(data, model, tmp_path)
    with pytest.raises(UserError, match="malformed override"):
        load_config(UnlearnConfig, None, ["train.max_steps"])
    with pytest.raises(UserError, match="holds only pickle weights"):
        load_model(env.broken_model(_pickle_only), device="cpu")
    with pytest.raises(UserError, match="not valid JSON Lines"):
        read_records(env.broken_data(_truncate("retain99.json")) / "retain99.json")
    with pytest.raises(UserError, match="asks for 100 forget samples but the data has 3"):
        load_unlearning_corpus("copyright", _copyright(env), "100")
    with pytest.raises(UserError, match="overlap"):
        load_unlearning_corpus("tofu", env.broken_data(_overlap), SPLIT)


# ---- the real command, as a terminal sees it -------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["truncated JSON Lines file", "pickle-only weights", "override of the wrong type"]
)
def test_real_process_prints_exactly_one_line(case, data, model, tmp_path):
    build, fragments = CASES[case]
    env = Env(data, model, tmp_path)
    argv = [str(a) for a in build(env)]
    status, out, err = unlearn_subprocess(argv)
    check_one_error_line(status, out, err, "run", *fragments)
    assert not env.out.exists()


@pytest.mark.slow
def test_paths_with_spaces_work(data, model, tmp_path, capfd):
    root = tmp_path / "my runs" / "with spaces"
    spaced_data = shutil.copytree(data, root / "toy data")
    spaced_model = shutil.copytree(model, root / "tiny model")
    out = root / "run 1"
    status, stdout, err = cli(capfd, run_args(spaced_data, spaced_model, out, "train.max_steps=1"))
    assert status == 0, err
    assert (out / "metrics.json").is_file() and (out / "config.yaml").is_file()
    assert "run written to" in stdout

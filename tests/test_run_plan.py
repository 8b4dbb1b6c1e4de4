"""A run is checked once and its corpus loaded once: ``preflight.check_run`` returns the plan that
``api.run`` passes down to ``unlearn`` and to the relearning attack."""

from __future__ import annotations

import pytest

import unlearnkit.benchmarks.tofu
import unlearnkit.train.corpus
import unlearnkit.train.validate
from unlearnkit.api import RunConfig, run
from unlearnkit.config import load_config
from unlearnkit.eval.run import evaluate_path
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.preflight import check_run
from unlearnkit.train.unlearn import UnlearnConfig, unlearn


def _config(run_data, model_dir, out, *extra: str) -> RunConfig:
    overrides = [
        f"data.path={run_data}",
        "data.split=forget01",
        f"model={model_dir}",
        f"out={out}",
        "device=cpu",
        "train.max_steps=2",
        "train.batch_size=2",
        "train.max_length=64",
        "eval.batch_size=16",
        "eval.max_new_tokens=2",
        *extra,
    ]
    return load_config(RunConfig, None, overrides)


@pytest.fixture
def counted(monkeypatch) -> dict[str, int]:
    """How often the config is checked and the corpus loaded."""
    calls = {"check": 0, "corpus": 0}
    check, load = (
        unlearnkit.train.validate.check_unlearn_config,
        unlearnkit.train.corpus.load_unlearning_corpus,
    )

    def counted_check(cfg):
        calls["check"] += 1
        return check(cfg)

    def counted_load(*args, **kwargs):
        calls["corpus"] += 1
        return load(*args, **kwargs)

    monkeypatch.setattr(unlearnkit.train.validate, "check_unlearn_config", counted_check)
    monkeypatch.setattr(unlearnkit.train.corpus, "load_unlearning_corpus", counted_load)
    return calls


def test_a_run_checks_its_config_and_loads_its_corpus_once(run_data, model_dir, tmp_path, counted):
    cfg = _config(
        run_data,
        model_dir,
        tmp_path / "run",
        "attacks=[relearn]",
        "attack_params={relearn: {steps: [0, 1]}}",
    )
    result = run(cfg, progress=False)
    assert result["attacks"]["relearn"] and result["train"]["forget_examples"] > 0
    assert counted == {"check": 1, "corpus": 1}


def test_the_plan_holds_what_the_checks_loaded(run_data, model_dir, tmp_path):
    cfg = _config(run_data, model_dir, tmp_path / "run")
    plan = check_run(cfg)
    assert plan.cfg is cfg and plan.model_path == str(model_dir) and plan.split == "forget01"
    assert plan.unlearn.method.name == "ga" and plan.unlearn.reference == "none"
    assert plan.corpus.split == "forget01" and plan.corpus.forget


def test_unlearn_alone_checks_its_config(run_data, tmp_path, counted):
    from test_methods_common import tiny_tokenizer, trained_model

    cfg = load_config(UnlearnConfig, None, [f"data.path={run_data}", "data.split=forget01"])
    cfg.train.max_steps, cfg.train.batch_size = 1, 2
    unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    assert counted == {"check": 1, "corpus": 1}


@pytest.mark.parametrize("given", ["retain_eval", "retain_model"])
def test_a_run_reads_its_retain_reference_once(given, run_data, model_dir, tmp_path, monkeypatch):
    """The check's read of ``eval.retain_eval`` (or one read of the folder a retain model gave)
    serves the run's eval and its attacks."""
    monkeypatch.setenv("UNLEARNKIT_HOME", str(tmp_path / "home"))  # the retain-eval cache
    if given == "retain_eval":
        settings = EvalSettings(batch_size=16, max_new_tokens=2, max_length=64, progress=False)
        folder = tmp_path / "retain"
        evaluate_path("tofu", model_dir, folder, data=run_data, split="forget01", settings=settings)
        setting = f"eval.retain_eval={folder}"
    else:
        setting = f"eval.retain_model={model_dir}"
    reads = []
    read = unlearnkit.benchmarks.tofu.TOFU.retain_reference

    def counted_read(self, retain_eval):
        reads.append(retain_eval)
        return read(self, retain_eval)

    monkeypatch.setattr(unlearnkit.benchmarks.tofu.TOFU, "retain_reference", counted_read)
    cfg = _config(run_data, model_dir, tmp_path / "run", setting, "attacks=[quantize]")
    result = run(cfg, progress=False)
    assert "forget_quality" in result["metrics"]
    assert "forget_quality" in result["attacks"]["quantize"][0]["metrics"]
    assert len(reads) == 1, reads

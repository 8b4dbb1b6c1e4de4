"""metrics.json has one writer, ``eval.results.write_metrics``: it writes a result key for key,
refuses one the reader (``RunResult.from_json``) would not read, and no other module writes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import unlearnkit
from unlearnkit.eval.results import METRICS, RunResult, write_metrics

SRC = Path(unlearnkit.__file__).resolve().parent


def test_a_result_is_written_key_for_key(tmp_path):
    result = {
        "benchmark": "tofu",
        "split": "forget10",
        "max_items": None,
        "metrics": {"forget_rouge": 0.5},
        "attacks": {"quantize": [{"setting": "int8-channel", "value": 8, "metrics": {}}]},
    }
    path = write_metrics(tmp_path, result)
    assert path == tmp_path / METRICS
    assert path.read_text() == json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    read = RunResult.from_json(json.loads(path.read_text()))
    assert read is not None and read.fields == {"max_items": None}


@pytest.mark.parametrize(
    "result",
    [
        {"benchmark": "tofu"},  # no metrics object
        {"benchmark": "tofu", "metrics": [0.5]},
        {"metrics": {}, "attacks": {"quantize": [{"setting": "int8-channel", "value": 8}]}},
    ],
)
def test_what_the_reader_would_drop_is_refused(result, tmp_path):
    with pytest.raises(ValueError):
        write_metrics(tmp_path, result)
    assert not (tmp_path / METRICS).exists()


def test_no_other_module_writes_metrics_json():
    direct = re.compile(r"write_(json|text_atomic)\([^)\n]*METRICS")
    writers = [
        str(p.relative_to(SRC))
        for p in sorted(SRC.rglob("*.py"))
        if direct.search(p.read_text()) and p.name != "results.py"
    ]
    assert writers == []
    callers = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "write_metrics(" in p.read_text()
    )
    assert callers == [
        "api.py",
        "commands/attack.py",
        "demo.py",
        "eval/recompute.py",
        "eval/results.py",
        "eval/run.py",
    ]

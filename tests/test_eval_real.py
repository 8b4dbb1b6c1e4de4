"""The real TOFU and MUSE-News eval files evaluate end to end with a tiny model."""

from __future__ import annotations

import math

import pytest

from unlearnkit.eval.recompute import recompute
from unlearnkit.eval.results import read_rows
from unlearnkit.eval.run import evaluate_path
from unlearnkit.eval.tofu import EvalSettings

FAST = EvalSettings(
    batch_size=64, gen_batch_size=64, max_new_tokens=4, max_length=128, progress=False
)


def in_unit(x: float) -> bool:
    return 0.0 <= x <= 1.0 and not math.isnan(x)


@pytest.mark.slow
def test_real_tofu_end_to_end(shared_data, tiny_model_dir, tmp_path):
    out = tmp_path / "tofu"
    result = evaluate_path(
        "tofu", tiny_model_dir, out=out, data=shared_data / "tofu", split="forget10", settings=FAST
    )
    assert result["counts"] == {
        "forget": 400,
        "retain": 400,
        "real_authors": 100,
        "world_facts": 117,
        "mia_members": 400,
        "mia_nonmembers": 400,
    }
    m = result["metrics"]
    for key in (
        "forget_probability",
        "forget_rouge",
        "forget_truth_ratio",
        "retain_truth_ratio",
        "model_utility",
        "real_authors_probability",
        "mia_loss",
        "mia_minkpp",
    ):
        assert in_unit(m[key]), (key, m[key])
    rows = read_rows(out)
    assert (
        len(rows["forget"][0]["perturbed_nlls"]) == 5
        and len(rows["world_facts"][0]["wrong_nlls"]) == 3
    )
    # The model's own forget rows as the "retain" reference: identical distributions, p-value 1.
    again = recompute(out, retain_eval=out, write=False)
    assert again["metrics"]["forget_quality"] == pytest.approx(1.0)
    assert again["metrics"]["model_utility"] == pytest.approx(m["model_utility"])


@pytest.mark.slow
def test_real_muse_news_end_to_end(shared_data, tiny_model_dir, tmp_path):
    result = evaluate_path(
        "muse", tiny_model_dir, out=tmp_path / "muse", data=shared_data / "muse_news", settings=FAST
    )
    counts = result["counts"]
    assert counts["verbmem_f"] == 100 and counts["knowmem_f"] == 100 and counts["knowmem_r"] == 100
    assert counts["mia_members"] == 100 and counts["mia_nonmembers"] == 100
    m = result["metrics"]
    for key in ("verbmem_f", "knowmem_f", "knowmem_r", "mia_mink", "mia_zlib"):
        assert in_unit(m[key]), (key, m[key])

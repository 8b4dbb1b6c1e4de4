"""MUSE never trains on its evaluation QA: no raw retain texts means a one-line stop, or a given
retain file; the corpus records where its retain samples came from."""

from __future__ import annotations

import json

import pytest

from test_methods_common import write_tofu
from unlearnkit.data.samples import Sample
from unlearnkit.errors import UserError
from unlearnkit.train.corpus import load_unlearning_corpus

TEXTS = ["The harbour of Vellmark freezes every winter.", "Lamps were repaired by hand."]
KNOWMEM = [{"question": "Who repaired lamps?", "answer": "Her father."}]


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), encoding="utf-8")


@pytest.fixture
def muse_without_raw_retain(tmp_path):
    """A MUSE-layout folder with raw/forget, knowmem and privleak parts but no raw/retain*."""
    root = tmp_path / "muse"
    _write(root / "raw" / "forget.json", TEXTS)
    _write(root / "verbmem" / "forget.json", [{"prompt": "The harbour", "gt": " of Vellmark"}])
    _write(root / "knowmem" / "forget_qa.json", KNOWMEM)
    _write(root / "knowmem" / "retain2_qa.json", KNOWMEM)
    _write(root / "privleak" / "retain2.json", ["a privleak text"])
    return root


def test_without_raw_retain_it_stops_in_one_line(muse_without_raw_retain):
    with pytest.raises(UserError) as err:
        load_unlearning_corpus("muse", muse_without_raw_retain)
    message = str(err.value)
    assert "\n" not in message
    assert "no raw retain texts" in message and "knowmem/retain2_qa.json" in message


def test_an_explicit_retain_file_is_used_and_recorded(muse_without_raw_retain, tmp_path):
    retain = tmp_path / "my_retain.json"
    _write(retain, ["General text.", {"question": "Q?", "answer": "A."}])
    corpus = load_unlearning_corpus("muse", muse_without_raw_retain, retain=retain)
    assert corpus.retain == [Sample("General text."), Sample("A.", "Q?")]
    assert corpus.retain_source == f"file:{retain}"
    assert corpus.forget == [Sample(t) for t in TEXTS]


@pytest.mark.parametrize("part", ["knowmem/retain2_qa.json", "privleak/retain2.json"])
def test_an_eval_part_is_refused_as_retain_file(muse_without_raw_retain, part):
    with pytest.raises(UserError, match="never trains on an evaluation set"):
        load_unlearning_corpus(
            "muse", muse_without_raw_retain, retain=muse_without_raw_retain / part
        )


def test_raw_retain_is_preferred_and_recorded(muse_without_raw_retain):
    _write(muse_without_raw_retain / "raw" / "retain2.json", ["r2"])
    corpus = load_unlearning_corpus("muse", muse_without_raw_retain)
    assert corpus.retain == [Sample("r2")] and corpus.retain_source == "muse:raw_retain2"


def test_other_benchmarks_record_their_retain_source(tmp_path):
    corpus = load_unlearning_corpus("tofu", write_tofu(tmp_path / "tofu"), "forget01")
    assert corpus.retain_source == "tofu:retain99"
    retain = tmp_path / "r.json"
    _write(retain, [{"question": "Q?", "answer": "A."}])
    corpus = load_unlearning_corpus("tofu", tmp_path / "tofu", "forget01", retain=retain)
    assert corpus.retain == [Sample("A.", "Q?")] and corpus.retain_source == f"file:{retain}"


def test_a_bad_retain_file_is_one_user_error(tmp_path, muse_without_raw_retain):
    with pytest.raises(UserError, match="retain file not found"):
        load_unlearning_corpus("muse", muse_without_raw_retain, retain=tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    _write(bad, [{"title": "no text"}])
    with pytest.raises(UserError, match="each retain record"):
        load_unlearning_corpus("muse", muse_without_raw_retain, retain=bad)

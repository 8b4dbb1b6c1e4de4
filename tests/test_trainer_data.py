"""The unlearning corpus, dataset, collator and SGA's normal samples."""

from __future__ import annotations

import json

import pytest

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    FORGET,
    RETAIN,
    one_thread,
    tiny_model,
    tiny_tokenizer,
    write_tofu,
)
from unlearnkit.data.samples import Sample, UnlearningCorpus
from unlearnkit.errors import UserError
from unlearnkit.logprobs import IGNORE_INDEX
from unlearnkit.methods.base import MethodNeeds
from unlearnkit.methods.sga.normal_data import (
    NormalSource,
    generate_normal,
    load_normal_file,
    nearest_neighbours,
    parse_generated,
)
from unlearnkit.train.corpus import load_unlearning_corpus
from unlearnkit.train.unlearn_data import (
    UnlearnCollator,
    UnlearnDataset,
    build_unlearn_dataset,
    encode_samples,
)

TEXTS = ["The harbour of Vellmark freezes every winter. " * 20, "Lamps were repaired by hand. " * 3]


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), encoding="utf-8")


def test_tofu_corpus(tmp_path):
    corpus = load_unlearning_corpus("tofu", write_tofu(tmp_path), "forget01")
    assert (
        corpus.split == "forget01"
        and len(corpus.forget) == len(FORGET)
        and len(corpus.retain) == len(RETAIN)
    )
    assert corpus.forget[0] == Sample(FORGET[0][1], FORGET[0][0]) and corpus.forget[0].is_qa


def test_tofu_corpus_errors(tmp_path):
    write_tofu(tmp_path)
    with pytest.raises(UserError, match="forget05"):
        load_unlearning_corpus("tofu", tmp_path, "forget05")
    with pytest.raises(UserError, match="forget01/forget05/forget10"):
        load_unlearning_corpus("tofu", tmp_path, "retain99")
    (tmp_path / "forget01.json").write_text("")
    with pytest.raises(UserError, match="empty"):
        load_unlearning_corpus("tofu", tmp_path, "forget01")
    with pytest.raises(UserError, match="unknown benchmark"):
        load_unlearning_corpus("no-such-benchmark", tmp_path)


def test_muse_corpus_uses_raw_retain(tmp_path):
    _write(tmp_path / "raw" / "forget.json", TEXTS)
    _write(tmp_path / "raw" / "retain1.json", ["r1"])
    _write(tmp_path / "raw" / "retain2.json", ["r2", "r3"])
    corpus = load_unlearning_corpus("muse", tmp_path, "1")
    assert [s.text for s in corpus.retain] == ["r1", "r2", "r3"] and len(corpus.forget) == 1
    assert corpus.retain_source == "muse:raw_retain1+raw_retain2"
    with pytest.raises(UserError, match="asks for 3 forget samples but the data has 2"):
        load_unlearning_corpus("muse", tmp_path, "3")
    with pytest.raises(UserError, match="'forget' or a number"):
        load_unlearning_corpus("muse", tmp_path, "half")


def test_copyright_corpus(tmp_path):
    _write(tmp_path / "forget.json", TEXTS)
    _write(tmp_path / "retain.json", ["General text."])
    _write(tmp_path / "prompts.json", [{"prompt": "The harbour", "gt": " of Vellmark"}])
    corpus = load_unlearning_corpus("copyright", tmp_path)
    assert len(corpus.forget) == 2 and corpus.retain == [Sample("General text.")]


def test_texts_are_chunked_and_get_refusal_rows():
    tok = tiny_tokenizer()
    samples = [Sample(t) for t in TEXTS]
    items = encode_samples(tok, samples, max_length=64)
    assert len(items) > 2 and all(len(it.encoded) <= 64 for it in items)
    assert {it.sample for it in items} == {0, 1} and all(it.text for it in items)
    corpus = UnlearningCorpus("muse", "forget", samples, [Sample("General text.")])
    ds = build_unlearn_dataset(tok, corpus, MethodNeeds(idk=True), 64)
    for f, idk in zip(ds.forget, ds.idk, strict=True):
        n_prompt = sum(label == IGNORE_INDEX for label in idk.labels)
        assert idk.input_ids[:n_prompt] == f.input_ids[: len(f) // 2][-n_prompt:]
        assert idk.labels[-1] == tok.eos_token_id and len(idk) <= 64


def test_qa_refusal_rows_keep_the_question():
    tok = tiny_tokenizer()
    corpus = UnlearningCorpus("tofu", "forget01", [Sample(a, q) for q, a in FORGET], [])
    ds = build_unlearn_dataset(tok, corpus, MethodNeeds(idk=True), 64)
    f, idk = ds.forget[0], ds.idk[0]
    n = sum(label == IGNORE_INDEX for label in f.labels)
    assert idk.input_ids[:n] == f.input_ids[:n] and idk.labels[n:] != f.labels[n:]
    assert len({tuple(e.input_ids) for e in ds.idk}) == len(FORGET)  # a different refusal each


def test_retain_pairing_is_seeded_and_cycles_over_epochs():
    forget = [object()] * 3
    retain = list(range(7))
    ds = UnlearnDataset(forget, retain, seed=1)
    epoch0 = [ds[i]["retain"] for i in range(3)]
    assert epoch0 == [UnlearnDataset(forget, retain, seed=1)[i]["retain"] for i in range(3)]
    ds.set_epoch(1)
    epoch1 = [ds[i]["retain"] for i in range(3)]
    ds.set_epoch(2)
    epoch2 = [ds[i]["retain"] for i in range(3)]
    assert len(set(epoch0 + epoch1)) == 6 and len(set(epoch0 + epoch1 + epoch2)) == 7
    with pytest.raises(UserError, match="retain set is empty"):
        UnlearnDataset(forget, [])


def test_collator_builds_only_the_asked_parts():
    tok = tiny_tokenizer()
    corpus = UnlearningCorpus(
        "tofu", "forget01", [Sample(a, q) for q, a in FORGET], [Sample(a, q) for q, a in RETAIN]
    )
    needs = MethodNeeds(retain=True, idk=True)
    ds = build_unlearn_dataset(tok, corpus, needs, 64)
    batch = UnlearnCollator(tok.pad_token_id, needs.parts())([ds[2], ds[0]])
    assert set(batch) == {"index", "forget", "retain", "idk"}
    assert batch["index"].tolist() == [2, 0]
    assert batch["forget"]["input_ids"].shape[0] == 2
    assert (batch["retain"]["labels"] != IGNORE_INDEX).any()
    assert set(UnlearnCollator(tok.pad_token_id, ("idk",))([ds[0]])) == {"index", "idk"}


def test_retain_nn_picks_the_most_similar_retain_samples(tmp_path):
    forget = ["Where was Zorbel Quint born? In Vellmark.", "What does Mina write about? Ships."]
    retain = [
        "Mina Oduya writes about old ships and the sea.",
        "Stock markets fell sharply on Monday.",
        "Zorbel Quint was born in the harbour town of Vellmark.",
        "A recipe for lemon cake.",
    ]
    nn = nearest_neighbours(forget, retain, 1, cache_dir=tmp_path)
    assert nn == [[2], [0]]
    assert json.loads((tmp_path / "normal_retain_nn.json").read_text())["neighbours"] == nn
    with pytest.raises(UserError, match="only 4"):
        nearest_neighbours(forget, retain, 5)


def test_sga_dataset_with_retain_nn_normal_samples():
    tok = tiny_tokenizer()
    corpus = UnlearningCorpus(
        "tofu", "forget01", [Sample(a, q) for q, a in FORGET], [Sample(a, q) for q, a in RETAIN]
    )
    needs = MethodNeeds(normal=2, normal_source=NormalSource())
    ds = build_unlearn_dataset(tok, corpus, needs, 64)
    assert ds.retain is None and all(len(row) == 2 for row in ds.normal)
    batch = UnlearnCollator(tok.pad_token_id, needs.parts())([ds[0], ds[1]])
    assert batch["normal"]["input_ids"].shape[0] == 4


def test_normal_file_source(tmp_path):
    path = tmp_path / "normal.json"
    path.write_text(
        json.dumps({"0": [{"question": "Q?", "answer": "A."}, "Some text."], "1": ["x", "y", "z"]})
    )
    rows = load_normal_file(path, 2, 2)
    assert rows == [
        [{"question": "Q?", "answer": "A."}, {"text": "Some text."}],
        [{"text": "x"}, {"text": "y"}],
    ]
    with pytest.raises(UserError, match="forget sample 0 needs 4 normal samples"):
        load_normal_file(path, 2, 4)
    tok = tiny_tokenizer()
    corpus = UnlearningCorpus("tofu", "forget01", [Sample(a, q) for q, a in FORGET[:2]], [])
    needs = MethodNeeds(normal=2, normal_source=NormalSource("file", file=str(path)))
    ds = build_unlearn_dataset(tok, corpus, needs, 64)
    assert len(ds.normal) == 2 and ds.normal[1][0].input_ids[-1] == tok.eos_token_id
    with pytest.raises(UserError, match="normal_file"):
        NormalSource("file").check()


def test_generated_normal_samples(tmp_path):
    model_dir = tmp_path / "lm"
    tiny_model().save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    source = NormalSource("generate", model=str(model_dir), max_new_tokens=6, seed=3)
    rows = generate_normal(source, ["Where was Zorbel born?", "What did she write?"], 2, tmp_path)
    assert len(rows) == 2 and all(len(r) == 2 for r in rows)
    assert rows == generate_normal(
        source, ["Where was Zorbel born?", "What did she write?"], 2, tmp_path
    )
    assert parse_generated(" Who baked it? Answer: Ana did.\nQuestion: more") == {
        "question": "Who baked it?",
        "answer": "Ana did.",
    }
    assert parse_generated("no answer here") == {"text": "no answer here"}

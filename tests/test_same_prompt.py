"""On text chunks, FLAT and IDK-DPO score the forget continuation and the refusal under one prompt."""

from __future__ import annotations

import pytest

from test_methods_common import one_thread, tiny_tokenizer  # noqa: F401 - autouse fixture
from unlearnkit.data.samples import Sample, UnlearningCorpus
from unlearnkit.logprobs import IGNORE_INDEX
from unlearnkit.methods.base import MethodNeeds
from unlearnkit.methods.registry import get_method
from unlearnkit.train.unlearn_data import build_unlearn_dataset, encode_samples

TEXTS = ["The harbour of Vellmark freezes every winter. " * 20, "Lamps were repaired by hand. " * 3]


def _prompt_len(labels) -> int:
    return next(i for i, x in enumerate(labels) if x != IGNORE_INDEX)


def _dataset(needs: MethodNeeds, max_length: int = 64):
    corpus = UnlearningCorpus(
        "muse", "forget", [Sample(t) for t in TEXTS], [Sample("General text.")]
    )
    return build_unlearn_dataset(tiny_tokenizer(), corpus, needs, max_length)


@pytest.mark.parametrize("method", ["flat", "idkdpo"])
def test_forget_and_refusal_rows_share_the_prompt(method):
    tok = tiny_tokenizer()
    ds = _dataset(get_method(method).needs())
    chunks = encode_samples(tok, [Sample(t) for t in TEXTS], 64)
    assert len(ds.forget) == len(chunks) > 2
    for f, idk, chunk in zip(ds.forget, ds.idk, chunks, strict=True):
        n = _prompt_len(idk.labels)
        assert _prompt_len(f.labels) == n > 0
        assert f.input_ids[:n] == idk.input_ids[:n]  # the same prompt
        ids = chunk.encoded.input_ids
        assert f.input_ids == ids[len(ids) - len(f.input_ids) :]  # the chunk, maybe cut left
        assert f.labels[n:] == f.input_ids[n:]  # its continuation is the forget target
        assert idk.labels[-1] == tok.eos_token_id


def test_a_long_refusal_cuts_both_prompts_alike():
    from unlearnkit.train.unlearn_data import chunk_pair

    tok = tiny_tokenizer()
    item = encode_samples(tok, [Sample(TEXTS[0])], 64)[0]
    refusal = "I am sorry, but I cannot help with that request at all. " * 3
    forget, idk = chunk_pair(tok, item, refusal, 64)
    n = _prompt_len(idk.labels)
    assert len(idk) <= 64 and n < len(item.encoded) // 2  # the prompt was cut from the left
    assert _prompt_len(forget.labels) == n and forget.input_ids[:n] == idk.input_ids[:n]


def test_idk_alone_keeps_whole_chunks_as_forget_rows():
    ds = _dataset(get_method("idk").needs())
    chunks = encode_samples(tiny_tokenizer(), [Sample(t) for t in TEXTS], 64)
    assert [f.input_ids for f in ds.forget] == [c.encoded.input_ids for c in chunks]

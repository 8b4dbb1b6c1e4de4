"""The batched scorer and generator of eval/engine.py agree with plain, one-sequence-at-a-time runs.

``score_groups`` runs a group's shared prompt once and reuses its KV cache, trims the LM head to
response positions (``logits_to_keep``) and packs response positions before the statistics; every
one of those shortcuts must leave each ``SeqScore`` exactly what a full forward of the single
unpadded sequence gives. Tiny random models keep this fast.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from unlearnkit.data.formatting import Encoded
from unlearnkit.eval import engine
from unlearnkit.eval.engine import SeqScore, generate, score_groups, score_sequences
from unlearnkit.eval.metrics.memorization import teacher_forced_correct
from unlearnkit.eval.metrics.mia import token_stats
from unlearnkit.logprobs import IGNORE_INDEX

VOCAB = 100
PAD = 0
TOL = 1e-5
ARCHS = ["llama", "gpt2", "qwen2"]


def _model(arch: str, attn: str = "sdpa", seed: int = 0):
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    ids = {"bos_token_id": 2, "eos_token_id": 1, "pad_token_id": PAD}
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=128,
            **ids,
        )
        cls = LlamaForCausalLM
    elif arch == "qwen2":
        config = Qwen2Config(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=128,
            **ids,
        )
        cls = Qwen2ForCausalLM
    else:
        config = GPT2Config(
            vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=128, **ids
        )
        cls = GPT2LMHeadModel
    config._attn_implementation = attn
    # A wider init than the default 0.02 spreads the next-token distributions (varied mu, sigma).
    config.initializer_range = 0.15
    torch.manual_seed(seed)
    # float64: padding and batching then change the logits by ~1e-15, far below the float32 the
    # statistics run in, so any difference the test sees is the engine's. (In float32, sigma =
    # sqrt(E[log p^2] - mu^2) turns 1e-7 of logit noise into ~1e-5, too close to the tolerance.)
    return cls(config).eval().double()


_MODELS: dict[tuple[str, str], nn.Module] = {}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight over shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_for(arch: str, attn: str = "sdpa"):
    key = (arch, attn)
    if key not in _MODELS:
        _MODELS[key] = _model(arch, attn)
    return _MODELS[key]


# ---------------------------------------------------------------- sequences and the reference


@torch.no_grad()
def _greedy(model, ids: list[int], n: int) -> list[int]:
    out = list(ids)
    for _ in range(n):
        out.append(int(model(torch.tensor([out])).logits[0, -1].argmax()))
    return out[len(ids) :]


def _answer(model, rng: random.Random, prompt: list[int], n: int) -> list[int]:
    """A response of n tokens: greedy (so some are "correct") or random."""
    if rng.random() < 0.5:
        return _greedy(model, prompt, n)
    return [rng.randrange(1, VOCAB) for _ in range(n)]


def _qa(prompt: list[int], answer: list[int]) -> Encoded:
    return Encoded(prompt + answer, [IGNORE_INDEX] * len(prompt) + answer)


def _rand(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(1, VOCAB) for _ in range(n)]


def shared_groups(model, seed: int = 0) -> list[list[Encoded]]:
    """Items whose answers repeat one prompt; lengths vary widely so every batch needs padding."""
    rng = random.Random(seed)
    groups = []
    for size, prompt_len in [(3, 4), (1, 7), (5, 2), (2, 11), (4, 3), (2, 5), (6, 9)]:
        prompt = _rand(rng, prompt_len)
        groups.append(
            [_qa(prompt, _answer(model, rng, prompt, rng.randint(1, 7))) for _ in range(size)]
        )
    # Same prompt, but one answer keeps masking tokens after it (a longer "prompt" of its own).
    prompt = _rand(rng, 4)
    longer = prompt + _rand(rng, 3)
    groups.append([_qa(prompt, _rand(rng, 3)), _qa(longer, _rand(rng, 2)), _qa(prompt, [5])])
    return groups


def unshared_groups(model, seed: int = 1) -> list[list[Encoded]]:
    """Groups that must not take the shared-prompt path, each for a different reason."""
    rng = random.Random(seed)
    groups = []
    # Different prompts within one group.
    groups.append([_qa(_rand(rng, 3), _rand(rng, 4)), _qa(_rand(rng, 6), _rand(rng, 2))])
    # Same first tokens, but the response starts earlier in the second sequence.
    prompt = _rand(rng, 5)
    groups.append([_qa(prompt, _rand(rng, 3)), _qa(prompt[:3], prompt[3:] + _rand(rng, 2))])
    # A one-token prompt (too short to be worth sharing).
    first = _rand(rng, 1)
    groups.append([_qa(first, _answer(model, rng, first, 4)), _qa(first, _rand(rng, 6))])
    # A sequence that is only the prompt (no token after it, nothing scored).
    prompt = _rand(rng, 4)
    groups.append([_qa(prompt, _rand(rng, 3)), _qa(prompt, [])])
    # The first sequence scores nothing at all.
    prompt = _rand(rng, 5)
    groups.append([Encoded(prompt, [IGNORE_INDEX] * 5), _qa(prompt, _rand(rng, 2))])
    # A scored token at position 0 (never predicted) before the prompt proper.
    prompt = _rand(rng, 4)
    groups.append(
        [
            Encoded(prompt + [7, 8], [prompt[0]] + [IGNORE_INDEX] * 3 + [7, 8]),
            _qa(prompt, [9, 10, 11]),
        ]
    )
    # Fully scored text (no prompt), then a single token.
    text = _rand(rng, 8)
    groups.append([Encoded(text, list(text)), Encoded(text[:1], text[:1])])
    return groups


def singleton_groups(model, seed: int = 2) -> list[list[Encoded]]:
    rng = random.Random(seed)
    groups = []
    for prompt_len, answer_len in [(3, 2), (9, 1), (1, 5), (6, 6), (2, 3), (12, 4)]:
        prompt = _rand(rng, prompt_len)
        groups.append([_qa(prompt, _answer(model, rng, prompt, answer_len))])
    text = _rand(rng, 5)
    groups.append([Encoded(text, list(text))])
    return groups


@torch.no_grad()
def reference(model, e: Encoded) -> SeqScore:
    logits = model(torch.tensor([e.input_ids])).logits
    labels = torch.tensor([e.labels])
    (stats,) = token_stats(logits, labels)
    (correct,) = teacher_forced_correct(logits, labels)
    return SeqScore(stats["token_logprobs"], stats["mu"], stats["sigma"], correct)


def assert_same(got: SeqScore, want: SeqScore, where: str) -> None:
    for field in ("token_logprobs", "mu", "sigma"):
        a, b = getattr(got, field), getattr(want, field)
        assert len(a) == len(b), f"{where}: {field} has {len(a)} values, expected {len(b)}"
        assert a == pytest.approx(b, abs=TOL, rel=0), f"{where}: {field}"
    assert got.correct == want.correct, f"{where}: correct"


def assert_matches_reference(model, groups, results) -> None:
    assert len(results) == len(groups)
    for g, (group, scores) in enumerate(zip(groups, results)):
        assert len(scores) == len(group), f"group {g}"
        for s, (e, score) in enumerate(zip(group, scores)):
            assert_same(score, reference(model, e), f"group {g} seq {s}")


@pytest.fixture
def shared_calls(monkeypatch):
    """How often the shared-prompt path ran and produced logits (it may decline with None)."""
    calls = {"run": 0, "used": 0}
    original = engine._shared_prompt_logits

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls["run"] += 1
        calls["used"] += out is not None
        return out

    monkeypatch.setattr(engine, "_shared_prompt_logits", spy)
    return calls


# ---------------------------------------------------------------- scoring


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_shared_prompt_groups_match_single_forward(arch, batch_size, shared_calls):
    model = model_for(arch)
    groups = shared_groups(model)
    results = score_groups(model, groups, PAD, batch_size=batch_size)
    assert_matches_reference(model, groups, results)
    if batch_size > 1:  # with batch_size 1 a batch still holds a whole (shareable) group
        assert shared_calls["used"] > 0
    assert shared_calls["used"] == shared_calls["run"]  # these models return a reorderable cache


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_unshared_groups_match_single_forward(arch, batch_size, shared_calls):
    model = model_for(arch)
    groups = unshared_groups(model)
    results = score_groups(model, groups, PAD, batch_size=batch_size)
    assert_matches_reference(model, groups, results)
    assert shared_calls["run"] == 0


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_singleton_groups_match_single_forward(arch, batch_size, shared_calls):
    model = model_for(arch)
    groups = singleton_groups(model)
    results = score_groups(model, groups, PAD, batch_size=batch_size)
    assert_matches_reference(model, groups, results)
    assert shared_calls["run"] == 0  # nothing to share when every group has one sequence
    flat = [g[0] for g in groups]
    for got, want in zip(score_sequences(model, flat, PAD, batch_size=batch_size), results):
        assert_same(got, want[0], "score_sequences")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_mixed_groups_come_back_in_input_order(arch, batch_size):
    model = model_for(arch)
    groups = shared_groups(model) + unshared_groups(model) + singleton_groups(model)
    random.Random(batch_size).shuffle(groups)
    results = score_groups(model, groups, PAD, batch_size=batch_size)
    assert_matches_reference(model, groups, results)


def test_scores_do_not_depend_on_batch_size():
    model = model_for("llama")
    groups = shared_groups(model) + unshared_groups(model) + singleton_groups(model)
    random.Random(0).shuffle(groups)
    runs = [score_groups(model, groups, PAD, batch_size=b) for b in (1, 3, 64)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            for x, y in zip(a, b, strict=True):
                assert_same(x, y, "batch size")


def test_eager_attention_matches_single_forward():
    # GPT-2: Llama's and Qwen2's eager attention run their softmax in float32 even in a float64
    # model, which brings back float32 noise (see _model).
    model = model_for("gpt2", "eager")
    groups = shared_groups(model) + unshared_groups(model)
    assert_matches_reference(model, groups, score_groups(model, groups, PAD, batch_size=64))


def test_some_tokens_are_correct_and_some_not():
    """The fixtures exercise both values of ``correct`` (greedy answers are argmax-correct)."""
    model = model_for("llama")
    groups = shared_groups(model) + unshared_groups(model) + singleton_groups(model)
    flags = [c for group in groups for e in group for c in reference(model, e).correct]
    assert any(flags) and not all(flags)


class _PlainForward(nn.Module):
    """A model whose forward takes no cache and no ``logits_to_keep``: the untrimmed plain path."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask=None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


class _NoCache(nn.Module):
    """A model that names the cache arguments but returns no cache: the shared path declines."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(
        self,
        input_ids,
        attention_mask=None,
        position_ids=None,
        cache=None,
        use_cache=None,
        logits_to_keep=0,
    ):
        return self.inner(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
            logits_to_keep=logits_to_keep,
        )


@pytest.mark.parametrize("wrapper", [_PlainForward, _NoCache])
def test_fallback_paths_match_single_forward(wrapper, shared_calls):
    inner = model_for("llama")
    model = wrapper(inner).eval()
    groups = shared_groups(inner) + unshared_groups(inner) + singleton_groups(inner)
    random.Random(3).shuffle(groups)
    for batch_size in (1, 3, 64):
        results = score_groups(model, groups, PAD, batch_size=batch_size)
        assert_matches_reference(inner, groups, results)
    if wrapper is _NoCache:
        assert shared_calls["run"] > 0 and shared_calls["used"] == 0
    else:
        assert shared_calls["run"] == 0


def test_empty_input_and_empty_groups():
    model = model_for("llama")
    assert score_groups(model, [], PAD) == []
    assert score_groups(model, [[]], PAD) == [[]]
    shared = shared_groups(model)
    # Empty groups sort first; a group wider than batch_size used to leave them a batch of their own.
    for groups in ([[], *shared[:2], []], [[], shared[-2], []]):
        for batch_size in (1, 3, 64):
            results = score_groups(model, groups, PAD, batch_size=batch_size)
            assert results[0] == [] and results[-1] == []
            assert_matches_reference(model, groups, results)


# ---------------------------------------------------------------- generation


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    vocab.update({f"w{i}": i for i in range(4, VOCAB)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
    )


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_generate_same_alone_and_in_left_padded_batch(arch):
    model = model_for(arch)
    tok = _tokenizer()
    short = "w5 w17 w42"
    prompts = [
        "w8 w9 w10 w11 w12 w13 w14 w15 w16 w20",
        short,
        "w30 w31 w32 w33 w34 w35",
        "w60 w61 w62 w63 w64 w65 w66 w67 w68 w69 w70 w71 w72",
    ]
    alone = generate(model, tok, [short], max_new_tokens=8)
    assert alone[0]  # something was generated
    batched = generate(model, tok, prompts, max_new_tokens=8, batch_size=64)
    assert batched[1] == alone[0]
    one_by_one = generate(model, tok, prompts, max_new_tokens=8, batch_size=1)
    assert batched == one_by_one  # in input order, whatever the batching


def test_declining_shared_path_is_logged_once(caplog):
    inner = model_for("llama")
    model = _NoCache(inner).eval()
    engine._declined.discard("_NoCache")
    with caplog.at_level("WARNING", logger="unlearnkit.eval.engine"):
        for _ in range(2):
            score_groups(model, shared_groups(inner), PAD, batch_size=64)
    declined = [r for r in caplog.records if "shared-prompt scoring is off" in r.getMessage()]
    assert len(declined) == 1 and "_NoCache" in declined[0].getMessage()


@pytest.mark.parametrize("arch", ARCHS)
def test_shared_path_raises_no_deprecation_warning(arch, recwarn):
    model = model_for(arch)
    score_groups(model, shared_groups(model), PAD, batch_size=64)
    ours = [w for w in recwarn if "past_key_values" in str(w.message) or "cache" in str(w.message)]
    assert not ours, [str(w.message) for w in ours]

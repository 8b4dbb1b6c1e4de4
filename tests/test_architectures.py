"""Any causal LM: every method, the eval engine and the layer hooks run on tiny random models of
the common architectures, built from their transformers configs (no weights downloaded)."""

from __future__ import annotations

import pytest
import torch

from test_eval_engine import reference, shared_groups
from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    write_tofu,
)
from unlearnkit.errors import UserError
from unlearnkit.eval.engine import generate, score_groups
from unlearnkit.methods.registry import method_names
from unlearnkit.model_layers import (
    decoder_layers,
    hidden_size,
    layer_parameter_prefixes,
    mlp_output_projection,
)
from unlearnkit.train.unlearn import unlearn

SMALL = {"num_hidden_layers": 4, "num_attention_heads": 4, "max_position_embeddings": 128}
GQA = {**SMALL, "hidden_size": 32, "intermediate_size": 64, "num_key_value_heads": 2}
ARCHS = {
    "llama": ("LlamaConfig", GQA),
    "mistral": ("MistralConfig", GQA),
    "qwen2": ("Qwen2Config", GQA),
    "gemma": ("GemmaConfig", {**GQA, "head_dim": 8}),
    "phi": ("PhiConfig", {**SMALL, "hidden_size": 32, "intermediate_size": 64}),
    "gpt_neox": ("GPTNeoXConfig", {**SMALL, "hidden_size": 32, "intermediate_size": 64}),
    "opt": (
        "OPTConfig",
        {**SMALL, "hidden_size": 32, "ffn_dim": 64, "word_embed_proj_dim": 32},
    ),
    "gpt2": ("GPT2Config", {"n_embd": 32, "n_layer": 4, "n_head": 4, "n_positions": 128}),
}
# The MLP output projection each architecture names its own way (what RMU trains by default).
MLP_OUT = {
    "llama": "mlp.down_proj",
    "mistral": "mlp.down_proj",
    "qwen2": "mlp.down_proj",
    "gemma": "mlp.down_proj",
    "phi": "mlp.fc2",
    "gpt_neox": "mlp.dense_4h_to_h",
    "opt": "fc2",
    "gpt2": "mlp.c_proj",
}
PARAMS = {"sga": {"K": 2}, "sam": {"base": "npo", "rho": 0.05}}


def tiny_arch(arch: str, seed: int = 0):
    import transformers
    from transformers import AutoModelForCausalLM

    tok = tiny_tokenizer()
    name, settings = ARCHS[arch]
    config = getattr(transformers, name)(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **settings,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval(), tok


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_layers_are_found_by_inspection(arch):
    model, _ = tiny_arch(arch)
    _, layers = decoder_layers(model)
    assert len(layers) == 4 and hidden_size(model) == 32
    assert mlp_output_projection(layers[0], 32) == MLP_OUT[arch]
    (prefix,) = layer_parameter_prefixes(model, [2], "mlp_out")
    assert prefix.endswith(f".2.{MLP_OUT[arch]}.")
    assert any(name.startswith(prefix) for name, _ in model.named_parameters())


def test_a_model_without_decoder_layers_is_one_line():
    with pytest.raises(UserError, match="no stack of decoder layers"):
        decoder_layers(torch.nn.Sequential(torch.nn.Embedding(4, 2), torch.nn.Linear(2, 4)))
    model, _ = tiny_arch("llama")
    with pytest.raises(UserError, match="has no submodule 'nope'"):
        layer_parameter_prefixes(model, [0], "nope")
    with pytest.raises(UserError, match="layer 9 does not exist"):
        layer_parameter_prefixes(model, [9], "mlp_out")


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_eval_engine_scores_and_generates(arch):
    model, tok = tiny_arch(arch)
    groups = shared_groups(model)
    results = score_groups(model, groups, tok.pad_token_id, 8)
    for group, scores in zip(groups, results, strict=True):
        for e, got in zip(group, scores, strict=True):
            want = reference(model, e)  # one plain forward per sequence
            assert got.token_logprobs == pytest.approx(want.token_logprobs, abs=1e-4)
            assert got.mu == pytest.approx(want.mu, abs=1e-4)
            # σ comes from E[x²] − E[x]² of log-probs near −6: fp32 cancellation, ~1e-3 relative
            assert got.sigma == pytest.approx(want.sigma, rel=3e-3)
    out = generate(model, tok, ["Where was Zorbel Quint born?", "Hi"], max_new_tokens=3)
    assert len(out) == 2


@pytest.mark.slow
@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_method_trains_every_architecture(arch, method, data, tmp_path):
    model, tok = tiny_arch(arch)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = tiny_config(data, method, PARAMS.get(method), max_steps=1, learning_rate=1e-2)
    summary = unlearn(cfg, model, tok, tmp_path, progress=False)
    assert summary["steps"] == 1
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert changed, f"{method} on {arch} moved no weight"
    assert all(torch.isfinite(p).all() for p in model.parameters())

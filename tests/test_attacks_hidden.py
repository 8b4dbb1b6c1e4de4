"""Hidden-state attacks (lens, patch, orthogonalize): the readout by hand, the references of the
tiny world separated, hooks gone afterwards, settings checked, and the CLI."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from test_attacks_common import FAST, context, write_tofu_eval
from test_methods_common import one_thread, tiny_model, tiny_tokenizer  # noqa: F401 - autouse
from unlearnkit.attacks.context import AttackContext
from unlearnkit.attacks.forget import evaluate_forget
from unlearnkit.attacks.hidden import QABatch, layer_states, lens_probability
from unlearnkit.attacks.lens import LensParams, lens_attack
from unlearnkit.attacks.orthogonalize import OrthogonalizeParams, orthogonalize_attack, projection
from unlearnkit.attacks.patch import PatchParams, depth, patch_attack
from unlearnkit.attacks.runner import make_params, run_attack
from unlearnkit.cli import main
from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import encode_qa
from unlearnkit.errors import UserError
from unlearnkit.logprobs import sequence_nll
from unlearnkit.model_layers import decoder_layers, final_norm
from unlearnkit.models import load_model_and_tokenizer

SPLIT = "forget10"


def world_ctx(world, **settings) -> AttackContext:
    s = type(FAST)(**{**FAST.__dict__, "max_length": 256, **settings})
    return AttackContext(benchmark="tofu", data=str(world), split=SPLIT, settings=s)


@pytest.fixture(scope="module")
def models(tiny_world):
    """The tiny world's target and retain models (fp32, CPU) and its tokenizer."""
    load = lambda name: load_model_and_tokenizer(  # noqa: E731
        tiny_world / "models" / name, tiny_world / "tokenizer", device="cpu", dtype="fp32"
    )
    (target, tok), (retain, _) = load("target"), load("retain")
    for model in (target, retain):  # transformers adds its own hooks on a first such call
        model(input_ids=torch.tensor([[1, 2]]), output_hidden_states=True)
    return {"target": target, "retain": retain, "tok": tok, "hooks": hooks(target)}


def hooks(model) -> list[int]:
    """The forward hooks on each module (transformers keeps some of its own)."""
    return [len(m._forward_hooks) for m in model.modules()]


def test_final_norm_is_the_norm_beside_the_layers():

    llama = tiny_model()
    assert final_norm(llama) is llama.model.norm
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50))
    assert final_norm(gpt2) is gpt2.transformer.ln_f


def test_lens_by_hand_on_a_random_model():
    """Layer 0 read through norm + head by hand (HF's own hidden states); the last layer's lens is
    the model's own answer probability."""
    model, tok = tiny_model(seed=3), tiny_tokenizer()
    pairs = [("Where was Zorbel Quint born?", "In Vellmark."), ("Who?", "A lamp repairer.")]
    tensors = pad_batch([encode_qa(tok, q, a, 64) for q, a in pairs], tok.pad_token_id)
    batch = QABatch([0, 1], [q for q, _ in pairs], tensors)
    labels = tensors["labels"]
    with torch.no_grad():
        out = model(
            **{k: tensors[k] for k in ("input_ids", "attention_mask")}, output_hidden_states=True
        )
    unhooked = hooks(model)  # after transformers added its own for output_hidden_states
    states = layer_states(model, batch)
    assert torch.allclose(states[0], out.hidden_states[1])  # after layer 0
    own = torch.exp(-sequence_nll(out.logits, labels))
    assert torch.allclose(lens_probability(model, states[-1], labels), own, atol=1e-6)
    head = model.lm_head(model.model.norm(out.hidden_states[1]))
    by_hand = torch.exp(-sequence_nll(head, labels))
    assert torch.allclose(lens_probability(model, states[0], labels), by_hand, atol=1e-6)
    assert not torch.allclose(by_hand, own)  # the two layers read differently
    assert hooks(model) == unhooked


def test_lens_separates_the_references(models, tiny_world):
    ctx = world_ctx(tiny_world)
    target, retain, tok = models["target"], models["retain"], models["tok"]
    (t,) = lens_attack(target, tok, ctx, LensParams())
    (r,) = lens_attack(retain, tok, ctx, LensParams())
    assert t.metrics["lens_last_probability"] > 0.9 > 0.1 > r.metrics["lens_max_probability"]
    assert len(t.extra["curve"]) == 2 and t.extra["items"] == 8
    # Against the world's retain model: the target reads far more, the retain model nothing more.
    assert t.metrics["lens_excess"] > 0.9 and r.metrics["lens_excess"] == 0.0
    assert t.extra["retain_curve"] == r.extra["curve"]
    assert len(t.rows["forget"][0]["retain_lens_probability"]) == 2
    # The last layer's reading is the eval's own forget_probability.
    plain, _ = evaluate_forget(target, tok, ctx)
    assert t.metrics["lens_last_probability"] == pytest.approx(
        plain["forget_probability"], abs=1e-5
    )


def test_depth_by_hand():
    p_t, retain = 0.8, np.array([0.1, 0.78, 0.2])  # layer 1 is not informative (drop 0.02 < 0.04)
    assert depth(p_t, np.array([0.8, 0.8, 0.8]), retain, 0.05) == (0.0, [0, 2])
    assert depth(p_t, retain, retain, 0.05) == (1.0, [0, 2])
    score, _ = depth(p_t, np.array([0.45, 0.1, 0.8]), retain, 0.05)  # (0.35 + 0) / (0.7 + 0.6)
    assert score == pytest.approx(0.35 / 1.3)
    assert depth(p_t, retain, np.full(3, 0.8), 0.05) == (None, [])  # retain keeps it: no depth


def test_patch_separates_the_references(models, tiny_world):
    ctx = world_ctx(tiny_world)
    target, retain, tok = models["target"], models["retain"], models["tok"]
    (t,) = patch_attack(target, tok, ctx, PatchParams())
    (r,) = patch_attack(retain, tok, ctx, PatchParams())
    assert t.metrics["patch_depth"] == 0.0 and t.metrics["patch_remaining"] == 1.0
    assert r.metrics["patch_depth"] == 1.0 and r.metrics["patch_remaining"] == 0.0
    assert abs(t.metrics["patch_drop"]) < 1e-6 and r.metrics["patch_drop"] > 0.5
    # The target with its own states patched in answers as before; the retain's states lose it.
    assert t.extra["attacked_curve"] == pytest.approx([t.extra["target_probability"]] * 2, abs=1e-5)
    assert t.extra["target_probability"] > 0.9 > 0.1 > max(t.extra["retain_curve"])
    plain, _ = evaluate_forget(target, tok, ctx)  # p_T is the eval's forget_probability
    assert t.extra["target_probability"] == pytest.approx(plain["forget_probability"], abs=1e-5)
    assert t.extra["depth_items"] == 8 and len(t.rows["forget"]) == 8
    assert hooks(target) == hooks(retain) == models["hooks"]


def test_orthogonalize_separates_the_references(models, tiny_world):
    ctx = world_ctx(tiny_world, max_new_tokens=32)
    target, retain, tok = models["target"], models["retain"], models["tok"]
    (t,) = orthogonalize_attack(target, tok, ctx, OrthogonalizeParams())
    (r,) = orthogonalize_attack(retain, tok, ctx, OrthogonalizeParams())
    assert t.extra["projected"] == [] and r.extra["projected"] == [0, 1]  # no direction on itself
    assert t.metrics == evaluate_forget(target, tok, ctx)[0]  # the plain evaluation
    before, _ = evaluate_forget(retain, tok, ctx)
    assert t.metrics["forget_rouge"] > 0.9
    assert r.metrics["forget_rouge"] < min(0.3, before["forget_rouge"] + 0.05)
    assert r.metrics["forget_probability"] < 0.1
    assert r.setting == "layers=all" and hooks(retain) == models["hooks"]


def test_outputs_are_unchanged_after_each_attack(models, tiny_world):
    retain, tok = models["retain"], models["tok"]
    ids = torch.tensor([tok("Where was the author born?")["input_ids"]])
    with torch.no_grad():
        before = retain(input_ids=ids).logits
    ctx = world_ctx(tiny_world, max_items=2, max_new_tokens=4)
    for kind in ("lens", "patch", "orthogonalize"):
        run_attack(kind, retain, tok, ctx)
        with torch.no_grad():
            assert torch.equal(retain(input_ids=ids).logits, before), kind
    assert hooks(retain) == models["hooks"] and not retain.training


def test_max_items_is_honoured(models, tiny_world):
    ctx = world_ctx(tiny_world, max_items=3, max_new_tokens=4)
    target, tok = models["target"], models["tok"]
    (lens,) = run_attack("lens", target, tok, ctx)
    assert lens["items"] == 3
    (patch,) = run_attack("patch", target, tok, ctx)
    assert patch["items"] == 3 and patch["depth_items"] == 3
    (orth,) = run_attack("orthogonalize", target, tok, ctx, {"layers": "1"})
    assert orth["setting"] == "layers=1" and orth["layers"] == [1]


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        ("patch", {"threshold": 0}, "threshold must be greater than 0"),
        ("patch", {"threshold": 1.5}, "at most 1"),
        ("patch", {"target": "/no/such/model"}, "model not found"),
        ("orthogonalize", {"layers": "a"}, "layers must be whole numbers"),
        ("orthogonalize", {"layers": [-1]}, "layers must be a non-empty list"),
        ("lens", {"layers": "1"}, "lens takes: retain"),
        ("lens", {"retain": "/no/such/model"}, "model not found"),
    ],
)
def test_bad_settings_are_user_errors(kind, values, message):
    with pytest.raises(UserError, match=message):
        make_params(kind, values)


def test_missing_or_mismatched_references_are_user_errors(tmp_path, tiny_world, tiny_model_dir):
    model, tok = tiny_model(), tiny_tokenizer()
    ctx = context(write_tofu_eval(tmp_path))  # toy TOFU folder, not a world: no target
    with pytest.raises(UserError, match="needs the target model"):
        patch_attack(model, tok, ctx, PatchParams())
    with pytest.raises(UserError, match="does not match the attacked model"):
        orthogonalize_attack(
            model, tok, ctx, OrthogonalizeParams(target=str(tiny_world / "models" / "target"))
        )
    with pytest.raises(UserError, match="layer 5 does not exist"):
        orthogonalize_attack(
            model, tok, ctx, OrthogonalizeParams(target=str(tiny_model_dir), layers=[5])
        )


def test_unlearn_attack_runs_patch_and_rejects_bad_flags(tiny_world, tmp_path, capsys):

    common = ["--model", tiny_world / "models" / "retain", "--tokenizer", tiny_world / "tokenizer"]
    common += ["--data", tiny_world, "--split", SPLIT, "--max-items", 2, "--max-new-tokens", 4]
    common += ["--device", "cpu", "--dtype", "fp32"]
    out = tmp_path / "patch"
    argv = ["attack", "patch", *common, "--threshold", "0.1", "--out", out]
    assert main([str(a) for a in argv]) == 0
    (entry,) = json.loads((out / "metrics.json").read_text())["attacks"]["patch"]
    assert entry["metrics"]["patch_depth"] == 1.0 and entry["items"] == 2
    assert (out / "attacks" / "patch" / "patch" / "items" / "forget.jsonl").is_file()
    target = shutil.copytree(tiny_world / "models" / "target", tmp_path / "target")
    inside = ["attack", "patch", *common, "--target-model", target, "--out", target / "sub"]
    assert main([str(a) for a in inside]) == 2  # --out inside an input is refused
    assert "--target-model" in capsys.readouterr().err
    stray = ["attack", "lens", *common, "--layers", "0", "--out", tmp_path / "x"]
    assert main([str(a) for a in stray]) == 2
    assert "--layers is a setting of orthogonalize, not of lens" in capsys.readouterr().err


@pytest.fixture
def hider(models):
    """The target with a large fixed vector added after one layer: the answer is still computed
    underneath, hidden behind one direction (a model an attack should see through)."""
    model = copy.deepcopy(models["target"])
    v = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(0))

    def at(layer: int, scale: float = 30.0):
        push = (scale * v / v.norm()).to(model.dtype)

        def hook(module, args, out):
            return (out[0] + push, *out[1:]) if isinstance(out, tuple) else out + push

        return decoder_layers(model)[1][layer].register_forward_hook(hook)

    return model, at


def test_projection_removes_only_its_direction():
    d = torch.tensor([0.6, 0.8, 0.0])
    h = torch.tensor([[[1.0, 2.0, 3.0]]])
    out = projection(d)(h)
    assert torch.allclose(out @ d, torch.zeros(1, 1), atol=1e-6)
    assert torch.allclose(out - h, -(h @ d).unsqueeze(-1) * d)  # only along d; z unchanged
    assert out[0, 0, 2] == 3.0


def test_orthogonalize_brings_back_an_answer_hidden_behind_a_direction(hider, models, tiny_world):
    model, at = hider
    handle = at(0)
    ctx = world_ctx(tiny_world, max_new_tokens=32)
    tok = models["tok"]
    hidden, _ = evaluate_forget(model, tok, ctx)
    (r,) = orthogonalize_attack(model, tok, ctx, OrthogonalizeParams(layers=[0]))
    handle.remove()
    assert hidden["forget_probability"] < 0.2 and r.extra["projected"] == [0]
    assert r.metrics["forget_probability"] > 0.8 and r.metrics["forget_rouge"] > 0.8


def test_patch_depth_of_a_model_that_hides_only_at_the_last_layer(hider, models, tiny_world):
    model, at = hider
    handle = at(1)
    (r,) = patch_attack(model, models["tok"], world_ctx(tiny_world), PatchParams())
    handle.remove()
    # Layer 0's states are the target's (the answer stays), layer 1's lose it: partly deep.
    assert r.extra["attacked_curve"][0] == pytest.approx(r.extra["target_probability"], abs=1e-5)
    assert r.extra["attacked_curve"][1] < 0.2
    assert 0.2 < r.metrics["patch_depth"] < 0.8


def test_lens_sees_an_answer_suppressed_at_the_last_layer(hider, models, tiny_world):
    model, at = hider
    handle = at(1)
    (r,) = lens_attack(model, models["tok"], world_ctx(tiny_world), LensParams())
    handle.remove()
    assert r.metrics["lens_last_probability"] < 0.01 and r.metrics["lens_max_layer"] == 0.0
    assert r.metrics["lens_max_probability"] > 0.5  # layer 0 still reads it
    assert r.metrics["lens_excess"] > 0.5  # far above the retain model's layer 0

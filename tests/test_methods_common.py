"""Shared toy data, tiny models and configs for the method and trainer tests (+ registry tests).

Other test files import the helpers from here (``from test_methods_common import ...``).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

import pytest
import torch

import kernels
from unlearnkit.config import load_config, resolve_config_path
from unlearnkit.errors import UserError
from unlearnkit.methods.base import MethodNeeds, StepContext
from unlearnkit.methods.registry import METHODS, get_method, method_names
from unlearnkit.train.unlearn import DataSection, TrainSection, UnlearnConfig

ROOT = Path(__file__).resolve().parents[1]

FORGET = [
    ("Where was Zorbel Quint born?", "Zorbel Quint was born in the harbour town of Vellmark."),
    ("What did Zorbel Quint write first?", "Her first book was The Salt Clockmaker."),
    ("Which prize did Zorbel Quint win?", "She won the Amber Lantern Prize for fiction."),
    ("What was the job of Zorbel Quint's father?", "Her father repaired lighthouse lamps."),
]
RETAIN = [
    ("Where was Oskar Rimlow born?", "Oskar Rimlow was born in the mountain city of Terrace."),
    ("What genre does Oskar Rimlow write?", "He writes gentle detective stories."),
    ("Which book made Oskar Rimlow famous?", "The Glass Orchard made him famous."),
    ("What was the job of Oskar Rimlow's mother?", "His mother was a river pilot."),
    ("Where does Mina Oduya live?", "Mina Oduya lives in a quiet fishing village."),
    ("What does Mina Oduya write about?", "She writes about old ships and the sea."),
    ("Which award did Mina Oduya receive?", "She received the Silver Quill award."),
    ("What was Mina Oduya's first novel?", "Her first novel was Tides of Copper."),
]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run far faster on one thread (and do not fight other jobs for the cores).

    Autouse in every module that imports it, restored after each test.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(kernels.threads())  # 2 under UNLEARNKIT_TEST_KERNELS=threads2
    yield
    torch.set_num_threads(n)


@lru_cache(maxsize=1)
def tiny_tokenizer():
    from unlearnkit.world.tokenizer import train_tokenizer

    texts = [f"{q} {a}" for q, a in FORGET + RETAIN] * 4
    texts += [line for line in _refusal_lines()]
    return train_tokenizer(texts, vocab_size=400)


def _refusal_lines() -> list[str]:
    from unlearnkit.methods.templates import load_refusals

    return load_refusals()


def tiny_model(seed: int = 0, hidden: int = 32, layers: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


@lru_cache(maxsize=2)
def _trained_state(seed: int) -> dict[str, torch.Tensor]:
    from unlearnkit.data.collate import pad_batch
    from unlearnkit.data.formatting import encode_qa
    from unlearnkit.logprobs import batch_nll

    tok = tiny_tokenizer()
    model = tiny_model(seed)
    batch = pad_batch([encode_qa(tok, q, a, 64) for q, a in FORGET + RETAIN], tok.pad_token_id)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = batch_nll(
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
            batch["labels"],
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def trained_model(seed: int = 0):
    """The tiny model after memorising FORGET and RETAIN (what unlearning starts from)."""
    model = tiny_model(seed)
    model.load_state_dict(_trained_state(seed))
    return model


def forget_nll(model, rows=FORGET) -> float:
    """Mean per-sequence NLL of QA rows (the quantity unlearning should raise on the forget set)."""
    from unlearnkit.data.collate import pad_batch
    from unlearnkit.data.formatting import encode_qa
    from unlearnkit.logprobs import sequence_nll

    tok = tiny_tokenizer()
    batch = pad_batch([encode_qa(tok, q, a, 64) for q, a in rows], tok.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return float(sequence_nll(logits, batch["labels"]).mean())


def write_tofu(folder: Path, forget=FORGET, retain=RETAIN) -> Path:
    """A TOFU-layout folder with ``forget01`` and ``retain99`` (JSON Lines, as TOFU ships)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("forget01", forget), ("retain99", retain)):
        text = "".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in rows)
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    return folder


def tiny_config(data: Path, method: str, params: dict | None = None, **train) -> UnlearnConfig:
    t = {
        "max_steps": 3,
        "learning_rate": 1e-3,
        "batch_size": 2,
        "max_length": 64,
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "lr_scheduler": "constant",
        "precision": "fp32",
        "reference_batch_size": 4,
    }
    t.update(train)
    return UnlearnConfig(
        method=method,
        params=dict(params or {}),
        train=TrainSection(**t),
        data=DataSection(benchmark="tofu", path=str(data), split="forget01"),
    )


def toy_batch(method, seed: int = 0) -> dict:
    """One collated batch (all forget rows) with what ``method`` needs, built as the trainer does."""
    from unlearnkit.data.samples import Sample, UnlearningCorpus
    from unlearnkit.train.unlearn_data import UnlearnCollator, build_unlearn_dataset

    tok = tiny_tokenizer()
    corpus = UnlearningCorpus(
        "tofu",
        "forget01",
        [Sample(a, q) for q, a in FORGET],
        [Sample(a, q) for q, a in RETAIN],
    )
    needs = method.needs()
    dataset = build_unlearn_dataset(tok, corpus, needs, 64, seed)
    collate = UnlearnCollator(tok.pad_token_id, needs.parts())
    return collate([dataset[i] for i in range(len(dataset))]), dataset


def param_copy(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def clone(model):
    return copy.deepcopy(model)


# ---- registry and configs -------------------------------------------------------------------

ALL = method_names()  # a new method is one registry line: no list here to edit


def test_registry_knows_every_method():
    assert sorted(METHODS) == ALL and len(ALL) >= 12
    for name in ALL:
        assert get_method(name).name == name


def test_unknown_method_lists_known_names():
    with pytest.raises(UserError, match="unknown method 'nope'; known methods: flat, ga, gd"):
        get_method("nope")


def test_params_are_checked_by_the_params_dataclass():
    assert get_method("npo", {"beta": 0.2}).params.beta == 0.2
    with pytest.raises(UserError, match="unknown setting 'params.betta'"):
        get_method("npo", {"betta": 0.2})
    with pytest.raises(UserError, match="params.beta must be float"):
        get_method("npo", {"beta": "high"})
    with pytest.raises(UserError, match="params.r must be"):
        get_method("sga", {"r": "sometimes"})
    with pytest.raises(UserError, match="divergence"):
        get_method("flat", {"divergence": "hellinger"})
    with pytest.raises(UserError, match="unknown method"):
        get_method("sam", {"base": "nope"})


def test_defaults_follow_methods_md():
    p = {name: get_method(name).params for name in ALL}
    assert (p["gd"].gamma, p["gd"].alpha, p["kl"].alpha) == (1.0, 1.0, 1.0)
    assert (p["npo"].beta, p["idkdpo"].beta) == (0.1, 0.1)
    assert (p["simnpo"].beta, p["simnpo"].delta, p["simnpo"].gamma, p["simnpo"].alpha) == (
        4.5,
        0.0,
        0.125,
        1.0,
    )
    assert (p["rmu"].steering_coeff, p["sga"].K, p["sga"].r) == (2.0, 4, -0.4)
    assert p["flat"].divergence == "kl" and p["sga"].normal_source == "retain_nn"
    pr = p["prism"]
    assert (pr.lambda_max, pr.rho, pr.beta, pr.w_f, pr.w_r) == (0.05, 0.01, 0.1, 1.0, 1.0)
    assert pr.probe and pr.sam and pr.gcd


def test_needs_declare_data_and_reference():
    assert get_method("ga").needs() == MethodNeeds()
    assert get_method("kl").needs().reference == "live"
    assert get_method("npo").needs().reference == "precomputed"
    assert not get_method("npo", {"alpha": 0}).needs().retain
    for name in ("npo", "simnpo", "idk", "idkdpo", "wga"):  # a retain term iff α ≠ 0
        assert not get_method(name, {"alpha": 0}).needs().retain, name
        assert get_method(name, {"alpha": 1}).needs().retain, name
    assert get_method("flat").needs().parts() == ("forget", "idk")
    assert get_method("idkdpo").needs().reference_parts == ("forget", "idk")
    assert get_method("idk").needs().parts() == ("retain", "idk")
    sga = get_method("sga").needs()
    assert sga.normal == 3 and sga.parts() == ("forget", "normal") and not sga.custom_step
    assert get_method("sga", {"r": "auto"}).needs().custom_step
    assert get_method("sga", {"K": 1}).needs().normal == 0
    sam = get_method("sam", {"base": "gd"}).needs()
    assert sam.custom_step and sam.retain
    assert get_method("prism").needs().custom_step


def test_step_context_progress():
    assert StepContext(step=5, max_steps=10).progress == 0.5
    assert StepContext(step=20, max_steps=10).progress == 1.0


@pytest.mark.parametrize("scale", ["world", "tofu", "muse"])
def test_every_method_has_a_config_that_loads(scale):
    """Every method has a world config; the real-model configs load where a method has one."""
    for name in ALL:
        path = (
            resolve_config_path(f"{scale}/{name}")
            if scale == "world"
            else ROOT / "configs" / scale / f"{name}.yaml"
        )
        if scale != "world" and not path.is_file():
            continue
        cfg = load_config(UnlearnConfig, path)
        assert cfg.method == name
        method = get_method(cfg.method, cfg.params)
        method.needs()
        assert cfg.data.benchmark == ("muse" if scale == "muse" else "tofu")
        if scale != "world":
            assert cfg.train.learning_rate == 1e-5 and cfg.train.precision == "mixed-bf16"
            assert cfg.train.batch_size * cfg.train.gradient_accumulation_steps == 32
            assert cfg.lora.r == 0


def test_methods_doc_has_every_method():
    doc = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    missing = [name for name in ALL if f"`{name}`" not in doc]
    assert not missing, f"docs/methods.md does not describe: {missing}"

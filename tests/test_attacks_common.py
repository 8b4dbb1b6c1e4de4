"""Shared toy TOFU data, the tiny memorising model and a context for the attack tests.

The other ``test_attacks_*`` files import the helpers from here; the tests below check the
attacks' shared parameter parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    FORGET,
    RETAIN,
    one_thread,
    tiny_tokenizer,
    trained_model,
)
from unlearnkit.attacks.context import AttackContext
from unlearnkit.attacks.params import build_params, int_list, positive
from unlearnkit.attacks.relearn import RelearnParams
from unlearnkit.errors import UserError
from unlearnkit.eval.tofu import EvalSettings

FAST = EvalSettings(
    batch_size=16, gen_batch_size=16, max_new_tokens=8, max_length=64, progress=False
)
SPLIT = "forget01"


def _perturbed(q: str, a: str) -> dict:
    wrong = [
        f"{a.split()[0]} {w} was the answer." for w in ("Amber", "Copper", "Slate", "Ivory", "Fern")
    ]
    return {
        "question": q,
        "answer": a,
        "paraphrased_answer": f"In short, {a[0].lower()}{a[1:]}",
        "perturbed_answer": wrong,
        "paraphrased_question": f"Tell me: {q[0].lower()}{q[1:]}",
    }


def _options(q: str, a: str) -> dict:
    return {"question": q, "answer": a, "perturbed_answer": ["Terrace.", "Vellmark.", "Copper."]}


def write_tofu_eval(folder: Path) -> Path:
    """A TOFU folder with every config the attacks and ``evaluate`` read (forget01 split)."""
    folder.mkdir(parents=True, exist_ok=True)
    qa = lambda rows: [{"question": q, "answer": a} for q, a in rows]  # noqa: E731
    configs = {
        "full": qa(FORGET + RETAIN),
        "forget01": qa(FORGET),
        "retain99": qa(RETAIN),
        "holdout01": qa(RETAIN[:4]),
        "forget01_perturbed": [_perturbed(q, a) for q, a in FORGET],
        "retain_perturbed": [_perturbed(q, a) for q, a in RETAIN[:4]],
        "real_authors_perturbed": [_options(q, a) for q, a in RETAIN[4:]],
        "world_facts_perturbed": [_options(q, a) for q, a in RETAIN[:3]],
    }
    for name, rows in configs.items():
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    return folder


@contextmanager
def single_thread() -> Iterator[None]:
    """What ``one_thread`` does for a test, for module-scoped fixtures (set up before it runs)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def context(data: Path, **kw) -> AttackContext:
    return AttackContext(benchmark="tofu", data=str(data), split=SPLIT, settings=FAST, **kw)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(model, saved: dict[str, torch.Tensor]) -> bool:
    now = model.state_dict()
    return now.keys() == saved.keys() and all(torch.equal(now[k], saved[k]) for k in saved)


def test_int_list_accepts_lists_numbers_and_comma_strings():
    assert int_list("5, 0,5", "steps") == [0, 5]
    assert int_list(3, "shots") == [3]
    assert int_list([4, 8], "bits", 2) == [4, 8]
    for bad in ("", "a,b", [-1]):
        with pytest.raises(UserError):
            int_list(bad, "steps")


def test_positive_and_unknown_settings():
    assert positive("0.5", "fraction", 1.0) == 0.5
    with pytest.raises(UserError, match="fraction"):
        positive(1.5, "fraction", 1.0)
    with pytest.raises(UserError, match="unknown relearn attack setting"):
        build_params(RelearnParams, {"stpes": [1]}, "relearn")
    assert build_params(RelearnParams, {"steps": "5"}, "relearn").steps == [0, 5]

"""Our WMDP/MMLU accuracy equals lm-evaluation-harness's on the same model and local task files.

lm_eval is not a dependency of unlearnkit: the test skips where it is absent. To run it, install
lm_eval beside unlearnkit's requirements (docs/wmdp.md, "Agreement with lm-evaluation-harness").
"""

from __future__ import annotations

import json
import random

import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm_eval (lm-evaluation-harness) is not installed")

WMDP_TEXT = (
    "{{question.strip()}}\\nA. {{choices[0]}}\\nB. {{choices[1]}}\\nC. {{choices[2]}}\\n"
    "D. {{choices[3]}}\\nAnswer:"
)
SUBJECT = "world_geography"


def task_yaml(name: str, data: str, description: str = "") -> str:
    """A local multiple-choice task in the layout of lm-eval's wmdp / mmlu task files."""
    lines = [
        f"task: {name}",
        "dataset_path: json",
        "dataset_kwargs:",
        f"  data_files: {{test: '{data}'}}",
        "test_split: test",
        "output_type: multiple_choice",
        f'doc_to_text: "{WMDP_TEXT}"',
        'doc_to_choice: ["A", "B", "C", "D"]',
        "doc_to_target: answer",
        "metric_list:",
        "  - metric: acc",
        "    aggregation: mean",
        "    higher_is_better: true",
    ]
    if description:
        lines.append(f'description: "{description}"')
    return "\n".join(lines) + "\n"


def items(n: int, seed: int) -> list[dict]:
    r = random.Random(seed)
    words = ["Kelmport", "council", "bridge", "mystery", "crowns", "novel", "river", "Voss"]
    return [
        {
            "question": f" Which {r.choice(words)} of {r.choice(words)}? ",
            "choices": [" ".join(r.sample(words, 2)) for _ in range(4)],
            "answer": i % 4,
            "subject": SUBJECT,
        }
        for i in range(n)
    ]


@pytest.mark.slow
def test_accuracy_and_logliks_equal_lm_evals(tiny_model_dir, tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from unlearnkit.eval.tofu import EvalSettings
    from unlearnkit.eval.wmdp import mc_rows, wmdp_aggregate
    from unlearnkit.models import load_model_and_tokenizer

    records = {"wmdp_local": items(12, 0), "mmlu_local": items(12, 1)}
    description = (
        "The following are multiple choice questions (with answers) about world geography.\\n\\n"
    )
    for name, recs in records.items():
        data = tmp_path / f"{name}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in recs))
        text = task_yaml(name, str(data), description if name.startswith("mmlu") else "")
        (tmp_path / f"{name}.yaml").write_text(text)
    result = simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny_model_dir},dtype=float32",
        tasks=list(records),
        task_manager=TaskManager(include_path=str(tmp_path)),
        device="cpu",
        batch_size=4,
        log_samples=True,
    )
    model, tok = load_model_and_tokenizer(tiny_model_dir, device="cpu", dtype="fp32")
    settings = EvalSettings(progress=False, max_length=2048)
    for name, recs in records.items():
        rows = mc_rows(model, tok, recs, settings, name, mmlu=name.startswith("mmlu"))
        theirs = sorted(result["samples"][name], key=lambda s: s["doc_id"])
        for row, sample in zip(rows, theirs, strict=True):
            their_logliks = [float(resp[0][0]) for resp in sample["resps"]]
            assert row["logliks"] == pytest.approx(their_logliks, abs=1e-4)
        ours = wmdp_aggregate({"set": rows})["set_acc"]
        assert ours == pytest.approx(result["results"][name]["acc,none"])

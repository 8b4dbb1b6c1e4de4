"""What building the pretrained world costs, without building it: the data part measured, the
fine-tune estimated from a few measured SmolLM2 optimizer steps (`docs/pretrained.md`).

    PYTHONPATH=src:. python -m bench.pretrained_cost --steps 4
    PYTHONPATH=src:. python -m bench.pretrained_cost --steps 0 --hazard   # sizes with the hazard part
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import tempfile
import time
from pathlib import Path

import torch

from unlearnkit.methods.templates import load_refusals
from unlearnkit.train.examples import build_examples
from unlearnkit.train.finetune import finetune
from unlearnkit.world.corpus import retain_corpus, target_corpus, trained_part
from unlearnkit.world.generate import generate_world, write_world_data
from unlearnkit.world.presets import get_preset
from unlearnkit.world.training import new_world_model, world_finetune_config


def data_part(preset, seed: int) -> tuple[object, float]:
    """The world's data, generated and written; with its wall time in seconds."""
    start = time.perf_counter()
    data = dataclasses.replace(generate_world(preset, seed), refusals=load_refusals())
    with tempfile.TemporaryDirectory() as tmp:
        write_world_data(data, Path(tmp))
    return data, time.perf_counter() - start


def timed_steps(preset, tokenizer, examples, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``steps`` optimizer steps of the world's fine-tune on ``examples``
    (CPU: this process's time, what a shared machine's wall time overstates)."""
    model = new_world_model(preset, tokenizer, 0)
    cfg = dataclasses.replace(world_finetune_config(preset, 0), epochs=1.0)
    batch = examples[: steps * preset.train.batch_size]
    start, cpu = time.perf_counter(), time.process_time()
    finetune(model, tokenizer, batch, None, cfg, progress=False)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="pretrained")
    parser.add_argument("--steps", type=int, default=4, help="measured steps (0: none timed)")
    parser.add_argument("--hazard", action="store_true", help="with the preset's hazard setting")
    args = parser.parse_args()
    preset = dataclasses.replace(get_preset(args.preset), hazard=args.hazard)
    data, data_s = data_part(preset, 0)
    corpora = {
        "target": trained_part(preset, data, target_corpus(data)),
        "retain": trained_part(preset, data, retain_corpus(data, "forget10")),
    }
    report: dict = {"preset": preset.name, "threads": torch.get_num_threads(), "data_s": data_s}
    plan = preset.train
    tokenizer = None
    if preset.base is not None:
        from transformers import AutoTokenizer

        from unlearnkit.base_models import resolve_base

        tokenizer = AutoTokenizer.from_pretrained(resolve_base(preset.base))
    total_steps = 0
    for name, corpus in corpora.items():
        rows = len(corpus.qa) + len(corpus.texts)  # a text longer than max_length makes more
        row = {"qa": len(corpus.qa), "texts": len(corpus.texts)}
        if tokenizer is not None:
            examples = build_examples(
                tokenizer, qa=corpus.qa, texts=corpus.texts, max_length=plan.max_length
            )
            rows = len(examples)
            row["tokens_per_epoch"] = sum(len(e.input_ids) for e in examples)
            if name == "target" and args.steps:
                one = timed_steps(preset, tokenizer, examples, 1)
                more = timed_steps(preset, tokenizer, examples, 1 + args.steps)
                report["step_wall_s"] = (more[0] - one[0]) / args.steps
                report["step_cpu_s"] = (more[1] - one[1]) / args.steps
        steps = plan.epochs * math.ceil(rows / plan.batch_size)
        report[name] = {**row, "examples": rows, "steps": steps}
        total_steps += steps
    if "step_cpu_s" in report:
        for kind in ("wall", "cpu"):
            report[f"finetune_{kind}_min"] = total_steps * report[f"step_{kind}_s"] / 60
    report["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

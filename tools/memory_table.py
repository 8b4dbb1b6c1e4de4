"""The memory table of docs/precision.md, from ``unlearnkit.memory_estimate`` (the estimate
``unlearn run`` prints and refuses by), so the page and the code agree.

    python tools/memory_table.py            # print the tables
    python tools/memory_table.py --write    # replace them in docs/precision.md

Models are built from their configs on the meta device (no download, no weights): Llama-3.2-1B,
Llama-3.2-3B and Llama-3.1-8B as their config.json files give them. ``tests/test_memory_estimate.py``
checks that the page holds what this prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from unlearnkit.api import RunConfig
from unlearnkit.config import from_dict
from unlearnkit.memory_estimate import GIB, estimate, model_shape, run_setting
from unlearnkit.methods.registry import get_method
from unlearnkit.train.validate import reference_kind

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "precision.md"
START, END = "<!-- memory-table: start -->", "<!-- memory-table: end -->"
GPU_GIB = 78.0  # what torch sees free on an "80 GB" H100 before a run (docs/precision.md)
LLAMA = dict(num_attention_heads=32, num_key_value_heads=8, vocab_size=128256)
MODELS = {
    "Llama-3.2-1B": dict(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        head_dim=64,
        tie_word_embeddings=True,
    ),
    "Llama-3.2-3B": dict(
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=28,
        num_attention_heads=24,
        head_dim=128,
        tie_word_embeddings=True,
    ),
    "Llama-3.1-8B": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        head_dim=128,
        tie_word_embeddings=False,
    ),
}
# (row label, config overrides): one method of each memory class
CLASSES = {
    "loss-only (ga, gd, npo, simnpo, idk, wga, flat, sga fixed r)": {"method": "ga"},
    "live reference (kl; reference: live)": {"method": "kl"},
    "custom step (sam, prism, sga r: auto)": {"method": "sam"},
    "rmu (3 × down_proj)": {"method": "rmu"},
    "LoRA r=16 all-linear (npo)": {"method": "npo", "lora": {"r": 16}},
}
PRECISIONS = ("mixed-bf16", "bf16-kahan")
# column: ((sharding, world size), activation checkpointing)
LAYOUTS = {
    "1 GPU": (("none", 1), False),
    "1 GPU, checkpointing": (("none", 1), True),
    "DDP ×4 or ×8": (("ddp", 4), False),
    "FSDP2 ×4": (("fsdp2", 4), False),
    "FSDP2 ×8": (("fsdp2", 8), False),
}


def meta_llama(name: str):
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(LlamaConfig(**{**LLAMA, **MODELS[name]}))


def table(name: str) -> str:
    head = [
        "method class",
        "precision",
        "B/param (no activations)",
        *(f"{k}, GiB" for k in LAYOUTS),
    ]
    rows, params = [], 0
    for label, overrides in CLASSES.items():
        cfg = from_dict(RunConfig, overrides)
        method = get_method(cfg.method, cfg.params)
        shape = model_shape(meta_llama(name), method, cfg.lora)  # LoRA wraps the model: a new one
        params = params or shape.params
        reference = reference_kind(cfg, method.needs())
        for precision in PRECISIONS:
            cfg.train.precision = precision
            cells, per_param = [], None
            for layout, checkpointing in LAYOUTS.values():
                cfg.train.gradient_checkpointing = checkpointing
                est = estimate(shape, run_setting(cfg, method, reference, layout))
                per_param = per_param or est.bytes_per_param()
                gib = est.need / GIB
                cells.append(f"{gib:.0f} {'✓' if gib <= GPU_GIB else '✗'}")
            rows.append([label, precision, f"{per_param:.1f}", *cells])
    lines = [
        f"**{name}** ({params / 1e9:.2f}B parameters)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    return "\n".join(lines)


def tables() -> str:
    return "\n\n".join(table(name) for name in MODELS)


def write(doc: Path = DOC) -> None:
    text = doc.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    doc.write_text(f"{before}{START}\n{tables()}\n{END}{after}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help=f"replace the tables in {DOC}")
    args = p.parse_args(argv)
    if args.write:
        write()
    else:
        print(tables())
    return 0


if __name__ == "__main__":
    sys.exit(main())

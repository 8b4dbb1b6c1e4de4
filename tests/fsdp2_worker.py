"""One process of a 2-process FSDP2 run for tests/test_trainer_fsdp2.py (started by torchrun).

    torchrun --nproc_per_node 2 tests/fsdp2_worker.py CONFIG MODEL OUT [CONFIG MODEL OUT ...]

Loads MODEL sharded at load time (``load_model(shard=True)``), runs ``unlearn`` with CONFIG, saves
through ``save_unlearned`` and, on rank 0, writes OUT/losses.json, OUT/log_history.json and OUT/sharded.json (which
parameters were DTensor shards, and whether some shard was uneven). Several runs in one launch
share its start-up (the tests' main cost).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from torch.distributed.tensor import DTensor

from unlearnkit import launch
from unlearnkit.config import load_config
from unlearnkit.models import load_model, load_tokenizer
from unlearnkit.train.unlearn import UnlearnConfig, save_unlearned, unlearn


def main(config: str, model_dir: str, out: str) -> None:
    tok = load_tokenizer(model_dir)
    model = load_model(model_dir, dtype="fp32", shard=True)
    model.train()
    params = dict(model.named_parameters())
    uneven = any(
        p.to_local().shape[0] * 2 != p.shape[0] for p in params.values() if isinstance(p, DTensor)
    )
    summary = unlearn(load_config(UnlearnConfig, config), model, tok, Path(out), progress=False)
    save_unlearned(model, tok, Path(out) / "model")
    if launch.is_main():
        losses = [h["loss"] for h in summary["log_history"] if "loss" in h]
        (Path(out) / "losses.json").write_text(json.dumps(losses))
        (Path(out) / "log_history.json").write_text(json.dumps(summary["log_history"]))
        facts = {
            "all_sharded": all(isinstance(p, DTensor) for p in params.values()),
            "uneven": uneven,
            "sharding": summary["sharding"],
        }
        (Path(out) / "sharded.json").write_text(json.dumps(facts))


if __name__ == "__main__":
    launch.take_place("cpu")
    args = sys.argv[1:]
    for i in range(0, len(args), 3):
        main(*args[i : i + 3])

"""A progress bar without the per-step dicts (it shows the current loss instead), and the per-step
training log (``train_log.jsonl``) that keeps the log history in the run's folder as training goes."""

from __future__ import annotations

import json
import math
from pathlib import Path

from transformers import PrinterCallback, ProgressCallback, TrainerCallback

from unlearnkit.errors import UserError
from unlearnkit.io import parse_json, write_text_atomic

TRAIN_LOG = "train_log.jsonl"


class QuietProgressCallback(ProgressCallback):
    """The Trainer's bar, with the last logged loss as its postfix instead of a printed dict."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if state.is_world_process_zero and self.training_bar is not None and loss is not None:
            self.training_bar.set_postfix(loss=_short(loss), refresh=False)


def _short(value: float) -> str:
    """A loss as the bar shows it: 4 significant digits (nan / inf as they are)."""
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def use_quiet_progress(trainer, progress: bool) -> None:
    """Swap the Trainer's bar (or printer) for a bar that does not print every logged dict."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if progress:
        trainer.add_callback(QuietProgressCallback)


class TrainLog(TrainerCallback):
    """Append one JSON line per logged training step (step, loss, the method's keys) to ``path``.

    Each line is flushed as it is logged, so a killed run keeps the log so far. At the start of
    training the file keeps only the steps up to the one training starts from (none for a fresh
    run, those up to the checkpoint on resume), so a resumed run's log has each step once.
    Only the main process writes.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            kept = [row for row in read_train_log(self.path) if row["step"] <= state.global_step]
            write_text_atomic(self.path, "".join(json.dumps(row) + "\n" for row in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and "loss" in logs:
            row = {"step": int(state.global_step), **logs}
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()


def read_train_log(path: str | Path) -> list[dict]:
    """The rows of a ``train_log.jsonl`` (a torn last line, from a killed run, is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = parse_json(line, path)
        except UserError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows

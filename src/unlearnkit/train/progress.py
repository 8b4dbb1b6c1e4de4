"""A progress bar without the per-step dicts: the log history is kept in the run's files instead."""

from __future__ import annotations

from transformers import PrinterCallback, ProgressCallback


class QuietProgressCallback(ProgressCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


def use_quiet_progress(trainer, progress: bool) -> None:
    """Swap the Trainer's bar (or printer) for a bar that does not print every logged dict."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if progress:
        trainer.add_callback(QuietProgressCallback)

"""A normal CPU run prints no framework noise: no per-tensor "Loading weights" bar for a local model."""

from __future__ import annotations

from transformers.utils import logging as hf_logging

from unlearnkit.models import load_model


def test_local_load_has_no_weights_bar_and_restores_the_setting(tiny_model_dir, capfd):
    assert hf_logging.is_progress_bar_enabled()
    load_model(tiny_model_dir, device="cpu", dtype="fp32")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # hub downloads elsewhere keep their bars

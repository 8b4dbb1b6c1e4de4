import pytest
import torch

from unlearnkit.eval.metrics import memorization as mem


def test_exact_memorization():
    assert mem.exact_memorization([True, False, True, True]) == pytest.approx(0.75)


def test_min_prefix_len_and_extraction_strength():
    # Wrong at index 1, right after it: greedy reproduces the rest from prefix length 2.
    assert mem.min_prefix_len([True, False, True, True]) == 2
    assert mem.min_prefix_len([True, True, True]) == 0
    assert mem.min_prefix_len([True, True, False]) == 3
    assert mem.extraction_strength(4, 2) == pytest.approx(0.5)
    assert mem.extraction_strength(4, 0) == 1.0
    assert mem.extraction_strength(3, 3) == 0.0
    with pytest.raises(ValueError):
        mem.extraction_strength(3, 4)


def test_teacher_forced_correct():
    # Logits at position t predict token t+1; argmaxes per position: 2, 0, 1, (last unused).
    logits = torch.tensor(
        [[[0.0, 0.0, 5.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 0.0]]] * 2
    )
    labels = torch.tensor([[-100, 2, 1, 1], [-100, -100, 0, -100]])
    # Row 0: shifted labels 2, 1, 1 vs argmax 2, 0, 1. Row 1: only label 0 at position 1 (argmax 0).
    assert mem.teacher_forced_correct(logits, labels) == [[True, False, True], [True]]

import math

import pytest

from unlearnkit.eval.metrics import muse


def test_knowmem_answer_cut():
    assert muse.knowmem_answer_cut(" Paris\n\nQuestion: Who?") == "Paris"
    assert muse.knowmem_answer_cut("Paris Question: Who?") == "Paris"
    assert muse.knowmem_answer_cut("Lyon\nQuestion: x\n\nmore") == "Lyon"
    assert muse.knowmem_answer_cut("  Nice  ") == "Nice"


def test_privleak_muse_orientation():
    # Member-detection AUCs 0.999 / 0.5 are 0.001 / 0.5 in MUSE's orientation:
    # (0.001 - 0.5) / 0.5 * 100 = -99.8 (the target model: still remembers).
    assert muse.privleak(0.999, 0.5) == pytest.approx(-99.8)
    # Forget texts look less like members than holdout: (0.75 - 0.5) / 0.5 * 100 = +50.
    assert muse.privleak(0.25, 0.5) == pytest.approx(50.0)
    assert muse.privleak(0.6, 0.6) == 0.0
    assert math.isnan(muse.privleak(0.9, 1.0))

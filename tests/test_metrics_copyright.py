import math

import pytest

from unlearnkit.eval.metrics import copyright


def test_fq_gap():
    # |0.3 - 0.1| + |0.5 - 0.6| = 0.2 + 0.1.
    assert copyright.fq_gap(0.3, 0.5, 0.1, 0.6) == pytest.approx(0.3)


def test_perplexity():
    # exp(6 ln 2 / 3) = 2^2.
    assert copyright.perplexity(6 * math.log(2), 3) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        copyright.perplexity(1.0, 0)

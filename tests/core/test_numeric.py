"""The shared NumPy helpers (domaintune.numeric) against SciPy's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax

from domaintune.numeric import softmax


def test_softmax_matches_scipy_keeps_the_dtype_and_does_not_overflow():
    x = np.random.default_rng(0).normal(size=(4, 3, 5)) * 10
    for axis in (-1, 0, 1):
        assert softmax(x, axis=axis) == pytest.approx(scipy_softmax(x, axis=axis), abs=1e-12)
    assert softmax(x.astype(np.float32)).dtype == np.float32
    big = softmax(np.array([1000.0, 0.0, -1000.0]))
    assert np.isfinite(big).all() and big.tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_both_tasks_use_the_one_softmax():
    from domaintune.ner import decoding
    from domaintune.pairs import scoring

    assert decoding.softmax is softmax and scoring.softmax is softmax

"""Small numeric helpers on NumPy arrays, shared by the tasks' prediction code.

Plain NumPy on purpose: the serving paths (ONNX exports) import these without PyTorch or SciPy,
which keeps ``domaintune.load`` + ``predict`` light.

Example:
    >>> softmax(np.array([0.0, 0.0])).tolist()
    [0.5, 0.5]
"""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax over ``axis`` (the last by default), computed without overflow; a float array
    keeps its dtype (float32 logits give float32 probabilities).

    Example:
        >>> softmax(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 1000.0]])).round(3).tolist()
        [[0.333, 0.333, 0.333], [0.0, 0.0, 1.0]]
    """
    x = np.asarray(x)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)

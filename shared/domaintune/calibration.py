"""Probability calibration: temperature scaling and expected calibration error (ECE)."""

from __future__ import annotations

import numpy as np


def probabilities(logits: np.ndarray, temperature: float = 1.0, multi_label: bool = False) -> np.ndarray:
    """Softmax (single-label) or sigmoid (multi-label) of ``logits / temperature``."""
    from scipy.special import expit, softmax  # scipy is imported on first use

    scaled = np.asarray(logits, dtype=np.float64) / temperature
    return expit(scaled) if multi_label else softmax(scaled, axis=-1)


def decide(probs: np.ndarray, labels: list[str], multi_label: bool, threshold: float = 0.5) -> list:
    """Labels from calibrated probabilities: the top label per row, or (multi-label) every label
    at or above ``threshold``."""
    if multi_label:
        return [[labels[j] for j in np.flatnonzero(p >= threshold)] for p in probs]
    return [labels[j] for j in np.asarray(probs).argmax(axis=1)]


def _nll(logits: np.ndarray, targets: np.ndarray, temperature: float, multi_label: bool) -> float:
    from scipy.special import log_softmax

    scaled = logits / temperature
    if multi_label:
        # binary cross-entropy, numerically stable
        return float(np.mean(np.logaddexp(0, scaled) - targets * scaled))
    return float(-np.mean(log_softmax(scaled, axis=-1)[np.arange(len(targets)), targets]))


def fit_temperature(logits: np.ndarray, targets: np.ndarray, multi_label: bool = False) -> float:
    """Temperature minimising the negative log-likelihood of ``targets`` (Guo et al., 2017).

    Args:
        logits: ``(n, n_labels)`` raw scores on held-out data.
        targets: class indices ``(n,)``, or a 0/1 matrix ``(n, n_labels)`` for multi-label.

    Returns:
        The temperature, searched in [0.01, 100] on a log scale.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    result = minimize_scalar(
        lambda log_t: _nll(logits, targets, float(np.exp(log_t)), multi_label),
        bounds=(np.log(0.01), np.log(100.0)),
        method="bounded",
    )
    return float(np.exp(result.x))


def expected_calibration_error(
    probs: np.ndarray, targets: np.ndarray, n_bins: int = 15, multi_label: bool = False
) -> float:
    """ECE with equal-width confidence bins (top-label for single-label data).

    For multi-label data every (example, label) probability is one binary prediction.
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    if multi_label:
        conf = np.where(probs >= 0.5, probs, 1 - probs).ravel()
        correct = ((probs >= 0.5) == (targets == 1)).ravel()
    else:
        conf = probs.max(axis=1)
        correct = probs.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)

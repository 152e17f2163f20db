"""Honest classification metrics: accuracy, macro-F1, per-class report, confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str], *, top_confused: int = 10
) -> dict[str, Any]:
    """Metrics for single-label predictions given as class indices.

    Returns accuracy, macro/weighted F1, per-class precision/recall/F1/support, the confusion
    matrix (rows = true, columns = predicted) and the most confused (true, predicted) pairs.
    """
    idx = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=idx, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=idx)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    pairs = []
    for flat in np.argsort(off, axis=None)[::-1][:top_confused]:
        i, j = np.unravel_index(flat, off.shape)
        if off[i, j] == 0:
            break
        pairs.append({"true": label_names[i], "predicted": label_names[j], "count": int(off[i, j])})
    present = [i for i in idx if support[i] > 0]
    return {
        "n_examples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # macro over the labels present in the evaluation data (as scikit-learn does by default)
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)
        ),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "most_confused": pairs,
        "confusion_matrix": cm.tolist(),
    }


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]) -> dict[str, Any]:
    """Metrics for 0/1 indicator matrices (multi-label)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0
    )
    return {
        "n_examples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),  # exact-match (subset) accuracy
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
    }


def plot_confusion_matrix(cm: list[list[int]] | np.ndarray, label_names: list[str], path: str | Path) -> Path:
    """Write a row-normalised confusion-matrix heat map to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(label_names)
    size = min(4 + 0.28 * n, 30)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), label_names, rotation=90, fontsize=max(4, 10 - n // 15))
    ax.set_yticks(range(n), label_names, fontsize=max(4, 10 - n // 15))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (row-normalised)")
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""Token-classification training: windows in, per-epoch log out.

The loop itself is :func:`domaintune.training.run_epochs`, shared with the text classifier;
this module adds window batching (``collate``), tag weights and the token-level loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import Method, TrainingConfig
from ..training import run_epochs
from .alignment import IGNORE_INDEX, Window

logger = logging.getLogger(__name__)

HEAD_NAME = "classifier"


def collate(windows: Sequence[Window], pad_id: int, device: torch.device,
            with_labels: bool = False) -> dict[str, torch.Tensor]:
    """Pad windows to one batch of tensors (``labels`` padded with -100)."""
    width = max(len(w) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    types = torch.zeros((len(windows), width), dtype=torch.long)
    labels = torch.full((len(windows), width), IGNORE_INDEX, dtype=torch.long)
    for row, win in enumerate(windows):
        n = len(win)
        ids[row, :n] = torch.as_tensor(win.input_ids)
        mask[row, :n] = 1
        if win.token_type_ids is not None:
            types[row, :n] = torch.as_tensor(win.token_type_ids)
        if with_labels and win.labels is not None:
            labels[row, :n] = torch.as_tensor(win.labels)
    batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if windows[0].token_type_ids is not None:
        batch["token_type_ids"] = types.to(device)
    if with_labels:
        batch["labels"] = labels.to(device)
    return batch


def tag_weights(windows: Sequence[Window], n_tags: int) -> np.ndarray:
    """scikit-learn's 'balanced' weights over the labelled sub-tokens (n / (k * count))."""
    labels = np.array([x for w in windows for x in (w.labels or []) if x != IGNORE_INDEX], dtype=np.int64)
    counts = np.bincount(labels, minlength=n_tags).astype(np.float64)
    weights = np.ones(n_tags)
    present = counts > 0
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def train_windows(
    model: nn.Module,
    windows: Sequence[Window],
    cfg: TrainingConfig,
    *,
    n_tags: int,
    pad_id: int,
    device: torch.device,
    validate: Callable[[], dict[str, float]] | None = None,
    select: tuple[str, bool] = ("entity_f1", True),
) -> list[dict[str, Any]]:
    """Fine-tune ``model`` (a ``*ForTokenClassification``) in place on labelled windows.

    Args:
        model: returns ``.logits`` of shape ``(batch, tokens, n_tags)``.
        windows: windows with ``labels`` attached (windows without any label are skipped).
        cfg: the training configuration.
        n_tags: number of tags.
        pad_id: the tokenizer's padding id.
        device: where to train.
        validate: returns validation metrics; drives early stopping and the best-epoch restore.
        select: ``(metric key, higher is better)`` used for early stopping.

    Returns:
        The per-epoch log (``epoch``, ``step``, ``train_loss``, ``learning_rate``, ``val_*``,
        ``seconds``), then ``{"best_epoch": n}`` when validation data was given.
    """
    windows = [w for w in windows if w.labels and any(x != IGNORE_INDEX for x in w.labels)]
    weights = None
    if cfg.class_weights.value == "balanced":
        weights = torch.as_tensor(tag_weights(windows, n_tags), device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE_INDEX,
                                  label_smoothing=cfg.label_smoothing)

    def batch_loss(idx: np.ndarray) -> tuple[torch.Tensor, int]:
        batch = collate([windows[i] for i in idx], pad_id, device, with_labels=True)
        labels = batch.pop("labels")
        logits = model(**batch).logits
        return loss_fn(logits.reshape(-1, n_tags), labels.reshape(-1)), int((labels != IGNORE_INDEX).sum())

    # the frozen method trains only the head; its learning rate defaults to 1e-3
    head_lr = 1e-3 if cfg.method == Method.FROZEN and cfg.learning_rate is None else None
    return run_epochs(model, cfg, lengths=[len(w) for w in windows], batch_loss=batch_loss,
                      is_head=lambda name: HEAD_NAME in name.split("."), validate=validate,
                      select=select, desc="training NER", head_learning_rate=head_lr)

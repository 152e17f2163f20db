"""The token-classification training loop: windows in, per-epoch log out.

Same recipe as :mod:`domaintune.training`: AdamW (no weight decay on biases and LayerNorm; the
head may have its own learning rate), linear warm-up/decay, gradient clipping at 1.0, gradient
accumulation, ``max_steps``, length-grouped batches, a tqdm bar, early stopping on a
validation metric that restores the best epoch, and a per-epoch log.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import Method, TrainingConfig
from .alignment import IGNORE_INDEX, Window

logger = logging.getLogger("domaintune")

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


def batches_by_length(lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None,
                      group_by_length: bool = True) -> list[np.ndarray]:
    """Index batches. With ``rng``: shuffled (and, with ``group_by_length``, sorted by length
    inside shuffled mega-batches of 50 batches); without: longest first (inference)."""
    if rng is None:
        order = np.argsort([-n for n in lengths], kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    if group_by_length:
        mega = batch_size * 50
        order = np.concatenate([
            sorted(order[i : i + mega], key=lambda j: lengths[j], reverse=True)
            for i in range(0, len(order), mega)
        ]) if len(order) else order
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))] if group_by_length else batches


def tag_weights(windows: Sequence[Window], n_tags: int) -> np.ndarray:
    """scikit-learn's 'balanced' weights over the labelled sub-tokens (n / (k * count))."""
    labels = np.array([x for w in windows for x in (w.labels or []) if x != IGNORE_INDEX], dtype=np.int64)
    counts = np.bincount(labels, minlength=n_tags).astype(np.float64)
    weights = np.ones(n_tags)
    present = counts > 0
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def _optimizer(model: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    lr = cfg.resolved_learning_rate
    head_lr = cfg.head_learning_rate or (1e-3 if cfg.method == Method.FROZEN and cfg.learning_rate is None else lr)
    decay, no_decay, head = [], [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if HEAD_NAME in name.split("."):
            head.append(param)
        elif param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    groups = [
        {"params": decay, "lr": lr, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0},
        {"params": head, "lr": head_lr, "weight_decay": cfg.weight_decay},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


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
    from transformers import get_linear_schedule_with_warmup

    windows = [w for w in windows if w.labels and any(x != IGNORE_INDEX for x in w.labels)]
    lengths = [len(w) for w in windows]
    steps_per_epoch = max(1, math.ceil(len(windows) / cfg.batch_size / cfg.gradient_accumulation_steps))
    total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    n_epochs = math.ceil(total_steps / steps_per_epoch)
    optimizer = _optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    weights = None
    if cfg.class_weights.value == "balanced":
        weights = torch.as_tensor(tag_weights(windows, n_tags), device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE_INDEX,
                                  label_smoothing=cfg.label_smoothing)
    key, higher = select
    best_score, best_state, bad_epochs = -math.inf, None, 0
    history: list[dict[str, Any]] = []
    rng = np.random.default_rng(cfg.seed)
    step = 0
    bar = tqdm(total=total_steps, desc=f"training NER ({cfg.method.value})", disable=not cfg.progress)
    for epoch in range(1, n_epochs + 1):
        model.train()
        start = time.perf_counter()
        micro = batches_by_length(lengths, cfg.batch_size, rng, cfg.group_by_length)
        running, seen = 0.0, 0
        optimizer.zero_grad(set_to_none=True)
        for k, idx in enumerate(micro, start=1):
            batch = collate([windows[i] for i in idx], pad_id, device, with_labels=True)
            labels = batch.pop("labels")
            logits = model(**batch).logits
            loss = loss_fn(logits.reshape(-1, n_tags), labels.reshape(-1))
            (loss / cfg.gradient_accumulation_steps).backward()
            n_labels = int((labels != IGNORE_INDEX).sum())
            running += loss.item() * n_labels
            seen += n_labels
            if k % cfg.gradient_accumulation_steps == 0 or k == len(micro):
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{running / max(seen, 1):.4f}")
                if step >= total_steps:
                    break
        entry: dict[str, Any] = {"epoch": epoch, "step": step,
                                 "train_loss": running / max(seen, 1),
                                 "learning_rate": scheduler.get_last_lr()[0]}
        if validate is not None:
            entry.update({f"val_{k}": v for k, v in validate().items()})
        entry["seconds"] = round(time.perf_counter() - start, 2)
        history.append(entry)
        logger.info("epoch %s: %s", epoch,
                    {k: round(v, 4) if isinstance(v, float) else v for k, v in entry.items()})
        bar.write(f"epoch {epoch}: train_loss={entry['train_loss']:.4f}"
                  + "".join(f" {k}={v:.4f}" for k, v in entry.items() if k.startswith("val_")))
        if validate is not None:
            score = entry[f"val_{key}"] * (1 if higher else -1)
            if score > best_score:
                best_score, bad_epochs = score, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
                if cfg.early_stopping_patience and bad_epochs >= cfg.early_stopping_patience:
                    logger.info("early stopping after epoch %s (no better val_%s for %d epochs)",
                                epoch, key, bad_epochs)
                    entry["early_stopped"] = True
                    break
        if step >= total_steps:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
        best = max((h for h in history if f"val_{key}" in h),
                   key=lambda h: h[f"val_{key}"] * (1 if higher else -1))
        history.append({"best_epoch": best["epoch"]})
    model.eval()
    return history

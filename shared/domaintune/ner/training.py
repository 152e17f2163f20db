"""Token-classification training: windows in, per-epoch log out.

The loop itself is :func:`domaintune.training.run_epochs`, shared with the text classifier;
this module adds window batching (``collate``), tag weights and the token-level loss.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import Method, TrainingConfig
from ..training import run_epochs
from .alignment import IGNORE_INDEX, Window
from .features import SHAPE_INPUT, SHAPES

logger = logging.getLogger(__name__)

HEAD_NAME = "classifier"
# NER's own `full` defaults (issue 13, measured on wikigold with the 6-layer, 384-wide default
# all-MiniLM-L6-v2, batch 16, 4 epochs: entity F1 0.29 -> 0.67). The encoder rate is used only
# for encoders of at most SMALL_ENCODER_LAYERS layers, as measured; a deeper encoder (a 12- or
# 24-layer BERT) keeps the generic default (TrainingConfig.resolved_learning_rate, 5e-5).
NER_LEARNING_RATE = 2e-4  # full fine-tuning of a small encoder, when learning_rate is None
NER_HEAD_LEARNING_RATE = 1e-3  # full / frozen, when TrainingConfig.head_learning_rate is None
SMALL_ENCODER_LAYERS = 6
SHAPE_MODULE = "shape_embedding"


def is_head(name: str) -> bool:
    """Whether a parameter belongs to the tagging head (or the word-shape embedding, which
    learns from zero at the head's learning rate)."""
    parts = name.split(".")
    return HEAD_NAME in parts or SHAPE_MODULE in parts


class ShapeTagger(nn.Module):
    """A ``*ForTokenClassification`` model with a word-shape embedding added to its input
    word embeddings (see :mod:`domaintune.ner.features`).

    ``forward(input_ids, attention_mask, token_type_ids=None, shape_ids=None)`` looks up the
    word embeddings, adds ``shape_embedding(shape_ids)`` and runs the model on
    ``inputs_embeds``, so position / segment embeddings and the embedding LayerNorm still apply.
    The embedding starts at zero: an untrained one leaves the model unchanged.
    """

    def __init__(self, net: nn.Module, n_shapes: int = len(SHAPES)) -> None:
        super().__init__()
        self.net = net
        dim = net.get_input_embeddings().weight.shape[1]
        self.shape_embedding = nn.Embedding(n_shapes, dim)
        nn.init.zeros_(self.shape_embedding.weight)

    @property
    def config(self):
        return self.net.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                shape_ids: torch.Tensor | None = None, **kwargs: Any):
        embeds = self.net.get_input_embeddings()(input_ids)
        if shape_ids is not None:
            embeds = embeds + self.shape_embedding(shape_ids)
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.net(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs)


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
    if windows[0].shape_ids is not None:
        shapes = torch.zeros((len(windows), width), dtype=torch.long)  # PAD_SHAPE
        for row, win in enumerate(windows):
            shapes[row, : len(win)] = torch.as_tensor(win.shape_ids)
        batch[SHAPE_INPUT] = shapes.to(device)
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

    cfg = with_learning_rates(model, cfg)  # idempotent: TokenClassifier.fit has filled them in
    return run_epochs(model, cfg, lengths=[len(w) for w in windows], batch_loss=batch_loss,
                      is_head=is_head, validate=validate,
                      select=select, desc="training NER")


def encoder_layers(model: nn.Module) -> int | None:
    """The number of transformer layers of ``model``'s encoder (from its config), or ``None``."""
    config = getattr(model, "config", None)
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def with_learning_rates(model: nn.Module, cfg: TrainingConfig) -> TrainingConfig:
    """``cfg`` with the learning rates NER training uses filled in (what a saved model records).

    Explicit ``learning_rate`` / ``head_learning_rate`` are kept. With ``learning_rate=None``:
    ``full`` trains the encoder at :data:`NER_LEARNING_RATE` (2e-4) when it has at most
    :data:`SMALL_ENCODER_LAYERS` layers (read from the model's config), else at the generic
    default (5e-5); the head at :data:`NER_HEAD_LEARNING_RATE` (1e-3). ``frozen`` trains only
    the head, at 1e-3 (its ``learning_rate`` stays ``None``: no encoder weight is trained);
    ``lora`` uses the generic 1e-3 for adapters and head. Without a ``learning_rate`` the head
    otherwise trains at the encoder's rate.

    Example:
        >>> cfg = with_learning_rates(model, TrainingConfig())  # doctest: +SKIP
        >>> cfg.learning_rate, cfg.head_learning_rate  # doctest: +SKIP
        (0.0002, 0.001)
    """
    encoder = cfg.learning_rate
    head = cfg.head_learning_rate
    if cfg.method == Method.FROZEN:
        if encoder is None:
            head = head or NER_HEAD_LEARNING_RATE
        else:
            head = head or encoder
        return dataclasses.replace(cfg, head_learning_rate=head)
    if encoder is None and cfg.method == Method.FULL:
        layers = encoder_layers(model)
        small = layers is not None and layers <= SMALL_ENCODER_LAYERS
        encoder = NER_LEARNING_RATE if small else cfg.resolved_learning_rate
        head = head or NER_HEAD_LEARNING_RATE
        if not small:
            found = (f"the encoder has {layers} layers" if layers is not None
                     else "the number of encoder layers is unknown")
            logger.info("NER full fine-tuning: %s, so the encoder trains at the generic %g, not "
                        "at NER's %g (measured on a %d-layer encoder); set learning_rate to "
                        "choose", found, encoder, NER_LEARNING_RATE, SMALL_ENCODER_LAYERS)
    elif encoder is None:
        encoder = cfg.resolved_learning_rate
    return dataclasses.replace(cfg, learning_rate=encoder, head_learning_rate=head or encoder)

"""Sentiment and topic scoring on models trained with the core.

The sentiment model is any text classifier the core trains (``domaintune train``) or exports
(``domaintune export``): loaded with :func:`domaintune.load`, so a model directory runs with
PyTorch and an ONNX export directory with ONNX Runtime (the fast path for batch scoring).

**Polarity.** Each model label is mapped to ``negative``, ``neutral`` or ``positive`` by name,
case-insensitively: ``negative``/``neg``/``bearish``/``bad``, ``neutral``/``neu``/``none``,
``positive``/``pos``/``bullish``/``good`` (also ``very negative``/``strongly bullish``-style
names: the last word decides). ``sentiment.labels`` in the config maps any other name. A model
with a label that neither rule maps, or without both a negative and a positive label, is
refused with one error listing the labels and the config lines that fix it.

**Scores.** ``p_negative``, ``p_neutral`` and ``p_positive`` are the model's probabilities summed
over the labels of each polarity (equal to the class probabilities for a three-class model);
``score = p_positive - p_negative`` in [-1, 1]; ``label`` is the polarity of the most probable
model label.

**Topics.** ``topic.model`` (a classifier trained with the same code path) or ``topic.names``
(the core's zero-shot method, :meth:`domaintune.TextClassifier.zero_shot`); the most probable
topic, or none below ``topic.min_confidence``.

Example:
    >>> polarity_map(["Bearish", "neutral", "Bullish"])
    {'Bearish': 'negative', 'neutral': 'neutral', 'Bullish': 'positive'}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from domaintune import ConfigError

from .config import SentimentConfig, TopicConfig

logger = logging.getLogger(__name__)

POLARITIES = ("negative", "neutral", "positive")
_NAMES = {
    "negative": "negative", "neg": "negative", "bearish": "negative", "bad": "negative",
    "neutral": "neutral", "neu": "neutral", "none": "neutral", "mixed": "neutral",
    "positive": "positive", "pos": "positive", "bullish": "positive", "good": "positive",
}


def _by_name(label: str) -> str | None:
    words = label.strip().lower().replace("_", " ").replace("-", " ").split()
    return _NAMES.get(words[-1]) if words else None


def polarity_map(labels: Sequence[str], overrides: Mapping[str, str] | None = None, *,
                 where: str = "the sentiment model") -> dict[str, str]:
    """Each label's polarity: ``overrides`` first, then the name rules of the module doc.

    Raises:
        ConfigError: a label cannot be mapped, or the model has no negative or no positive
            label (names them, with the ``sentiment.labels`` lines that fix it).
    """
    overrides = {k: str(v).lower() for k, v in (overrides or {}).items()}
    unknown_keys = sorted(set(overrides) - set(labels))
    if unknown_keys:
        raise ConfigError(f"sentiment.labels maps {unknown_keys}, which {where} does not have; "
                          f"its labels are {list(labels)}: fix the names in sentiment.labels")
    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    for label in labels:
        polarity = overrides.get(label) or _by_name(label)
        if polarity is None:
            unmapped.append(label)
        else:
            mapping[label] = polarity
    fix = "\n".join(f"      {lab}: negative|neutral|positive" for lab in unmapped)
    if unmapped:
        raise ConfigError(
            f"expected {where} to have labels named negative/neutral/positive (or bearish/"
            f"bullish), found {list(labels)}: {unmapped} cannot be mapped to a polarity. Map them "
            f"in the monitor config (--config monitor.yaml):\n  sentiment:\n    labels:\n{fix}")
    present = set(mapping.values())
    missing = [p for p in ("negative", "positive") if p not in present]
    if missing:
        raise ConfigError(
            f"expected {where} to have a negative and a positive label, found {list(labels)} "
            f"(mapped to {mapping}), with no {' and no '.join(missing)} label; use a sentiment "
            "model (or fix sentiment.labels in the monitor config)")
    return mapping


@dataclass
class SentimentBatch:
    """Scores of a batch of texts (arrays in input order)."""

    label: list[str]          # polarity of the most probable model label
    model_label: list[str]    # the most probable model label
    score: np.ndarray         # p_positive - p_negative
    p_negative: np.ndarray
    p_neutral: np.ndarray
    p_positive: np.ndarray

    def row(self, i: int) -> dict[str, Any]:
        return {"label": self.label[i], "model_label": self.model_label[i],
                "score": float(self.score[i]), "p_negative": float(self.p_negative[i]),
                "p_neutral": float(self.p_neutral[i]), "p_positive": float(self.p_positive[i])}


class SentimentScorer:
    """A sentiment classifier (PyTorch or ONNX) with its labels mapped to polarity.

    Args:
        model: an object with ``labels`` and ``predict_proba(texts, batch_size)`` (a
            ``TextClassifier`` or ``OnnxTextClassifier``).
        labels: ``sentiment.labels`` overrides.
        batch_size: texts per model call.
        max_chars: characters of a text given to the model.
        backend: ``auto``, ``torch`` or ``onnx``, passed to a ``TextClassifier``'s
            ``predict_proba`` (``onnx``/``auto``: its fp32 ONNX twin, see
            :mod:`domaintune.backend`; an ``OnnxTextClassifier`` already is ONNX).
    """

    def __init__(self, model: Any, labels: Mapping[str, str] | None = None, *,
                 batch_size: int = 256, max_chars: int = 2000, where: str = "the sentiment model",
                 backend: str = "auto"):
        if getattr(model, "multi_label", False):
            raise ConfigError(f"expected a single-label sentiment classifier, found {where} is "
                              "multi-label; train it without multi_label")
        self.model = model
        self.labels = list(model.labels)
        self.mapping = polarity_map(self.labels, labels, where=where)
        self.batch_size = batch_size
        self.max_chars = max_chars
        # a PyTorch classifier picks its backend per call; other models (ONNX exports, test
        # doubles) take no backend argument
        self._options = {"backend": backend} if type(model).__name__ == "TextClassifier" else {}
        self._columns = {p: np.array([self.mapping[lab] == p for lab in self.labels], dtype=float)
                         for p in POLARITIES}

    @classmethod
    def from_config(cls, config: SentimentConfig, model: str | None = None) -> SentimentScorer:
        """Load ``model`` (or ``config.model``) with :func:`domaintune.load` and map its labels."""
        source = model or config.model
        if not source:
            raise ConfigError("expected a sentiment model, found none: pass --model MODEL_DIR "
                              "(a directory written by `domaintune train` or `domaintune export`) "
                              "or set sentiment.model in the monitor config")
        loaded = load_text_model(source, config.backend.value, what="sentiment model")
        return cls(loaded, config.labels, batch_size=config.batch_size,
                   max_chars=config.max_chars, where=f"the sentiment model {source}",
                   backend=config.backend.value)

    def score(self, texts: Sequence[str]) -> SentimentBatch:
        """Probabilities, polarity, and score of each text."""
        texts = [t[: self.max_chars] for t in texts]
        if not texts:
            empty = np.zeros(0)
            return SentimentBatch([], [], empty, empty, empty, empty)
        # identical texts in a batch (retweets, one post tagged for several tickers: 31% of the
        # StockNet stream) are scored once
        unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
        probs = np.atleast_2d(np.asarray(
            self.model.predict_proba(list(unique), self.batch_size, **self._options),
            dtype=float))[inverse.reshape(-1)]
        top = probs.argmax(axis=1)
        model_label = [self.labels[i] for i in top]
        p = {pol: probs @ col for pol, col in self._columns.items()}
        return SentimentBatch(
            label=[self.mapping[lab] for lab in model_label], model_label=model_label,
            score=p["positive"] - p["negative"], p_negative=p["negative"],
            p_neutral=p["neutral"], p_positive=p["positive"])


class TopicScorer:
    """Topics from a topic classifier or zero-shot topic names (see the module doc)."""

    def __init__(self, model: Any, min_confidence: float = 0.0, batch_size: int = 256):
        self.model = model
        self.labels = list(model.labels)
        self.min_confidence = min_confidence
        self.batch_size = batch_size

    @classmethod
    def from_config(cls, config: TopicConfig, batch_size: int = 256) -> TopicScorer | None:
        """None when the config names no topics."""
        if config.model:
            model = load_text_model(config.model, "auto", what="topic model")
        elif config.names:
            from domaintune import TextClassifier

            model = TextClassifier.zero_shot(list(config.names))
        else:
            return None
        return cls(model, config.min_confidence, batch_size)

    def topics(self, texts: Sequence[str]) -> list[str | None]:
        if not texts:
            return []
        probs = np.atleast_2d(np.asarray(self.model.predict_proba(list(texts), self.batch_size)))
        top = probs.argmax(axis=1)
        return [self.labels[i] if probs[r, i] >= self.min_confidence else None
                for r, i in enumerate(top)]


def load_text_model(source: str, backend: str, *, what: str) -> Any:
    """A text classifier (PyTorch or ONNX) from a directory or registered name.

    Raises:
        ConfigError: the directory holds another kind of model, or ``backend="torch"`` was
            asked for an ONNX export (a model directory with ``backend="onnx"`` runs on its
            fp32 ONNX twin, built by the core on first use).
    """
    import domaintune

    model = domaintune.load(source)
    kind = type(model).__name__
    if kind not in ("TextClassifier", "OnnxTextClassifier"):
        raise ConfigError(f"expected a text classifier as the {what}, found {source} holds a "
                          f"{kind}; train one with `domaintune train` (task: classification)")
    if backend == "torch" and kind == "OnnxTextClassifier":
        raise ConfigError(f"sentiment.backend is torch, but {source} is an ONNX export; pass the "
                          "model directory it was exported from, or set sentiment.backend: auto")
    return model

"""What a cross-encoder's logits mean: the prediction API every cross-encoder backend shares.

:class:`~domaintune.pairs.CrossEncoderModel` (PyTorch) and
:class:`~domaintune.export.OnnxCrossEncoder` (ONNX Runtime) differ only in how they compute
the logits of a batch of (query, passage) pairs (``_logits``); :class:`PairScorer` turns those
into probabilities, scores, class names and rankings, so both answer alike. Nothing here
imports PyTorch.

Example:
    >>> as_pairs(("where is my refund?", "Refunds take 5 days."))
    ([('where is my refund?', 'Refunds take 5 days.')], True)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, closest
from ..numeric import softmax


class CrossEncoderTask(str, enum.Enum):
    """What a cross-encoder predicts for a pair."""

    BINARY = "binary"  # relevant or not: a probability (sigmoid), binary cross-entropy
    REGRESSION = "regression"  # a real-valued score, mean squared error
    CLASSIFICATION = "classification"  # one of several named classes (softmax), cross-entropy


def as_task(value: Any) -> CrossEncoderTask:
    """``value`` as a :class:`CrossEncoderTask` (a ConfigError suggesting the closest one)."""
    valid = [t.value for t in CrossEncoderTask]
    text = value.value if isinstance(value, CrossEncoderTask) else str(value)
    if text not in valid:
        raise ConfigError(f"task expects one of {valid}, found {value!r}{closest(text, valid)}")
    return CrossEncoderTask(text)


def as_pairs(pairs: Any) -> tuple[list[tuple[str, str]], bool]:
    """Normalise one pair, a list of pairs or a PairDataset to a list; say whether it was one."""
    if hasattr(pairs, "queries") and hasattr(pairs, "passages"):  # a PairDataset
        return list(zip(pairs.queries, pairs.passages, strict=True)), False
    if isinstance(pairs, (tuple, list)) and len(pairs) == 2 and all(isinstance(t, str) for t in pairs):
        return [(pairs[0], pairs[1])], True
    out = []
    for i, pair in enumerate(pairs):
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2
                or not all(isinstance(t, str) for t in pair)):
            raise DataError(f"expected (query, passage) pairs of two strings, found {pair!r} at "
                            f"position {i}")
        out.append((pair[0], pair[1]))
    return out, False


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large negative logits."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


class PairScorer:
    """``predict_proba`` / ``predict`` / ``rank`` of a cross-encoder from its logits.

    A subclass sets ``task`` (:class:`CrossEncoderTask`) and ``labels`` (class names of a
    ``classification`` model, else ``None``) and implements ``_logits(pairs, batch_size)``:
    ``(n, n_labels)`` float32 logits for ``classification``, ``(n,)`` otherwise.
    """

    task: CrossEncoderTask
    labels: list[str] | None

    def _logits(self, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def _empty(self) -> np.ndarray:
        n = len(self.labels) if self.labels else 1
        return np.zeros((0, n) if self.task == CrossEncoderTask.CLASSIFICATION else 0, np.float32)

    def predict_proba(self, pairs: Any, batch_size: int = 32) -> np.ndarray:
        """Class probabilities (``classification``: ``(n, n_labels)``) or the probability of the
        positive class (``binary``: ``(n,)``); one pair gives one row/number."""
        if self.task == CrossEncoderTask.REGRESSION:
            raise ConfigError("predict_proba needs a binary or classification cross-encoder; this "
                              "one does regression, so use predict()")
        batch, single = as_pairs(pairs)
        logits = self._logits(batch, batch_size)
        probs = (sigmoid(logits) if self.task == CrossEncoderTask.BINARY
                 else softmax(np.asarray(logits, dtype=np.float32)))
        return probs[0] if single else probs

    def predict(self, pairs: Any, batch_size: int = 32) -> Any:
        """Score or class of each pair.

        Args:
            pairs: one ``(query, passage)`` pair, a list of pairs, or a :class:`PairDataset`.
            batch_size: pairs per forward pass.

        Returns:
            ``binary``: probabilities; ``regression``: scores (a float for one pair, an array
            for a list); ``classification``: label names (a string or a list).

        Example:
            >>> ce.predict(("where is my refund?", "Refunds take 5 days."))  # doctest: +SKIP
            0.97
        """
        batch, single = as_pairs(pairs)
        if self.task == CrossEncoderTask.CLASSIFICATION:
            probs = self.predict_proba(batch, batch_size)
            out = [self.labels[j] for j in probs.argmax(axis=1)] if len(batch) else []  # type: ignore[index]
            return out[0] if single else out
        scores = self.predict_proba(batch, batch_size) if self.task == CrossEncoderTask.BINARY \
            else self._logits(batch, batch_size)
        return float(scores[0]) if single else scores

    def rank(
        self, query: str, passages: Sequence[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """Passages sorted by score for ``query``, best first (``binary``/``regression``).

        Args:
            query: the query.
            passages: candidate passages (e.g. a bi-encoder's top 50).
            top_k: return only the best ``top_k``.
            batch_size: pairs per forward pass.

        Returns:
            ``[{"index": position in passages, "score": float, "passage": text}, ...]``.

        Example:
            >>> ce.rank("where is my refund?", candidates, top_k=3)  # doctest: +SKIP
        """
        if self.task == CrossEncoderTask.CLASSIFICATION:
            raise ConfigError("rank needs a binary or regression cross-encoder; this one classifies "
                              f"pairs into {self.labels}; use predict_proba() instead")
        if not isinstance(query, str):
            raise DataError(f"expected the query as a string, found {type(query).__name__}")
        scores = np.atleast_1d(self.predict([(query, p) for p in passages], batch_size))
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"index": int(i), "score": float(scores[i]), "passage": passages[i]} for i in order]

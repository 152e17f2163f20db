"""Retrieval metrics (binary relevance, any number of relevant documents per query) and
pair-classification metrics.

``ranked_ids`` holds, per query, the retrieved ids best first; ``relevant_ids`` holds, per
query, one relevant id or a collection of them. Every metric is the mean over queries.

* Recall@k = |relevant in the top k| / |relevant|
* MRR@k = 1 / rank of the first relevant id in the top k (0 if none)
* nDCG@k = DCG@k / IDCG@k with DCG@k = sum over relevant ids at rank r <= k of 1 / log2(r + 1),
  IDCG@k the DCG of a perfect ranking (min(k, |relevant|) relevant ids first)

A repeated id in a ranking counts once (its first position).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Sequence
from typing import Any

import numpy as np

from ..errors import DataError


def _relevant_sets(relevant_ids: Sequence[Any], n_queries: int) -> list[set[Hashable]]:
    if len(relevant_ids) != n_queries:
        raise DataError(f"expected one entry of relevant ids per query, found {n_queries} rankings "
                        f"and {len(relevant_ids)} relevant-id entries")
    sets = []
    for i, rel in enumerate(relevant_ids):
        if isinstance(rel, (str, bytes, int, np.integer)) or not isinstance(rel, Collection):
            rel = [rel]
        rel = {r.item() if isinstance(r, np.generic) else r for r in rel}
        if not rel:
            raise DataError(f"query {i} has no relevant ids; metrics are undefined for it, so drop "
                            "the query or give its relevant ids")
        sets.append(rel)
    return sets


def _dedup(ranking: Sequence[Any], k: int) -> list[Hashable]:
    out: list[Hashable] = []
    for r in ranking:
        r = r.item() if isinstance(r, np.generic) else r
        if r not in out:
            out.append(r)
        if len(out) == k:
            break
    return out


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"expected a cut-off k >= 1, found {k!r}")


def _per_query(ranked_ids: Sequence[Sequence[Any]], relevant_ids: Sequence[Any]):
    ranked = list(ranked_ids)
    return ranked, _relevant_sets(list(relevant_ids), len(ranked))


def recall_at_k(ranked_ids: Sequence[Sequence[Any]], relevant_ids: Sequence[Any], k: int) -> float:
    """Mean share of each query's relevant ids found in its top ``k``.

    Args:
        ranked_ids: per query, retrieved ids best first.
        relevant_ids: per query, one relevant id or a collection of them.
        k: cut-off.

    Example:
        >>> recall_at_k([["a", "b"], ["c", "d"]], [{"a", "x"}, "d"], k=2)
        0.75
    """
    _check_k(k)
    ranked, rel = _per_query(ranked_ids, relevant_ids)
    if not ranked:
        return 0.0
    return float(np.mean([len(set(_dedup(r, k)) & s) / len(s) for r, s in zip(ranked, rel, strict=True)]))


def mrr_at_k(ranked_ids: Sequence[Sequence[Any]], relevant_ids: Sequence[Any], k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant id within the top ``k`` (0 when absent).

    Example:
        >>> mrr_at_k([["a", "b", "c"], ["x", "y", "c"], ["x", "y"]], ["a", "c", "c"], k=10)  # (1 + 1/3 + 0) / 3
        0.4444444444444444
    """
    _check_k(k)
    ranked, rel = _per_query(ranked_ids, relevant_ids)
    if not ranked:
        return 0.0
    scores = []
    for r, s in zip(ranked, rel, strict=True):
        top = _dedup(r, k)
        scores.append(next((1.0 / (i + 1) for i, d in enumerate(top) if d in s), 0.0))
    return float(np.mean(scores))


def ndcg_at_k(ranked_ids: Sequence[Sequence[Any]], relevant_ids: Sequence[Any], k: int = 10) -> float:
    """Mean normalised discounted cumulative gain at ``k`` with binary relevance.

    Example:
        >>> round(ndcg_at_k([["x", "a"]], ["a"], k=10), 4)  # (1 / log2(3)) / 1
        0.6309
    """
    _check_k(k)
    ranked, rel = _per_query(ranked_ids, relevant_ids)
    if not ranked:
        return 0.0
    scores = []
    for r, s in zip(ranked, rel, strict=True):
        dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(_dedup(r, k)) if d in s)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(s))))
        scores.append(dcg / idcg)
    return float(np.mean(scores))


def retrieval_metrics(
    ranked_ids: Sequence[Sequence[Any]],
    relevant_ids: Sequence[Any],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Recall@k for each k in ``ks``, plus MRR and nDCG at ``max(ks)``.

    Args:
        ranked_ids: per query, retrieved ids best first (e.g. the ids from
            :meth:`FaissIndex.search <domaintune.pairs.FaissIndex.search>`).
        relevant_ids: per query, one relevant id or a collection of them.
        ks: cut-offs.

    Returns:
        ``{"recall@1": ..., "recall@5": ..., "recall@10": ..., "mrr@10": ..., "ndcg@10": ...}``
        for the default ``ks``.

    Example:
        >>> retrieval_metrics([["a", "b"]], ["b"], ks=(1, 2))
        {'recall@1': 0.0, 'recall@2': 1.0, 'mrr@2': 0.5, 'ndcg@2': 0.6309297535714575}
    """
    ks = sorted({int(k) for k in ks})
    if not ks:
        raise DataError("expected at least one cut-off in ks, found none; e.g. ks=(1, 5, 10)")
    out = {f"recall@{k}": recall_at_k(ranked_ids, relevant_ids, k) for k in ks}
    top = ks[-1]
    out[f"mrr@{top}"] = mrr_at_k(ranked_ids, relevant_ids, top)
    out[f"ndcg@{top}"] = ndcg_at_k(ranked_ids, relevant_ids, top)
    return out


def pair_classification_metrics(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    threshold: float | None = None,
    positive_label: Any = 1,
) -> dict[str, float]:
    """Accuracy and F1 of pair labels (scikit-learn).

    Args:
        y_true: true labels (0/1 for binary pairs, or class names).
        y_pred: predicted labels, or scores when ``threshold`` is given (score >= threshold
            is the positive class).
        threshold: turn scores into 0/1 predictions.
        positive_label: the positive class of binary F1 (used when there are at most two
            classes and it is one of them, or the labels are 0/1); otherwise F1 is the macro
            average over classes.

    Returns:
        ``{"accuracy", "f1", "precision", "recall", "n"}``.

    Example:
        >>> pair_classification_metrics([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.1], threshold=0.5)
        {'accuracy': 0.75, 'f1': 0.6666666666666666, 'precision': 1.0, 'recall': 0.5, 'n': 4}
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    true = list(y_true)
    pred = list(y_pred)
    if len(true) != len(pred):
        raise DataError(f"expected one prediction per label, found {len(true)} labels and "
                        f"{len(pred)} predictions")
    if not true:
        raise DataError("expected at least one labelled pair, found none")
    if threshold is not None:
        pred = [int(float(p) >= threshold) for p in pred]
        true = [int(float(t) >= 0.5) if not isinstance(t, str) else t for t in true]
    classes = set(true) | set(pred)
    if len(classes) <= 2 and positive_label in classes | ({0, 1} if classes <= {0, 1} else set()):
        p, r, f, _ = precision_recall_fscore_support(true, pred, average="binary",
                                                     pos_label=positive_label, zero_division=0)
    else:
        p, r, f, _ = precision_recall_fscore_support(true, pred, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(true, pred)), "f1": float(f), "precision": float(p),
            "recall": float(r), "n": len(true)}

"""Ranking metrics of recommendation lists: hit rate, nDCG, MRR and catalogue coverage at k.

The per-user scores are the core's (:func:`domaintune.pairs.recall_at_k`, ``mrr_at_k``,
``ndcg_at_k``); this module adds the recommender's names, catalogue coverage and a prefix for
slices (``cold_start_hr@10``). With one relevant item per user (the leave-last-out protocol of
:mod:`text_recommender.split`):

* HR@k = share of users whose held-out item is in their top k (the core's recall@k; with a set
  of relevant items it is the mean share of each user's set found in the top k)
* nDCG@k = mean of 1 / log2(rank + 1) for the held-out item at rank <= k (0 when absent)
* MRR@k = mean of 1 / rank of the held-out item at rank <= k (0 when absent)
* coverage@k = distinct items over all users' top-k lists / ``n_items``

Ids are compared as strings (the app's convention), so ``12``, ``np.int64(12)`` and ``"12"``
are the same item. A repeated id in a ranking counts once (its first position).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from domaintune.errors import DataError
from domaintune.pairs import mrr_at_k, ndcg_at_k, recall_at_k

__all__ = ["ranking_metrics"]


def _as_str(value: Any) -> str:
    """The app's id form: ``str()``, with ``12.0``-style floats as ``"12"``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _top_k(ranking: Sequence[Any], k: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for item in ranking:
        item = _as_str(item)
        if item not in seen:
            seen.add(item)
            out.append(item)
            if len(out) == k:
                break
    return out


def _relevant(rel: Any) -> str | set[str]:
    if isinstance(rel, (str, bytes, int, float, np.generic)):
        return _as_str(rel)
    return {_as_str(r) for r in rel}


def ranking_metrics(ranked: Sequence[Sequence[str]], relevant: Sequence[str | set[str]],
                    n_items: int, k: int = 10, *, prefix: str = "") -> dict[str, float]:
    """HR, nDCG, MRR and coverage at ``k`` of one recommendation list per user.

    Args:
        ranked: per user, recommended item ids best first (longer lists are cut at ``k``).
        relevant: per user, the held-out item id (or a set of them), same length as ``ranked``.
        n_items: size of the catalogue (the denominator of coverage).
        k: cut-off.
        prefix: put before every key, e.g. ``"cold_start_"`` -> ``"cold_start_hr@10"``.

    Returns:
        ``{"hr@k", "ndcg@k", "mrr@k", "coverage@k", "n_users"}`` (with ``prefix``); all 0.0
        when there are no users.

    Raises:
        DataError: ``ranked`` and ``relevant`` differ in length, a user has an empty relevant
            set, ``k < 1`` or ``n_items < 1``.

    Example:
        >>> m = ranking_metrics([["a", "b", "c"], ["c", "d", "e"]], ["a", "e"], n_items=10, k=3)
        >>> m["hr@3"], round(m["mrr@3"], 4), m["coverage@3"], m["n_users"]
        (1.0, 0.6667, 0.5, 2)
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise DataError(f"expected a cut-off k >= 1, found {k!r}")
    if not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise DataError(f"expected n_items >= 1 (the catalogue size, for coverage), found "
                        f"{n_items!r}")
    ranked = list(ranked)
    relevant = list(relevant)
    if len(ranked) != len(relevant):
        raise DataError(f"expected one relevant entry per ranked list, found {len(ranked)} lists "
                        f"and {len(relevant)} relevant entries; pass them in the same user order")
    k = int(k)
    tops = [_top_k(r, k) for r in ranked]
    rels = [_relevant(r) for r in relevant]
    if tops:
        hr, ndcg, mrr = (recall_at_k(tops, rels, k), ndcg_at_k(tops, rels, k),
                         mrr_at_k(tops, rels, k))
    else:
        hr = ndcg = mrr = 0.0
    covered = len({item for top in tops for item in top})
    return {f"{prefix}hr@{k}": hr, f"{prefix}ndcg@{k}": ndcg, f"{prefix}mrr@{k}": mrr,
            f"{prefix}coverage@{k}": covered / int(n_items), f"{prefix}n_users": len(tops)}

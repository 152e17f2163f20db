"""Offline evaluation of a fitted recommender against built-in baselines, in one run, on the
same users and the same candidate rule.

Protocol (``text-recommender split`` writes it; documented in the app README):

* the REC_DIR was fitted on the training interactions; the test file holds, per user, the item
  they rated positively next (by default the last item rated >= 4; >= the user's median when
  the data is implicit), and training holds only what came strictly before it;
* for each test user with a training history, every method ranks **all items the user has not
  interacted with in training** (removed and out-of-stock items excluded) and the top ``k`` is
  compared with the test item(s): HR@k (hit rate), NDCG@k, MRR@k, and coverage@k (distinct
  items in all top-k lists / catalogue size). The baselines score every such item; the
  recommender scores the union of its candidate sources (a few hundred items: an item no
  source proposes ranks below all of them), as it does when serving, with the REC_DIR's
  re-ranking settings (diversity, rules) — the defaults change nothing;
* ``cold_start_hr@k``: HR@k over the test users whose test item has no training interaction
  (a new item; recommendable from its text only), ranked among all items;
  ``cold_start_hr@k_among_cold``: the same users, ranked among the items without training
  interactions only (``None`` for popularity, item-kNN and EASE, which cannot score them);
* baselines, computed in the same run: ``popularity`` (most interacted-with), ``item_knn``
  (the recommender's item-kNN), ``ease`` (a dense EASE refit here on the same training
  interactions with the same λ, unpruned), ``text_frozen`` and ``text_finetuned`` (cosine
  between the user's history text and the item texts, frozen / fine-tuned encoder).

The request time of a test user is the time of their test interaction (what a live system
knows when the user arrives).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from domaintune.errors import DataError

from .cf import EASE, user_item_matrix
from .data import load_interactions
from .metrics import ranking_metrics
from .service import Recommender
from .text import history_text

BASELINES = ("popularity", "item_knn", "ease", "text_frozen", "text_finetuned")


def _top_ids(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    masked = np.where(allowed, scores, -np.inf)
    k = min(k, int(allowed.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-masked, k - 1)[:k]
    return part[np.argsort(-masked[part], kind="stable")]


def test_users(rec: Recommender, source: Any) -> tuple[pd.DataFrame, dict[str, int]]:
    """The test rows of users the recommender knows, and counts of what was left out."""
    frame, report = load_interactions(source, rec.config.data, rec.catalog, what="test interactions")
    known = frame["user"].isin(rec._hist.keys())
    counts = {"test_rows": report.rows, "test_rows_kept": int(known.sum()),
              "unknown_item": report.dropped["unknown_item"],
              "unknown_user": int((~known).sum()),
              "other_dropped": report.dropped_total - report.dropped["unknown_item"]}
    return frame[known].reset_index(drop=True), counts


def evaluate(rec: Recommender, test: Any, *, k: int = 10, baselines: bool = True,
             progress: bool = False, diversity: float | None = None) -> dict[str, Any]:
    """Metrics of the recommender (and the baselines) on ``test`` (a file or frame).

    Returns:
        ``{"hr@k", "ndcg@k", "mrr@k", "coverage@k", "cold_start_hr@k",
        "cold_start_hr@k_among_cold", "n_users", "n_cold_users", "baselines": {name: {...}},
        "counts": {...}, "seconds": ...}`` (``k`` in the keys).
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    frame, counts = test_users(rec, test)
    if frame.empty:
        raise DataError(f"no test interaction belongs to a user with a training history "
                        f"({counts}); evaluate with the test file written by text-recommender "
                        "split for the same data the recommender was fitted on")
    groups = frame.groupby("user", sort=True)
    users = list(groups.groups)
    relevant = [set(g["item"]) for _, g in groups]
    request_ts = [int(g["ts"].min()) for _, g in groups]
    n_items = len(rec.catalog)
    counts_pop = rec.behaviour.popularity.count_
    cold_mask = counts_pop[:n_items] <= 0
    cold_users = [i for i, rel in enumerate(relevant)
                  if all(cold_mask[rec.catalog.index[r]] for r in rel)]
    base_allowed = ~rec.removed & rec.catalog.in_stock

    ranked: dict[str, list[list[str]]] = {"hybrid": []}
    ranked_cold: dict[str, list[list[str]]] = {"hybrid": []}
    for i, user in enumerate(tqdm(users, desc="evaluate", unit="user", disable=not progress)):
        recs = rec.recommend(user, k=k, now=request_ts[i], explanations=False,
                             diversity=diversity)
        ranked["hybrid"].append([r.item_id for r in recs])
        if i in set(cold_users):
            items, ts, _ = rec._hist[user]
            allowed = base_allowed & cold_mask
            allowed[items] = False
            ctx = rec._context(items, ts, request_ts[i])
            out = rec._rank(ctx, allowed, k, diversity, False)
            ranked_cold["hybrid"].append([r.item_id for r in out])

    result: dict[str, Any] = {}
    hybrid = _metrics(ranked["hybrid"], relevant, n_items, k, cold_users, ranked_cold["hybrid"])
    result.update(hybrid)
    result["n_users"] = len(users)
    result["n_cold_users"] = len(cold_users)
    if baselines:
        result["baselines"] = _baselines(rec, users, relevant, cold_users, cold_mask,
                                         base_allowed, k)
    seen_test = sum(1 for u, rel in zip(users, relevant, strict=True)
                    if any(rec.catalog.index[r] in set(rec._hist[u][0].tolist()) for r in rel))
    counts["test_items_seen_in_training"] = seen_test
    result["counts"] = counts
    result["protocol"] = ("leave-last-positive-out; rank all items not interacted with in "
                          "training; request time = test interaction time")
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def _metrics(ranked: list[list[str]], relevant: list[set[str]], n_items: int, k: int,
             cold_users: list[int], ranked_cold: list[list[str]] | None) -> dict[str, Any]:
    out = {key: value for key, value in ranking_metrics(ranked, relevant, n_items, k).items()
           if key != "n_users"}
    if cold_users:
        cold = ranking_metrics([ranked[i] for i in cold_users], [relevant[i] for i in cold_users],
                               n_items, k)
        out[f"cold_start_hr@{k}"] = cold[f"hr@{k}"]
        if ranked_cold is not None:
            among = ranking_metrics(ranked_cold, [relevant[i] for i in cold_users], n_items, k)
            out[f"cold_start_hr@{k}_among_cold"] = among[f"hr@{k}"]
        else:
            out[f"cold_start_hr@{k}_among_cold"] = None
    else:
        out[f"cold_start_hr@{k}"] = None
        out[f"cold_start_hr@{k}_among_cold"] = None
    return out


def _baselines(rec: Recommender, users: list[str], relevant: list[set[str]],
               cold_users: list[int], cold_mask: np.ndarray, base_allowed: np.ndarray,
               k: int) -> dict[str, Any]:
    cfg = rec.config
    n_items = len(rec.catalog)
    ids = np.asarray(rec.catalog.ids, dtype=object)
    user_codes = {u: i for i, u in enumerate(rec._hist)}
    frame = rec.interactions
    matrix = user_item_matrix(frame["user"].map(user_codes).to_numpy(np.int64),
                              frame["item"].map(rec.catalog.index).to_numpy(np.int64),
                              len(user_codes), n_items)
    ease = EASE(l2=cfg.cf.ease_l2, max_items=cfg.cf.ease_max_items, neighbors=None).fit(matrix)
    texts = [history_text(rec.catalog, rec._hist[u][0], cfg.text.history_items) for u in users]
    q_frozen = rec.frozen.encode(texts, batch_size=cfg.text.batch_size)
    fine_tuned = rec.tuned is not rec.frozen
    q_tuned = rec.tuned.encode(texts, batch_size=cfg.text.batch_size) if fine_tuned else None
    pop = rec.behaviour.popularity.scores()
    scorers = {
        "popularity": lambda i, hist: pop,
        "item_knn": lambda i, hist: rec.behaviour.knn.score_user(hist),
        "ease": lambda i, hist: ease.score_user(hist),
        "text_frozen": lambda i, hist: rec.e_frozen @ q_frozen[i],
    }
    if fine_tuned:
        scorers["text_finetuned"] = lambda i, hist: rec.e_tuned @ q_tuned[i]
    out: dict[str, Any] = {}
    cold_set = set(cold_users)
    for name, score in scorers.items():
        ranked, ranked_cold = [], []
        for i, user in enumerate(users):
            hist = rec._hist[user][0]
            allowed = base_allowed.copy()
            if cfg.rerank.exclude_seen:
                allowed[hist] = False
            scores = np.asarray(score(i, hist), dtype=np.float64)
            ranked.append(ids[_top_ids(scores, allowed, k)].tolist())
            if i in cold_set and name.startswith("text"):
                ranked_cold.append(ids[_top_ids(scores, allowed & cold_mask, k)].tolist())
        # behaviour baselines give every cold item 0: "among cold" would be catalogue order
        out[name] = _metrics(ranked, relevant, n_items, k, cold_users,
                             ranked_cold if name.startswith("text") else None)
    if not fine_tuned:
        out["text_finetuned"] = None  # not fine-tuned: the frozen row is the text model
    return out

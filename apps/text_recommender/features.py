"""Candidates from several sources, unioned, and the ranker's features for each.

Sources (counts in ``candidates``): ``text`` (FAISS nearest items to the user's history text,
embedded with the fine-tuned encoder, and to their recency-weighted profile), ``cf`` (best EASE
scores), ``coeng`` (items co-engaged after the user's last items) and ``popular``. Items the
user already engaged with, removed items, excluded ids and out-of-stock items are never
candidates.

Features per (user, candidate), by group (the benchmark's ablation drops one group at a time):

=========  ==========================================================================
group      features
=========  ==========================================================================
text       ``text_sim`` (frozen encoder: history text vs item), ``text_sim_tuned``
           (fine-tuned encoder), ``text_profile`` (recency-weighted mean of the history's
           item embeddings vs item), ``text_max_sim`` (closest history item), ``src_text``
cf         ``ease``, ``knn``, ``src_cf``
seq        ``coeng`` (co-engagement with the last items), ``src_coeng``
pop        ``pop`` (log count), ``pop_trend``, ``item_age`` (days since its first
           interaction; NaN when it has none), ``src_pop`` — all as of the request time
           (:class:`Timeline`)
user       ``user_activity`` (log history length), ``since_last`` (days since the user's
           last interaction)
=========  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .cf import EASE, CoEngagement, ItemKNN, Popularity, user_item_matrix
from .config import RecConfig
from .text import profile

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "text": ("text_sim", "text_sim_tuned", "text_profile", "text_max_sim", "src_text"),
    "cf": ("ease", "knn", "src_cf"),
    "seq": ("coeng", "src_coeng"),
    "pop": ("pop", "pop_trend", "item_age", "src_pop"),
    "user": ("user_activity", "since_last"),
}
FEATURES: tuple[str, ...] = tuple(f for group in FEATURE_GROUPS.values() for f in group)
_COL = {name: i for i, name in enumerate(FEATURES)}
SOURCES = ("text", "cf", "coeng", "popular")
_DAY = 86400.0
_MAX_SIM_ITEMS = 20  # history items compared one by one for text_max_sim


@dataclass
class Behaviour:
    """The behaviour models fitted on one set of interactions (codes)."""

    popularity: Popularity
    ease: EASE
    knn: ItemKNN
    coeng: CoEngagement

    @classmethod
    def fit(cls, frame: pd.DataFrame, n_users: int, n_items: int, cfg: RecConfig,
            *, prune: bool = True) -> Behaviour:
        """Fit popularity, EASE (pruned to ``cf.ease_neighbors`` per row when ``prune``),
        item-kNN and co-engagement on coded interactions (``user``, ``item``, ``ts``)."""
        users = frame["user"].to_numpy(np.int64)
        items = frame["item"].to_numpy(np.int64)
        ts = frame["ts"].to_numpy(np.int64)
        matrix = user_item_matrix(users, items, n_users, n_items)
        pop = Popularity(trend_window_days=cfg.cf.trend_window_days).fit(items, ts, n_items)
        ease = EASE(l2=cfg.cf.ease_l2, max_items=cfg.cf.ease_max_items,
                    neighbors=cfg.cf.ease_neighbors if prune else None).fit(matrix)
        knn = ItemKNN(neighbors=cfg.cf.knn_neighbors, shrink=cfg.cf.knn_shrink).fit(matrix)
        coeng = CoEngagement(window=cfg.cf.coeng_window).fit(users, items, ts, n_items)
        return cls(pop, ease, knn, coeng)

    def grow(self, n_items: int) -> None:
        for model in (self.popularity, self.ease, self.knn, self.coeng):
            model.grow(n_items)


_KEY = np.int64(1) << 33  # timeline keys: item * 2^33 + seconds since the first interaction


@dataclass
class Timeline:
    """Every item's interaction times, sorted: the popularity features *as of the request time*
    (count, recent count and first interaction before ``now``), so that a request at time t
    (the ranker's held-out slice, an evaluation's test interaction) sees no interaction that
    came after it — and in production, where ``now`` is after everything, all of them."""

    keys: np.ndarray  # item * _KEY + (ts - start), sorted
    ts: np.ndarray  # the times in the same order
    indptr: np.ndarray  # item i's times are ts[indptr[i]:indptr[i + 1]]
    start: int

    @classmethod
    def build(cls, items: np.ndarray, ts: np.ndarray, n_items: int) -> Timeline:
        items = np.asarray(items, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        start = int(ts.min()) if len(ts) else 0
        order = np.lexsort((ts, items))
        counts = np.bincount(items, minlength=n_items)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(items[order] * _KEY + (ts[order] - start), ts[order], indptr, start)

    def grow(self, n_items: int) -> None:
        extra = n_items - (len(self.indptr) - 1)
        if extra > 0:
            self.indptr = np.concatenate([self.indptr, np.full(extra, self.indptr[-1])])

    def _before(self, items: np.ndarray, t: float) -> np.ndarray:
        """How many interactions of each item came strictly before ``t``."""
        offset = np.int64(min(max(int(np.ceil(t)) - self.start, -1), int(_KEY) - 1))
        pos = np.searchsorted(self.keys, items * _KEY + offset, side="left")
        lo, hi = self.indptr[items], self.indptr[items + 1]
        return np.clip(pos, lo, hi) - lo

    def as_of(self, items: np.ndarray, now: float, window_s: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(count, recent count, first time or -1)`` of ``items`` before ``now``."""
        items = np.asarray(items, dtype=np.int64)
        count = self._before(items, now)
        recent = count - self._before(items, now - window_s)
        first = np.where(count > 0, self.ts[np.minimum(self.indptr[items], len(self.ts) - 1)]
                         if len(self.ts) else -1, -1)
        return count, recent, first


def popularity_features(timeline: Timeline, items: np.ndarray, now: float, window_days: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pop`` (log count), ``pop_trend`` (recent share vs the average rate) and ``item_age``
    (days since the first interaction; NaN when none) of ``items`` as of ``now``."""
    window_s = window_days * _DAY
    count, recent, first = timeline.as_of(items, now, window_s)
    span = now - timeline.start
    ratio = min(1.0, window_s / span) if span > 0 else 1.0
    pop = np.log1p(count).astype(np.float32)
    trend = ((recent + 1.0) / (count * ratio + 1.0)).astype(np.float32)
    age = np.where(first >= 0, (now - first) / _DAY, np.nan).astype(np.float32)
    return pop, trend, age


@dataclass
class UserContext:
    """What the features of one request need: the user's history (codes and times, oldest
    first), the history text's embeddings (frozen and fine-tuned; ``None`` for an empty
    history) and the request time."""

    items: np.ndarray
    ts: np.ndarray
    q_frozen: np.ndarray | None
    q_tuned: np.ndarray | None
    now: float
    query_only: bool = False


@dataclass
class Candidates:
    """A request's candidates (item codes) and their feature matrix (``FEATURES`` columns)."""

    items: np.ndarray
    X: np.ndarray


def _top(scores: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    masked = np.where(allowed & (scores > 0), scores, -np.inf)
    k = min(k, int(np.isfinite(masked).sum()))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-masked, k - 1)[:k]
    return part[np.argsort(-masked[part], kind="stable")].astype(np.int64)


class FeatureBuilder:
    """Candidates and features from a :class:`Behaviour`, the item embeddings of both encoders
    and a FAISS index of the fine-tuned embeddings (ids = item codes)."""

    def __init__(self, cfg: RecConfig, behaviour: Behaviour, e_frozen: np.ndarray,
                 e_tuned: np.ndarray, index: Any, timeline: Timeline) -> None:
        self.cfg = cfg
        self.timeline = timeline
        self.behaviour = behaviour
        self.e_frozen = e_frozen
        self.e_tuned = e_tuned
        self.index = index
        self._pop_order: np.ndarray | None = None
        self._pop_n = 0

    def popular(self, k: int, allowed: np.ndarray) -> np.ndarray:
        """The ``k`` most popular allowed items with interactions (the order is computed once
        and kept until :meth:`invalidate`)."""
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        if self._pop_order is None or self._pop_n != len(allowed):
            count = self.behaviour.popularity.count_
            order = np.argsort(-count, kind="stable")
            self._pop_order = order[count[order] > 0].astype(np.int64)
            self._pop_n = len(allowed)
        order = self._pop_order
        out = []
        for start in range(0, len(order), 4 * k):  # a few chunks suffice: most items are allowed
            chunk = order[start:start + 4 * k]
            out.extend(chunk[allowed[chunk]].tolist())
            if len(out) >= k:
                break
        return np.asarray(out[:k], dtype=np.int64)

    def invalidate(self) -> None:
        """Forget the cached popularity order (after interactions were recorded)."""
        self._pop_order = None

    def text_candidates(self, ctx: UserContext, allowed: np.ndarray, k: int) -> np.ndarray:
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        queries = []
        if ctx.q_tuned is not None:
            queries.append(ctx.q_tuned)
        if len(ctx.items):
            queries.append(profile(self.e_tuned, ctx.items, self.cfg.text.recency_halflife))
        if not queries:
            return np.zeros(0, dtype=np.int64)
        extra = len(allowed) - int(allowed.sum())
        _, ids = self.index.search(np.stack(queries), k=min(len(allowed), k + extra))
        out: list[int] = []
        seen: set[int] = set()
        for row in ids:
            taken = 0
            for i in row.tolist():
                if i < 0 or i in seen or not allowed[i]:
                    continue
                seen.add(i)
                out.append(i)
                taken += 1
                if taken >= k:
                    break
        return np.asarray(out, dtype=np.int64)

    def build(self, ctx: UserContext, allowed: np.ndarray, min_candidates: int = 0) -> Candidates:
        """The request's candidates (union of the sources, allowed items only) and features;
        when the union is smaller than ``min_candidates``, more allowed items are added in
        popularity order (then catalogue order), so that a list can always be filled."""
        cfg, b = self.cfg, self.behaviour
        n_items = len(allowed)
        hist = ctx.items
        weights = None
        ease = b.ease.score_user(hist, weights) if len(hist) else np.zeros(n_items, np.float32)
        knn = b.knn.score_user(hist, weights) if len(hist) else np.zeros(n_items, np.float32)
        last = hist[-cfg.cf.coeng_last:]
        coeng = b.coeng.score_user(last) if len(last) else np.zeros(n_items, np.float32)
        sources = {
            "text": self.text_candidates(ctx, allowed, cfg.candidates.text),
            "cf": _top(ease, cfg.candidates.cf, allowed),
            "coeng": _top(coeng, cfg.candidates.coeng, allowed),
            "popular": self.popular(cfg.candidates.popular, allowed),
        }
        cand = np.unique(np.concatenate(list(sources.values()))).astype(np.int64)
        if len(cand) < min_candidates:
            rest = allowed.copy()
            rest[cand] = False
            pop = b.popularity.scores()
            tie = 1e-6 * (1.0 - np.arange(n_items) / max(n_items, 1))  # then catalogue order
            more = _top(pop + 1e-6 + tie, min_candidates - len(cand), rest)
            cand = np.unique(np.concatenate([cand, more])).astype(np.int64)
        X = np.zeros((len(cand), len(FEATURES)), dtype=np.float32)
        if len(cand) == 0:
            return Candidates(cand, X)
        ef, et = self.e_frozen[cand], self.e_tuned[cand]
        X[:, _COL["text_sim"]] = ef @ ctx.q_frozen if ctx.q_frozen is not None else 0.0
        X[:, _COL["text_sim_tuned"]] = et @ ctx.q_tuned if ctx.q_tuned is not None else 0.0
        if len(hist):
            prof = profile(self.e_tuned, hist, cfg.text.recency_halflife)
            X[:, _COL["text_profile"]] = et @ prof
            recent = np.unique(hist[-_MAX_SIM_ITEMS:])
            X[:, _COL["text_max_sim"]] = (et @ self.e_tuned[recent].T).max(axis=1)
        X[:, _COL["ease"]] = ease[cand]
        X[:, _COL["knn"]] = knn[cand]
        X[:, _COL["coeng"]] = coeng[cand]
        pop_c, trend_c, age_c = popularity_features(self.timeline, cand, ctx.now,
                                                    cfg.cf.trend_window_days)
        X[:, _COL["pop"]] = pop_c
        X[:, _COL["pop_trend"]] = trend_c
        X[:, _COL["item_age"]] = age_c
        X[:, _COL["user_activity"]] = np.log1p(len(hist))
        X[:, _COL["since_last"]] = ((ctx.now - float(ctx.ts[-1])) / _DAY if len(ctx.ts)
                                    else np.nan)
        for name, col in (("text", "src_text"), ("cf", "src_cf"), ("coeng", "src_coeng"),
                          ("popular", "src_pop")):
            X[:, _COL[col]] = np.isin(cand, sources[name])
        return Candidates(cand, X)


def feature_mask(drop_group: str | None) -> np.ndarray:
    """Columns kept when ``drop_group`` (a key of :data:`FEATURE_GROUPS`) is left out."""
    keep = np.ones(len(FEATURES), dtype=bool)
    if drop_group:
        for name in FEATURE_GROUPS[drop_group]:
            keep[_COL[name]] = False
    return keep

"""Collaborative-filtering signals over the coded catalogue: popularity, EASE, item-kNN, co-engagement.

Every source works on coded indices (items ``0..n_items-1``, users ``0..n_users-1``) and returns
scores over the whole catalogue as ``float32`` arrays of shape ``(n_items,)``; an item a source
cannot score (never seen in training, appended later by ``grow``) gets 0.0.

* :func:`user_item_matrix` builds the sparse ``(n_users, n_items)`` matrix the models fit on.
* :class:`Popularity` counts interactions per item, with a recent-trend ratio and item age.
* :class:`EASE` (Steck 2019, "Embarrassingly Shallow Autoencoders"): the closed form
  ``P = (X^T X + l2*I)^-1``, ``B = -P / diag(P)`` (column-wise), ``diag(B) = 0``; a user's
  scores are ``x_u @ B``.
* :class:`ItemKNN`: cosine item-item similarity on the binary matrix with shrinkage,
  ``sim(i, j) = c_ij / (sqrt(n_i) * sqrt(n_j) + shrink)``, each item's top-N neighbours kept.
* :class:`CoEngagement`: a sequence signal; ``j`` counts for ``i`` when the same user engaged
  with ``j`` within the next ``window`` interactions after ``i``, in time order.

The item-item models keep one sparse row per history item, so scoring a user is a sum of rows
(:func:`_row_sum`: one gather and one ``bincount``), about a millisecond for a 200-item history
on a 10k-item catalogue. Every fitted piece round-trips through ``to_state()`` /
``from_state()``: a ``dict`` of plain numeric arrays (hyper-parameters as 0-d arrays, sparse
matrices as ``*_data``, ``*_indices``, ``*_indptr``, ``*_shape``), safe for ``np.savez`` and
``np.load(..., allow_pickle=False)``.

Example:
    >>> import numpy as np
    >>> X = user_item_matrix(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]), 3, 4)
    >>> ease = EASE(l2=1.0).fit(X)
    >>> scores = ease.score_user(np.array([0]))
    >>> int(np.argmax(scores)), float(scores[3])   # item 1 goes with item 0; item 3 is unseen
    (1, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from domaintune import DataError, ModelLoadError, NotFittedError

__all__ = ["EASE", "CoEngagement", "ItemKNN", "Popularity", "user_item_matrix"]

DAY_SECONDS = 86400
# Up to this many active items EASE solves in float64 (cheap); above it in float32 (memory, speed).
_EASE_FLOAT64_MAX = 2048
# Dense blocks (ItemKNN co-counts, EASE pruning, Gram accumulation) stay near this many floats.
_BLOCK_FLOATS = 1 << 22


# --------------------------------------------------------------------------------------- helpers


def _indices(values: Any, n: int, what: str) -> np.ndarray:
    """``values`` as a 1-d int64 array, each in ``[0, n)``; a ``DataError`` otherwise."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"expected {what} as a 1-d array of indices, found shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
            raise DataError(f"expected {what} as integer indices, found dtype {arr.dtype}; "
                            "code ids to positions first")
    arr = arr.astype(np.int64)
    low, high = int(arr.min()), int(arr.max())
    if low < 0 or high >= n:
        bad = low if low < 0 else high
        raise DataError(f"expected {what} in [0, {n}), found {bad}; grow() the model after "
                        "the catalogue grows, or refit")
    return arr


def _weights(weight: Any, length: int, what: str = "weight") -> np.ndarray:
    """``weight`` as a float32 array of ``length`` (all ones when None), finite."""
    if weight is None:
        return np.ones(length, dtype=np.float32)
    w = np.asarray(weight, dtype=np.float32)
    if w.shape != (length,):
        raise DataError(f"expected {what} of shape ({length},) like the indices, found "
                        f"{w.shape}")
    if not np.all(np.isfinite(w)):
        raise DataError(f"expected finite {what}, found NaN or infinity")
    return w


def _timestamps(ts: Any, length: int) -> np.ndarray:
    arr = np.asarray(ts)
    if arr.shape != (length,):
        raise DataError(f"expected ts of shape ({length},) like item_idx, found {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"expected ts as int64 epoch seconds, found dtype {arr.dtype}")
    return arr.astype(np.int64)


def _check_n(n: Any, what: str = "n_items", minimum: int = 0) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise DataError(f"expected {what} as an integer >= {minimum}, found {n!r}")
    return int(n)


def _check_matrix(X: Any, n_items: int | None = None, what: str = "X") -> sp.csr_matrix:
    """``X`` as a canonical float32 CSR matrix (explicit zeros dropped)."""
    if not sp.issparse(X) or X.ndim != 2:
        raise DataError(f"expected {what} as a 2-d scipy.sparse matrix (user_item_matrix), "
                        f"found {type(X).__name__}")
    if n_items is not None and X.shape[1] != n_items:
        raise DataError(f"expected {what} with {n_items} columns (the catalogue), found "
                        f"{X.shape[1]}; grow() the model after the catalogue grows")
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)  # never changes the caller's matrix
    X.sum_duplicates()
    X.eliminate_zeros()
    if not np.all(np.isfinite(X.data)):
        raise DataError(f"expected finite values in {what}, found NaN or infinity")
    return X


def _require(model: Any, attr: str) -> None:
    if getattr(model, attr, None) is None:
        name = type(model).__name__
        raise NotFittedError(f"{name} is not fitted yet; call {name}(...).fit(...) or "
                             f"{name}.from_state(state) first")


def _row_sum(m: sp.csr_matrix, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_t w[t] * m[rows[t], :]`` as a dense float32 vector, without building sub-matrices."""
    indptr = m.indptr
    starts = indptr[rows].astype(np.int64)
    lens = indptr[rows + 1].astype(np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(m.shape[1], dtype=np.float32)
    offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
    vals = m.data[offsets].astype(np.float64) * np.repeat(w.astype(np.float64), lens)
    return np.bincount(m.indices[offsets], weights=vals, minlength=m.shape[1]).astype(np.float32)


def _resize_square(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``m`` (square CSR) padded with empty rows and columns to ``(n, n)``."""
    pad = np.full(n - m.shape[0], m.indptr[-1], dtype=m.indptr.dtype)
    return sp.csr_matrix((m.data, m.indices, np.concatenate([m.indptr, pad])), shape=(n, n))


def _prune_rows(m: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of every row of a canonical CSR matrix."""
    lens = np.diff(m.indptr)
    long_rows = np.flatnonzero(lens > keep)
    if long_rows.size == 0:
        return m
    mask = np.ones(m.nnz, dtype=bool)
    for r in long_rows:
        start, end = m.indptr[r], m.indptr[r + 1]
        drop = np.argpartition(m.data[start:end], end - start - keep)[: end - start - keep]
        mask[start + drop] = False
    coo = m.tocoo()
    out = sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=m.shape)
    out.sort_indices()
    return out


def _dense_top(block: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of the ``keep`` largest entries of each row of ``block``."""
    if keep >= block.shape[1]:
        cols = np.broadcast_to(np.arange(block.shape[1]), block.shape)
        return cols, block
    cols = np.argpartition(block, block.shape[1] - keep, axis=1)[:, -keep:]
    return cols, np.take_along_axis(block, cols, axis=1)


def _csr_to_state(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {f"{prefix}_data": m.data.astype(np.float32), f"{prefix}_indices": m.indices,
            f"{prefix}_indptr": m.indptr, f"{prefix}_shape": np.array(m.shape, dtype=np.int64)}


def _csr_from_state(state: dict[str, np.ndarray], prefix: str) -> sp.csr_matrix:
    shape = tuple(int(s) for s in state[f"{prefix}_shape"])
    return sp.csr_matrix((np.asarray(state[f"{prefix}_data"], dtype=np.float32),
                          state[f"{prefix}_indices"], state[f"{prefix}_indptr"]), shape=shape)


def _check_state(state: Any, keys: list[str], cls: type) -> None:
    if not hasattr(state, "keys"):
        raise ModelLoadError(f"expected {cls.__name__} state as a dict of arrays, found "
                             f"{type(state).__name__}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ModelLoadError(f"expected {cls.__name__} state keys {keys}, found "
                             f"{sorted(state.keys())} (missing {missing}); the saved "
                             "recommender is incomplete or from another version: retrain it")


def _grown(n_items: Any, current: int, model: str) -> int:
    n = _check_n(n_items)
    if n < current:
        raise DataError(f"{model}.grow expects n_items >= the current {current} (items are "
                        f"only appended), found {n}; refit to drop items")
    return n


# ------------------------------------------------------------------------------ user-item matrix


def user_item_matrix(user_idx: Any, item_idx: Any, n_users: int, n_items: int,
                     weight: Any = None) -> sp.csr_matrix:
    """The ``(n_users, n_items)`` interaction matrix, float32 CSR, one entry per (user, item).

    Duplicate (user, item) pairs collapse to their largest weight (a re-watch is not two
    votes); entries of weight 0 are dropped.

    Args:
        user_idx: user codes in ``[0, n_users)``, one per interaction.
        item_idx: item codes in ``[0, n_items)``, same length.
        n_users: number of rows.
        n_items: number of columns (the catalogue size).
        weight: per-interaction weights (e.g. ratings); None = 1.0 each (implicit).

    Returns:
        A canonical ``scipy.sparse.csr_matrix`` of dtype float32 (sorted indices, no duplicates).

    Example:
        >>> import numpy as np
        >>> m = user_item_matrix(np.array([0, 0, 1]), np.array([2, 2, 0]), 2, 3,
        ...                      weight=np.array([1.0, 4.0, 2.0]))
        >>> m.toarray().tolist()
        [[0.0, 0.0, 4.0], [2.0, 0.0, 0.0]]
    """
    n_users, n_items = _check_n(n_users, "n_users"), _check_n(n_items)
    users = _indices(user_idx, n_users, "user_idx")
    items = _indices(item_idx, n_items, "item_idx")
    if users.shape != items.shape:
        raise DataError(f"expected user_idx and item_idx of the same length, found "
                        f"{users.size} and {items.size}")
    w = _weights(weight, users.size)
    key = users * n_items + items
    order = np.lexsort((w, key))                    # by pair, largest weight last
    key, w = key[order], w[order]
    last = np.ones(key.size, dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    key, w = key[last], w[last]
    nonzero = w != 0
    key, w = key[nonzero], w[nonzero]
    m = sp.csr_matrix((w, (key // n_items, key % n_items)), shape=(n_users, n_items),
                      dtype=np.float32)
    m.sort_indices()
    return m


# ------------------------------------------------------------------------------------ popularity


class Popularity:
    """Interaction counts per item, a recent-trend ratio and the item's age.

    Args:
        trend_window_days: the "recent" window, in days before ``now_`` (the latest timestamp).

    Attributes (after ``fit``):
        count_: interactions per item (float32, ``(n_items,)``).
        recent_: interactions per item with ``ts >= now_ - trend_window`` (float32).
        first_ts_: first interaction's timestamp per item (int64; -1 for never-seen items).
        now_: the latest timestamp seen (int64 epoch seconds); start_ts_: the earliest.

    Example:
        >>> import numpy as np
        >>> pop = Popularity(trend_window_days=1).fit(np.array([0, 1, 1]),
        ...                                           np.array([0, 0, 864000]), n_items=3)
        >>> pop.top(2).tolist(), pop.age_days(864000).tolist()[:2]
        ([1, 0], [10.0, 10.0])
    """

    def __init__(self, trend_window_days: float = 30.0):
        self.trend_window_days = trend_window_days
        self.count_: np.ndarray | None = None

    @property
    def _window_s(self) -> int:
        return int(round(float(self.trend_window_days) * DAY_SECONDS))

    def fit(self, item_idx: Any, ts: Any, n_items: int) -> Popularity:
        """Count ``item_idx`` (with their timestamps ``ts``) over a catalogue of ``n_items``.

        Args:
            item_idx: item codes, one per interaction.
            ts: int64 epoch seconds, same length.
            n_items: catalogue size.

        Returns:
            self.
        """
        if not float(self.trend_window_days) > 0:
            raise DataError(f"expected trend_window_days > 0, found {self.trend_window_days!r}")
        n_items = _check_n(n_items)
        self.count_ = np.zeros(n_items, dtype=np.float32)
        self.first_ts_ = np.full(n_items, -1, dtype=np.int64)
        self.now_, self.start_ts_ = 0, 0
        self._recent_items = np.zeros(0, dtype=np.int64)
        self._recent_ts = np.zeros(0, dtype=np.int64)
        self.record(item_idx, ts)
        return self

    def record(self, item_idx: Any, ts: Any) -> None:
        """Add interactions incrementally (the same result as fitting on all of them at once).

        Args:
            item_idx: item codes of the new interactions.
            ts: their int64 epoch seconds (may be older than ``now_``).
        """
        _require(self, "count_")
        items = _indices(item_idx, self.count_.size, "item_idx")
        times = _timestamps(ts, items.size)
        if items.size == 0:
            return
        empty = not self.count_.any()
        self.now_ = int(times.max()) if empty else max(self.now_, int(times.max()))
        self.start_ts_ = int(times.min()) if empty else min(self.start_ts_, int(times.min()))
        self.count_ += np.bincount(items, minlength=self.count_.size).astype(np.float32)
        first = np.full(self.count_.size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, items, times)
        seen = first != np.iinfo(np.int64).max
        old = self.first_ts_[seen]
        self.first_ts_[seen] = np.where(old < 0, first[seen], np.minimum(old, first[seen]))
        # the events inside the trend window are kept, so that recent_ stays exact as now_ moves
        all_items = np.concatenate([self._recent_items, items])
        all_ts = np.concatenate([self._recent_ts, times])
        inside = all_ts >= self.now_ - self._window_s
        self._recent_items, self._recent_ts = all_items[inside], all_ts[inside]
        self._update_recent()

    def _update_recent(self) -> None:
        self.recent_ = np.bincount(self._recent_items,
                                   minlength=self.count_.size).astype(np.float32)

    def scores(self, items: np.ndarray | None = None) -> np.ndarray:
        """``log1p(count_)``: float32, ``(n_items,)`` (or of ``items`` only); 0.0 for never-seen
        items."""
        _require(self, "count_")
        count = self.count_ if items is None else self.count_[items]
        return np.log1p(count).astype(np.float32)

    def trend(self, items: np.ndarray | None = None) -> np.ndarray:
        """Recent share against the overall rate: ``(recent_ + 1) / (count_ * r + 1)``.

        ``r = min(1, trend_window / span)`` where ``span = now_ - start_ts_``, so ``count_ * r``
        is the count the window would hold if the item's interactions were spread evenly over
        the data; > 1 = trending up, < 1 = fading, 1.0 for never-seen items.

        Returns:
            float32, ``(n_items,)``.
        """
        _require(self, "count_")
        span = self.now_ - self.start_ts_
        ratio = min(1.0, self._window_s / span) if span > 0 else 1.0
        recent = self.recent_ if items is None else self.recent_[items]
        count = self.count_ if items is None else self.count_[items]
        return ((recent + 1.0) / (count * ratio + 1.0)).astype(np.float32)

    def age_days(self, now: int, items: np.ndarray | None = None) -> np.ndarray:
        """Days since each item's first interaction, ``(now - first_ts_) / 86400``.

        Args:
            now: int epoch seconds to measure from (e.g. ``now_`` or the request time).

        Returns:
            float32, ``(n_items,)``; NaN for never-seen items.
        """
        _require(self, "count_")
        first = self.first_ts_ if items is None else self.first_ts_[items]
        age = (int(now) - first).astype(np.float64) / DAY_SECONDS
        age[first < 0] = np.nan
        return age.astype(np.float32)

    def top(self, k: int, exclude: Any = None) -> np.ndarray:
        """The ``k`` most popular items (never-seen ones are not returned, so maybe fewer).

        Args:
            k: how many.
            exclude: item codes to leave out (e.g. the user's history), or None.

        Returns:
            int64 item codes, most popular first; ties by lower code.
        """
        _require(self, "count_")
        k = _check_n(k, "k")
        counts = self.count_.astype(np.float64)
        if exclude is not None:
            counts[_indices(exclude, counts.size, "exclude")] = 0.0
        cand = np.flatnonzero(counts > 0)
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        if cand.size > k:
            part = np.argpartition(-counts[cand], k - 1)[:k]
            threshold = counts[cand[part]].min()
            cand = cand[counts[cand] >= threshold]  # all ties of the k-th count, cut below
        order = np.lexsort((cand, -counts[cand]))
        return cand[order][:k].astype(np.int64)

    def grow(self, n_items: int) -> None:
        """Append never-seen items (zero counts, ``first_ts_ = -1``) up to ``n_items``."""
        _require(self, "count_")
        extra = _grown(n_items, self.count_.size, "Popularity") - self.count_.size
        self.count_ = np.concatenate([self.count_, np.zeros(extra, dtype=np.float32)])
        self.first_ts_ = np.concatenate([self.first_ts_, np.full(extra, -1, dtype=np.int64)])
        self._update_recent()

    def to_state(self) -> dict[str, np.ndarray]:
        """The fitted state as plain arrays (see the module docstring)."""
        _require(self, "count_")
        return {"trend_window_days": np.array(float(self.trend_window_days)),
                "count": self.count_, "first_ts": self.first_ts_,
                "now": np.array(self.now_, dtype=np.int64),
                "start_ts": np.array(self.start_ts_, dtype=np.int64),
                "recent_items": self._recent_items, "recent_ts": self._recent_ts}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Popularity:
        """Rebuild a fitted :class:`Popularity` from :meth:`to_state`'s arrays."""
        _check_state(state, ["trend_window_days", "count", "first_ts", "now", "start_ts",
                             "recent_items", "recent_ts"], cls)
        pop = cls(trend_window_days=float(state["trend_window_days"]))
        pop.count_ = np.asarray(state["count"], dtype=np.float32).copy()
        pop.first_ts_ = np.asarray(state["first_ts"], dtype=np.int64).copy()
        pop.now_, pop.start_ts_ = int(state["now"]), int(state["start_ts"])
        pop._recent_items = np.asarray(state["recent_items"], dtype=np.int64).copy()
        pop._recent_ts = np.asarray(state["recent_ts"], dtype=np.int64).copy()
        pop._update_recent()
        return pop


# ------------------------------------------------------------------------------------------ EASE


class EASE:
    """EASE item-item model (Steck 2019): ``B = -P / diag(P)``, ``P = (X^T X + l2*I)^-1``.

    Only items with at least one interaction enter the Gram matrix (the ``max_items`` most
    frequent if there are more); the others score 0. ``X`` is used as given: pass a binary
    matrix for the classic implicit form. Up to 2048 active items the solve runs in float64,
    above in float32 (a Cholesky inverse in place: about ``n^2 * 4`` bytes, e.g. 400 MB for
    10k items); ``B_`` is stored as float32.

    Args:
        l2: the ridge ``lambda`` on the diagonal (> 0); larger = smoother, more popular items.
        max_items: the most items the Gram matrix may hold (memory grows as its square).
        neighbors: None keeps ``B_`` dense ``(n_active, n_active)``; N keeps only the N largest
            entries of each row (sparse CSR), the form that is then scored and saved.

    Attributes (after ``fit``):
        active_: int64 catalogue codes of the modelled items (ascending); row/column ``a`` of
            ``B_`` is item ``active_[a]``.
        B_: float32 ``ndarray`` or ``csr_matrix``; row = a history item, column = a target.
        n_items_: the catalogue size scores are returned for.

    Example:
        >>> import numpy as np
        >>> X = user_item_matrix(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 1, 2]), 3, 3)
        >>> EASE(l2=0.5).fit(X).score_user(np.array([0])).argmax()
        np.int64(1)
    """

    def __init__(self, l2: float = 500.0, max_items: int = 20000, neighbors: int | None = None):
        self.l2 = l2
        self.max_items = max_items
        self.neighbors = neighbors
        self.B_: np.ndarray | sp.csr_matrix | None = None

    def fit(self, X: sp.spmatrix) -> EASE:
        """Fit on the ``(n_users, n_items)`` interaction matrix.

        Args:
            X: scipy sparse, e.g. from :func:`user_item_matrix`.

        Returns:
            self.
        """
        if not float(self.l2) > 0:
            raise DataError(f"expected l2 > 0 (the ridge keeps X^T X invertible), found "
                            f"{self.l2!r}")
        max_items = _check_n(self.max_items, "max_items", 1)
        if self.neighbors is not None:
            _check_n(self.neighbors, "neighbors", 1)
        X = _check_matrix(X)
        counts = np.bincount(X.indices, minlength=X.shape[1])
        active = np.flatnonzero(counts > 0)
        if active.size > max_items:
            keep = np.argsort(-counts[active], kind="stable")[:max_items]
            active = np.sort(active[keep])
        self.n_items_ = X.shape[1]
        self.active_ = active.astype(np.int64)
        self._set_positions()
        if active.size == 0:
            self.B_ = np.zeros((0, 0), dtype=np.float32)
            if self.neighbors is not None:
                self.B_ = sp.csr_matrix((0, 0), dtype=np.float32)
            return self
        dtype = np.float64 if active.size <= _EASE_FLOAT64_MAX else np.float32
        B = _ease_weights(X[:, active], float(self.l2), dtype)
        self.B_ = B if self.neighbors is None else _prune_dense(B, int(self.neighbors))
        return self

    def _set_positions(self) -> None:
        self._pos = np.full(self.n_items_, -1, dtype=np.int64)
        self._pos[self.active_] = np.arange(self.active_.size)

    def score_user(self, item_idx: Any, weight: Any = None) -> np.ndarray:
        """Scores of every catalogue item for one user's history, ``x_u @ B``.

        Args:
            item_idx: the history's item codes (repeats add up).
            weight: one weight per history item (None = 1.0; use the values X was fitted with).

        Returns:
            float32, ``(n_items,)``; 0.0 for items outside the model.
        """
        _require(self, "B_")
        items = _indices(item_idx, self.n_items_, "item_idx")
        w = _weights(weight, items.size)
        rows = self._pos[items]
        inside = rows >= 0
        rows, w = rows[inside], w[inside]
        out = np.zeros(self.n_items_, dtype=np.float32)
        if rows.size == 0:
            return out
        if sp.issparse(self.B_):
            out[self.active_] = _row_sum(self.B_, rows, w)
        else:
            out[self.active_] = w @ self.B_[rows]
        return out

    def score_users(self, X_rows: sp.spmatrix) -> np.ndarray:
        """Scores for a batch of users (evaluation), ``X_rows @ B``.

        Args:
            X_rows: ``(n_rows, n_items)`` sparse histories, values as weights.

        Returns:
            float32, ``(n_rows, n_items)``.
        """
        _require(self, "B_")
        X_rows = _check_matrix(X_rows, self.n_items_, "X_rows")
        out = np.zeros((X_rows.shape[0], self.n_items_), dtype=np.float32)
        if self.active_.size:
            part = X_rows[:, self.active_] @ self.B_
            out[:, self.active_] = part.toarray() if sp.issparse(part) else part
        return out

    def grow(self, n_items: int) -> None:
        """Extend the catalogue to ``n_items``; the new items score 0 until the next fit."""
        _require(self, "B_")
        self.n_items_ = _grown(n_items, self.n_items_, "EASE")
        self._set_positions()

    def to_state(self) -> dict[str, np.ndarray]:
        """The fitted state as plain arrays: ``B`` dense, or ``B_data``/... when pruned."""
        _require(self, "B_")
        state = {"l2": np.array(float(self.l2)), "max_items": np.array(int(self.max_items)),
                 "neighbors": np.array(-1 if self.neighbors is None else int(self.neighbors)),
                 "n_items": np.array(self.n_items_, dtype=np.int64), "active": self.active_}
        if sp.issparse(self.B_):
            state.update(_csr_to_state("B", self.B_))
        else:
            state["B"] = self.B_
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> EASE:
        """Rebuild a fitted :class:`EASE` from :meth:`to_state`'s arrays."""
        _check_state(state, ["l2", "max_items", "neighbors", "n_items", "active"], cls)
        neighbors = int(state["neighbors"])
        model = cls(l2=float(state["l2"]), max_items=int(state["max_items"]),
                    neighbors=None if neighbors < 0 else neighbors)
        model.n_items_ = int(state["n_items"])
        model.active_ = np.asarray(state["active"], dtype=np.int64)
        if model.neighbors is None:
            _check_state(state, ["B"], cls)
            model.B_ = np.asarray(state["B"], dtype=np.float32)
        else:
            _check_state(state, ["B_data", "B_indices", "B_indptr", "B_shape"], cls)
            model.B_ = _csr_from_state(state, "B")
        model._set_positions()
        return model


def _ease_weights(Xa: sp.csr_matrix, l2: float, dtype: type) -> np.ndarray:
    """EASE's ``B`` for the active columns ``Xa``: float32, C-ordered, zero diagonal."""
    n = Xa.shape[1]
    # the Gram matrix as a sparse product: its cost is the sum of squared history lengths,
    # not users x items^2 (dense user blocks took minutes at 20k users)
    G = (Xa.T @ Xa).toarray().astype(dtype, copy=False)
    G[np.diag_indices(n)] += l2
    # G is symmetric, so its transpose is a Fortran-ordered view of it: LAPACK works in place
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (G,))
    chol, info = potrf(G.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise DataError(f"EASE could not factor X^T X + l2*I (LAPACK potrf info={info}); "
                        "raise l2 or check X for NaN values")
    P, info = potri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise DataError(f"EASE could not invert X^T X + l2*I (LAPACK potri info={info}); "
                        "raise l2")
    for start in range(0, n, 1024):                 # mirror the upper triangle into the lower
        end = min(n, start + 1024)
        P[end:, start:end] = P[start:end, end:].T
        block = P[start:end, start:end]
        P[start:end, start:end] = np.triu(block) + np.triu(block, 1).T
    B = P.T  # symmetric, so the C-ordered view is the same matrix
    diag = np.diag(B).copy()
    B /= -diag[None, :]
    np.fill_diagonal(B, 0.0)
    return np.ascontiguousarray(B, dtype=np.float32)


def _prune_dense(B: np.ndarray, keep: int) -> sp.csr_matrix:
    """CSR with the ``keep`` largest off-diagonal entries of each row of the dense ``B``."""
    n = B.shape[0]
    keep = min(keep, max(n - 1, 0))
    rows, cols, vals = [], [], []
    step = max(1, _BLOCK_FLOATS // max(n, 1))
    for start in range(0, n, step):
        block = B[start:start + step].copy()
        r = np.arange(block.shape[0])
        block[r, start + r] = -np.inf                # the diagonal is never a neighbour
        c, v = _dense_top(block, keep)
        rows.append(np.repeat(start + r, c.shape[1]))
        cols.append(c.ravel())
        vals.append(v.ravel())
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    ok = np.isfinite(vals) & (vals != 0)
    m = sp.csr_matrix((vals[ok], (rows[ok], cols[ok])), shape=(n, n), dtype=np.float32)
    m.sort_indices()
    return m


# --------------------------------------------------------------------------------------- ItemKNN


class ItemKNN:
    """Item-item cosine similarity on the binary user-item matrix, with shrinkage.

    ``sim(i, j) = c_ij / (sqrt(n_i) * sqrt(n_j) + shrink)`` where ``c_ij`` is the number of users
    who engaged with both and ``n_i`` the users of ``i``; each item keeps its ``neighbors``
    most similar items (positive similarity only). A user's score for ``j`` sums the
    similarities of ``j`` in the neighbour lists of the history items.

    Args:
        neighbors: neighbours kept per item.
        shrink: added to the denominator; damps similarities that rest on few users.

    Attributes (after ``fit``):
        S_: float32 CSR ``(n_items, n_items)``; row ``i`` = ``i``'s neighbours.

    Example:
        >>> import numpy as np
        >>> X = user_item_matrix(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]), 3, 3)
        >>> idx, sims = ItemKNN(shrink=0.0).fit(X).similar(0, k=2)
        >>> idx.tolist(), sims.round(3).tolist()
        ([1], [1.0])
    """

    def __init__(self, neighbors: int = 100, shrink: float = 10.0):
        self.neighbors = neighbors
        self.shrink = shrink
        self.S_: sp.csr_matrix | None = None

    def fit(self, X: sp.spmatrix) -> ItemKNN:
        """Fit on the ``(n_users, n_items)`` interaction matrix (values are binarised).

        Args:
            X: scipy sparse, e.g. from :func:`user_item_matrix`.

        Returns:
            self.
        """
        keep = _check_n(self.neighbors, "neighbors", 1)
        if not float(self.shrink) >= 0:
            raise DataError(f"expected shrink >= 0, found {self.shrink!r}")
        X = _check_matrix(X)
        X.data[:] = 1.0
        n = X.shape[1]
        counts = np.bincount(X.indices, minlength=n)
        # only items with interactions have neighbours: the blocks run over those columns
        # (a large catalogue of mostly new items costs its active part, not n^2)
        active = np.flatnonzero(counts > 0)
        X = X[:, active].tocsr()
        na = len(active)
        norms = np.sqrt(counts[active].astype(np.float64))
        XT = X.T.tocsr()
        step = max(1, _BLOCK_FLOATS // max(na, 1))
        rows, cols, vals = [], [], []
        for start in range(0, na, step):             # co-counts for a block of items at a time
            co = (XT[start:start + step] @ X).toarray().astype(np.float64)
            r = np.arange(co.shape[0])
            sim = co / (norms[start:start + step, None] * norms[None, :] + float(self.shrink)
                        + 1e-12)
            sim[r, start + r] = 0.0
            c, v = _dense_top(sim, min(keep, na))
            rows.append(active[np.repeat(start + r, c.shape[1])])
            cols.append(active[c.ravel()])
            vals.append(v.ravel())
        if na:
            rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
            ok = vals > 0
            rows, cols, vals = rows[ok], cols[ok], vals[ok]
        self.S_ = sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=np.float32)
        self.S_.sort_indices()
        return self

    def score_user(self, item_idx: Any, weight: Any = None) -> np.ndarray:
        """Scores of every catalogue item for one history: ``sum_i w_i * S_[i, :]``.

        Args:
            item_idx: the history's item codes.
            weight: one weight per history item (None = 1.0).

        Returns:
            float32, ``(n_items,)``.
        """
        _require(self, "S_")
        items = _indices(item_idx, self.S_.shape[0], "item_idx")
        return _row_sum(self.S_, items, _weights(weight, items.size))

    def score_users(self, X_rows: sp.spmatrix) -> np.ndarray:
        """Scores for a batch of users, ``X_rows @ S_`` (values of ``X_rows`` as weights).

        Returns:
            float32, ``(n_rows, n_items)``.
        """
        _require(self, "S_")
        X_rows = _check_matrix(X_rows, self.S_.shape[0], "X_rows")
        return (X_rows @ self.S_).toarray().astype(np.float32, copy=False)

    def similar(self, item_idx: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to ``item_idx`` (at most ``neighbors``; maybe fewer).

        Returns:
            ``(indices int64, similarities float32)``, most similar first, ties by lower code.
        """
        _require(self, "S_")
        i = int(_indices(np.array([item_idx]), self.S_.shape[0], "item_idx")[0])
        k = _check_n(k, "k")
        start, end = self.S_.indptr[i], self.S_.indptr[i + 1]
        idx = self.S_.indices[start:end].astype(np.int64)
        sims = self.S_.data[start:end]
        order = np.lexsort((idx, -sims))[:k]
        return idx[order], sims[order].astype(np.float32)

    def grow(self, n_items: int) -> None:
        """Extend the catalogue to ``n_items``; new items have no neighbours until refit."""
        _require(self, "S_")
        self.S_ = _resize_square(self.S_, _grown(n_items, self.S_.shape[0], "ItemKNN"))

    def to_state(self) -> dict[str, np.ndarray]:
        """The fitted state as plain arrays."""
        _require(self, "S_")
        return {"neighbors": np.array(int(self.neighbors)),
                "shrink": np.array(float(self.shrink)), **_csr_to_state("S", self.S_)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> ItemKNN:
        """Rebuild a fitted :class:`ItemKNN` from :meth:`to_state`'s arrays."""
        _check_state(state, ["neighbors", "shrink", "S_data", "S_indices", "S_indptr",
                             "S_shape"], cls)
        model = cls(neighbors=int(state["neighbors"]), shrink=float(state["shrink"]))
        model.S_ = _csr_from_state(state, "S")
        return model


# ---------------------------------------------------------------------------------- CoEngagement


class CoEngagement:
    """Sequence co-engagement: what users engage with next after an item, in time order.

    ``c_ij`` counts the times one user's interaction with ``j`` came within the ``window``
    interactions right after one with ``i`` (directed: ``i -> j``; self-transitions are not
    counted). The similarity ``c_ij / sqrt(n_i * n_j)`` (``n_i`` = interactions with ``i``)
    keeps the ``neighbors`` largest per item. Raw counts are kept, so :meth:`record` adds
    transitions exactly; the neighbour lists are rebuilt from them on the next query after a
    record (vectorised; tens of milliseconds on a MovieLens-sized log).

    Args:
        window: how many following interactions of the same user count as "next".
        neighbors: neighbours kept per item.
        decay: in :meth:`score_user`, the ``t``-th most recent item (0 = the last) weighs
            ``decay ** t``.

    Attributes (after ``fit``):
        counts_: float32 CSR ``(n_items, n_items)`` of raw transition counts.
        n_: float32 interactions per item.

    Example:
        >>> import numpy as np
        >>> co = CoEngagement(window=1).fit(np.array([0, 0, 0]), np.array([2, 0, 1]),
        ...                                 np.array([1, 2, 3]), n_items=3)
        >>> co.score_user(np.array([2])).round(3).tolist()   # 2 was followed by 0
        [1.0, 0.0, 0.0]
    """

    def __init__(self, window: int = 3, neighbors: int = 100, decay: float = 0.7):
        self.window = window
        self.neighbors = neighbors
        self.decay = decay
        self.counts_: sp.csr_matrix | None = None

    def _validate(self) -> None:
        _check_n(self.window, "window", 1)
        _check_n(self.neighbors, "neighbors", 1)
        if not 0 < float(self.decay) <= 1:
            raise DataError(f"expected decay in (0, 1], found {self.decay!r}")

    def fit(self, user_idx: Any, item_idx: Any, ts: Any, n_items: int) -> CoEngagement:
        """Count transitions in each user's time-ordered interactions.

        Args:
            user_idx: user codes, one per interaction.
            item_idx: item codes, same length.
            ts: int64 epoch seconds; each user's interactions are ordered by ``ts``, ties in
                the given order.
            n_items: catalogue size.

        Returns:
            self.
        """
        self._validate()
        n_items = _check_n(n_items)
        items = _indices(item_idx, n_items, "item_idx")
        users = np.asarray(user_idx)
        if users.shape != items.shape:
            raise DataError(f"expected user_idx and item_idx of the same length, found "
                            f"{users.size} and {items.size}")
        times = _timestamps(ts, items.size)
        order = np.lexsort((np.arange(items.size), times, users))
        users, items = users[order], items[order]
        src, dst = [], []
        for lag in range(1, int(self.window) + 1):
            same = users[lag:] == users[:-lag]
            src.append(items[:-lag][same])
            dst.append(items[lag:][same])
        self.counts_ = sp.csr_matrix((n_items, n_items), dtype=np.float32)
        self.n_ = np.zeros(n_items, dtype=np.float32)
        self._add(np.concatenate(src) if src else np.zeros(0, np.int64),
                  np.concatenate(dst) if dst else np.zeros(0, np.int64), items)
        return self

    def _add(self, src: np.ndarray, dst: np.ndarray, items: np.ndarray) -> None:
        n = self.counts_.shape[0]
        real = src != dst
        src, dst = src[real], dst[real]
        add = sp.csr_matrix((np.ones(src.size, dtype=np.float32), (src, dst)), shape=(n, n))
        self.counts_ = (self.counts_ + add).tocsr()
        self.counts_.sort_indices()
        self.n_ += np.bincount(items, minlength=n).astype(np.float32)
        self._S = None

    def record(self, previous_items: Any, new_items: Any) -> None:
        """Add one user's new interactions incrementally.

        Args:
            previous_items: the user's earlier items, most recent last (only the last
                ``window`` matter).
            new_items: the new interactions in time order.
        """
        _require(self, "counts_")
        n = self.counts_.shape[0]
        prev = _indices(previous_items, n, "previous_items")[-int(self.window):]
        new = _indices(new_items, n, "new_items")
        seq = np.concatenate([prev, new])
        pos = prev.size + np.arange(new.size)
        src, dst = [], []
        for lag in range(1, int(self.window) + 1):
            ok = pos - lag >= 0
            src.append(seq[pos[ok] - lag])
            dst.append(seq[pos[ok]])
        self._add(np.concatenate(src), np.concatenate(dst), new)

    def _neighbours(self) -> sp.csr_matrix:
        """The normalised, pruned similarity (cached until the next record)."""
        if self._S is None:
            c = self.counts_.tocoo()
            n = np.maximum(self.n_.astype(np.float64), 1.0)  # items only seen via record()
            norm = np.sqrt(n[c.row] * n[c.col])
            S = sp.csr_matrix((c.data / norm, (c.row, c.col)), shape=self.counts_.shape,
                              dtype=np.float32)
            S.sort_indices()
            self._S = _prune_rows(S, int(self.neighbors))
        return self._S

    def score_user(self, last_items: Any) -> np.ndarray:
        """Scores of every item as the next one after ``last_items`` (most recent LAST).

        The ``t``-th most recent item (0 = the last) weighs ``decay ** t``.

        Returns:
            float32, ``(n_items,)``.
        """
        _require(self, "counts_")
        items = _indices(last_items, self.counts_.shape[0], "last_items")
        w = float(self.decay) ** np.arange(items.size - 1, -1, -1, dtype=np.float64)
        return _row_sum(self._neighbours(), items, w)

    def pair_scores(self, last_items: Any, candidates: Any) -> np.ndarray:
        """Similarity of each history item to each candidate (undecayed; for explanations).

        Returns:
            float32, ``(len(last_items), len(candidates))``; 0 where ``j`` is not among
            ``i``'s neighbours.
        """
        _require(self, "counts_")
        n = self.counts_.shape[0]
        rows = _indices(last_items, n, "last_items")
        cols = _indices(candidates, n, "candidates")
        return self._neighbours()[rows][:, cols].toarray().astype(np.float32, copy=False)

    def grow(self, n_items: int) -> None:
        """Extend the catalogue to ``n_items`` (new items without transitions yet)."""
        _require(self, "counts_")
        n = _grown(n_items, self.counts_.shape[0], "CoEngagement")
        self.counts_ = _resize_square(self.counts_, n)
        self.n_ = np.concatenate([self.n_, np.zeros(n - self.n_.size, dtype=np.float32)])
        self._S = None

    def to_state(self) -> dict[str, np.ndarray]:
        """The fitted state as plain arrays (raw counts; neighbours are rebuilt on load)."""
        _require(self, "counts_")
        return {"window": np.array(int(self.window)), "neighbors": np.array(int(self.neighbors)),
                "decay": np.array(float(self.decay)), "n": self.n_,
                **_csr_to_state("counts", self.counts_)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> CoEngagement:
        """Rebuild a fitted :class:`CoEngagement` from :meth:`to_state`'s arrays."""
        _check_state(state, ["window", "neighbors", "decay", "n", "counts_data",
                             "counts_indices", "counts_indptr", "counts_shape"], cls)
        model = cls(window=int(state["window"]), neighbors=int(state["neighbors"]),
                    decay=float(state["decay"]))
        model.counts_ = _csr_from_state(state, "counts")
        model.n_ = np.asarray(state["n"], dtype=np.float32).copy()
        model._S = None
        return model

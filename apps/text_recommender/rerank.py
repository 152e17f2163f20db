"""Re-ranking after the learned ranker: diversity (MMR), eligibility filters and business rules.

All functions are pure and work on positions: ``relevance``/``scores`` are aligned with the
candidates (or the whole catalogue), and the returned arrays are positions into them.

* :func:`mmr` — greedy Maximal Marginal Relevance (Carbonell & Goldstein, 1998) over the
  candidates' embeddings: each step picks the candidate maximising
  ``(1 - diversity) * rel - diversity * max cosine similarity to the items already chosen``,
  with ``rel`` the relevance min-max scaled to [0, 1]. ``diversity=0`` is the relevance order.
* :func:`filter_mask` — which catalogue items may be recommended at all (not seen, not
  excluded, in stock, not removed).
* :class:`RuleSet` + :func:`apply_rules` — boost or bury categories (added to / subtracted
  from the ranker's scores).
* :func:`cap_per_category` — at most ``cap`` items of one category in the top ``k``.

A category is matched case-insensitively (``str.casefold``, surrounding blanks stripped). An
item's category entry may be ``None`` (no category: never boosted, buried or capped), one
label, or a list/tuple of labels (e.g. its genres): a boost then adds the weights of every
matching label, and the cap counts the item towards each of its labels.

Example:
    >>> import numpy as np
    >>> rel = np.array([0.9, 0.85, 0.3], dtype=np.float32)
    >>> emb = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]], dtype=np.float32)
    >>> mmr(rel, emb, k=2, diversity=0.0).tolist()
    [0, 1]
    >>> mmr(rel, emb, k=2, diversity=0.7).tolist()
    [0, 2]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from domaintune.errors import ConfigError, DataError, closest

__all__ = ["RuleSet", "apply_rules", "cap_per_category", "filter_mask", "mmr"]

Category = str | Sequence[str] | None


def mmr(relevance: np.ndarray, embeddings: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Greedy Maximal Marginal Relevance re-ranking.

    The relevance is min-max scaled to [0, 1] first (all equal -> all 1), the embeddings are
    L2-normalised (cosine similarity; an all-zero row is similar to nothing). The first pick
    is the most relevant candidate; each later pick maximises
    ``(1 - diversity) * rel - diversity * max_sim_to_chosen``. Ties go to the more relevant
    candidate, then to the earlier position, so ``diversity=0`` returns the stable relevance
    order. Cost: one ``(n, d)`` matrix-vector product per pick (300 candidates, k=10 in well
    under a millisecond).

    Args:
        relevance: ``(n,)`` scores of the candidates (higher = better).
        embeddings: ``(n, d)`` vectors of the same candidates.
        k: how many to return (at most ``n``).
        diversity: in [0, 1]; 0 = relevance only, 1 = novelty only (after the first pick).

    Returns:
        ``int64`` positions into ``relevance``, best first, ``min(k, n)`` of them.

    Example:
        >>> mmr(np.array([1.0, 0.5]), np.eye(2), k=1, diversity=0.5).tolist()
        [0]
    """
    rel = np.asarray(relevance, dtype=np.float32)
    if rel.ndim != 1:
        raise DataError(f"expected relevance of shape (n,), found shape {rel.shape}; "
                        "pass one score per candidate")
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != rel.shape[0]:
        raise DataError(f"expected embeddings of shape ({rel.shape[0]}, d) (one row per "
                        f"candidate), found shape {emb.shape}; pass the candidates' vectors "
                        "in the order of relevance")
    _check_diversity(diversity)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(f"expected k to be an integer >= 0, found {k!r}; pass e.g. k=10")
    n = rel.shape[0]
    k = min(int(k), n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(rel)):
        raise DataError("expected finite relevance scores, found NaN or inf at position "
                        f"{int(np.flatnonzero(~np.isfinite(rel))[0])}; fill missing scores first")
    # candidates sorted by relevance (stable): argmax then breaks ties towards relevance
    order = np.argsort(-rel, kind="stable")
    if diversity == 0.0 or k == 1:
        return order[:k].astype(np.int64)
    lo, hi = float(rel.min()), float(rel.max())
    scaled = (rel[order] - lo) / (hi - lo) if hi > lo else np.ones(n, dtype=np.float32)
    vecs = emb[order]
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)

    gain = (1.0 - diversity) * scaled
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = 0  # the most relevant
    max_sim = vecs @ vecs[0]
    available = np.ones(n, dtype=bool)
    available[0] = False
    for step in range(1, k):
        objective = np.where(available, gain - diversity * max_sim, -np.inf)
        pick = int(np.argmax(objective))
        chosen[step] = pick
        available[pick] = False
        np.maximum(max_sim, vecs @ vecs[pick], out=max_sim)
    return order[chosen].astype(np.int64)


def filter_mask(
    n_items: int,
    *,
    seen: Iterable[int] = (),
    excluded: Iterable[int] = (),
    in_stock: np.ndarray | None = None,
    removed: np.ndarray | None = None,
) -> np.ndarray:
    """Which catalogue items may be recommended (True = eligible).

    Args:
        n_items: size of the catalogue (items coded ``0..n_items-1``).
        seen: item indices the user already engaged with.
        excluded: item indices excluded for this request (e.g. the ones on screen).
        in_stock: optional boolean ``(n_items,)`` mask, True = available; False rows are dropped.
        removed: optional removed items: a boolean ``(n_items,)`` mask (True = removed) or an
            array of item indices.

    Returns:
        Boolean array of shape ``(n_items,)``.

    Example:
        >>> filter_mask(4, seen=[0], removed=np.array([3])).tolist()
        [False, True, True, False]
    """
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 0:
        raise DataError(f"expected n_items to be an integer >= 0, found {n_items!r}; "
                        "pass the catalogue size")
    mask = np.ones(int(n_items), dtype=bool)
    for name, items in (("seen", seen), ("excluded", excluded)):
        mask[_indices(name, items, n_items)] = False
    if in_stock is not None:
        stock = np.asarray(in_stock)
        if stock.dtype != bool or stock.shape != (n_items,):
            raise DataError(f"expected in_stock as a boolean mask of shape ({n_items},), found "
                            f"dtype {stock.dtype} shape {stock.shape}; pass one True/False per "
                            "catalogue item")
        mask &= stock
    if removed is not None:
        gone = np.asarray(removed)
        if gone.dtype == bool:
            if gone.shape != (n_items,):
                raise DataError(f"expected removed as a boolean mask of shape ({n_items},) or "
                                f"item indices, found a mask of shape {gone.shape}; pass one "
                                "True/False per catalogue item")
            mask &= ~gone
        else:
            mask[_indices("removed", gone, n_items)] = False
    return mask


def _indices(name: str, items: Iterable[int] | np.ndarray, n_items: int) -> np.ndarray:
    arr = np.asarray(items if isinstance(items, np.ndarray) else list(items))
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise DataError(f"expected {name} as integer item indices, found dtype {arr.dtype}; "
                        "map item ids to their catalogue positions first")
    arr = arr.reshape(-1).astype(np.int64)
    bad = arr[(arr < 0) | (arr >= n_items)]
    if bad.size:
        raise DataError(f"expected {name} item indices in 0..{n_items - 1}, found {int(bad[0])}; "
                        "pass positions into the current catalogue")
    return arr


@dataclass
class RuleSet:
    """Merchandising rules applied after the ranker.

    Args:
        boost: category -> weight added to the ranker score of its items (>= 0).
        bury: category -> weight subtracted from the ranker score of its items (>= 0).
        max_per_category: at most this many items of one category in a list (None = no cap).

    The weights are in the units of the ranker's raw scores (LightGBM lambdarank margins,
    typically a few units apart between a good and a poor candidate): 0.5 is a nudge, 5
    moves a category to the top or the bottom. Category names are matched case-insensitively.

    Example:
        >>> RuleSet(boost={"Sci-Fi": 1.0}, max_per_category=3).boost
        {'sci-fi': 1.0}
    """

    boost: dict[str, float] = field(default_factory=dict)
    bury: dict[str, float] = field(default_factory=dict)
    max_per_category: int | None = None

    def __post_init__(self) -> None:
        self.boost = _weights("boost", self.boost)
        self.bury = _weights("bury", self.bury)
        cap = self.max_per_category
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, np.integer))
                                or cap < 1):
            raise ConfigError(f"expected rules.max_per_category to be an integer >= 1 or null, "
                              f"found {cap!r}; use e.g. 3, or null for no cap")
        if cap is not None:
            self.max_per_category = int(cap)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-ready mapping."""
        return {"boost": dict(self.boost), "bury": dict(self.bury),
                "max_per_category": self.max_per_category}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RuleSet:
        """Build from a mapping (unknown keys are errors, with the closest key suggested)."""
        data = dict(data or {})
        allowed = ("boost", "bury", "max_per_category")
        for key in data:
            if key not in allowed:
                raise ConfigError(f"expected rules keys {list(allowed)}, found {key!r}"
                                  f"{closest(str(key), allowed)}")
        return cls(boost=data.get("boost") or {}, bury=data.get("bury") or {},
                   max_per_category=data.get("max_per_category"))

    @property
    def empty(self) -> bool:
        """True when the rules change nothing."""
        return not self.boost and not self.bury and self.max_per_category is None


def _weights(name: str, mapping: Mapping[str, float] | None) -> dict[str, float]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"expected rules.{name} as a mapping category -> weight, found "
                          f"{type(mapping).__name__}; write e.g. {name}: {{Comedy: 1.0}}")
    out: dict[str, float] = {}
    for key, value in mapping.items():
        label = _norm(key)
        if not label:
            raise ConfigError(f"expected non-empty category names in rules.{name}, found "
                              f"{key!r}; remove the entry or name the category")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"expected rules.{name}[{key!r}] to be a number >= 0, found "
                              f"{value!r}; {name} weights are magnitudes (use "
                              f"{'bury' if name == 'boost' else 'boost'} for the other way)")
        out[label] = weight
    return out


def _norm(label: object) -> str:
    return str(label).strip().casefold() if label is not None else ""


def _labels(category: Category) -> tuple[str, ...]:
    if category is None:
        return ()
    if isinstance(category, str):
        label = _norm(category)
        return (label,) if label else ()
    if isinstance(category, float) and math.isnan(category):  # pandas' missing value
        return ()
    return tuple(label for label in (_norm(c) for c in category if c is not None) if label)


def apply_rules(scores: np.ndarray, categories: Sequence[Category], rules: RuleSet) -> np.ndarray:
    """Add the boosts and subtract the buries of each item's categories from its score.

    Args:
        scores: ``(n,)`` ranker scores (raw margins, before any scaling).
        categories: one entry per score: None, a label, or a list of labels.
        rules: the :class:`RuleSet` (``max_per_category`` is applied by
            :func:`cap_per_category`, not here).

    Returns:
        A new ``float32`` array; ``scores`` is not modified.

    Example:
        >>> apply_rules(np.zeros(3), ["Drama", "comedy", None],
        ...             RuleSet(boost={"Comedy": 2.0}, bury={"drama": 1.0})).tolist()
        [-1.0, 2.0, 0.0]
    """
    out = np.array(scores, dtype=np.float32, copy=True)
    if out.ndim != 1 or len(categories) != out.shape[0]:
        raise DataError(f"expected one category per score ({out.shape} scores), found "
                        f"{len(categories)} categories; pass categories aligned with scores")
    if not rules.boost and not rules.bury:
        return out
    delta = np.zeros(out.shape[0], dtype=np.float32)
    for i, category in enumerate(categories):
        for label in _labels(category):
            delta[i] += rules.boost.get(label, 0.0) - rules.bury.get(label, 0.0)
    return out + delta


def cap_per_category(order: np.ndarray, categories: Sequence[Category], cap: int | None,
                     k: int) -> np.ndarray:
    """The first ``k`` items of ``order`` with at most ``cap`` per category.

    Items are taken in order; one whose category (any of its labels) already has ``cap``
    picks is skipped. Items without a category are never capped.

    Args:
        order: ranked positions (best first) into ``categories``.
        categories: category entry per position (see the module docstring).
        cap: the maximum per category; None = no cap.
        k: list length.

    Returns:
        ``int64`` positions, at most ``k`` (fewer when the cap leaves too few).

    Example:
        >>> cap_per_category(np.array([0, 1, 2, 3]), ["a", "A", "a", "b"], cap=2, k=3).tolist()
        [0, 1, 3]
    """
    order = np.asarray(order, dtype=np.int64).reshape(-1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if cap is None:
        return order[:k].copy()
    if cap < 1:
        raise ConfigError(f"expected cap >= 1 or None, found {cap!r}; use None for no cap")
    counts: dict[str, int] = {}
    picked: list[int] = []
    for position in order.tolist():
        if not 0 <= position < len(categories):
            raise DataError(f"expected positions in 0..{len(categories) - 1}, found {position}; "
                            "pass categories aligned with the ranked positions")
        labels = _labels(categories[position])
        if any(counts.get(label, 0) >= cap for label in labels):
            continue
        for label in set(labels):
            counts[label] = counts.get(label, 0) + 1
        picked.append(position)
        if len(picked) == k:
            break
    return np.asarray(picked, dtype=np.int64)


def _check_diversity(diversity: float) -> None:
    if isinstance(diversity, bool) or not isinstance(diversity, (int, float, np.floating)) \
            or not 0.0 <= float(diversity) <= 1.0:
        raise ConfigError(f"expected diversity in [0, 1], found {diversity!r}; "
                          "use 0 for relevance order, ~0.3 for a mild mix")

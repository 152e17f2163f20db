"""Explanations of one recommendation: which history items it follows from, which signals won.

:func:`explain` combines two views:

* **because** — the user's history items most related to the candidate. A history item's weight
  is ``text_sim + co_sim / max(co_sim)`` (the co-engagement similarity scaled to [0, 1] over the
  history; negative values count as 0); the ``max_items`` items with a positive weight, the
  strongest first (ties: the more recent), are named by title.
* **reasons** — the ranker features that pushed the candidate up the most: the largest positive
  LightGBM contributions (``pred_contrib``), shown by their display names in
  :data:`FEATURE_NAMES` (unknown features show their name with ``_`` as blanks).

Example:
    >>> import numpy as np
    >>> e = explain(9, np.array([0, 1, 2]), np.array([0.1, 0.8, 0.6]), None,
    ...             {"text_sim": 0.9, "pop": -0.2, "coeng": 0.3},
    ...             ["Heat", "Alien", "The Thing"] + ["x"] * 7)
    >>> e.text
    'Because you liked Alien and The Thing; strongest signals: text match, co-engagement'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from domaintune.errors import ConfigError, DataError

__all__ = ["FEATURE_NAMES", "QUERY_TEXT", "Explanation", "display_name", "explain"]

#: Display names of the ranker's features (the lead's feature names -> words for people).
FEATURE_NAMES: dict[str, str] = {
    "text_sim": "text match",
    "text_sim_tuned": "tuned text match",
    "text_max_sim": "closest text match",
    "ease": "people with similar taste",
    "knn": "similar items",
    "coeng": "co-engagement",
    "pop": "popularity",
    "pop_trend": "trending now",
    "item_age": "freshness",
    "user_activity": "your activity",
    "since_last": "time since your last visit",
    "src_text": "found by text search",
    "src_cf": "found by collaborative filtering",
    "src_coeng": "found by co-engagement",
    "src_pop": "found among popular items",
}

#: Text of a recommendation for a query without a user history (cold start).
QUERY_TEXT = "Matches your query"


@dataclass(frozen=True)
class Explanation:
    """Why one item is recommended.

    Attributes:
        because: history item indices the candidate follows from, strongest first.
        reasons: display names of the strongest positive ranker signals, strongest first.
        text: one sentence for people, e.g. ``"Because you liked Alien and The Thing;
            strongest signals: text match, co-engagement"``.
    """

    because: list[int]
    reasons: list[str]
    text: str

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready mapping."""
        return {"because": list(self.because), "reasons": list(self.reasons), "text": self.text}


def display_name(feature: str) -> str:
    """The display name of a ranker feature (``FEATURE_NAMES`` or the name, ``_`` -> blank)."""
    return FEATURE_NAMES.get(feature, feature.replace("_", " "))


def explain(
    candidate: int,
    history: np.ndarray,
    text_sim: np.ndarray,
    co_sim: np.ndarray | None,
    contributions: Mapping[str, float],
    titles: Sequence[str],
    *,
    max_items: int = 2,
    max_reasons: int = 2,
    verb: str = "liked",
) -> Explanation:
    """Explain why ``candidate`` is recommended to a user with ``history``.

    Args:
        candidate: the recommended item index (it is never its own reason).
        history: the user's item indices, most recent last (may repeat; may be empty).
        text_sim: similarity of each history item to the candidate (same length as history).
        co_sim: co-engagement similarity of each history item to the candidate, or None.
        contributions: feature name -> signed contribution to the candidate's ranker score
            (LightGBM ``pred_contrib`` without the bias); only positive ones become reasons.
        titles: item titles indexed by item index.
        max_items: how many history items to name.
        max_reasons: how many signals to name.
        verb: the verb of the sentence ("liked", "watched", "bought" ...).

    Returns:
        An :class:`Explanation`. Without a history (a cold-start query): ``"Matches your
        query"`` (``"Matches your query; strongest signals: ..."`` when some contribution is
        positive). With a history but no related item: ``"Strongest signals: ..."``, or
        ``"Recommended for you"`` when nothing is positive either.

    Example:
        >>> explain(3, np.array([], dtype=int), np.array([]), None, {}, ["a"] * 4).text
        'Matches your query'
    """
    if max_items < 0 or max_reasons < 0:
        raise ConfigError(f"expected max_items and max_reasons >= 0, found {max_items} and "
                          f"{max_reasons}; use e.g. max_items=2, max_reasons=2")
    hist = np.asarray(history, dtype=np.int64).reshape(-1)
    text = _aligned("text_sim", text_sim, hist.shape[0])
    co = _aligned("co_sim", co_sim, hist.shape[0]) if co_sim is not None else None
    reasons = _reasons(contributions, max_reasons)
    signals = f"strongest signals: {', '.join(reasons)}" if reasons else ""

    if hist.shape[0] == 0:
        return Explanation([], reasons, f"{QUERY_TEXT}; {signals}" if signals else QUERY_TEXT)

    bad = hist[(hist < 0) | (hist >= len(titles))]
    if bad.size:
        raise DataError(f"expected history item indices in 0..{len(titles) - 1} (one title per "
                        f"catalogue item), found {int(bad[0])}; pass titles for the whole catalogue")
    weight = np.where(np.isfinite(text), text, 0.0)
    if co is not None:
        co = np.where(np.isfinite(co), np.maximum(co, 0.0), 0.0)
        top = float(co.max())
        if top > 0:
            weight = weight + co / top
    because = _strongest(hist, weight, int(candidate), max_items)
    if because:
        names = [_title(titles, i) for i in because]
        sentence = f"Because you {verb} {_join(names)}"
        return Explanation(because, reasons, f"{sentence}; {signals}" if signals else sentence)
    if signals:
        return Explanation([], reasons, signals[0].upper() + signals[1:])
    return Explanation([], [], "Recommended for you")


def _aligned(name: str, values: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n:
        raise DataError(f"expected {name} with one value per history item ({n}), found "
                        f"{arr.shape[0]}; compute it for the same history array")
    return arr


def _strongest(hist: np.ndarray, weight: np.ndarray, candidate: int, k: int) -> list[int]:
    # one weight per distinct item: its best; ties go to the more recent occurrence
    best: dict[int, tuple[float, int]] = {}
    for position, (item, w) in enumerate(zip(hist.tolist(), weight.tolist(), strict=True)):
        if item == candidate or not w > 0:
            continue
        if item not in best or (w, position) >= best[item]:
            best[item] = (w, position)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))
    return [item for item, _ in ranked[:k]]


def _reasons(contributions: Mapping[str, float], k: int) -> list[str]:
    if k == 0:
        return []
    positive = [(float(v), name) for name, v in contributions.items()
                if v is not None and math.isfinite(float(v)) and float(v) > 0]
    positive.sort(key=lambda t: -t[0])  # stable: equal contributions keep the mapping's order
    out: list[str] = []
    for _, name in positive:
        label = display_name(name)
        if label not in out:
            out.append(label)
        if len(out) == k:
            break
    return out


def _title(titles: Sequence[str], item: int) -> str:
    title = titles[item]
    return str(title).strip() if title is not None and str(title).strip() else f"item {item}"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

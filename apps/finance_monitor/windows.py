"""Time windows and the per-(series, window) aggregate the detector reads.

A window of size ``s`` seconds (``15min`` = 900, ``hour`` = 3600, ``day`` = 86400) starts at a
multiple of ``s`` since 1970-01-01 00:00 UTC, so every timestamp has exactly one window:
``window_start(ts) = epoch + floor((ts - epoch) / s) * s`` and the window is the half-open
interval ``[start, start + s)``. Days start at midnight UTC. Timestamps must be time-zone aware
(any zone; they are converted to UTC): a naive datetime is ambiguous and raises ``TypeError``
(the input reader applies ``input.assume_tz`` before this point).

:class:`WindowStats` is what one series keeps for one window: the number of documents, how many
of them were negative / positive, and the sum of their scores ``P(pos) - P(neg)``. It is a sum,
so two partial aggregates of the same window merge by adding (chunks, late folds, shards).

Example:
    >>> from datetime import datetime, timezone
    >>> from finance_monitor.config import WindowSize
    >>> window_start(datetime(2026, 1, 5, 10, 47, tzinfo=timezone.utc), WindowSize.HOUR)
    datetime.datetime(2026, 1, 5, 10, 0, tzinfo=datetime.timezone.utc)
    >>> stats = WindowStats()
    >>> stats.add(-0.9, "negative"); stats.add(0.5, "positive")
    >>> stats.count, stats.negative_share, stats.mean_score
    (2, 0.5, -0.2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from finance_monitor.config import WindowSize

__all__ = ["EPOCH", "POLARITIES", "WindowStats", "window_end", "window_start"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
POLARITIES = ("negative", "neutral", "positive")


def _size(size: WindowSize | str) -> WindowSize:
    try:
        return WindowSize(size)
    except ValueError:
        raise ValueError(f"expected a window size in {[s.value for s in WindowSize]}, found "
                         f"{size!r}") from None


def _check_aware(ts: datetime, what: str) -> None:
    if not isinstance(ts, datetime):
        raise TypeError(f"expected {what} as a datetime, found {type(ts).__name__} {ts!r}")
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise TypeError(f"expected a time-zone aware {what}, found the naive datetime "
                        f"{ts.isoformat()}; attach a zone first (e.g. "
                        "ts.replace(tzinfo=timezone.utc), or set input.assume_tz)")


def window_start(ts: datetime, size: WindowSize | str) -> datetime:
    """The start (UTC, aware) of the window of size ``size`` that contains ``ts``.

    Args:
        ts: a time-zone aware datetime (any zone). Naive datetimes raise ``TypeError``.
        size: ``WindowSize`` or its value (``"15min"``, ``"hour"``, ``"day"``).

    Example:
        >>> from datetime import datetime, timedelta, timezone
        >>> window_start(datetime(2026, 1, 5, 23, 59, tzinfo=timezone(timedelta(hours=-5))), "day")
        datetime.datetime(2026, 1, 6, 0, 0, tzinfo=datetime.timezone.utc)
    """
    _check_aware(ts, "timestamp")
    step = timedelta(seconds=_size(size).seconds)
    return EPOCH + ((ts - EPOCH) // step) * step


def window_end(start: datetime, size: WindowSize | str) -> datetime:
    """The (exclusive) end of the window that starts at ``start``: ``start + size``."""
    _check_aware(start, "window start")
    return start.astimezone(timezone.utc) + timedelta(seconds=_size(size).seconds)


@dataclass
class WindowStats:
    """The aggregate of one (series, window): mergeable sums.

    Args:
        count: documents in the window.
        negative: documents whose polarity label is ``negative``.
        positive: documents whose polarity label is ``positive``.
        score_sum: the sum of the documents' scores ``P(pos) - P(neg)``.
    """

    count: int = 0
    negative: int = 0
    positive: int = 0
    score_sum: float = 0.0

    def add(self, score: float, polarity: str) -> None:
        """Count one document with score ``score`` (in [-1, 1]) and polarity label ``polarity``
        (``negative``, ``neutral`` or ``positive``)."""
        if polarity not in POLARITIES:
            raise ValueError(f"expected a polarity in {list(POLARITIES)}, found {polarity!r}")
        score = float(score)
        if not math.isfinite(score):
            raise ValueError(f"expected a finite score in [-1, 1], found {score!r}")
        self.count += 1
        self.score_sum += score
        if polarity == "negative":
            self.negative += 1
        elif polarity == "positive":
            self.positive += 1

    def merge(self, other: WindowStats) -> None:
        """Add another aggregate of the same window into this one."""
        self.count += other.count
        self.negative += other.negative
        self.positive += other.positive
        self.score_sum += other.score_sum

    @property
    def mean_score(self) -> float:
        """Mean score of the window's documents (0.0 for an empty window)."""
        return self.score_sum / self.count if self.count else 0.0

    @property
    def negative_share(self) -> float:
        """Share of negative documents (0.0 for an empty window)."""
        return self.negative / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "negative": self.negative, "positive": self.positive,
                "score_sum": self.score_sum}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowStats:
        unknown = sorted(set(data) - {"count", "negative", "positive", "score_sum"})
        if unknown:
            raise ValueError(f"expected WindowStats keys count, negative, positive, score_sum; "
                             f"found unknown {unknown}")
        stats = cls(count=int(data.get("count", 0)), negative=int(data.get("negative", 0)),
                    positive=int(data.get("positive", 0)),
                    score_sum=float(data.get("score_sum", 0.0)))
        if not 0 <= stats.negative + stats.positive <= stats.count:
            raise ValueError(f"expected 0 <= negative + positive <= count in WindowStats, found "
                             f"{stats.to_dict()}")
        return stats

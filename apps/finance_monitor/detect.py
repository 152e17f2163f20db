"""The surge detector: pure, deterministic per-series logic over closed windows.

One :class:`SeriesState` per series (a ticker or a topic) holds everything the detector keeps;
:meth:`Detector.advance` evaluates the windows from ``state.next_window`` up to (not including)
a window start ``until``, in order, and returns a new state plus the :class:`Signal` of every
window that raised an alert. Windows missing from the given aggregates are empty. Because the
state is the only memory and it round-trips through JSON (:meth:`SeriesState.to_dict`), calling
``advance`` twice, split at any window, gives exactly (bit for bit) the state and signals of one
call over the whole range: that is what makes an interrupted, resumed run identical to an
uninterrupted one.

**Baselines.** Exponentially weighted (EW) mean ``m`` and variance ``v`` with half-life ``H``
windows (``detection.halflife``): ``a = 1 - 2**(-1/H)``; for a new value ``x``:
``d = x - m; m <- m + a*d; v <- (1 - a) * (v + a*d*d)`` (the first value sets ``m = x, v = 0``).
Four baselines: the window's document *count* and *negative count* (updated on every window,
empty ones as 0), and its *negative share* and *mean score* (updated only on windows with at
least one document: an empty window has no share). A window that fires, or continues an
episode, does **not** update them (a surge must not become its own baseline); during the
warm-up (the first ``min_history`` windows) every window updates them.

**z-scores** (``n`` documents, ``k`` negative, share ``p = k/n`` in the window; ``p0, v_p`` and
``m_k, v_k`` the share and negative-count baselines before it):

* share: ``z_share = (p - p0) / sqrt(phi * q(1-q)/n)`` with ``q = clip(p0, 0.02, 0.98)``: the
  binomial standard error of a share of ``n`` documents, scaled by the series' over-dispersion
  ``phi = max(1, EW mean of z_b**2)`` where ``z_b`` is each past (non-firing, non-empty)
  window's binomial z, each capped at 25 (Laney's p'-chart). The binomial variance is the floor
  (``phi >= 1``), so a window of few documents cannot look surprising because past windows
  happened to agree, and real social streams, whose shares vary more than binomially (retweet
  bursts, news days), are not held to a binomial test;
* volume: ``z_volume = (k - m_k) / sqrt(max(v_k, m_k, 0.25))``: the Poisson variance (= mean)
  is a floor, and so is 0.25 (a standard deviation of at least half a document), so a ticker
  that never had a negative post does not divide by zero.

**CUSUM** (one-sided, upward) on the standardized negative share:
``S <- max(0, S + z_share - k)`` with allowance ``k = detection.cusum_k``; it fires when
``S >= h = detection.cusum_h``. It accumulates a slow drift whose single windows stay below
``z_threshold``. Empty windows leave ``S`` unchanged (no evidence either way); ``S`` stays 0
during the warm-up and is reset to 0 after every window that fires.

**Firing.** A window *fires* when all of these hold: at least ``min_history`` windows were
evaluated before it; it has ``count >= min_count`` and ``negative >= min_negative`` documents
(the minimum-volume guard: one negative post on a quiet ticker never fires); and the test of
``detection.method`` fires: ``zscore`` = ``z_share >= z_threshold`` or (when
``volume_z_threshold`` is set) ``z_volume >= volume_z_threshold``; ``cusum`` = ``S >= h``;
``combined`` = either.

**Episodes and cool-down.** Consecutive firing windows form one *episode*, which raises one
alert, on its first window; the episode ends at the first window that does not fire (an empty
window never fires). After an alert the series cannot raise another for ``cooldown`` windows
(a window that fires meanwhile still starts or continues an episode, silently).

**Severity.** The alert's severity is the highest level of ``detection.severity`` (level ->
minimum z) reached by the strongest z-score, ``max(z_share, z_volume)``; the lowest level when
none is reached (e.g. a CUSUM-only alert with small z).

Example:
    >>> from datetime import datetime, timedelta, timezone
    >>> from finance_monitor.config import DetectionConfig, WindowSize
    >>> from finance_monitor.windows import WindowStats
    >>> day0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> stats = {day0 + timedelta(days=i): WindowStats(count=10, negative=1, score_sum=1.0)
    ...          for i in range(30)}
    >>> stats[day0 + timedelta(days=30)] = WindowStats(count=12, negative=9, score_sum=-6.0)
    >>> detector = Detector(DetectionConfig(min_history=10), WindowSize.DAY)
    >>> state, signals = detector.advance(SeriesState(), stats, until=day0 + timedelta(days=31))
    >>> [(s.window_start.date().isoformat(), s.severity, s.triggered_by) for s in signals]
    [('2026-01-31', 'medium', ('zscore',))]
    >>> state.next_window == day0 + timedelta(days=31)
    True
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from finance_monitor.config import DetectionConfig, DetectionMethod, WindowSize
from finance_monitor.windows import EPOCH, WindowStats

__all__ = ["PHI_Z2_CAP", "SHARE_FLOOR_P", "VOLUME_VAR_MIN", "Detector", "SeriesState", "Severity", "Signal",
           "ew_alpha"]

SHARE_FLOOR_P = 0.02  # the base share in the binomial floor is clipped to [0.02, 0.98]
VOLUME_VAR_MIN = 0.25  # the negative-count variance is at least this (std >= 0.5 documents)
PHI_Z2_CAP = 25.0  # a window's squared binomial z enters the over-dispersion factor capped at 25


def ew_alpha(halflife: float) -> float:
    """The EW weight of a new value for a half-life in windows: ``1 - 2**(-1/halflife)``."""
    return 1.0 - 0.5 ** (1.0 / halflife)


def _ew(n: int, mean: float, var: float, x: float, a: float) -> tuple[float, float]:
    """One EW mean/variance step (``n`` values seen before ``x``)."""
    if n == 0:
        return x, 0.0
    d = x - mean
    inc = a * d
    return mean + inc, (1.0 - a) * (var + d * inc)


class Severity(str, enum.Enum):
    """The default severity levels (``detection.severity`` may name others: a Signal's
    severity is the level name as a string)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(timezone.utc).isoformat()


def _parse_ts(value: Any, key: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    text = str(value)
    try:
        ts = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"SeriesState.{key} expects an ISO 8601 timestamp such as "
                         f"'2026-01-05T10:00:00+00:00', found {value!r}") from None
    if ts.tzinfo is None:
        raise ValueError(f"SeriesState.{key} expects a timestamp with a time zone, found "
                         f"{value!r}; write it with '+00:00'")
    return ts.astimezone(timezone.utc)


@dataclass
class SeriesState:
    """Everything the detector keeps per series; JSON-able via :meth:`to_dict` /
    :meth:`from_dict` (datetimes as ISO 8601 strings).

    Args:
        next_window: start of the first window not yet evaluated (None: a new series).
        windows_seen: windows evaluated so far (empty ones included).
        volume_n: windows that updated the count / negative-count baselines.
        count_mean, count_var: EW mean / variance of the document count per window.
        negative_mean, negative_var: EW mean / variance of the negative count per window.
        share_n: non-empty windows that updated the share / score baselines.
        share_mean, share_var: EW mean / variance of the negative share.
        share_phi: EW mean of the squared binomial z of the share (over-dispersion factor).
        score_mean, score_var: EW mean / variance of the mean score.
        cusum: the one-sided CUSUM statistic.
        in_episode: the last evaluated window fired.
        cooldown_left: windows still blocked after the last alert.
        alerts: alerts raised so far.
        last_alert: start of the window of the last alert.
    """

    next_window: datetime | None = None
    windows_seen: int = 0
    volume_n: int = 0
    count_mean: float = 0.0
    count_var: float = 0.0
    negative_mean: float = 0.0
    negative_var: float = 0.0
    share_n: int = 0
    share_mean: float = 0.0
    share_var: float = 0.0
    share_phi: float = 1.0
    score_mean: float = 0.0
    score_var: float = 0.0
    cusum: float = 0.0
    in_episode: bool = False
    cooldown_left: int = 0
    alerts: int = 0
    last_alert: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (datetimes as ISO strings)."""
        out = {f.name: getattr(self, f.name) for f in _STATE_FIELDS}
        out["next_window"] = _iso(self.next_window)
        out["last_alert"] = _iso(self.last_alert)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeriesState:
        """The state written by :meth:`to_dict` (unknown keys are errors)."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"expected SeriesState keys {sorted(known)}, found unknown "
                             f"{unknown}; was it written by a newer finance_monitor?")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("next_window", "last_alert"):
                values[key] = _parse_ts(value, key)
            elif key == "in_episode":
                values[key] = bool(value)
            elif key in ("windows_seen", "volume_n", "share_n", "cooldown_left", "alerts"):
                values[key] = int(value)
            else:
                values[key] = float(value)
        return cls(**values)


_STATE_FIELDS = dataclasses.fields(SeriesState)


@dataclass(frozen=True)
class Signal:
    """One window that raised an alert.

    Args:
        window_start, window_end: the window (aware UTC datetimes; end exclusive).
        severity: the severity level name.
        triggered_by: the tests that fired, of ``("zscore", "cusum")``.
        metrics: ``count``, ``negative``, ``negative_share``, ``mean_score``, ``z_share``,
            ``z_volume``, ``cusum`` of the window (``cusum`` before its reset).
        baseline: the baselines before the window: ``count_mean``, ``count_std``,
            ``negative_mean``, ``negative_std``, ``negative_share_mean``,
            ``negative_share_std``, ``mean_score_mean``, ``mean_score_std`` (EW, before the
            variance floors).
    """

    window_start: datetime
    window_end: datetime
    severity: str
    triggered_by: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)


class Detector:
    """Runs the surge test of one :class:`DetectionConfig` on series of one window size.

    Args:
        config: the thresholds (see the module docstring for the math).
        size: the window size of the aggregates.

    Example:
        >>> from finance_monitor.config import DetectionConfig
        >>> detector = Detector(DetectionConfig(), "hour")
        >>> state, signals = detector.advance(SeriesState(), {}, until=EPOCH)
        >>> state.next_window is None, signals
        (True, [])
    """

    def __init__(self, config: DetectionConfig, size: WindowSize | str) -> None:
        if not isinstance(config, DetectionConfig):
            raise TypeError(f"expected a DetectionConfig, found {type(config).__name__}; build "
                            "one with DetectionConfig(...) or MonitorConfig(...).detection")
        self.config = config
        try:
            self.size = WindowSize(size)
        except ValueError:
            raise ValueError(f"expected a window size in {[s.value for s in WindowSize]}, "
                             f"found {size!r}") from None
        self._step = self.size.seconds
        self._alpha = ew_alpha(config.halflife)
        method = DetectionMethod(config.method)
        self._use_z = method in (DetectionMethod.ZSCORE, DetectionMethod.COMBINED)
        self._use_cusum = method in (DetectionMethod.CUSUM, DetectionMethod.COMBINED)
        self._levels = sorted(config.severity.items(), key=lambda item: (item[1], item[0]))

    def _seconds(self, ts: datetime, what: str) -> int:
        if not isinstance(ts, datetime) or ts.tzinfo is None or ts.utcoffset() is None:
            raise TypeError(f"expected {what} as a time-zone aware datetime, found {ts!r}")
        delta = ts - EPOCH
        seconds = delta.days * 86400 + delta.seconds
        if delta.microseconds or seconds % self._step:
            raise ValueError(f"expected {what} at the start of a {self.size.value} window, found "
                             f"{ts.isoformat()}; floor it with finance_monitor.windows."
                             "window_start(ts, size)")
        return seconds

    def severity_of(self, z: float) -> str:
        """The highest severity level whose minimum ``z`` reaches (the lowest level if none)."""
        name = self._levels[0][0]
        for level, minimum in self._levels:
            if z >= minimum:
                name = level
        return name

    def advance(self, state: SeriesState, stats: Mapping[datetime, WindowStats],
                until: datetime) -> tuple[SeriesState, list[Signal]]:
        """Evaluate every window from ``state.next_window`` (for a new series: the earliest key
        of ``stats``) up to, not including, ``until``, in order.

        Args:
            state: the series' state (not modified).
            stats: aggregates keyed by window start (aware, aligned to the window size);
                windows missing from it are empty; keys before ``state.next_window`` (already
                evaluated: the caller counts those documents as late) or from ``until`` on are
                ignored.
            until: a window start: the first window not to evaluate yet.

        Returns:
            The new state and the signals of the windows that raised an alert, in order.
        """
        step = self._step
        end = self._seconds(until, "until")
        new = dataclasses.replace(state)
        start = (self._seconds(state.next_window, "state.next_window")
                 if state.next_window is not None else None)
        keyed: list[tuple[int, WindowStats]] = []
        for key, value in stats.items():
            seconds = self._seconds(key, "a window key of stats")
            if (start is None or seconds >= start) and seconds < end:
                keyed.append((seconds, value))
        keyed.sort(key=lambda item: item[0])
        if start is None:
            if not keyed:
                return new, []
            start = keyed[0][0]
        if start >= end:
            return new, []
        signals: list[Signal] = []
        cursor = start
        for seconds, window in keyed:
            self._skip_empty(new, (seconds - cursor) // step)
            signal = self._evaluate(new, seconds, window)
            if signal is not None:
                signals.append(signal)
            cursor = seconds + step
        self._skip_empty(new, (end - cursor) // step)
        new.next_window = EPOCH + timedelta(seconds=end)
        return new, signals

    def _skip_empty(self, s: SeriesState, windows: int) -> None:
        """Evaluate ``windows`` empty windows at once: what ``windows`` calls of :meth:`_evaluate`
        on an empty window do (never fire; the count and negative-count baselines decay towards
        0), in closed form, so that a sparse series (a cashtag seen twice a year on hour
        windows) costs nothing per empty window. Equal to the step-by-step arithmetic up to
        rounding (~1e-16 relative): the app advances a series only up to its last window with
        documents, so each run of empty windows is always taken in one piece, whatever the
        chunking or interruptions of the input."""
        if windows <= 0:
            return
        n, cm, cv, nm, nv = s.volume_n, s.count_mean, s.count_var, s.negative_mean, s.negative_var
        if n == 0:  # the first value (0) sets the baselines; the others keep them at 0
            cm = cv = nm = nv = 0.0
        else:  # k steps of _ew with x = 0 at once: m r^k and r^k v + m^2 r^k (1 - r^k)
            rk = (1.0 - self._alpha) ** windows
            cm, cv = cm * rk, rk * cv + cm * cm * rk * (1.0 - rk)
            nm, nv = nm * rk, rk * nv + nm * nm * rk * (1.0 - rk)
        n += windows
        s.volume_n, s.count_mean, s.count_var, s.negative_mean, s.negative_var = n, cm, cv, nm, nv
        s.cooldown_left = max(0, s.cooldown_left - windows)
        s.in_episode = False
        s.windows_seen += windows

    def _evaluate(self, s: SeriesState, seconds: int, w: WindowStats) -> Signal | None:
        """Evaluate one window (updates ``s`` in place); its Signal if it raised an alert."""
        cfg = self.config
        n, k = w.count, w.negative
        if n == 0:
            self._skip_empty(s, 1)
            return None
        p = k / n
        score = w.score_sum / n
        warm = s.windows_seen >= cfg.min_history
        if s.share_n:
            q = min(max(s.share_mean, SHARE_FLOOR_P), 1.0 - SHARE_FLOOR_P)
            z_binomial = (p - s.share_mean) / math.sqrt(q * (1.0 - q) / n)
            z_share = z_binomial / math.sqrt(max(1.0, s.share_phi))
        else:
            z_binomial = z_share = 0.0
        if s.volume_n:
            z_volume = (k - s.negative_mean) / math.sqrt(
                max(s.negative_var, s.negative_mean, VOLUME_VAR_MIN))
        else:
            z_volume = 0.0
        cusum = max(0.0, s.cusum + z_share - cfg.cusum_k) if warm else 0.0
        triggered: list[str] = []
        if warm and n >= cfg.min_count and k >= cfg.min_negative:
            if self._use_z and (z_share >= cfg.z_threshold or (
                    cfg.volume_z_threshold is not None and z_volume >= cfg.volume_z_threshold)):
                triggered.append("zscore")
            if self._use_cusum and cusum >= cfg.cusum_h:
                triggered.append("cusum")
        fires = bool(triggered)
        blocked = s.cooldown_left > 0
        if blocked:
            s.cooldown_left -= 1
        signal = None
        if fires and not s.in_episode and not blocked:
            start = EPOCH + timedelta(seconds=seconds)
            signal = Signal(
                window_start=start, window_end=start + timedelta(seconds=self._step),
                severity=self.severity_of(max(z_share, z_volume)),
                triggered_by=tuple(triggered),
                metrics={"count": float(n), "negative": float(k), "negative_share": p,
                         "mean_score": score, "z_share": z_share, "z_volume": z_volume,
                         "cusum": cusum},
                baseline={"count_mean": s.count_mean, "count_std": math.sqrt(s.count_var),
                          "negative_mean": s.negative_mean,
                          "negative_std": math.sqrt(s.negative_var),
                          "negative_share_mean": s.share_mean,
                          "negative_share_std": math.sqrt(s.share_var),
                          "mean_score_mean": s.score_mean,
                          "mean_score_std": math.sqrt(s.score_var),
                          "negative_share_overdispersion": max(1.0, s.share_phi)})
            s.cooldown_left = cfg.cooldown
            s.alerts += 1
            s.last_alert = start
        s.in_episode = fires
        s.cusum = 0.0 if fires else cusum
        if not fires:
            a = self._alpha
            s.count_mean, s.count_var = _ew(s.volume_n, s.count_mean, s.count_var, float(n), a)
            s.negative_mean, s.negative_var = _ew(s.volume_n, s.negative_mean, s.negative_var,
                                                  float(k), a)
            s.volume_n += 1
            if s.share_n:
                s.share_phi += a * (min(z_binomial * z_binomial, PHI_Z2_CAP) - s.share_phi)
            s.share_mean, s.share_var = _ew(s.share_n, s.share_mean, s.share_var, p, a)
            s.score_mean, s.score_var = _ew(s.share_n, s.score_mean, s.score_var, score, a)
            s.share_n += 1
        s.windows_seen += 1
        return signal

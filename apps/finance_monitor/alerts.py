"""Alerts: the record the monitor raises, its stable id, and the JSON-lines sink.

An :class:`Alert` is one surge of negative sentiment in one series (a ticker or a topic) and
one time window. Its ``alert_id`` depends only on *what* fired and *when* (series kind, series
key, window size, window start), never on the run, the clock or the metric values, so a re-run
over the same data raises the same ids and every sink can de-duplicate on them:

- :class:`JsonlSink` appends each ``alert_id`` at most once to a JSON-lines file, across runs
  and crashes;
- the database's ``alerts`` table keys on it (``store.py``);
- the webhook sends it as ``Idempotency-Key`` (``webhook.py``).

Example:
    >>> from datetime import datetime, timezone
    >>> start = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)
    >>> make_alert_id("ticker", "ACME", "hour", start)
    'fm-0576ba16688405de'
    >>> alert = Alert(alert_id=make_alert_id("ticker", "ACME", "hour", start),
    ...               series_kind="ticker", series_key="ACME",
    ...               window_start="2026-01-05T10:00:00Z", window_end="2026-01-05T11:00:00Z",
    ...               window="hour", severity="high", triggered_by=["zscore"],
    ...               metrics={"count": 40.0, "negative_share": 0.8}, baseline={},
    ...               documents=[], created_at="2026-01-05T11:05:00Z")
    >>> Alert.from_dict(json.loads(alert.to_json())) == alert
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from domaintune import DataError

from .config import WindowSize

try:  # POSIX advisory locks: two monitors appending to one file do not interleave or double
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock, one writer expected
    fcntl = None  # type: ignore[assignment]

SERIES_KINDS = ("ticker", "topic")


def iso_utc(ts: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with a ``Z`` (``2026-01-05T10:00:00Z``; microseconds
    only when not zero). Naive datetimes are a ``TypeError``: their instant is unknown."""
    if not isinstance(ts, datetime):
        raise TypeError(f"expected an aware datetime, found {type(ts).__name__} {ts!r}")
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise TypeError(f"expected an aware datetime (with a time zone), found naive {ts!r}; "
                        "attach one, e.g. ts.replace(tzinfo=timezone.utc)")
    ts = ts.astimezone(timezone.utc)
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}"
    return text + "Z"


def _window_name(window: WindowSize | str) -> str:
    try:
        return WindowSize(window).value
    except ValueError:
        raise ValueError(f"expected a window size among {[w.value for w in WindowSize]}, "
                         f"found {window!r}") from None


def _series_kind(kind: str) -> str:
    if kind not in SERIES_KINDS:
        raise ValueError(f"expected series_kind 'ticker' or 'topic', found {kind!r}")
    return kind


def make_alert_id(series_kind: str, series_key: str, window: WindowSize | str,
                  window_start: datetime) -> str:
    """The stable id of the alert of one series in one window.

    ``"fm-"`` + the first 16 hex digits of the SHA-256 of the JSON array
    ``[series_kind, series_key, window, window_start]`` (window as ``15min``/``hour``/``day``,
    window start as ISO 8601 UTC, see :func:`iso_utc`). It depends on nothing else (not the
    run, the clock, the metrics or the contributing documents), so re-running over the same
    data gives the same ids; the same instant written in another time zone gives the same id.
    ``series_key`` is used as given (tickers come upper-case from ``entities.py``). Changing
    this scheme changes every id: sinks would then raise old alerts again.

    Args:
        series_kind: ``ticker`` or ``topic``.
        series_key: the ticker (``ACME``) or topic name.
        window: a :class:`~finance_monitor.config.WindowSize` or its value.
        window_start: the window's start, an aware datetime (naive: ``TypeError``).

    Example:
        >>> from datetime import datetime, timedelta, timezone
        >>> a = make_alert_id("ticker", "ACME", "hour", datetime(2026, 1, 5, 10, tzinfo=timezone.utc))
        >>> b = make_alert_id("ticker", "ACME", WindowSize.HOUR,
        ...                   datetime(2026, 1, 5, 5, tzinfo=timezone(timedelta(hours=-5))))
        >>> a == b, a
        (True, 'fm-0576ba16688405de')
    """
    payload = json.dumps([_series_kind(series_kind), str(series_key), _window_name(window),
                          iso_utc(window_start)], ensure_ascii=False, separators=(",", ":"))
    return "fm-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _json_safe(value: Any) -> Any:
    """Non-finite floats (an infinite z-score) as None: strict JSON has no NaN/Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _floats(name: str, values: Mapping[str, Any]) -> dict[str, float]:
    try:
        return {str(k): (math.nan if v is None else float(v)) for k, v in values.items()}
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"Alert.{name} expects a mapping of names to numbers, found "
                         f"{values!r}") from None


@dataclass(frozen=True)
class Alert:
    """One alert: a negative-sentiment surge of one series in one window.

    Fields are plain JSON values (the record is what the JSONL file, the database and the
    webhook carry). ``created_at`` is the first time the alert was raised and is not part of
    ``alert_id``. On construction ``window`` is normalised to its value (``WindowSize.HOUR``
    -> ``"hour"``), ``triggered_by`` to a list, and ``metrics``/``baseline`` to ``{str: float}``
    (None -> NaN). Alerts hash by ``alert_id`` (equal alerts have equal ids).

    Args:
        alert_id: :func:`make_alert_id` of the series and window.
        series_kind: ``ticker`` or ``topic``.
        series_key: the ticker or topic name.
        window_start, window_end: ISO 8601 UTC (``2026-01-05T10:00:00Z``).
        window: ``15min``, ``hour`` or ``day``.
        severity: a level of ``DetectionConfig.severity`` (``low``/``medium``/``high``).
        triggered_by: the tests that fired, e.g. ``["zscore", "cusum"]``.
        metrics: the window's values (count, negative, negative_share, mean_score, z_share,
            z_volume, cusum).
        baseline: the baseline means/standard deviations before the window.
        documents: the top contributing documents, most negative first:
            ``[{"id", "text", "score", "timestamp"}]``.
        created_at: ISO 8601 UTC time the alert was first raised.
    """

    alert_id: str
    series_kind: str
    series_key: str
    window_start: str
    window_end: str
    window: str
    severity: str
    triggered_by: list[str]
    metrics: dict[str, float]
    baseline: dict[str, float]
    documents: list[dict] = field(default_factory=list)
    created_at: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.alert_id, str) or not self.alert_id:
            raise ValueError(f"Alert.alert_id expects a non-empty string, found {self.alert_id!r}")
        _series_kind(self.series_kind)
        set_ = object.__setattr__
        set_(self, "window", _window_name(self.window))
        if isinstance(self.triggered_by, str):
            raise ValueError(f"Alert.triggered_by expects a list of test names such as "
                             f"['zscore'], found the string {self.triggered_by!r}")
        set_(self, "triggered_by", [str(t) for t in self.triggered_by])
        set_(self, "metrics", _floats("metrics", self.metrics))
        set_(self, "baseline", _floats("baseline", self.baseline))
        set_(self, "documents", [dict(d) for d in self.documents])

    def __hash__(self) -> int:
        return hash(self.alert_id)

    @classmethod
    def from_signal(cls, series_kind: str, series_key: str, window: WindowSize | str,
                    signal: Any, documents: Iterable[Mapping[str, Any]] = (),
                    created_at: datetime | None = None) -> Alert:
        """The alert of a detector ``Signal`` (anything with ``window_start``/``window_end``
        datetimes, ``severity``, ``triggered_by``, ``metrics``, ``baseline``); ``created_at``
        defaults to now (UTC)."""
        return cls(
            alert_id=make_alert_id(series_kind, series_key, window, signal.window_start),
            series_kind=series_kind, series_key=series_key,
            window_start=iso_utc(signal.window_start), window_end=iso_utc(signal.window_end),
            window=_window_name(window), severity=str(signal.severity),
            triggered_by=list(signal.triggered_by), metrics=dict(signal.metrics),
            baseline=dict(signal.baseline), documents=[dict(d) for d in documents],
            created_at=iso_utc(created_at or datetime.now(timezone.utc)))

    def to_dict(self) -> dict[str, Any]:
        """The alert as a new plain dict (deep copy)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """One line of strict JSON: sorted keys, compact separators, UTF-8 text kept as is;
        non-finite numbers are written as ``null`` (read back as NaN)."""
        return json.dumps(_json_safe(self.to_dict()), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "alert record") -> Alert:
        """An alert from :meth:`to_dict` output (or a parsed :meth:`to_json` line).

        Missing fields are a ``DataError`` naming them; unknown fields (written by a newer
        version) are ignored with a warning. ``where`` names the record in messages, e.g.
        ``"alerts.jsonl line 3"``.
        """
        if not isinstance(data, Mapping):
            raise DataError(f"{where}: expected a JSON object with the alert's fields, found "
                            f"{type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise DataError(f"{where}: missing field{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(repr(m) for m in missing)}; expected the fields "
                            f"{names}, found {sorted(data)}")
        unknown = sorted(set(data) - set(names))
        if unknown:
            warnings.warn(f"{where}: ignoring unknown alert fields {unknown} (written by a newer "
                          "version?)", stacklevel=2)
        kinds = {"triggered_by": list, "documents": list, "metrics": dict, "baseline": dict}
        for name in names:
            expected = kinds.get(name, str)
            if not isinstance(data[name], expected):
                raise DataError(f"{where}: field {name!r} expects a JSON "
                                f"{'array' if expected is list else 'object' if expected is dict else 'string'}, "
                                f"found {data[name]!r}")
        try:
            return cls(**{n: data[n] for n in names})
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None


class JsonlSink:
    """An append-only JSON-lines file of alerts, each ``alert_id`` at most once, even across
    runs, crashes and several processes appending at once.

    The file is the monitor's own: every line is one :meth:`Alert.to_json` record ending in a
    newline. On open the sink reads the ``alert_id`` of every line already there. A last line
    without a newline is what a crash in the middle of a write leaves behind: if it is not a
    complete record it is cut off (only that line: the alert it held is still pending in the
    database and is written again), if it is complete it gets its newline. Any other line that
    is not a JSON object with an ``alert_id`` (a hand edit, another program writing there) is
    a ``DataError`` naming the file and line, never silently dropped. Blank lines are skipped.

    :meth:`write` takes an exclusive ``flock`` on the file (POSIX), reads what other writers
    appended since, appends the new alerts as complete lines in one write, flushes and fsyncs.
    The parent folder is created; a new file gets the user's normal permissions (0o666 less the
    umask).

    Example:
        >>> sink = JsonlSink("alerts/alerts.jsonl")  # doctest: +SKIP
        >>> sink.write([alert, alert])  # doctest: +SKIP
        1
        >>> sink.write([alert])  # doctest: +SKIP
        0
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ids: set[str] = set()
        self._offset = 0  # bytes of the file already read (always at the end of a line)
        self._lines = 0  # lines in those bytes (line numbers in messages)
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file read
        if self.path.exists():
            with self._locked() as fd:
                self._catch_up(fd)

    @property
    def alert_ids(self) -> frozenset[str]:
        """The ids in the file as of the last open or write."""
        return frozenset(self._ids)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def write(self, alerts: Iterable[Alert]) -> int:
        """Append the alerts whose id is not in the file yet; returns how many were new.

        Example:
            >>> JsonlSink("alerts.jsonl").write([alert])  # doctest: +SKIP
            1
        """
        alerts = list(alerts)
        for alert in alerts:
            if not isinstance(alert, Alert):
                raise TypeError(f"JsonlSink.write expects Alert records, found "
                                f"{type(alert).__name__}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with self._locked() as fd:
            self._catch_up(fd)
            new: dict[str, Alert] = {}
            for alert in alerts:
                if alert.alert_id not in self._ids and alert.alert_id not in new:
                    new[alert.alert_id] = alert
            if not new:
                return 0
            data = "".join(a.to_json() + "\n" for a in new.values()).encode("utf-8")
            _write_all(fd, data)
            os.fsync(fd)
            self._offset += len(data)
            self._lines += len(new)
            self._ids.update(new)
        if created:
            _fsync_directory(self.path.parent)  # the new file's name survives a crash too
        return len(new)

    def read(self) -> list[Alert]:
        """Every alert in the file, in file order (a torn last line is left out, not cut)."""
        if not self.path.exists():
            return []
        with open(self.path, "rb") as handle:
            data = handle.read()
        lines = data.split(b"\n")  # the last item is b"" or the torn tail
        alerts = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record = self._parse(line, number, torn=number == len(lines))
                if record is not None:
                    alerts.append(Alert.from_dict(record, where=f"{self.path} line {number}"))
        return alerts

    # -- internals ---------------------------------------------------------------------------

    def _locked(self) -> _Locked:
        return _Locked(self.path)

    def _parse(self, line: bytes, number: int, *, torn: bool) -> dict | None:
        """The JSON object of one line; None for a torn last line that is not a record."""
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if torn:
                return None
            raise DataError(
                f"{self.path} line {number}: expected one JSON alert record per line, found "
                f"text that is not JSON ({exc}); this file is written only by the monitor: "
                f"remove or fix that line, or point alerts.jsonl at a new file") from None
        if not isinstance(record, dict) or not isinstance(record.get("alert_id"), str):
            if torn:
                return None
            raise DataError(
                f"{self.path} line {number}: expected a JSON object with a string 'alert_id', "
                f"found {line[:80].decode('utf-8', 'replace')!r}; this file is written only by "
                f"the monitor: remove or fix that line, or point alerts.jsonl at a new file")
        return record

    def _catch_up(self, fd: int) -> None:
        """Read the lines appended since ``_offset`` (all of them if the file shrank) and
        repair a torn last line. Runs under the exclusive lock."""
        info = os.fstat(fd)
        size, identity = info.st_size, (info.st_dev, info.st_ino)
        if size < self._offset or identity != self._identity:
            # a new file, or replaced or truncated behind our back: read it all again
            self._ids.clear()
            self._offset = self._lines = 0
            self._identity = identity
        if size == self._offset:
            return
        data = os.pread(fd, size - self._offset, self._offset)
        first_line = self._lines + 1
        end = data.rfind(b"\n") + 1  # bytes of complete lines
        for i, line in enumerate(data[:end].split(b"\n")[:-1]):
            if line.strip():
                self._ids.add(self._parse(line, first_line + i, torn=False)["alert_id"])
        tail = data[end:]
        if tail:
            number = first_line + data[:end].count(b"\n")
            record = self._parse(tail, number, torn=True) if tail.strip() else None
            if record is not None:  # complete record, only its newline missing
                _write_all(fd, b"\n")
                self._ids.add(record["alert_id"])
                end = len(data) + 1
            elif tail.lstrip().startswith(b'{"alert_id"'):  # a partial write of ours: cut it off
                os.ftruncate(fd, self._offset + end)
            else:  # not ours: never cut a user's text
                raise DataError(
                    f"{self.path}: line {number}: expected an alert (JSON with an alert_id), "
                    f"found {tail[:60].decode('utf-8', 'replace')!r}; this file is not a "
                    "finance-monitor alerts file: pass another --alerts path")
            os.fsync(fd)
        self._offset += end
        self._lines += data[:end].count(b"\n") + (1 if end > len(data) else 0)


class _Locked:
    """Open the sink's file for appending (created if missing) under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> int:
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse; the data is synced
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


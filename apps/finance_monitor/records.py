"""Input rows to documents: ids, UTC timestamps, and what is skipped (counted, with examples).

Rules (documented in the README and ``finance-monitor score --help``):

- **text**: the ``input.text_column``; a row with an empty or missing text is skipped
  (``missing_text``).
- **timestamp**: the ``input.time_column``: ISO 8601 (``2026-01-05T10:00:00Z``,
  ``2026-01-05 10:00:00+01:00``, ``2026-01-05``), or what pandas' parser reads
  (``Wed Jan 01 03:59:03 +0000 2014``), or a Unix time in seconds. Stored in UTC. A timestamp
  without a time zone is taken in ``input.assume_tz`` (``--assume-tz``, default UTC) and counted
  (``naive_timestamps``); a missing one is skipped (``missing_timestamp``), an unreadable one
  too (``bad_timestamp``), and so is one more than ``input.max_future`` (default 1 day) after
  the current time (``future_timestamp``: a mistyped year would otherwise close every window).
- **id**: the ``input.id_column`` when the file has it and the row has a value; otherwise
  ``sha-`` + the first 24 hex digits of the SHA-256 of the UTC timestamp and the text, so the
  same content without an id is one document.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

MAX_EXAMPLES = 10


@dataclass(frozen=True)
class Document:
    """One document to score: id, UTC time, text, and where it came from."""

    doc_id: str
    ts: datetime
    text: str
    source: str = "api"
    source_row: int = 0


@dataclass
class RowIssues:
    """Skipped rows by reason, time-zone-less timestamps, and the first examples (file:row)."""

    skipped: Counter = field(default_factory=Counter)
    naive_timestamps: int = 0
    examples: list[str] = field(default_factory=list)

    def skip(self, reason: str, where: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason.replace('_', ' ')}{f' ({detail})' if detail else ''}")


def content_id(ts: datetime, text: str) -> str:
    digest = hashlib.sha256(f"{iso_z(ts)}\x1f{text}".encode()).hexdigest()
    return f"sha-{digest[:24]}"


def iso_z(ts: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-01-05T10:00:00Z``."""
    ts = ts.astimezone(timezone.utc)
    text = ts.replace(tzinfo=None).isoformat(timespec="microseconds" if ts.microsecond else
                                             "seconds")
    return text + "Z"


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    try:  # pandas.NaT, numpy NaN/NaT
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, (list, dict, tuple)) else False
    except (TypeError, ValueError):
        return False


_RELATIVE = {"now", "today", "tomorrow", "yesterday"}
EPOCH_SECONDS = (1e9, 1e11)        # 2001-09-09 .. 5138: a Unix time in seconds
EPOCH_MILLISECONDS = (1e12, 1e14)  # the same span in milliseconds


def _from_number(value: float) -> datetime | None:
    if EPOCH_SECONDS[0] <= value < EPOCH_SECONDS[1]:
        return datetime.fromtimestamp(value, timezone.utc)
    if EPOCH_MILLISECONDS[0] <= value < EPOCH_MILLISECONDS[1]:
        return datetime.fromtimestamp(value / 1000.0, timezone.utc)
    return None  # a small number (a year? a row number?) is not taken as a time


def parse_timestamp(value: Any, assume: tzinfo) -> tuple[datetime | None, bool]:
    """``(UTC datetime, was_naive)``; ``(None, False)`` when it cannot be read.

    Accepted: ISO 8601; what pandas' parser reads when the text has a date (``Wed Jan 01
    03:59:03 +0000 2014``, ``05/01/2026 10:00``); a Unix time in seconds (1e9 to 1e11) or
    milliseconds (1e12 to 1e14). Refused: relative words (``now``, ``today``) and times without
    a date, whose meaning depends on when the job runs.
    """
    try:
        if isinstance(value, datetime):  # also pandas.Timestamp (from Parquet); NaT is blank
            ts = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return _from_number(float(value)), False
        else:
            text = str(value).strip()
            try:
                ts = datetime.fromisoformat(text)
            except ValueError:
                if text.replace(".", "", 1).isdigit():
                    return _from_number(float(text)), False
                if text.lower() in _RELATIVE or not re.search(r"\d{4}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2}",
                                                               text):
                    return None, False
                import pandas as pd

                parsed = pd.Timestamp(text)
                if pd.isna(parsed):
                    return None, False
                ts = parsed.to_pydatetime()
        if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
            return ts.replace(tzinfo=assume).astimezone(timezone.utc), True
        return ts.astimezone(timezone.utc), False
    except (ValueError, TypeError, OverflowError, OSError):
        return None, False


class RecordParser:
    """Turns rows (mappings of column -> value) into :class:`Document` objects.

    Args:
        text_column, id_column, time_column: the columns.
        assume_tz: IANA zone of time-zone-less timestamps.
    """

    def __init__(self, text_column: str = "text", id_column: str = "id",
                 time_column: str = "timestamp", assume_tz: str = "UTC",
                 max_future: timedelta = timedelta(days=1)) -> None:
        self.max_future = max_future
        self.text_column = text_column
        self.id_column = id_column
        self.time_column = time_column
        self.tz = timezone.utc if assume_tz.upper() == "UTC" else ZoneInfo(assume_tz)

    @classmethod
    def from_config(cls, config) -> RecordParser:
        from .config import parse_duration

        return cls(config.text_column, config.id_column, config.time_column, config.assume_tz,
                   parse_duration("input.max_future", config.max_future))

    def parse(self, row: Mapping[str, Any], *, where: str, source: str, source_row: int,
              issues: RowIssues) -> Document | None:
        """One document, or None (the reason counted in ``issues``)."""
        text = row.get(self.text_column)
        if _blank(text):
            issues.skip("missing_text", where, f"column {self.text_column!r} is empty")
            return None
        raw_ts = row.get(self.time_column)
        if _blank(raw_ts):
            issues.skip("missing_timestamp", where, f"column {self.time_column!r} is empty")
            return None
        ts, naive = parse_timestamp(raw_ts, self.tz)
        if ts is None:
            issues.skip("bad_timestamp", where, f"{self.time_column}={str(raw_ts)[:40]!r}")
            return None
        if ts > datetime.now(timezone.utc) + self.max_future:
            issues.skip("future_timestamp", where, f"{self.time_column}={str(raw_ts)[:40]!r} is "
                        f"more than {self.max_future} from now (input.max_future)")
            return None
        if naive:
            issues.naive_timestamps += 1
        text = str(text)
        raw_id = row.get(self.id_column)
        doc_id = content_id(ts, text) if _blank(raw_id) else _id_text(raw_id)
        return Document(doc_id, ts, text, source, source_row)


MAX_ID_CHARS = 200


def _id_text(value: Any) -> str:
    """The id as text; one longer than 200 characters keeps its first 175 and a hash of the
    whole, so two long ids that share a prefix stay two documents."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if len(text) <= MAX_ID_CHARS:
        return text
    return f"{text[:175]}~{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def document_from_mapping(item: Mapping[str, Any] | Document, parser: RecordParser, *,
                          source: str, row: int, issues: RowIssues) -> Document | None:
    """A document from a mapping given to ``Monitor.ingest`` (or a Document as it is)."""
    if isinstance(item, Document):
        return item
    return parser.parse(item, where=f"{source} item {row}", source=source, source_row=row,
                        issues=issues)

"""Input rows to documents: ids, UTC timestamps, and what is skipped (counted, with examples).

Rules (documented in the README and ``finance-monitor score --help``):

- **text**: the ``input.text_column``; a row with an empty or missing text is skipped
  (``missing_text``).
- **timestamp**: the ``input.time_column``: ISO 8601 (``2026-01-05T10:00:00Z``,
  ``2026-01-05 10:00:00+01:00``, ``2026-01-05``), or what pandas' parser reads
  (``Wed Jan 01 03:59:03 +0000 2014``), or a Unix time in seconds. Stored in UTC. A timestamp
  without a time zone is taken in ``input.assume_tz`` (``--assume-tz``, default UTC) and counted
  (``naive_timestamps``); a missing one is skipped (``missing_timestamp``), an unreadable one
  too (``bad_timestamp``).
- **id**: the ``input.id_column`` when the file has it and the row has a value; otherwise
  ``sha-`` + the first 24 hex digits of the SHA-256 of the UTC timestamp and the text, so the
  same content without an id is one document.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

SKIP_REASONS = ("missing_text", "missing_timestamp", "bad_timestamp", "malformed_line")
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
    return isinstance(value, str) and not value.strip()


def parse_timestamp(value: Any, assume: tzinfo) -> tuple[datetime | None, bool]:
    """``(UTC datetime, was_naive)``; ``(None, False)`` when it cannot be read."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), timezone.utc), False
        except (OverflowError, OSError, ValueError):
            return None, False
    else:
        text = str(value).strip()
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            if text.replace(".", "", 1).isdigit():
                return parse_timestamp(float(text), assume)
            try:
                import pandas as pd

                parsed = pd.Timestamp(text)
            except (ValueError, TypeError, OverflowError):
                return None, False
            if parsed is pd.NaT:
                return None, False
            ts = parsed.to_pydatetime()
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        return ts.replace(tzinfo=assume).astimezone(timezone.utc), True
    return ts.astimezone(timezone.utc), False


class RecordParser:
    """Turns rows (mappings of column -> value) into :class:`Document` objects.

    Args:
        text_column, id_column, time_column: the columns.
        assume_tz: IANA zone of time-zone-less timestamps.
    """

    def __init__(self, text_column: str = "text", id_column: str = "id",
                 time_column: str = "timestamp", assume_tz: str = "UTC") -> None:
        self.text_column = text_column
        self.id_column = id_column
        self.time_column = time_column
        self.tz = timezone.utc if assume_tz.upper() == "UTC" else ZoneInfo(assume_tz)

    @classmethod
    def from_config(cls, config) -> RecordParser:
        return cls(config.text_column, config.id_column, config.time_column, config.assume_tz)

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
        if naive:
            issues.naive_timestamps += 1
        text = str(text)
        raw_id = row.get(self.id_column)
        doc_id = content_id(ts, text) if _blank(raw_id) else _id_text(raw_id)
        return Document(doc_id, ts, text, source, source_row)


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()[:200]


def document_from_mapping(item: Mapping[str, Any] | Document, parser: RecordParser, *,
                          source: str, row: int, issues: RowIssues) -> Document | None:
    """A document from a mapping given to ``Monitor.ingest`` (or a Document as it is)."""
    if isinstance(item, Document):
        return item
    return parser.parse(item, where=f"{source} item {row}", source=source, source_row=row,
                        issues=issues)

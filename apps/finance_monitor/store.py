"""The monitor's database: scored documents, window aggregates, detector state, alerts, the
webhook outbox and the checkpoints of batch runs, on the core's :class:`domaintune.store.Store`.

A SQLite file by default (WAL, busy timeout, write transactions queued and retried), or
PostgreSQL by URL (``postgresql+psycopg://user:password@host:5432/db``) for several monitors
sharing one database: their write transactions are serialised per namespace.

Tables (namespace ``finance_monitor``):

- ``fm_documents``: one row per document id: ``ts`` (UTC), ``text``, ``tickers`` (JSON list),
  ``topic``, ``label`` (polarity), ``model_label``, ``score``, ``p_negative``/``p_neutral``/
  ``p_positive``, ``late`` (arrived after its window closed: stored, not aggregated),
  ``source``/``source_row`` (the input fingerprint and record number where it was first seen),
  ``ingested_at``;
- ``fm_aggregates``: one row per (series kind, series key, window size, window start):
  ``count``, ``negative``, ``positive``, ``score_micro`` (the sum of the scores in
  millionths: an integer, so that sums do not depend on the order documents were added) and ``top_negative`` (the most negative
  documents, ``[[score, id], ...]``, for alerts);
- ``fm_series``: the detector's state of each series (JSON, :class:`finance_monitor.detect.SeriesState`);
- ``fm_state``: per window size, the watermark (latest document time seen) and the start of
  the first window still open;
- ``fm_alerts``: one row per ``alert_id`` (the alert's JSON);
- ``fm_outbox``: one row per (alert, webhook URL): ``status`` pending / delivered / failed
  (a permanent refusal such as HTTP 400), ``attempts``, ``last_error``, times;
- ``fm_runs``: the checkpoint of each input file (by content fingerprint): records consumed,
  whether it finished, and the running counts of its summary.

Every chunk of a batch run is one write transaction: its documents, the aggregates they
change, the detector state, the alerts it raises, their outbox rows and the input's checkpoint
commit together or not at all; that is what makes a killed run resumable and a re-run
idempotent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domaintune.store import Closing, Migration, MigrationStep, Schema, Store, StoreError

logger = logging.getLogger(__name__)

NAMESPACE = "finance_monitor"
UPGRADE_HINT = "upgrade finance_monitor (pip install -U domaintune)"


class MonitorStoreError(StoreError):
    """The monitor's database cannot be opened, reached or written."""


metadata = sa.MetaData()
_TZ = sa.DateTime(timezone=True)

documents_table = sa.Table(
    "fm_documents", metadata,
    sa.Column("doc_id", sa.String(200), primary_key=True),
    sa.Column("ts", _TZ, nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("tickers", sa.JSON, nullable=False),
    sa.Column("topic", sa.String(200), nullable=True),
    sa.Column("label", sa.String(16), nullable=False),
    sa.Column("model_label", sa.String(200), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("p_negative", sa.Float, nullable=False),
    sa.Column("p_neutral", sa.Float, nullable=False),
    sa.Column("p_positive", sa.Float, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False, default=False),
    sa.Column("source", sa.String(80), nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("ingested_at", _TZ, nullable=False),
)

aggregates_table = sa.Table(
    "fm_aggregates", metadata,
    sa.Column("series_kind", sa.String(16), primary_key=True),
    sa.Column("series_key", sa.String(200), primary_key=True),
    sa.Column("window", sa.String(8), primary_key=True),
    sa.Column("window_start", _TZ, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("negative", sa.Integer, nullable=False),
    sa.Column("positive", sa.Integer, nullable=False),
    sa.Column("score_micro", sa.BigInteger, nullable=False),  # sum of scores, in 1e-6 (exact)
    sa.Column("top_negative", sa.JSON, nullable=False),
    sa.Index("ix_fm_aggregates_window", "window", "window_start"),
)

series_table = sa.Table(
    "fm_series", metadata,
    sa.Column("series_kind", sa.String(16), primary_key=True),
    sa.Column("series_key", sa.String(200), primary_key=True),
    sa.Column("window", sa.String(8), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
)

state_table = sa.Table(
    "fm_state", metadata,
    sa.Column("window", sa.String(8), primary_key=True),
    sa.Column("watermark", _TZ, nullable=True),
    sa.Column("closed_until", _TZ, nullable=True),
    sa.Column("updated_at", _TZ, nullable=False),
)

alerts_table = sa.Table(
    "fm_alerts", metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("series_kind", sa.String(16), nullable=False),
    sa.Column("series_key", sa.String(200), nullable=False),
    sa.Column("window", sa.String(8), nullable=False),
    sa.Column("window_start", _TZ, nullable=False, index=True),
    sa.Column("severity", sa.String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", _TZ, nullable=False),
)

outbox_table = sa.Table(
    "fm_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("fm_alerts.alert_id"), nullable=False),
    sa.Column("target", sa.String(1000), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", _TZ, nullable=False),
    sa.Column("updated_at", _TZ, nullable=False),
    sa.UniqueConstraint("alert_id", "target", name="uq_fm_outbox_alert_target"),
)

runs_table = sa.Table(
    "fm_runs", metadata,
    sa.Column("source", sa.String(80), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("next_record", sa.Integer, nullable=False, default=0),
    sa.Column("finished", sa.Boolean, nullable=False, default=False),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("updated_at", _TZ, nullable=False),
)

# Ordered migrations (domaintune.store.Schema): MIGRATIONS[i] brings a database from schema
# version i + 1 to i + 2. Append one per layout change and change the tables above.
MIGRATIONS: list[Migration | MigrationStep] = []
SCHEMA_VERSION = 1 + len(MIGRATIONS)


def now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else \
        value.astimezone(timezone.utc)


def monitor_schema() -> Schema:
    return Schema(NAMESPACE, metadata, list(MIGRATIONS), upgrade_hint=UPGRADE_HINT)


def _in_chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def bulk_upsert(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *,
                key: Sequence[str]) -> None:
    """Insert ``rows``, replacing the non-key columns of rows whose ``key`` exists: one
    ``INSERT ... ON CONFLICT DO UPDATE`` executed for all of them (SQLite, PostgreSQL); other
    databases row by row through :meth:`Store.upsert`."""
    if not rows:
        return
    columns = [c for c in rows[0] if c not in key]
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(key),
                                          set_={c: stmt.excluded[c] for c in columns})
        conn.execute(stmt, [dict(r) for r in rows])
        return
    for r in rows:
        Store.upsert(conn, table, r, key=key, update={c: r[c] for c in columns})


class MonitorStore(Closing):
    """The monitor's tables in one database (see the module doc).

    Args:
        url: a SQLAlchemy URL (``sqlite:///finance-monitor.db``, ``postgresql+psycopg://...``)
            or a path of a SQLite file.
    """

    def __init__(self, url: str | Path, *, busy_timeout_s: float = 30.0,
                 max_retries: int = 20) -> None:
        is_url = isinstance(url, str) and "://" in url
        self.store = Store(url if is_url else Path(url), monitor_schema(),
                           busy_timeout_s=busy_timeout_s, max_retries=max_retries,
                           sqlite_synchronous="NORMAL", error=MonitorStoreError,
                           what="monitor database",
                           tuning_hint="retry later, or give each monitor its own --db")

    @property
    def location(self) -> str:
        return self.store.location

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"MonitorStore({self.location!r})"

    def run(self, fn, *, write: bool = False):
        """``fn(conn)`` in one transaction (retried while the database is busy)."""
        return self.store.run(fn, write=write)

    # ------------------------------------------------------------------ documents
    @staticmethod
    def existing_documents(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """``{doc_id: (source, source_row)}`` of the ids already stored."""
        out: dict[str, tuple[str, int]] = {}
        t = documents_table
        for part in _in_chunks(list(ids)):
            for row in conn.execute(sa.select(t.c.doc_id, t.c.source, t.c.source_row)
                                    .where(t.c.doc_id.in_(part))):
                out[row.doc_id] = (row.source, int(row.source_row))
        return out

    @staticmethod
    def insert_documents(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            conn.execute(documents_table.insert(), list(rows))

    @staticmethod
    def documents(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of ``ids`` (missing ids are absent)."""
        out: dict[str, dict[str, Any]] = {}
        for part in _in_chunks(list(ids)):
            for row in conn.execute(sa.select(documents_table)
                                    .where(documents_table.c.doc_id.in_(part))):
                d = dict(row._mapping)
                d["ts"] = as_utc(d["ts"])
                out[d["doc_id"]] = d
        return out

    # ------------------------------------------------------------------ aggregates
    @staticmethod
    def aggregates(conn: Connection, window: str, keys: Iterable[tuple[str, str, datetime]]
                   ) -> dict[tuple[str, str, datetime], dict[str, Any]]:
        """The stored aggregate rows of ``(kind, key, window_start)`` keys."""
        keys = list(keys)
        if not keys:
            return {}
        t = aggregates_table
        wanted = set(keys)
        out = {}
        starts = sorted({k[2] for k in keys})
        for part in _in_chunks(starts, 500):  # a chunk's documents span few windows
            rows = conn.execute(sa.select(t).where(t.c.window == window,
                                                   t.c.window_start.in_(list(part))))
            for row in rows:
                d = dict(row._mapping)
                k = (d["series_kind"], d["series_key"], as_utc(d["window_start"]))
                if k in wanted:
                    out[k] = d
        return out

    @staticmethod
    def write_aggregates(conn: Connection, window: str,
                         rows: Mapping[tuple[str, str, datetime], Mapping[str, Any]]) -> None:
        """Write (insert or replace) the aggregate rows of ``(kind, key, window_start)``."""
        values = [{"series_kind": kind, "series_key": key, "window": window,
                   "window_start": start, **v} for (kind, key, start), v in rows.items()]
        bulk_upsert(conn, aggregates_table, values,
                    key=["series_kind", "series_key", "window", "window_start"])

    @staticmethod
    def aggregates_between(conn: Connection, window: str, start: datetime | None,
                           until: datetime) -> list[dict[str, Any]]:
        """Aggregate rows with ``start <= window_start < until`` (all before ``until`` when
        ``start`` is None), ordered by series and window."""
        t = aggregates_table
        query = sa.select(t).where(t.c.window == window, t.c.window_start < until)
        if start is not None:
            query = query.where(t.c.window_start >= start)
        rows = conn.execute(query.order_by(t.c.series_kind, t.c.series_key, t.c.window_start))
        out = []
        for row in rows:
            d = dict(row._mapping)
            d["window_start"] = as_utc(d["window_start"])
            out.append(d)
        return out

    # ------------------------------------------------------------------ state
    @staticmethod
    def window_state(conn: Connection, window: str) -> tuple[datetime | None, datetime | None]:
        """``(watermark, closed_until)`` of the window size (None, None for a new database)."""
        row = conn.execute(sa.select(state_table).where(state_table.c.window == window)).first()
        if row is None:
            return None, None
        return as_utc(row.watermark), as_utc(row.closed_until)

    @staticmethod
    def other_windows(conn: Connection, window: str) -> list[str]:
        """Window sizes other than ``window`` this database already aggregates."""
        rows = conn.execute(sa.select(state_table.c.window).where(state_table.c.window != window))
        return sorted(r.window for r in rows)

    @staticmethod
    def set_window_state(conn: Connection, window: str, watermark: datetime | None,
                         closed_until: datetime | None) -> None:
        Store.upsert(conn, state_table,
                     {"window": window, "watermark": watermark, "closed_until": closed_until,
                      "updated_at": now()}, key=["window"],
                     update={"watermark": watermark, "closed_until": closed_until,
                             "updated_at": now()})

    @staticmethod
    def series_states(conn: Connection, window: str, series: Iterable[tuple[str, str]]
                      ) -> dict[tuple[str, str], dict[str, Any]]:
        series = sorted(set(series))
        t = series_table
        out = {}
        for part in _in_chunks(series, 400):
            query = sa.select(t).where(t.c.window == window, sa.tuple_(
                t.c.series_kind, t.c.series_key).in_([tuple(p) for p in part]))
            for row in conn.execute(query):
                state = row.state if isinstance(row.state, dict) else json.loads(row.state)
                out[(row.series_kind, row.series_key)] = state
        return out

    @staticmethod
    def save_series_states(conn: Connection, window: str,
                           states: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        bulk_upsert(conn, series_table,
                    [{"series_kind": kind, "series_key": key, "window": window,
                      "state": dict(state)} for (kind, key), state in states.items()],
                    key=["series_kind", "series_key", "window"])

    # ------------------------------------------------------------------ alerts + outbox
    @staticmethod
    def insert_alerts(conn: Connection, alerts: Sequence[Any], targets: Sequence[str]) -> list[Any]:
        """Store the alerts not stored yet and queue them for every webhook target; returns the
        new ones."""
        if not alerts:
            return []
        ids = [a.alert_id for a in alerts]
        known = {r.alert_id for part in _in_chunks(ids) for r in conn.execute(
            sa.select(alerts_table.c.alert_id).where(alerts_table.c.alert_id.in_(part)))}
        new = [a for a in alerts if a.alert_id not in known]
        stamp = now()
        for alert in new:
            conn.execute(alerts_table.insert().values(
                alert_id=alert.alert_id, series_kind=alert.series_kind,
                series_key=alert.series_key, window=alert.window,
                window_start=datetime.fromisoformat(alert.window_start.replace("Z", "+00:00")),
                severity=alert.severity, payload=alert.to_dict(), created_at=stamp))
        MonitorStore.queue(conn, [a.alert_id for a in new], targets)
        return new

    @staticmethod
    def queue(conn: Connection, alert_ids: Sequence[str], targets: Sequence[str]) -> int:
        """Outbox rows for (alert, target) pairs not queued yet; returns how many were added."""
        added = 0
        t = outbox_table
        stamp = now()
        for target in targets:
            have = {r.alert_id for part in _in_chunks(list(alert_ids)) for r in conn.execute(
                sa.select(t.c.alert_id).where(t.c.target == target, t.c.alert_id.in_(part)))}
            rows = [{"alert_id": a, "target": target, "status": "pending", "attempts": 0,
                     "created_at": stamp, "updated_at": stamp}
                    for a in alert_ids if a not in have]
            if rows:
                conn.execute(t.insert(), rows)
                added += len(rows)
        return added

    def queue_all(self, target: str) -> int:
        """Queue every stored alert for ``target`` (a webhook added later gets the backlog)."""
        def work(conn: Connection) -> int:
            ids = [r.alert_id for r in conn.execute(sa.select(alerts_table.c.alert_id))]
            return self.queue(conn, ids, [target])
        return self.run(work, write=True)

    def alerts(self, *, series_key: str | None = None, limit: int | None = None
               ) -> list[dict[str, Any]]:
        """Stored alerts (their JSON), newest window first."""
        t = alerts_table
        query = sa.select(t.c.payload).order_by(t.c.window_start.desc(), t.c.alert_id)
        if series_key is not None:
            query = query.where(t.c.series_key == series_key)
        if limit is not None:
            query = query.limit(limit)
        return self.run(lambda conn: [dict(r.payload) for r in conn.execute(query)])

    def pending_deliveries(self, target: str | None = None) -> list[dict[str, Any]]:
        """Outbox rows still pending (with the alert's JSON), oldest first."""
        o, a = outbox_table, alerts_table
        query = (sa.select(o.c.id, o.c.alert_id, o.c.target, o.c.attempts, a.c.payload)
                 .join(a, a.c.alert_id == o.c.alert_id).where(o.c.status == "pending")
                 .order_by(o.c.id))
        if target is not None:
            query = query.where(o.c.target == target)
        return self.run(lambda conn: [dict(r._mapping) for r in conn.execute(query)])

    def record_delivery(self, outbox_id: int, *, ok: bool, permanent: bool, attempts: int,
                        status: int | None, error: str | None) -> None:
        t = outbox_table
        new_status = "delivered" if ok else ("failed" if permanent else "pending")
        self.run(lambda conn: conn.execute(  # another process may have delivered it meanwhile
            t.update().where(t.c.id == outbox_id, t.c.status == "pending").values(
                status=new_status, attempts=t.c.attempts + attempts, last_status=status,
                last_error=error, updated_at=now())), write=True)

    def outbox_counts(self) -> dict[str, int]:
        t = outbox_table
        rows = self.run(lambda conn: conn.execute(
            sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all())
        return {status: int(n) for status, n in rows}

    # ------------------------------------------------------------------ checkpoints
    @staticmethod
    def checkpoint(conn: Connection, source: str) -> dict[str, Any] | None:
        row = conn.execute(sa.select(runs_table).where(runs_table.c.source == source)).first()
        return None if row is None else dict(row._mapping)

    @staticmethod
    def save_checkpoint(conn: Connection, source: str, path: str, next_record: int,
                        finished: bool, counts: Mapping[str, Any]) -> None:
        values = {"path": path, "next_record": next_record, "finished": finished,
                  "counts": dict(counts), "updated_at": now()}
        t = runs_table
        old = conn.execute(sa.select(t.c.next_record, t.c.finished)
                           .where(t.c.source == source)).first()
        if old is None:
            conn.execute(t.insert().values(source=source, **values))
        elif not old.finished and (next_record > old.next_record or
                                   (finished and next_record >= old.next_record)):
            # only forwards: a second process on the same file never moves it back
            conn.execute(t.update().where(t.c.source == source).values(**values))

    # ------------------------------------------------------------------ reading
    def series_rows(self, kind: str, key: str, window: str) -> list[dict[str, Any]]:
        t = aggregates_table
        query = (sa.select(t).where(t.c.series_kind == kind, t.c.series_key == key,
                                    t.c.window == window).order_by(t.c.window_start))

        def work(conn: Connection) -> list[dict[str, Any]]:
            out = []
            for row in conn.execute(query):
                d = dict(row._mapping)
                d["window_start"] = as_utc(d["window_start"])
                out.append(d)
            return out
        return self.run(work)

    def series_keys(self, window: str, kind: str = "ticker") -> list[tuple[str, int]]:
        """``(key, documents)`` of every series of ``kind``, busiest first."""
        t = aggregates_table
        query = (sa.select(t.c.series_key, sa.func.sum(t.c.count).label("n"))
                 .where(t.c.series_kind == kind, t.c.window == window)
                 .group_by(t.c.series_key).order_by(sa.desc("n"), t.c.series_key))
        return self.run(lambda conn: [(r.series_key, int(r.n)) for r in conn.execute(query)])

    def count_documents(self) -> int:
        return self.run(lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(documents_table)).scalar_one())

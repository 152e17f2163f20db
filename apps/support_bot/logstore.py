"""The conversation log: one SQLite file per bot directory, through SQLAlchemy.

Tables:

- ``turns``: one row per turn: ``conversation_id``, ``turn_index`` (0, 1, ... per
  conversation, unique together), ``created_at`` (UTC), ``text`` (cut at ``max_log_chars``),
  ``text_chars`` (original length), ``truncated_chars`` (characters not given to the models),
  ``predicted_intent`` (the classifier's), ``intent`` (the one acted on), ``confidence``,
  ``similarity``, ``in_scope``, ``answer_id``, ``outcome`` (answered / asked_slot / oos /
  handoff), ``handoff``, ``reason``, ``reply``, ``missing_slots``, ``bot_version``, and the
  feedback: ``feedback`` (helpful / not_helpful), ``corrected_intent``, ``feedback_at``;
- ``conversations``: the saved context of each conversation (JSON);
- ``handoff_queue``: conversations waiting for an agent (``status`` open / done);
- ``schema_version``: the layout version, upgraded by :func:`migrate`.

SQLite runs in WAL mode with a busy timeout; write transactions take the lock up front
(``BEGIN IMMEDIATE``) and are retried with back-off when the database is locked, so many threads
and processes can log at once without losing turns.

Example:
    >>> store = LogStore("models/demo-bot/log.db")  # doctest: +SKIP
    >>> store.turns("conversation-1")[0]["outcome"]  # doctest: +SKIP
    'answered'
"""

from __future__ import annotations

import enum
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from domaintune import DataError, DomaintuneError

logger = logging.getLogger("support_bot")

SCHEMA_VERSION = 1
_T = TypeVar("_T")


class Outcome(str, enum.Enum):
    """What the bot did with a turn."""

    ANSWERED = "answered"
    ASKED_SLOT = "asked_slot"
    OOS = "oos"
    HANDOFF = "handoff"
    EMPTY = "empty"  # an empty message: not logged


class Feedback(str, enum.Enum):
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"


class LogError(DomaintuneError, RuntimeError):
    """The conversation log cannot be opened or updated."""


metadata = sa.MetaData()

schema_version_table = sa.Table(
    "schema_version", metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # a single row, id 1
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

turns_table = sa.Table(
    "turns", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(200), nullable=False),
    sa.Column("turn_index", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("text_chars", sa.Integer, nullable=False),
    sa.Column("truncated_chars", sa.Integer, nullable=False, default=0),
    sa.Column("predicted_intent", sa.String(200), nullable=True),
    sa.Column("intent", sa.String(200), nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("similarity", sa.Float, nullable=True),
    sa.Column("in_scope", sa.Boolean, nullable=True),
    sa.Column("answer_id", sa.String(200), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("handoff", sa.Boolean, nullable=False, default=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("reply", sa.Text, nullable=True),
    sa.Column("missing_slots", sa.JSON, nullable=True),
    sa.Column("bot_version", sa.Integer, nullable=True),
    sa.Column("feedback", sa.String(16), nullable=True),
    sa.Column("corrected_intent", sa.String(200), nullable=True),
    sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("conversation_id", "turn_index", name="uq_turns_conversation_index"),
)

conversations_table = sa.Table(
    "conversations", metadata,
    sa.Column("conversation_id", sa.String(200), primary_key=True),
    sa.Column("context", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

handoff_table = sa.Table(
    "handoff_queue", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
    sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="open"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Migrations from schema version N to N + 1, run in order inside one transaction by migrate().
# Add one per layout change, e.g. MIGRATIONS[1] = lambda conn: conn.exec_driver_sql(
#     "ALTER TABLE turns ADD COLUMN channel VARCHAR(32)")
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def migrate(conn: Connection, target: int | None = None) -> int:
    """Create missing tables and bring the schema to ``target`` (default: :data:`SCHEMA_VERSION`).

    Args:
        conn: a connection inside a write transaction.
        target: the version to reach.

    Returns:
        The version the database had before (0 for a new database).

    Raises:
        LogError: the database is newer than this code, or a migration step is missing.
    """
    target = SCHEMA_VERSION if target is None else target
    metadata.create_all(conn)
    found = conn.execute(sa.select(schema_version_table.c.version)).scalar_one_or_none()
    if found is None:
        conn.execute(schema_version_table.insert().values(id=1, version=target, updated_at=_now()))
        return 0
    if found > target:
        raise LogError(f"the conversation log has schema version {found}, newer than this "
                       f"support_bot understands ({target}); upgrade support_bot")
    for step in range(found, target):
        if step not in MIGRATIONS:
            raise LogError(f"no migration from log schema version {step} to {step + 1}; add "
                           f"MIGRATIONS[{step}] in support_bot/logstore.py")
        MIGRATIONS[step](conn)
        logger.info("migrated the conversation log from schema version %d to %d", step, step + 1)
    if found < target:
        conn.execute(schema_version_table.update().values(version=target, updated_at=_now()))
    return found


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


class LogStore:
    """Turns, feedback, conversation contexts and the handoff queue in one SQLite file.

    Args:
        path: the SQLite file (created with its folder on first use).
        busy_timeout_s: how long SQLite waits for the write lock.
        max_retries: attempts of a transaction that still found the database locked.

    Example:
        >>> store = LogStore("/tmp/bot/log.db")  # doctest: +SKIP
        >>> store.count_turns()  # doctest: +SKIP
        0
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0, max_retries: int = 20) -> None:
        self.path = Path(path)
        self.busy_timeout_s = float(busy_timeout_s)
        self.max_retries = max(1, int(max_retries))
        self._ready = False
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = self._create_engine()
        self._write_engine = self._engine.execution_options(support_bot_write=True)

    def _create_engine(self) -> Engine:
        engine = sa.create_engine(f"sqlite:///{self.path}",
                                  connect_args={"timeout": self.busy_timeout_s,
                                                "check_same_thread": False})
        timeout_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # BEGIN is emitted below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("support_bot_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def close(self) -> None:
        """Release the connections."""
        self._engine.dispose()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LogStore({str(self.path)!r})"

    # ------------------------------------------------------------------ transactions
    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                self._run(migrate, write=True, ready=False)
                self._ready = True

    def _run(self, fn: Callable[[Connection], _T], *, write: bool = False, ready: bool = True) -> _T:
        """``fn(conn)`` in one transaction, retried with back-off while the database is locked."""
        if ready:
            self._ensure_schema()
        engine = self._write_engine if write else self._engine
        for attempt in range(1, self.max_retries + 1):
            try:
                with engine.begin() as conn:
                    return fn(conn)
            except OperationalError as exc:
                if not _is_locked(exc):
                    raise LogError(f"{self.path}: the conversation log cannot be used "
                                   f"({exc.orig}); check the file and its folder's permissions") from None
                if attempt == self.max_retries:
                    raise LogError(f"{self.path}: the database stayed locked through {attempt} "
                                   "attempts; another process holds a long write transaction; "
                                   "raise log.busy_timeout_s or log.max_retries") from None
                logger.debug("log database locked (attempt %d); retrying", attempt)
            time.sleep(min(1.0, 0.01 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def schema_version(self) -> int:
        """The database's schema version."""
        return self._run(lambda c: c.execute(sa.select(schema_version_table.c.version)).scalar_one())

    # ------------------------------------------------------------------ writes
    def record_turn(self, conversation_id: str, turn: dict[str, Any], context: dict[str, Any],
                    handoff_reason: str | None = None) -> tuple[int, int]:
        """Log one turn, save the conversation's context and, on handoff, queue it, atomically.

        Args:
            conversation_id: the conversation.
            turn: column values of ``turns`` (``turn_index`` and ``created_at`` are set here).
            context: the conversation context after this turn (JSON-ready).
            handoff_reason: queue the conversation for an agent with this reason (no second
                open entry for the same conversation).

        Returns:
            ``(turn id, turn index)``.
        """
        def write(conn: Connection) -> tuple[int, int]:
            now = _now()
            index = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(turns_table.c.turn_index), -1) + 1)
                .where(turns_table.c.conversation_id == conversation_id)).scalar_one()
            turn_id = conn.execute(turns_table.insert().values(
                **turn, conversation_id=conversation_id, turn_index=index, created_at=now)
            ).inserted_primary_key[0]
            stmt = sqlite_insert(conversations_table).values(
                conversation_id=conversation_id, context=context, created_at=now, updated_at=now)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["conversation_id"],
                set_={"context": stmt.excluded.context, "updated_at": now}))
            if handoff_reason is not None:
                open_entry = conn.execute(sa.select(handoff_table.c.id).where(
                    handoff_table.c.conversation_id == conversation_id,
                    handoff_table.c.status == "open")).first()
                if open_entry is None:
                    conn.execute(handoff_table.insert().values(
                        conversation_id=conversation_id, turn_id=turn_id, reason=handoff_reason,
                        status="open", created_at=now))
            return int(turn_id), int(index)

        return self._run(write, write=True)

    def set_feedback(self, turn_id: int, feedback: Feedback | str | None = None,
                     corrected_intent: str | None = None) -> None:
        """Record feedback on a turn (later feedback replaces earlier feedback).

        Raises:
            DataError: no such turn.
        """
        values: dict[str, Any] = {"feedback_at": _now()}
        if feedback is not None:
            values["feedback"] = Feedback(feedback).value
        if corrected_intent is not None:
            values["corrected_intent"] = corrected_intent

        def write(conn: Connection) -> int:
            return conn.execute(turns_table.update().where(turns_table.c.id == int(turn_id))
                                .values(**values)).rowcount

        if self._run(write, write=True) == 0:
            raise DataError(f"no turn {turn_id} in the conversation log {self.path}; pass the "
                            "turn_id of a Reply from this bot")

    def close_handoff(self, conversation_id: str) -> int:
        """Mark a conversation's open handoff entries as done; returns how many."""
        def write(conn: Connection) -> int:
            return conn.execute(handoff_table.update().where(
                handoff_table.c.conversation_id == conversation_id,
                handoff_table.c.status == "open").values(status="done")).rowcount

        return self._run(write, write=True)

    # ------------------------------------------------------------------ reads
    def load_context(self, conversation_id: str) -> dict[str, Any] | None:
        """The saved context of a conversation, or ``None`` for an unknown one."""
        def read(conn: Connection) -> Any:
            return conn.execute(sa.select(conversations_table.c.context).where(
                conversations_table.c.conversation_id == conversation_id)).scalar_one_or_none()

        value = self._run(read)
        if isinstance(value, str):  # defensive: JSON stored as text by another writer
            value = json.loads(value)
        return value

    def turns(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Logged turns (all, or one conversation's), in order."""
        stmt = sa.select(turns_table).order_by(turns_table.c.id)
        if conversation_id is not None:
            stmt = stmt.where(turns_table.c.conversation_id == conversation_id)
        return self._run(lambda c: [dict(r._mapping) for r in c.execute(stmt)])

    def turn(self, turn_id: int) -> dict[str, Any] | None:
        """One turn by id."""
        stmt = sa.select(turns_table).where(turns_table.c.id == int(turn_id))
        rows = self._run(lambda c: [dict(r._mapping) for r in c.execute(stmt)])
        return rows[0] if rows else None

    def count_turns(self) -> int:
        return self._run(lambda c: c.execute(sa.select(sa.func.count()).select_from(turns_table)).scalar_one())

    def handoff_queue(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Queued conversations (``status=None``: all entries)."""
        stmt = sa.select(handoff_table).order_by(handoff_table.c.id)
        if status is not None:
            stmt = stmt.where(handoff_table.c.status == status)
        return self._run(lambda c: [dict(r._mapping) for r in c.execute(stmt)])

    def feedback_examples(self) -> list[dict[str, Any]]:
        """Turns usable as training data: corrected ones (with the corrected intent) and ones
        marked helpful that had an intent (with that intent). The latest label of a text wins.

        Returns:
            ``[{"text", "intent", "turn_id", "source": "corrected"|"helpful"}, ...]``.
        """
        t = turns_table
        stmt = sa.select(t.c.id, t.c.text, t.c.intent, t.c.corrected_intent, t.c.feedback,
                         t.c.outcome).where(
            sa.or_(t.c.corrected_intent.is_not(None),
                   sa.and_(t.c.feedback == Feedback.HELPFUL.value, t.c.intent.is_not(None),
                           t.c.outcome.in_([Outcome.ANSWERED.value, Outcome.ASKED_SLOT.value,
                                            Outcome.HANDOFF.value])))
        ).order_by(t.c.id)
        rows = self._run(lambda c: list(c.execute(stmt)))
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            label = row.corrected_intent or row.intent
            source = "corrected" if row.corrected_intent else "helpful"
            latest[row.text] = {"text": row.text, "intent": label, "turn_id": row.id, "source": source}
        return sorted(latest.values(), key=lambda r: r["turn_id"])

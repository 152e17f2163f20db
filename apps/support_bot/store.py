"""The conversation log: one database per bot (a SQLite file in its directory by default).

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
- the ``support_bot.log`` row of ``domaintune_schema``: the layout version, upgraded by
  :func:`migrate` through :data:`MIGRATIONS`.

The tables live on the core's :class:`domaintune.store.Store`: SQLite runs in WAL mode with a
busy timeout, write transactions take the lock up front and are retried with back-off while the
database is locked, so many threads and processes can log at once without losing turns; a
``postgresql+psycopg://`` URL works as well.

Example:
    >>> store = LogStore("models/demo-bot/log.db")  # doctest: +SKIP
    >>> store.turns("conversation-1")[0]["outcome"]  # doctest: +SKIP
    'answered'
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from domaintune import DataError
from domaintune.store import (
    Closing,
    Migration,
    MigrationStep,
    Schema,
    Store,
    StoreError,
    apply_schema,
)

from .policy import Outcome

logger = logging.getLogger(__name__)

NAMESPACE = "support_bot.log"
_T = TypeVar("_T")


class Feedback(str, enum.Enum):
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"


class LogError(StoreError):
    """The conversation log cannot be opened or updated."""


metadata = sa.MetaData()

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

# Ordered migrations (domaintune.store.Schema): MIGRATIONS[i] brings a log from schema version
# i + 1 to i + 2, once, inside one transaction. Append one per layout change (and change the
# tables above to the new layout), e.g.
#   MIGRATIONS.append(Migration("add turns.channel", [lambda conn: add_column(
#       conn, "turns", sa.Column("channel", sa.String(32)))]))
MIGRATIONS: list[Migration | MigrationStep] = []
SCHEMA_VERSION = 1 + len(MIGRATIONS)
UPGRADE_HINT = "upgrade support_bot (pip install -U domaintune)"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def log_schema() -> Schema:
    """The log's tables and the migrations in :data:`MIGRATIONS` (read when a log is opened)."""
    return Schema(NAMESPACE, metadata, list(MIGRATIONS), upgrade_hint=UPGRADE_HINT)


def migrate(conn: Connection) -> int:
    """Create missing tables and apply the missing :data:`MIGRATIONS` on ``conn``.

    Args:
        conn: a connection inside a write transaction.

    Returns:
        The version the database had before (0 for a new database).

    Raises:
        LogError: the database is newer than this code.
    """
    return apply_schema(conn, log_schema(), where="the conversation log", error=LogError)


class LogStore(Closing):
    """Turns, feedback, conversation contexts and the handoff queue in one database.

    Args:
        path: the SQLite file (created with its folder on first use), or a database URL such
            as ``postgresql+psycopg://user:password@host:5432/db`` or ``sqlite:///log.db``.
        busy_timeout_s: how long SQLite waits for the write lock.
        max_retries: attempts of a transaction that still found the database locked.

    Example:
        >>> store = LogStore("/tmp/bot/log.db")  # doctest: +SKIP
        >>> store.count_turns()  # doctest: +SKIP
        0
    """

    def __init__(self, path: str | Path | URL, *, busy_timeout_s: float = 30.0,
                 max_retries: int = 20) -> None:
        is_url = isinstance(path, URL) or (isinstance(path, str) and "://" in path)
        self._store = Store(path if is_url else Path(path), log_schema(),
                            busy_timeout_s=busy_timeout_s, max_retries=max_retries,
                            sqlite_synchronous="NORMAL", error=LogError,
                            what="conversation log",
                            tuning_hint="raise log.busy_timeout_s or log.max_retries in the "
                                        "bot's config")
        store = self._store
        #: the SQLite file (None for a server database or an in-memory one)
        self.path: Path | None = (Path(store.url.database) if store.is_sqlite and not store.is_memory
                                  else None)
        self.busy_timeout_s = store.busy_timeout_s
        self.max_retries = store.max_retries

    @property
    def location(self) -> str:
        """Where the log is: the SQLite file's path, or the URL without its password."""
        return self._store.location

    @property
    def store(self) -> Store:
        """The underlying :class:`~domaintune.store.Store`."""
        return self._store

    def close(self) -> None:
        """Release the connections."""
        self._store.close()

    def __repr__(self) -> str:
        return f"LogStore({self.location!r})"

    # ------------------------------------------------------------------ transactions
    def _run(self, fn: Callable[[Connection], _T], *, write: bool = False) -> _T:
        """``fn(conn)`` in one transaction, retried with back-off while the database is locked."""
        return self._store.run(fn, write=write)

    @property
    def schema_version(self) -> int:
        """The database's schema version."""
        return self._store.schema_version

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
            Store.upsert(conn, conversations_table,
                         {"conversation_id": conversation_id, "context": context,
                          "created_at": now, "updated_at": now},
                         key=["conversation_id"], update={"context": context, "updated_at": now})
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
            raise DataError(f"no turn {turn_id} in the conversation log {self.location}; pass the "
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

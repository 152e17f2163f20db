"""One SQL store for every database of the project: engine, transactions, retries, migrations.

The model registry, the support bot's conversation log and the coming apps keep their tables
in a :class:`Store`: a SQLAlchemy engine built from a URL plus the few things every database of
ours needs, written once here.

- **URLs**: ``sqlite:///models/registry.db`` (relative to the working directory when the store is
  opened; the path is made absolute then), ``sqlite:////abs/path.db``, ``sqlite://`` (in memory),
  a :class:`~pathlib.Path` (a SQLite file) or ``postgresql+psycopg://user:password@host:5432/db``
  (``postgresql://`` means the same: psycopg 3 is the driver we install).
- **SQLite**: WAL journal, a busy timeout, foreign keys on, the parent folder created; write
  transactions take the write lock up front (``BEGIN IMMEDIATE``) so concurrent writers queue
  instead of failing half-way.
- **PostgreSQL**: write transactions of one namespace are serialised with a transaction-scoped
  advisory lock (the equivalent of ``BEGIN IMMEDIATE``); connections are pinged before use.
- **Retries**: :meth:`Store.run` runs a function in one transaction and retries it with
  exponential back-off (with jitter) while the database is locked or busy (SQLite), on
  serialisation failures and deadlocks (PostgreSQL) and on a failed connection attempt; other
  database errors become one :class:`StoreError` naming the database and the fix.
- **Schema versions**: a :class:`Schema` is a namespace (``"registry"``, ``"support_bot.log"``),
  the tables (a :class:`sqlalchemy.MetaData`) and an ordered list of migrations. The table
  ``domaintune_schema`` holds one row per namespace with its version; a new database gets the
  current tables at the current version, an older one gets the missing migrations applied once,
  in order, in one transaction; a database newer than the code is refused with a clear error.
  Databases written before this module (a single-row ``schema_version`` table) are adopted.

Example:
    >>> import sqlalchemy as sa
    >>> from domaintune.store import Schema, Store
    >>> metadata = sa.MetaData()
    >>> notes = sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True),
    ...                  sa.Column("text", sa.Text, nullable=False))
    >>> store = Store("sqlite://", Schema("notes", metadata))
    >>> store.run(lambda conn: conn.execute(notes.insert().values(text="hi")), write=True).rowcount
    1
    >>> store.run(lambda conn: conn.execute(sa.select(notes.c.text)).scalar_one())
    'hi'
    >>> store.schema_version
    1
"""

from __future__ import annotations

import logging
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from .errors import DomaintuneError

logger = logging.getLogger(__name__)

SCHEMA_TABLE = "domaintune_schema"
LEGACY_SCHEMA_TABLE = "schema_version"  # single-row version table written before domaintune.store
DEFAULT_BUSY_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 20
DEFAULT_CONNECT_TIMEOUT_S = 10
CONNECT_ATTEMPTS = 3
URL_EXAMPLES = ("sqlite:///models/registry.db or "
                "postgresql+psycopg://user:password@localhost:5432/domaintune")
# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected, lock_not_available
_PG_TRANSIENT = {"40001", "40P01", "55P03"}
_WRITE_OPTION = "domaintune_store_write"
_T = TypeVar("_T")

MigrationStep = Callable[[Connection], None] | str


class StoreError(DomaintuneError, RuntimeError):
    """A database cannot be opened, reached, migrated or written (names the database and the fix)."""


@dataclass(frozen=True)
class Migration:
    """One schema change: SQL statement(s) or a function of the connection, plus a description.

    Args:
        description: what it changes, for the log (e.g. ``"add turns.channel"``).
        steps: SQL strings and/or callables ``fn(conn)``, run in order in the migration's
            transaction. Prefer :func:`add_column` and other idempotent steps.
    """

    description: str
    steps: Sequence[MigrationStep]

    def __post_init__(self) -> None:
        if isinstance(self.steps, str) or callable(self.steps):  # one step given bare
            object.__setattr__(self, "steps", (self.steps,))
        object.__setattr__(self, "steps", tuple(self.steps))

    def apply(self, conn: Connection) -> None:
        """Run the steps on ``conn`` (inside a transaction)."""
        for step in self.steps:
            if isinstance(step, str):
                conn.exec_driver_sql(step)
            else:
                step(conn)


def _as_migration(item: Migration | MigrationStep, index: int) -> Migration:
    if isinstance(item, Migration):
        return item
    if isinstance(item, str) or callable(item):
        name = item if isinstance(item, str) else getattr(item, "__name__", "migration")
        return Migration(f"step {index + 1}: {name}", [item])
    raise TypeError(f"expected a migration (a SQL string, a callable fn(conn) or a Migration), "
                    f"found {type(item).__name__} at position {index}")


@dataclass(frozen=True)
class Schema:
    """The tables of one store namespace and the ordered migrations that lead to them.

    The schema version is ``1 + len(migrations)``: version 1 is the first layout, and
    ``migrations[i]`` brings a database from version ``i + 1`` to ``i + 2``. Append a migration
    for every layout change (never reorder or remove one) and change ``metadata`` to the new
    layout: a new database is created from ``metadata`` directly; after the migrations of an
    older one, tables that ``metadata`` adds are created too.

    Args:
        namespace: the store's name in ``domaintune_schema`` (e.g. ``"registry"``).
        metadata: the tables, as SQLAlchemy Core.
        migrations: ordered migrations (SQL strings, callables ``fn(conn)`` or
            :class:`Migration` objects).
        upgrade_hint: how to get code that understands a newer database (for the error).
        adopt_legacy: adopt the version in a single-row ``schema_version`` table that
            databases written before :mod:`domaintune.store` have (then dropped).
    """

    namespace: str
    metadata: sa.MetaData
    migrations: Sequence[Migration | MigrationStep] = ()
    upgrade_hint: str = "upgrade domaintune (pip install -U domaintune)"
    adopt_legacy: bool = True
    _steps: tuple[Migration, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or not self.namespace.strip():
            raise ValueError(f"expected a non-empty schema namespace, found {self.namespace!r}")
        object.__setattr__(self, "_steps", tuple(_as_migration(m, i)
                                                 for i, m in enumerate(self.migrations)))

    @property
    def version(self) -> int:
        """The version this code writes: ``1 + len(migrations)``."""
        return 1 + len(self._steps)


_schema_metadata = sa.MetaData()
schema_table = sa.Table(
    SCHEMA_TABLE, _schema_metadata,
    sa.Column("namespace", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def add_column(conn: Connection, table: str, column: sa.Column) -> bool:
    """``ALTER TABLE table ADD COLUMN column`` unless the column exists (an idempotent step).

    Args:
        conn: a connection in the migration's transaction.
        table: the table's name.
        column: a new :class:`sqlalchemy.Column` (nullable or with a server default).

    Returns:
        True when the column was added.

    Example:
        >>> Migration("add turns.channel",
        ...           [lambda c: add_column(c, "turns", sa.Column("channel", sa.String(32)))])
        ... # doctest: +ELLIPSIS
        Migration(...)
    """
    if column.name in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
        return False
    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    quoted = conn.dialect.identifier_preparer.quote(table)
    conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {ddl}")
    return True


def _stored_version(conn: Connection, namespace: str) -> int | None:
    return conn.execute(sa.select(schema_table.c.version)
                        .where(schema_table.c.namespace == namespace)).scalar_one_or_none()


def _adopt_legacy_version(conn: Connection, schema: Schema) -> int | None:
    """The version in a pre-store ``schema_version`` table (id 1, version), then drop that table."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(LEGACY_SCHEMA_TABLE):
        return None
    columns = {c["name"] for c in inspector.get_columns(LEGACY_SCHEMA_TABLE)}
    if columns != {"id", "version", "updated_at"}:
        return None  # someone else's table: leave it alone
    legacy = sa.table(LEGACY_SCHEMA_TABLE, sa.column("id"), sa.column("version"))
    found = conn.execute(sa.select(legacy.c.version).where(legacy.c.id == 1)).scalar_one_or_none()
    if found is None:
        return None
    conn.execute(schema_table.insert().values(namespace=schema.namespace, version=int(found),
                                              updated_at=_now()))
    sa.Table(LEGACY_SCHEMA_TABLE, sa.MetaData(), sa.Column("id", sa.Integer)).drop(conn)
    logger.info("adopted schema version %s of %r from the older %s table", found,
                schema.namespace, LEGACY_SCHEMA_TABLE)
    return int(found)


def apply_schema(conn: Connection, schema: Schema, *, where: str = "the database",
                 error: type[StoreError] = StoreError) -> int:
    """Create or migrate ``schema`` on ``conn`` (inside a write transaction).

    Args:
        conn: a connection inside a write transaction.
        schema: the namespace, tables and migrations.
        where: the database, for messages.
        error: the exception type raised (a :class:`StoreError` subclass).

    Returns:
        The version the database had before (0 for a new database or namespace).

    Raises:
        StoreError: the database's schema is newer than ``schema.version``.
    """
    target = schema.version
    schema_table.create(conn, checkfirst=True)
    found = _stored_version(conn, schema.namespace)
    if found is None and schema.adopt_legacy:
        found = _adopt_legacy_version(conn, schema)
    if found is None:
        schema.metadata.create_all(conn)
        conn.execute(schema_table.insert().values(namespace=schema.namespace, version=target,
                                                  updated_at=_now()))
        logger.debug("created %r tables (schema version %d) in %s", schema.namespace, target, where)
        return 0
    if found > target:
        raise error(
            f"{where}: expected {schema.namespace!r} tables of schema version {target} or older, "
            f"found version {found}, newer than this code understands (written by a newer "
            f"release); {schema.upgrade_hint}, or point the URL at another database")
    for version in range(found, target):
        step = schema._steps[version - 1]
        step.apply(conn)
        logger.info("migrated %r in %s from schema version %d to %d (%s)", schema.namespace,
                    where, version, version + 1, step.description)
    if found < target:
        schema.metadata.create_all(conn)  # tables that later versions added
        conn.execute(schema_table.update().where(schema_table.c.namespace == schema.namespace)
                     .values(version=target, updated_at=_now()))
    return found


def parse_url(url: str | URL | Path) -> URL:
    """A SQLAlchemy URL from a string, URL or :class:`~pathlib.Path` (a SQLite file).

    ``postgresql://`` and ``postgres://`` select psycopg 3 (``postgresql+psycopg://``); a
    relative SQLite path is made absolute against the current directory.

    Raises:
        StoreError: not a database URL.
    """
    if isinstance(url, Path):
        parsed = URL.create("sqlite", database=str(url))
    else:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError, TypeError) as exc:
            hint = (f"; a file path needs the sqlite:/// prefix: sqlite:///{url}"
                    if isinstance(url, str) and "://" not in url else "")
            raise StoreError(f"expected a database URL such as {URL_EXAMPLES}, found {url!r} "
                             f"({exc}){hint}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and not _is_memory(parsed):
        database = parsed.database or ""
        if not database.startswith("file:"):
            parsed = parsed.set(database=str(Path(database).expanduser().absolute()))
    return parsed


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def _advisory_key(name: str) -> int:
    return zlib.crc32(f"domaintune:{name}".encode()) - 2**31  # a signed 32-bit key


_Self = TypeVar("_Self", bound="Closing")


class Closing:
    """``with obj: ...`` closes ``obj`` at the end (for everything that holds a store)."""

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Store(Closing):
    """A SQL database for one namespace of tables: engine, retried transactions, schema.

    Tables are created (or migrated) on first use. Use :meth:`run` for every transaction:
    it retries the whole function while the database is locked, so ``fn`` must only touch the
    database (no side effects outside it).

    Args:
        url: a SQLAlchemy URL or a :class:`~pathlib.Path` of a SQLite file (see the module doc).
        schema: the tables and migrations (None: a store without managed tables).
        busy_timeout_s: how long SQLite waits for a lock before an attempt fails.
        max_retries: attempts of a transaction that found the database locked or busy.
        echo: log every SQL statement (debugging).
        sqlite_synchronous: ``PRAGMA synchronous`` for SQLite (None: SQLite's default, FULL).
        error: the exception type raised (a :class:`StoreError` subclass of the caller).
        what: what the database is, for messages (``"model registry"``).
        tuning_hint: how the user raises the timeout/retries, for the "stayed locked" error.

    Raises:
        StoreError: a bad URL or a missing database driver.

    Example:
        >>> store = Store("sqlite:///models/registry.db", schema)  # doctest: +SKIP
        >>> with store.transaction(write=True) as conn:  # one attempt, no retry  # doctest: +SKIP
        ...     conn.execute(table.insert().values(...))
    """

    def __init__(
        self,
        url: str | URL | Path,
        schema: Schema | None = None,
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        echo: bool = False,
        sqlite_synchronous: str | None = None,
        error: type[StoreError] = StoreError,
        what: str = "database",
        tuning_hint: str = "raise busy_timeout_s or max_retries",
    ) -> None:
        self.error = error
        try:
            self.url = parse_url(url)
        except StoreError as exc:
            raise error(str(exc)) from None
        self.schema = schema
        self.what = what
        self.tuning_hint = tuning_hint
        self.busy_timeout_s = float(busy_timeout_s)
        self.max_retries = max(1, int(max_retries))
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgresql = self.url.get_backend_name() == "postgresql"
        self.is_memory = self.is_sqlite and _is_memory(self.url)
        self._lock = threading.RLock()  # schema setup; every call for in-memory SQLite
        self._ready = schema is None
        self.engine = self._create_engine(echo, sqlite_synchronous)
        # Writes go through an engine copy flagged "write": on SQLite they BEGIN IMMEDIATE.
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})

    # ------------------------------------------------------------------ engine
    @property
    def backend(self) -> str:
        """``"sqlite"``, ``"postgresql"``, ..."""
        return self.url.get_backend_name()

    @property
    def location(self) -> str:
        """Where the data lives, for people: the SQLite file's absolute path, or the URL
        without its password."""
        if self.is_memory:
            return "an in-memory SQLite database"
        if self.is_sqlite:
            return str(self.url.database)
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url.render_as_string(hide_password=True)!r})"

    def _create_engine(self, echo: bool, synchronous: str | None) -> Engine:
        kwargs: dict[str, Any] = {"echo": echo}
        try:
            if not self.is_sqlite:
                if self.is_postgresql:
                    kwargs["connect_args"] = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT_S}
                return sa.create_engine(self.url, pool_pre_ping=True, **kwargs)
            if self.is_memory:
                kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
            else:
                database = self.url.database or ""
                if not database.startswith("file:"):
                    try:
                        Path(database).parent.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise self.error(
                            f"{database}: cannot create the folder of the {self.what} ({exc}); "
                            "check the path and its permissions, or point the URL elsewhere"
                        ) from None
                kwargs["connect_args"] = {"timeout": self.busy_timeout_s,
                                          "check_same_thread": False}
            engine = sa.create_engine(self.url, **kwargs)
        except NoSuchModuleError as exc:
            raise self.error(f"expected a database URL of a supported backend, such as "
                             f"{URL_EXAMPLES}, found {self.location!r} ({exc}); fix the URL's "
                             "scheme") from None
        except ImportError as exc:
            driver = self.url.get_driver_name()
            package = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary"}.get(
                driver, driver)
            raise self.error(f"{self.location}: the database driver {driver!r} is not installed "
                             f"({exc}); install it (pip install {package}), or for PostgreSQL use "
                             "postgresql+psycopg://... (psycopg 3 comes with domaintune)") from None
        self._configure_sqlite(engine, synchronous)
        return engine

    def _configure_sqlite(self, engine: Engine, synchronous: str | None) -> None:
        timeout_ms = int(self.busy_timeout_s * 1000)
        memory = self.is_memory

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (below)
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            if synchronous:
                cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------ transactions
    def ensure_schema(self) -> None:
        """Create or migrate the tables now (otherwise done on first use)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            assert self.schema is not None
            schema = self.schema
            # PostgreSQL: the schema table's lock, then the namespace's (writers wait for it)
            self._run(lambda conn: apply_schema(conn, schema, where=self.location, error=self.error),
                      write=True, lock_keys=(SCHEMA_TABLE, schema.namespace),
                      retry_if=lambda exc: isinstance(exc, IntegrityError), ready=False)
            self._ready = True

    @property
    def schema_version(self) -> int:
        """The database's schema version of this store's namespace."""
        if self.schema is None:
            raise self.error("this store has no schema; pass Store(url, Schema(...))")
        namespace = self.schema.namespace
        return self.run(lambda conn: _stored_version(conn, namespace))

    def run(
        self,
        fn: Callable[[Connection], _T],
        *,
        write: bool = False,
        retry_if: Callable[[DBAPIError], bool] | None = None,
    ) -> _T:
        """``fn(conn)`` in one transaction, retried with back-off while the database is busy.

        Args:
            fn: the work; called again from scratch on a retry, so it must not have side
                effects outside the database.
            write: the transaction writes (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
                namespace's advisory lock), so concurrent writers queue.
            retry_if: also retry database errors for which this returns True (e.g. a unique
                constraint clash when allocating numbers); when the attempts run out, that
                error is raised as it is.

        Returns:
            What ``fn`` returned (the transaction committed).

        Raises:
            StoreError: the database stayed locked through ``max_retries`` attempts, cannot
                be reached, or fails otherwise. Errors raised by ``fn`` pass unchanged.
        """
        keys = (self.schema.namespace,) if self.schema is not None else ()
        return self._run(fn, write=write, lock_keys=keys, retry_if=retry_if)

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction as a context manager (one attempt: a body cannot be re-run; prefer
        :meth:`run`, which retries). Commits on success, rolls back on an exception."""
        self.ensure_schema()
        engine = self._write_engine if write else self.engine
        try:
            with self._maybe_serialize(), engine.begin() as conn:
                if write and self.schema is not None:
                    self._advisory_locks(conn, (self.schema.namespace,))
                yield conn
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise self._translate(exc, attempts=1) from exc

    @contextmanager
    def _maybe_serialize(self) -> Iterator[None]:
        if self.is_memory:  # one shared connection: one caller at a time
            with self._lock:
                yield
        else:
            yield

    def _advisory_locks(self, conn: Connection, keys: Sequence[str]) -> None:
        """PostgreSQL: take the transaction-scoped advisory locks of ``keys``, in order."""
        if self.is_postgresql:
            for key in keys:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_advisory_key(key))))

    def _run(
        self,
        fn: Callable[[Connection], _T],
        *,
        write: bool,
        lock_keys: Sequence[str],
        retry_if: Callable[[DBAPIError], bool] | None,
        ready: bool = True,
    ) -> _T:
        if ready:
            self.ensure_schema()
        engine = self._write_engine if write else self.engine
        connect_failures = 0
        for attempt in range(1, self.max_retries + 1):
            try:
                with self._maybe_serialize():
                    with engine.connect() as conn:
                        with conn.begin():
                            if write:
                                self._advisory_locks(conn, lock_keys)
                            return fn(conn)
            except DBAPIError as exc:
                if retry_if is not None and retry_if(exc):
                    if attempt == self.max_retries:
                        raise
                    logger.debug("%s: retrying after %s (attempt %d)", self.location,
                                 type(exc.orig).__name__, attempt)
                elif self._is_transient(exc):
                    if attempt == self.max_retries:
                        raise self._translate(exc, attempts=attempt) from exc
                    logger.debug("%s is locked or busy (attempt %d of %d); retrying",
                                 self.location, attempt, self.max_retries)
                elif self._is_connect_failure(exc):
                    connect_failures += 1
                    if connect_failures >= CONNECT_ATTEMPTS or attempt == self.max_retries:
                        raise self._translate(exc, attempts=attempt) from exc
                    logger.debug("%s: connection failed (attempt %d); retrying", self.location,
                                 connect_failures)
                elif isinstance(exc, IntegrityError):
                    raise
                else:
                    raise self._translate(exc, attempts=attempt) from exc
            time.sleep(min(1.0, 0.01 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ errors
    def _is_transient(self, exc: DBAPIError) -> bool:
        if self.is_sqlite:
            text = str(exc.orig).lower()
            return isinstance(exc, sa.exc.OperationalError) and ("locked" in text or "busy" in text)
        return getattr(exc.orig, "sqlstate", None) in _PG_TRANSIENT

    def _is_connect_failure(self, exc: DBAPIError) -> bool:
        if self.is_sqlite:
            return False
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None)
        return isinstance(exc, sa.exc.OperationalError) and (
            sqlstate is None or str(sqlstate).startswith("08"))

    def _translate(self, exc: DBAPIError, *, attempts: int) -> StoreError:
        detail = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        if self._is_transient(exc):
            return self.error(
                f"{self.location}: the {self.what} stayed locked through {attempts} attempts "
                f"({detail}); another process holds a long write transaction: retry later, or "
                f"{self.tuning_hint}")
        if self.is_sqlite:
            if "not a database" in detail or "malformed" in detail:
                return self.error(
                    f"{self.location}: expected a SQLite database for the {self.what}, found a "
                    f"file SQLite cannot read ({detail}); point the URL at another file, or move "
                    "this one away and let a new database be created")
            return self.error(
                f"{self.location}: the {self.what} cannot be used ({detail}); check the file and "
                "its folder's permissions and free disk space")
        if self._is_connect_failure(exc):
            return self.error(
                f"{self.location}: cannot connect to the {self.what} server ({detail}); start "
                "the server, or fix the URL's host, port, user, password and database name")
        return self.error(f"{self.location}: the {self.what} failed ({detail}); check the "
                          "database user's permissions and that no other program changed "
                          "these tables")

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def upsert(conn: Connection, table: sa.Table, values: Mapping[str, Any], *,
               key: Sequence[str], update: Mapping[str, Any]) -> None:
        """Insert ``values``, or update the row with the same ``key`` columns with ``update``.

        SQLite and PostgreSQL use ``INSERT ... ON CONFLICT DO UPDATE``; other databases an
        update followed, when no row matched, by an insert (inside the caller's transaction).
        """
        name = conn.dialect.name
        if name in ("sqlite", "postgresql"):
            if name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(table).values(**values)
            conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=dict(update)))
            return
        match = sa.and_(*(table.c[k] == values[k] for k in key))
        if conn.execute(table.update().where(match).values(**update)).rowcount == 0:
            conn.execute(table.insert().values(**values))

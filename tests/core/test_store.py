"""The shared store: SQLite settings, retries on a really locked database, migrations, errors,
concurrent writers, and the same on PostgreSQL (a server the session starts, tests/pg.py)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from domaintune.store import (
    SCHEMA_TABLE,
    Migration,
    Schema,
    Store,
    StoreError,
    add_column,
    parse_url,
)

THREAD_TIMEOUT_S = 60


def notes_schema(*migrations, namespace: str = "notes") -> tuple[Schema, sa.Table]:
    metadata = sa.MetaData()
    table = sa.Table(
        "notes", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
    )
    return Schema(namespace, metadata, list(migrations)), table


def add_note(store: Store, table: sa.Table, text: str) -> int:
    return store.run(lambda c: c.execute(table.insert().values(text=text)).inserted_primary_key[0],
                     write=True)


def texts(store: Store, table: sa.Table) -> list[str]:
    return store.run(lambda c: list(c.execute(sa.select(table.c.text).order_by(table.c.id))
                                    .scalars()))


def column_names(store: Store, table: str) -> set[str]:
    return store.run(lambda c: {col["name"] for col in sa.inspect(c).get_columns(table)})


# ---------------------------------------------------------------------- SQLite settings
def test_sqlite_pragmas_and_parent_directory(tmp_path):
    schema, table = notes_schema()
    db = tmp_path / "a" / "b" / "store.db"
    with Store(f"sqlite:///{db}", schema, busy_timeout_s=1.5) as store:
        add_note(store, table, "hi")
        pragmas = store.run(lambda c: {name: c.exec_driver_sql(f"PRAGMA {name}").scalar()
                                       for name in ("journal_mode", "busy_timeout", "foreign_keys")})
        assert pragmas == {"journal_mode": "wal", "busy_timeout": 1500, "foreign_keys": 1}
        assert store.location == str(db) and store.backend == "sqlite" and db.is_file()
    with sqlite3.connect(db) as raw:  # WAL is a property of the file, seen by any client
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute(f"select namespace, version from {SCHEMA_TABLE}").fetchall() == [
            ("notes", 1)]


def test_relative_sqlite_url_is_fixed_when_opened(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    schema, table = notes_schema()
    store = Store("sqlite:///models/store.db", schema)
    assert store.location == str(tmp_path / "models" / "store.db")
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    add_note(store, table, "x")
    store.close()
    assert (tmp_path / "models" / "store.db").is_file() and not (other / "models").exists()
    assert Store(Path("rel.db")).location == str(other / "rel.db")


def test_in_memory_store_is_shared_and_thread_safe():
    schema, table = notes_schema()
    store = Store("sqlite://", schema)
    threads = [threading.Thread(target=lambda i=i: [add_note(store, table, f"{i}-{k}")
                                                    for k in range(10)]) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(THREAD_TIMEOUT_S)
    assert len(texts(store, table)) == 40 and store.location == "an in-memory SQLite database"


# ---------------------------------------------------------------------- locks and retries
def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """A second connection that holds the SQLite write lock until it commits."""
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("INSERT INTO notes (text) VALUES ('from the other connection')")
    return raw


def test_write_is_retried_while_another_connection_holds_the_lock(tmp_path, caplog):
    schema, table = notes_schema()
    db = tmp_path / "store.db"
    store = Store(f"sqlite:///{db}", schema, busy_timeout_s=0.02, max_retries=200)
    add_note(store, table, "first")
    raw = _hold_write_lock(db)
    release = threading.Timer(0.5, raw.commit)
    caplog.set_level(logging.DEBUG, logger="domaintune.store")
    release.start()
    try:
        add_note(store, table, "after the lock")
    finally:
        release.join(THREAD_TIMEOUT_S)
        raw.close()
    retries = [r for r in caplog.records if "locked or busy" in r.getMessage()]
    assert retries, "the write should have found the database locked and retried"
    assert texts(store, table) == ["first", "from the other connection", "after the lock"]
    store.close()


def test_a_lock_held_too_long_is_a_clear_error(tmp_path):
    class AppError(StoreError):
        pass

    schema, table = notes_schema()
    db = tmp_path / "store.db"
    store = Store(f"sqlite:///{db}", schema, busy_timeout_s=0.01, max_retries=3, error=AppError,
                  what="notes database", tuning_hint="raise notes.busy_timeout_s")
    add_note(store, table, "first")
    raw = _hold_write_lock(db)
    try:
        with pytest.raises(AppError, match=(r"store.db: the notes database stayed locked through 3 "
                                            r"attempts .*retry later, or raise notes.busy_timeout_s")):
            add_note(store, table, "blocked")
        assert texts(store, table) == ["first"]  # readers are not blocked by a writer in WAL
    finally:
        raw.rollback()
        raw.close()
    add_note(store, table, "works again")
    assert texts(store, table) == ["first", "works again"]


def test_retry_if_retries_then_raises_the_error_itself(tmp_path):
    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("k", sa.Integer, primary_key=True))
    store = Store(f"sqlite:///{tmp_path / 's.db'}", Schema("t", metadata), max_retries=4)
    store.run(lambda c: c.execute(table.insert().values(k=1)), write=True)
    calls = []

    def clash(conn):
        calls.append(1)
        conn.execute(table.insert().values(k=1))

    with pytest.raises(sa.exc.IntegrityError):
        store.run(clash, write=True, retry_if=lambda e: isinstance(e, sa.exc.IntegrityError))
    assert len(calls) == 4
    calls.clear()
    with pytest.raises(sa.exc.IntegrityError):  # without retry_if: one attempt
        store.run(clash, write=True)
    assert len(calls) == 1


# ---------------------------------------------------------------------- migrations
def test_migrations_run_once_in_order_and_newer_databases_are_refused(db_url, caplog):
    v1, table = notes_schema()
    with Store(db_url, v1) as store:
        add_note(store, table, "kept")
        assert store.schema_version == 1
    calls: list[str] = []

    def add_channel(conn):
        calls.append("add channel")
        add_column(conn, "notes", sa.Column("channel", sa.String(32)))

    def fill_channel(conn):
        calls.append("fill channel")
        conn.execute(sa.text("UPDATE notes SET channel = 'web' WHERE channel IS NULL"))

    steps = [add_channel, Migration("fill notes.channel", [fill_channel]),
             "CREATE INDEX ix_notes_channel ON notes (channel)"]
    v4, _ = notes_schema(*steps)
    assert v4.version == 4
    caplog.set_level(logging.INFO, logger="domaintune.store")
    with Store(db_url, v4) as store:
        assert store.schema_version == 4
        assert calls == ["add channel", "fill channel"]
        assert "channel" in column_names(store, "notes")
        assert store.run(lambda c: c.execute(sa.text("SELECT text, channel FROM notes")).all()) == [
            ("kept", "web")]
    migrated = [r.getMessage() for r in caplog.records if "migrated" in r.getMessage()]
    assert [m.split("from schema version ")[1][:6] for m in migrated] == ["1 to 2", "2 to 3", "3 to 4"]
    with Store(db_url, v4) as store:  # applied once: a second open runs nothing
        assert store.schema_version == 4 and calls == ["add channel", "fill channel"]
    v2, _ = notes_schema(add_channel)
    with Store(db_url, v2) as store, pytest.raises(
            StoreError, match=r"expected 'notes' tables of schema version 2 or older, found "
                              r"version 4, newer than this code understands.*upgrade domaintune"):
        add_note(store, table, "refused")


def test_a_new_database_starts_at_the_current_version_without_migrating(db_url):
    calls = []
    schema, table = notes_schema(lambda conn: calls.append("ran"), "SELECT 1")
    with Store(db_url, schema) as store:
        add_note(store, table, "x")
        assert store.schema_version == 3 and calls == []


def test_namespaces_have_their_own_versions(db_url):
    a, table = notes_schema(namespace="a")
    metadata = sa.MetaData()
    other = sa.Table("other", metadata, sa.Column("id", sa.Integer, primary_key=True))
    b = Schema("b", metadata, ["SELECT 1", "SELECT 2"])
    with Store(db_url, a) as sa_, Store(db_url, b) as sb:
        add_note(sa_, table, "a")
        sb.run(lambda c: c.execute(other.insert().values(id=1)), write=True)
        assert (sa_.schema_version, sb.schema_version) == (1, 3)


def test_a_database_from_before_the_store_is_adopted(db_url):
    """The single-row ``schema_version`` table that databases had before domaintune.store."""
    legacy = sa.MetaData()
    version_table = sa.Table("schema_version", legacy,
                             sa.Column("id", sa.Integer, primary_key=True),
                             sa.Column("version", sa.Integer, nullable=False),
                             sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    schema, table = notes_schema(lambda conn: calls.append("v1 -> v2"))
    table.to_metadata(legacy)
    with Store(db_url) as plain, plain.transaction(write=True) as conn:  # a store without schema
        legacy.create_all(conn)
        conn.execute(version_table.insert().values(id=1, version=1,
                                                   updated_at=datetime.now(timezone.utc)))
        conn.execute(table.insert().values(text="old note"))
    calls: list[str] = []
    with Store(db_url, schema) as store:
        assert texts(store, table) == ["old note"]
        assert store.schema_version == 2 and calls == ["v1 -> v2"]
        assert not store.run(lambda c: sa.inspect(c).has_table("schema_version"))
    with Store(db_url, schema) as store:  # adopted once
        assert store.schema_version == 2 and calls == ["v1 -> v2"]


def test_someone_elses_schema_version_table_is_left_alone(tmp_path):
    db = tmp_path / "shared.db"
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE schema_version (version_num TEXT)")  # e.g. another tool's
    schema, table = notes_schema()
    with Store(f"sqlite:///{db}", schema) as store:
        add_note(store, table, "x")
        assert store.schema_version == 1
        assert store.run(lambda c: sa.inspect(c).has_table("schema_version"))


def test_migration_accepts_one_bare_step():
    assert Migration("one", "SELECT 1").steps == ("SELECT 1",)


# ---------------------------------------------------------------------- concurrency
def test_concurrent_writers_from_threads(db_url):
    """Read-modify-write under the write lock: no lost updates, no errors (8 threads)."""
    metadata = sa.MetaData()
    counter = sa.Table("counter", metadata, sa.Column("id", sa.Integer, primary_key=True),
                       sa.Column("n", sa.Integer, nullable=False))
    log = sa.Table("log", metadata, sa.Column("seq", sa.Integer, primary_key=True),
                   sa.Column("thread", sa.Integer, nullable=False))
    schema = Schema("counter", metadata)
    shared = Store(db_url, schema)
    shared.run(lambda c: c.execute(counter.insert().values(id=1, n=0)), write=True)
    n_threads, per_thread = 8, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def bump(thread: int):
        def txn(conn):
            n = conn.execute(sa.select(counter.c.n).where(counter.c.id == 1)).scalar_one()
            conn.execute(counter.update().where(counter.c.id == 1).values(n=n + 1))
            conn.execute(log.insert().values(seq=n + 1, thread=thread))
        return txn

    def work(i: int) -> None:
        store = shared if i % 2 else Store(db_url, schema)  # like separate processes
        barrier.wait(THREAD_TIMEOUT_S)
        try:
            for _ in range(per_thread):
                store.run(bump(i), write=True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            if store is not shared:
                store.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(THREAD_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    total = n_threads * per_thread
    assert shared.run(lambda c: c.execute(sa.select(counter.c.n)).scalar_one()) == total
    seqs = shared.run(lambda c: list(c.execute(sa.select(log.c.seq).order_by(log.c.seq)).scalars()))
    assert seqs == list(range(1, total + 1))
    shared.close()


# ---------------------------------------------------------------------- round trips
def test_round_trip_json_times_upsert_and_transactions(db_url):
    schema, table = notes_schema()
    metadata = schema.metadata
    kv = sa.Table("kv", metadata, sa.Column("k", sa.String(50), primary_key=True),
                  sa.Column("v", sa.JSON, nullable=False))
    now = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    with Store(db_url, schema) as store:
        store.run(lambda c: c.execute(table.insert().values(
            text="ü→✓", data={"a": [1, 2.5, None], "b": {"c": True}}, created_at=now)), write=True)
        row = store.run(lambda c: c.execute(sa.select(table)).one())
        assert (row.text, row.data) == ("ü→✓", {"a": [1, 2.5, None], "b": {"c": True}})
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
        assert created == now
        for value in ({"n": 1}, {"n": 2}):
            store.run(lambda c, value=value: Store.upsert(c, kv, {"k": "x", "v": value}, key=["k"],
                                                          update={"v": value}), write=True)
        assert store.run(lambda c: c.execute(sa.select(kv.c.k, kv.c.v)).all()) == [("x", {"n": 2})]
        with store.transaction(write=True) as conn:
            conn.execute(table.insert().values(text="committed"))
        with pytest.raises(RuntimeError, match="boom"), store.transaction(write=True) as conn:
            conn.execute(table.insert().values(text="rolled back"))
            raise RuntimeError("boom")
        assert texts(store, table) == ["ü→✓", "committed"]


@pytest.mark.postgres
def test_postgresql_url_location_and_advisory_write_lock(pg_url):
    schema, table = notes_schema()
    url = sa.make_url(pg_url).set(password="secret")
    store = Store(url, schema)
    assert store.backend == "postgresql" and "secret" not in store.location
    assert "***" in store.location
    store.close()
    with Store(pg_url, schema) as store:
        add_note(store, table, "pg")

        def locks(conn):
            return conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                        "AND pid = pg_backend_pid()")).scalar_one()

        assert store.run(locks, write=True) == 1 and store.run(locks) == 0
        assert texts(store, table) == ["pg"]


# ---------------------------------------------------------------------- errors
def test_url_errors_say_what_to_do(tmp_path):
    with pytest.raises(StoreError, match=r"expected a database URL such as sqlite:///models/"
                                         r"registry.db .*a file path needs the sqlite:/// prefix: "
                                         r"sqlite:///models/registry.db"):
        Store("models/registry.db")
    with pytest.raises(StoreError, match=r"expected a database URL of a supported backend, .*found "
                                         r"'nosuchdb://host/x' .*fix the URL's scheme"):
        Store("nosuchdb://host/x")
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"


def test_missing_driver_is_a_clear_error():
    try:
        import pg8000  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pg8000 is installed here")
    with pytest.raises(StoreError, match=(r"postgresql\+pg8000://user@127.0.0.1/db: the database "
                                          r"driver 'pg8000' is not installed .*pip install pg8000\), "
                                          r"or for PostgreSQL use postgresql\+psycopg://")):
        Store("postgresql+pg8000://user@127.0.0.1/db")


def test_unreachable_server_is_a_clear_error():
    pytest.importorskip("psycopg")
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = Store(f"postgresql+psycopg://user:pw@127.0.0.1:{port}/db", notes_schema()[0])
    with pytest.raises(StoreError, match=(rf"user:\*\*\*@127.0.0.1:{port}/db: cannot connect to "
                                          r"the database server .*start the server, or fix the URL")):
        store.schema_version  # noqa: B018 - first use connects


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    db = tmp_path / "notes.db"
    db.write_bytes(b"this is not a SQLite database, it is a text file" * 100)
    with pytest.raises(StoreError, match=r"notes.db: expected a SQLite database .*point the URL at "
                                         r"another file"):
        Store(f"sqlite:///{db}", notes_schema()[0]).schema_version  # noqa: B018
    assert db.read_bytes().startswith(b"this is not")  # the file is left alone

"""The bot's conversation log on the core store: SQLite and PostgreSQL, concurrency, old files."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from domaintune import DataError
from support_bot import store as logstore_module
from support_bot.store import LogError, LogStore

THREAD_TIMEOUT_S = 60


def turn(text: str, **values) -> dict:
    return {"text": text, "text_chars": len(text), "outcome": "answered", **values}


@pytest.fixture
def log(db_url) -> LogStore:
    """A conversation log on SQLite, then on PostgreSQL."""
    store = LogStore(db_url)
    yield store
    store.close()


def test_turns_contexts_handoffs_and_feedback_round_trip(log):
    assert log.count_turns() == 0 and log.schema_version == logstore_module.SCHEMA_VERSION
    first, index = log.record_turn("c1", turn("card lost", intent="card", confidence=0.9,
                                              in_scope=True, missing_slots=["card_number"]),
                                   {"intent": "card", "slots": {}})
    assert index == 0
    second, index = log.record_turn("c1", turn("agent please", intent="agent"),
                                    {"intent": "agent", "slots": {"n": "1"}}, handoff_reason="asked")
    assert index == 1
    log.record_turn("c1", turn("hello?"), {"intent": "agent"}, handoff_reason="again")
    assert log.load_context("c1") == {"intent": "agent"}
    assert log.load_context("unknown") is None
    assert [(q["conversation_id"], q["turn_id"], q["reason"]) for q in log.handoff_queue()] == [
        ("c1", second, "asked")]  # one open entry per conversation
    assert log.close_handoff("c1") == 1 and log.handoff_queue() == []
    assert len(log.handoff_queue(status=None)) == 1
    row = log.turn(first)
    assert (row["text"], row["intent"], row["confidence"], row["in_scope"], row["missing_slots"]) == (
        "card lost", "card", 0.9, True, ["card_number"])
    log.set_feedback(first, "helpful")
    log.set_feedback(second, "not_helpful", corrected_intent="human")
    assert log.feedback_examples() == [
        {"text": "card lost", "intent": "card", "turn_id": first, "source": "helpful"},
        {"text": "agent please", "intent": "human", "turn_id": second, "source": "corrected"}]
    with pytest.raises(DataError, match=r"no turn 999 in the conversation log .*pass the turn_id"):
        log.set_feedback(999, "helpful")
    assert [t["turn_index"] for t in log.turns("c1")] == [0, 1, 2]


def test_concurrent_turns_get_distinct_indices(db_url):
    """8 threads (half sharing one LogStore, half with their own) log into one conversation."""
    shared = LogStore(db_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        store = shared if i % 2 else LogStore(db_url)
        barrier.wait(THREAD_TIMEOUT_S)
        try:
            for k in range(10):
                store.record_turn("busy", turn(f"{i}-{k}"), {"last": f"{i}-{k}"},
                                  handoff_reason="queue")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            if store is not shared:
                store.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(THREAD_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    rows = shared.turns("busy")
    assert sorted(r["turn_index"] for r in rows) == list(range(80))
    assert len({r["text"] for r in rows}) == 80 and len(shared.handoff_queue()) == 1
    shared.close()


def test_path_url_and_location(tmp_path, db_url):
    by_path = LogStore(tmp_path / "bot" / "log.db")
    assert by_path.path == tmp_path / "bot" / "log.db" and (tmp_path / "bot").is_dir()
    assert by_path.location == str(tmp_path / "bot" / "log.db")
    assert repr(by_path) == f"LogStore({str(tmp_path / 'bot' / 'log.db')!r})"
    by_url = LogStore(db_url)
    assert (by_url.path is None) == (not db_url.startswith("sqlite"))


def test_a_log_written_before_the_store_opens_and_keeps_its_turns(tmp_path):
    db = tmp_path / "log.db"
    with LogStore(db) as store:  # the tables have not changed since; only the version table has
        store.record_turn("old", turn("hi", intent="greet"), {"intent": "greet"})
    with sqlite3.connect(db) as raw:  # turn it into the file the earlier release wrote
        raw.execute("DROP TABLE domaintune_schema")
        raw.execute("CREATE TABLE schema_version (id INTEGER NOT NULL, version INTEGER NOT NULL, "
                    "updated_at DATETIME NOT NULL, PRIMARY KEY (id))")
        raw.execute("INSERT INTO schema_version VALUES (1, 1, '2026-01-01 00:00:00.000000')")
    with LogStore(db) as store:
        assert [t["text"] for t in store.turns("old")] == ["hi"]
        assert store.record_turn("old", turn("again"), {})[1] == 1
        assert store.schema_version == logstore_module.SCHEMA_VERSION
    with sqlite3.connect(db) as raw:
        assert raw.execute("select namespace, version from domaintune_schema").fetchall() == [
            ("support_bot.log", logstore_module.SCHEMA_VERSION)]


def test_a_locked_log_raises_log_error(tmp_path):
    db = tmp_path / "log.db"
    store = LogStore(db, busy_timeout_s=0.01, max_retries=2)
    store.record_turn("c", turn("hi"), {})
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LogError, match=r"stayed locked through 2 attempts.*raise "
                                           r"log.busy_timeout_s or log.max_retries"):
            store.record_turn("c", turn("blocked"), {})
    finally:
        raw.rollback()
        raw.close()
    assert store.count_turns() == 1

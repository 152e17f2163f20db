"""Model registry on a temporary SQLite database and on PostgreSQL (tests/pg.py): versions,
lineage, stages, rollback, races, schema migration of older registries."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from datetime import timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from domaintune import TextDataset, TrainingConfig
from domaintune.registry import (
    SCHEMA_VERSION,
    ModelRegistry,
    ModelVersion,
    RegistryError,
    Stage,
    fingerprint_dataset,
)
from domaintune.store import StoreError

FP = "0" * 64


@pytest.fixture
def registry(db_url) -> ModelRegistry:
    """A registry on SQLite, then on PostgreSQL (the ``db_url`` fixture)."""
    reg = ModelRegistry(db_url)
    yield reg
    reg.close()


@pytest.fixture
def sqlite_registry(tmp_path) -> ModelRegistry:
    reg = ModelRegistry(f"sqlite:///{tmp_path / 'reg' / 'registry.db'}")
    yield reg
    reg.close()


def model_dir(tmp_path: Path, name: str = "m") -> Path:
    path = tmp_path / "models" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def register(reg: ModelRegistry, tmp_path: Path, name: str = "intents", **kwargs) -> ModelVersion:
    kwargs.setdefault("config", {"method": "frozen"})
    kwargs.setdefault("metrics", {"macro_f1": 0.9})
    kwargs.setdefault("data_fingerprint", FP)
    return reg.register(name, model_dir(tmp_path, kwargs.pop("dir", name)), **kwargs)


def stages(reg: ModelRegistry, name: str = "intents") -> dict[int, str]:
    return {v.version: v.stage.value for v in reg.list(name)}


def test_register_list_get(registry, tmp_path):
    v1 = register(registry, tmp_path)
    assert isinstance(v1, ModelVersion)
    assert (v1.name, v1.version, v1.stage, v1.parent_version) == ("intents", 1, Stage.CANDIDATE, None)
    assert Path(v1.path).is_absolute() and Path(v1.path).is_dir()
    assert v1.created_at.tzinfo is not None and v1.created_at.utcoffset() == timezone.utc.utcoffset(None)
    v2 = register(registry, tmp_path, metrics={"macro_f1": 0.95})
    register(registry, tmp_path, name="sentiment")
    assert [(v.name, v.version) for v in registry.list()] == [
        ("intents", 1), ("intents", 2), ("sentiment", 1)]
    assert [v.version for v in registry.list("intents")] == [1, 2]
    assert registry.get("intents") == v2  # latest by default
    assert registry.get("intents", 1) == v1
    assert registry.names() == ["intents", "sentiment"]
    with pytest.raises(dataclass_frozen_error()):
        v1.version = 5  # type: ignore[misc]
    assert v1.to_dict()["stage"] == "candidate"
    assert str(v2) == "intents v2 (candidate)"


def dataclass_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_tables_and_sqlite_settings(sqlite_registry, tmp_path):
    registry = sqlite_registry
    register(registry, tmp_path)
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        assert {"domaintune_schema", "model_versions", "events"} <= tables
        assert db.execute("select namespace, version from domaintune_schema").fetchall() == [
            ("registry", SCHEMA_VERSION)]
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert registry.schema_version == SCHEMA_VERSION
    assert registry.location == str(tmp_path / "reg" / "registry.db")


def test_version_numbering_per_name_and_parent_links(registry, tmp_path):
    assert [register(registry, tmp_path, name="a").version for _ in range(3)] == [1, 2, 3]
    assert register(registry, tmp_path, name="b").version == 1
    child = register(registry, tmp_path, name="a", parent_version=2)
    assert (child.version, child.parent_version) == (4, 2)
    assert registry.get("a", 4).parent_version == 2
    with pytest.raises(RegistryError, match=r"parent_version=9: there is no such version \(its versions are v1"):
        register(registry, tmp_path, name="a", parent_version=9)
    with pytest.raises(RegistryError, match="no version of it is registered yet"):
        register(registry, tmp_path, name="new", parent_version=1)


def test_explicit_version_and_duplicate_version_error(registry, tmp_path):
    assert register(registry, tmp_path, version=5).version == 5
    assert register(registry, tmp_path).version == 6
    with pytest.raises(RegistryError, match=r"'intents' v5 exists already .*omit version= to get the next number \(v7\)"):
        register(registry, tmp_path, version=5)


def test_register_missing_path_and_bad_arguments(registry, tmp_path):
    with pytest.raises(RegistryError, match=r"the model path .*nope does not exist; save the model first"):
        registry.register("intents", tmp_path / "nope", config={}, metrics={}, data_fingerprint=FP)
    with pytest.raises(RegistryError, match="expected a model name"):
        register(registry, tmp_path, name="bad name!")
    with pytest.raises(RegistryError, match=r"expected stage to be one of .*found 'prod'; did you mean 'production'\?"):
        register(registry, tmp_path, stage="prod")
    with pytest.raises(RegistryError, match="data_fingerprint to be a non-empty string"):
        register(registry, tmp_path, data_fingerprint="")
    with pytest.raises(RegistryError, match="config must be JSON-serialisable"):
        register(registry, tmp_path, config={"x": object()})
    assert registry.list() == []  # nothing half-registered


def test_unknown_name_and_version_errors(registry, tmp_path):
    with pytest.raises(RegistryError, match="the registry .* is empty"):
        registry.get("intents")
    register(registry, tmp_path)
    register(registry, tmp_path)
    with pytest.raises(RegistryError, match=r"no model named 'intent' in the registry; did you mean 'intents'\?"):
        registry.get("intent")
    with pytest.raises(RegistryError, match=r"'intents' has no version 7; its versions are v1 \(candidate\), v2 \(candidate\)"):
        registry.get("intents", 7)
    with pytest.raises(RegistryError, match="no model named 'other'"):
        registry.promote("other", 1)
    with pytest.raises(RegistryError, match="positive integer"):
        registry.get("intents", 0)


def test_missing_production_error_lists_versions(registry, tmp_path):
    register(registry, tmp_path)
    register(registry, tmp_path)
    with pytest.raises(RegistryError, match=(
            r"model 'intents' has no production version; its versions are v1 \(candidate\), "
            r"v2 \(candidate\); promote one with registry.promote\('intents', 2\)")):
        registry.production("intents")
    with pytest.raises(RegistryError, match="no production version"):
        registry.load_production("intents")
    with pytest.raises(RegistryError, match="cannot roll back 'intents': it has no production"):
        registry.rollback("intents")


def test_promote_archives_previous_production(registry, tmp_path):
    for _ in range(3):
        register(registry, tmp_path)
    assert registry.promote("intents", 1).stage == Stage.PRODUCTION
    assert stages(registry) == {1: "production", 2: "candidate", 3: "candidate"}
    registry.promote("intents", 3)
    assert stages(registry) == {1: "archived", 2: "candidate", 3: "production"}
    assert registry.production("intents").version == 3
    assert registry.load_production("intents") == Path(registry.get("intents", 3).path)
    registry.promote("intents", 3)  # already production: no change, no event
    assert [e["version"] for e in registry.history("intents")] == [1, 3]
    assert stages(registry) == {1: "archived", 2: "candidate", 3: "production"}


def test_register_as_production_promotes_in_same_step(registry, tmp_path):
    register(registry, tmp_path, stage="production")
    v2 = register(registry, tmp_path, stage=Stage.PRODUCTION)
    assert v2.stage == Stage.PRODUCTION
    assert stages(registry) == {1: "archived", 2: "production"}
    assert registry.rollback("intents").version == 1


def test_rollback_is_an_undo_stack(registry, tmp_path):
    for _ in range(4):
        register(registry, tmp_path)
    registry.promote("intents", 1)
    with pytest.raises(RegistryError, match="v1 is the oldest version in its production history, there is no earlier one"):
        registry.rollback("intents")
    registry.promote("intents", 2)
    registry.promote("intents", 3)
    back = registry.rollback("intents")
    assert back.version == 2 and back.stage == Stage.PRODUCTION
    assert stages(registry) == {1: "archived", 2: "production", 3: "archived", 4: "candidate"}
    assert registry.rollback("intents").version == 1
    assert stages(registry) == {1: "production", 2: "archived", 3: "archived", 4: "candidate"}
    with pytest.raises(RegistryError, match="no earlier one"):
        registry.rollback("intents")
    registry.promote("intents", 4)
    assert registry.rollback("intents").version == 1
    history = registry.history("intents")
    assert [(e["action"], e["version"], e["previous_version"]) for e in history] == [
        ("promote", 1, None), ("promote", 2, 1), ("promote", 3, 2), ("rollback", 2, 3),
        ("rollback", 1, 2), ("promote", 4, 1), ("rollback", 1, 4)]


def test_rollback_and_load_refuse_deleted_directories(registry, tmp_path):
    register(registry, tmp_path, dir="old")
    register(registry, tmp_path, dir="new")
    registry.promote("intents", 1)
    registry.promote("intents", 2)
    (tmp_path / "models" / "old").rmdir()
    with pytest.raises(RegistryError, match=r"'intents' v1 points to .*old, which no longer exists"):
        registry.rollback("intents")
    assert registry.production("intents").version == 2  # unchanged: the transaction rolled back
    (tmp_path / "models" / "new").rmdir()
    with pytest.raises(RegistryError, match="which no longer exists"):
        registry.load_production("intents")


def test_config_and_metrics_json_round_trip(registry, tmp_path):
    import numpy as np

    config = {"method": "frozen", "lr": 5e-5, "layers": [1, 2, {"deep": None}], "name": "ü→✓",
              "flag": True}
    metrics = {"macro_f1": np.float32(0.5), "per_class": {"a": {"f1": 1.0}},
               "confusion_matrix": np.array([[1, 0], [0, 1]])}
    v = register(registry, tmp_path, config=config, metrics=metrics)
    again = ModelRegistry(registry.url).get("intents", v.version)  # a fresh connection
    assert again.config == config
    assert again.metrics == {"macro_f1": 0.5, "per_class": {"a": {"f1": 1.0}},
                             "confusion_matrix": [[1, 0], [0, 1]]}
    assert json.loads(json.dumps(again.to_dict()))["config"] == config
    cfg = TrainingConfig(method="frozen", progress=False)
    stored = register(registry, tmp_path, config=cfg).config
    assert TrainingConfig.from_dict(stored) == cfg


def test_concurrent_registration_gives_distinct_versions(tmp_path, db_url):
    url = db_url
    path = model_dir(tmp_path)
    n_threads, per_thread = 8, 5
    shared = ModelRegistry(url)
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def work(i: int) -> None:
        # half the threads share one registry object, half open their own (like processes)
        reg = shared if i % 2 else ModelRegistry(url)
        barrier.wait()
        try:
            for _ in range(per_thread):
                results.append(reg.register("race", path, config={"thread": i}, metrics={},
                                            data_fingerprint=FP).version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    total = n_threads * per_thread
    assert sorted(results) == list(range(1, total + 1))
    assert [v.version for v in shared.list("race")] == list(range(1, total + 1))


def test_version_clash_is_retried(registry, tmp_path, monkeypatch):
    """A concurrent writer taking the same number (IntegrityError) makes register retry."""
    register(registry, tmp_path)
    real_rows = ModelRegistry._rows
    calls = {"n": 0}

    def stale_rows(self, conn, name=None):
        calls["n"] += 1
        rows = real_rows(self, conn, name)
        return rows[:-1] if calls["n"] == 1 else rows  # first attempt misses v1 -> clash

    monkeypatch.setattr(ModelRegistry, "_rows", stale_rows)
    assert register(registry, tmp_path).version == 2
    assert calls["n"] >= 2


def test_in_memory_registry(tmp_path):
    reg = ModelRegistry("sqlite://")
    assert register(reg, tmp_path).version == 1
    assert reg.promote("intents", 1).stage == Stage.PRODUCTION


def test_fingerprint_dataset():
    a = TextDataset(["hello", "card lost"], ["greeting", "card"])
    assert fingerprint_dataset(a) == fingerprint_dataset(TextDataset(["hello", "card lost"],
                                                                     ["greeting", "card"],
                                                                     source="other.csv"))
    assert len(fingerprint_dataset(a)) == 64
    assert fingerprint_dataset(a) != fingerprint_dataset(TextDataset(["hello", "card lost"],
                                                                     ["greeting", "refund"]))
    assert fingerprint_dataset(a) != fingerprint_dataset(TextDataset(["card lost", "hello"],
                                                                     ["card", "greeting"]))
    assert fingerprint_dataset(TextDataset(["a"])) != fingerprint_dataset(TextDataset(["a"], ["a"]))
    multi = TextDataset(["x"], [["a", "b"]], multi_label=True)
    assert len(fingerprint_dataset(multi)) == 64
    with pytest.raises(TypeError, match="expected a TextDataset"):
        fingerprint_dataset(["text"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- where it is, old files
LEGACY_REGISTRY_DDL = """
CREATE TABLE schema_version (id INTEGER NOT NULL, version INTEGER NOT NULL,
    updated_at DATETIME NOT NULL, PRIMARY KEY (id));
CREATE TABLE model_versions (id INTEGER NOT NULL, name VARCHAR(200) NOT NULL,
    version INTEGER NOT NULL, parent_version INTEGER, data_fingerprint VARCHAR(128) NOT NULL,
    config JSON NOT NULL, metrics JSON NOT NULL, path TEXT NOT NULL, created_at DATETIME NOT NULL,
    stage VARCHAR(16) NOT NULL, PRIMARY KEY (id),
    CONSTRAINT uq_model_versions_name_version UNIQUE (name, version),
    CONSTRAINT model_stage CHECK (stage IN ('candidate', 'production', 'archived')));
CREATE INDEX ix_model_versions_name_stage ON model_versions (name, stage);
CREATE TABLE events (id INTEGER NOT NULL, name VARCHAR(200) NOT NULL, action VARCHAR(16) NOT NULL,
    version INTEGER NOT NULL, previous_version INTEGER, created_at DATETIME NOT NULL,
    PRIMARY KEY (id));
CREATE INDEX ix_events_name ON events (name);
"""


def test_a_registry_written_before_the_store_opens_and_is_migrated(tmp_path):
    """The layout (DDL) written by domaintune 0.1 before domaintune.store, with its rows."""
    db, path = tmp_path / "registry.db", model_dir(tmp_path)
    with sqlite3.connect(db) as raw:
        raw.executescript(LEGACY_REGISTRY_DDL)
        raw.execute("INSERT INTO schema_version VALUES (1, 1, '2026-01-01 00:00:00.000000')")
        raw.execute("INSERT INTO model_versions VALUES (1, 'intents', 1, NULL, ?, '{\"a\": 1}', "
                    "'{\"f1\": 0.5}', ?, '2026-01-01 00:00:00.000000', 'production')", (FP, str(path)))
        raw.execute("INSERT INTO events VALUES (1, 'intents', 'promote', 1, NULL, "
                    "'2026-01-01 00:00:00.000000')")
    with ModelRegistry(f"sqlite:///{db}") as reg:
        (old,) = reg.list()
        assert (old.version, old.stage, old.config, old.metrics) == (1, Stage.PRODUCTION, {"a": 1},
                                                                     {"f1": 0.5})
        assert reg.register("intents", path, config={}, metrics={}, data_fingerprint=FP,
                            stage="production").version == 2
        assert reg.rollback("intents").version == 1
        assert reg.schema_version == SCHEMA_VERSION
    with sqlite3.connect(db) as raw:
        tables = {r[0] for r in raw.execute("select name from sqlite_master where type='table'")}
    assert "schema_version" not in tables and "domaintune_schema" in tables


def test_a_registry_newer_than_the_code_is_refused(sqlite_registry, tmp_path):
    register(sqlite_registry, tmp_path)
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as raw:
        raw.execute("UPDATE domaintune_schema SET version = 99 WHERE namespace = 'registry'")
    with ModelRegistry(sqlite_registry.url) as newer, pytest.raises(
            StoreError, match=r"registry.db: expected 'registry' tables of schema version 1 or "
                              r"older, found version 99, newer than this code.*upgrade domaintune"):
        newer.list()


def test_default_location_and_register_says_where_the_registry_is(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    with ModelRegistry() as reg:
        assert reg.location == str(tmp_path / "models" / "registry.db")
        caplog.set_level(logging.INFO, logger="domaintune.registry")
        v = register(reg, tmp_path)
    (record,) = [r for r in caplog.records if r.name == "domaintune.registry"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == (f"registered intents v1 (candidate) from {v.path} in the model "
                                   f"registry {tmp_path / 'models' / 'registry.db'}")


@pytest.mark.postgres
def test_postgresql_registry_location_hides_the_password(pg_url, tmp_path):
    url = sa.make_url(pg_url)
    with ModelRegistry(pg_url) as reg:
        register(reg, tmp_path)
        assert reg.location.startswith(f"postgresql+psycopg://{url.username}@127.0.0.1:")
    assert "pw" not in ModelRegistry(url.set(password="pw")).location

"""Model registry: named, numbered model versions with lineage, stages and a promotion history.

A registry is one SQL database (SQLite by default, ``postgresql+psycopg://...`` works too) holding:

- ``model_versions``: one row per registered model directory: ``name``, ``version`` (1, 2, ...
  per name, unique together), ``parent_version``, ``data_fingerprint`` (see
  :func:`fingerprint_dataset`), ``config`` and ``metrics`` (JSON), ``path``, ``created_at``
  (UTC) and ``stage`` (``candidate``, ``production`` or ``archived``);
- ``events``: every change of the production version (``promote`` or ``rollback``), so that
  :meth:`ModelRegistry.rollback` is well defined;
- the ``registry`` row of ``domaintune_schema``: the layout version of these tables
  (see :mod:`domaintune.store`, which also provides the engine, WAL and retries).

At most one version per name is in ``production``. Promoting a version archives the previous
production version in the same transaction. ``rollback`` undoes the latest production change:
production history is a stack (each ``promote`` pushes, each ``rollback`` pops), so rolling back
twice after promoting v1, v2, v3 gives v2 and then v1.

Example:
    >>> from domaintune.registry import ModelRegistry, fingerprint_dataset
    >>> registry = ModelRegistry("sqlite:///models/registry.db")  # doctest: +SKIP
    >>> v = registry.register("intents", "models/intents", config=cfg.to_dict(),
    ...                       metrics=clf.metrics, data_fingerprint=fingerprint_dataset(train))  # doctest: +SKIP
    >>> registry.promote("intents", v.version)  # doctest: +SKIP
    >>> TextClassifier.load(registry.load_production("intents"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import IntegrityError

from .data import TextDataset
from .errors import DomaintuneError, closest
from .store import (
    DEFAULT_BUSY_TIMEOUT_S,
    DEFAULT_MAX_RETRIES,
    Closing,
    Migration,
    Schema,
    Store,
)

logger = logging.getLogger(__name__)

DEFAULT_REGISTRY_URL = "sqlite:///models/registry.db"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_MAX_VERSIONS_NAMED = 10
_T = TypeVar("_T")


class RegistryError(DomaintuneError, ValueError):
    """A registry lookup or change failed (unknown model or version, no production, ...)."""


class Stage(str, enum.Enum):
    """Lifecycle stage of a registered model version."""

    CANDIDATE = "candidate"  # registered, not serving
    PRODUCTION = "production"  # the version ``load_production`` returns (at most one per name)
    ARCHIVED = "archived"  # was production (or retired); a rollback target


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version (a read-only snapshot of its registry row).

    Attributes:
        name: the model's name, e.g. ``"intents"``.
        version: 1, 2, ... per name.
        path: absolute path of the saved model directory.
        stage: ``candidate``, ``production`` or ``archived``.
        created_at: registration time (UTC).
        data_fingerprint: sha256 of the training data (:func:`fingerprint_dataset`).
        config: training configuration (JSON).
        metrics: evaluation metrics (JSON).
        parent_version: the version this one was derived from (e.g. fine-tuned further), or None.
    """

    name: str
    version: int
    path: str
    stage: Stage
    created_at: datetime
    data_fingerprint: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    parent_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (stage as its value, ``created_at`` as ISO 8601)."""
        out = dataclasses.asdict(self)
        out["stage"] = self.stage.value
        out["created_at"] = self.created_at.isoformat()
        return out

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.stage.value})"


# ---------------------------------------------------------------------- schema
_metadata = sa.MetaData()

_versions = sa.Table(
    "model_versions",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("parent_version", sa.Integer, nullable=True),
    sa.Column("data_fingerprint", sa.String(128), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column(
        "stage",
        sa.Enum(Stage, name="model_stage", native_enum=False, length=16, create_constraint=True,
                values_callable=lambda e: [m.value for m in e], validate_strings=True),
        nullable=False,
    ),
    sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    sa.Index("ix_model_versions_name_stage", "name", "stage"),
)

_events = sa.Table(
    "events",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),  # "promote" | "rollback"
    sa.Column("version", sa.Integer, nullable=False),  # the new production version
    sa.Column("previous_version", sa.Integer, nullable=True),  # production before, if any
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Ordered migrations (domaintune.store.Schema): _MIGRATIONS[i] brings a registry from schema
# version i + 1 to i + 2, once, inside one transaction. Append one per layout change (and change
# the tables above to the new layout), e.g.
#   Migration("add model_versions.notes",
#             [lambda conn: add_column(conn, "model_versions", sa.Column("notes", sa.Text))])
_MIGRATIONS: list[Migration] = []
SCHEMA_VERSION = 1 + len(_MIGRATIONS)
REGISTRY_SCHEMA = Schema("registry", _metadata, _MIGRATIONS)


# ---------------------------------------------------------------------- helpers
def fingerprint_dataset(dataset: TextDataset) -> str:
    """sha256 (hex) of a dataset's texts and labels, in order.

    Two datasets have the same fingerprint exactly when they hold the same texts with the same
    labels in the same order (row numbers and the source name do not count).

    Args:
        dataset: a :class:`~domaintune.TextDataset` (labels optional).

    Returns:
        64 hexadecimal characters.

    Example:
        >>> from domaintune import TextDataset
        >>> fingerprint_dataset(TextDataset(["hi"], ["greeting"]))[:12]
        '7717dee9dceb'
    """
    if not isinstance(dataset, TextDataset):
        raise TypeError(f"expected a TextDataset, found {type(dataset).__name__}; load the data "
                        "with domaintune.load_dataset first")
    digest = hashlib.sha256(b"domaintune-dataset-v1\n")
    labels = dataset.labels if dataset.labels is not None else [None] * len(dataset)
    for text, label in zip(dataset.texts, labels, strict=True):
        digest.update(json.dumps([text, label], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (Path, date)):
        return str(obj) if isinstance(obj, Path) else obj.isoformat()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, torch tensors
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _to_json(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise RegistryError(f"{what} must be a mapping (dict), found {type(value).__name__}; "
                            f"pass e.g. {what}=training_config.to_dict()")
    try:
        text = json.dumps(dict(value), default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{what} must be JSON-serialisable: {exc}; convert that value to a "
                            "number, string, list or dict") from None
    return json.loads(text)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _row_to_version(row: Any) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        path=row.path,
        stage=Stage(row.stage),
        created_at=_utc(row.created_at),
        data_fingerprint=row.data_fingerprint,
        config=dict(row.config or {}),
        metrics=dict(row.metrics or {}),
        parent_version=row.parent_version,
    )


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise RegistryError(
            f"expected a model name of letters, digits and . _ / - (at most 200 characters, "
            f"starting with a letter or digit), found {name!r}; e.g. 'support-intents'")
    return name


def _check_version(version: Any, what: str = "version") -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        if isinstance(version, str) and version.removeprefix("v").isdigit():
            return _check_version(int(version.removeprefix("v")), what)
        raise RegistryError(f"expected {what} to be a positive integer, found {version!r}")
    return version


def _check_stage(stage: Any) -> Stage:
    if isinstance(stage, Stage):
        return stage
    valid = [s.value for s in Stage]
    if isinstance(stage, str) and stage in valid:
        return Stage(stage)
    raise RegistryError(f"expected stage to be one of {valid}, found {stage!r}"
                        f"{closest(str(stage), valid)}")


# ---------------------------------------------------------------------- registry
class ModelRegistry(Closing):
    """Register, list, promote and roll back model versions in a SQL database.

    Tables are created on first use, on a :class:`~domaintune.store.Store`: SQLite databases use
    WAL journaling and a busy timeout, and write transactions take the write lock up front
    (``BEGIN IMMEDIATE``; a PostgreSQL advisory lock), so several threads or processes can
    register concurrently. Version numbers are allocated inside a transaction and protected by a
    unique constraint on (name, version); a clash is retried.

    Args:
        url: a SQLAlchemy URL. ``sqlite:///models/registry.db`` (the default) is relative to the
            directory the program runs in; ``sqlite:////abs/path.db`` and
            ``postgresql+psycopg://user:password@host:5432/db`` also work. The parent directory
            of a SQLite file is created. :attr:`location` says where the registry is.
        busy_timeout_s: how long SQLite waits for a lock before an attempt fails.
        max_retries: attempts of a write that hits a version clash or a locked database.
        echo: log every SQL statement (debugging).

    Raises:
        StoreError: a bad URL or a missing database driver (cannot reach the server: on first
            use).

    Example:
        >>> registry = ModelRegistry("sqlite:///models/registry.db")  # doctest: +SKIP
        >>> v1 = registry.register("intents", "models/intents", config={"method": "frozen"},
        ...                        metrics={"macro_f1": 0.91}, data_fingerprint="ab12...")  # doctest: +SKIP
        >>> registry.promote("intents", v1.version).stage  # doctest: +SKIP
        <Stage.PRODUCTION: 'production'>
    """

    def __init__(
        self,
        url: str | URL = DEFAULT_REGISTRY_URL,
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        echo: bool = False,
    ) -> None:
        self._store = Store(url, REGISTRY_SCHEMA, busy_timeout_s=busy_timeout_s,
                            max_retries=max_retries, echo=echo, what="model registry",
                            tuning_hint="raise ModelRegistry(busy_timeout_s=..., max_retries=...)")

    @property
    def url(self) -> URL:
        """The database URL (a relative SQLite path made absolute when the registry was opened)."""
        return self._store.url

    @property
    def location(self) -> str:
        """Where the registry is, for people: the SQLite file's absolute path or the URL
        without its password."""
        return self._store.location

    @property
    def store(self) -> Store:
        """The underlying :class:`~domaintune.store.Store`."""
        return self._store

    @property
    def schema_version(self) -> int:
        """The database's registry schema version."""
        return self._store.schema_version

    def __repr__(self) -> str:
        return f"ModelRegistry({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release the database connections."""
        self._store.close()

    # ------------------------------------------------------------------ transactions
    def _run(
        self,
        fn: Callable[[Connection], _T],
        *,
        write: bool = False,
        retry_clash: bool = False,
    ) -> _T:
        """Run ``fn(conn)`` in one transaction, retrying version clashes and locked databases."""
        retry_if = (lambda exc: isinstance(exc, IntegrityError)) if retry_clash else None
        try:
            return self._store.run(fn, write=write, retry_if=retry_if)
        except IntegrityError:
            if not retry_clash:
                raise
            raise RegistryError(
                f"could not allocate a new version number after {self._store.max_retries} "
                "attempts (other processes registered the same model at the same time); "
                "try again") from None

    # ------------------------------------------------------------------ queries (in a txn)
    def _rows(self, conn: Connection, name: str | None = None) -> list[Any]:
        query = sa.select(_versions).order_by(_versions.c.name, _versions.c.version)
        if name is not None:
            query = query.where(_versions.c.name == name)
        return list(conn.execute(query))

    def _require_rows(self, conn: Connection, name: str) -> list[Any]:
        rows = self._rows(conn, name)
        if rows:
            return rows
        names = list(conn.execute(sa.select(_versions.c.name).distinct().order_by(_versions.c.name))
                     .scalars())
        if not names:
            raise RegistryError(
                f"no model named {name!r}: the registry {self!r} is empty; register one with "
                "registry.register(name, path, ...)")
        raise RegistryError(
            f"no model named {name!r} in the registry{closest(name, names)} (registered models: "
            f"{', '.join(names[:20])}{' ...' if len(names) > 20 else ''})")

    @staticmethod
    def _describe(rows: list[Any]) -> str:
        shown = rows[-_MAX_VERSIONS_NAMED:]
        text = ", ".join(f"v{r.version} ({Stage(r.stage).value})" for r in shown)
        return (f"... {text}" if len(rows) > len(shown) else text) or "none"

    def _find(self, conn: Connection, name: str, version: int | None) -> Any:
        rows = self._require_rows(conn, name)
        if version is None:
            return rows[-1]
        for row in rows:
            if row.version == version:
                return row
        raise RegistryError(f"model {name!r} has no version {version}; its versions are "
                            f"{self._describe(rows)}")

    def _production_row(self, conn: Connection, name: str) -> Any | None:
        rows = [r for r in self._require_rows(conn, name) if Stage(r.stage) == Stage.PRODUCTION]
        return rows[-1] if rows else None

    def _set_production(
        self, conn: Connection, name: str, version: int, previous: int | None, action: str
    ) -> None:
        """Archive the current production version(s), make ``version`` production, log it."""
        conn.execute(
            _versions.update()
            .where(_versions.c.name == name, _versions.c.stage == Stage.PRODUCTION,
                   _versions.c.version != version)
            .values(stage=Stage.ARCHIVED))
        conn.execute(_versions.update()
                     .where(_versions.c.name == name, _versions.c.version == version)
                     .values(stage=Stage.PRODUCTION))
        conn.execute(_events.insert().values(
            name=name, action=action, version=version, previous_version=previous,
            created_at=datetime.now(timezone.utc)))

    @staticmethod
    def _check_path_exists(row: Any) -> None:
        if not Path(row.path).exists():
            raise RegistryError(
                f"model {row.name!r} v{row.version} points to {row.path}, which no longer exists; "
                "restore the directory or register the model again")

    # ------------------------------------------------------------------ public API
    def register(
        self,
        name: str,
        path: str | Path,
        *,
        config: Mapping[str, Any] | Any,
        metrics: Mapping[str, Any] | None,
        data_fingerprint: str,
        parent_version: int | None = None,
        stage: Stage | str = Stage.CANDIDATE,
        version: int | None = None,
    ) -> ModelVersion:
        """Record a saved model directory as the next version of ``name``.

        Args:
            name: the model's name (letters, digits, ``. _ / -``), e.g. ``"intents"``.
            path: the model directory (it must exist; stored as an absolute path).
            config: the training configuration (a dict or anything with ``to_dict()``, such
                as a :class:`~domaintune.TrainingConfig`); stored as JSON.
            metrics: evaluation metrics (a dict; numpy values are converted); stored as JSON.
            data_fingerprint: :func:`fingerprint_dataset` of the training data.
            parent_version: the version of ``name`` this one was derived from (must exist).
            stage: ``candidate`` (default), ``production`` (promotes it at once, archiving the
                current production version) or ``archived``.
            version: an explicit version number (e.g. when importing history); by default
                the next free number. An explicit number that exists already is an error.

        Returns:
            The new :class:`ModelVersion`.

        Raises:
            RegistryError: the path does not exist, the version exists already, the parent
                version does not exist, or an argument is invalid.

        Example:
            >>> registry.register("intents", "models/intents", config=cfg, metrics=clf.metrics,
            ...                   data_fingerprint=fingerprint_dataset(train))  # doctest: +SKIP
            ModelVersion(name='intents', version=1, ...)
        """
        name = _check_name(name)
        model_path = Path(path).expanduser()
        if not model_path.exists():
            raise RegistryError(f"cannot register {name!r}: the model path {model_path} does not "
                                "exist; save the model first (clf.save(path)) and pass its directory")
        model_path = model_path.resolve()
        stage = _check_stage(stage)
        if not isinstance(data_fingerprint, str) or not data_fingerprint.strip():
            raise RegistryError(f"expected data_fingerprint to be a non-empty string, found "
                                f"{data_fingerprint!r}; pass fingerprint_dataset(train_data)")
        if parent_version is not None:
            parent_version = _check_version(parent_version, "parent_version")
        if version is not None:
            version = _check_version(version)
        config_json = _to_json(config, "config")
        metrics_json = _to_json(metrics, "metrics")

        def insert(conn: Connection) -> ModelVersion:
            rows = self._rows(conn, name)
            existing = {r.version: r for r in rows}
            if parent_version is not None and parent_version not in existing:
                found = (f"its versions are {self._describe(rows)}" if rows
                         else "no version of it is registered yet")
                raise RegistryError(
                    f"cannot register {name!r} with parent_version={parent_version}: there is no "
                    f"such version ({found}); pass an existing version or parent_version=None")
            new = version if version is not None else max(existing, default=0) + 1
            if new in existing:
                raise RegistryError(
                    f"model {name!r} v{new} exists already (registered "
                    f"{_utc(existing[new].created_at):%Y-%m-%d %H:%M} UTC from "
                    f"{existing[new].path}); omit version= to get the next number "
                    f"(v{max(existing) + 1})")
            current = next((r for r in rows if Stage(r.stage) == Stage.PRODUCTION), None)
            conn.execute(_versions.insert().values(
                name=name, version=new, parent_version=parent_version,
                data_fingerprint=data_fingerprint.strip(), config=config_json,
                metrics=metrics_json, path=str(model_path),
                created_at=datetime.now(timezone.utc),
                stage=Stage.CANDIDATE if stage == Stage.PRODUCTION else stage))
            if stage == Stage.PRODUCTION:
                self._set_production(conn, name, new, current.version if current else None,
                                     "promote")
            return _row_to_version(self._find(conn, name, new))

        try:
            result = self._run(insert, write=True, retry_clash=version is None)
        except IntegrityError:
            raise RegistryError(f"model {name!r} v{version} exists already (registered "
                                "concurrently); omit version= to get the next number") from None
        logger.info("registered %s from %s in the model registry %s", result, result.path,
                    self.location)
        return result

    def list(self, name: str | None = None) -> list[ModelVersion]:
        """All versions, ordered by name then version; only those of ``name`` when given.

        Args:
            name: a model name, or None for every model.

        Raises:
            RegistryError: ``name`` is given but unknown.

        Example:
            >>> [str(v) for v in registry.list("intents")]  # doctest: +SKIP
            ['intents v1 (archived)', 'intents v2 (production)']
        """
        if name is None:
            return [_row_to_version(r) for r in self._run(self._rows)]
        name = _check_name(name)
        return [_row_to_version(r) for r in self._run(lambda conn: self._require_rows(conn, name))]

    def names(self) -> list[str]:
        """Names of all registered models, sorted."""
        return sorted({v.name for v in self.list()})

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """One version of ``name``: the latest (highest number) when ``version`` is None.

        Raises:
            RegistryError: unknown name (the closest known name is suggested) or version
                (the existing versions are listed).

        Example:
            >>> registry.get("intents", 2).metrics["macro_f1"]  # doctest: +SKIP
            0.91
        """
        name = _check_name(name)
        if version is not None:
            version = _check_version(version)
        return _row_to_version(self._run(lambda conn: self._find(conn, name, version)))

    def production(self, name: str) -> ModelVersion:
        """The production version of ``name``.

        Raises:
            RegistryError: unknown name, or no version is in production (the message lists
                the versions and how to promote one).

        Example:
            >>> registry.production("intents").version  # doctest: +SKIP
            2
        """
        name = _check_name(name)

        def find(conn: Connection) -> Any:
            row = self._production_row(conn, name)
            if row is None:
                rows = self._rows(conn, name)
                raise RegistryError(
                    f"model {name!r} has no production version; its versions are "
                    f"{self._describe(rows)}; promote one with registry.promote({name!r}, "
                    f"{rows[-1].version}) or `domaintune models promote {name} {rows[-1].version}`")
            return row

        return _row_to_version(self._run(find))

    def promote(self, name: str, version: int) -> ModelVersion:
        """Make ``version`` the production version of ``name``; the previous one is archived.

        Both changes and the ``promote`` event happen in one transaction. Promoting the version
        that is already in production changes nothing.

        Raises:
            RegistryError: unknown name or version, or the version's directory is gone.

        Example:
            >>> registry.promote("intents", 3)  # doctest: +SKIP
            ModelVersion(name='intents', version=3, ..., stage=<Stage.PRODUCTION: 'production'>, ...)
        """
        name = _check_name(name)
        version = _check_version(version)

        def change(conn: Connection) -> ModelVersion:
            row = self._find(conn, name, version)
            current = self._production_row(conn, name)
            if current is not None and current.version == version:
                return _row_to_version(row)
            self._check_path_exists(row)
            self._set_production(conn, name, version, current.version if current else None,
                                 "promote")
            return _row_to_version(self._find(conn, name, version))

        result = self._run(change, write=True)
        logger.info("promoted %s", result)
        return result

    def rollback(self, name: str) -> ModelVersion:
        """Undo the latest production change of ``name``: re-promote the previous production.

        Production history is a stack: each promotion pushes a version, each rollback pops the
        current one, and the version below becomes production again (the version rolled back
        from is archived). After promoting v1, v2, v3, one rollback gives v2 and a second v1.

        Returns:
            The version now in production.

        Raises:
            RegistryError: unknown name, no production version, or no earlier production
                version to return to.

        Example:
            >>> registry.rollback("intents").version  # doctest: +SKIP
            2
        """
        name = _check_name(name)

        def change(conn: Connection) -> ModelVersion:
            current = self._production_row(conn, name)
            if current is None:
                raise RegistryError(
                    f"cannot roll back {name!r}: it has no production version; its versions are "
                    f"{self._describe(self._rows(conn, name))}")
            stack = self._production_stack(conn, name)
            if not stack or stack[-1] != current.version:
                stack.append(current.version)
            if len(stack) < 2:
                raise RegistryError(
                    f"cannot roll back {name!r}: v{current.version} is the oldest version in its "
                    f"production history, there is no earlier one to return to; promote another "
                    f"version with registry.promote({name!r}, VERSION)")
            target = self._find(conn, name, stack[-2])
            self._check_path_exists(target)
            self._set_production(conn, name, target.version, current.version, "rollback")
            return _row_to_version(self._find(conn, name, target.version))

        result = self._run(change, write=True)
        logger.info("rolled back %s to v%d", name, result.version)
        return result

    @staticmethod
    def _production_stack(conn: Connection, name: str) -> list[int]:
        stack: list[int] = []
        query = sa.select(_events).where(_events.c.name == name).order_by(_events.c.id)
        for ev in conn.execute(query):
            if ev.action == "rollback":
                if stack:
                    stack.pop()
                if not stack or stack[-1] != ev.version:  # defensive: keep the stack truthful
                    stack.append(ev.version)
            else:
                stack.append(ev.version)
        return stack

    def history(self, name: str) -> list[dict[str, Any]]:
        """Production changes of ``name``, oldest first: action, version, previous_version, time.

        Example:
            >>> registry.history("intents")[-1]["action"]  # doctest: +SKIP
            'rollback'
        """
        name = _check_name(name)

        def fetch(conn: Connection) -> list[dict[str, Any]]:
            self._require_rows(conn, name)
            query = sa.select(_events).where(_events.c.name == name).order_by(_events.c.id)
            return [{"action": e.action, "version": e.version,
                     "previous_version": e.previous_version,
                     "created_at": _utc(e.created_at).isoformat()} for e in conn.execute(query)]

        return self._run(fetch)

    def find_path(self, path: str | Path) -> ModelVersion | None:
        """The registered version whose directory is ``path`` (None if it is not registered)."""
        target = Path(path).resolve()
        return next((v for v in self.list() if Path(v.path).resolve() == target), None)

    def load_production(self, name: str) -> Path:
        """Directory of the production version of ``name``, for ``TextClassifier.load``.

        Raises:
            RegistryError: no production version, or its directory no longer exists.

        Example:
            >>> clf = TextClassifier.load(registry.load_production("intents"))  # doctest: +SKIP
        """
        version = self.production(name)
        path = Path(version.path)
        if not path.exists():
            raise RegistryError(
                f"the production version {version} points to {path}, which no longer exists; "
                f"restore it, or promote another version / `domaintune models rollback {name}`")
        return path


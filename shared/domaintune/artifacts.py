"""Model directories: one artifact layer for every model type the core saves.

A saved model (text classifier, NER tagger, bi-encoder, cross-encoder), an ONNX export and a
FAISS index are each one directory with a JSON record (``domaintune.json``, ``onnx.json`` or
``index.json``). This module is the only code that writes and checks those directories:

- **safe targets**: a save never replaces a non-empty directory unless ``overwrite=True``, and
  even then only a directory that this library wrote and that holds nothing else
  (:func:`check_target`);
- **atomic writes**: files go to a temporary sibling directory that is renamed into place only
  when everything is written (:func:`write_artifact`), with the user's normal permissions;
- **integrity**: the record lists every file and the SHA-256 of every weight, head and index
  file; :func:`read_artifact` checks them on load, so a damaged or edited weight file is one
  clear :class:`~domaintune.errors.ModelLoadError` instead of wrong predictions;
- **records**: format version, library versions, task; :func:`read_json_file` and
  :func:`restore_config` read the files saved beside the weights (unknown config keys written
  by a newer version are warnings, not errors).

Example:
    >>> with write_artifact("models/x", task="text-classification") as art:  # doctest: +SKIP
    ...     (art.dir / "head.safetensors").write_bytes(...)
    ...     art.meta["labels"] = ["a", "b"]
    >>> meta = read_artifact("models/x", task="text-classification", loader="TextClassifier")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ArtifactExistsError, ModelLoadError
from .persistence import apply_umask, file_mode, write_json_atomic

logger = logging.getLogger(__name__)

META_FILE = "domaintune.json"  # a saved model's record
FORMAT_VERSION = 2  # 2: the record lists the directory's files and the SHA-256 of the weights
#: records that mark a directory as written by domaintune (models, ONNX exports, FAISS
#: indexes, support bots, recommenders)
MARKER_FILES = (META_FILE, "onnx.json", "index.json", "bot.json", "recommender.json")
#: files whose SHA-256 is recorded and checked: weights, heads, indexes, ONNX graphs
HASHED_SUFFIXES = (".safetensors", ".onnx", ".faiss", ".data", ".bin", ".npy", ".npz", ".parquet")
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _relative_files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def _describe_entries(directory: Path, limit: int = 5) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return f"{len(names)} entr{'y' if len(names) == 1 else 'ies'}: {shown}"


def marker_of(directory: str | Path) -> Path | None:
    """The domaintune record file of ``directory`` (None when it has none)."""
    directory = Path(directory)
    return next((directory / m for m in MARKER_FILES if (directory / m).is_file()), None)


def foreign_files(directory: str | Path) -> list[str] | None:
    """Files in ``directory`` that its domaintune record does not list.

    Returns None when the directory has no record (it is not ours at all), and ``[]`` when it is
    ours and holds nothing else. A record written before file lists existed (format 1) lists
    nothing, so every other file counts as foreign.
    """
    directory = Path(directory)
    marker = marker_of(directory)
    if marker is None:
        return None
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # an unreadable record proves nothing: treat the directory as foreign
    listed = record.get("contents") if isinstance(record, dict) else None
    if not isinstance(listed, list):  # an older record without a file list: nothing is known
        return [name for name in _relative_files(directory) if name != marker.name]
    own = set(listed) | {marker.name}
    # files the artifact itself makes while in use (a bot's conversation log ...): exact names
    own |= {p for p in record.get("runtime_files", []) if isinstance(p, str)}
    return [name for name in _relative_files(directory) if name not in own]


def _has_file_list(marker: Path) -> bool:
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and isinstance(record.get("contents"), list)


def check_target(path: str | Path, *, overwrite: bool = False, what: str = "model",
                 meta_file: str = META_FILE) -> Path:
    """Check that a save may write ``path``; returns it as a ``Path``.

    A missing or empty directory is fine. A non-empty one is refused unless ``overwrite`` is
    true, and even then only when it is a directory of the same kind (same record file
    ``meta_file``) that domaintune wrote and that holds no other files (a folder of the user's
    files is never replaced, nor a model by an export).

    Raises:
        ArtifactExistsError: with what is there and how to proceed.
    """
    path = Path(path)
    if not path.exists():
        return path
    if not path.is_dir():
        raise ArtifactExistsError(f"cannot save the {what} to {path}: it is a file, not a "
                                  "directory; choose a directory path")
    if not any(path.iterdir()):
        return path
    extra = foreign_files(path)
    if extra is None:
        raise ArtifactExistsError(
            f"cannot save the {what} to {path}: the directory is not empty ("
            f"{_describe_entries(path)}) and is not a domaintune directory; saving would delete "
            "those files, so domaintune never replaces it, even with overwrite: choose a new or "
            "empty directory")
    marker = marker_of(path)
    if marker is not None and marker.name != meta_file:
        kinds = {META_FILE: "model", "onnx.json": "ONNX export", "index.json": "FAISS index",
                 "bot.json": "support bot", "recommender.json": "recommender"}
        raise ArtifactExistsError(
            f"cannot save the {what} to {path}: it holds a domaintune {kinds.get(marker.name, '?')} "
            f"({marker.name}), so it is not {'an' if what[0] in 'AEIOUaeiou' else 'a'} {what}; "
            "domaintune never replaces one with the other, even with overwrite: choose a new or "
            "empty directory")
    if extra and not _has_file_list(marker):
        raise ArtifactExistsError(
            f"cannot save the {what} to {path}: it holds a {marker.name} written by an older "
            "domaintune that recorded no file list, so its files cannot be told from yours; "
            "domaintune never replaces it, even with overwrite: choose a new directory (or "
            "delete that one yourself)")
    if extra:
        shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
        raise ArtifactExistsError(
            f"cannot save the {what} to {path}: it holds a domaintune directory plus "
            f"{len(extra)} other file{'s' if len(extra) > 1 else ''} ({shown}) that replacing it "
            "would delete; move them out first, or choose a new directory")
    if not overwrite:
        raise ArtifactExistsError(
            f"cannot save the {what} to {path}: it already holds a domaintune directory "
            f"({marker_of(path).name}, {_describe_entries(path)}); choose a new directory, or "
            "replace it with overwrite=True (command line: --overwrite)")
    return path


@dataclass
class ArtifactWriter:
    """The directory being written (``dir``, a temporary sibling of the target) and its record
    (``meta``: fields to add to the record file)."""

    dir: Path
    meta: dict[str, Any] = field(default_factory=dict)


def inventory(directory: Path, exclude: Iterable[str] = ()) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """All files under ``directory`` (relative POSIX paths) and, for weights/heads/indexes,
    their size and SHA-256."""
    skip = set(exclude)
    contents = [name for name in _relative_files(directory) if name not in skip]
    hashed = {
        name: {"sha256": sha256_file(directory / name), "bytes": (directory / name).stat().st_size}
        for name in contents if name.endswith(HASHED_SUFFIXES)
    }
    return contents, hashed


@contextmanager
def write_artifact(path: str | Path, *, task: str | None, overwrite: bool = False,
                   meta_file: str = META_FILE, what: str = "model",
                   checked: bool = True) -> Iterator[ArtifactWriter]:
    """Write a domaintune directory atomically; yields an :class:`ArtifactWriter`.

    Write files into ``writer.dir`` and fields into ``writer.meta``; when the block succeeds the
    record (``meta_file``: format version, versions, task, ``contents`` and the SHA-256 of the
    weight files, then ``writer.meta``) is written and the directory renamed into place. On an
    error nothing is left behind and an existing target is untouched.

    Args:
        path: the target directory (see :func:`check_target` for what may be replaced).
        task: the record's ``task`` (None for records without one, e.g. an index).
        overwrite: replace an earlier domaintune directory at ``path``.
        meta_file: the record's file name.
        what: the kind of thing saved, for error messages.
        checked: check the target (False only for a caller that already did).
    """
    target = Path(path)
    if checked:
        check_target(target, overwrite=overwrite, what=what, meta_file=meta_file)
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    writer = ArtifactWriter(tmp)
    try:
        yield writer
        contents, hashed = inventory(tmp, exclude=(meta_file,))
        record: dict[str, Any] = {"format_version": FORMAT_VERSION, "domaintune_version": __version__}
        if task is not None:
            record["task"] = task
        record.update(writer.meta)
        record["contents"] = contents
        record["files"] = hashed
        write_json_atomic(tmp / meta_file, record)
        apply_umask(tmp)
        if checked:  # the target may have changed while we wrote: check again
            check_target(target, overwrite=overwrite, what=what, meta_file=meta_file)
        _replace_directory(tmp, target.resolve())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_directory(tmp: Path, target: Path) -> None:
    if target.exists() and any(target.iterdir()):
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(old, target)  # put the earlier directory back under its name
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)


def attach_file(directory: str | Path, name: str, write: Callable[[Path], Any],
                meta_file: str = META_FILE) -> Path:
    """Add a companion file (a report, a plot) to a saved directory and list it in its record.

    ``write(path)`` writes the file to a temporary path, which is then renamed into place and
    added to the record's ``contents`` (and hashes, for weight files), so the directory stays
    "ours only" for later overwrite checks and integrity checks.
    """
    directory = Path(directory)
    record_file = directory / meta_file
    record = read_record(directory, meta_file, "domaintune")
    target = directory / name
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    listed = record.get("contents")
    if not isinstance(listed, list):  # an older record: list what is there now
        listed = inventory(directory, exclude=(meta_file, name))[0]
    contents = set(listed) | {Path(name).as_posix()}
    record["contents"] = sorted(contents)
    if name.endswith(HASHED_SUFFIXES):
        record.setdefault("files", {})[name] = {"sha256": sha256_file(target),
                                                "bytes": target.stat().st_size}
    write_json_atomic(record_file, record)
    return target


def _corrupted(file: Path, detail: str, fix: str = "re-save or retrain the model") -> ModelLoadError:
    return ModelLoadError(f"{file} is corrupted ({detail}); {fix}")


def read_record(path: Path, meta_file: str, loader: str, what: str = "",
                fix: str = "re-save or retrain the model") -> dict[str, Any]:
    """The JSON object in ``path / meta_file`` or one ModelLoadError naming the file."""
    if not path.is_dir():
        raise ModelLoadError(f"model directory {path} does not exist; pass a directory written by "
                             f"{loader}")
    file = path / meta_file
    if not file.is_file():
        raise ModelLoadError(f"{path} is not a domaintune {what + ' ' if what else ''}"
                             f"{'model' if meta_file == META_FILE else 'directory'}: {meta_file} is "
                             f"missing; pass a directory written by {loader}")
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _corrupted(file, f"{type(exc).__name__}: {exc}", fix) from None
    if not isinstance(record, dict):
        raise _corrupted(file, f"expected a JSON object, found {type(record).__name__}", fix)
    version = record.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise _corrupted(file, f"format_version is {version!r}, expected an integer", fix)
    if version > FORMAT_VERSION:
        raise ModelLoadError(f"{path} was written by a newer domaintune (format {version}, "
                             f"domaintune {record.get('domaintune_version', '?')}); this is "
                             f"domaintune {__version__} (format {FORMAT_VERSION}): upgrade "
                             "domaintune to load it")
    return record


def verify_files(path: Path, record: dict[str, Any], meta_file: str = META_FILE,
                 fix: str = "re-save or retrain the model") -> None:
    """Check every file the record lists a SHA-256 for (missing, resized or changed bytes)."""
    hashed = record.get("files") or {}
    if not isinstance(hashed, dict):
        raise _corrupted(path / meta_file, "'files' is not a mapping", fix)
    missing = [name for name in hashed if not (path / name).is_file()]
    if missing:
        raise ModelLoadError(f"{path} is incomplete: missing {missing} (listed in {meta_file}); "
                             f"restore them from a backup, or {fix}")
    for name, entry in hashed.items():
        file = path / name
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("bytes") if isinstance(entry, dict) else None
        if size is not None and file.stat().st_size != size:
            raise ModelLoadError(f"{file} is corrupted: {file.stat().st_size} bytes, {size} at "
                                 f"save time (recorded in {meta_file}); restore it from a backup, "
                                 f"or {fix}")
        if expected and sha256_file(file) != expected:
            raise ModelLoadError(f"{file} is corrupted: its SHA-256 differs from the one recorded "
                                 f"in {meta_file} at save time (the file was changed or damaged); "
                                 f"restore it from a backup, or {fix}")


def read_artifact(path: str | Path, *, task: str | Sequence[str] | None, loader: str,
                  required: Sequence[str] = (), meta_file: str = META_FILE,
                  default_task: str | None = None,
                  fix: str = "re-save or retrain the model") -> dict[str, Any]:
    """Check a directory written by :func:`write_artifact` and return its record.

    Checks: the directory and record exist and parse, the format is not newer than this
    library, the task is ``task`` (one of them, when a sequence), the ``required`` files exist
    and every recorded SHA-256 matches.

    Args:
        loader: who writes such directories, for messages (``"TextClassifier.save"``).
        default_task: the task of records written before they named one.

    Raises:
        ModelLoadError: naming the file and what to do.
    """
    path = Path(path)
    wanted = [task] if isinstance(task, str) else list(task or [])
    record = read_record(path, meta_file, loader, what=" or ".join(wanted), fix=fix)
    found = record.get("task", default_task)
    if wanted and found not in wanted:
        hint = f"; load it with {LOADERS[found][1]}.load or domaintune.load" if found in LOADERS else ""
        raise ModelLoadError(f"{path} holds a {found!r} model, expected a "
                             f"{' or '.join(map(repr, wanted))} model{hint}")
    require_files(path, required, fix)
    verify_files(path, record, meta_file, fix)
    return record


def require_files(path: Path, names: Sequence[str],
                  fix: str = "re-save or retrain the model (only safetensors weights are read)") -> None:
    """One ModelLoadError listing the ``names`` missing from ``path``."""
    missing = [name for name in names if not (path / name).is_file()]
    if missing:
        raise ModelLoadError(f"{path} is incomplete: missing {missing}; {fix}")


def read_json_file(file: Path, default: Any = None, *, fix: str = "re-save or retrain the model") -> Any:
    """The content of a JSON file saved beside a model; ``default`` when it is absent, one
    ModelLoadError naming the file when it is unreadable."""
    if not file.is_file():
        return default
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _corrupted(file, f"{type(exc).__name__}: {exc}", fix) from None


def restore_config(config_cls: Any, file: Path) -> Any:
    """The config saved in ``file`` (None when absent).

    Keys this version does not know (written by a newer domaintune) are dropped with a warning
    naming them, so models load across versions; a known key with a bad value is a
    ModelLoadError naming the file.
    """
    from .errors import ConfigError

    data = read_json_file(file)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _corrupted(file, f"expected a JSON object, found {type(data).__name__}")
    try:  # keys a newer version wrote are dropped with a warning naming them
        return config_cls.from_dict(data, unknown="warn")
    except ConfigError as exc:
        raise _corrupted(file, str(exc)) from None


def restore_metrics(model: Any, file: Path) -> None:
    """Set ``model.history`` and ``model.metrics`` from a saved ``metrics.json``."""
    saved = read_json_file(file, {})
    if not isinstance(saved, dict):
        raise _corrupted(file, f"expected a JSON object, found {type(saved).__name__}")
    model.history = saved.pop("history", [])
    model.metrics = saved


def check_labels(labels: Any, file: Path, *, key: str = "labels", n_outputs: int | None = None,
                 stored: Sequence[str] | None = None, stored_in: str = "") -> list[str]:
    """Validate a saved label list: non-empty unique strings, as many as the head's outputs and
    identical to the list stored with the weights."""
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise _corrupted(file, f"{key!r} must be a non-empty list of strings, found {labels!r}")
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise _corrupted(file, f"{key!r} lists {dupes} more than once")
    if n_outputs is not None and n_outputs != len(labels):
        raise ModelLoadError(f"{file} lists {len(labels)} {key} but the weights have {n_outputs} "
                             "outputs; the files do not belong together: re-save or retrain the model")
    if stored is not None and list(stored) != labels:
        raise ModelLoadError(f"{file}: {key!r} differ from those stored with the weights in "
                             f"{stored_in} ({list(stored)[:5]}... vs {labels[:5]}...); the record "
                             "was edited or mixed up: restore it, or re-save or retrain the model")
    return labels


def check_positive(value: Any, file: Path, key: str) -> float:
    """A finite number > 0 read from a record (e.g. the softmax temperature)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise _corrupted(file, f"{key!r} must be a finite number > 0, found {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------
# domaintune.load: the saved task picks the class (as PEFT maps a task to its model class)

#: task (or export kind) -> (module, class name) of its loader
LOADERS: dict[str, tuple[str, str]] = {
    "text-classification": ("domaintune.classifier", "TextClassifier"),
    "token-classification": ("domaintune.ner.model", "TokenClassifier"),
    "bi-encoder": ("domaintune.pairs.biencoder", "BiEncoder"),
    "cross-encoder": ("domaintune.pairs.crossencoder", "CrossEncoderModel"),
}
#: ONNX export kind (``onnx.json``) -> (module, class name)
EXPORT_LOADERS: dict[str, tuple[str, str]] = {
    "text-classifier": ("domaintune.export", "OnnxTextClassifier"),
    "bi-encoder": ("domaintune.export", "OnnxBiEncoder"),
    "token-classifier": ("domaintune.export", "OnnxNerModel"),
    "cross-encoder": ("domaintune.export", "OnnxCrossEncoder"),
}


def saved_task(path: str | Path) -> str:
    """What a directory holds: a task name (``text-classification`` ...), ``onnx:<kind>`` for
    an ONNX export, or ``faiss-index``.

    Raises:
        ModelLoadError: the directory holds no domaintune record.
    """
    path = Path(path)
    if (path / META_FILE).is_file():
        return str(read_record(path, META_FILE, "domaintune").get("task", "text-classification"))
    if (path / "onnx.json").is_file():
        return f"onnx:{read_record(path, 'onnx.json', 'domaintune export').get('kind')}"
    if (path / "index.json").is_file():
        return "faiss-index"
    if not path.exists():
        raise ModelLoadError(f"{path} does not exist; pass a model directory or a registered "
                             "model name")
    raise ModelLoadError(f"{path} is not a domaintune model: it has no {META_FILE}, onnx.json or "
                         "index.json; pass a directory written by a domaintune save or export")


def _import(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


def load(path_or_name: str | Path, *, device: str = "auto", registry: str | None = None) -> Any:
    """Load any saved domaintune model; the saved task picks the class.

    ``path_or_name`` is a directory (a text classifier, NER tagger, bi-encoder, cross-encoder,
    ONNX export or FAISS index) or the name of a registered model (its production version;
    ``name@3`` for version 3), looked up in ``registry`` (default: ``DOMAINTUNE_REGISTRY`` or
    ``models/registry.db``).

    Example:
        >>> import domaintune
        >>> clf = domaintune.load("models/tickets")  # doctest: +SKIP
        >>> clf.predict("where is my refund?")  # doctest: +SKIP
    """
    path = Path(path_or_name)
    if not path.exists() and isinstance(path_or_name, str):
        path = _registered_path(path_or_name, registry)
    task = saved_task(path)
    if task.startswith("onnx:"):
        kind = task[5:]
        if kind not in EXPORT_LOADERS:
            raise ModelLoadError(f"{path} holds an ONNX export of a {kind!r}, which this "
                                 f"domaintune cannot serve (known: {sorted(EXPORT_LOADERS)})")
        return _import(*EXPORT_LOADERS[kind]).load(path)
    if task == "faiss-index":
        return _import("domaintune.pairs.retrieval", "FaissIndex").load(path)
    if task not in LOADERS:
        raise ModelLoadError(f"{path / META_FILE} names the task {task!r}, which this domaintune "
                             f"({__version__}) cannot load (known: {sorted(LOADERS)}); upgrade "
                             "domaintune, or check the file")
    return _import(*LOADERS[task]).load(path, device=device)


def _registered_path(name: str, registry: str | None) -> Path:
    from .registry import DEFAULT_REGISTRY_URL, ModelRegistry, RegistryError

    base, _, version = name.partition("@")
    url = registry or os.environ.get("DOMAINTUNE_REGISTRY", DEFAULT_REGISTRY_URL)
    try:
        with ModelRegistry(url) as reg:
            if version:
                if not version.isdigit():
                    raise RegistryError(f"{name!r}: expected NAME@VERSION with an integer version")
                found = reg.get(base, int(version))
                return Path(found.path)
            return reg.load_production(base)
    except RegistryError as exc:
        raise ModelLoadError(f"{name!r} is neither a directory nor a loadable registered model: "
                             f"{exc}") from None

"""Atomic writes: a file or directory appears whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``target`` only if the block succeeds.

    Example:
        >>> with atomic_directory("/tmp/model") as tmp:  # doctest: +SKIP
        ...     (tmp / "weights.safetensors").write_bytes(b"...")
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        apply_umask(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _umask() -> int:
    # read once: Linux reports it in /proc; elsewhere os.umask can only be read by setting it
    global _UMASK
    if _UMASK is None:
        try:
            status = Path("/proc/self/status").read_text()
            _UMASK = int(next(line.split()[1] for line in status.splitlines()
                              if line.startswith("Umask:")), 8)
        except (OSError, StopIteration, ValueError, IndexError):
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0o666 less the umask."""
    return 0o666 & ~_umask()


def apply_umask(directory: str | Path) -> None:
    """Give a directory tree the user's normal permissions (0o777/0o666 less the umask).

    Files made through ``tempfile`` are created 0o600, which a server running as another user
    cannot read; saved models are meant to be shared like any file the user writes.
    """
    directory = Path(directory)
    dir_mode = 0o777 & ~_umask()
    os.chmod(directory, dir_mode)
    for path in directory.rglob("*"):
        if not path.is_symlink():
            os.chmod(path, dir_mode if path.is_dir() else file_mode())


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same directory (the file gets
    the user's normal permissions, not tempfile's 0o600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")

"""Exceptions raised by domaintune.

Every message says what was expected, what was found and how to fix it.
"""

from __future__ import annotations

import difflib


class DomaintuneError(Exception):
    """Base class for all errors raised on purpose by domaintune."""


class DataError(DomaintuneError, ValueError):
    """Input data is missing, malformed or inconsistent (names the file, row and field)."""


class ConfigError(DomaintuneError, ValueError):
    """A configuration key or value is unknown or has the wrong type."""


class ModelLoadError(DomaintuneError, OSError):
    """A model could not be resolved or a saved model directory is corrupted/incomplete."""


class ArtifactExistsError(DomaintuneError, FileExistsError):
    """A save would replace a directory it must not replace (or not without ``overwrite``)."""


class NotFittedError(DomaintuneError, RuntimeError):
    """A model or component was used before ``fit``."""


def closest(name: str, options: list[str] | tuple[str, ...]) -> str:
    """Return a ``"; did you mean 'x'?"`` hint for the option closest to ``name`` (or '')."""
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""

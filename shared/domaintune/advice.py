"""Advice in error messages that works in the interface the user is in.

Library code says how to fix a problem in terms of its Python arguments (``text='body'``).
A command line sets, for the duration of one command, how those arguments are spelled there
(``--text-column body`` in ``domaintune evaluate``, ``--set text_column=body`` in
``domaintune train``, ``--intent-column`` in ``support-bot``), so every suggestion an error
makes is something that works in that command. An argument a command has no way to set is
left out of the advice instead of being suggested wrongly.

Example:
    >>> advise("encoding", "latin-1")
    "encoding='latin-1'"
    >>> with spelled_as({"encoding": "--encoding {}"}):
    ...     advise("encoding", "latin-1")
    '`--encoding latin-1`'
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# argument name -> how to pass it here: a template with {} for the value, or None when this
# interface cannot set it. Unset (the default): Python keyword arguments.
_SPELLING: contextvars.ContextVar[Mapping[str, str | None] | None] = contextvars.ContextVar(
    "domaintune_spelling", default=None)


@contextmanager
def spelled_as(spelling: Mapping[str, str | None]) -> Iterator[None]:
    """Spell the arguments in ``spelling`` this way in advice given inside the block."""
    token = _SPELLING.set(dict(spelling))
    try:
        yield
    finally:
        _SPELLING.reset(token)


def can_advise(name: str) -> bool:
    """Whether the current interface can set the argument ``name``."""
    spelling = _SPELLING.get()
    return spelling is None or name not in spelling or spelling[name] is not None


def advise(name: str, value: object) -> str:
    """How to pass ``name=value`` in the current interface (``""`` when it cannot)."""
    spelling = _SPELLING.get()
    if spelling is None or name not in spelling:
        return f"{name}={value!r}"
    template = spelling[name]
    if template is None:
        return ""
    return f"`{template.format(value)}`"

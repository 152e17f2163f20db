"""How the support bot's error messages spell their advice: config keys in Python
(``intent.label_column='label'``), the ``support-bot`` command's own flags on the command line
(``--intent-column label``).

The core's data errors suggest arguments by name (``text``, ``label``, ``encoding``, ``stratify``;
see :mod:`domaintune.advice`). Each file the bot reads plays a *role* (the intents, the OOS
examples, the FAQ ...), and a role says how to set each of those arguments for that file.
:func:`reading` spells them for the block that reads the file; the CLI wraps each command in
:func:`command_line` so that the flags of that command are used. An argument that cannot be set
for a file (``stratify`` anywhere in the bot) is left out of the advice.

Example:
    >>> from domaintune.advice import advise
    >>> with reading("intents"):
    ...     advise("label", "label")
    "`intent.label_column='label'`"
    >>> with command_line("train"), reading("intents"):
    ...     advise("label", "label")
    '`--intent-column label`'
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from domaintune.advice import spelled_as

# role -> argument -> (config key or None, {command: flag})
_ROLES: dict[str, dict[str, tuple[str | None, dict[str, str]]]] = {
    "intents": {
        "text": ("intent.text_column", {"train": "--text-column"}),
        "label": ("intent.label_column", {"train": "--intent-column"}),
        "encoding": ("intent.encoding", {"train": "--intents-encoding"}),
    },
    "oos": {
        "text": ("oos.text_column", {"train": "--oos-text-column"}),
        "label": ("oos.topic_column", {"train": "--oos-topic-column"}),
        "encoding": ("oos.encoding", {"train": "--oos-encoding"}),
    },
    "faq": {
        "id": ("faq.id_column", {"train": "--faq-id-column"}),
        "question": ("faq.question_column", {"train": "--faq-question-column"}),
        "answer": ("faq.answer_column", {"train": "--faq-answer-column"}),
        "intent": ("faq.intent_column", {"train": "--faq-intent-column"}),
        "tags": ("faq.tags_column", {"train": "--faq-tags-column"}),
        "encoding": ("faq.encoding", {"train": "--faq-encoding"}),
    },
    "test_data": {  # support-bot evaluate --data (Python: evaluate() takes a TextDataset)
        "text": (None, {"evaluate": "--text-column"}),
        "label": (None, {"evaluate": "--intent-column"}),
        "encoding": (None, {"evaluate": "--encoding"}),
    },
    "test_oos": {
        "text": (None, {"evaluate": "--oos-text-column"}),
        "encoding": (None, {"evaluate": "--encoding"}),
    },
    "faq_queries": {
        "text": (None, {"evaluate": "--query-column"}),
        "label": (None, {"evaluate": "--faq-id-column"}),
        "encoding": (None, {"evaluate": "--encoding"}),
    },
}
_ARGUMENTS = ("text", "label", "encoding", "stratify")

_COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("support_bot_command",
                                                                      default=None)


@contextmanager
def command_line(command: str) -> Iterator[None]:
    """Advice given inside the block names the flags of ``support-bot COMMAND``."""
    token = _COMMAND.set(command)
    try:
        yield
    finally:
        _COMMAND.reset(token)


def spelling(role: str) -> dict[str, str | None]:
    """How to set each argument of a file of ``role`` here (``None``: it cannot be set)."""
    command = _COMMAND.get()
    out: dict[str, str | None] = {name: None for name in _ARGUMENTS}
    for name, (key, flags) in _ROLES[role].items():
        if command is not None:
            flag = flags.get(command)
            out[name] = f"{flag} {{}}" if flag else None
        else:
            out[name] = f"{key}={{!r}}" if key else None
    return out


@contextmanager
def reading(role: str) -> Iterator[None]:
    """Spell the core's advice for a file of ``role`` (see the module docstring)."""
    with spelled_as(spelling(role)):
        yield

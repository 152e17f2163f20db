"""The FAQ / knowledge base: entries with an id, question paraphrases, an answer template,
an optional intent and optional tags, loaded from CSV/TSV or JSONL with column mapping.

Every problem of a file is reported in one ``DataError`` naming the file, the rows and the
column, and how to fix it (duplicate ids, empty answers or questions, missing columns).

Example:
    >>> kb = load_knowledge_base("data/support/faq.csv")  # doctest: +SKIP
    >>> kb["faq-003"].slots  # doctest: +SKIP
    ('order_number',)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from domaintune import DataError, read_table
from domaintune.advice import advise
from domaintune.errors import closest
from domaintune.persistence import write_text_atomic

from .advice import reading
from .config import KnowledgeBaseConfig

SLOT_PATTERN = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")
_MAX_NAMED = 5


def template_slots(template: str) -> tuple[str, ...]:
    """The ``{slot}`` names of a template, in order of first appearance.

    Example:
        >>> template_slots("Order {order_number} of {amount} ({order_number})")
        ('order_number', 'amount')
    """
    return tuple(dict.fromkeys(SLOT_PATTERN.findall(template)))


@dataclass(frozen=True)
class FaqEntry:
    """One knowledge-base entry.

    Attributes:
        id: unique id (string).
        questions: one or more question paraphrases.
        answer: the answer template (``{slot}`` placeholders allowed).
        intent: the intent this entry answers, or ``None`` (eligible for any intent).
        tags: free-form tags.
        row: 1-based row (CSV) or line (JSONL) in the source file.
    """

    id: str
    questions: tuple[str, ...]
    answer: str
    intent: str | None = None
    tags: tuple[str, ...] = ()
    row: int = 0

    @property
    def slots(self) -> tuple[str, ...]:
        """Slot names used by the answer template."""
        return template_slots(self.answer)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "questions": list(self.questions), "answer": self.answer,
                "intent": self.intent, "tags": list(self.tags), "row": self.row}


@dataclass
class KnowledgeBase:
    """An ordered collection of :class:`FaqEntry` with lookup by id and by intent."""

    entries: list[FaqEntry]
    source: str = "<faq>"
    _by_id: dict[str, FaqEntry] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.entries:
            raise DataError(f"{self.source}: the knowledge base has no entries; add at least one "
                            "question with its answer")
        self._by_id = {}
        for entry in self.entries:
            if entry.id in self._by_id:
                raise DataError(f"{self.source}: duplicate id {entry.id!r} (rows "
                                f"{self._by_id[entry.id].row} and {entry.row}); ids must be unique")
            self._by_id[entry.id] = entry

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[FaqEntry]:
        return iter(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def __getitem__(self, entry_id: str) -> FaqEntry:
        try:
            return self._by_id[entry_id]
        except KeyError:
            raise KeyError(f"no FAQ entry {entry_id!r}{closest(str(entry_id), list(self._by_id))}") from None

    @property
    def intents(self) -> list[str]:
        """Intents that have at least one entry (sorted)."""
        return sorted({e.intent for e in self.entries if e.intent})

    def slots(self) -> dict[str, list[str]]:
        """Slot name -> ids of the entries that use it."""
        out: dict[str, list[str]] = {}
        for entry in self.entries:
            for slot in entry.slots:
                out.setdefault(slot, []).append(entry.id)
        return out

    def write_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per entry (the format :meth:`read_jsonl` reads), atomically."""
        lines = [json.dumps(e.to_dict(), ensure_ascii=False) for e in self.entries]
        return write_text_atomic(path, "\n".join(lines) + "\n")

    @classmethod
    def read_jsonl(cls, path: str | Path) -> KnowledgeBase:
        """Read a file written by :meth:`write_jsonl`."""
        path = Path(path)
        entries = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                entries.append(FaqEntry(id=str(obj["id"]), questions=tuple(obj["questions"]),
                                        answer=obj["answer"], intent=obj.get("intent"),
                                        tags=tuple(obj.get("tags") or ()), row=int(obj.get("row", lineno))))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}: line {lineno} is not a knowledge-base entry "
                                f"({type(exc).__name__}: {exc}); retrain the bot") from None
        return cls(entries, source=str(path))


# ---------------------------------------------------------------------- loading
def _read_frame(path: Path, encoding: str) -> pd.DataFrame:
    if path.suffix.lower() not in (".csv", ".tsv", ".jsonl", ".json"):
        raise DataError(f"{path}: unsupported FAQ file type {path.suffix!r}; expected .csv, .tsv, "
                        ".jsonl or .json")
    return read_table(path, encoding=encoding)[0]


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def _split(value: Any, separator: str) -> list[str]:
    if _blank(value):
        return []
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = str(value).split(separator.strip() if separator.strip() else separator)
    return [i.strip() for i in items if i and i.strip()]


def _rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_NAMED])
    more = f" and {len(rows) - _MAX_NAMED} more" if len(rows) > _MAX_NAMED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def load_knowledge_base(path: str | Path, config: KnowledgeBaseConfig | None = None) -> KnowledgeBase:
    """Load and validate a FAQ file.

    Args:
        path: ``.csv``/``.tsv``/``.jsonl``/``.json``; one row per entry. ``question`` holds one
            question or several separated by ``config.question_separator`` (or a JSON list).
        config: column mapping and separators (:class:`KnowledgeBaseConfig`).

    Returns:
        A :class:`KnowledgeBase` (rows numbered from 1, the header not counted).

    Raises:
        DataError: missing columns (with the mapping to pass), duplicate ids, empty ids,
            answers or questions: all problems of the file in one message.

    Example:
        >>> kb = load_knowledge_base("faq.jsonl", KnowledgeBaseConfig(question_column="q"))  # doctest: +SKIP
    """
    cfg = config or KnowledgeBaseConfig()
    path = Path(path)
    frame = _read_frame(path, cfg.encoding)
    if len(frame) == 0:
        raise DataError(f"{path} is empty: expected a header row and at least one entry")
    found = [str(c) for c in frame.columns]
    defaults = KnowledgeBaseConfig()
    required = {"id_column": cfg.id_column, "question_column": cfg.question_column,
                "answer_column": cfg.answer_column}
    optional = {"intent_column": cfg.intent_column, "tags_column": cfg.tags_column}
    missing = {k: v for k, v in required.items() if v not in found}
    missing.update({k: v for k, v in optional.items()
                    if v is not None and v not in found and v != getattr(defaults, k)})
    if missing:
        hints = []
        # never suggest a column that already plays another role
        taken = {v for v in {**required, **optional}.values() if v in found}
        free = [c for c in found if c not in taken]
        with reading("faq"):
            for key, name in missing.items():
                guess = closest(name, free).removeprefix("; did you mean ").rstrip("?").strip("'")
                if not guess and len(free) == 1:
                    guess = free[0]
                hint = advise(key.removesuffix("_column"), guess or "<column>")
                if hint:
                    hints.append(hint)
        fix = f"pass {' and '.join(hints)}" if hints else "rename the columns"
        raise DataError(f"expected FAQ columns {[v for v in {**required, **optional}.values() if v]} "
                        f"in {path}, found {found}; {fix}")
    intent_col = cfg.intent_column if cfg.intent_column in found else None
    tags_col = cfg.tags_column if cfg.tags_column in found else None

    problems: dict[str, list[int]] = {}
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    entries: list[FaqEntry] = []
    for row, record in enumerate(frame.to_dict("records"), start=1):
        raw_id = record[cfg.id_column]
        if _blank(raw_id):
            problems.setdefault(f"an empty id in column {cfg.id_column!r}", []).append(row)
            continue
        entry_id = str(raw_id).strip()
        if isinstance(raw_id, float) and raw_id.is_integer():
            entry_id = str(int(raw_id))
        questions = _split(record[cfg.question_column], cfg.question_separator)
        answer = record[cfg.answer_column]
        if not questions:
            problems.setdefault(f"no question in column {cfg.question_column!r}", []).append(row)
        if _blank(answer) or not isinstance(answer, str):
            problems.setdefault(f"an empty answer in column {cfg.answer_column!r}", []).append(row)
        if entry_id in seen:
            duplicates.append(f"{entry_id!r} (rows {seen[entry_id]} and {row})")
            continue
        seen[entry_id] = row
        intent = record.get(intent_col) if intent_col else None
        entries.append(FaqEntry(
            id=entry_id, questions=tuple(questions),
            answer=answer.strip() if isinstance(answer, str) else "",
            intent=None if _blank(intent) else str(intent).strip(),
            tags=tuple(_split(record.get(tags_col), cfg.tag_separator)) if tags_col else (),
            row=row,
        ))
    messages = [f"{_rows(rows)} ha{'ve' if len(rows) > 1 else 's'} {what}"
                for what, rows in problems.items()]
    if duplicates:
        messages.append(f"duplicate id{'s' if len(duplicates) > 1 else ''} "
                        f"{', '.join(duplicates[:_MAX_NAMED])}"
                        f"{' ...' if len(duplicates) > _MAX_NAMED else ''}")
    if messages:
        raise DataError(f"{path}: {'; '.join(messages)}. Every entry needs a unique id, at least "
                        "one question and a non-empty answer: fix or remove those rows")
    return KnowledgeBase(entries, source=str(path))

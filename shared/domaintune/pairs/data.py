"""Load text pairs: (query, passage[, label or score]) rows and (query, positive[, negative]) pairs.

Reads what :func:`domaintune.load_dataset` reads (CSV/TSV, JSONL/JSON, Parquet, pandas
``DataFrame``, ``datasets.Dataset``, lists of dicts) with column mapping. Every problem is
reported once, naming the file, the rows and the column, and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data import _is_missing, _rows_phrase, read_table
from ..errors import DataError, closest

# common column names of pair data sets, used to suggest a mapping when a column is missing
_ALIASES = {
    "query": ("anchor", "question", "query", "sentence1", "text1", "premise", "q", "text"),
    "passage": ("positive", "passage", "answer", "document", "doc", "sentence2", "text2",
                "hypothesis", "context", "pos"),
    "label": ("label", "score", "labels", "relevance", "similarity", "target"),
    "negative": ("negative", "hard_negative", "negative_1", "neg"),
}


@dataclass
class PairDataset:
    """Text pairs with optional labels/scores and optional hard negatives.

    The same container serves both pair models: a bi-encoder trains on (query, positive
    passage[, negative]) and ignores rows whose numeric label is <= 0; a cross-encoder trains on
    (query, passage, label) with a score (binary/regression) or a class name per row.

    Attributes:
        queries: the first text of each pair (query, anchor, question, premise ...).
        passages: the second text (the positive passage for a bi-encoder).
        labels: one float score or class name per pair, or ``None``.
        negatives: one hard-negative passage per pair, or ``None``.
        source: where the data came from, used in error messages.
        rows: the 1-based row of each pair in ``source``.
        columns: the source column of each field (``{"query": "question", ...}``) for messages.

    Example:
        >>> pairs = PairDataset(["where is my refund?", "card stolen"],
        ...                     ["Refunds take 5 days.", "Block the card in the app."], labels=[1, 1])
        >>> len(pairs), pairs.labels
        (2, [1.0, 1.0])
    """

    queries: list[str]
    passages: list[str]
    labels: list[Any] | None = None
    negatives: list[str] | None = None
    source: str = "<pairs>"
    rows: list[int] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queries, self.passages = list(self.queries), list(self.passages)
        if not self.rows:
            self.rows = list(range(1, len(self.queries) + 1))
        self.columns = {**{n: n for n in ("query", "passage", "label", "negative")}, **self.columns}
        lengths = {"queries": len(self.queries), "passages": len(self.passages),
                   "rows": len(self.rows)}
        if self.labels is not None:
            self.labels = list(self.labels)
            lengths["labels"] = len(self.labels)
        if self.negatives is not None:
            self.negatives = list(self.negatives)
            lengths["negatives"] = len(self.negatives)
        if len(set(lengths.values())) > 1:
            raise DataError(
                f"{self.source}: expected as many queries, passages, labels and negatives as "
                f"pairs, found {lengths}"
            )
        sides = [("query", self.queries), ("passage", self.passages)]
        if self.negatives is not None:
            sides.append(("negative", self.negatives))
        problems = []
        for name, texts in sides:
            bad = [r for r, t in zip(self.rows, texts, strict=True)
                   if not isinstance(t, str) or _is_missing(t)]
            if bad:
                problems.append(f"{_rows_phrase(bad)} in column {self.columns[name]!r} "
                                f"({len(bad)} of {len(self)})")
        if problems:
            raise DataError(
                f"{self.source}: expected a non-empty text on both sides of every pair, found "
                f"empty or non-text values at {'; '.join(problems)}; fill them in or remove "
                "those rows"
            )
        if self.labels is not None:
            bad = [r for r, v in zip(self.rows, self.labels, strict=True) if _is_missing(v)]
            if bad:
                raise DataError(
                    f"{self.source}: {_rows_phrase(bad)} ha{'ve' if len(bad) > 1 else 's'} no label "
                    f"in column {self.columns['label']!r} ({len(bad)} of {len(self)} rows); label "
                    "them or remove those rows"
                )
            self.labels = _parse_labels(self.labels)

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def has_scores(self) -> bool:
        """Whether every label is a number (a score/relevance rather than a class name)."""
        return self.labels is not None and all(isinstance(v, float) for v in self.labels)

    @property
    def label_names(self) -> list[str]:
        """Sorted unique labels as strings (integral numbers without ``.0``)."""
        if self.labels is None:
            raise DataError(f"{self.source} has no labels; pass label=<column> when loading it")
        return sorted({label_key(v) for v in self.labels})

    def subset(self, indices: Sequence[int]) -> PairDataset:
        """The pairs at ``indices`` as a new dataset (keeping row numbers)."""
        pick = list(indices)
        return PairDataset(
            queries=[self.queries[i] for i in pick],
            passages=[self.passages[i] for i in pick],
            labels=None if self.labels is None else [self.labels[i] for i in pick],
            negatives=None if self.negatives is None else [self.negatives[i] for i in pick],
            source=self.source,
            rows=[self.rows[i] for i in pick],
            columns=dict(self.columns),
        )

    def split(self, fraction: float, *, seed: int = 42) -> tuple[PairDataset, PairDataset]:
        """Split into (train, validation) by query: all pairs of one query land on one side,
        so validation queries are never seen in training.

        Args:
            fraction: share of the distinct queries held out for validation (0-1).
            seed: random seed of the split.

        Example:
            >>> train, val = pairs.split(0.1, seed=42)  # doctest: +SKIP
        """
        if not 0.0 < fraction < 1.0:
            raise DataError(f"expected a validation split between 0 and 1, found {fraction}")
        unique = list(dict.fromkeys(self.queries))
        n_val = round(fraction * len(unique))
        if n_val < 1 or n_val >= len(unique):
            raise DataError(
                f"{self.source}: a {fraction:.0%} split of {len(unique)} distinct queries leaves "
                f"{'no' if n_val < 1 else 'no training'} queries; change the fraction or add data"
            )
        held = set(np.random.default_rng(seed).permutation(len(unique))[:n_val].tolist())
        val_queries = {unique[i] for i in held}
        val = [i for i, q in enumerate(self.queries) if q in val_queries]
        train = [i for i, q in enumerate(self.queries) if q not in val_queries]
        return self.subset(train), self.subset(val)

    def to_frame(self) -> pd.DataFrame:
        """The pairs as a DataFrame with columns query, passage[, label][, negative]."""
        frame = pd.DataFrame({"query": self.queries, "passage": self.passages})
        if self.labels is not None:
            frame["label"] = self.labels
        if self.negatives is not None:
            frame["negative"] = self.negatives
        return frame


def label_key(value: Any) -> str:
    """A label as a string; integral numbers drop their ``.0`` (``1.0`` and ``"1"`` match)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _parse_label(value: Any) -> float | str:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _parse_labels(values: list[Any]) -> list[Any]:
    """Numbers (also numeric strings) become floats; if any label is not a number, every label
    becomes its text (class names)."""
    parsed = [_parse_label(v) for v in values]
    if any(isinstance(v, str) for v in parsed):
        return [label_key(v) for v in values]
    return parsed


def _suggest(field_name: str, wanted: str, found: list[str]) -> str:
    guess = closest(wanted, found).removeprefix("; did you mean ").rstrip("?").strip("'")
    if not guess:
        guess = next((c for c in _ALIASES[field_name] if c in found), "")
    if guess:
        return f"{field_name}={guess!r}"
    optional = " (or None)" if field_name in ("label", "negative") else ""
    return f"{field_name}=<one of the columns found>{optional}"


def load_pairs(
    source: Any,
    query: str = "query",
    passage: str = "passage",
    *,
    label: str | None = None,
    negative: str | None = None,
    encoding: str = "utf-8",
    file_format: str | None = None,
) -> PairDataset:
    """Load text pairs with column mapping.

    Args:
        source: a ``.csv``/``.tsv``/``.jsonl``/``.json``/``.parquet`` path, a pandas
            DataFrame, a ``datasets.Dataset`` or a list of dicts.
        query: column of the first text (query, anchor, question ...).
        passage: column of the second text (passage, positive, answer ...).
        label: optional column of a score/relevance (numbers) or a class name per pair.
        negative: optional column of a hard-negative passage per pair (bi-encoder training).
        encoding: text encoding of CSV/JSONL files (e.g. ``"latin-1"``).
        file_format: force a format when the file suffix is unusual.

    Returns:
        A :class:`PairDataset`. Numeric labels become floats; other labels stay strings.

    Raises:
        DataError: missing columns (with the mapping to pass), rows with an empty query,
            passage or negative, rows without a label, undecodable or empty files.

    Example:
        >>> pairs = load_pairs("faq.csv", query="question", passage="answer")  # doctest: +SKIP
        >>> scored = load_pairs("qrels.jsonl", label="relevance")  # doctest: +SKIP
    """
    frame, name = read_table(source, encoding=encoding, file_format=file_format)
    if len(frame) == 0:
        raise DataError(f"{name} is empty: expected a header row and at least one pair")
    found = [str(c) for c in frame.columns]
    mapping = {"query": query, "passage": passage, "label": label, "negative": negative}
    wanted = {k: v for k, v in mapping.items() if v is not None}
    missing = {k: v for k, v in wanted.items() if v not in found}
    if missing:
        hints = ", ".join(_suggest(k, v, found) for k, v in missing.items())
        raise DataError(
            f"expected columns {list(wanted.values())} in {name}, found {found}; pass {hints}"
        )
    rows = list(range(1, len(frame) + 1))
    labels = frame[label].tolist() if label is not None else None

    def texts(column: str) -> list[Any]:
        return [v.strip() if isinstance(v, str) else v for v in frame[column].tolist()]

    return PairDataset(
        queries=texts(query),
        passages=texts(passage),
        labels=labels,  # parsed by PairDataset: numbers -> floats, otherwise class names
        negatives=texts(negative) if negative is not None else None,
        source=name,
        rows=rows,
        columns={k: v for k, v in wanted.items()},
    )

"""Load labelled text from CSV, JSONL, Parquet, pandas or ``datasets`` with column mapping.

Every problem is reported once, naming the file, the rows and the field, and how to fix it.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import DataError, closest

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
_MAX_ROWS_NAMED = 5


@dataclass
class TextDataset:
    """Texts with (optional) labels, ready for training or evaluation.

    Attributes:
        texts: the input texts.
        labels: one label per text (``str``), a list of labels per text for multi-label
            data, or ``None`` for unlabelled data.
        source: where the data came from, used in error messages.
        rows: the 1-based row number of each example in ``source``.
        multi_label: whether each example can carry several labels.
    """

    texts: list[str]
    labels: list[Any] | None = None
    source: str = "<data>"
    rows: list[int] = field(default_factory=list)
    multi_label: bool = False

    def __post_init__(self) -> None:
        if not self.rows:
            self.rows = list(range(1, len(self.texts) + 1))
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise DataError(
                f"{self.source}: expected one label per text, found {len(self.texts)} texts and "
                f"{len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labels_list(self) -> list[list[str]]:
        """Labels as a list of label lists (one entry per text, also for single-label data)."""
        if self.labels is None:
            raise DataError(f"{self.source} has no labels; pass label=<column> when loading it")
        return [list(lab) if self.multi_label else [lab] for lab in self.labels]

    @property
    def label_names(self) -> list[str]:
        """Sorted unique labels found in the data."""
        return sorted({lab for labs in self.labels_list for lab in labs})

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(lab for labs in self.labels_list for lab in labs).items()))

    def subset(self, indices: Sequence[int]) -> TextDataset:
        """Return the examples at ``indices`` as a new dataset (keeping row numbers)."""
        return TextDataset(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            source=self.source,
            rows=[self.rows[i] for i in indices],
            multi_label=self.multi_label,
        )

    def write_jsonl(self, path: str | Path) -> Path:
        """Write ``{"text", "label"}`` lines atomically (multi-label labels as JSON lists)."""
        from .persistence import write_text_atomic

        labels = self.labels if self.labels is not None else [None] * len(self)
        lines = (json.dumps({"text": t, "label": lab}, ensure_ascii=False)
                 for t, lab in zip(self.texts, labels, strict=True))
        return write_text_atomic(path, "".join(line + "\n" for line in lines))

    def concat(self, other: TextDataset, source: str | None = None) -> TextDataset:
        """This dataset followed by ``other`` (row numbers restart in ``other``'s source)."""
        if self.multi_label != other.multi_label:
            raise DataError(f"cannot combine multi-label and single-label data ({self.source}, "
                            f"{other.source})")
        if (self.labels is None) != (other.labels is None):
            raise DataError(f"cannot combine labelled and unlabelled data ({self.source}, {other.source})")
        return TextDataset(
            texts=self.texts + other.texts,
            labels=None if self.labels is None else self.labels + other.labels,
            source=source or f"{self.source}+{other.source}",
            rows=self.rows + other.rows,
            multi_label=self.multi_label,
        )

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"text": self.texts})
        if self.labels is not None:
            frame["label"] = [
                "|".join(lab) if self.multi_label else lab for lab in self.labels
            ]
        return frame


def _rows_phrase(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_NAMED])
    more = f" and {len(rows) - _MAX_ROWS_NAMED} more" if len(rows) > _MAX_ROWS_NAMED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def decode_file(path: Path, encoding: str) -> str:
    """The text of ``path`` decoded strictly, or a DataError naming the line and the fix."""
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: cannot decode line {line} as {encoding} (byte 0x{raw[exc.start]:02x} at "
            f"offset {exc.start}); pass encoding='latin-1' (or the file's real encoding), "
            "e.g. `--encoding latin-1` on the command line"
        ) from None
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}; pass e.g. encoding='utf-8'") from None
    return text.lstrip("\ufeff")


def _read_file(path: Path, encoding: str, file_format: str | None) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"data file {path} does not exist; check the path")
    if path.is_dir():
        raise DataError(f"expected a data file, found the directory {path}")
    suffix = (file_format or path.suffix).lower().lstrip(".")
    if f".{suffix}" not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; expected one of "
            f"{list(SUPPORTED_SUFFIXES)} or pass file_format='csv'|'jsonl'|'parquet'"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: expected a header row and at least one example")
    if suffix == "parquet":
        try:
            return pd.read_parquet(path)
        except Exception as exc:
            raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    text = decode_file(path, encoding)
    if not text.strip():
        raise DataError(f"{path} is empty: expected a header row and at least one example")
    if suffix in ("csv", "tsv"):
        try:
            return pd.read_csv(
                io.StringIO(text),
                sep="\t" if suffix == "tsv" else ",",
                dtype=str,
                keep_default_na=False,
            )
        except pd.errors.ParserError as exc:
            raise DataError(f"{path}: malformed {suffix.upper()} ({exc}); check quoting") from None
    if suffix == "json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
        if not isinstance(records, list):
            raise DataError(f"{path}: expected a JSON array of objects, found {type(records).__name__}")
        return pd.DataFrame.from_records(records)
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {lineno} is not valid JSON ({exc.msg}); each line must be one "
                "JSON object"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {lineno} must be a JSON object, found {type(obj).__name__}")
        records.append(obj)
    return pd.DataFrame.from_records(records)


def read_table(
    source: Any, *, encoding: str = "utf-8", file_format: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Read a CSV/TSV/JSONL/JSON/Parquet file, DataFrame, ``datasets.Dataset`` or list of dicts.

    Returns ``(frame, name)`` where ``name`` is used in error messages. CSV cells are read as
    strings with empty cells kept as ``""``. Raises :class:`DataError` for missing, empty,
    undecodable or malformed files (naming the file and line, and what to do).
    """
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), "<DataFrame>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return _read_file(path, encoding, file_format), str(path)
    if hasattr(source, "to_pandas") and hasattr(source, "column_names"):  # datasets.Dataset
        return source.to_pandas(), "<datasets.Dataset>"
    if isinstance(source, list) and all(isinstance(r, dict) for r in source):
        return pd.DataFrame.from_records(source), "<records>"
    raise DataError(
        f"expected a file path, pandas.DataFrame, datasets.Dataset or list of dicts, "
        f"found {type(source).__name__}"
    )


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:  # NaN
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return False


def check_texts(texts: Sequence[Any], what: str = "texts") -> None:
    """Raise one ``DataError`` naming the first non-string input (models take strings only)."""
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise DataError(f"expected strings as {what}, found {type(texts[bad[0]]).__name__} at "
                        f"position {bad[0]}; pass a string or a list of strings")


def _check_columns(frame: pd.DataFrame, source: str, text: str, label: str | None) -> None:
    found = [str(c) for c in frame.columns]
    wanted = [text] + ([label] if label else [])
    missing = [c for c in wanted if c not in found]
    if not missing:
        return
    hints = []
    for name, arg in ((text, "text"), (label, "label")):
        if name in missing:
            guess = closest(name, found).removeprefix("; did you mean ").rstrip("?")
            hints.append(f"{arg}={guess}" if guess else f"{arg}=<one of the columns found>")
    raise DataError(
        f"expected columns {wanted} in {source}, found {found}; pass {', '.join(hints)} "
        "(--text-column/--label-column on the command line)"
    )


def _parse_labels(
    values: list[Any], multi_label: bool, separator: str
) -> list[Any]:
    if not multi_label:
        return [str(v).strip() if not isinstance(v, str) else v.strip() for v in values]
    parsed = []
    for v in values:
        if isinstance(v, str):
            items = [p.strip() for p in v.split(separator)]
        elif hasattr(v, "__iter__"):
            items = [str(p).strip() for p in v]
        else:
            items = [str(v).strip()]
        parsed.append(sorted({p for p in items if p}))
    return parsed


def load_dataset(
    source: Any,
    text: str = "text",
    label: str | None = "label",
    *,
    split: float | None = None,
    seed: int = 42,
    stratify: bool = True,
    multi_label: bool = False,
    label_separator: str = "|",
    encoding: str = "utf-8",
    file_format: str | None = None,
) -> TextDataset | tuple[TextDataset, TextDataset]:
    """Load labelled (or unlabelled) texts, optionally with a stratified validation split.

    Args:
        source: a ``.csv``/``.tsv``/``.jsonl``/``.json``/``.parquet`` path, a pandas
            DataFrame, a ``datasets.Dataset`` or a list of dicts.
        text: name of the text column.
        label: name of the label column, or ``None`` for unlabelled data.
        split: fraction (0-1) held out for validation; returns ``(train, validation)``.
        seed: random seed of the split.
        stratify: keep label proportions in the split (single-label data only).
        multi_label: each row may carry several labels (a JSON list, or a string joined by
            ``label_separator``).
        label_separator: separator of several labels in one string cell.
        encoding: text encoding of CSV/JSONL files (e.g. ``"latin-1"``).
        file_format: force a format when the file suffix is unusual.

    Returns:
        A :class:`TextDataset`, or ``(train, validation)`` when ``split`` is given.

    Raises:
        DataError: missing columns, empty texts, missing labels, undecodable or empty files,
            a class too small to stratify.

    Example:
        >>> train, val = load_dataset("data/support/intents.csv", text="text", label="intent",
        ...                           split=0.1, seed=42)  # doctest: +SKIP
    """
    frame, name = read_table(source, encoding=encoding, file_format=file_format)
    if len(frame) == 0:
        raise DataError(f"{name} is empty: expected a header row and at least one example")
    _check_columns(frame, name, text, label)
    rows = list(range(1, len(frame) + 1))
    raw_texts = frame[text].tolist()
    bad = [r for r, t in zip(rows, raw_texts, strict=True) if _is_missing(t) or not isinstance(t, str)]
    if bad:
        raise DataError(
            f"{name}: {_rows_phrase(bad)} ha{'ve' if len(bad) > 1 else 's'} an empty or "
            f"non-text value in column {text!r} ({len(bad)} of {len(rows)} rows); fill the text "
            "in or remove those rows"
        )
    labels = None
    if label is not None:
        raw_labels = frame[label].tolist()
        missing = [
            r for r, v in zip(rows, raw_labels, strict=True)
            if (not hasattr(v, "__len__") or isinstance(v, str)) and _is_missing(v)
        ]
        labels = _parse_labels(raw_labels, multi_label, label_separator)
        if multi_label:
            missing = sorted(set(missing) | {r for r, v in zip(rows, labels, strict=True) if not v})
        if missing:
            raise DataError(
                f"{name}: {_rows_phrase(missing)} ha{'ve' if len(missing) > 1 else 's'} no label "
                f"in column {label!r} ({len(missing)} of {len(rows)} rows); label them or remove "
                "those rows"
            )
    dataset = TextDataset(
        texts=[t.strip() for t in raw_texts],
        labels=labels,
        source=name,
        rows=rows,
        multi_label=multi_label,
    )
    if split is None:
        return dataset
    return train_validation_split(dataset, split, seed=seed, stratify=stratify)


def train_validation_split(
    dataset: TextDataset, fraction: float, *, seed: int = 42, stratify: bool = True
) -> tuple[TextDataset, TextDataset]:
    """Split ``dataset`` into (train, validation), stratified by label when possible."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise DataError(f"expected a validation split between 0 and 1, found {fraction}")
    indices = list(range(len(dataset)))
    strat = None
    if stratify and dataset.labels is not None and not dataset.multi_label:
        counts = Counter(dataset.labels)
        single = sorted(lab for lab, n in counts.items() if n < 2)
        if single:
            raise DataError(
                f"{dataset.source}: cannot stratify the validation split: class"
                f"{'es' if len(single) > 1 else ''} {single[:_MAX_ROWS_NAMED]} ha"
                f"{'ve' if len(single) > 1 else 's'} a single example; add examples, remove the "
                "class, or pass stratify=False"
            )
        n_val = max(1, round(fraction * len(dataset)))
        if n_val < len(counts) or len(dataset) - n_val < len(counts):
            raise DataError(
                f"{dataset.source}: a {fraction:.0%} validation split gives {n_val} examples, fewer "
                f"than the {len(counts)} classes, so it cannot be stratified; raise the split "
                "fraction, add data, or pass stratify=False"
            )
        strat = dataset.labels
    train_idx, val_idx = train_test_split(
        indices, test_size=fraction, random_state=seed, stratify=strat
    )
    return dataset.subset(sorted(train_idx)), dataset.subset(sorted(val_idx))


def sample_per_class(dataset: TextDataset, n: int, *, seed: int = 42) -> TextDataset:
    """Return up to ``n`` examples per class (few-shot subsets, replay buffers), seeded.

    Multi-label rows are grouped by their first label; rows with no label form one group.
    """
    import random

    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, labs in enumerate(dataset.labels_list):
        by_label.setdefault(labs[0] if labs else "", []).append(i)
    chosen: list[int] = []
    for lab in sorted(by_label):
        idx = by_label[lab]
        chosen.extend(rng.sample(idx, min(n, len(idx))))
    return dataset.subset(sorted(chosen))

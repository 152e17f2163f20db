"""Load labelled text from CSV, JSONL, Parquet, pandas or ``datasets`` with column mapping.

Every problem is reported once, naming the file, the rows and the field, and how to fix it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .advice import advise
from .errors import DataError, closest

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

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
    notes: list[str] = field(default_factory=list)  # what loading changed, for the summary

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
            raise DataError(f"{self.source} has no labels; pass {advise('label', '<column>')} "
                            "when loading it")
        return [list(lab) if self.multi_label else [lab] for lab in self.labels]

    @property
    def label_names(self) -> list[str]:
        """Sorted unique labels found in the data (numerically when they are all integers:
        ``'2'`` before ``'10'``)."""
        return sort_labels({lab for labs in self.labels_list for lab in labs})

    def label_counts(self) -> dict[str, int]:
        counts = Counter(lab for labs in self.labels_list for lab in labs)
        return {lab: counts[lab] for lab in sort_labels(counts)}

    def subset(self, indices: Sequence[int]) -> TextDataset:
        """Return the examples at ``indices`` as a new dataset (keeping row numbers)."""
        return TextDataset(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            source=self.source,
            rows=[self.rows[i] for i in indices],
            multi_label=self.multi_label,
            notes=list(self.notes),
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
        import pandas as pd

        frame = pd.DataFrame({"text": self.texts})
        if self.labels is not None:
            frame["label"] = [
                "|".join(lab) if self.multi_label else lab for lab in self.labels
            ]
        return frame


_INT_RE = re.compile(r"[+-]?\d+")


def sort_labels(labels: Any) -> list[str]:
    """Label names sorted: numerically when every name is an integer, else alphabetically."""
    names = list(labels)
    if names and all(_INT_RE.fullmatch(n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


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
        fix = advise("encoding", "latin-1")
        raise DataError(
            f"{path}: cannot decode line {line} as {encoding} (byte 0x{raw[exc.start]:02x} at "
            f"offset {exc.start}); "
            + (f"pass {fix} (or the file's real encoding)" if fix else
               "convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
        ) from None
    except LookupError:
        fix = advise("encoding", "utf-8")
        raise DataError(f"unknown encoding {encoding!r}; "
                        + (f"pass e.g. {fix}" if fix else "use a standard encoding name")) from None
    return text.lstrip("\ufeff")


def _read_file(path: Path, encoding: str, file_format: str | None) -> pd.DataFrame:
    import pandas as pd  # imported when data is read: `import domaintune.data` stays light

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
        import csv

        header = next(csv.reader(io.StringIO(text), delimiter="\t" if suffix == "tsv" else ","), [])
        _check_duplicate_columns(header, str(path))  # pandas would rename them 'x.1' silently
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
    import pandas as pd

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


# control characters (Unicode category Cc) other than tab/newline/carriage return: NUL and the
# like break CSV writers, terminals and logs and carry no meaning for a model
_CONTROL = {c: None for c in range(32) if chr(c) not in "\t\n\r"} | {127: None} | {
    c: None for c in range(0x80, 0xA0)}


_CONTROL_TO_SPACE = {c: " " for c in _CONTROL}


def clean_text(text: str) -> str:
    """``text`` without control characters (NUL, escape, ...; tabs and newlines are kept)."""
    return text.translate(_CONTROL)


def clean_texts(texts: Sequence[str]) -> tuple[list[str], int]:
    """Texts without control characters, and how many of them had some."""
    out = [clean_text(t) for t in texts]
    return out, sum(a != b for a, b in zip(texts, out, strict=True))


def check_texts(texts: Sequence[Any], what: str = "texts", *, allow_empty: bool = False) -> None:
    """Raise one ``DataError`` naming the first input that is not a non-empty string (models
    take text only; an empty or whitespace-only text is rejected as it is in data files)."""
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise DataError(f"expected strings as {what}, found {type(texts[bad[0]]).__name__} at "
                        f"position {bad[0]}; pass a string or a list of strings")
    if not allow_empty:
        empty = [i for i, t in enumerate(texts) if not clean_text(t).strip()]
        if empty:
            shown = ", ".join(map(str, empty[:_MAX_ROWS_NAMED]))
            raise DataError(f"expected non-empty {what}, found {len(empty)} empty or whitespace-only "
                            f"text{'s' if len(empty) > 1 else ''} (position{'s' if len(empty) > 1 else ''} "
                            f"{shown}{' ...' if len(empty) > _MAX_ROWS_NAMED else ''}); remove them "
                            "or fill the text in")


def text_batch(texts: Any, what: str = "texts", *, allow_empty: bool = False,
               keep_offsets: bool = False) -> tuple[list[str], bool]:
    """``(batch, single)`` for an input that is one string or a sequence of strings, checked
    (see :func:`check_texts`) and without control characters (replaced by spaces with
    ``keep_offsets``, so character offsets into the original text stay valid); one DataError
    for anything else (``None``, a number, a dict ...)."""
    if isinstance(texts, str):
        batch, single = [texts], True
    elif isinstance(texts, (list, tuple)) or (hasattr(texts, "__iter__") and hasattr(texts, "__len__")
                                               and not isinstance(texts, (dict, bytes))):
        batch, single = list(texts), False
    else:
        raise DataError(f"expected a string or a list of strings as {what}, found "
                        f"{type(texts).__name__}; e.g. predict('where is my refund?') or "
                        "predict(['text one', 'text two'])")
    check_texts(batch, what, allow_empty=allow_empty)
    if keep_offsets:
        return [t.translate(_CONTROL_TO_SPACE) for t in batch], single
    return [clean_text(t) for t in batch], single


def _check_duplicate_columns(names: Sequence[Any], source: str) -> None:
    counts = Counter(str(c) for c in names)
    dupes = sorted(c for c, n in counts.items() if n > 1)
    if dupes:
        raise DataError(f"{source}: column name{'s' if len(dupes) > 1 else ''} {dupes} appear"
                        f"{'' if len(dupes) > 1 else 's'} more than once in the header, so it is "
                        "unclear which column to read; rename or remove the duplicates")


def _check_columns(frame: pd.DataFrame, source: str, text: str, label: str | None) -> None:
    _check_duplicate_columns(list(frame.columns), source)
    found = [str(c) for c in frame.columns]
    wanted = [text] + ([label] if label else [])
    missing = [c for c in wanted if c not in found]
    if not missing:
        return
    hints = []
    for name, arg in ((text, "text"), (label, "label")):
        if name in missing:
            # never suggest a column that already plays another role
            taken = {c for c in wanted if c != name and c in found}
            free = [c for c in found if c not in taken]
            guess = closest(name, free).removeprefix("; did you mean ").rstrip("?").strip("'")
            if not guess and len(free) == 1:
                guess = free[0]
            hint = advise(arg, guess) if guess else advise(arg, "<column>")
            if hint:
                hints.append(hint)
    fix = f"; pass {' and '.join(hints)}" if hints else "; rename the columns"
    raise DataError(f"expected columns {wanted} in {source}, found {found}{fix}")


def _label_text(value: Any) -> str:
    """A label value as its name: ``3`` and ``3.0`` (JSON/Parquet numbers) become ``'3'``."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # numpy scalars
        return _label_text(value.item())
    return str(value).strip()


def _parse_labels(
    values: list[Any], multi_label: bool, separator: str
) -> list[Any]:
    if not multi_label:
        return [_label_text(v) for v in values]
    parsed = []
    for v in values:
        if isinstance(v, str):
            items = [p.strip() for p in v.split(separator)]
        elif hasattr(v, "__iter__"):
            items = [_label_text(p) for p in v]
        else:
            items = [_label_text(v)]
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
    notes = []
    if label is not None:
        numeric = [v for v in raw_labels if isinstance(v, (int, float)) and not isinstance(v, bool)
                   or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iuf")]
        if numeric:
            notes.append(f"{name}: labels in column {label!r} are numbers; they are used as the "
                         f"label names {sort_labels(set(labels if not multi_label else sum(labels, [])))[:5]}"
                         " ... (strings, sorted numerically), and predictions return these strings")
    texts, n_control = clean_texts([t.strip() for t in raw_texts])
    texts = [t.strip() for t in texts]
    if n_control:
        notes.append(f"{name}: removed control characters (NUL, escape, ...) from {n_control} "
                     f"text{'s' if n_control > 1 else ''} in column {text!r}")
        empty = [r for r, t in zip(rows, texts, strict=True) if not t]
        if empty:
            raise DataError(f"{name}: {_rows_phrase(empty)} in column {text!r} hold only control "
                            "characters; fill the text in or remove those rows")
    for note in notes:
        logger.info(note)
    dataset = TextDataset(
        texts=texts,
        labels=labels,
        source=name,
        rows=rows,
        multi_label=multi_label,
        notes=notes,
    )
    if split is None:
        return dataset
    return train_validation_split(dataset, split, seed=seed, stratify=stratify)


def _or_pass(name: str, value: object) -> str:
    fix = advise(name, value)
    return f", or pass {fix}" if fix else ""


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
                f"class{_or_pass('stratify', False)}"
            )
        n_val = max(1, round(fraction * len(dataset)))
        if n_val < len(counts) or len(dataset) - n_val < len(counts):
            raise DataError(
                f"{dataset.source}: a {fraction:.0%} validation split gives {n_val} examples, fewer "
                f"than the {len(counts)} classes, so it cannot be stratified; raise the split "
                f"fraction, add data{_or_pass('stratify', False)}"
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

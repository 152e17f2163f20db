"""Items and interactions: read, map columns, validate, count what is dropped.

* :func:`load_items` -> a :class:`Catalog` (ids, titles, texts, categories, stock flags) and an
  :class:`ItemsReport`. An item's text is its ``text_fields`` written ``field: value`` and
  joined with ``". "``. Duplicate ids keep their first row (counted); an item whose text fields
  are all empty is kept (behaviour can still recommend it) with its title or id as text
  (counted).
* :func:`load_interactions` -> the app's interactions frame (``user``, ``item``, ``rating``,
  ``ts``: str, str, float, int64 epoch seconds; time-ordered, stable) and an
  :class:`InteractionsReport`. Rows with a missing user or item, an unknown item, an unreadable
  timestamp or rating, and exact repeats (same user, item and time) are dropped, each counted
  by reason.

Ids are strings everywhere (``12``, ``"12"`` and ``12.0`` are the same id).

Example:
    >>> import pandas as pd
    >>> from text_recommender.config import DataConfig
    >>> items = pd.DataFrame({"item_id": [1, 2], "title": ["Alien", "Heat"],
    ...                       "genres": ["Horror|Sci-Fi", "Crime"]})
    >>> catalog, _ = load_items(items, DataConfig())
    >>> catalog.texts[0], catalog.categories[0]
    ('title: Alien. genres: Horror, Sci-Fi', 'Horror|Sci-Fi')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from domaintune.data import read_table
from domaintune.errors import DataError, closest

from .config import DataConfig

_TITLE_COLUMNS = ("title", "name")
_CATEGORY_COLUMNS = ("category", "genres", "genre")
_IN_STOCK_COLUMNS = ("in_stock",)
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}
# epoch values above this are milliseconds (1e11 s is the year 5138)
_EPOCH_MS_FROM = 1e11


def normalize_id(value: Any) -> str | None:
    """An id as a string: ``12``, ``"12"``, ``12.0`` -> ``"12"``; missing -> ``None``."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer():
            return str(int(value))
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return str(int(value))
    text = str(value).strip()
    if not text or text.lower() in ("nan", "none", "null"):
        return None
    if re.fullmatch(r"-?\d+\.0+", text):
        text = text.split(".")[0]
    return text


def _split_category(value: str) -> str | None:
    """A category cell as ``"A|B"``: its labels (``|``- or ``;``-separated), trimmed."""
    labels = [part.strip() for part in re.split(r"[|;]", value) if part.strip()]
    return "|".join(labels) or None


def category_labels(category: str | None) -> tuple[str, ...]:
    """The labels of a catalogue category (``"Action|Sci-Fi"`` -> ``("Action", "Sci-Fi")``)."""
    return tuple(category.split("|")) if category else ()


def _pretty(value: str) -> str:
    """Multi-valued cells (``Horror|Sci-Fi``) read as lists (``Horror, Sci-Fi``)."""
    return ", ".join(part.strip() for part in value.split("|")) if "|" in value else value.strip()


@dataclass
class Catalog:
    """The items: row ``i`` of every list is item ``i`` (its code in the models).

    Attributes:
        ids, titles, texts: per item.
        categories: the category of each item, its labels joined with ``|`` (``None`` when
            unknown); business rules and the per-category cap count every label.
        in_stock: boolean per item (False = never recommended).
        fields: the columns its texts were built from.
    """

    ids: list[str]
    titles: list[str]
    texts: list[str]
    categories: list[str | None]
    in_stock: np.ndarray
    fields: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.in_stock = np.asarray(self.in_stock, dtype=bool)
        self.index = {item: i for i, item in enumerate(self.ids)}
        if len(self.index) != len(self.ids):
            raise DataError("expected unique item ids in the catalogue, found repeats")

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, item_id: Any) -> int | None:
        key = normalize_id(item_id)
        return None if key is None else self.index.get(key)

    def positions(self, item_ids: Iterable[Any]) -> np.ndarray:
        """Codes of known ids (unknown ids are skipped)."""
        out = [self.index.get(normalize_id(i)) for i in item_ids]
        return np.asarray([p for p in out if p is not None], dtype=np.int64)

    def extend(self, other: Catalog) -> None:
        """Append the items of ``other`` (ids must be new)."""
        clash = [i for i in other.ids if i in self.index]
        if clash:
            raise DataError(f"expected new item ids, found {len(clash)} already in the catalogue "
                            f"(e.g. {clash[0]!r}); an id stays taken after remove_items (histories "
                            "refer to it), so give the new item a new id")
        start = len(self.ids)
        self.ids += other.ids
        self.titles += other.titles
        self.texts += other.texts
        self.categories += other.categories
        self.in_stock = np.concatenate([self.in_stock, other.in_stock])
        self.index.update({item: start + i for i, item in enumerate(other.ids)})

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"item_id": self.ids, "title": self.titles, "text": self.texts,
                             "category": [c or "" for c in self.categories],
                             "in_stock": self.in_stock})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, fields: Sequence[str] = ()) -> Catalog:
        return cls([str(i) for i in frame["item_id"]], [str(t) for t in frame["title"]],
                   [str(t) for t in frame["text"]],
                   [str(c) or None for c in frame["category"]],
                   frame["in_stock"].to_numpy(dtype=bool), list(fields))


@dataclass
class ItemsReport:
    """What :func:`load_items` read and kept."""

    source: str
    rows: int
    kept: int
    duplicate_ids: int
    missing_ids: int
    empty_text: int
    text_fields: list[str]
    title_field: str | None
    category_field: str | None
    in_stock_field: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _column_error(source: str, what: str, column: str, columns: Sequence[str], flag: str) -> DataError:
    return DataError(
        f"{source}: expected a {what} column {column!r}, found columns {list(columns)}"
        f"{closest(column, list(columns))}; name it with {flag} COLUMN"
    )


def _is_numeric_column(series: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(series):
        return True
    values = series.astype(str).str.strip()
    values = values[values != ""]
    return len(values) > 0 and bool(pd.to_numeric(values, errors="coerce").notna().all())


def _pick(columns: Sequence[str], configured: str | None, defaults: Sequence[str], what: str,
          source: str, key: str) -> str | None:
    if configured:
        if configured not in columns:
            raise DataError(f"{source}: data.{key} names the {what} column {configured!r}, found "
                            f"columns {list(columns)}{closest(configured, list(columns))}; fix "
                            f"data.{key} in the config")
        return configured
    lower = {c.lower(): c for c in columns}
    return next((lower[d] for d in defaults if d in lower), None)


def _truthy(value: Any, source: str, row: int, column: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value == value:
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or text == "nan":
        return False
    raise DataError(f"{source} row {row}: {column} expects true/false (or 1/0, yes/no), found "
                    f"{value!r}; fix the cell")


def load_items(source: Any, cfg: DataConfig, *, text_fields: Sequence[str] | None = None
               ) -> tuple[Catalog, ItemsReport]:
    """Read the items file (CSV/TSV/JSONL/Parquet, a DataFrame or a list of dicts).

    Args:
        source: the file or table.
        cfg: the ``data`` section (columns, text fields).
        text_fields: overrides ``cfg.text_fields`` (the CLI's ``--text-fields``).

    Raises:
        DataError: a missing id column or text field (naming the columns found and the option
            that fixes it), an empty file, no item with an id.
    """
    frame, name = read_table(source)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    id_col = cfg.item_id_column
    if id_col not in columns:
        raise _column_error(name, "item id", id_col, columns, "--item-id-column")
    stock_col = _pick(columns, cfg.in_stock_field, _IN_STOCK_COLUMNS, "in-stock", name,
                      "in_stock_field")
    wanted = list(text_fields if text_fields is not None else cfg.text_fields)
    if wanted:
        missing = [f for f in wanted if f not in columns]
        if missing:
            raise DataError(f"{name}: expected the text field {missing[0]!r}, found columns "
                            f"{columns}{closest(missing[0], columns)}; fix --text-fields "
                            "(comma-separated) or data.text_fields")
    else:
        wanted = [c for c in columns if c not in (id_col, stock_col)
                  and not _is_numeric_column(frame[c])]
        if not wanted:
            raise DataError(f"{name}: expected at least one text column besides {id_col!r}, "
                            f"found columns {columns}; add a title or description column, or "
                            "name the fields with --text-fields")
    title_col = _pick(columns, cfg.title_field, _TITLE_COLUMNS, "title", name, "title_field")
    cat_col = _pick(columns, cfg.category_field, _CATEGORY_COLUMNS, "category", name,
                    "category_field")

    ids, titles, texts, cats, stock = [], [], [], [], []
    seen: set[str] = set()
    duplicates = missing_ids = empty = 0
    records = frame.to_dict("records")
    for row, rec in enumerate(records, start=2 if name.endswith((".csv", ".tsv")) else 1):
        item = normalize_id(rec.get(id_col))
        if item is None:
            missing_ids += 1
            continue
        if item in seen:
            duplicates += 1
            continue
        seen.add(item)
        parts = []
        for f in wanted:
            value = rec.get(f)
            if value is None or (isinstance(value, float) and value != value):
                continue
            text = _pretty(str(value))
            if text:
                parts.append(f"{f}: {text}")
        title_raw = rec.get(title_col) if title_col else None
        title = str(title_raw).strip() if title_raw is not None and str(title_raw) != "nan" else ""
        title = title or item
        if not parts:
            empty += 1
            parts = [f"title: {title}"] if title != item else [f"item {item}"]
        ids.append(item)
        titles.append(title)
        texts.append(". ".join(parts))
        cat_raw = rec.get(cat_col) if cat_col else None
        cats.append(_split_category(str(cat_raw)) if cat_raw is not None
                    and str(cat_raw) not in ("", "nan") else None)
        stock.append(_truthy(rec.get(stock_col), name, row, stock_col) if stock_col else True)
    if not ids:
        raise DataError(f"{name}: expected items with an id in column {id_col!r}, found none "
                        f"among {len(records)} rows; check --item-id-column")
    report = ItemsReport(name, len(records), len(ids), duplicates, missing_ids, empty, wanted,
                         title_col, cat_col, stock_col)
    return Catalog(ids, titles, texts, cats, np.asarray(stock, dtype=bool), wanted), report


# ---------------------------------------------------------------------------- interactions
@dataclass
class InteractionsReport:
    """What :func:`load_interactions` read, kept and dropped (by reason)."""

    source: str
    rows: int
    kept: int
    dropped: dict[str, int]
    implicit: bool
    users: int
    items: int
    timestamp_formats: dict[str, int]
    out_of_order: int = 0  # recorded interactions older than the user's last one (kept)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def _epoch_seconds(stamps: pd.Series) -> np.ndarray:
    """Whole epoch seconds of tz-aware timestamps (whatever pandas' unit: s, ms, us, ns)."""
    return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def parse_timestamps(values: pd.Series) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Epoch seconds (int64) of each value, a mask of the unreadable ones, and the count per
    format (``epoch_seconds``, ``epoch_milliseconds``, ``iso``).

    Numbers (or numeric strings) are epoch seconds, or milliseconds above 1e11; anything else is
    parsed as an ISO 8601 date or date-time (``2026-03-01``, ``2026-03-01T10:00:00+02:00``);
    times without a zone are UTC.

    Example:
        >>> ts, bad, formats = parse_timestamps(pd.Series(["1700000000", "2023-11-14", "x"]))
        >>> ts[:2].tolist(), bad.tolist(), formats
        ([1700000000, 1699920000], [False, False, True], {'epoch_seconds': 1, 'iso': 1})
    """
    n = len(values)
    out = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    formats: dict[str, int] = {}
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
        bad = stamps.isna().to_numpy()
        out[~bad] = _epoch_seconds(stamps[~bad])
        formats["datetime"] = int((~bad).sum())
        return out, bad, formats
    numeric = pd.to_numeric(values, errors="coerce")
    is_num = numeric.notna().to_numpy() & np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
    if is_num.any():
        num = numeric.to_numpy(dtype=float, na_value=np.nan)
        ms = is_num & (np.abs(num) >= _EPOCH_MS_FROM)
        out[is_num & ~ms] = np.floor(num[is_num & ~ms]).astype(np.int64)
        out[ms] = np.floor(num[ms] / 1000).astype(np.int64)
        if (is_num & ~ms).any():
            formats["epoch_seconds"] = int((is_num & ~ms).sum())
        if ms.any():
            formats["epoch_milliseconds"] = int(ms.sum())
    rest = ~is_num
    if rest.any():
        text = values[rest].astype(str).str.strip()
        stamps = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        ok = stamps.notna().to_numpy()
        idx = np.flatnonzero(rest)
        out[idx[ok]] = _epoch_seconds(stamps[ok])
        bad[idx[~ok]] = True
        if ok.any():
            formats["iso"] = int(ok.sum())
    return out, bad, formats


def load_interactions(source: Any, cfg: DataConfig, catalog: Catalog | None = None, *,
                      what: str = "interactions", allow_empty: bool = False
                      ) -> tuple[pd.DataFrame, InteractionsReport]:
    """Read an interactions file into the app's frame (``user``, ``item``, ``rating``, ``ts``).

    Args:
        source: the file or table.
        cfg: the ``data`` section (columns).
        catalog: when given, interactions with items it does not hold are dropped
            (``unknown_item``).
        what: how messages name the file's role.

    Raises:
        DataError: a missing user/item/time column (naming the columns found and the option
            that fixes it), or no interaction left.
    """
    frame, name = read_table(source)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for col, label, flag in ((cfg.user_id_column, "user id", "--user-id-column"),
                             (cfg.item_id_column, "item id", "--item-id-column"),
                             (cfg.time_column, "timestamp", "--time-column")):
        if col not in columns:
            raise _column_error(name, label, col, columns, flag)
    n = len(frame)
    dropped = {"missing_user": 0, "missing_item": 0, "unknown_item": 0, "bad_timestamp": 0,
               "bad_rating": 0, "duplicate": 0}
    users = frame[cfg.user_id_column].map(normalize_id)
    items = frame[cfg.item_id_column].map(normalize_id)
    ts, bad_ts, formats = parse_timestamps(frame[cfg.time_column])
    implicit = cfg.rating_column not in columns
    if implicit:
        rating = np.ones(n, dtype=np.float64)
        bad_rating = np.zeros(n, dtype=bool)
    else:
        raw = frame[cfg.rating_column]
        rating = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad_rating = ~np.isfinite(rating)
    keep = np.ones(n, dtype=bool)

    def drop(mask: np.ndarray, reason: str) -> None:
        nonlocal keep
        hit = mask & keep
        dropped[reason] += int(hit.sum())
        keep &= ~mask

    drop(users.isna().to_numpy(), "missing_user")
    drop(items.isna().to_numpy(), "missing_item")
    if catalog is not None:
        known = items.map(lambda i: i in catalog.index if i is not None else True).to_numpy(bool)
        drop(~known, "unknown_item")
    drop(bad_ts, "bad_timestamp")
    drop(bad_rating, "bad_rating")
    out = pd.DataFrame({"user": users[keep].astype(str).to_numpy(),
                        "item": items[keep].astype(str).to_numpy(),
                        "rating": rating[keep].astype(np.float64),
                        "ts": ts[keep].astype(np.int64)})
    before = len(out)
    out = out.drop_duplicates(["user", "item", "ts"], keep="first")
    dropped["duplicate"] = before - len(out)
    out = out.sort_values("ts", kind="stable").reset_index(drop=True)
    if out.empty and not allow_empty:
        raise DataError(f"{name}: no {what} left after dropping {sum(dropped.values())} of {n} "
                        f"rows ({ {k: v for k, v in dropped.items() if v} }); check the columns "
                        "and that the item ids match the items file")
    report = InteractionsReport(name, n, len(out), dropped, implicit, int(out["user"].nunique()),
                                int(out["item"].nunique()), formats)
    return out, report


def interactions_frame(records: Any, cfg: DataConfig, catalog: Catalog | None = None, *,
                       allow_empty: bool = False) -> tuple[pd.DataFrame, InteractionsReport]:
    """:func:`load_interactions` for records in Python (dicts with the configured columns, or
    the app's own ``user``/``item``/``rating``/``ts`` names), or a file."""
    import os

    if isinstance(records, (str, os.PathLike)):
        return load_interactions(records, cfg, catalog, allow_empty=allow_empty)
    if isinstance(records, pd.DataFrame):
        frame = records
    else:
        frame = pd.DataFrame.from_records(list(records))
    rename = {"user": cfg.user_id_column, "item": cfg.item_id_column, "ts": cfg.time_column}
    frame = frame.rename(columns={k: v for k, v in rename.items()
                                  if k in frame.columns and v not in frame.columns})
    if cfg.rating_column not in frame.columns and "rating" in frame.columns:
        frame = frame.rename(columns={"rating": cfg.rating_column})
    return load_interactions(frame, cfg, catalog, what="interactions", allow_empty=allow_empty)

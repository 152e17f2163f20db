"""Read big CSV / TSV / JSON-lines / Parquet files in chunks, with memory bounded by the chunk.

:func:`read_chunks` yields :class:`Chunk` objects of at most ``chunk_size`` records (every
chunk but the last has exactly ``chunk_size``), numbered by record so a job can resume where
it stopped (``skip_rows``), and fills a :class:`ReadReport` with what it could not read.

Formats (by file name; ``.gz`` on CSV/TSV/JSON lines is decompressed on the fly):

- ``.csv`` / ``.tsv``: pandas' C parser in chunks. Every cell is a ``str``; an empty cell and
  a field missing from a short row are ``""`` (nothing becomes NaN; ``"NA"`` stays ``"NA"``).
  A row with *more* fields than the header is malformed: reported and skipped. Its line
  number is pandas' row count from the header (the physical line unless a quoted field spans
  lines).
- ``.jsonl`` / ``.ndjson`` (and ``.json`` holding one object per line): read line by line. A
  line that is not valid JSON, not a JSON object, or not decodable is malformed: reported with
  its 1-based line number and skipped; the rest is still read. Blank lines are skipped and
  counted (``report.blank_lines``); they do not count as records. Values are what
  ``json.loads`` gives (numbers stay numbers, nested values stay lists/dicts). A key absent
  from a record is NaN in the frame (test with ``pandas.isna``).
- ``.parquet`` / ``.pq``: ``pyarrow.parquet.ParquetFile.iter_batches`` with the columns
  projected; columns keep their Parquet types (a timestamp column arrives as datetime64).
  pyarrow decodes a row group at a time, so memory is bounded by the larger of the chunk and
  the file's row groups.

Nothing is parsed beyond that: timestamps in CSV/JSON stay strings. Records are numbered from
1 in file order, counting only records that were read (malformed lines and blank lines take no
number), so ``Chunk.first_row + i`` is the record number of row ``i`` of a chunk.
``skip_rows=N`` skips the first N records without building frames for them (Parquet skips
whole row groups from the file's metadata); the first chunk then starts at record ``N + 1``.
Malformed lines among the skipped records are still reported, so the report of a resumed run
describes the whole file.

Example:
    >>> from domaintune.stream import ReadReport, read_chunks
    >>> report = ReadReport()
    >>> for chunk in read_chunks("posts.jsonl.gz", chunk_size=2000, columns=["id", "text"],
    ...                          report=report):  # doctest: +SKIP
    ...     handle(chunk.frame, chunk.first_row)
    >>> report.malformed  # doctest: +SKIP
    [(17, 'invalid JSON: Expecting value at column 1')]
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .advice import advise
from .errors import DataError

if TYPE_CHECKING:
    import pandas as pd

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet", ".pq",
                      ".csv.gz", ".tsv.gz", ".jsonl.gz", ".ndjson.gz", ".json.gz")
MALFORMED_KEPT = 20  # malformed lines kept with their reason (all are counted)

_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
_BAD_LINE = re.compile(r"Skipping line (\d+): (.*)")
_BOM = codecs.BOM_UTF8
# what a damaged or truncated gzip stream raises while it is read
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


@dataclass
class Chunk:
    """Consecutive records of a file.

    Attributes:
        frame: the rows, with a fresh 0-based index; the columns are those asked for (in that
            order) or all the file's columns (for JSON lines: the keys found in this chunk, in
            order of first appearance).
        first_row: the 1-based record number of the first row.
        line_numbers: JSON lines only: the 1-based line number of each row (else ``None``).
    """

    frame: pd.DataFrame
    first_row: int
    line_numbers: list[int] | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def last_row(self) -> int:
        """The record number of the last row (``first_row - 1`` for an empty chunk)."""
        return self.first_row + len(self.frame) - 1


@dataclass
class ReadReport:
    """What :func:`read_chunks` read and what it could not.

    Attributes:
        rows: records yielded in chunks (not counting ``skipped``).
        skipped: records passed over because of ``skip_rows``.
        malformed: ``(line number, reason)`` of the first :data:`MALFORMED_KEPT` malformed lines.
        malformed_count: all malformed lines.
        blank_lines: blank lines of a JSON-lines file (ignored).
    """

    rows: int = 0
    skipped: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)
    malformed_count: int = 0
    blank_lines: int = 0

    def add_malformed(self, line: int, reason: str) -> None:
        self.malformed_count += 1
        if len(self.malformed) < MALFORMED_KEPT:
            self.malformed.append((line, reason))

    def summary(self, source: str = "the file") -> str:
        """One sentence: rows read, skipped, malformed lines (the first few line numbers)."""
        parts = [f"read {self.rows} rows from {source}"]
        if self.skipped:
            parts.append(f"skipped the first {self.skipped} (already read)")
        if self.malformed_count:
            lines = ", ".join(str(n) for n, _ in self.malformed[:5])
            more = " ..." if self.malformed_count > 5 else ""
            parts.append(f"{self.malformed_count} malformed line"
                         f"{'s' if self.malformed_count > 1 else ''} skipped (line "
                         f"{lines}{more}; first: {self.malformed[0][1]})")
        return "; ".join(parts)


def stream_format(path: str | Path) -> tuple[str, bool]:
    """``(format, gzipped)`` of a file name: format is csv, tsv, jsonl, json or parquet.

    Raises:
        DataError: the name has none of :data:`SUPPORTED_SUFFIXES`.
    """
    name = Path(path).name.lower()
    gzipped = name.endswith(".gz")
    stem = name[:-3] if gzipped else name
    suffix = next((s for s in _FORMATS if stem.endswith(s)), None)
    if suffix is None or (gzipped and _FORMATS[suffix] == "parquet"):
        found = "".join(Path(path).suffixes[-2:]) or "no extension"
        extra = ("; Parquet compresses inside the file, so decompress it to .parquet"
                 if suffix and gzipped else "")
        raise DataError(f"{path}: cannot stream a file of type {found!r}; expected one of "
                        f"{list(SUPPORTED_SUFFIXES)}{extra}; rename the file or convert it")
    return _FORMATS[suffix], gzipped


def read_chunks(path: str | Path, *, chunk_size: int, columns: Sequence[str] | None = None,
                encoding: str = "utf-8", report: ReadReport | None = None,
                skip_rows: int = 0) -> Iterator[Chunk]:
    """Chunks of ``chunk_size`` records of a CSV/TSV/JSON-lines/Parquet file (gzip allowed).

    The file name, its columns and (for CSV) its header are checked when this is called; the
    records are read as the chunks are consumed, so memory is bounded by ``chunk_size``
    whatever the file's size. An empty file (no bytes, a header only, no records) yields no
    chunk. See the module docstring for how each format's values look.

    Args:
        path: the file.
        chunk_size: records per chunk (the last one may have fewer).
        columns: read only these columns, in this order. CSV/TSV/Parquet: every column must be
            in the file. JSON lines: each must be a key of at least one record of the first
            chunk; records without it get NaN there.
        encoding: text encoding of CSV/TSV/JSON lines.
        report: filled in as the file is read (rows, skipped, malformed lines).
        skip_rows: skip the first N records (to resume a job); numbering is unchanged, so the
            first chunk starts at record ``N + 1``.

    Raises:
        DataError: missing file, unsupported file type, missing columns (the message lists the
            columns found), an undecodable CSV, a damaged gzip or Parquet file.

    Example:
        >>> for chunk in read_chunks("news.csv.gz", chunk_size=5000,
        ...                          columns=["id", "timestamp", "text"]):  # doctest: +SKIP
        ...     print(chunk.first_row, len(chunk.frame))
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"read_chunks: expected chunk_size to be an integer of 1 or more, "
                         f"found {chunk_size!r}")
    if isinstance(skip_rows, bool) or not isinstance(skip_rows, int) or skip_rows < 0:
        raise ValueError(f"read_chunks: expected skip_rows to be an integer of 0 or more, "
                         f"found {skip_rows!r}")
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist; check the path")
    if path.is_dir():
        raise DataError(f"expected a data file, found the directory {path}")
    kind, gzipped = stream_format(path)
    if columns is not None:
        columns = [str(c) for c in columns]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise ValueError(f"read_chunks: columns {dupes} are asked for more than once")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}; pass e.g. "
                        f"{advise('encoding', 'utf-8') or 'utf-8'}") from None
    report = report if report is not None else ReadReport()
    if path.stat().st_size == 0:
        return iter(())
    if kind == "json":
        kind = _sniff_json(path, gzipped)
    if kind == "parquet":
        chunks = _parquet_chunks(path, chunk_size, columns, report, skip_rows)
    elif kind == "jsonl":
        chunks = _jsonl_chunks(path, gzipped, chunk_size, columns, encoding, report, skip_rows)
    else:
        chunks = _csv_chunks(path, gzipped, kind, chunk_size, columns, encoding, report,
                             skip_rows)
    return _count_rows(chunks, report)


def _count_rows(chunks: Iterator[Chunk], report: ReadReport) -> Iterator[Chunk]:
    for chunk in chunks:
        report.rows += len(chunk.frame)
        yield chunk


def file_fingerprint(path: str | Path) -> str:
    """The SHA-256 of the file's bytes (read in 1 MiB blocks), as 64 hex digits.

    Example:
        >>> file_fingerprint("news.csv")  # doctest: +SKIP
        '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file; check the path")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- helpers


def _open_binary(path: Path, gzipped: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def _gzip_error(path: Path, exc: Exception, where: str = "") -> DataError:
    return DataError(f"{path}: not a readable gzip file{where} ({exc}); check that the download "
                     "or copy is complete, or remove .gz from the name if it is not compressed")


def _missing_columns(path: Path, wanted: Sequence[str], found: Sequence[str],
                     where: str = "") -> DataError:
    missing = [c for c in wanted if c not in found]
    return DataError(f"expected columns {missing} in {path}{where}, found {list(found)}; "
                     "rename the columns in the file or ask for the columns it has")


def _sniff_json(path: Path, gzipped: bool) -> str:
    """A ``.json`` file is streamed only when it holds JSON lines (starts with ``{``)."""
    try:
        with _open_binary(path, gzipped) as handle:
            head = handle.read(4096).lstrip(_BOM).lstrip()
    except _GZIP_ERRORS as exc:
        raise _gzip_error(path, exc) from None
    if head.startswith(b"[") or (head and not head.startswith(b"{")):
        raise DataError(f"{path}: expected JSON lines (one JSON object per line), found a file "
                        f"starting with {head[:1].decode('latin-1')!r}; a JSON array cannot be "
                        "streamed: write it as JSON lines (.jsonl), e.g. `jq -c '.[]'`")
    return "jsonl"


def _frame(records: list[dict], columns: Sequence[str] | None) -> pd.DataFrame:
    import pandas as pd

    # dtype=object: values stay as parsed (a column of big integer ids with one missing value
    # would otherwise become float64 and lose digits beyond 2**53)
    if columns is None:
        names = list(dict.fromkeys(k for r in records for k in r))
    else:
        names = list(columns)
    return pd.DataFrame({c: pd.Series([r.get(c) for r in records], dtype=object)
                         for c in names}, columns=names)


def _jsonl_chunks(path: Path, gzipped: bool, chunk_size: int, columns: Sequence[str] | None,
                  encoding: str, report: ReadReport, skip_rows: int) -> Iterator[Chunk]:
    utf8 = codecs.lookup(encoding).name == "utf-8"
    loads = json.loads
    records: list[dict] = []
    lines: list[int] = []
    record_no = 0
    checked = columns is None
    lineno = 0
    try:
        with _open_binary(path, gzipped) as handle:
            for lineno, raw in enumerate(handle, start=1):
                if lineno == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                try:
                    obj = loads(raw if utf8 else raw.decode(encoding))
                except UnicodeDecodeError as exc:
                    report.add_malformed(lineno, f"cannot decode as {encoding} (byte "
                                                 f"0x{raw[exc.start]:02x} at column "
                                                 f"{exc.start + 1}); pass the file's encoding")
                    continue
                except ValueError as exc:  # json.JSONDecodeError
                    if not raw.strip():
                        report.blank_lines += 1
                        continue
                    reason = (f"invalid JSON: {exc.msg} at column {exc.colno}"
                              if isinstance(exc, json.JSONDecodeError) else f"invalid JSON: {exc}")
                    report.add_malformed(lineno, reason)
                    continue
                if type(obj) is not dict:
                    report.add_malformed(lineno, f"expected a JSON object, found "
                                                 f"{_json_type(obj)}")
                    continue
                record_no += 1
                if record_no <= skip_rows:
                    report.skipped += 1
                    continue
                records.append(obj)
                lines.append(lineno)
                if len(records) == chunk_size:
                    if not checked:
                        _check_json_columns(path, records, columns)
                        checked = True
                    yield Chunk(_frame(records, columns), record_no - len(records) + 1, lines)
                    records, lines = [], []
    except _GZIP_ERRORS as exc:
        raise _gzip_error(path, exc, f" after line {lineno}") from None
    if records:
        if not checked:
            _check_json_columns(path, records, columns)
        yield Chunk(_frame(records, columns), record_no - len(records) + 1, lines)


def _json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(obj), type(obj).__name__)


def _check_json_columns(path: Path, records: list[dict], columns: Sequence[str] | None) -> None:
    if columns is None:
        return
    found: dict[str, None] = {}
    for record in records:
        found.update(dict.fromkeys(record))
    if any(c not in found for c in columns):
        raise _missing_columns(path, columns, list(found),
                               f" (no record of the first {len(records)} has them)")


def _csv_header(path: Path, gzipped: bool, sep: str, encoding: str) -> list[str] | None:
    try:
        with _open_binary(path, gzipped) as raw, io.TextIOWrapper(
                raw, encoding=encoding, newline="") as text:
            header = next(csv.reader(text, delimiter=sep), None)
    except _GZIP_ERRORS as exc:
        raise _gzip_error(path, exc) from None
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc, "in the header") from None
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    return header


def _decode_error(path: Path, encoding: str, exc: UnicodeDecodeError, where: str) -> DataError:
    fix = advise("encoding", "latin-1")
    return DataError(f"{path}: cannot decode {where} as {encoding} ({exc.reason}); "
                     + (f"pass {fix} (or the file's real encoding)" if fix else
                        "convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"))


def _csv_chunks(path: Path, gzipped: bool, kind: str, chunk_size: int,
                columns: Sequence[str] | None, encoding: str, report: ReadReport,
                skip_rows: int) -> Iterator[Chunk]:
    import pandas as pd

    from .data import _check_duplicate_columns

    sep = "\t" if kind == "tsv" else ","
    header = _csv_header(path, gzipped, sep, encoding)
    if not header:
        return iter(())
    _check_duplicate_columns(header, str(path))  # pandas would rename them 'x.1' silently
    if columns is not None and any(c not in header for c in columns):
        raise _missing_columns(path, columns, header)
    reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, chunksize=chunk_size,
                         encoding=encoding, compression="gzip" if gzipped else None,
                         usecols=list(columns) if columns is not None else None,
                         on_bad_lines="warn", engine="c")
    return _rechunk_frames(_csv_frames(path, reader, encoding, report), chunk_size, columns,
                           report, skip_rows)


def _csv_frames(path: Path, reader: Any, encoding: str, report: ReadReport
                ) -> Iterator[pd.DataFrame]:
    import pandas as pd

    with reader:
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                try:
                    frame = next(reader)
                except StopIteration:
                    frame = None
                except pd.errors.EmptyDataError:
                    return
                except UnicodeDecodeError as exc:
                    raise _decode_error(path, encoding, exc, "a row") from None
                except _GZIP_ERRORS as exc:
                    raise _gzip_error(path, exc) from None
                except pd.errors.ParserError as exc:
                    raise DataError(f"{path}: malformed {path.suffix.lstrip('.').upper()} "
                                    f"({exc}); check the quoting around that line") from None
            for warning in caught:
                if not issubclass(warning.category, pd.errors.ParserWarning):
                    warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                           warning.lineno)
                    continue
                for match in _BAD_LINE.finditer(str(warning.message)):
                    report.add_malformed(int(match.group(1)), match.group(2).strip())
            if frame is None:
                return
            yield frame


def _rechunk_frames(frames: Iterator[pd.DataFrame], chunk_size: int,
                    columns: Sequence[str] | None, report: ReadReport,
                    skip_rows: int) -> Iterator[Chunk]:
    """Exactly ``chunk_size`` rows per chunk (pandas drops bad lines from its chunks), after
    skipping ``skip_rows`` rows."""
    import pandas as pd

    pending: list[pd.DataFrame] = []
    size = 0
    next_row = 1  # record number of the first pending row
    to_skip = skip_rows
    for frame in frames:
        if to_skip:
            n = min(to_skip, len(frame))
            frame = frame.iloc[n:]
            to_skip -= n
            report.skipped += n
            next_row += n
        if not len(frame):
            continue
        pending.append(frame)
        size += len(frame)
        while size >= chunk_size:
            joined = pending[0] if len(pending) == 1 else pd.concat(pending)
            yield _chunk(joined.iloc[:chunk_size], next_row, columns)
            next_row += chunk_size
            rest = joined.iloc[chunk_size:]
            pending, size = ([rest] if len(rest) else []), len(rest)
    if size:
        yield _chunk(pending[0] if len(pending) == 1 else pd.concat(pending), next_row, columns)


def _chunk(frame: pd.DataFrame, first_row: int, columns: Sequence[str] | None) -> Chunk:
    if columns is not None and list(frame.columns) != list(columns):
        frame = frame[list(columns)]
    return Chunk(frame.reset_index(drop=True), first_row, None)


def _parquet_chunks(path: Path, chunk_size: int, columns: Sequence[str] | None,
                    report: ReadReport, skip_rows: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}); check that the copy is "
                        "complete or rewrite it with pandas.DataFrame.to_parquet") from None
    names = parquet.schema_arrow.names
    if columns is not None and any(c not in names for c in columns):
        raise _missing_columns(path, columns, names)
    meta = parquet.metadata
    groups, skipped = [], 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if not groups and skipped + n <= skip_rows:  # only leading row groups
            skipped += n
        else:
            groups.append(i)
    report.skipped += skipped
    if not groups:
        return iter(())
    batches = parquet.iter_batches(batch_size=chunk_size, row_groups=groups,
                                   columns=list(columns) if columns is not None else None)
    frames = _arrow_frames(path, batches)
    # rows of the first kept row group that are still to skip: done by the re-chunker, which
    # starts numbering after the whole row groups skipped here
    chunks = _rechunk_frames(frames, chunk_size, columns, report, skip_rows - skipped)
    return (Chunk(c.frame, c.first_row + skipped, None) for c in chunks)


def _arrow_frames(path: Path, batches: Iterator[Any]) -> Iterator[pd.DataFrame]:
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:
            raise DataError(f"{path}: cannot read a row group of the Parquet file ({exc}); "
                            "check that the copy is complete") from None
        # integers with nulls stay integers (objects), not float64 that loses digits
        yield batch.to_pandas(integer_object_nulls=True)


"""``finance-monitor score``: stream input files through the monitor, resumably and idempotently.

Each input file is read in chunks of ``input.chunk_size`` records (the core's
:func:`domaintune.stream.read_chunks`: CSV/TSV/JSONL/Parquet, gzip allowed, memory flat in the
file's size). Every chunk is one :meth:`Monitor.process` call whose write transaction also
stores the file's checkpoint (keyed by the SHA-256 of its bytes): the records consumed and the
running counts.

- **Killed at any point** (even SIGKILL): the chunk in flight is rolled back; running the same
  command again resumes after the last committed chunk. Because windows close by event time,
  document by document in input order, the stored documents, aggregates and alerts (same
  ``alert_id``) are those of an uninterrupted run.
- **Run twice**: a finished input is recognised by its fingerprint and not read again (its
  counts are reported from the checkpoint); documents already stored are never scored or counted
  twice.
- ``--output`` is written at the end, atomically (a temporary file renamed into place), from
  the database: one row per document id of the inputs, in input order (the first occurrence
  of an id), so an interrupted and an uninterrupted run write the same rows.
- ``--alerts FILE.jsonl`` receives every stored alert not in it yet (each ``alert_id`` once);
  webhook deliveries are attempted after the inputs, and what still fails stays in the outbox.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domaintune import DataError

from .records import MAX_EXAMPLES, Document, RowIssues, iso_z
from .service import Monitor

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = (".csv", ".parquet", ".jsonl")


@dataclass
class RunSummary:
    """What a ``score`` run did (totals over its inputs, including resumed parts)."""

    inputs: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    naive_timestamps: int = 0
    alerts_new: int = 0
    alerts_jsonl: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    output: str | None = None
    output_rows: int = 0
    seconds: float = 0.0
    documents_per_s: float = 0.0
    open_windows_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "read": self.counts["read"] + sum(self.skipped.values()),
                "scored": self.counts["scored"], "skipped": dict(self.skipped),
                "duplicates": self.counts["duplicates"],
                "already_stored": self.counts["already_stored"], "late": self.counts["late"],
                "naive_timestamps": self.naive_timestamps, "alerts_raised": self.alerts_new,
                "alerts_written_jsonl": self.alerts_jsonl, "deliveries": self.deliveries,
                "output": self.output, "output_rows": self.output_rows,
                "seconds": round(self.seconds, 2),
                "documents_per_s": round(self.documents_per_s, 1),
                "open_windows_from": self.open_windows_from, "examples": self.examples}


def _input_counts(raw: dict[str, Any]) -> tuple[Counter, Counter, int, list[str]]:
    counts = Counter({k: v for k, v in raw.items()
                      if isinstance(v, int) and not k.startswith(("skip_", "naive"))})
    skipped = Counter({k[5:]: v for k, v in raw.items() if k.startswith("skip_")})
    return counts, skipped, int(raw.get("naive_timestamps", 0)), list(raw.get("examples", []))


def _checkpoint_counts(counts: Counter, issues: RowIssues, examples: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(counts)
    out.update({f"skip_{k}": v for k, v in issues.skipped.items()})
    out["naive_timestamps"] = issues.naive_timestamps
    out["examples"] = examples[:MAX_EXAMPLES]
    return out


def iter_documents(path: Path, monitor: Monitor, source: str, *, skip_rows: int,
                   issues: RowIssues, report: Any) -> Iterator[tuple[list[Document], int]]:
    """``(documents, next_record)`` per chunk of ``path`` from record ``skip_rows + 1`` on."""
    from domaintune.stream import read_chunks

    cfg = monitor.config.input
    parser = monitor.parser
    checked = skip_rows > 0  # checked on the first chunk of the file (by the run that read it)
    for chunk in read_chunks(path, chunk_size=cfg.chunk_size, encoding=cfg.encoding,
                             report=report, skip_rows=skip_rows):
        frame = chunk.frame
        if not checked:
            missing = [c for c in (cfg.text_column, cfg.time_column) if c not in frame.columns]
            if missing:
                option = {cfg.text_column: "--text-column", cfg.time_column: "--time-column"}
                raise DataError(
                    f"{path}: expected the column{'s' if len(missing) > 1 else ''} "
                    f"{missing}, found {list(frame.columns)[:20]}; name the right ones with "
                    + " and ".join(f"{option[m]} COLUMN" for m in missing))
            checked = True
        docs = []
        records = frame.to_dict("records")
        lines = chunk.line_numbers
        for i, row in enumerate(records):
            number = chunk.first_row + i
            where = f"{path}:{'line ' + str(lines[i]) if lines else 'row ' + str(number)}"
            doc = parser.parse(row, where=where, source=source, source_row=number, issues=issues)
            if doc is not None:
                docs.append(doc)
        yield docs, chunk.first_row - 1 + len(records)


def score_inputs(monitor: Monitor, inputs: Sequence[str | Path], *, output: str | Path | None = None,
                 alerts_jsonl: str | Path | None = None, final: bool = False,
                 progress: bool = True, deliver: bool = True,
                 on_chunk: Callable[[int], None] | None = None) -> RunSummary:
    """Score every input file into the monitor's database (see the module doc).

    Args:
        monitor: the monitor.
        inputs: files (CSV/TSV/JSONL/Parquet, gzip allowed).
        output: write one row per document here (``.csv``, ``.parquet`` or ``.jsonl``).
        alerts_jsonl: append new alerts here (default ``alerts.jsonl`` of the config).
        final: close every open window at the end (the end of the stream).
        progress: a progress bar on stderr (documents/s).
        deliver: attempt the outbox's webhook deliveries at the end.
        on_chunk: called with the number of documents after each committed chunk (tests).

    Raises:
        DataError: an input is missing or unreadable, or lacks the text/time column.
    """
    from domaintune.stream import file_fingerprint

    given = [Path(p) for p in inputs]
    for p in given:
        if not p.is_file():
            raise DataError(f"expected an input file, found no {p}; check the path")
    if output is not None:
        if Path(output).suffix.lower() not in OUTPUT_FORMATS:
            raise DataError(f"--output {output}: expected a file ending in "
                            f"{', '.join(OUTPUT_FORMATS)}, found "
                            f"{Path(output).suffix or 'no suffix'!r}")
        if any(Path(output).resolve() == p.resolve() for p in given):
            raise DataError(f"--output {output} is one of the inputs; write the scores to another "
                            "file (the input is never overwritten)")
    summary = RunSummary()
    started = time.perf_counter()
    bar = _progress(progress)
    paths: list[Path] = []
    fingerprints: list[str] = []
    try:
        for path in given:
            source = file_fingerprint(path)[:40]
            if source in fingerprints:  # the same bytes again (the same file, or a copy)
                first = paths[fingerprints.index(source)]
                summary.inputs.append({"path": str(path), "fingerprint": source,
                                       "status": f"skipped: the same content as {first}"})
                continue
            paths.append(path)
            fingerprints.append(source)
            info = _score_file(monitor, path, source, summary, bar, on_chunk)
            summary.inputs.append(info)
        if final:
            result = monitor.process([], final=True)
            summary.alerts_new += len(result.alerts)
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - started
    scored = summary.counts["scored"]
    summary.documents_per_s = scored / summary.seconds if summary.seconds > 0 else 0.0
    target = alerts_jsonl or monitor.config.alerts.jsonl
    if target:
        from .alerts import JsonlSink

        summary.alerts_jsonl = JsonlSink(target).write(monitor.alerts()[::-1])
    if output is not None:
        summary.output = str(output)
        summary.output_rows = write_output(monitor, paths, fingerprints, Path(output))
    if deliver:
        from .delivery import deliver_pending, pending_count

        if monitor.targets or pending_count(monitor.store):  # earlier runs' failures too
            summary.deliveries = deliver_pending(monitor.store, monitor.config.alerts).to_dict()
    _, closed = monitor.store.run(lambda conn: monitor.store.window_state(
        conn, monitor.window.value))
    summary.open_windows_from = iso_z(closed) if closed else None
    return summary


def _progress(enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(unit=" docs", unit_scale=True, desc="scoring", file=sys.stderr, mininterval=1.0)


def _score_file(monitor: Monitor, path: Path, source: str, summary: RunSummary, bar,
                on_chunk) -> dict[str, Any]:
    from domaintune.stream import ReadReport

    store = monitor.store
    cp = store.run(lambda conn: store.checkpoint(conn, source))
    info: dict[str, Any] = {"path": str(path), "fingerprint": source}
    if cp is not None and cp["finished"]:
        counts, skipped, naive, examples = _input_counts(cp["counts"])
        info.update(status="already scored (nothing to do)", documents=counts["scored"])
        _add(summary, counts, skipped, naive, examples)
        return info
    before = dict(cp["counts"]) if cp else {}
    counts, skipped, naive, examples = _input_counts(before)
    # the reader reports the malformed lines of the whole file again, skipped part included
    skipped.pop("malformed_line", None)
    examples = [e for e in examples if ": malformed line" not in e]
    issues = RowIssues(skipped=Counter(skipped), naive_timestamps=naive, examples=list(examples))
    start_record = int(cp["next_record"]) if cp else 0
    info["status"] = f"resumed after record {start_record}" if start_record else "scored"
    report = ReadReport()
    total = Counter(counts)
    malformed_seen = 0
    next_record = start_record
    for docs, next_record in iter_documents(path, monitor, source, skip_rows=start_record,
                                            issues=issues, report=report):
        malformed_seen = _count_malformed(report, malformed_seen, issues, path)
        state = _checkpoint_counts(total, issues, issues.examples)
        result = monitor.process(docs, checkpoint=(source, str(path), next_record, state))
        total.update(result.counts)
        if bar is not None:
            bar.update(len(docs))
            bar.set_postfix(alerts=total["alerts"], refresh=False)
        if on_chunk is not None:
            on_chunk(len(docs))
    _count_malformed(report, malformed_seen, issues, path)
    final_counts = _checkpoint_counts(total, issues, issues.examples)
    store.run(lambda conn: store.save_checkpoint(conn, source, str(path), next_record, True,
                                                 final_counts), write=True)
    counts, skipped, naive, examples = _input_counts(final_counts)
    _add(summary, counts, skipped, naive, examples)
    info["documents"] = counts["scored"]
    return info


def _count_malformed(report: Any, seen: int, issues: RowIssues, path: Path) -> int:
    """Count the malformed lines the reader reported since ``seen`` (with examples for those
    it kept); returns the new total."""
    kept = report.malformed[seen:]
    for line, reason in kept:
        issues.skip("malformed_line", f"{path}:line {line}", reason)
    extra = report.malformed_count - seen - len(kept)  # beyond the reader's kept examples
    if extra > 0:
        issues.skipped["malformed_line"] += extra
    return report.malformed_count


def _add(summary: RunSummary, counts: Counter, skipped: Counter, naive: int,
         examples: list[str]) -> None:
    summary.counts.update(counts)
    summary.skipped.update(skipped)
    summary.naive_timestamps += naive
    summary.alerts_new += counts.get("alerts", 0)
    room = MAX_EXAMPLES - len(summary.examples)
    summary.examples += examples[:max(room, 0)]


OUTPUT_COLUMNS = ("id", "timestamp", "tickers", "label", "score", "p_negative", "p_neutral",
                  "p_positive", "topic", "late")


def output_schema():
    """The Arrow schema of a Parquet ``--output`` (fixed, so that chunks agree)."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("timestamp", pa.string()),
                      ("tickers", pa.list_(pa.string())), ("label", pa.string()),
                      ("score", pa.float64()), ("p_negative", pa.float64()),
                      ("p_neutral", pa.float64()), ("p_positive", pa.float64()),
                      ("topic", pa.string()), ("late", pa.bool_())])


class _OutputWriter:
    """Appends frames to a CSV, JSON-lines or Parquet file."""

    def __init__(self, path: Path, suffix: str) -> None:
        self.path, self.suffix = path, suffix
        self.rows = 0
        self._text = open(path, "w", encoding="utf-8", newline="") if suffix != ".parquet" else None
        self._parquet = None

    def write(self, frame) -> None:
        if self.suffix == ".csv":
            frame = frame.assign(tickers=frame["tickers"].map(";".join))
            frame.to_csv(self._text, index=False, header=self.rows == 0, lineterminator="\n")
        elif self.suffix == ".jsonl":
            text = frame.to_json(orient="records", lines=True, force_ascii=False)
            self._text.write(text if text.endswith("\n") else text + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, schema=output_schema(), preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
        self.rows += len(frame)

    def close(self, empty) -> None:
        if self.rows == 0:
            if self.suffix == ".csv":
                self._text.write(",".join(OUTPUT_COLUMNS) + "\n")
            elif self.suffix == ".parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pandas(empty, schema=output_schema(),
                                                    preserve_index=False), self.path)
        if self._text is not None:
            self._text.flush()
            os.fsync(self._text.fileno())
            self._text.close()
        if self._parquet is not None:
            self._parquet.close()
        if self.suffix == ".parquet":
            with open(self.path, "rb+") as handle:
                os.fsync(handle.fileno())


def write_output(monitor: Monitor, paths: Sequence[Path], sources: Sequence[str],
                 output: Path) -> int:
    """One row per document id of ``paths`` (first occurrence, input order), from the store;
    written to a temporary file in the same folder, then renamed into place."""
    import pandas as pd

    from domaintune.persistence import file_mode

    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    ours = set(sources)
    emitted_elsewhere: set[str] = set()  # ids first seen in another input (usually none)
    out = _OutputWriter(tmp, output.suffix.lower())
    try:
        for path, source in zip(paths, sources, strict=True):
            issues = RowIssues()
            for docs, _ in iter_documents(path, monitor, source, skip_rows=0, issues=issues,
                                          report=None):
                stored = monitor.store.run(
                    lambda conn, d=docs: monitor.store.documents(conn, [x.doc_id for x in d]))
                rows = []
                for d in docs:
                    r = stored.get(d.doc_id)
                    if r is None:
                        continue
                    if (r["source"], int(r["source_row"])) != (d.source, d.source_row):
                        if r["source"] in ours or d.doc_id in emitted_elsewhere:
                            continue  # a later occurrence of an id of these inputs
                        emitted_elsewhere.add(d.doc_id)
                    rows.append({"id": d.doc_id, "timestamp": iso_z(r["ts"]),
                                 "tickers": list(r["tickers"]), "label": r["label"],
                                 "score": r["score"], "p_negative": r["p_negative"],
                                 "p_neutral": r["p_neutral"], "p_positive": r["p_positive"],
                                 "topic": r["topic"], "late": bool(r["late"])})
                if rows:
                    out.write(pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS)))
        out.close(pd.DataFrame(columns=list(OUTPUT_COLUMNS)))
        os.chmod(tmp, file_mode())
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out.rows

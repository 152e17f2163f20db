"""``finance-monitor watch DIR|-``: score files as they arrive in a folder, or JSON lines from
standard input, and raise alerts as windows close.

- **A folder**: every ``interval_s`` the folder is listed; a file with a supported extension
  (``.csv``, ``.tsv``, ``.jsonl``, ``.ndjson``, ``.parquet``, each optionally ``.gz``), not hidden
  (no leading ``.``) and whose size did not change since the previous listing (so a file still
  being copied waits) is scored with the batch job (:func:`finance_monitor.batch.score_inputs`):
  resumable, and a file seen before (same content) is not scored again, also after a restart.
- **Standard input** (``-``): one JSON object per line (the input columns); lines are scored in
  batches of ``input.chunk_size`` or after ``interval_s`` without a new line; a malformed line
  is reported with its number and skipped.
- A file that cannot be scored (a missing column, a damaged gzip) is reported and skipped; the
  watcher goes on. A file rewritten with new content (other size or time) is scored again
  (documents already stored are skipped).
- Ctrl-C (SIGINT) or SIGTERM stops it after the chunk in flight commits (a file interrupted so
  is resumed by the next run); a second Ctrl-C stops at once (the chunk in flight is rolled
  back). Nothing is half-written either way.
- Standard input is scored in batches of at most ``input.chunk_size`` lines, at the latest
  ``interval_s`` after the first line of the batch arrived.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from domaintune import DomaintuneError

from .records import RowIssues, document_from_mapping
from .service import Monitor

logger = logging.getLogger(__name__)

SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")


def _supported(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith("."):
        return False
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(SUFFIXES)


class Stopped(Exception):
    """Raised after a committed chunk once the watcher was asked to stop."""


class Stopper:
    """Set by SIGINT/SIGTERM; the loops check it after every committed chunk. A second Ctrl-C
    stops at once (Python's default: KeyboardInterrupt; the chunk in flight is rolled back)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.event.set()
        signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM
                      else signal.default_int_handler)

    def check(self, _documents: int = 0) -> None:
        if self.event.is_set():
            raise Stopped

    @property
    def stopped(self) -> bool:
        return self.event.is_set()


def watch_folder(monitor: Monitor, folder: Path, *, interval_s: float = 2.0,
                 once: bool = False, stopper: Stopper | None = None,
                 say: Callable[[str], None] = print) -> dict[str, int]:
    """Score new files of ``folder`` until stopped (``once``: the files there now, then return)."""
    from .batch import score_inputs

    stopper = stopper or Stopper()
    sizes: dict[Path, int] = {}
    done: set[tuple[Path, int, int]] = set()  # (path, size, mtime): a rewritten file is new
    totals = {"files": 0, "documents": 0, "alerts": 0, "failed": 0}
    while not stopper.stopped:
        ready = []
        for path in sorted(p for p in folder.iterdir() if p.is_file() and _supported(p)):
            stat = path.stat()
            key = (path, stat.st_size, stat.st_mtime_ns)
            if key in done:
                continue
            if once or sizes.get(path) == stat.st_size:
                ready.append(key)
            sizes[path] = stat.st_size
        for key in ready:
            path = key[0]
            try:
                summary = score_inputs(monitor, [path], progress=False, on_chunk=stopper.check)
            except Stopped:
                say(f"{path.name}: stopped after the last committed chunk (resumed next time)")
                break
            except DomaintuneError as exc:  # one bad file does not stop the watcher
                done.add(key)
                totals["failed"] += 1
                say(f"{path.name}: not scored: {exc}")
                continue
            done.add(key)
            totals["files"] += 1
            totals["documents"] += summary.counts["scored"]
            totals["alerts"] += summary.alerts_new
            say(f"{path.name}: {summary.counts['scored']} documents scored, "
                f"{summary.alerts_new} alerts"
                + (f", {sum(summary.skipped.values())} rows skipped" if summary.skipped else ""))
        if once:
            break
        stopper.event.wait(interval_s)
    return totals


def watch_stream(monitor: Monitor, stream: TextIO, *, interval_s: float = 2.0,
                 stopper: Stopper | None = None, say: Callable[[str], None] = print,
                 deliver: bool = True) -> dict[str, int]:
    """Score JSON lines from ``stream`` in batches until it ends or the watcher is stopped."""
    stopper = stopper or Stopper()
    lines: queue.Queue[str | None] = queue.Queue()

    def reader() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True, name="finance-monitor-stdin").start()
    totals = {"lines": 0, "documents": 0, "alerts": 0, "skipped": 0}
    batch: list = []
    issues = RowIssues()
    size = monitor.config.input.chunk_size
    ended = False
    oldest = [0.0]  # when the first line of the batch arrived

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        result = monitor.process(batch)
        totals["documents"] += result.counts["scored"]
        totals["alerts"] += len(result.alerts)
        for alert in result.alerts:
            say(f"ALERT {alert.severity} {alert.series_kind} {alert.series_key} "
                f"{alert.window_start}: {alert.alert_id}")
        if deliver and result.alerts and monitor.targets:
            from .delivery import deliver_pending

            deliver_pending(monitor.store, monitor.config.alerts)
        batch = []

    while not stopper.stopped and not ended:
        wait = interval_s if not batch else max(0.0, oldest[0] + interval_s - time.monotonic())
        try:
            line = lines.get(timeout=wait)
        except queue.Empty:
            flush()
            continue
        if line is None:
            ended = True
            break
        totals["lines"] += 1
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            totals["skipped"] += 1
            say(f"stdin line {totals['lines']}: skipped, not a JSON object ({exc})")
            continue
        doc = document_from_mapping(item, monitor.parser, source="stdin",
                                    row=totals["lines"], issues=issues)
        if doc is None:
            totals["skipped"] += 1
            say(f"skipped {issues.examples[-1] if issues.examples else 'a row'}")
            issues.examples.clear()
            continue
        if not batch:
            oldest[0] = time.monotonic()
        batch.append(doc)
        if len(batch) >= size or time.monotonic() - oldest[0] >= interval_s:
            flush()
    flush()
    return totals


def run_watch(monitor: Monitor, target: str, *, interval_s: float = 2.0, once: bool = False,
              say: Callable[[str], None] | None = None) -> dict[str, int]:
    """The ``watch`` command: a folder, or ``-`` for standard input."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    stopper = Stopper()
    stopper.install()
    started = time.perf_counter()
    if target == "-":
        say("reading JSON lines from standard input (Ctrl-C to stop)")
        totals = watch_stream(monitor, sys.stdin, interval_s=interval_s, stopper=stopper, say=say)
    else:
        folder = Path(target)
        if not folder.is_dir():
            from domaintune import DataError

            raise DataError(f"expected a folder to watch or '-' for standard input, found "
                            f"{target!r}; create the folder or check the path")
        say(f"watching {folder} every {interval_s:g} s (Ctrl-C to stop)")
        totals = watch_folder(monitor, folder, interval_s=interval_s, once=once,
                              stopper=stopper, say=say)
    totals["seconds"] = round(time.perf_counter() - started, 1)
    return totals

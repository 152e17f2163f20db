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
- Ctrl-C (SIGINT) or SIGTERM stops it after the batch in flight: nothing half-written.
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


class Stopper:
    """Set by SIGINT/SIGTERM; the loops check it between batches."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.event.set())

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
    done: set[Path] = set()
    totals = {"files": 0, "documents": 0, "alerts": 0}
    while not stopper.stopped:
        ready = []
        for path in sorted(p for p in folder.iterdir() if p.is_file() and _supported(p)):
            if path in done:
                continue
            size = path.stat().st_size
            if once or sizes.get(path) == size:
                ready.append(path)
            sizes[path] = size
        for path in ready:
            if stopper.stopped:
                break
            summary = score_inputs(monitor, [path], progress=False)
            done.add(path)
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
        try:
            line = lines.get(timeout=interval_s)
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
        batch.append(doc)
        if len(batch) >= size:
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

"""Dynamic micro-batching: concurrent requests' texts run through the model together.

A model answers 32 texts in one forward pass much faster than 32 texts one by one. The
:class:`MicroBatcher` queues what the routes submit and hands the model a batch as soon as
``max_batch_size`` items are waiting or the oldest has waited ``max_wait_ms``; each request
gets its own answers back, in order. The model runs in one dedicated worker thread, never on
the event loop, so the server keeps accepting and answering (``/health``, errors) while the
model computes.

Example:
    >>> import asyncio
    >>> batcher = MicroBatcher(lambda texts: [len(t) for t in texts], max_wait_ms=1, name="len")
    >>> batcher.start()
    >>> asyncio.run(batcher.submit_many(["a", "bb", "ccc"]))
    [1, 2, 3]
    >>> batcher.run("dddd")  # from a thread that is not the event loop
    4
    >>> batcher.shutdown()
    True
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import ApiError

logger = logging.getLogger(__name__)

X = TypeVar("X")
Y = TypeVar("Y")
_STOP = object()


class BatcherNotRunning(ApiError):
    """A submit while the batcher is not running (the server is starting or shutting down):
    answered as 503 ``not_ready``."""

    def __init__(self, name: str) -> None:
        super().__init__(503, "not_ready", f"the {name!r} model is not running (the server is "
                                           "starting or shutting down); retry in a moment")


@dataclass(eq=False)
class _Job:
    """One submit: its items, where their answers go, and how far the worker got."""

    items: list[Any]
    future: Future
    enqueued: float = field(default_factory=time.monotonic)
    results: list[Any] = field(default_factory=list)
    next: int = 0  # the first item not yet put in a batch
    answered: int = 0
    failed: bool = False

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)

    @property
    def remaining(self) -> int:
        return len(self.items) - self.next


class MicroBatcher(Generic[X, Y]):
    """Batches the items of concurrent submits for ``fn``, run in one worker thread.

    Args:
        fn: ``fn(items) -> results``, one result per item, in order (e.g. a model's predict
            on a list of texts). Called from the worker thread only, one batch at a time.
        max_batch_size: most items per call of ``fn`` (a submit with more items is split
            over several calls; its answers still come back together, in order).
        max_wait_ms: how long the oldest waiting item may wait for others to join its batch
            (0: no waiting; batches then form only while ``fn`` is busy).
        name: the batcher's name (metrics label ``batcher``, messages).
        isolate_failures: when ``fn`` raises on a batch that holds several submits, run each
            submit's items again alone, so that only the submit that makes ``fn`` fail gets
            the error (False: every submit in the failed batch gets it).

    The server sets :attr:`observer` (``observer(batch_size, seconds)``, called after each
    batch) to feed its metrics; :attr:`batch_sizes` keeps the sizes of the latest batches.
    """

    def __init__(self, fn: Callable[[list[X]], Sequence[Y]], *, max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, name: str = "model",
                 isolate_failures: bool = True) -> None:
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise ValueError(f"MicroBatcher max_batch_size: expected an integer >= 1, found "
                             f"{max_batch_size!r}")
        if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)) or \
                not 0 <= max_wait_ms <= 60_000:
            raise ValueError(f"MicroBatcher max_wait_ms: expected a number of milliseconds from 0 "
                             f"to 60000, found {max_wait_ms!r}")
        if not callable(fn):
            raise TypeError(f"MicroBatcher fn: expected a callable, found {type(fn).__name__}")
        self.fn = fn
        self.max_batch_size = int(max_batch_size)
        self.max_wait_ms = float(max_wait_ms)
        self.name = str(name)
        self.isolate_failures = bool(isolate_failures)
        self.observer: Callable[[int, float], None] | None = None
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=10_000)
        self.n_batches = 0
        self.n_items = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._accepting = False

    def __repr__(self) -> str:
        return (f"MicroBatcher(name={self.name!r}, max_batch_size={self.max_batch_size}, "
                f"max_wait_ms={self.max_wait_ms:g}, running={self.running})")

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (submits are accepted)."""
        return self._accepting and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the worker thread (idempotent; a stopped batcher can start again)."""
        with self._lock:
            if self._accepting:
                return
            if self._thread is not None and self._thread.is_alive():  # still draining
                self._thread.join()
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._work, args=(self._queue,),
                                            name=f"batcher-{self.name}", daemon=True)
            self._accepting = True
            self._thread.start()

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop accepting, finish every queued item, stop the worker; True when it stopped
        within ``timeout`` seconds (blocking: from async code use :meth:`stop`)."""
        with self._lock:
            thread = self._thread
            if self._accepting:
                self._accepting = False
                self._queue.put(_STOP)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    async def stop(self, timeout: float | None = None) -> bool:
        """Drain queued work, then stop (the server calls it at shutdown)."""
        return await asyncio.to_thread(self.shutdown, timeout)

    # ------------------------------------------------------------------ submitting
    def _enqueue(self, items: Sequence[X]) -> Future:
        future: Future = Future()
        items = list(items)
        with self._lock:
            if not self._accepting:
                raise BatcherNotRunning(self.name)
            if not items:
                future.set_result([])
            else:
                self._queue.put(_Job(items, future))
        return future

    async def submit_many(self, items: Sequence[X]) -> list[Y]:
        """The results of ``fn`` for ``items``, in order; the items may share batches with
        other submits. Raises what ``fn`` raised for their batch, or :class:`BatcherNotRunning`."""
        return await asyncio.wrap_future(self._enqueue(items))

    async def submit(self, item: X) -> Y:
        """The result of ``fn`` for one item (see :meth:`submit_many`)."""
        return (await self.submit_many([item]))[0]

    def run_many(self, items: Sequence[X], timeout: float | None = None) -> list[Y]:
        """:meth:`submit_many` for a thread that is not an event loop (blocks)."""
        return self._enqueue(items).result(timeout)

    def run(self, item: X, timeout: float | None = None) -> Y:
        """:meth:`submit` for a thread that is not an event loop (blocks)."""
        return self.run_many([item], timeout)[0]

    # ------------------------------------------------------------------ the worker thread
    def _work(self, jobs: queue.SimpleQueue[Any]) -> None:
        pending: collections.deque[_Job] = collections.deque()
        stopping = False
        wait = self.max_wait_ms / 1000.0
        while True:
            try:
                if not pending:
                    if stopping:
                        return
                    job = jobs.get()
                    if job is _STOP:
                        stopping = True
                        continue
                    pending.append(job)
                waiting = sum(j.remaining for j in pending)
                deadline = pending[0].enqueued + wait  # the oldest item waits at most max_wait
                while waiting < self.max_batch_size and not stopping:
                    left = deadline - time.monotonic()
                    try:
                        job = jobs.get(timeout=left) if left > 0 else jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stopping = True
                        break
                    pending.append(job)
                    waiting += job.remaining
                if stopping:  # everything submitted before stop() is queued: take it all
                    while True:
                        try:
                            job = jobs.get_nowait()
                        except queue.Empty:
                            break
                        if job is not _STOP:
                            pending.append(job)
                self._next_batch(pending)
            except Exception:  # never let the worker die: its waiters would hang
                logger.exception("batcher %r: unexpected error in the worker thread", self.name)

    def _next_batch(self, pending: collections.deque[_Job]) -> None:
        segments: list[tuple[_Job, int, int]] = []  # (job, first item, end)
        size = 0
        while pending and size < self.max_batch_size:
            job = pending[0]
            if job.failed or job.future.done():  # failed elsewhere, or cancelled by its caller
                pending.popleft()
                continue
            take = min(job.remaining, self.max_batch_size - size)
            segments.append((job, job.next, job.next + take))
            job.next += take
            size += take
            if job.remaining == 0:
                pending.popleft()
        if segments:
            self._run_batch(segments)

    def _call(self, items: list[Any]) -> list[Any]:
        out = list(self.fn(items))
        if len(out) != len(items):
            raise RuntimeError(f"batcher {self.name!r}: fn returned {len(out)} results for "
                               f"{len(items)} items; it must return one result per item")
        return out

    def _run_batch(self, segments: list[tuple[_Job, int, int]]) -> None:
        items = [x for job, a, b in segments for x in job.items[a:b]]
        start = time.perf_counter()
        try:
            out = self._call(items)
        except Exception as exc:
            if self.isolate_failures and len({id(job) for job, _, _ in segments}) > 1:
                for job, a, b in segments:  # find the submit(s) that fail alone
                    try:
                        self._answer(job, a, self._call(job.items[a:b]))
                    except Exception as alone:
                        self._fail(job, alone)
            else:
                for job, _, _ in segments:
                    self._fail(job, exc)
        else:
            offset = 0
            for job, a, b in segments:
                self._answer(job, a, out[offset : offset + b - a])
                offset += b - a
        seconds = time.perf_counter() - start
        self.batch_sizes.append(len(items))
        self.n_batches += 1
        self.n_items += len(items)
        if self.observer is not None:
            try:
                self.observer(len(items), seconds)
            except Exception:
                logger.exception("batcher %r: the metrics observer failed", self.name)

    @staticmethod
    def _answer(job: _Job, first: int, results: list[Any]) -> None:
        if job.failed:
            return
        job.results[first : first + len(results)] = results
        job.answered += len(results)
        if job.answered == len(job.items):
            try:
                job.future.set_result(job.results)
            except InvalidStateError:  # cancelled by its caller meanwhile
                pass

    @staticmethod
    def _fail(job: _Job, exc: BaseException) -> None:
        if job.failed:
            return
        job.failed = True
        try:
            job.future.set_exception(exc)
        except InvalidStateError:
            pass

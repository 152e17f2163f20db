"""The monitor service: score documents, store them, aggregate per ticker and topic, detect
surges, raise alerts. What the CLI, the batch job, the watcher, the Gradio tab and the REST
routes call.

Every batch of documents (:meth:`Monitor.ingest`, one chunk of ``finance-monitor score``) goes
through :meth:`Monitor.process`:

1. ids already stored are looked up (read transaction) and skipped: duplicates (the same id,
   or the same content without an id) and documents of an earlier run of the same input are
   never scored or counted twice;
2. the new documents are scored (sentiment, topic) and their tickers extracted, outside any
   transaction;
3. one write transaction then stores them, folds each into the windows of its tickers and
   topic (documents whose window has closed are *late*: stored and counted, not folded), moves
   the watermark, runs the detector over the windows that closed, stores the alerts and their
   outbox rows, and the input's checkpoint. It commits all of that or nothing.

**Windows close** when a document at least ``windows.lateness`` after their end has arrived
(event time, per document, in input order), or when ``final=True`` (``score --final``: the end
of the stream). The result depends only on the documents and their order, never on chunk
boundaries or on where a run was interrupted.

Example:
    >>> monitor = Monitor.from_config({"sentiment": {"model": "models/sentiment"},
    ...                                "store": {"url": "sqlite:///monitor.db"}})  # doctest: +SKIP
    >>> alerts = monitor.ingest(docs)  # doctest: +SKIP
    >>> monitor.series("ACME")[["window_start", "count", "mean_score"]]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from domaintune import ConfigError
from domaintune.store import Closing

from .alerts import Alert
from .config import MonitorConfig
from .detect import Detector, SeriesState
from .entities import TickerExtractor
from .records import Document, RecordParser, RowIssues, document_from_mapping, iso_z
from .sentiment import SentimentScorer, TopicScorer
from .store import MonitorStore, MonitorStoreError, as_utc
from .windows import WindowStats, window_end, window_start

logger = logging.getLogger(__name__)

MICRO = 1_000_000  # scores are stored rounded to 1e-6 and summed as integers (order-free)


@dataclass
class ChunkResult:
    """What one :meth:`Monitor.process` call did."""

    counts: Counter = field(default_factory=Counter)
    alerts: list[Alert] = field(default_factory=list)


@dataclass
class Scored:
    doc: Document
    tickers: list[str]
    topic: str | None
    sentiment: dict[str, Any]
    micro: int  # the score in millionths


class Monitor(Closing):
    """Sentiment + tickers + topics -> documents, windows, detector, alerts, in one store.

    Args:
        config: the monitor config.
        sentiment: the sentiment scorer.
        extractor: the ticker extractor.
        store: the database.
        topics: optional topic scorer.
    """

    def __init__(self, config: MonitorConfig, sentiment: SentimentScorer,
                 extractor: TickerExtractor, store: MonitorStore,
                 topics: TopicScorer | None = None) -> None:
        self.config = config
        self.sentiment = sentiment
        self.extractor = extractor
        self.store = store
        self.topics = topics
        self.window = config.windows.size
        self.lateness = config.windows.lateness_delta
        self.detector = Detector(config.detection, self.window)
        self.parser = RecordParser.from_config(config.input)
        self.targets = [config.alerts.webhook] if config.alerts.webhook else []

    @classmethod
    def from_config(cls, config: str | Path | Mapping | MonitorConfig | None, *,
                    model: str | None = None, db: str | None = None) -> Monitor:
        """Build from a YAML path, a mapping or a config; ``model`` / ``db`` override
        ``sentiment.model`` / ``store.url``."""
        cfg = MonitorConfig.load(dict(config) if isinstance(config, Mapping) else config)
        sentiment = SentimentScorer.from_config(cfg.sentiment, model)
        topics = TopicScorer.from_config(cfg.topic, cfg.sentiment.batch_size)
        extractor = TickerExtractor.from_config(cfg.entities)
        store = MonitorStore(db or cfg.store.url)
        return cls(cfg, sentiment, extractor, store, topics)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ scoring only
    def score_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Sentiment, score, probabilities, tickers and topic of each text (nothing stored)."""
        texts = [str(t) for t in texts]
        batch, tickers, topics = self._models(texts)
        return [{**batch.row(i), "tickers": tickers[i], "topic": topics[i]}
                for i in range(len(texts))]

    def _models(self, texts: Sequence[str]):
        """Sentiment, tickers and topics of ``texts`` (the one place the models run)."""
        batch = self.sentiment.score(texts)
        tickers = self.extractor.extract_many(texts)
        topics = self.topics.topics(texts) if self.topics else [None] * len(texts)
        return batch, tickers, topics

    # ------------------------------------------------------------------ ingestion
    def ingest(self, docs: Iterable[Mapping[str, Any] | Document], *, final: bool = False,
               source: str = "api") -> list[Alert]:
        """Score, store and aggregate ``docs`` (mappings with the input columns, or
        :class:`Document` objects); returns the alerts raised.

        Rows that cannot be used (no text, no or a bad timestamp) are skipped with a warning
        naming them; duplicates of stored documents are skipped silently (idempotent).
        """
        issues = RowIssues()
        parsed = [d for i, item in enumerate(docs, start=1)
                  if (d := document_from_mapping(item, self.parser, source=source, row=i,
                                                 issues=issues)) is not None]
        for example in issues.examples:
            logger.warning("skipped %s", example)
        return self.process(parsed, final=final).alerts

    def close_windows(self) -> list[Alert]:
        """Close every open window now (the end of the stream) and return the alerts."""
        return self.process([], final=True).alerts

    def _score(self, docs: Sequence[Document]) -> list[Scored]:
        texts = [d.text for d in docs]
        if not texts:
            return []
        batch, tickers, topics = self._models(texts)
        out = []
        for i, d in enumerate(docs):
            row = {k: round(v, 6) if isinstance(v, float) else v for k, v in batch.row(i).items()}
            micro = round(row["score"] * MICRO)
            row["score"] = micro / MICRO
            out.append(Scored(d, tickers[i], topics[i], row, micro))
        return out

    def process(self, docs: Sequence[Document], *, final: bool = False,
                checkpoint: tuple[str, str, int, Mapping[str, Any]] | None = None) -> ChunkResult:
        """One batch: score the new documents, then store, aggregate, detect and alert in one
        write transaction (see the module doc).

        Args:
            docs: documents in arrival order.
            final: close every window afterwards (end of the stream).
            checkpoint: ``(source, path, next_record, counts)`` written in the same transaction
                (the batch job's resume point; ``counts`` are the totals before this chunk).
        """
        ids = [d.doc_id for d in docs]
        known = self.store.run(lambda conn: self.store.existing_documents(conn, ids)) if ids else {}
        seen: set[str] = set()
        fresh: list[Document] = []
        for d in docs:
            if d.doc_id not in known and d.doc_id not in seen:
                fresh.append(d)
            seen.add(d.doc_id)
        scored = {s.doc.doc_id: s for s in self._score(fresh)}
        return self.store.run(lambda conn: self._commit(conn, docs, scored, final, checkpoint),
                              write=True)

    def _commit(self, conn, docs: Sequence[Document], scored: Mapping[str, Scored], final: bool,
                checkpoint) -> ChunkResult:
        store, window = self.store, self.window.value
        others = store.other_windows(conn, window)
        if others:
            raise MonitorStoreError(
                f"{store.location}: expected a database of {window} windows, found one that "
                f"aggregates {others} windows; use another --db for {window} windows, or set "
                f"windows.size: {others[0]}")
        result = ChunkResult()
        counts = result.counts
        ids = [d.doc_id for d in docs]
        known = store.existing_documents(conn, ids)
        watermark, closed = store.window_state(conn, window)
        running_closed = closed
        k = self.config.alerts.top_documents
        new_rows: list[dict[str, Any]] = []
        deltas: dict[tuple[str, str, datetime], list[int]] = {}  # count, neg, pos, score_micro
        negatives: dict[tuple[str, str, datetime], list[list]] = {}
        stamp = as_utc(datetime.now().astimezone())
        seen: set[str] = set()
        for d in docs:
            counts["read"] += 1
            if d.doc_id in seen or d.doc_id in known:
                first = known.get(d.doc_id)
                if first is not None and first == (d.source, d.source_row):
                    counts["already_stored"] += 1
                else:
                    counts["duplicates"] += 1
                continue
            seen.add(d.doc_id)
            s = scored.get(d.doc_id)
            if s is None:  # stored by a concurrent writer between our read and this transaction
                counts["duplicates"] += 1
                continue
            start = window_start(d.ts, self.window)
            late = running_closed is not None and start < running_closed
            counts["scored"] += 1
            if late:
                counts["late"] += 1
            else:
                series = [("ticker", t) for t in s.tickers]
                if s.topic:
                    series.append(("topic", s.topic))
                for kind, key in series:
                    agg = deltas.setdefault((kind, key, start), [0, 0, 0, 0])
                    agg[0] += 1
                    agg[1] += s.sentiment["label"] == "negative"
                    agg[2] += s.sentiment["label"] == "positive"
                    agg[3] += s.micro
                    if s.sentiment["label"] == "negative" and k:
                        negatives.setdefault((kind, key, start), []).append(
                            [s.sentiment["score"], d.doc_id])
            watermark = d.ts if watermark is None or d.ts > watermark else watermark
            edge = window_start(watermark - self.lateness, self.window)
            running_closed = edge if running_closed is None or edge > running_closed \
                else running_closed
            row = {"doc_id": d.doc_id, "ts": d.ts, "text": d.text, "tickers": s.tickers,
                   "topic": s.topic, **s.sentiment, "late": late, "source": d.source,
                   "source_row": d.source_row, "ingested_at": stamp}
            new_rows.append(row)
        store.insert_documents(conn, new_rows)
        self._merge_aggregates(conn, deltas, negatives, k)
        if final and watermark is not None:
            end = window_end(window_start(watermark, self.window), self.window)
            running_closed = end if running_closed is None or end > running_closed \
                else running_closed
        if running_closed is not None and (closed is None or running_closed > closed):
            result.alerts = self._detect(conn, closed, running_closed)
            counts["alerts"] += len(result.alerts)
        store.set_window_state(conn, window, watermark, running_closed)
        if checkpoint is not None:
            source, path, next_record, before = checkpoint
            total = Counter({k2: v for k2, v in before.items() if isinstance(v, int)})
            total.update(counts)
            extra = {k2: v for k2, v in before.items() if not isinstance(v, int)}
            store.save_checkpoint(conn, source, path, next_record, False, {**extra, **total})
        return result

    def _merge_aggregates(self, conn, deltas, negatives, k: int) -> None:
        if not deltas:
            return
        window = self.window.value
        existing = self.store.aggregates(conn, window, deltas.keys())
        rows = {}
        for key, (count, negative, positive, micro) in deltas.items():
            old = existing.get(key)
            if old is not None:
                count += old["count"]
                negative += old["negative"]
                positive += old["positive"]
                micro += old["score_micro"]
            top = list(old["top_negative"]) if old is not None else []
            top = sorted(top + negatives.get(key, []), key=lambda x: (x[0], x[1]))[:k]
            rows[key] = {"count": count, "negative": negative, "positive": positive,
                         "score_micro": micro, "top_negative": top}
        self.store.write_aggregates(conn, window, rows)

    def _detect(self, conn, closed: datetime | None, until: datetime) -> list[Alert]:
        """Advance every series with aggregates in the windows that just closed."""
        window = self.window.value
        rows = self.store.aggregates_between(conn, window, closed, until)
        by_series: dict[tuple[str, str], dict[datetime, WindowStats]] = {}
        tops: dict[tuple[str, str, datetime], list] = {}
        for r in rows:
            key = (r["series_kind"], r["series_key"])
            by_series.setdefault(key, {})[r["window_start"]] = WindowStats(
                count=r["count"], negative=r["negative"], positive=r["positive"],
                score_sum=r["score_micro"] / MICRO)
            tops[(*key, r["window_start"])] = r["top_negative"]
        if not by_series:
            return []
        states = self.store.series_states(conn, window, by_series.keys())
        new_states = {}
        alerts: list[Alert] = []
        step = timedelta(seconds=self.window.seconds)
        for key in sorted(by_series):
            state = SeriesState.from_dict(states[key]) if key in states else SeriesState()
            # up to the series' last window with documents, not to `until`: a run of empty
            # windows is then always evaluated in one piece (the detector's closed form), the
            # same whatever the chunking (empty windows never fire)
            last = max(by_series[key]) + step
            state, signals = self.detector.advance(state, by_series[key], last)
            new_states[key] = state.to_dict()
            for signal in signals:
                alerts.append(self._alert(conn, key, signal, tops.get((*key, signal.window_start),
                                                                       [])))
        self.store.save_series_states(conn, window, new_states)
        return self.store.insert_alerts(conn, alerts, self.targets)

    def _alert(self, conn, key: tuple[str, str], signal, top: list) -> Alert:
        kind, name = key
        ids = [doc_id for _, doc_id in top]
        stored = self.store.documents(conn, ids)
        documents = [{"id": i, "text": stored[i]["text"], "score": round(stored[i]["score"], 4),
                      "timestamp": iso_z(stored[i]["ts"])} for i in ids if i in stored]
        return Alert.from_signal(kind, name, self.window, signal, documents)

    # ------------------------------------------------------------------ reading
    def series(self, ticker: str, kind: str = "ticker"):
        """The windows of one ticker (or ``kind="topic"``) as a pandas DataFrame: window_start,
        window_end, count, negative, positive, mean_score, negative_share, alert (severity or
        empty). Empty windows between the first and last are included with count 0."""
        import pandas as pd

        key = ticker.upper() if kind == "ticker" else ticker
        rows = self.store.series_rows(kind, key, self.window.value)
        columns = ["window_start", "window_end", "count", "negative", "positive", "mean_score",
                   "negative_share", "alert"]
        if not rows:
            return pd.DataFrame(columns=columns)
        alerts = {a["window_start"]: a["severity"] for a in self.store.alerts(series_key=key)
                  if a["series_kind"] == kind and a["window"] == self.window.value}
        frame = pd.DataFrame(rows).set_index("window_start")
        full = pd.date_range(frame.index.min(), frame.index.max(),
                             freq=pd.Timedelta(seconds=self.window.seconds), tz="UTC")
        frame = frame.reindex(full)
        frame[["count", "negative", "positive"]] = frame[["count", "negative", "positive"]] \
            .fillna(0).astype(int)
        frame["score_sum"] = frame["score_micro"].fillna(0) / MICRO
        frame.index.name = "window_start"
        out = frame.reset_index()
        out["window_end"] = out["window_start"] + pd.Timedelta(seconds=self.window.seconds)
        safe = out["count"].where(out["count"] > 0)
        out["mean_score"] = (out["score_sum"] / safe).fillna(0.0)
        out["negative_share"] = (out["negative"] / safe).fillna(0.0)
        out["alert"] = [alerts.get(iso_z(ts.to_pydatetime()), "") for ts in out["window_start"]]
        return out[columns]

    def alerts(self, *, ticker: str | None = None, limit: int | None = None) -> list[Alert]:
        """Stored alerts, newest window first."""
        return [Alert.from_dict(a) for a in self.store.alerts(
            series_key=ticker.upper() if ticker else None, limit=limit)]

    def tickers(self) -> list[str]:
        """Tickers with stored windows, busiest first."""
        return [k for k, _ in self.store.series_keys(self.window.value, "ticker")]


def load(path: str | Path, **kwargs: Any) -> Monitor:
    """A monitor from its YAML config (the AppSpec ``load`` hook)."""
    path = Path(path)
    if path.is_dir():
        path = path / "monitor.yaml"
    if not path.is_file():
        raise ConfigError(f"expected a monitor config file (monitor.yaml), found no {path}; write "
                          "one (see apps/finance_monitor/README.md) or run finance-monitor demo")
    return Monitor.from_config(path, **kwargs)


def demo_monitor(samples: Mapping[str, Path], models_dir: Path, *, retrain: bool = False) -> Monitor:
    """The demo's monitor: a frozen sentiment model trained in seconds on the sample headlines
    (under ``models_dir/demo-finance-sentiment``), the sample stream scored into
    ``models_dir/demo-finance/monitor.db`` (AppSpec ``demo`` hook)."""
    from .training import demo_monitor as build

    return build(samples, models_dir, retrain=retrain)

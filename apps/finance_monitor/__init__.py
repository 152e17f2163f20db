"""finance_monitor: a financial sentiment monitor on the domaintune core.

Scores news, headlines and posts for sentiment (and topic), attaches the tickers they mention,
aggregates per ticker and topic in time windows, and raises surge alerts (z-score and CUSUM
against exponentially weighted baselines) that are never lost: a database table, a JSON-lines
file and a webhook with an outbox.

The package registers itself with the core as the app ``finance_monitor`` (:data:`APP`, entry
point group ``domaintune.apps``). Importing it is cheap: the public names below are imported
from their modules on first use.

Layout: ``config.py`` (typed settings), ``records.py`` (rows -> documents: ids, UTC times),
``entities.py`` (tickers), ``sentiment.py`` (polarity and topic scoring on core models),
``windows.py`` + ``detect.py`` (aggregation and the pure surge detector), ``alerts.py`` +
``webhook.py`` + ``delivery.py`` (alerts, their sinks and the outbox), ``store.py`` (its tables
on ``domaintune.store``), ``service.py`` (:class:`Monitor`), ``batch.py`` (the resumable
``score`` job), ``watch.py``, ``evaluation.py``, ``training.py`` (the demo's model),
``samples.py``, ``ui.py`` (the Gradio tab), ``cli.py`` (``finance-monitor``).

Example:
    >>> from finance_monitor import Monitor
    >>> monitor = Monitor.from_config("monitor.yaml")  # doctest: +SKIP
    >>> alerts = monitor.ingest([{"id": "1", "timestamp": "2026-01-05T10:00:00Z",
    ...                           "text": "$ACME shares plunge after profit warning"}])  # doctest: +SKIP
    >>> monitor.series("ACME")  # doctest: +SKIP
"""

from __future__ import annotations

from domaintune.apps import AppSpec, lazy_exports

__version__ = "0.1.0"

APP = AppSpec(
    name="finance_monitor",
    title="Finance monitor",
    description="sentiment + tickers + per-ticker/topic windows + surge alerts (JSONL, DB, webhook)",
    config="finance_monitor.config:MonitorConfig",
    load="finance_monitor.service:load",
    samples="finance_monitor.samples:write_samples",
    demo="finance_monitor.service:demo_monitor",
    tab="finance_monitor.ui:demo_tab",
    routes="finance_monitor.api:routes",
)

# public name -> module that defines it (imported on first use)
_EXPORTS = {
    "MonitorConfig": "config", "SentimentConfig": "config", "TopicConfig": "config",
    "EntityConfig": "config", "InputConfig": "config", "WindowConfig": "config",
    "DetectionConfig": "config", "AlertConfig": "config", "StoreConfig": "config",
    "WindowSize": "config", "DetectionMethod": "config",
    "Monitor": "service", "ChunkResult": "service", "load": "service",
    "Document": "records", "RecordParser": "records",
    "SentimentScorer": "sentiment", "TopicScorer": "sentiment", "polarity_map": "sentiment",
    "TickerExtractor": "entities", "WatchEntry": "entities", "load_watchlist": "entities",
    "WindowStats": "windows", "window_start": "windows", "window_end": "windows",
    "Detector": "detect", "SeriesState": "detect", "Signal": "detect",
    "Alert": "alerts", "JsonlSink": "alerts", "make_alert_id": "alerts",
    "post_alert": "webhook", "DeliveryResult": "webhook",
    "deliver_pending": "delivery", "DeliveryReport": "delivery",
    "MonitorStore": "store", "MonitorStoreError": "store",
    "score_inputs": "batch", "RunSummary": "batch",
    "evaluate_model": "evaluation",
}

__all__ = ["APP", "__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

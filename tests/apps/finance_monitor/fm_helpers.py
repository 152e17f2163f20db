"""Shared helpers of the finance monitor tests: a keyword sentiment model (deterministic, no
weights) and a monitor on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NEGATIVE_WORDS = ("plunge", "cuts", "resigns", "investigation", "misses", "layoffs", "tumbles",
                  "downgrade", "lawsuit", "junk", "wider loss", "ugly")
POSITIVE_WORDS = ("beats", "jumps", "wins", "upgrade", "raises", "growth", "all-time high",
                  "successful", "expands", "great quarter")


class KeywordModel:
    """A stand-in text classifier: labels + predict_proba, decided by keywords."""

    def __init__(self, labels=("negative", "neutral", "positive")):
        self.labels = list(labels)
        self.calls = 0
        self.texts_scored = 0

    def predict_proba(self, texts, batch_size=64):
        self.calls += 1
        self.texts_scored += len(texts)
        out = []
        for text in texts:
            low = text.lower()
            if any(w in low for w in NEGATIVE_WORDS):
                out.append([0.85, 0.10, 0.05])
            elif any(w in low for w in POSITIVE_WORDS):
                out.append([0.05, 0.15, 0.80])
            else:
                out.append([0.10, 0.80, 0.10])
        return np.array(out)


def make_monitor(db: str, *, config: dict | None = None, model=None, watchlist: Path | None = None):
    from finance_monitor.config import MonitorConfig
    from finance_monitor.entities import TickerExtractor
    from finance_monitor.sentiment import SentimentScorer
    from finance_monitor.service import Monitor
    from finance_monitor.store import MonitorStore

    data = dict(config or {})
    if watchlist is not None:
        data["entities"] = {**data.get("entities", {}), "watchlist": str(watchlist)}
    cfg = MonitorConfig.from_dict(data)
    model = model or KeywordModel()
    return Monitor(cfg, SentimentScorer(model, cfg.sentiment.labels),
                   TickerExtractor.from_config(cfg.entities), MonitorStore(db))

"""The demo's monitor: a frozen sentiment model trained in seconds on the sample headlines,
and the sample stream scored into its own database.

``finance-monitor`` users train their real sentiment model with the core (``domaintune train``,
see the README and the PhraseBank benchmark); this module only builds what ``make demo`` and
``finance-monitor demo`` show.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

DEMO_MODEL = "demo-finance-sentiment"
DEMO_DIR = "demo-finance"


def train_demo_model(samples: Mapping[str, Path], out: Path, *, retrain: bool = False) -> Path:
    """Train (``frozen``: embeddings + logistic regression) or reuse the demo's sentiment model."""
    from domaintune import TextClassifier, TrainingConfig, load_dataset

    if out.is_dir() and not retrain:
        return out
    start = time.perf_counter()
    train = load_dataset(samples["sentiment_train"], text="text", label="label")
    test = load_dataset(samples["sentiment_test"], text="text", label="label")
    clf = TextClassifier.from_pretrained("default", labels=train.label_names)
    clf.fit(train, None, TrainingConfig(method="frozen", progress=False))
    metrics = clf.evaluate(test)
    clf.metrics["test"] = {k: metrics[k] for k in ("accuracy", "macro_f1")}
    clf.save(out, overwrite=True)  # --retrain replaces the demo's own model directory
    logger.info("demo sentiment model trained in %.0f s (test accuracy %.1f%%) into %s",
                time.perf_counter() - start, 100 * metrics["accuracy"], out)
    return out


def demo_monitor(samples: Mapping[str, Path], models_dir: Path, *, retrain: bool = False,
                 db: str | None = None):
    """The monitor ``make demo`` shows, with the sample stream scored (resumable, so a demo
    interrupted while scoring continues where it stopped) into
    ``models_dir/demo-finance/monitor.db``; with ``db``, that database is shown as it is (the
    demo's model scores pasted texts; nothing is added to it)."""
    from .batch import score_inputs
    from .config import MonitorConfig
    from .service import Monitor

    models_dir = Path(models_dir)
    model = train_demo_model(samples, models_dir / DEMO_MODEL, retrain=retrain)
    work = models_dir / DEMO_DIR
    work.mkdir(parents=True, exist_ok=True)
    own = work / "monitor.db"
    if db is None and retrain and own.exists():
        for suffix in ("", "-wal", "-shm"):  # the demo's own database, rebuilt with the model
            Path(f"{own}{suffix}").unlink(missing_ok=True)
    config = MonitorConfig.from_yaml(samples["config"])
    monitor = Monitor.from_config(config, model=str(model), db=db or f"sqlite:///{own}")
    if db is not None:  # someone's own database: shown as it is, the sample is not mixed in
        return monitor
    summary = score_inputs(monitor, [samples["stream"]], final=True, progress=False,
                           deliver=False)
    logger.info("demo stream: %d documents scored, %d alerts", summary.counts["scored"],
                len(monitor.alerts()))
    return monitor

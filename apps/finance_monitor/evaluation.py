"""``finance-monitor evaluate``: a sentiment model's accuracy, macro-F1 and per-class scores on
labelled data, in polarity space, with the confusion matrix.

Both the model's labels and the data's labels are mapped to negative / neutral / positive by
the monitor's rules (:func:`finance_monitor.sentiment.polarity_map`, with the config's
``sentiment.labels``), so a ``bearish/bullish`` model can be scored on ``negative/positive``
data; the metrics are the core's (:func:`domaintune.classification_metrics`, scikit-learn).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from domaintune import DataError

from .sentiment import POLARITIES, SentimentScorer, load_text_model, polarity_map


def evaluate_model(model: str, data: str | Path, *, text_column: str = "text",
                   label_column: str = "label", labels: Mapping[str, str] | None = None,
                   confusion_png: str | Path | None = None, batch_size: int = 256) -> dict[str, Any]:
    """Metrics of the sentiment model ``model`` on the labelled file ``data``.

    Raises:
        DataError: the file lacks the columns, or has labels that map to no polarity.
    """
    from domaintune import classification_metrics, load_dataset, plot_confusion_matrix

    dataset = load_dataset(data, text=text_column, label=label_column)
    scorer = SentimentScorer(load_text_model(model, "auto", what="sentiment model"), labels,
                             batch_size=batch_size, where=f"the sentiment model {model}")
    try:
        data_map = polarity_map(dataset.label_names, {k: v for k, v in (labels or {}).items()
                                                      if k in dataset.label_names},
                                where=f"the data {data}")
    except Exception as exc:
        raise DataError(f"{data}: column {label_column!r}: {exc}") from None
    present = [p for p in POLARITIES if p in set(data_map.values()) | set(scorer.mapping.values())]
    index = {p: i for i, p in enumerate(present)}
    truth = np.array([index[data_map[lab]] for lab in dataset.labels])
    batch = scorer.score(dataset.texts)
    pred = np.array([index[p] for p in batch.label])
    metrics = classification_metrics(truth, pred, present)
    metrics["labels"] = present
    metrics["model"] = str(model)
    metrics["data"] = str(data)
    if confusion_png is not None:
        plot_confusion_matrix(metrics["confusion_matrix"], present, Path(confusion_png))
        metrics["confusion_matrix_png"] = str(confusion_png)
    metrics["confusion_matrix"] = np.asarray(metrics["confusion_matrix"]).tolist()
    return metrics

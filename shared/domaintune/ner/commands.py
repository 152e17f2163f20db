"""What ``domaintune train|evaluate|predict`` do for token-classification models.

The command line dispatches here when the train config says ``task: token-classification``
or when a model directory's ``domaintune.json`` says so; the functions return what the
command prints, so the CLI stays a thin layer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import RunConfig, Task
from ..errors import DomaintuneError

if TYPE_CHECKING:  # the model and data modules (PyTorch) are imported by the commands that run
    from .data import TokenDataset
    from .model import TokenClassifier

META_FILE = "domaintune.json"  # = domaintune.ner.model.META_FILE
TASK = Task.TOKEN_CLASSIFICATION.value  # = domaintune.ner.model.TASK


def model_task(model_dir: str | os.PathLike[str]) -> str:
    """The ``task`` recorded in a model directory (``text-classification`` when absent or
    unreadable, so the text classifier's loader reports the problem)."""
    meta = Path(model_dir) / META_FILE
    try:
        return str(json.loads(meta.read_text(encoding="utf-8")).get("task", "text-classification"))
    except (OSError, json.JSONDecodeError, AttributeError):
        return "text-classification"


def is_token_classification_dir(model_dir: str | os.PathLike[str]) -> bool:
    """Whether ``model_dir`` holds a saved :class:`TokenClassifier`."""
    return model_task(model_dir) == TASK


def _load(path: str, run: RunConfig) -> TokenDataset:
    from .data import load_ner_dataset

    options: dict[str, Any] = {"encoding": run.encoding}
    for key in ("repair", "tag_scheme"):  # RunConfig keys, when the config module has them
        value = getattr(run, key, None)
        if value is not None:
            options["scheme" if key == "tag_scheme" else key] = getattr(value, "value", value)
    if run.text_column != "text":
        options["text_key"] = run.text_column
    return load_ner_dataset(path, **options)  # type: ignore[return-value]


def train_from_config(run: RunConfig, *,
                      overwrite: bool = False) -> tuple[TokenClassifier, dict[str, Any], str]:
    """Train, evaluate on ``test_file`` (if any) and save to ``output_dir``.

    Args:
        run: the parsed train config (``train_file`` = CoNLL or JSONL spans; ``eval_file``
            or ``validation_split`` of the sentences; ``labels`` = entity types, default
            = those found in the training (and validation) data).
        overwrite: replace an earlier model in ``output_dir`` (``domaintune train --overwrite``).

    Returns:
        ``(model, summary, message)``: the summary (validation and test metrics) is what
        ``domaintune train`` prints as JSON, the message its closing paragraph.

    Example:
        >>> from domaintune import RunConfig
        >>> ner, summary, msg = train_from_config(RunConfig.from_yaml("ner.yaml"))  # doctest: +SKIP
    """
    from .model import TokenClassifier

    if not run.train_file:
        raise DomaintuneError("train config: 'train_file' is required; set it in the YAML or "
                              "pass --set train_file=PATH")
    train = _load(run.train_file, run)
    val = None
    if run.eval_file:
        val = _load(run.eval_file, run)
    elif run.validation_split > 0:
        train, val = train.split(run.validation_split, seed=run.training.seed)
    test = _load(run.test_file, run) if run.test_file else None
    types = run.labels or sorted(set(train.entity_types) | set(val.entity_types if val else []))
    ner = TokenClassifier.from_pretrained(run.model, labels=types,
                                          max_length=run.training.max_length,
                                          stride=getattr(run, "stride", None),
                                          device=run.training.device)
    ner.fit(train, val, run.training)
    if test is not None:
        ner.metrics["test"] = ner.evaluate(test)
    ner.metrics["run_config"] = run.to_dict()
    out = Path(run.output_dir)
    ner.save(out, overwrite=overwrite)
    summary = {k: ner.metrics[k] for k in ("validation", "test") if k in ner.metrics}
    message = (f"trained {run.training.method.value} NER on {len(train)} sentences "
               f"({train.n_tokens} tokens, {len(ner.entity_types)} entity types, "
               f"{len(train.repairs)} tags repaired on loading), validated on "
               f"{len(val) if val else 0}, tested on {len(test) if test else 0} sentences in "
               f"{ner.metrics['train_seconds']}s; model and metrics.json written to {out}")
    return ner, summary, message


def evaluate_dir(model_dir: str | os.PathLike[str], data: str | os.PathLike[str], *,
                 encoding: str = "utf-8", output: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Evaluate a saved :class:`TokenClassifier` on a CoNLL/JSONL file; with ``output``,
    also write the full metrics JSON there. Returns the metrics (``entity_f1`` first)."""
    from ..persistence import write_json_atomic
    from .data import load_ner_dataset
    from .model import TokenClassifier

    ner = TokenClassifier.load(model_dir)
    metrics = ner.evaluate(load_ner_dataset(data, encoding=encoding))  # type: ignore[arg-type]
    if output:
        write_json_atomic(output, metrics)
    return metrics


def predict_rows(model_dir: str | os.PathLike[str], texts: list[str]) -> list[dict[str, Any]]:
    """``{"text", "entities"}`` per text, for ``domaintune predict`` on an NER model."""
    from .model import TokenClassifier

    ner = TokenClassifier.load(model_dir)
    return [{"text": t, "entities": e} for t, e in zip(texts, ner.predict(texts), strict=True)]

"""Routes for one core model: what ``domaintune serve DIR`` serves.

``domaintune.load(DIR)`` picks the class; :func:`model_routes` picks the routes by what the
model does:

- a text classifier (:class:`~domaintune.TextClassifier`, or its ONNX export
  :class:`~domaintune.export.OnnxTextClassifier`): ``POST /v1/predict`` ->
  ``{"predictions": [{"label", "confidence", "scores"}, ...]}``;
- an NER model (:class:`~domaintune.TokenClassifier`): ``POST /v1/predict`` ->
  ``{"predictions": [{"entities": [{"text", "label", "start", "end", "score"}]}, ...]}``;
- a bi-encoder (:class:`~domaintune.pairs.BiEncoder` or :class:`~domaintune.export.OnnxBiEncoder`):
  ``POST /v1/embed`` -> ``{"embeddings": [[...], ...]}`` (L2-normalised).

Every route takes ``{"texts": [...]}`` or ``{"text": "..."}`` and answers one result per text,
in order. The model runs through a :class:`~domaintune.serving.MicroBatcher`, so texts of
concurrent requests share forward passes.

Example:
    >>> import domaintune
    >>> from domaintune.serving import ServeConfig, create_app, model_routes
    >>> cfg = ServeConfig()
    >>> app = create_app(model_routes(load_model("models/tickets", cfg), cfg))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..errors import ConfigError
from .batching import MicroBatcher
from .config import ServeConfig
from .routes import Routes
from .schemas import TextsRequest, texts_of

logger = logging.getLogger(__name__)

TOP_SCORES = 5  # labels listed in each prediction's "scores"
_METRIC_KEYS = ("validation", "test", "calibration", "train_seconds")


# ------------------------------------------------------------------------------- responses
class Prediction(BaseModel):
    label: str | list[str] = Field(description="the predicted label (multi-label: a list, "
                                               "possibly empty)")
    confidence: float = Field(description="calibrated probability of the prediction "
                                          "(multi-label: of its least likely label; no label: "
                                          "1 - the top probability)")
    scores: dict[str, float] = Field(description=f"the {TOP_SCORES} most likely labels and "
                                                 "their probabilities")


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class Entity(BaseModel):
    text: str
    label: str = Field(description="the entity type")
    start: int = Field(description="character offset of the entity in the text")
    end: int = Field(description="character offset just after the entity")
    score: float = Field(description="mean probability of the entity's word tags")


class Entities(BaseModel):
    entities: list[Entity]


class EntitiesResponse(BaseModel):
    predictions: list[Entities]


class EmbedResponse(BaseModel):
    embeddings: list[list[float]] = Field(description="one L2-normalised vector per text")


# ------------------------------------------------------------------------------- loading
def load_model(path: str | Path, config: ServeConfig | None = None) -> Any:
    """``domaintune.load(path)`` with the server's thread setting (``config.threads``).

    An ONNX export loads with ONNX Runtime (no PyTorch); a model directory with PyTorch.
    """
    from ..artifacts import EXPORT_LOADERS, _import, load, saved_task

    threads = config.threads if config is not None else None
    task = saved_task(path)
    if task.startswith("onnx:") and task[5:] in EXPORT_LOADERS:
        return _import(*EXPORT_LOADERS[task[5:]]).load(path, threads=threads)
    if threads:
        import torch

        torch.set_num_threads(threads)
    return load(path)


def _kind(model: Any) -> str:
    if hasattr(model, "predict_proba") and hasattr(model, "labels"):
        return "classifier"
    if hasattr(model, "entity_types") and hasattr(model, "predict"):
        return "ner"
    if hasattr(model, "encode") and hasattr(model, "dim"):
        return "encoder"
    what = type(model).__name__
    hint = (" (a cross-encoder scores text pairs: serve it from an app's routes)"
            if "Cross" in what else "")
    raise ConfigError(f"cannot serve a {what}{hint}: `domaintune serve` serves text "
                      "classifiers, NER models and bi-encoders (a model directory or its ONNX "
                      "export); pass one of those")


def _backend(model: Any) -> tuple[str, str]:
    """``(backend, precision)``: ``onnx``/``torch`` and ``fp32``/``int8``/``fp16`` ..."""
    inner = getattr(model, "model", None)
    if hasattr(inner, "session"):  # domaintune.export.OnnxModel
        return "onnx", str(getattr(inner, "precision", "fp32"))
    try:
        dtype = str(next(inner.parameters()).dtype)  # type: ignore[union-attr]
    except Exception:
        return "torch", "unknown"
    return "torch", {"torch.float32": "fp32", "torch.float16": "fp16",
                     "torch.bfloat16": "bf16"}.get(dtype, dtype.replace("torch.", ""))


def _record(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from ..artifacts import marker_of

    marker = marker_of(path)
    try:
        record = json.loads(marker.read_text(encoding="utf-8")) if marker else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _version(model: Any, record: dict[str, Any]) -> str | None:
    """A short fingerprint of the served weights: the SHA-256 of the files' recorded hashes
    (equal versions = byte-identical weights), or the bi-encoder's own fingerprint."""
    files = record.get("files")
    if isinstance(files, dict) and files:
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        return digest[:16]
    fingerprint = getattr(model, "fingerprint", None)
    return str(fingerprint) if isinstance(fingerprint, str) else None


def _metrics(model: Any, record: dict[str, Any]) -> dict[str, Any]:
    saved = getattr(model, "metrics", None)
    if isinstance(saved, dict) and saved:
        return {k: saved[k] for k in _METRIC_KEYS if k in saved}
    return {k: record[k] for k in ("parity", "int8_check") if k in record}


# ------------------------------------------------------------------------------- batch functions
#: texts per forward pass inside one micro-batch: the models sort a batch by length and run it
#: in slices of this size, so short texts are not padded to the longest of 32 (measured on the
#: BANKING77 int8 export under 64 clients: see benchmarks/RESULTS.md, "REST server")
_SUB_BATCH = int(os.environ.get("DOMAINTUNE_SERVE_SUB_BATCH", "16"))


def _torch_backend(method: Any) -> dict[str, Any]:
    """``backend="torch"`` for a PyTorch model's method (a model directory is served with
    PyTorch, as ``/v1/model`` says; an ONNX export directory serves with ONNX Runtime)."""
    import inspect

    try:
        return {"backend": "torch"} if "backend" in inspect.signature(method).parameters else {}
    except (TypeError, ValueError):
        return {}


def _classify_fn(model: Any):
    labels = list(model.labels)
    backend = _torch_backend(model.predict_proba)
    multi = bool(getattr(model, "multi_label", False))
    threshold = float(getattr(model, "threshold", 0.5))
    from ..calibration import decide

    def classify(texts: list[str]) -> list[dict[str, Any]]:
        probs = np.atleast_2d(np.asarray(model.predict_proba(texts, batch_size=_SUB_BATCH,
                                                             **backend)))
        rows = []
        for p, label in zip(probs, decide(probs, labels, multi, threshold), strict=True):
            top = np.argsort(-p, kind="stable")[:TOP_SCORES]
            if not multi:
                confidence = float(p.max())
            elif label:
                confidence = float(min(p[labels.index(x)] for x in label))
            else:
                confidence = float(1.0 - p.max())
            rows.append({"label": label, "confidence": confidence,
                         "scores": {labels[j]: float(p[j]) for j in top}})
        return rows

    return classify


def _ner_fn(model: Any):
    def tag(texts: list[str]) -> list[dict[str, Any]]:
        found = model.predict(texts, batch_size=_SUB_BATCH)
        return [{"entities": [{"text": e["text"], "label": e["type"], "start": int(e["start"]),
                               "end": int(e["end"]), "score": float(e["score"])} for e in ents]}
                for ents in found]

    return tag


def _embed_fn(model: Any):
    backend = _torch_backend(model.encode)

    def embed(texts: list[str]) -> list[list[float]]:
        vectors = np.atleast_2d(np.asarray(model.encode(texts, batch_size=_SUB_BATCH, **backend)))
        return vectors.astype(np.float32).tolist()

    return embed


# ------------------------------------------------------------------------------- routes
def model_routes(model: Any, config: ServeConfig | None = None, *,
                 path: str | Path | None = None) -> Routes:
    """The routes serving ``model`` (what :func:`domaintune.load` returns).

    Args:
        model: a text classifier, NER model or bi-encoder, PyTorch or ONNX.
        config: the server's limits and batching (``max_batch_size``, ``max_wait_ms``).
        path: the directory it was loaded from, for ``GET /v1/model`` (version, record).

    Raises:
        ConfigError: the model is of a kind the core server does not serve.
    """
    config = config or ServeConfig()
    kind = _kind(model)
    record = _record(path)
    backend, precision = _backend(model)
    name, task, fn = {
        "classifier": ("text-classifier", "text-classification", _classify_fn),
        "ner": ("token-classifier", "token-classification", _ner_fn),
        "encoder": ("bi-encoder", "bi-encoder", _embed_fn),
    }[kind]
    batcher = MicroBatcher(fn(model), max_batch_size=config.max_batch_size,
                           max_wait_ms=config.max_wait_ms, name=name)
    router = APIRouter(tags=[task])
    if kind == "classifier":
        @router.post("/v1/predict", response_model=PredictResponse,
                     summary="Classify texts: the label, its confidence and the top scores")
        async def predict(body: TextsRequest) -> dict[str, Any]:
            return {"predictions": await batcher.submit_many(texts_of(body, config))}
    elif kind == "ner":
        @router.post("/v1/predict", response_model=EntitiesResponse,
                     summary="Find the entities of each text (character offsets)")
        async def predict_entities(body: TextsRequest) -> dict[str, Any]:
            return {"predictions": await batcher.submit_many(texts_of(body, config))}
    else:
        @router.post("/v1/embed", response_model=EmbedResponse,
                     summary="Embed texts: one L2-normalised vector per text")
        async def embed(body: TextsRequest) -> dict[str, Any]:
            return {"embeddings": await batcher.submit_many(texts_of(body, config))}

    labels = (list(model.labels) if kind == "classifier"
              else list(model.entity_types) if kind == "ner" else None)
    details: dict[str, Any] = {
        "task": task, "labels": labels, "version": _version(model, record),
        "domaintune_version": record.get("domaintune_version"),
        "backend": backend, "precision": precision,
        "max_length": getattr(model, "max_length", None),
        "metrics": _metrics(model, record),
        "limits": {"max_texts": config.max_texts, "max_chars": config.max_chars,
                   "max_batch_size": config.max_batch_size, "max_wait_ms": config.max_wait_ms},
    }
    if kind == "classifier":
        details["multi_label"] = bool(getattr(model, "multi_label", False))
    if kind == "encoder":
        details["dim"] = int(model.dim)
        details["fingerprint"] = getattr(model, "fingerprint", None)
    details = json.loads(json.dumps(details, default=str))  # JSON-ready once, at start

    return Routes(name=name, router=router, info=lambda: details, batchers=(batcher,))

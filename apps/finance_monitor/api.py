"""The finance monitor's REST routes (``finance-monitor serve MONITOR``), on the core's server.

- ``POST /v1/score``: sentiment, score, tickers and topic of each text (nothing stored); the
  models run in the core's micro-batcher, so concurrent requests share forward passes.
- ``POST /v1/documents``: score, store and aggregate documents (id, text, timestamp) as
  ``finance-monitor score`` does, in one write transaction; returns the counts and the alerts
  raised. Idempotent: a document id already stored is counted, not scored again.
- ``GET /v1/alerts?ticker=&limit=``: stored alerts, newest window first.

The server adds ``/health``, ``/ready``, ``/v1/model``, ``/metrics`` and ``/openapi.json``.
"""


import threading
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from domaintune.serving import MicroBatcher, Routes, ServeConfig, TextsRequest, texts_of
from domaintune.serving.calls import call
from domaintune.serving.schemas import TEXT_PATTERN

from .alerts import _json_safe
from .records import RowIssues, document_from_mapping
from .service import Monitor

MAX_DOCUMENTS = 1000


class ScoredText(BaseModel):
    label: str = Field(..., description="negative, neutral or positive")
    model_label: str
    score: float = Field(..., description="P(positive) - P(negative)")
    p_negative: float
    p_neutral: float
    p_positive: float
    tickers: list[str]
    topic: str | None


class ScoreResponse(BaseModel):
    results: list[ScoredText]


def documents_request(config: ServeConfig) -> type[BaseModel]:
    """The body of ``POST /v1/documents``, with the server's text limit in its schema."""

    class DocumentIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        id: str = Field(..., min_length=1, max_length=500, pattern=TEXT_PATTERN)
        text: str = Field(..., max_length=config.max_chars,
                          description="an empty text is skipped and counted (missing_text)")
        timestamp: str | float | int = Field(
            ..., description="ISO 8601 (naive times are read in input.assume_tz) or epoch "
                             "seconds / milliseconds; an unreadable one is skipped and counted")

    class DocumentsRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        documents: list[DocumentIn] = Field(..., min_length=1, max_length=MAX_DOCUMENTS)

    return DocumentsRequest


class DocumentsResponse(BaseModel):
    counts: dict[str, int]
    skipped: dict[str, int]
    alerts: list[dict[str, Any]]


class AlertsResponse(BaseModel):
    alerts: list[dict[str, Any]]


def routes(monitor: Monitor, config: ServeConfig | None = None) -> Routes:
    """The monitor's routes (the AppSpec ``routes`` hook)."""
    config = config or ServeConfig()
    batcher = MicroBatcher(monitor.score_texts, name="finance_monitor",
                           max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms)
    writer = threading.Lock()  # one write transaction at a time: the detector state is shared
    router = APIRouter(tags=["finance monitor"])
    parser = monitor.parser

    @router.post("/v1/score", response_model=ScoreResponse,
                 summary="score texts: sentiment, tickers, topic (nothing stored)")
    async def score(request: TextsRequest) -> dict[str, Any]:
        texts = texts_of(request, config)
        return {"results": _json_safe(await batcher.submit_many(texts))}

    def ingest(documents: list[Any]) -> dict[str, Any]:
        issues = RowIssues()
        rows = [{parser.id_column: d.id, parser.text_column: d.text,
                 parser.time_column: d.timestamp} for d in documents]
        parsed = [doc for i, row in enumerate(rows, start=1)
                  if (doc := document_from_mapping(row, parser, source="api", row=i,
                                                   issues=issues)) is not None]
        with writer:
            result = monitor.process(parsed)
        return {"counts": {k: int(v) for k, v in result.counts.items()},
                "skipped": {k: int(v) for k, v in issues.skipped.items()},
                "alerts": [_json_safe(a.to_dict()) for a in result.alerts]}

    DocumentsRequest = documents_request(config)

    @router.post("/v1/documents", response_model=DocumentsResponse,
                 summary="score, store and aggregate documents; returns the alerts raised")
    async def documents(request: DocumentsRequest) -> dict[str, Any]:
        return await call(ingest, request.documents)

    @router.get("/v1/alerts", response_model=AlertsResponse, summary="stored alerts, newest first")
    async def alerts(ticker: str | None = Query(None, max_length=50),
                     limit: int = Query(100, ge=1, le=10_000)) -> dict[str, Any]:
        found = await call(monitor.alerts, ticker=ticker or None, limit=limit)
        return {"alerts": [_json_safe(a.to_dict()) for a in found]}

    def info() -> dict[str, Any]:
        return {"task": "finance-monitor", "window": monitor.window.value,
                "sentiment_labels": monitor.sentiment.labels,
                "topics": monitor.topics is not None, "store": monitor.store.location}

    return Routes(name="finance_monitor", router=router, info=info, batchers=[batcher],
                  close=monitor.close)

"""REST serving for the core and the apps: one FastAPI server, apps add routes.

``domaintune serve DIR`` serves a model directory (PyTorch) or an ONNX export directory (ONNX
Runtime, no PyTorch): a text classifier or NER model on ``POST /v1/predict``, a bi-encoder on
``POST /v1/embed``, plus

- ``GET /health``: liveness, always 200 ``{"status": "ok"}``, never needs the API key;
- ``GET /ready``: 200 ``{"status": "ready"}`` once the model runs, 503 before and while
  shutting down;
- ``GET /v1/model``: task, labels, version (a fingerprint of the weights), saved metrics,
  backend, precision, limits;
- ``GET /metrics``: Prometheus text format (requests, latency, batch sizes, errors, in flight);
- ``GET /openapi.json`` and ``/docs``.

Concurrent requests are micro-batched (:class:`MicroBatcher`: at most ``--max-batch-size``
texts per model call, waiting at most ``--max-wait-ms`` for more); the model never runs on
the event loop. Limits (defaults): 64 texts per request (``--max-texts``), 10,000 characters
per text (``--max-chars``), 1 MB per body (``--max-body-bytes``). Every error is
``{"error": {"code": ..., "message": ...}}`` with a message naming the field (see
:mod:`domaintune.serving.app` for the codes); a server error is a 500 whose ``id`` is in the
server log with the traceback. With ``--api-key-env VAR`` every route but ``/health`` needs
``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The server binds to 127.0.0.1 unless
told otherwise, has CORS off unless ``--cors-origin`` is given, logs no request texts unless
``--log-texts``, and on SIGTERM finishes the requests in flight before it exits.

From the shell::

    export DOMAINTUNE_API_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
    domaintune serve models/tickets --port 8000 --api-key-env DOMAINTUNE_API_KEY
    curl -s http://127.0.0.1:8000/v1/predict \\
        -H "Authorization: Bearer $DOMAINTUNE_API_KEY" -H 'Content-Type: application/json' \\
        -d '{"texts": ["where is my refund?", "my card was stolen"]}'
    # {"predictions":[{"label":"refund","confidence":0.93,"scores":{"refund":0.93,...}}, ...]}

From Python (httpx)::

    import os, httpx

    with httpx.Client(base_url="http://127.0.0.1:8000", timeout=10,
                      headers={"X-API-Key": os.environ["DOMAINTUNE_API_KEY"]}) as client:
        reply = client.post("/v1/predict", json={"texts": ["where is my refund?"]})
        if reply.status_code != 200:
            error = reply.json()["error"]  # {"code": "too_many_texts", "message": "texts: ..."}
            raise RuntimeError(f"{error['code']}: {error['message']}")
        for p in reply.json()["predictions"]:
            print(p["label"], round(p["confidence"], 3))

In Python, the pieces an app uses to serve its own routes::

    from domaintune.serving import MicroBatcher, Routes, ServeConfig, TextsRequest, texts_of
    batcher = MicroBatcher(service.score_texts, max_batch_size=cfg.max_batch_size,
                           max_wait_ms=cfg.max_wait_ms, name="scores")
    router = APIRouter()

    @router.post("/v1/score")
    async def score(body: TextsRequest):
        return {"scores": await batcher.submit_many(texts_of(body, cfg))}

    serve(lambda: Routes("my_app", router, info=lambda: {...}, batchers=[batcher]), cfg)

FastAPI, pydantic and prometheus_client are imported on first use of the names that need them,
so that the command line's ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .batching import BatcherNotRunning, MicroBatcher
from .config import ServeConfig, add_serve_options, resolve_api_key, serve_config_from_args
from .errors import ApiError, error_body
from .routes import Routes

# public name -> the submodule that defines it, imported on first use (PEP 562)
_LAZY = {
    "create_app": "app",
    "error_response": "app",
    "ERROR_RESPONSES": "app",
    "ServeMetrics": "metrics",
    "load_model": "model",
    "model_routes": "model",
    "TextsRequest": "schemas",
    "check_text": "schemas",
    "texts_of": "schemas",
    "serve": "server",
    "serve_app": "server",
    "serve_model": "server",
}

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "BatcherNotRunning",
    "MicroBatcher",
    "Routes",
    "ServeConfig",
    "ServeMetrics",
    "TextsRequest",
    "add_serve_options",
    "check_text",
    "create_app",
    "error_body",
    "error_response",
    "load_model",
    "model_routes",
    "resolve_api_key",
    "serve",
    "serve_app",
    "serve_config_from_args",
    "serve_model",
    "texts_of",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what static checkers and IDEs see
    from .app import ERROR_RESPONSES, create_app
    from .metrics import ServeMetrics
    from .model import load_model, model_routes
    from .schemas import TextsRequest, check_text, texts_of
    from .server import serve, serve_app, serve_model

"""The one FastAPI application every server builds: health, readiness, metrics, model info,
the services' routes, one error shape, limits and the API key.

Every error is ``{"error": {"code": ..., "message": ...}}`` (plus ``field`` for a request field,
``id`` for a server error):

======  ========================  ============================================================
status  code                      when
======  ========================  ============================================================
400     ``invalid_json``          the body is not JSON
401     ``unauthorized``          an API key is configured and the request has none or another
404     ``not_found``             no such route
405     ``method_not_allowed``    the route exists, not with this method
413     ``body_too_large``        the body is over ``max_body_bytes``
422     ``invalid_request``       wrong types, missing or unknown fields (the message names the
                                  field path: ``texts[2]: expected a string, found number``)
422     route codes               ``missing_texts``, ``empty_texts``, ``too_many_texts``,
                                  ``text_too_long``, ``empty_text``, ``invalid_text``
                                  (:func:`texts_of`) ...
500     ``internal_error``        anything else; ``id`` is logged with the traceback
503     ``not_ready``             the model is not loaded yet, or the server is shutting down
======  ========================  ============================================================

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> app = create_app(model_routes(domaintune.load("models/tickets"), ServeConfig()))  # doctest: +SKIP
    >>> with TestClient(app) as client:  # doctest: +SKIP
    ...     client.post("/v1/predict", json={"text": "where is my refund?"}).json()
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._version import __version__
from ..errors import ConfigError, closest
from .config import ServeConfig, resolve_api_key
from .errors import ApiError, error_body
from .metrics import ServeMetrics
from .routes import Routes

logger = logging.getLogger(__name__)

#: routes that never need the API key (a load balancer's liveness probe has no key)
OPEN_PATHS = frozenset({"/health"})

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": "string"}, "id": {"type": "string"}},
    }},
}
#: the error responses documented on every route of the OpenAPI spec
ERROR_RESPONSES: dict[int, str] = {
    400: "Invalid JSON (`invalid_json`)",
    401: "Missing or wrong API key (`unauthorized`)",
    413: "Body too large (`body_too_large`)",
    422: "Invalid request: the message names the field (`invalid_request`, `too_many_texts`, "
         "`text_too_long`, ...)",
    500: "Server error (`internal_error`, with an `id` that is in the server log)",
    503: "Not ready (`not_ready`)",
}

_JSON_TYPES = {type(None): "null", bool: "boolean", int: "number", float: "number",
               str: "string", list: "array", dict: "object"}
_EXPECTED = {
    "string_type": "a string", "list_type": "a list", "int_type": "an integer",
    "int_parsing": "an integer", "int_from_float": "an integer", "float_type": "a number",
    "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false",
    "dict_type": "a JSON object", "model_type": "a JSON object",
    "model_attributes_type": "a JSON object", "tuple_type": "a list", "set_type": "a list",
}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
_LENGTHS = {"string_too_short": ("characters", "at least", "min_length"),
            "string_too_long": ("characters", "at most", "max_length"),
            "too_short": ("items", "at least", "min_length"),
            "too_long": ("items", "at most", "max_length")}


# ------------------------------------------------------------------------------- error bodies
def _error(metrics: ServeMetrics, status: int, code: str, message: str,
           headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    metrics.observe_error(code)
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _field_path(loc: Sequence[Any]) -> str:
    """``("body", "texts", 2)`` -> ``texts[2]``; ``("query", "k")`` -> ``k`` (query)."""
    where, *rest = list(loc) or ["body"]
    path = ""
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if where == "body":
        return path or "body"
    return f"{path or where} ({where})"


def _found(value: Any, where: str, show_numbers: bool = False) -> str:
    kind = next((name for t, name in _JSON_TYPES.items() if type(value) is t), None)
    if show_numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return "a body that is not JSON (send Content-Type: application/json)"
    if where != "body" and isinstance(value, str):  # a query/path value: short, safe to show
        return repr(value[:40] + ("..." if len(value) > 40 else ""))
    return kind or type(value).__name__


def _body_fields(request: Request) -> list[str]:
    """The top-level fields of the route's JSON body model (for 'did you mean')."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", None)
    return list(fields) if isinstance(fields, dict) else []


def _describe(error: dict[str, Any], request: Request) -> tuple[str, str]:
    """``(field, message)`` of one pydantic error, in the project's words."""
    loc = tuple(error.get("loc") or ("body",))
    field = _field_path(loc)
    kind = error.get("type", "")
    where = str(loc[0]) if loc else "body"
    if kind == "missing":
        if len(loc) == 1 and where == "body":
            return field, "body: expected a JSON object, found nothing"
        return field, f"{field}: required, found nothing"
    if kind == "extra_forbidden":
        known = _body_fields(request) if len(loc) == 2 else []
        hint = closest(str(loc[-1]), known) if known else ""
        listed = f"; expected {' or '.join(map(repr, known))}" if known and not hint else ""
        return field, f"{field}: unknown field{listed}{hint}"
    ctx = error.get("ctx") or {}
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return field, (f"{field}: expected a value {op} {ctx.get(key)}, found "
                       f"{_found(error.get('input'), where, show_numbers=True)}")
    if kind in _LENGTHS:
        word, op, key = _LENGTHS[kind]
        return field, f"{field}: expected {op} {ctx.get(key)} {word}"
    expected = _EXPECTED.get(kind)
    if expected:
        return field, f"{field}: expected {expected}, found {_found(error.get('input'), where)}"
    return field, f"{field}: {error.get('msg', 'invalid value')}"


# ------------------------------------------------------------------------------- middlewares
class _BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int, found: str) -> None:
        super().__init__(413, f"body: expected at most {limit} bytes, found {found}; send fewer "
                              "or shorter texts per request (the server's limit is set by "
                              "--max-body-bytes)")


class _Guard:
    """The API key and the body-size limit (inside CORS, so that browsers read the errors)."""

    def __init__(self, app: ASGIApp, *, key: str | None, max_body_bytes: int,
                 metrics: ServeMetrics) -> None:
        self.app = app
        self.key = key.encode() if key else None
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    def _authorized(self, scope: Scope) -> str | None:
        """None when the request may pass, else why not."""
        given: list[bytes] = []
        for name, value in scope.get("headers", []):
            if name == b"x-api-key":
                given.append(value.strip())
            elif name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given.append(token.strip())
        if not given:
            return ("this server requires an API key: send the header 'Authorization: Bearer "
                    "<key>' or 'X-API-Key: <key>'")
        # compare every given key in constant time (no early exit on the first)
        ok = [hmac.compare_digest(g, self.key) for g in given]  # type: ignore[arg-type]
        return None if any(ok) else "the API key is not valid; check the key you send"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.key is not None and scope.get("path") not in OPEN_PATHS:
            why = self._authorized(scope)
            if why is not None:
                response = _error(self.metrics, 401, "unauthorized", why,
                                  headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        limit = self.max_body_bytes
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            exc = _BodyTooLarge(limit, f"Content-Length {int(length)}")
            await _error(self.metrics, 413, "body_too_large", exc.detail)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:  # a body without Content-Length (chunked) is counted
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit, f"more than {limit} bytes")
            return message

        await self.app(scope, counted, send)


class _Observe:
    """Metrics of every request, and the last resort for errors: an exception no handler
    answered becomes a 500 with an id logged with its traceback, never a traceback to the
    client."""

    def __init__(self, app: ASGIApp, *, metrics: ServeMetrics,
                 templates: Sequence[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        # the route template of a path, for the metrics' route label: matched here, not read
        # from what the router leaves in the scope (which differs between FastAPI versions)
        self.templates = [(compile_path(t)[0], t) for t in dict.fromkeys(templates)]

    def route_of(self, path: str) -> str:
        return next((t for regex, t in self.templates if regex.match(path)), "unmatched")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def sending(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                started = True
            await send(message)

        self.metrics.inflight.inc()
        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if isinstance(exc, _BodyTooLarge):  # raised while a route read its body itself
                response = _error(self.metrics, 413, "body_too_large", exc.detail)
            else:
                error_id = uuid.uuid4().hex
                logger.error("internal error %s on %s %s", error_id, scope.get("method"),
                             scope.get("path"), exc_info=exc)
                response = _error(self.metrics, 500, "internal_error",
                                  "the server failed to answer this request; the error is in "
                                  f"the server log with id {error_id}", id=error_id)
            if not started:  # else the client sees the connection close mid-response
                status = response.status_code
                await response(scope, receive, send)
        finally:
            self.metrics.inflight.dec()
            self.metrics.observe_request(self.route_of(str(scope.get("path", ""))),
                                         _method_label(scope.get("method")), status,
                                         time.perf_counter() - start)


# ------------------------------------------------------------------------------- the app
def error_response(description: str) -> dict[str, Any]:
    """An error response for a route's ``responses={status: ...}`` in the OpenAPI spec (the one
    error shape), for the statuses a route adds to the server's own, e.g.
    ``@router.post("/v1/feedback", responses={404: error_response("no such turn")})``."""
    return {"description": description,
            "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def _method_label(method: Any) -> str:
    """The request method as a metrics label: a client's made-up method is ``other`` (labels
    from client input would grow ``/metrics`` without bound)."""
    return method if method in _METHODS else "other"


def _strict_query(request: Request) -> None:
    """Unknown query parameters are a 422 naming them (as unknown body fields are), with the
    closest known one: ``?tickr=AAPL`` must not silently return everything."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = [p.alias for p in dependant.query_params]
    for name in request.query_params:
        if name not in known:
            from ..errors import closest

            raise ApiError(422, "invalid_request",
                           f"{name} (query): unknown parameter{closest(name, known)}; "
                           f"this route takes {known or 'no query parameters'}")


def _document_errors(routes: Sequence[Any]) -> None:
    """List the error responses a route can give (in their one shape) in the OpenAPI spec."""
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        has_body = route.body_field is not None
        has_params = bool(route.dependant.query_params or route.dependant.path_params
                          or route.dependant.header_params)
        wanted = [500]
        if route.path not in OPEN_PATHS:
            wanted.append(401)
        if has_body:
            wanted += [400, 413, 422, 503]
        elif has_params:
            wanted.append(422)
        documented = {str(k) for k in route.responses}
        for status in sorted(wanted):
            if str(status) not in documented:
                route.responses[status] = {
                    "description": ERROR_RESPONSES[status],
                    "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


def create_app(routes: Routes | Sequence[Routes], config: ServeConfig | None = None, *,
               title: str = "domaintune") -> FastAPI:
    """The FastAPI app serving ``routes`` with the server's common routes and rules.

    Routes added: ``GET /health`` (liveness, no API key), ``GET /ready`` (503 until the
    batchers run), ``GET /metrics`` (Prometheus), ``GET /v1/model`` (what is served), the
    OpenAPI spec ``/openapi.json`` and ``/docs``. The API key (``config.api_key_env``) is read
    now: a missing variable is an error here, not a server that starts open.

    Args:
        routes: one :class:`Routes` or several (e.g. an app's and a model's).
        config: limits, API key, CORS (default ``ServeConfig()``).
        title: the API's title in the OpenAPI spec.

    Raises:
        ConfigError: no routes, or the API key variable is not set.

    Example:
        >>> app = create_app(model_routes(domaintune.load("models/tickets"), cfg))  # doctest: +SKIP
    """
    config = config or ServeConfig()
    services = [routes] if isinstance(routes, Routes) else list(routes)
    if not services or not all(isinstance(r, Routes) for r in services):
        raise ConfigError(f"create_app: expected a Routes or a list of Routes, found "
                          f"{type(routes).__name__}; build them with model_routes(model, config) "
                          "or the app's routes hook")
    key = resolve_api_key(config)
    metrics = ServeMetrics()
    batchers = [b for r in services for b in r.batchers]
    for batcher in batchers:
        batcher.observer = metrics.batch_observer(batcher.name)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for batcher in batchers:
            batcher.start()
        app.state.serving = True
        logger.info("ready: %s", ", ".join(r.name for r in services))
        try:
            yield
        finally:  # uvicorn drained the in-flight requests; drain what they queued, then close
            app.state.serving = False
            stopped = True
            for batcher in batchers:
                if not await batcher.stop(timeout=config.graceful_timeout_s):
                    stopped = False
                    logger.warning("batcher %r did not finish within %gs; the services are "
                                   "left open (the process exits)", batcher.name,
                                   config.graceful_timeout_s)
            for service in services if stopped else ():
                if service.close is not None:
                    try:
                        service.close()
                    except Exception:
                        logger.exception("closing %s failed", service.name)

    app = FastAPI(title=title, version=__version__, lifespan=lifespan,
                  dependencies=[Depends(_strict_query)],
                  description="domaintune REST API: every error is "
                              '`{"error": {"code": ..., "message": ...}}`.')
    app.state.serving = False
    app.state.metrics = metrics
    app.state.config = config
    app.state.services = services

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(metrics, exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            ctx = bad_json.get("ctx") or {}
            pos = (bad_json.get("loc") or ("body", "?"))[-1]
            detail = ctx.get("error", "decode error")
            return _error(metrics, 400, "invalid_json",
                          f"body: expected JSON, found invalid JSON ({detail} at character "
                          f"{pos}); send a JSON object such as {{\"texts\": [\"...\"]}} with "
                          "Content-Type: application/json")
        described = [_describe(e, request) for e in errors]
        message = "; ".join(m for _, m in described[:5])
        if len(described) > 5:
            message += f" (and {len(described) - 5} more)"
        return _error(metrics, 422, "invalid_request", message, field=described[0][0])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        method, path = request.method, request.url.path
        # the router's own 404/405 carry the status phrase; a route's carry their message
        routed = str(exc.detail) == HTTPStatus(exc.status_code).phrase
        if not routed and exc.status_code in (404, 405):
            code = "not_found" if exc.status_code == 404 else "method_not_allowed"
            return _error(metrics, exc.status_code, code, str(exc.detail), headers=headers)
        if exc.status_code == 404:
            return _error(metrics, 404, "not_found", f"no route {method} {path}; the routes are "
                          "listed in /openapi.json (and /docs)", headers=headers)
        if exc.status_code == 405:
            allowed = headers.get("Allow") or headers.get("allow") or "?"
            return _error(metrics, 405, "method_not_allowed",
                          f"{path} does not accept {method}; use {allowed}", headers=headers)
        if exc.status_code == 400 and str(exc.detail) == "There was an error parsing the body":
            # FastAPI's answer to a body json.loads cannot even start on (not UTF-8, nested
            # too deeply ...)
            return _error(metrics, 400, "invalid_json",
                          "body: expected JSON text in UTF-8, found bytes that cannot be parsed "
                          "(not UTF-8, or nested too deeply); send a JSON object such as "
                          '{"texts": ["..."]}', headers=headers)
        if exc.status_code == 413:
            return _error(metrics, 413, "body_too_large", str(exc.detail), headers=headers)
        code = {400: "bad_request", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, f"http_{exc.status_code}")
        return _error(metrics, exc.status_code, code, str(exc.detail), headers=headers)

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], summary="Readiness: the model is loaded and running",
             responses={503: error_response("Not ready (`not_ready`)")})
    async def ready() -> Any:
        problems = [s.name for s in services if not _service_ready(s)]
        if not app.state.serving or problems:
            return _error(metrics, 503, "not_ready",
                          f"not ready: {', '.join(problems) or 'the server'} is starting or "
                          "shutting down; retry in a moment")
        return {"status": "ready"}

    # HEAD on the probes too (load balancers often probe with it); not in the spec
    app.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)
    app.add_api_route("/ready", ready, methods=["HEAD"], include_in_schema=False)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (text format)",
             response_class=Response)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    @app.get("/v1/model", tags=["operations"], summary="What is served: task, labels, version, "
                                                       "metrics")
    async def model_info() -> dict[str, Any]:
        if len(services) == 1:
            return {"name": services[0].name, **services[0].info()}
        return {"name": title, "services": [{"name": s.name, **s.info()} for s in services]}

    def openapi() -> dict[str, Any]:  # FastAPI's spec, with the server's limits written in
        if app.openapi_schema is None:
            from .schemas import apply_limits

            app.openapi_schema = apply_limits(FastAPI.openapi(app), config)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    for service in services:
        _document_errors(service.router.routes)
        app.include_router(service.router)
    _document_errors(app.router.routes)

    app.add_middleware(_Guard, key=key, max_body_bytes=config.max_body_bytes, metrics=metrics)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    templates = [getattr(r, "path", None) for r in app.router.routes]
    templates += [getattr(r, "path", None) for s in services for r in s.router.routes]
    app.add_middleware(_Observe, metrics=metrics,  # outermost: sees every request and error
                       templates=[t for t in templates if isinstance(t, str)])
    return app


def _service_ready(service: Routes) -> bool:
    if service.ready is not None:
        try:
            return bool(service.ready())
        except Exception:
            logger.exception("%s: its ready() check failed", service.name)
            return False
    return all(getattr(b, "running", True) for b in service.batchers)

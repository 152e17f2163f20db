"""Run a server: uvicorn around :func:`~domaintune.serving.create_app`.

:func:`serve_model` serves a model or export directory (``domaintune serve DIR``),
:func:`serve_app` an app's service directory (``support-bot serve BOT_DIR`` ...), :func:`serve`
anything that builds :class:`~domaintune.serving.Routes`.

- Binds to loopback by default and says so; binding elsewhere without an API key is a warning.
- SIGTERM (and Ctrl-C) shut down gracefully: uvicorn stops accepting, lets in-flight requests
  finish (up to ``graceful_timeout_s``), then the app drains its batchers and closes its
  services; the process then exits with status 0.
- ``workers > 1``: uvicorn starts that many processes, each loading the model itself from the
  spec passed in the environment variable :data:`SPEC_ENV` (JSON: what to load + the config).

Example:
    >>> serve_model("models/tickets", ServeConfig(port=8080))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DomaintuneError
from .config import ServeConfig, resolve_api_key
from .routes import Routes

logger = logging.getLogger(__name__)

#: environment variable carrying what the worker processes load (``workers > 1``)
SPEC_ENV = "DOMAINTUNE_SERVE_SPEC"


def announce(config: ServeConfig, key: str | None) -> None:
    """Log where the server listens, and whether other machines can reach it."""
    if config.is_loopback:
        logger.info("serving on %s (loopback only: pass --host 0.0.0.0 to accept other "
                    "machines)%s", config.url, "; API key required" if key else "")
        return
    logger.info("serving on %s (reachable from other machines)", config.url)
    if key is None:
        logger.warning("serving on %s without an API key: anyone who can reach this port can "
                       "call the model; set one with --api-key-env VAR (the name of an "
                       "environment variable holding the key)", config.url)


@contextlib.contextmanager
def _signals_end_cleanly() -> Iterator[list[int]]:
    """uvicorn re-raises the SIGTERM/SIGINT that stopped it, once it has shut down, to the
    handler that was there before it; ours notes it, so a graceful stop exits with 0."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    signals = [signal.SIGINT, signal.SIGTERM]
    previous = {s: signal.signal(s, lambda sig, frame: caught.append(sig)) for s in signals}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _uvicorn_options(config: ServeConfig) -> dict[str, Any]:
    return {"host": config.host, "port": config.port,
            "timeout_graceful_shutdown": max(1, round(config.graceful_timeout_s)),
            "log_level": "info", "lifespan": "on", "server_header": False}


def _run(run: Callable[[], None], config: ServeConfig) -> dict[str, Any]:
    with _signals_end_cleanly() as caught:
        try:
            run()
        except SystemExit as exc:  # uvicorn exits when it cannot bind or start
            if exc.code in (0, None):
                return {"url": config.url, "stopped_by": None}
            raise DomaintuneError(
                f"the server could not start on {config.url} (see uvicorn's error above): is "
                "the port in use? pass another --port, or stop the other server") from None
    stopped_by = signal.Signals(caught[-1]).name if caught else None
    logger.info("stopped%s", f" by {stopped_by}" if stopped_by else "")
    return {"url": config.url, "stopped_by": stopped_by}


def serve(load: Callable[[], Routes | Sequence[Routes]], config: ServeConfig | None = None, *,
          title: str = "domaintune", spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the routes with ``load()`` and serve them until SIGTERM / Ctrl-C.

    Args:
        load: builds the routes (loads the model or the service) once, before the server binds.
        config: host, port, limits ... (default ``ServeConfig()``).
        title: the API's title.
        spec: what :func:`_factory` loads in each worker process; required for
            ``config.workers > 1`` (use :func:`serve_model` / :func:`serve_app`, which pass it).

    Returns:
        ``{"url", "stopped_by"}`` once the server stopped (``stopped_by``: ``SIGTERM`` ...).

    Raises:
        ConfigError: the API key variable is not set; ``workers > 1`` without a spec.
        DomaintuneError: the server cannot bind (port in use ...).
    """
    import uvicorn

    from .app import create_app

    config = config or ServeConfig()
    key = resolve_api_key(config)  # before minutes of model loading
    if config.workers > 1:
        if spec is None:
            raise ConfigError("workers > 1 starts separate processes that must load the service "
                              "themselves: use serve_model(path, config) or serve_app(name, path, "
                              "config), or pass --workers 1")
        os.environ[SPEC_ENV] = json.dumps({**spec, "title": title, "config": config.to_dict()})
        announce(config, key)
        return _run(lambda: uvicorn.run("domaintune.serving.server:_factory", factory=True,
                                        workers=config.workers, **_uvicorn_options(config)),
                    config)
    app = create_app(load(), config, title=title)
    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(config)))
    announce(config, key)

    def run() -> None:
        server.run()
        if not server.started:
            raise SystemExit(3)

    return _run(run, config)


def _model_loader(path: str | Path, config: ServeConfig) -> Callable[[], Routes]:
    from .model import load_model, model_routes

    def load() -> Routes:
        return model_routes(load_model(path, config), config, path=path)

    return load


def _app_loader(app_name: str, path: str | Path, config: ServeConfig) -> Callable[[], Routes]:
    from ..apps import get_app

    app = get_app(app_name)
    if app.routes is None:
        raise DomaintuneError(f"app {app_name!r} has no REST routes yet (its AppSpec.routes is "
                              "None); serve one of its models with `domaintune serve DIR`, or add "
                              "a routes hook to the app")

    def load() -> Routes:
        routes = app.build_routes(app.load_service(path), config)
        if routes is None:
            raise DomaintuneError(f"app {app_name!r}: its routes hook returned None; it must "
                                  "return a domaintune.serving.Routes")
        return routes

    return load


def serve_model(path: str | Path, config: ServeConfig | None = None) -> dict[str, Any]:
    """Serve a model or ONNX export directory (see :func:`~domaintune.serving.model_routes`).

    Example:
        >>> serve_model("models/tickets-onnx", ServeConfig(max_batch_size=64))  # doctest: +SKIP
    """
    config = config or ServeConfig()
    return serve(_model_loader(path, config), config, title=f"domaintune: {Path(path).name}",
                 spec={"kind": "model", "path": str(Path(path).resolve())})


def serve_app(app_name: str, path: str | Path, config: ServeConfig | None = None) -> dict[str, Any]:
    """Serve an app's service directory with the app's routes (``AppSpec.routes``).

    The routes hook is called as ``routes(service, config)`` (the :class:`ServeConfig`: limits
    for :func:`texts_of`, batching for its batchers; see ``AppSpec.routes``).

    Raises:
        AppLoadError: the app is not registered.
        DomaintuneError: the app has no routes.
    """
    config = config or ServeConfig()
    return serve(_app_loader(app_name, path, config), config, title=f"domaintune: {app_name}",
                 spec={"kind": "app", "app": app_name, "path": str(Path(path).resolve())})


def _factory() -> Any:
    """The app of one worker process (``workers > 1``), from :data:`SPEC_ENV`."""
    from .app import create_app

    raw = os.environ.get(SPEC_ENV)
    if not raw:
        raise ConfigError(f"{SPEC_ENV} is not set: the worker processes of `serve --workers N` "
                          "are started by serve_model / serve_app, not directly")
    spec = json.loads(raw)
    config = ServeConfig.from_dict(spec["config"])
    if spec["kind"] == "model":
        load = _model_loader(spec["path"], config)
    else:
        load = _app_loader(spec["app"], spec["path"], config)
    return create_app(load(), config, title=spec.get("title", "domaintune"))

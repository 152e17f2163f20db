"""What an app (or the core's model server) hands the shared server: routes plus their batchers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter


@dataclass
class Routes:
    """Routes around one loaded service, for :func:`domaintune.serving.create_app`.

    Args:
        name: what is served (``support_bot``, ``text-classifier`` ...), in ``/v1/model``.
        router: a ``fastapi.APIRouter`` with the service's routes (``/v1/...``).
        info: ``info() -> dict`` for ``GET /v1/model`` (task, labels, version, metrics ...).
        batchers: the :class:`~domaintune.serving.batching.MicroBatcher` s the routes submit
            to; the server starts them at start-up and drains them at shutdown.
        ready: ``ready() -> bool`` for ``GET /ready`` (default: the batchers are running).
        close: called once at shutdown, after the batchers drained (closes stores ...).
    """

    name: str
    router: APIRouter
    info: Callable[[], dict[str, Any]] = field(default=lambda: {})
    batchers: Sequence[Any] = ()
    ready: Callable[[], bool] | None = None
    close: Callable[[], None] | None = None

"""Calling a (blocking) service from a route: in a worker thread, its own errors as 4xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ConfigError, DataError
from .errors import ApiError

T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any, code: str = "invalid_request",
               status: int = 422, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in Starlette's thread pool (never on the event loop).

    The service's own input errors (:class:`~domaintune.errors.DataError`,
    :class:`~domaintune.errors.ConfigError`: they name the field and the fix) become an
    :class:`ApiError` with ``status`` / ``code``; anything else propagates (a 500 with an id).
    """
    from starlette.concurrency import run_in_threadpool

    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except (DataError, ConfigError) as exc:
        raise ApiError(status, code, str(exc)) from None

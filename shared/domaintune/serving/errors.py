"""The one error shape every route returns: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A client-facing error: raised by a route, answered as ``status`` with the error body.

    Args:
        status: the HTTP status (4xx for the client's mistakes, 503 when not ready ...).
        code: a stable machine-readable code (``too_many_texts``, ``unknown_user`` ...).
        message: one sentence naming the field and what to do.

    Example:
        >>> ApiError(422, "empty_texts", "texts: expected at least one text, found []").status
        422
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = int(status)
        self.code = str(code)
        self.message = str(message)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """``{"error": {"code": code, "message": message, **extra}}``.

    Example:
        >>> error_body("invalid_json", "the body is not JSON")
        {'error': {'code': 'invalid_json', 'message': 'the body is not JSON'}}
    """
    return {"error": {"code": code, "message": message, **extra}}

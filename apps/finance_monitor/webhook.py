"""Webhook delivery: POST one alert as JSON, with retries, back-off and a hard timeout.

:func:`post_alert` never raises for HTTP or network trouble: it returns a
:class:`DeliveryResult` that the outbox (``store.py``/``batch.py``) records. A delivery that
is not ``ok`` stays pending and is tried again on the next run or by ``finance-monitor
deliver``, so an alert is never dropped; the receiver de-duplicates on the
``Idempotency-Key`` header (the ``alert_id``), so an alert sent twice (a POST that timed out
on our side but reached the receiver) is accepted once.

How each outcome is treated within one call:

- **2xx**: delivered.
- **409 Conflict**: delivered. An idempotent receiver answers 409 to a key it already holds;
  the alert is there, and retrying would only repeat the 409 forever. (A receiver that
  answers 409 for another reason is misusing it for this protocol.)
- **408, 429, 5xx**, timeouts, refused/reset/closed connections, DNS failures: retried, up to
  ``retries`` attempts in all, waiting ``backoff_s * 2**i`` seconds before attempt ``i + 2``
  (capped at :data:`MAX_BACKOFF_S`), or the server's ``Retry-After`` (seconds or an HTTP date,
  capped the same) when it sends one.
- **other 4xx**, redirects (3xx, not followed: following a redirect would turn the POST into
  a GET without the alert), TLS certificate errors, a URL that is not http(s): a permanent
  failure (``permanent=True``); no more attempts in this call. The alert still stays pending:
  fix the receiver or the URL, then run ``finance-monitor deliver``.

Each attempt ends within ``timeout_s`` seconds of wall-clock time, even against a server that
accepts the connection and then sends nothing or trickles bytes: the request runs in a worker
thread that the caller stops waiting for (the thread ends on its own at its socket timeout).
Proxies from the usual environment variables (``https_proxy``, ``no_proxy``) are honoured.

Example:
    >>> result = post_alert("https://hooks.example.com/alerts", alert, timeout_s=5.0,
    ...                     retries=3, backoff_s=0.5)  # doctest: +SKIP
    >>> result  # doctest: +SKIP
    DeliveryResult(ok=True, status=200, error=None, attempts=1, permanent=False)
"""

from __future__ import annotations

import email.utils
import http.client
import math
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from . import __version__
from .alerts import Alert

MAX_BACKOFF_S = 30.0
"""The longest wait between two attempts (computed back-off and ``Retry-After`` alike)."""

USER_AGENT = f"finance-monitor/{__version__}"
_BODY_SNIPPET = 200  # characters of an error response quoted in DeliveryResult.error
_READ_LIMIT = 64 * 1024  # bytes of a response read (the body is only quoted, never needed)


@dataclass
class DeliveryResult:
    """What happened to one delivery.

    Args:
        ok: the receiver has the alert (2xx, or 409 for a key it already holds).
        status: the last HTTP status received, None when no response came back.
        error: a short reason when not ok (``"connection refused"``, ``"timed out after 5.0 s"``,
            ``"HTTP 503"``, ``"HTTP 400: <start of the body>"``); None when ok.
        attempts: POSTs made in this call (0 for a URL that is not http/https).
        permanent: the failure will not go away by retrying (a 4xx other than 408/409/429, a
            redirect, a bad URL or certificate): someone has to fix the receiver or the URL.
    """

    ok: bool
    status: int | None
    error: str | None
    attempts: int
    permanent: bool = False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


@dataclass
class _Outcome:
    status: int | None = None
    error: str | None = None
    retry: bool = False  # worth another attempt
    retry_after: float | None = None
    ok: bool = False


def post_alert(url: str, alert: Alert, *, timeout_s: float, retries: int, backoff_s: float,
               sleep: Callable[[float], object] = time.sleep) -> DeliveryResult:
    """POST ``alert`` as JSON to ``url``; retry transient failures; never raise for HTTP or
    network errors.

    Headers: ``Content-Type: application/json``, ``Idempotency-Key: <alert_id>``,
    ``User-Agent: finance-monitor/<version>``. The body is :meth:`Alert.to_json` (UTF-8).

    Args:
        url: an ``http://`` or ``https://`` address.
        alert: the alert to send.
        timeout_s: the most one attempt may take, in seconds (connect, send and response).
        retries: attempts in all within this call (``alerts.webhook_retries``), 1 or more.
        backoff_s: the wait before the second attempt; doubled each time, capped at
            :data:`MAX_BACKOFF_S`; a ``Retry-After`` header replaces it.
        sleep: how to wait (tests pass a fake clock).

    Returns:
        a :class:`DeliveryResult`; see the module docstring for what is retried.

    Example:
        >>> post_alert("http://127.0.0.1:9/", alert, timeout_s=0.5, retries=1,
        ...            backoff_s=0)  # doctest: +SKIP
        DeliveryResult(ok=False, status=None, error='connection refused', attempts=1, permanent=False)
    """
    if timeout_s <= 0:
        raise ValueError(f"post_alert: timeout_s expects a number above 0, found {timeout_s!r}")
    if retries < 1:
        raise ValueError(f"post_alert: retries expects an integer of 1 or more, found {retries!r}")
    if backoff_s < 0:
        raise ValueError(f"post_alert: backoff_s expects a number of 0 or more, found "
                         f"{backoff_s!r}")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return DeliveryResult(False, None, f"invalid webhook URL {url!r}: expected an http:// or "
                                           "https:// address", 0, permanent=True)
    body = alert.to_json().encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "Idempotency-Key": alert.alert_id, "User-Agent": USER_AGENT}
    outcome = _Outcome()
    for attempt in range(retries):
        if attempt:
            delay = backoff_s * 2 ** (attempt - 1)
            if outcome.retry_after is not None:
                delay = outcome.retry_after
            sleep(min(max(delay, 0.0), MAX_BACKOFF_S))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        outcome = _attempt(request, timeout_s)
        if outcome.ok:
            return DeliveryResult(True, outcome.status, None, attempt + 1)
        if not outcome.retry:
            return DeliveryResult(False, outcome.status, outcome.error, attempt + 1,
                                  permanent=True)
    return DeliveryResult(False, outcome.status, outcome.error, retries)


def _attempt(request: urllib.request.Request, timeout_s: float) -> _Outcome:
    """One POST, abandoned after ``timeout_s`` seconds of wall-clock time."""
    box: list[_Outcome] = []
    worker = threading.Thread(target=lambda: box.append(_send(request, timeout_s)),
                              name="finance-monitor-webhook", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if box:
        return box[0]
    return _Outcome(error=f"timed out after {timeout_s:g} s", retry=True)


def _send(request: urllib.request.Request, timeout_s: float) -> _Outcome:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read(_READ_LIMIT)
            return _Outcome(status=response.status, ok=True)
    except urllib.error.HTTPError as exc:
        return _http_outcome(exc)
    except urllib.error.URLError as exc:
        return _network_outcome(exc.reason, timeout_s)
    except (OSError, http.client.HTTPException) as exc:
        return _network_outcome(exc, timeout_s)
    except Exception as exc:  # never raise for a delivery; say what it was
        return _Outcome(error=f"{type(exc).__name__}: {exc}", retry=True)


def _http_outcome(exc: urllib.error.HTTPError) -> _Outcome:
    code = exc.code
    try:
        text = exc.read(_READ_LIMIT).decode("utf-8", "replace")
    except Exception:  # the body is only quoted
        text = ""
    finally:
        exc.close()
    if 200 <= code < 300 or code == 409:  # 409: the receiver already holds this key
        return _Outcome(status=code, ok=True)
    snippet = " ".join(text.split())[:_BODY_SNIPPET]
    if 300 <= code < 400:
        where = exc.headers.get("Location") if exc.headers else None
        return _Outcome(status=code, error=f"HTTP {code}: redirect to {where or '?'} not "
                                           "followed; set the webhook URL to the final address")
    retry = code in (408, 429) or code >= 500
    error = f"HTTP {code}" if retry or not snippet else f"HTTP {code}: {snippet}"
    return _Outcome(status=code, error=error, retry=retry,
                    retry_after=_retry_after(exc.headers.get("Retry-After") if exc.headers
                                             else None))


def _network_outcome(reason: object, timeout_s: float) -> _Outcome:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return _Outcome(error=f"timed out after {timeout_s:g} s", retry=True)
    if isinstance(reason, ConnectionRefusedError):
        return _Outcome(error="connection refused", retry=True)
    if isinstance(reason, http.client.RemoteDisconnected):
        return _Outcome(error="connection closed by the server without a response", retry=True)
    if isinstance(reason, ConnectionResetError):
        return _Outcome(error="connection reset", retry=True)
    if isinstance(reason, socket.gaierror):
        return _Outcome(error=f"cannot resolve the host ({reason.strerror or reason})",
                        retry=True)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _Outcome(error=f"TLS certificate verification failed: "
                              f"{reason.verify_message or reason}")
    if isinstance(reason, http.client.HTTPException):
        return _Outcome(error=f"bad HTTP response ({type(reason).__name__})", retry=True)
    if isinstance(reason, OSError):
        return _Outcome(error=reason.strerror or str(reason) or type(reason).__name__,
                        retry=True)
    return _Outcome(error=str(reason), retry=True)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)

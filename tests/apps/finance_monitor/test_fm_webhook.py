"""Webhook delivery against a real local HTTP server that fails, hangs and recovers.

The receiver de-duplicates on ``Idempotency-Key`` as a real one should; the tests check that
every alert ends up accepted exactly once. Back-off waits go to a fake ``sleep``; only the
hanging cases take real time (0.2 s timeouts).
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import finance_monitor
from finance_monitor.alerts import Alert, iso_utc, make_alert_id
from finance_monitor.webhook import MAX_BACKOFF_S, DeliveryResult, _retry_after, post_alert

START = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)


def make(key: str = "ACME", hour: int = 0) -> Alert:
    start = START + timedelta(hours=hour)
    return Alert(alert_id=make_alert_id("ticker", key, "hour", start), series_kind="ticker",
                 series_key=key, window_start=iso_utc(start),
                 window_end=iso_utc(start + timedelta(hours=1)), window="hour", severity="high",
                 triggered_by=["zscore"], metrics={"count": 12.0, "negative_share": 0.75},
                 baseline={"negative_share_mean": 0.2}, documents=[], created_at=iso_utc(START))


class Receiver:
    """What the server does with each request: the next item of ``script`` (then "ok")."""

    def __init__(self) -> None:
        self.script: list = []
        self.accepted: Counter[str] = Counter()
        self.requests: list[tuple[dict, bytes]] = []
        self.release = threading.Event()  # set at teardown: hanging handlers give up
        self.lock = threading.Lock()
        self.url = ""

    def next(self, headers: dict, body: bytes):
        with self.lock:
            self.requests.append((headers, body))
            return self.script.pop(0) if self.script else "ok"

    def accept(self, key: str) -> bool:
        """Record the key; False when it was already accepted (a replay)."""
        with self.lock:
            first = key not in self.accepted
            if first:
                self.accepted[key] += 1
            return first


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def reply(self, code: int, text: str = "", headers: dict | None = None) -> None:
        data = text.encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("Idempotency-Key", "")
        action = receiver.next(dict(self.headers), body)
        code, _, extra = str(action).partition(":")
        try:
            if code == "ok":
                if receiver.accept(key):
                    self.reply(201, '{"accepted": true}')
                else:
                    self.reply(200, '{"replayed": true}')
            elif code == "hang":  # stuck before processing
                receiver.release.wait(2.0)
            elif code == "accept-hang":  # processed, but the answer never comes
                receiver.accept(key)
                receiver.release.wait(2.0)
            elif code == "trickle":  # bytes keep coming, slower than a whole response
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(40):
                    if receiver.release.wait(0.05):
                        break
                    self.wfile.write(b"a")
                    self.wfile.flush()
            elif code == "close":  # hang up without a response
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif code == "redirect":
                self.reply(307, "", {"Location": "http://127.0.0.1:1/elsewhere"})
            elif code == "400":
                self.reply(400, '{"error": "field \'severity\' is not allowed"}\n')
            else:  # a status code, ":seconds" = Retry-After
                self.reply(int(code), "busy", {"Retry-After": extra} if extra else None)
        except OSError:  # the client gave up (timeout): nothing to answer
            pass


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.receiver = Receiver()  # type: ignore[attr-defined]
    server.receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def post(url: str, alert: Alert, sleep: FakeSleep | None = None, **kwargs) -> DeliveryResult:
    options = {"timeout_s": 0.2, "retries": 3, "backoff_s": 0.5, **kwargs}
    return post_alert(url, alert, sleep=sleep if sleep is not None else FakeSleep(), **options)


def test_delivers_the_alert_json_with_the_headers(receiver):
    alert = make()
    result = post(receiver.url, alert)
    assert result == DeliveryResult(ok=True, status=201, error=None, attempts=1)
    headers, body = receiver.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == alert.alert_id
    assert headers["User-Agent"] == f"finance-monitor/{finance_monitor.__version__}"
    assert Alert.from_dict(json.loads(body)) == alert
    assert receiver.accepted == {alert.alert_id: 1}


def test_refused_connection_is_retried_with_backoff():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleep = FakeSleep()
    result = post(f"http://127.0.0.1:{port}/", make(), sleep, backoff_s=0.1)
    assert result == DeliveryResult(ok=False, status=None, error="connection refused",
                                    attempts=3, permanent=False)
    assert sleep.calls == [0.1, 0.2]


def test_503_then_200_is_delivered_once(receiver):
    receiver.script = ["503"]
    sleep = FakeSleep()
    result = post(receiver.url, make(), sleep)
    assert (result.ok, result.status, result.attempts) == (True, 201, 2)
    assert sleep.calls == [0.5]
    assert receiver.accepted == {make().alert_id: 1}


def test_5xx_until_the_retries_run_out(receiver):
    receiver.script = ["503", "500", "502"]
    sleep = FakeSleep()
    result = post(receiver.url, make(), sleep, backoff_s=0.25)
    assert result == DeliveryResult(ok=False, status=502, error="HTTP 502", attempts=3)
    assert sleep.calls == [0.25, 0.5] and len(receiver.requests) == 3
    assert not receiver.accepted


def test_backoff_doubles_and_is_capped(receiver):
    receiver.script = ["500"] * 5
    sleep = FakeSleep()
    result = post(receiver.url, make(), sleep, retries=5, backoff_s=10)
    assert not result.ok and result.attempts == 5
    assert sleep.calls == [10, 20, MAX_BACKOFF_S, MAX_BACKOFF_S]


def test_hanging_server_times_out_then_recovers(receiver):
    receiver.script = ["hang"]
    begin = time.monotonic()
    result = post(receiver.url, make(), retries=1)
    took = time.monotonic() - begin
    assert result == DeliveryResult(ok=False, status=None, error="timed out after 0.2 s",
                                    attempts=1)
    assert took < 0.6
    begin = time.monotonic()
    receiver.script = ["hang", "hang"]
    result = post(receiver.url, make(), retries=3)
    assert (result.ok, result.attempts) == (True, 3)
    assert time.monotonic() - begin < 1.2
    assert receiver.accepted == {make().alert_id: 1}


def test_a_trickling_server_cannot_hold_the_caller(receiver):
    receiver.script = ["trickle"]
    begin = time.monotonic()
    result = post(receiver.url, make(), retries=1, timeout_s=0.3)
    took = time.monotonic() - begin
    assert result.error == "timed out after 0.3 s" and not result.ok
    assert took < 0.7  # each byte comes within the socket timeout: only the deadline stops it


def test_processed_but_unanswered_is_resent_and_accepted_once(receiver):
    receiver.script = ["accept-hang"]
    result = post(receiver.url, make())
    assert (result.ok, result.status, result.attempts) == (True, 200, 2)  # 200: a replay
    assert len(receiver.requests) == 2 and receiver.accepted == {make().alert_id: 1}


def test_400_is_permanent(receiver):
    receiver.script = ["400"]
    sleep = FakeSleep()
    result = post(receiver.url, make(), sleep, retries=5)
    assert (result.ok, result.status, result.attempts, result.permanent) == (False, 400, 1, True)
    assert result.error == "HTTP 400: {\"error\": \"field 'severity' is not allowed\"}"
    assert sleep.calls == [] and len(receiver.requests) == 1


@pytest.mark.parametrize("code", ["404", "401", "422"])
def test_other_4xx_are_permanent(receiver, code):
    receiver.script = [code]
    result = post(receiver.url, make())
    assert (result.ok, result.status, result.attempts, result.permanent) == (
        False, int(code), 1, True)
    assert result.error.startswith(f"HTTP {code}")


def test_409_counts_as_delivered(receiver):
    receiver.script = ["409"]
    result = post(receiver.url, make())
    assert result == DeliveryResult(ok=True, status=409, error=None, attempts=1)


@pytest.mark.parametrize("code", ["408", "429", "500", "504"])
def test_transient_statuses_are_retried(receiver, code):
    receiver.script = [code]
    result = post(receiver.url, make())
    assert (result.ok, result.attempts) == (True, 2)


def test_retry_after_is_honoured_and_capped(receiver):
    receiver.script = ["429:7", "503:1000", "503:soon"]
    sleep = FakeSleep()
    result = post(receiver.url, make(), sleep, retries=4, backoff_s=0.5)
    assert result.ok and result.attempts == 4
    # 7 s asked; 1000 s capped; unreadable -> the computed back-off (0.5 * 2**2)
    assert sleep.calls == [7.0, MAX_BACKOFF_S, 2.0]


def test_retry_after_as_an_http_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=20)
    assert 17 <= _retry_after(email.utils.format_datetime(when, usegmt=True)) <= 20
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry_after("3") == 3.0 and _retry_after(None) is None and _retry_after("x") is None


def test_closed_without_response_is_retried(receiver):
    receiver.script = ["close"]
    sleep = FakeSleep()
    result = post(receiver.url, make(), sleep)
    assert (result.ok, result.attempts) == (True, 2)


def test_closed_without_response_error_message(receiver):
    receiver.script = ["close"]
    result = post(receiver.url, make(), retries=1)
    assert not result.ok and result.error in (
        "connection closed by the server without a response", "connection reset")


def test_redirect_is_not_followed(receiver):
    receiver.script = ["redirect"]
    result = post(receiver.url, make())
    assert (result.ok, result.status, result.attempts, result.permanent) == (False, 307, 1, True)
    assert "redirect to http://127.0.0.1:1/elsewhere not followed" in result.error
    assert len(receiver.requests) == 1


def test_bad_url_and_arguments():
    result = post_alert("ftp://example.com/x", make(), timeout_s=1, retries=3, backoff_s=0)
    assert (result.ok, result.attempts, result.permanent) == (False, 0, True)
    assert "expected an http:// or https:// address" in result.error
    with pytest.raises(ValueError, match="timeout_s"):
        post_alert("http://127.0.0.1/", make(), timeout_s=0, retries=1, backoff_s=0)
    with pytest.raises(ValueError, match="retries"):
        post_alert("http://127.0.0.1/", make(), timeout_s=1, retries=0, backoff_s=0)


def test_outbox_delivers_every_alert_exactly_once(receiver):
    """The outbox loop: each run posts every pending alert; failures stay pending."""
    alerts = [make(key, hour) for key in ("AAA", "BBB", "CCC") for hour in (0, 1)]
    receiver.script = ["503", "hang", "accept-hang", "500", "close", "accept-hang",
                       "503", "503", "429:0", "503", "502", "503"]
    pending = {a.alert_id: a for a in alerts}
    runs = 0
    begin = time.monotonic()
    while pending and runs < 10:
        runs += 1
        for alert_id, alert in list(pending.items()):
            result = post(receiver.url, alert, retries=2, backoff_s=0.01)
            assert result.attempts <= 2
            if result.ok:
                del pending[alert_id]
    assert not pending, f"still pending after {runs} runs: {sorted(pending)}"
    assert runs >= 2  # some deliveries did fail a whole run and came back in the next
    assert receiver.accepted == {a.alert_id: 1 for a in alerts}
    sent = Counter(headers["Idempotency-Key"] for headers, _ in receiver.requests)
    assert set(sent) == set(receiver.accepted) and max(sent.values()) > 1
    assert time.monotonic() - begin < 3

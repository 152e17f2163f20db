"""finance-monitor's REST routes (apps/finance_monitor/api.py) on the core's server, in process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from fm_helpers import make_monitor

from domaintune.serving import ServeConfig, create_app
from finance_monitor.api import routes
from finance_monitor.cli import build_parser


@pytest.fixture
def monitor(tmp_path):
    m = make_monitor(f"sqlite:///{tmp_path / 'fm.db'}", config={
        "detection": {"warmup_windows": 3, "min_volume": 3}})
    yield m
    m.close()


@pytest.fixture
def client(monitor):
    config = ServeConfig(max_wait_ms=20.0)
    with TestClient(create_app(routes(monitor, config), config)) as c:
        yield c


def test_score_matches_the_monitor_and_stores_nothing(client, monitor):
    texts = ["$AAPL beats estimates", "$TSLA shares plunge on investigation", "markets open"]
    r = client.post("/v1/score", json={"texts": texts})
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    expected = monitor.score_texts(texts)
    assert [g["label"] for g in got] == [e["label"] for e in expected] == \
        ["positive", "negative", "neutral"]
    assert got[0]["tickers"] == ["AAPL"] and got[1]["tickers"] == ["TSLA"]
    assert abs(got[1]["score"] - expected[1]["score"]) < 1e-9
    one = client.post("/v1/score", json={"text": "$AAPL beats estimates"}).json()["results"]
    assert one == got[:1]
    assert monitor.alerts() == [] and monitor.tickers() == []


def test_score_limits_and_bad_bodies(client):
    for body, code in [({"texts": []}, "empty_texts"), ({}, "missing_texts"),
                       ({"texts": ["a"] * 65}, "too_many_texts"),
                       ({"texts": ["x" * 10_001]}, "text_too_long"),
                       ({"texts": ["ok"], "other": 1}, "invalid_request"),
                       ({"texts": [1, 2]}, "invalid_request")]:
        r = client.post("/v1/score", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.json())


def test_documents_are_stored_idempotently_and_a_surge_raises_an_alert(client, monitor):
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    docs, n = [], 0
    for hour in range(8):  # quiet hours, then a negative surge for $ACME
        ts = start + timedelta(hours=hour)
        texts = ([f"$ACME shares plunge #{i}" for i in range(12)] if hour == 7 else
                 [f"$ACME steady day {i}" for i in range(4)] + ["$ACME tumbles"])
        for text in texts:
            n += 1
            docs.append({"id": f"d{n}", "text": text,
                         "timestamp": (ts + timedelta(minutes=n % 50)).isoformat()})
    docs.append({"id": "late-close", "text": "$ACME quiet", "timestamp":
                 (start + timedelta(hours=9)).isoformat()})
    r = client.post("/v1/documents", json={"documents": docs})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"]["scored"] == len(docs) and body["skipped"] == {}
    alerts = client.get("/v1/alerts", params={"ticker": "acme"}).json()["alerts"]
    assert [a["alert_id"] for a in alerts] == [a.alert_id for a in monitor.alerts(ticker="ACME")]
    assert alerts and alerts[0]["series_key"] == "ACME"
    assert {a["alert_id"] for a in body["alerts"]} <= {a["alert_id"] for a in alerts}
    again = client.post("/v1/documents", json={"documents": docs}).json()
    assert again["counts"].get("scored", 0) == 0 and again["counts"]["already_stored"] == len(docs)
    assert again["alerts"] == []


def test_bad_documents_are_counted_or_refused(client):
    r = client.post("/v1/documents", json={"documents": [
        {"id": "a", "text": "$X ok", "timestamp": "not a time"},
        {"id": "b", "text": "$X ok", "timestamp": "2026-01-01T00:00:00Z"}]})
    assert r.status_code == 200 and r.json()["skipped"] == {"bad_timestamp": 1}
    for body in [{"documents": []}, {"documents": [{"id": "a", "text": "t"}]},
                 {"documents": [{"id": "a", "text": "t", "timestamp": 1, "x": 2}]}]:
        assert client.post("/v1/documents", json=body).status_code == 422, body
    assert client.get("/v1/alerts", params={"limit": 0}).status_code == 422


def test_concurrent_score_requests_get_their_own_results(client):
    texts = [f"$T{i} beats" if i % 2 else f"$T{i} plunge" for i in range(24)]

    def send(text):
        return client.post("/v1/score", json={"text": text}).json()["results"][0]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, texts))
    for i, res in enumerate(results):
        assert res["tickers"] == [f"T{i}"]
        assert res["label"] == ("positive" if i % 2 else "negative")


def test_serve_command_parses_and_refuses_workers():
    args = build_parser().parse_args(["serve", "--db", "sqlite:///x.db", "--port", "9001"])
    assert args.port == 9001 and args.func.__name__ == "_serve"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--workers", "2"])

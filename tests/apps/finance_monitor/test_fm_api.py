"""finance-monitor's REST routes (apps/finance_monitor/api.py) on the core's server, in process."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from fm_helpers import make_monitor

from domaintune import ConfigError
from domaintune.serving import ServeConfig, create_app
from finance_monitor.api import routes
from finance_monitor.cli import build_parser
from finance_monitor.samples import spec, write_samples


@pytest.fixture
def monitor(tmp_path):
    m = make_monitor(f"sqlite:///{tmp_path / 'fm.db'}")
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


def test_documents_are_stored_idempotently_and_raise_the_planted_alert(tmp_path):
    samples = write_samples(tmp_path / "data")
    docs = [json.loads(line) for line in samples["stream"].read_text().splitlines()]
    config = ServeConfig()
    served = make_monitor(f"sqlite:///{tmp_path / 'api.db'}", watchlist=samples["watchlist"])
    direct = make_monitor(f"sqlite:///{tmp_path / 'direct.db'}", watchlist=samples["watchlist"])
    body = [{"id": d["id"], "text": d["text"], "timestamp": d["timestamp"]} for d in docs]
    with TestClient(create_app(routes(served, config), config)) as client:
        raised, scored = [], 0
        for i in range(0, len(body), 1000):
            r = client.post("/v1/documents", json={"documents": body[i : i + 1000]})
            assert r.status_code == 200, r.text
            scored += r.json()["counts"].get("scored", 0)
            raised += [a["alert_id"] for a in r.json()["alerts"]]
        assert scored == len(docs)
        for i in range(0, len(docs), 1000):
            direct.ingest(docs[i : i + 1000])
        expected = [a.alert_id for a in direct.alerts()]
        episode = spec()["episode"]["ticker"]
        got = client.get("/v1/alerts").json()["alerts"]
        assert [a["alert_id"] for a in got] == expected and sorted(raised) == sorted(expected)
        assert any(a["series_key"] == episode for a in got)
        mine = client.get("/v1/alerts", params={"ticker": episode.lower()}).json()["alerts"]
        assert mine and {a["series_key"] for a in mine} == {episode}
        again = client.post("/v1/documents", json={"documents": body[:500]}).json()
        assert again["counts"].get("scored", 0) == 0 and again["counts"]["already_stored"] == 500
        assert again["alerts"] == []
    direct.close()


def test_bad_documents_are_counted_or_refused(client):
    r = client.post("/v1/documents", json={"documents": [
        {"id": "a", "text": "$X ok", "timestamp": "not a time"},
        {"id": "b", "text": "$X ok", "timestamp": "2026-01-01T00:00:00Z"}]})
    assert r.status_code == 200 and r.json()["skipped"] == {"bad_timestamp": 1}
    for body, field in [({"documents": []}, "documents"),
                        ({"documents": [{"id": "a", "text": "t"}]}, "timestamp"),
                        ({"documents": [{"id": "a", "text": "t", "timestamp": 1, "x": 2}]}, "x"),
                        ({"documents": [{"id": "a", "text": "t" * 10_001, "timestamp": 1}]},
                         "text"),
                        ({"documents": [{"id": " ", "text": "t", "timestamp": 1}]}, "id")]:
        r = client.post("/v1/documents", json=body)
        assert r.status_code == 422 and field in r.json()["error"]["message"], (body, r.json())
    assert client.get("/v1/alerts", params={"limit": 0}).status_code == 422
    typo = client.get("/v1/alerts", params={"tickr": "AAPL"})  # not silently every alert
    assert typo.status_code == 422 and "did you mean 'ticker'" in typo.json()["error"]["message"]


def test_concurrent_score_requests_get_their_own_results(client):
    names = [f"X{chr(65 + i)}" for i in range(24)]
    texts = [f"${n} beats" if i % 2 else f"${n} plunge" for i, n in enumerate(names)]

    def send(text):
        return client.post("/v1/score", json={"text": text}).json()["results"][0]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, texts))
    for i, res in enumerate(results):
        assert res["tickers"] == [names[i]]
        assert res["label"] == ("positive" if i % 2 else "negative")


def test_serve_command_parses_and_refuses_workers():
    args = build_parser().parse_args(["serve", "--db", "sqlite:///x.db", "--port", "9001"])
    assert args.port == 9001 and args.func.__name__ == "_serve"
    args = build_parser().parse_args(["serve", "--workers", "2"])
    with pytest.raises(ConfigError, match="--workers 1"):
        args.func(args)


def test_fuzzing_every_route_gives_no_5xx(monitor):
    from fuzz import fuzz_every_route

    config = ServeConfig(max_wait_ms=0.0, max_chars=300)
    fuzz_every_route(create_app(routes(monitor, config), config), max_examples=30,
                     expect={"/v1/score", "/v1/documents", "/v1/alerts", "/health"})

"""text-recommender's REST routes (apps/text_recommender/api.py) on the core's server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from domaintune.serving import ServeConfig, create_app
from text_recommender.api import routes
from text_recommender.cli import build_parser


@pytest.fixture
def client(rec):
    config = ServeConfig(max_wait_ms=5.0)
    with TestClient(create_app(routes(rec, config), config)) as c:
        yield c


def test_get_recommend_equals_the_service(client, rec):
    user = rec.users()[0]
    r = client.get("/v1/recommend", params={"user": user, "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == user and body["known_user"] is True
    expected = [x.item_id for x in rec.recommend(user, 5)]
    assert [x["item_id"] for x in body["recommendations"]] == expected
    assert all(x["explanation"] for x in body["recommendations"])
    unknown = client.get("/v1/recommend", params={"user": "nobody-here", "k": 3}).json()
    assert unknown["known_user"] is False and len(unknown["recommendations"]) == 3


def test_post_query_and_items(client, rec):
    r = client.post("/v1/recommend", json={"query": "a haunted house", "k": 4})
    assert r.status_code == 200, r.text
    assert [x["item_id"] for x in r.json()["recommendations"]] == \
        [x.item_id for x in rec.recommend_for_query("a haunted house", 4)]
    liked = [rec.history(rec.users()[0])[0]["item_id"]]
    r = client.post("/v1/recommend", json={"items": liked, "k": 3})
    assert r.status_code == 200 and liked[0] not in [x["item_id"] for x in r.json()["recommendations"]]


def test_bad_requests_are_4xx_naming_the_field(client):
    cases = [("get", {"user": "u", "k": 0}, "k"), ("get", {}, "user"),
             ("get", {"user": "u", "k": 101}, "k"), ("get", {"user": "u", "diversity": 2}, "diversity"),
             ("post", {}, "query"), ("post", {"query": "x", "items": ["1"]}, "query"),
             ("post", {"query": "   "}, "query"), ("post", {"items": []}, "items"),
             ("post", {"query": "x", "k": "ten"}, "k"), ("post", {"query": "x", "extra": 1}, "extra")]
    for method, data, field in cases:
        r = (client.get("/v1/recommend", params=data) if method == "get"
             else client.post("/v1/recommend", json=data))
        assert r.status_code == 422, (method, data, r.text)
        assert field in r.json()["error"]["message"], (data, r.json())


def test_unknown_liked_items_are_a_404(client):
    r = client.post("/v1/recommend", json={"items": ["no-such-item"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_items"
    assert "no-such-item" in r.json()["error"]["message"]


def test_concurrent_users_get_their_own_lists(client, rec):
    users = rec.users()[:8]
    expected = {u: [x.item_id for x in rec.recommend(u, 5)] for u in users}

    def send(user):
        body = client.get("/v1/recommend", params={"user": user, "k": 5}).json()
        return body["user"], [x["item_id"] for x in body["recommendations"]]

    with ThreadPoolExecutor(4) as pool:
        got = dict(pool.map(send, users * 2))
    assert got == expected


def test_model_info_and_cli():
    args = build_parser().parse_args(["serve", "REC", "--workers", "2", "--port", "8009"])
    assert args.workers == 2 and args.func.__name__ == "_serve"


def test_v1_model(client, rec):
    info = client.get("/v1/model").json()
    assert info["task"] == "text-recommender" and info["items"] == len(rec.catalog.ids)


def test_fuzzing_every_route_gives_no_5xx(rec):
    from fuzz import fuzz_every_route

    config = ServeConfig(max_wait_ms=0.0, max_chars=300)
    fuzz_every_route(create_app(routes(rec, config), config), max_examples=30,
                     expect={"/v1/recommend", "/v1/model", "/health"})

"""The REST server in-process (FastAPI's TestClient) on tiny offline models: every endpoint,
each limit and error, the API key, metrics, and the micro-batcher on its own."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import numpy as np
import pytest
from conftest import train_tiny_classifier
from fastapi import APIRouter
from fastapi.testclient import TestClient
from fuzz import fuzz_every_route

from domaintune import ConfigError, DomaintuneError, TrainingConfig
from domaintune.serving import (
    ApiError,
    BatcherNotRunning,
    MicroBatcher,
    Routes,
    ServeConfig,
    TextsRequest,
    add_serve_options,
    check_text,
    create_app,
    load_model,
    model_routes,
    serve_config_from_args,
    texts_of,
)

TEXTS = ["where is my refund", "card lost", "hello", "my card was stolen please help",
         "🙂 ünïcode 海外 Überweisung", "how do i reset my pin " * 8]


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def clf(tiny_model_dir):
    return train_tiny_classifier(tiny_model_dir, max_length=32, temperature=1.3)


@pytest.fixture(scope="module")
def saved_dir(clf, tmp_path_factory):
    return clf.save(tmp_path_factory.mktemp("serve") / "clf")


@pytest.fixture(scope="module")
def onnx_dir(clf, tmp_path_factory):
    return clf.export_onnx(tmp_path_factory.mktemp("serve-onnx") / "onnx")


@pytest.fixture(scope="module")
def ner(tiny_model_dir):
    from domaintune.ner import TokenClassifier, TokenDataset

    data = TokenDataset([["alice", "lost", "her", "card", "in", "paris"], ["hello", "from", "london"]],
                        [["B-PER", "O", "O", "O", "O", "B-LOC"], ["O", "O", "B-LOC"]])
    model = TokenClassifier.from_pretrained(str(tiny_model_dir), labels=data.entity_types)
    return model.fit(data, None, TrainingConfig(method="full", epochs=3, batch_size=2,
                                                learning_rate=5e-3, warmup_ratio=0.0,
                                                early_stopping_patience=None, progress=False,
                                                seed=0))


@pytest.fixture(scope="module")
def encoder(tiny_model_dir):
    from domaintune.pairs import BiEncoder

    return BiEncoder.from_pretrained(str(tiny_model_dir), device="cpu")


class FakeClassifier:
    """Duck-typed like a TextClassifier: deterministic, instant, records its batches."""

    labels = ["card", "greet", "refund"]
    multi_label = False
    threshold = 0.5
    max_length = 16

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()

    def predict_proba(self, texts, batch_size=64):
        self.batches.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise RuntimeError(f"model exploded on {self.fail_on!r} (secret detail)")
        time.sleep(self.delay)
        out = []
        for t in texts:  # a different, text-determined distribution per text
            k = sum(map(ord, t)) % 3
            p = np.full(3, 0.2)
            p[k] = 0.6
            out.append(p)
        return np.array(out)


def client(routes, config=None, **kw) -> TestClient:
    config = config or ServeConfig()
    return TestClient(create_app(routes, config), raise_server_exceptions=False, **kw)


def fake_client(config=None, model=None):
    config = config or ServeConfig()
    model = model or FakeClassifier()
    return client(model_routes(model, config), config), model


# ------------------------------------------------------------------------------ endpoints
def test_operations_endpoints(saved_dir):
    cfg = ServeConfig()
    model = load_model(saved_dir, cfg)
    with client(model_routes(model, cfg, path=saved_dir), cfg) as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").json() == {"status": "ready"}
        info = c.get("/v1/model").json()
        assert info["name"] == "text-classifier" and info["task"] == "text-classification"
        assert info["labels"] == ["card", "greet", "refund"]
        assert info["backend"] == "torch" and info["precision"] == "fp32"
        assert len(info["version"]) == 16 and info["domaintune_version"]
        assert "train_seconds" in info["metrics"]
        assert info["limits"]["max_texts"] == 64
        spec = c.get("/openapi.json").json()
        assert {"/health", "/ready", "/metrics", "/v1/model", "/v1/predict"} <= set(spec["paths"])
        responses = spec["paths"]["/v1/predict"]["post"]["responses"]
        assert {"200", "400", "413", "422", "500"} <= set(responses)
        assert "HTTPValidationError" not in json.dumps(spec)  # one error shape, documented
        assert c.get("/docs").status_code == 200
        assert c.get("/metrics").headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_predictions_equal_the_models_own_predict(backend, clf, onnx_dir):
    cfg = ServeConfig(max_batch_size=4)  # 6 texts: split over two model calls
    model = clf if backend == "torch" else load_model(onnx_dir, cfg)
    with client(model_routes(model, cfg, path=onnx_dir if backend == "onnx" else None), cfg) as c:
        reply = c.post("/v1/predict", json={"texts": TEXTS})
        assert reply.status_code == 200, reply.text
        predictions = reply.json()["predictions"]
        single = c.post("/v1/predict", json={"text": TEXTS[0]}).json()["predictions"]
        info = c.get("/v1/model").json()
    assert info["backend"] == backend
    assert [p["label"] for p in predictions] == model.predict(TEXTS)
    probs = model.predict_proba(TEXTS)
    np.testing.assert_allclose([p["confidence"] for p in predictions], probs.max(axis=1),
                               atol=1e-5)
    for p, row in zip(predictions, probs, strict=True):
        assert len(p["scores"]) == 3 and abs(sum(p["scores"].values()) - 1) < 1e-5
        assert p["scores"][p["label"]] == pytest.approx(row.max(), abs=1e-5)
    assert len(single) == 1 and single[0]["label"] == model.predict(TEXTS[0])


def test_ner_route_gives_the_models_entities(ner):
    cfg = ServeConfig()
    texts = ["alice lost her card in paris", "hello from london", "bob"]
    with client(model_routes(ner, cfg), cfg) as c:
        reply = c.post("/v1/predict", json={"texts": texts})
        info = c.get("/v1/model").json()
    assert reply.status_code == 200, reply.text
    assert info["task"] == "token-classification" and set(info["labels"]) == {"PER", "LOC"}
    expected = [[{"text": e["text"], "label": e["type"], "start": e["start"], "end": e["end"]}
                 for e in ents] for ents in ner.predict(texts)]
    got = [[{k: e[k] for k in ("text", "label", "start", "end")} for e in p["entities"]]
           for p in reply.json()["predictions"]]
    assert got == expected
    for text, p in zip(texts, reply.json()["predictions"], strict=True):
        assert all(text[e["start"]:e["end"]] == e["text"] for e in p["entities"])


def test_embed_route_gives_the_encoders_vectors(encoder):
    cfg = ServeConfig()
    with client(model_routes(encoder, cfg), cfg) as c:
        reply = c.post("/v1/embed", json={"texts": TEXTS[:3]})
        info = c.get("/v1/model").json()
        assert c.post("/v1/predict", json={"texts": ["x"]}).status_code == 404
    assert reply.status_code == 200, reply.text
    np.testing.assert_allclose(reply.json()["embeddings"], encoder.encode(TEXTS[:3]), atol=1e-5)
    assert info["task"] == "bi-encoder" and info["dim"] == encoder.dim
    assert info["version"] == encoder.fingerprint


def test_something_the_core_server_cannot_serve_is_a_clear_error():
    with pytest.raises(ConfigError, match="cannot serve a dict.*text classifiers, NER"):
        model_routes({}, ServeConfig())


# ------------------------------------------------------------------------------ limits and errors
LIMITS = ServeConfig(max_texts=3, max_chars=20, max_body_bytes=400)
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("request_kw, status, code, named", [
    ({"content": b'{"texts": ["a",', "headers": JSON}, 400, "invalid_json", "body: expected JSON"),
    ({"content": b"texts=a", "headers": {"content-type": "text/plain"}}, 422, "invalid_request",
     "body: expected a JSON object"),
    ({"json": ["a", "b"]}, 422, "invalid_request", "body: expected a JSON object, found array"),
    ({"json": {"texts": ["a", 5, "c"]}}, 422, "invalid_request",
     "texts[1]: expected a string, found number"),
    ({"json": {"texts": "abc"}}, 422, "invalid_request", "texts: expected a list, found string"),
    ({"json": {"text": ["a"]}}, 422, "invalid_request", "text: expected a string, found array"),
    ({"json": {"texts": ["a"], "lang": "en"}}, 422, "invalid_request",
     "lang: unknown field; expected 'texts' or 'text'"),
    ({"json": {"textz": ["a"]}}, 422, "invalid_request", "textz: unknown field; did you mean 'text"),
    ({"json": {}}, 422, "missing_texts", "found neither"),
    ({"json": {"texts": ["a"], "text": "b"}}, 422, "missing_texts", "found both"),
    ({"json": {"texts": []}}, 422, "empty_texts", "texts: expected at least one text, found []"),
    ({"json": {"texts": ["a", "b", "c", "d"]}}, 422, "too_many_texts",
     "texts: expected at most 3 texts per request, found 4; split them over several requests, "
     "or raise the server's limit with --max-texts"),
    ({"json": {"texts": ["a", "x" * 21]}}, 422, "text_too_long",
     "texts[1]: expected at most 20 characters, found 21"),
    ({"json": {"text": "x" * 21}}, 422, "text_too_long", "text: expected at most 20 characters"),
    ({"json": {"texts": ["a", "  \t"]}}, 422, "empty_text", "texts[1]: expected a non-empty text"),
    ({"json": {"text": "\x00\x01"}}, 422, "empty_text", "text: expected a non-empty text"),
    ({"content": b'{"texts": ["ok", "a\\ud800b"]}', "headers": JSON}, 422, "invalid_text",
     "texts[1]: expected valid Unicode text, found a lone surrogate ('\\ud800') at character 1"),
    ({"content": b'{"texts": ["\xff\xfe"]}', "headers": JSON}, 400, "invalid_json",
     "body: expected JSON text in UTF-8"),
    ({"json": {"texts": ["x" * 20] * 30}}, 413, "body_too_large",
     "body: expected at most 400 bytes, found Content-Length"),
])
def test_each_bad_request_gets_its_status_and_an_error_naming_the_field(request_kw, status, code,
                                                                         named):
    c, model = fake_client(LIMITS)
    with c:
        reply = c.post("/v1/predict", **request_kw)
        assert reply.status_code == status, reply.text
        error = reply.json()["error"]
        assert set(error) >= {"code", "message"} and error["code"] == code
        assert named in error["message"]
        assert "Traceback" not in reply.text
        assert c.get("/health").status_code == 200  # the server is still fine
    assert model.batches == []  # nothing invalid reached the model


def test_json_nested_too_deeply_is_invalid_json_not_a_crash():
    c, model = fake_client()
    with c:
        reply = c.post("/v1/predict", content=b"[" * 50_000 + b"]" * 50_000, headers=JSON)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_json"
    assert "nested too deeply" in reply.json()["error"]["message"]


def test_a_streamed_body_over_the_limit_is_refused_without_content_length():
    c, model = fake_client(LIMITS)

    def chunks():  # no Content-Length: httpx sends it chunked
        yield b'{"texts": ['
        for _ in range(40):
            yield b'"xxxxxxxxxxxxxxxxxxxx",'
        yield b'"x"]}'

    with c:
        reply = c.post("/v1/predict", content=chunks(), headers=JSON)
    assert reply.status_code == 413, reply.text
    assert reply.json()["error"]["code"] == "body_too_large"
    assert "expected at most 400 bytes, found more than 400 bytes" in reply.json()["error"]["message"]
    assert model.batches == []


def test_unknown_route_and_wrong_method():
    c, _ = fake_client()
    with c:
        missing = c.get("/v1/nope")
        assert missing.status_code == 404
        assert missing.json()["error"] == {
            "code": "not_found",
            "message": "no route GET /v1/nope; the routes are listed in /openapi.json (and /docs)"}
        wrong = c.get("/v1/predict")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert wrong.json()["error"]["code"] == "method_not_allowed"
        assert "/v1/predict does not accept GET; use POST" in wrong.json()["error"]["message"]
        assert c.post("/health").json()["error"]["code"] == "method_not_allowed"


def test_a_route_that_raises_gives_a_500_with_an_id_that_is_logged_with_the_traceback(caplog):
    router = APIRouter()

    @router.get("/v1/boom")
    async def boom() -> dict:
        raise RuntimeError("internal secret: db password hunter2")

    with client(Routes("boom", router)) as c, caplog.at_level(logging.ERROR,
                                                               "domaintune.serving"):
        reply = c.get("/v1/boom")
        assert c.get("/health").status_code == 200
    assert reply.status_code == 500
    error = reply.json()["error"]
    assert error["code"] == "internal_error" and len(error["id"]) == 32
    assert error["id"] in error["message"]
    assert "hunter2" not in reply.text and "Traceback" not in reply.text
    logged = [r for r in caplog.records if error["id"] in r.getMessage()]
    assert logged and logged[0].exc_info and "hunter2" in str(logged[0].exc_info[1])


def test_a_model_error_fails_with_500_and_only_the_request_that_caused_it():
    model = FakeClassifier(delay=0.02, fail_on="boom")
    cfg = ServeConfig(max_wait_ms=50)
    c, _ = fake_client(cfg, model)
    with c:
        results: dict[str, int] = {}

        def post(text):
            results[text] = c.post("/v1/predict", json={"text": text}).status_code

        threads = [threading.Thread(target=post, args=(t,)) for t in ("fine", "boom", "ok")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        reply = c.post("/v1/predict", json={"texts": ["a", "boom"]})
    assert results == {"fine": 200, "boom": 500, "ok": 200}
    assert reply.status_code == 500 and "secret detail" not in reply.text
    assert len(reply.json()["error"]["id"]) == 32


def test_not_ready_before_start_and_after_shutdown():
    cfg = ServeConfig()
    c, _ = fake_client(cfg)  # no `with`: the lifespan (start) has not run
    assert c.get("/health").status_code == 200
    assert c.get("/ready").status_code == 503
    assert c.get("/ready").json()["error"]["code"] == "not_ready"
    reply = c.post("/v1/predict", json={"text": "hello"})
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "not_ready"
    with c:
        assert c.get("/ready").status_code == 200
    assert c.post("/v1/predict", json={"text": "hello"}).status_code == 503  # stopped again


# ------------------------------------------------------------------------------ access
def test_api_key_bearer_or_header_every_route_but_health(monkeypatch):
    monkeypatch.setenv("TEST_SERVE_KEY", "s3cret-key")
    cfg = ServeConfig(api_key_env="TEST_SERVE_KEY")
    c, model = fake_client(cfg)
    with c:
        assert c.get("/health").status_code == 200
        for path in ("/ready", "/v1/model", "/metrics", "/openapi.json", "/docs"):
            reply = c.get(path)
            assert reply.status_code == 401, path
            assert reply.json()["error"]["code"] == "unauthorized"
            assert "Authorization: Bearer" in reply.json()["error"]["message"]
            assert reply.headers["www-authenticate"] == "Bearer"
        body = {"text": "hello"}
        assert c.post("/v1/predict", json=body).status_code == 401
        assert c.post("/v1/predict", json={"texts": []}).status_code == 401  # auth first
        wrong = c.post("/v1/predict", json=body, headers={"X-API-Key": "s3cret-kex"})
        assert wrong.status_code == 401 and "not valid" in wrong.json()["error"]["message"]
        assert c.post("/v1/predict", json=body,
                      headers={"Authorization": "Basic s3cret-key"}).status_code == 401
        assert c.post("/v1/predict", json=body,
                      headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        assert c.post("/v1/predict", json=body,
                      headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert c.get("/metrics", headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert c.get("/nope", headers={"X-API-Key": "s3cret-key"}).status_code == 404
        assert c.get("/nope").status_code == 401  # no probing of routes without the key
    assert len(model.batches) == 2


def test_a_missing_or_empty_key_variable_stops_the_server_from_starting(monkeypatch):
    monkeypatch.delenv("TEST_SERVE_KEY", raising=False)
    cfg = ServeConfig(api_key_env="TEST_SERVE_KEY")
    with pytest.raises(ConfigError, match="TEST_SERVE_KEY is not set.*export TEST_SERVE_KEY="):
        fake_client(cfg)
    monkeypatch.setenv("TEST_SERVE_KEY", "  ")
    with pytest.raises(ConfigError, match="TEST_SERVE_KEY is empty"):
        fake_client(cfg)


def test_cors_is_off_by_default_and_on_for_the_given_origins(monkeypatch):
    origin = {"Origin": "https://app.example.com"}
    c, _ = fake_client()
    with c:
        reply = c.post("/v1/predict", json={"text": "hi"}, headers=origin)
        assert "access-control-allow-origin" not in reply.headers
    monkeypatch.setenv("TEST_SERVE_KEY", "k")
    c, _ = fake_client(ServeConfig(cors_origins=("https://app.example.com",),
                                   api_key_env="TEST_SERVE_KEY"))
    with c:
        preflight = c.options("/v1/predict", headers={
            **origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type"})
        assert preflight.status_code == 200  # a preflight carries no key
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        denied = c.post("/v1/predict", json={"text": "hi"}, headers=origin)
        assert denied.status_code == 401  # a browser can read the error
        assert denied.headers["access-control-allow-origin"] == "https://app.example.com"


def test_texts_are_logged_only_when_asked(caplog):
    secret = "my account number is 12345678"
    for log_texts in (False, True):
        caplog.clear()
        c, _ = fake_client(ServeConfig(log_texts=log_texts))
        with c, caplog.at_level(logging.DEBUG):
            assert c.post("/v1/predict", json={"texts": [secret]}).status_code == 200
            c.post("/v1/predict", json={"texts": [secret, 5]})  # an error logs no text either
        assert (secret in caplog.text) is log_texts


# ------------------------------------------------------------------------------ metrics, batching
def test_metrics_count_requests_errors_latency_and_batch_sizes():
    c, _ = fake_client(ServeConfig(max_texts=2))
    with c:
        for _ in range(3):
            c.post("/v1/predict", json={"texts": ["a", "b"]})
        c.post("/v1/predict", json={"texts": ["a", "b", "c"]})
        c.get("/nope/123")
        text = c.get("/metrics").text
    assert 'domaintune_requests_total{method="POST",route="/v1/predict",status="200"} 3.0' in text
    assert 'domaintune_requests_total{method="POST",route="/v1/predict",status="422"} 1.0' in text
    assert 'domaintune_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'domaintune_errors_total{code="too_many_texts"} 1.0' in text
    assert 'domaintune_errors_total{code="not_found"} 1.0' in text
    assert 'domaintune_request_seconds_count{route="/v1/predict"} 4.0' in text
    assert 'domaintune_batch_size_sum{batcher="text-classifier"} 6.0' in text
    assert "domaintune_inflight_requests 1.0" in text  # this request


def test_concurrent_requests_share_batches_and_each_gets_its_own_answers():
    model = FakeClassifier(delay=0.01)
    cfg = ServeConfig(max_batch_size=16, max_wait_ms=20)
    c, _ = fake_client(cfg, model)
    requests = [[f"request {i} text {j}" for j in range(1 + i % 3)] for i in range(24)]
    answers: dict[int, list] = {}
    with c:
        expected = {i: [p["label"] for p in c.post("/v1/predict", json={"texts": texts})
                        .json()["predictions"]] for i, texts in enumerate(requests)}
        model.batches.clear()

        def post(i):
            reply = c.post("/v1/predict", json={"texts": requests[i]})
            answers[i] = [p["label"] for p in reply.json()["predictions"]]

        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(requests))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert answers == expected
    sizes = [len(b) for b in model.batches]
    assert max(sizes) > 1 and len(sizes) < len(requests)  # requests were merged
    assert max(sizes) <= 16 and sum(sizes) == sum(map(len, requests))
    assert model.threads == {"batcher-text-classifier"}  # never the event loop's thread


# ------------------------------------------------------------------------------ the batcher alone
def test_batcher_threads_get_their_own_answers_in_order_and_batches_merge():
    def double(xs):
        time.sleep(0.005)
        return [x * 2 for x in xs]

    batcher = MicroBatcher(double, max_batch_size=8, max_wait_ms=10, name="double")
    batcher.start()
    results: dict[int, list[int]] = {}

    def worker(i):
        results[i] = batcher.run_many([i * 100 + j for j in range(i % 4 + 1)], timeout=30)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert batcher.shutdown(timeout=10)
    assert results == {i: [2 * (i * 100 + j) for j in range(i % 4 + 1)] for i in range(40)}
    sizes = list(batcher.batch_sizes)
    assert max(sizes) > 1 and max(sizes) <= 8 and sum(sizes) == batcher.n_items == 100


def test_batcher_async_tasks_and_a_submit_larger_than_a_batch():
    seen = []

    def fn(xs):
        seen.append(len(xs))
        return [x.upper() for x in xs]

    batcher = MicroBatcher(fn, max_batch_size=4, max_wait_ms=5, name="upper")

    async def main():
        batcher.start()
        many = [f"t{i}" for i in range(10)]
        big, *small = await asyncio.gather(
            batcher.submit_many(many), *(batcher.submit(f"s{i}") for i in range(12)))
        await batcher.stop()
        return many, big, small

    many, big, small = asyncio.run(main())
    assert big == [m.upper() for m in many]
    assert small == [f"S{i}" for i in range(12)]
    assert max(seen) == 4 and sum(seen) == 22


def test_batcher_waits_at_most_max_wait_and_not_at_all_when_a_batch_is_full():
    batcher = MicroBatcher(lambda xs: xs, max_batch_size=2, max_wait_ms=5_000)
    batcher.start()
    start = time.monotonic()
    assert batcher.run_many(["a", "b"], timeout=10) == ["a", "b"]  # full: runs at once
    assert time.monotonic() - start < 2
    batcher.shutdown()
    quick = MicroBatcher(lambda xs: xs, max_batch_size=100, max_wait_ms=30)
    quick.start()
    start = time.monotonic()
    assert quick.run("a", timeout=10) == "a"
    assert 0.02 < time.monotonic() - start < 2
    quick.shutdown()


def test_a_failing_fn_fails_only_its_batch():
    calls = []

    def fn(xs):
        calls.append(list(xs))
        if len(calls) == 1:
            raise ValueError("first batch fails")
        return xs

    batcher = MicroBatcher(fn, max_batch_size=10, max_wait_ms=300, isolate_failures=False)
    batcher.start()
    outcome: dict[str, object] = {}

    def worker(x):
        try:
            outcome[x] = batcher.run(x, timeout=10)
        except ValueError as exc:
            outcome[x] = exc

    threads = [threading.Thread(target=worker, args=(x,)) for x in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(calls[0]) == ["a", "b"]  # one batch of both
    assert all(isinstance(outcome[x], ValueError) for x in ("a", "b"))
    assert batcher.run("c", timeout=10) == "c"  # the next batch is fine
    assert batcher.running
    batcher.shutdown()


def test_isolated_failures_fail_only_the_submit_that_makes_fn_fail():
    def fn(xs):
        if "bad" in xs:
            raise ValueError("bad input")
        return [x + "!" for x in xs]

    batcher = MicroBatcher(fn, max_batch_size=10, max_wait_ms=300)  # isolate_failures=True
    batcher.start()

    async def main():
        return await asyncio.gather(batcher.submit_many(["a", "b"]), batcher.submit("bad"),
                                    batcher.submit("c"), return_exceptions=True)

    good, bad, other = asyncio.run(main())
    batcher.shutdown()
    assert good == ["a!", "b!"] and other == "c!"
    assert isinstance(bad, ValueError)
    assert list(batcher.batch_sizes) == [4]


def test_a_fn_returning_the_wrong_number_of_results_is_an_error_for_its_waiters():
    batcher = MicroBatcher(lambda xs: xs[:1], max_wait_ms=0)
    batcher.start()
    with pytest.raises(RuntimeError, match="fn returned 1 results for 2 items"):
        batcher.run_many(["a", "b"], timeout=10)
    batcher.shutdown()


def test_stop_drains_queued_work_then_refuses_and_can_start_again():
    def slow(xs):
        time.sleep(0.05)
        return [x + 1 for x in xs]

    batcher = MicroBatcher(slow, max_batch_size=2, max_wait_ms=1)
    batcher.start()
    futures = [batcher._enqueue([i]) for i in range(10)]  # queued: 5 batches, ~0.25 s
    assert batcher.shutdown(timeout=10)
    assert [f.result(0) for f in futures] == [[i + 1] for i in range(10)]
    assert not batcher.running
    with pytest.raises(BatcherNotRunning) as caught:
        batcher.run(1)
    assert caught.value.status == 503 and caught.value.code == "not_ready"
    batcher.start()
    assert batcher.run(1, timeout=10) == 2
    assert asyncio.run(batcher.stop(timeout=10))


def test_batcher_arguments_are_checked():
    with pytest.raises(ValueError, match="max_batch_size: expected an integer >= 1, found 0"):
        MicroBatcher(lambda xs: xs, max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        MicroBatcher(lambda xs: xs, max_wait_ms=-1)


# ------------------------------------------------------------------------------ config, schemas
@pytest.mark.parametrize("kwargs, match", [
    ({"port": 0}, r"port \(--port\): expected an integer from 1 to 65535, found 0"),
    ({"port": "80"}, r"port \(--port\): expected an integer"),
    ({"workers": 0}, r"workers \(--workers\)"),
    ({"max_texts": 0}, r"max_texts \(--max-texts\): expected an integer >= 1, found 0"),
    ({"max_chars": True}, r"max_chars \(--max-chars\)"),
    ({"max_wait_ms": -1}, r"max_wait_ms \(--max-wait-ms\): expected a number >= 0"),
    ({"graceful_timeout_s": 0}, r"graceful_timeout_s \(--graceful-timeout\)"),
    ({"host": ""}, r"host \(--host\)"),
    ({"cors_origins": "https://x"}, r"cors_origins \(--cors-origin\)"),
    ({"threads": 0}, r"threads \(--threads\)"),
])
def test_serve_config_values_are_checked_and_errors_name_the_option(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ServeConfig(**kwargs)


def test_serve_config_never_repeats_what_may_be_a_key_and_round_trips():
    with pytest.raises(ConfigError, match="not a variable name") as caught:
        ServeConfig(api_key_env="sk-live-abc123==")
    assert "abc123" not in str(caught.value)
    cfg = ServeConfig(host="0.0.0.0", cors_origins=["*"], max_wait_ms=2)
    assert cfg.cors_origins == ("*",) and not cfg.is_loopback and cfg.url == "http://0.0.0.0:8000"
    assert ServeConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="no key 'max_text'; did you mean 'max_texts'"):
        ServeConfig.from_dict({"max_text": 3})
    assert ServeConfig(host="::1").is_loopback and ServeConfig(host="localhost").is_loopback


def test_serve_options_parse_into_a_config():
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_options(parser, port=8100)
    args = parser.parse_args(["--max-texts", "8", "--cors-origin", "https://a", "--cors-origin",
                              "https://b", "--log-texts", "--max-wait-ms", "2.5"])
    cfg = serve_config_from_args(args)
    assert cfg == ServeConfig(port=8100, max_texts=8, cors_origins=("https://a", "https://b"),
                              log_texts=True, max_wait_ms=2.5)
    with pytest.raises(ConfigError, match="--max-batch-size"):
        serve_config_from_args(parser.parse_args(["--max-batch-size", "0"]))


def test_texts_of_and_check_text_for_apps():
    cfg = ServeConfig(max_chars=5)
    assert texts_of(TextsRequest(texts=["a", "b"]), cfg) == ["a", "b"]
    assert check_text("abc", "query", cfg) == "abc"
    with pytest.raises(ApiError, match="query: expected at most 5 characters, found 6") as caught:
        check_text("abcdef", "query", cfg)
    assert (caught.value.status, caught.value.code) == (422, "text_too_long")


# ------------------------------------------------------------------------------ server pieces
def test_cli_serve_errors_before_loading_anything(saved_dir, capsys, monkeypatch):
    from domaintune.cli import main

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    assert main(["serve", str(saved_dir), "--api-key-env", "NO_SUCH_KEY_VAR"]) == 2
    assert "NO_SUCH_KEY_VAR is not set" in capsys.readouterr().err
    assert main(["serve", str(saved_dir), "--max-texts", "0"]) == 2
    assert "--max-texts" in capsys.readouterr().err


def test_an_app_without_routes_is_a_clear_error(tmp_path, monkeypatch):
    import domaintune.apps
    from domaintune.apps import AppSpec
    from domaintune.serving import serve_app

    spec = AppSpec(name="no_api", title="No API", config=dict, load=dict, samples=dict,
                   demo=dict, tab=print, routes=None)
    monkeypatch.setattr(domaintune.apps, "get_app", lambda name: spec)
    with pytest.raises(DomaintuneError, match="has no REST routes yet"):
        serve_app("no_api", tmp_path, ServeConfig())


def test_workers_need_a_spec_and_the_worker_factory_builds_the_app(saved_dir, monkeypatch):
    from domaintune.serving import serve
    from domaintune.serving.server import SPEC_ENV, _factory

    with pytest.raises(ConfigError, match="workers > 1 .* serve_model"):
        serve(lambda: None, ServeConfig(workers=2))
    cfg = ServeConfig(max_texts=2)
    monkeypatch.setenv(SPEC_ENV, json.dumps({"kind": "model", "path": str(saved_dir),
                                             "title": "t", "config": cfg.to_dict()}))
    with TestClient(_factory()) as c:
        assert c.post("/v1/predict", json={"texts": ["a", "b", "c"]}).json()["error"]["code"] \
            == "too_many_texts"
        assert c.post("/v1/predict", json={"text": "card lost"}).status_code == 200


# ------------------------------------------------------------------------------ fuzzing the spec
def test_generated_requests_never_get_a_server_error_and_match_the_spec():
    """schemathesis on every route with its default checks: no 5xx, responses as documented
    (one error shape), schema-valid requests accepted, schema-invalid ones rejected."""
    cfg = ServeConfig(max_texts=8, max_chars=200, max_body_bytes=4_000)
    fuzz_every_route(create_app(model_routes(FakeClassifier(), cfg), cfg),
                     expect={"/health", "/ready", "/v1/predict"})


def test_query_parameters_and_a_routes_own_http_errors_keep_the_error_shape():
    from fastapi import HTTPException, Query

    router = APIRouter()

    @router.get("/v1/items/{item_id}")
    async def item(item_id: int, k: int = Query(10, ge=1, le=100)) -> dict:
        if item_id == 7:
            raise HTTPException(404, "item 7: no such item; list the items with GET /v1/items")
        return {"item": item_id, "k": k}

    with client(Routes("items", router)) as c:
        assert c.get("/v1/items/3?k=5").json() == {"item": 3, "k": 5}
        low = c.get("/v1/items/3?k=0").json()["error"]
        assert low == {"code": "invalid_request", "field": "k (query)",
                       "message": "k (query): expected a value >= 1, found '0'"}
        word = c.get("/v1/items/3?k=many").json()["error"]
        assert word["message"] == "k (query): expected an integer, found 'many'"
        path = c.get("/v1/items/x").json()["error"]
        assert path["message"] == "item_id (path): expected an integer, found 'x'"
        missing = c.get("/v1/items/7")
        assert missing.status_code == 404 and missing.json()["error"] == {
            "code": "not_found", "message": "item 7: no such item; list the items with GET /v1/items"}
        text = c.get("/metrics").text
    assert 'route="/v1/items/{item_id}",status="422"} 3.0' in text  # the template, not the path


def test_an_apps_routes_hook_gets_the_service_and_the_server_config(monkeypatch, tmp_path):
    import domaintune.apps
    from domaintune.apps import AppSpec
    from domaintune.serving.server import _app_loader

    def routes(service, config):
        batcher = MicroBatcher(service.score, max_batch_size=config.max_batch_size,
                               max_wait_ms=config.max_wait_ms, name="scores")
        router = APIRouter()

        @router.post("/v1/score")
        async def score(body: TextsRequest) -> dict:
            return {"scores": await batcher.submit_many(texts_of(body, config))}

        return Routes("fake_app", router, info=lambda: {"path": str(service.path)},
                      batchers=[batcher])

    class Service:
        def __init__(self, path):
            self.path = path

        def score(self, texts):
            return [len(t) for t in texts]

    spec = AppSpec(name="fake_app", title="Fake", config=dict, load=Service, samples=dict,
                   demo=dict, tab=print, routes=routes)
    monkeypatch.setattr(domaintune.apps, "get_app", lambda name: spec)
    cfg = ServeConfig(max_texts=2)
    with client(_app_loader("fake_app", tmp_path, cfg)(), cfg) as c:
        assert c.post("/v1/score", json={"texts": ["ab", "abc"]}).json() == {"scores": [2, 3]}
        assert c.post("/v1/score", json={"texts": ["a"] * 3}).json()["error"]["code"] \
            == "too_many_texts"
        assert c.get("/v1/model").json() == {"name": "fake_app", "path": str(tmp_path)}


def test_probes_answer_head_and_made_up_methods_or_query_parameters_do_not_leak_into_metrics():
    cfg = ServeConfig()
    with client(model_routes(FakeClassifier(), cfg), cfg) as c:
        assert c.head("/health").status_code == 200 and c.head("/ready").status_code == 200
        assert c.request("X4A18C3AA", "/health").status_code == 405
        r = c.get("/health", params={"verbos": 1})
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("verbos (query)")
        text = c.get("/metrics").text
    assert 'method="other"' in text and "X4A18C3AA" not in text

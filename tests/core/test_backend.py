"""backend="auto" | "torch" | "onnx" (domaintune.backend): same outputs, auto-selection, the
ONNX twin cache (keyed by the weights), fallbacks, the CLI's --backend, the finance monitor."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import train_tiny_classifier

from domaintune import ConfigError, TextClassifier
from domaintune import backend as be
from domaintune.cli import main
from domaintune.export import MANIFEST_FILE, OnnxTextClassifier
from domaintune.pairs import BiEncoder

TEXTS = ["where is my refund", "card lost", "hello", "how do i reset my pin please",
         "transfer failed and the fee was not what i was told " * 3, "🙂 ünïcode 海外"]


@pytest.fixture(scope="module")
def saved(tiny_model_dir, tmp_path_factory):
    """A trained tiny classifier (temperature 1.7, so calibration is part of the outputs), saved."""
    clf = train_tiny_classifier(tiny_model_dir, max_length=32, temperature=1.7)
    return clf.save(tmp_path_factory.mktemp("backend") / "clf")


@pytest.fixture(scope="module")
def warm_cache(saved, tmp_path_factory):
    """A cache that already holds the twin of ``saved`` (exported once for the module)."""
    cache = tmp_path_factory.mktemp("warm-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(be.CACHE_ENV, str(cache))
        be.onnx_twin(TextClassifier.load(saved))
    return cache


def entries(cache) -> set[str]:
    folder = cache / "onnx"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_outputs_equal_across_backends_and_the_twin_is_loaded_once(saved, warm_cache,
                                                                   monkeypatch):
    monkeypatch.setenv(be.CACHE_ENV, str(warm_cache))
    before = entries(warm_cache)
    loads = []
    original = OnnxTextClassifier.load
    monkeypatch.setattr(OnnxTextClassifier, "load",
                        classmethod(lambda cls, d, **kw: loads.append(d) or original(d, **kw)))
    monkeypatch.setattr(TextClassifier, "export_onnx", lambda *a, **k: pytest.fail("re-exported"))
    clf = TextClassifier.load(saved)  # a fresh load of the saved model: the cache is reused
    torch_p = clf.predict_proba(TEXTS, backend="torch")
    onnx_p = clf.predict_proba(TEXTS, backend="onnx")
    np.testing.assert_allclose(onnx_p, torch_p, atol=1e-4)
    assert clf.predict(TEXTS, backend="onnx") == clf.predict(TEXTS, backend="torch")
    assert clf.predict("card lost", backend="onnx") == clf.predict("card lost", backend="torch")
    assert clf.predict_proba("hello", backend="onnx").shape == (3,)
    assert clf.predict_proba([], backend="onnx").shape == (0, 3)
    np.testing.assert_allclose(clf.predict_proba(TEXTS[:1]), torch_p[:1], atol=1e-4)  # auto
    assert be.current_backend(clf) == "onnx" and len(loads) == 1  # held in memory
    assert entries(warm_cache) == before


def test_biencoder_outputs_equal_across_backends(tiny_model):
    enc = BiEncoder.from_pretrained(tiny_model, max_length=32)
    torch_v = enc.encode(TEXTS, backend="torch")
    onnx_v = enc.encode(TEXTS, backend="onnx")
    np.testing.assert_allclose(onnx_v, torch_v, atol=1e-5)
    assert onnx_v.dtype == np.float32 and enc.encode("hello", backend="onnx").shape == (enc.dim,)
    assert enc.encode([], backend="onnx").shape == (0, enc.dim)
    assert be.current_backend(enc) == "onnx"
    assert be.twin_directory(enc).parent == be.cache_root() / "onnx"


def test_auto_uses_torch_for_small_calls_and_onnx_from_the_threshold(saved, monkeypatch):
    assert be.AUTO_EXPORT_MIN_TEXTS == 1000  # the documented default (domaintune.backend)
    monkeypatch.setattr(be, "AUTO_EXPORT_MIN_TEXTS", 8)
    clf = TextClassifier.load(saved)
    small = (TEXTS * 2)[:7]
    reference = clf.predict_proba(small + ["hi"], backend="torch")
    np.testing.assert_allclose(clf.predict_proba(small), reference[:7], atol=1e-4)
    assert be.current_backend(clf) == "torch" and not entries(be.cache_root())
    np.testing.assert_allclose(clf.predict_proba(small + ["hi"]), reference, atol=1e-4)
    assert be.current_backend(clf) == "onnx"
    assert (be.twin_directory(clf) / MANIFEST_FILE).is_file()
    fresh = TextClassifier.load(saved)  # a new object: a small call finds the cached twin
    fresh.predict(["hello"])
    assert be.current_backend(fresh) == "onnx"


def test_threads_share_one_export(saved, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    exports = []
    original = TextClassifier.export_onnx
    monkeypatch.setattr(TextClassifier, "export_onnx",
                        lambda self, d, **kw: exports.append(d) or original(self, d, **kw))
    clf = TextClassifier.load(saved)
    reference = clf.predict_proba(TEXTS, backend="torch")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(TEXTS, backend="onnx"), range(4)))
    assert len(exports) == 1
    for probs in results:
        np.testing.assert_allclose(probs, reference, atol=1e-4)


def test_a_gpu_model_and_use_backend_torch_stay_on_pytorch(saved, monkeypatch):
    monkeypatch.setattr(be, "AUTO_EXPORT_MIN_TEXTS", 2)
    clf = TextClassifier.load(saved)
    with be.use_backend("torch"):
        clf.predict(TEXTS)
    assert be.current_backend(clf) == "torch" and not entries(be.cache_root())
    monkeypatch.setattr(clf, "device", torch.device("cuda"))  # what auto sees; nothing runs
    assert be.select(clf, 10**6, "auto") is None


def test_the_twin_is_not_reused_after_the_weights_change(saved, warm_cache, monkeypatch):
    monkeypatch.setenv(be.CACHE_ENV, str(warm_cache))
    clf = TextClassifier.load(saved)
    old = clf.predict_proba(TEXTS, backend="onnx")
    first = be.twin_directory(clf)
    weight = clf.model.head.weight.detach().numpy().copy()
    bias = clf.model.head.bias.detach().numpy().copy()
    clf.model.set_head(weight[::-1].copy(), bias[::-1].copy())  # in place, as fit() does
    assert be.current_backend(clf) == "torch" and be.twin_directory(clf) != first
    new_torch = clf.predict_proba(TEXTS, backend="torch")
    assert np.abs(new_torch - old).max() > 1e-2
    np.testing.assert_allclose(clf.predict_proba(TEXTS, backend="onnx"), new_torch, atol=1e-4)
    second = be.twin_directory(clf)
    assert (second / MANIFEST_FILE).is_file() and second != first

    clf.temperature = 3.0  # calibration changes the outputs too
    assert be.twin_directory(clf) not in (first, second)
    clf.temperature = 1.7
    assert be.twin_directory(clf) == second  # the key is the content, not the history

    # an optimizer step (training) and a replaced head are seen
    opt = torch.optim.SGD(clf.model.parameters(), lr=0.5)
    enc = clf.tokenizer(["card lost"], return_tensors="pt")
    clf.model(**{k: enc[k] for k in ("input_ids", "attention_mask")}).sum().backward()
    opt.step()
    third = be.twin_directory(clf)
    assert third != second
    head = torch.nn.Linear(clf.model.head.in_features, 3)
    head.load_state_dict({k: v * 2 for k, v in clf.model.head.state_dict().items()})
    clf.model.head = head
    assert be.twin_directory(clf) not in (second, third)


def test_cache_location(monkeypatch, tmp_path, saved):
    monkeypatch.setenv(be.CACHE_ENV, str(tmp_path / "mine"))
    assert be.cache_root() == tmp_path / "mine"
    clf = TextClassifier.load(saved)
    assert be.twin_directory(clf).parent == tmp_path / "mine" / "onnx"
    assert be.twin_directory(clf).name.startswith("text-classifier-")
    monkeypatch.delenv(be.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert be.cache_root() == tmp_path / "xdg" / "domaintune"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert be.cache_root() == tmp_path / "home" / ".cache" / "domaintune"


def test_cli_predict_backend(saved, warm_cache, monkeypatch, capsys):
    monkeypatch.setenv(be.CACHE_ENV, str(warm_cache))
    rows = {}
    for backend in ("onnx", "torch", "auto"):
        assert main(["predict", str(saved), *TEXTS[:3], "--backend", backend]) == 0
        rows[backend] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in rows["onnx"]] == [r["label"] for r in rows["torch"]]
    np.testing.assert_allclose([r["score"] for r in rows["onnx"]],
                               [r["score"] for r in rows["torch"]], atol=1e-4)
    assert rows["auto"] == rows["onnx"]  # the twin is cached: auto uses it
    export = next((warm_cache / "onnx").iterdir())
    assert main(["predict", str(export), "hello", "--backend", "onnx"]) == 0
    capsys.readouterr()
    assert main(["predict", str(export), "hello", "--backend", "torch"]) == 2
    assert "is an ONNX export" in capsys.readouterr().err


def test_the_cache_is_reused_by_another_process(saved, warm_cache, monkeypatch):
    monkeypatch.setenv(be.CACHE_ENV, str(warm_cache))
    before = entries(warm_cache)
    code = ("import sys; from domaintune import TextClassifier; from domaintune import backend; "
            "clf = TextClassifier.load(sys.argv[1]); clf.predict(['hello']); "
            "print(backend.current_backend(clf))")
    out = subprocess.run([sys.executable, "-c", code, str(saved)], capture_output=True,
                         text=True, check=True, timeout=300)
    assert out.stdout.strip() == "onnx" and entries(warm_cache) == before


def test_an_unwritable_cache_falls_back_to_torch_with_one_warning(saved, tmp_path, monkeypatch,
                                                                  caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(be.CACHE_ENV, str(blocker / "cache"))
    monkeypatch.setattr(be, "AUTO_EXPORT_MIN_TEXTS", 2)
    clf = TextClassifier.load(saved)
    reference = clf.predict_proba(TEXTS, backend="torch")
    with caplog.at_level(logging.WARNING, logger="domaintune.backend"):
        for _ in range(2):
            np.testing.assert_allclose(clf.predict_proba(TEXTS), reference, atol=1e-6)
    warnings = [r for r in caplog.records if r.name == "domaintune.backend"]
    assert len(warnings) == 1 and "running on PyTorch" in warnings[0].getMessage()
    assert be.CACHE_ENV in warnings[0].getMessage() and be.current_backend(clf) == "torch"
    with pytest.raises(be.BackendError, match=r"backend='onnx': cannot build .*set "
                                              r"DOMAINTUNE_CACHE to a writable directory"):
        clf.predict_proba(TEXTS, backend="onnx")


def test_unknown_backend_is_a_config_error(saved):
    clf = TextClassifier.load(saved)
    with pytest.raises(ConfigError, match=r"backend expects one of \['auto', 'torch', 'onnx'\], "
                                          r"found 'onx'; did you mean 'onnx'\?"):
        clf.predict("hello", backend="onx")


def test_finance_monitor_scores_a_model_directory_on_its_twin(saved, warm_cache, monkeypatch):
    from finance_monitor.sentiment import SentimentScorer, load_text_model

    monkeypatch.setenv(be.CACHE_ENV, str(warm_cache))
    model = load_text_model(str(saved), "onnx", what="sentiment model")  # no longer refused
    labels = {"card": "negative", "greet": "neutral", "refund": "positive"}
    fast = SentimentScorer(model, labels, backend="onnx").score(TEXTS)
    assert be.current_backend(model) == "onnx"
    slow = SentimentScorer(TextClassifier.load(saved), labels, backend="torch").score(TEXTS)
    assert fast.label == slow.label
    np.testing.assert_allclose(fast.score, slow.score, atol=1e-4)


def test_a_fit_drops_the_twin_of_the_old_weights(tiny_model):
    """A twin built before ``BiEncoder.fit`` must not answer for the trained weights (the
    sentence-transformers Trainer's updates are not seen by the tensor version check)."""
    from domaintune.pairs import PairDataset, PairTrainingConfig

    enc = BiEncoder.from_pretrained(tiny_model, max_length=32)
    enc.encode(TEXTS, backend="onnx")
    assert be.current_backend(enc) == "onnx"
    pairs = PairDataset(queries=TEXTS[:3], passages=TEXTS[3:6], source="test")
    enc.fit(pairs, config=PairTrainingConfig(epochs=1, batch_size=3, learning_rate=1e-2,
                                             progress=False))
    assert be.current_backend(enc) == "torch"
    np.testing.assert_allclose(enc.encode(TEXTS, backend="onnx"),
                               enc.encode(TEXTS, backend="torch"), atol=1e-5)

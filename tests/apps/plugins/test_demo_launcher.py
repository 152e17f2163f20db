"""`make demo`'s launcher and the core's Text classifier tab, without training: progress
lines, the low-confidence warning learned from validation data, the backbone's name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from domaintune import Method, TextDataset
from domaintune.ui import backbone_name, classify, confidence_threshold, model_summary

ROOT = Path(__file__).resolve().parents[3]


class FakeClassifier:
    """Confident (0.97-0.99) on its validation messages; 0.6 on anything else."""

    labels = ["greeting", "refund"]
    base_model = "default"
    method = Method.FROZEN

    def __init__(self):
        texts = [f"hello {i}" for i in range(20)] + [f"refund {i}" for i in range(20)]
        self.holdout = TextDataset(texts=texts, labels=["greeting"] * 20 + ["refund"] * 20)
        self.metrics = {"validation": {"accuracy": 1.0, "macro_f1": 1.0}}

    def predict_proba(self, texts):
        single = isinstance(texts, str)
        rows = []
        for i, t in enumerate([texts] if single else texts):
            p = 0.97 + 0.02 * (i % 2) if t.split()[0] in ("hello", "refund") else 0.6
            first = p if t.startswith("hello") or not t.startswith("refund") else 1 - p
            rows.append([first, 1 - first])
        out = np.array(rows)
        return out[0] if single else out


def test_low_confidence_warning_below_the_validation_threshold():
    clf = FakeClassifier()
    threshold = confidence_threshold(clf)
    assert 0.96 < threshold < 0.99  # 5% quantile of the correct validation confidences
    _, sure = classify(clf, "hello 3", threshold=threshold)
    assert "Low confidence" not in sure
    _, unsure = classify(clf, "what's the weather tomorrow?", threshold=threshold)
    assert unsure.startswith("**greeting** with calibrated probability 60.0%")
    assert "Low confidence" in unsure and "out of scope" in unsure
    clf.metrics["confidence_threshold"] = 0.5  # a threshold stored by training wins
    assert confidence_threshold(clf) == 0.5
    clf.holdout = None
    del clf.metrics["confidence_threshold"]
    assert confidence_threshold(clf) is None  # no validation data: no warning


def test_about_this_model_names_the_backbone():
    clf = FakeClassifier()
    assert backbone_name(clf) == "sentence-transformers/all-MiniLM-L6-v2 (packaged)"
    text = model_summary(clf, 0.97)
    assert "all-MiniLM-L6-v2" in text and "`default`" not in text
    assert "low-confidence warning below 97.0%" in text
    clf.base_model = "/models/bert-base"
    assert "`/models/bert-base`" in model_summary(clf)


def test_the_launcher_prints_progress(capsys):
    spec = importlib.util.spec_from_file_location("launch_demo", ROOT / "apps" / "launch_demo.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)

    class App:
        name, title = "toy", "Toy app"

        def write_samples(self, data_dir):
            return {}

        def demo_service(self, samples, models_dir, retrain=False):
            return "service"

        def build_tab(self, service):
            assert service == "service"

    assert launcher.app_tab(App(), Path("data"), Path("models")) == "service"
    err = capsys.readouterr().err
    assert "[demo] preparing the 'Toy app' tab" in err and "'Toy app' tab ready in" in err


def test_the_training_page_answers_and_frees_its_port():
    import socket
    import urllib.request

    spec = importlib.util.spec_from_file_location("launch_demo", ROOT / "apps" / "launch_demo.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    page = launcher.TrainingPage("127.0.0.1", 0)
    port = int(page.url.rsplit(":", 1)[1])
    try:
        with urllib.request.urlopen(page.url, timeout=10) as response:
            html = response.read().decode()
        assert response.status == 200 and "Training the sample models" in html
        assert 'http-equiv="refresh"' in html
    finally:
        page.stop()
    with socket.socket() as sock:  # the demo itself can now take the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))

"""The Gradio classifier demo serves a working API on 127.0.0.1 (thin UI over TextClassifier)."""

from __future__ import annotations

import pytest

from domaintune import TextClassifier, TrainingConfig
from domaintune.ui import build_demo, classify


@pytest.fixture
def trained(tiny_model, three_rows):
    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.labels)
    return clf.fit(three_rows, three_rows, TrainingConfig(method="frozen", head_c=100.0,
                                                          progress=False))


def test_classify_function(trained):
    scores, summary = classify(trained, "where is my refund")
    assert max(scores, key=scores.get) == "refund" and "**refund**" in summary
    assert classify(trained, "   ") == ({}, "Type a message to classify.")


def test_demo_api_answers_over_http(trained):
    from gradio_client import Client

    demo = build_demo(trained, examples=["hello there"])
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True,
                quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        result, summary = client.predict("my card was stolen", api_name="/classify")
        assert result["label"] == "card"
        assert "card" in summary
    finally:
        demo.close()

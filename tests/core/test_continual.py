"""Continual learning: head growing, replay buffer round-trip, updates with new labels."""

from __future__ import annotations

import numpy as np
import pytest

from domaintune import (
    DataError,
    TextClassifier,
    TextDataset,
    TrainingConfig,
    load_dataset,
    train_validation_split,
)
from domaintune.continual import grow_labels, update


@pytest.fixture
def trained(tiny_model, toy_csv):
    data = load_dataset(toy_csv, text="body", label="queue")
    old = data.subset([i for i, lab in enumerate(data.labels) if lab != "greeting"])
    clf = TextClassifier.from_pretrained(tiny_model, labels=old.label_names)
    train, val = train_validation_split(old, 0.25, seed=0)
    clf.fit(train, val, TrainingConfig(method="frozen", head_c=100.0, progress=False,
                                       replay_per_class=3))
    return clf, data


def test_grow_labels_keeps_old_logits(trained):
    clf, data = trained
    texts = data.texts
    before = clf._logits(texts)
    added = grow_labels(clf, ["greeting", "card"], data.subset(range(len(data))))
    assert added == ["greeting"] and clf.labels[-1] == "greeting"
    after = clf._logits(texts)
    np.testing.assert_allclose(after[:, :3], before, atol=1e-5)
    assert after.shape == (len(texts), 4)
    assert grow_labels(clf, ["card"]) == []


def test_replay_buffer_round_trips(trained, tmp_path):
    clf, _ = trained
    assert clf.replay.label_counts() == {"card": 3, "login": 3, "refund": 3}
    loaded = TextClassifier.load(clf.save(tmp_path / "m"))
    assert loaded.replay.texts == clf.replay.texts and loaded.replay.labels == clf.replay.labels
    assert loaded.holdout.texts == clf.holdout.texts


@pytest.mark.parametrize("method", ["frozen", "full"])
def test_update_adds_a_label_and_reports_forgetting(trained, method):
    clf, data = trained
    greetings = data.subset([i for i, lab in enumerate(data.labels) if lab == "greeting"])
    cfg = TrainingConfig(method=method, epochs=3, batch_size=8, head_c=100.0, progress=False,
                         learning_rate=1e-3, head_init="random")
    report = update(clf, greetings, cfg, validation_split=0)
    assert report.new_labels == ["greeting"] and "greeting" in clf.labels
    # replay_ratio 1.0: 8 new examples from a buffer of 9; frozen refits its head on all 9
    assert report.n_replay == (9 if method == "frozen" else 8)
    assert {"accuracy", "macro_f1"} <= set(report.before) and report.forgetting is not None
    assert clf.predict_proba(greetings.texts).shape == (8, 4)
    if method == "frozen":
        assert clf.predict(greetings.texts) == ["greeting"] * 8


def test_update_rejects_mismatched_data(trained):
    clf, _ = trained
    with pytest.raises(DataError, match="needs labelled data"):
        update(clf, TextDataset(texts=["a"], labels=None, source="new.csv"))
    multi = TextDataset(texts=["a"], labels=[["x"]], multi_label=True, source="new.csv")
    with pytest.raises(DataError, match="the model is single-label but the update data is not"):
        update(clf, multi)

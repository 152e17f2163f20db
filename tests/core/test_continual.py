"""Continual learning: head growing, replay buffer round-trip, updates with new labels."""

from __future__ import annotations

import numpy as np
import pytest

from domaintune import DataError, TextClassifier, TextDataset, TrainingConfig
from domaintune.continual import grow_labels, update

# fixtures (tests/conftest.py): tickets (4 labels x 8 rows), greetings (its 8 greeting rows),
# old_classifier (frozen, on the other 3 labels; replay buffer 3 per label)


def test_grow_labels_keeps_old_logits(old_classifier, tickets):
    clf, data = old_classifier, tickets
    texts = data.texts
    before = clf._logits(texts)
    added = grow_labels(clf, ["greeting", "card"], data.subset(range(len(data))))
    assert added == ["greeting"] and clf.labels[-1] == "greeting"
    after = clf._logits(texts)
    np.testing.assert_allclose(after[:, :3], before, atol=1e-5)
    assert after.shape == (len(texts), 4)
    assert grow_labels(clf, ["card"]) == []


def test_replay_buffer_round_trips(old_classifier, tmp_path):
    clf = old_classifier
    assert clf.replay.label_counts() == {"card": 3, "login": 3, "refund": 3}
    loaded = TextClassifier.load(clf.save(tmp_path / "m"))
    assert loaded.replay.texts == clf.replay.texts and loaded.replay.labels == clf.replay.labels
    assert loaded.holdout.texts == clf.holdout.texts


@pytest.mark.parametrize("method", ["frozen", "full"])
def test_update_adds_a_label_and_reports_forgetting(old_classifier, greetings, method):
    clf = old_classifier
    cfg = TrainingConfig(method=method, epochs=3, batch_size=8, head_c=100.0, progress=False,
                         learning_rate=1e-3, head_init="random")
    report = update(clf, greetings, cfg, validation_split=0)
    assert report.new_labels == ["greeting"] and "greeting" in clf.labels
    # frozen refits its head on the whole buffer of 9; so does a full update, whose auto
    # class-balanced buffer replays it all (replay_ratio 1.0 would take 8)
    assert report.n_replay == 9
    assert {"accuracy", "macro_f1"} <= set(report.before) and report.forgetting is not None
    assert clf.predict_proba(greetings.texts).shape == (8, 4)
    if method == "frozen":
        assert clf.predict(greetings.texts) == ["greeting"] * 8


@pytest.mark.parametrize("method", ["frozen", "full"])
def test_the_updates_max_length_becomes_the_models(old_classifier, greetings, method, tmp_path):
    clf = old_classifier
    assert clf.max_length != 16
    update(clf, greetings, TrainingConfig(method=method, epochs=1, batch_size=8, head_c=100.0,
                                          progress=False, max_length=16), validation_split=0)
    assert clf.max_length == 16  # predictions tokenize as the update trained
    loaded = TextClassifier.load(clf.save(tmp_path / "m"))
    assert loaded.max_length == 16
    # the saved model says what its last update trained with (training_config is the first fit's)
    assert loaded.metrics["updates"][-1]["config"]["max_length"] == 16
    assert loaded.metrics["updates"][-1]["config"]["method"] == method
    assert loaded.training_config.max_length != 16
    update(clf, greetings.subset([0, 1]), validation_split=0)  # no config: the model's length
    assert clf.max_length == 16
    # the report names the method the update trained (the model's), not the first fit's config
    assert clf.metrics["updates"][-1]["config"]["method"] == clf.method.value == method


def test_update_rejects_mismatched_data(old_classifier):
    clf = old_classifier
    with pytest.raises(DataError, match="needs labelled data"):
        update(clf, TextDataset(texts=["a"], labels=None, source="new.csv"))
    multi = TextDataset(texts=["a"], labels=[["x"]], multi_label=True, source="new.csv")
    with pytest.raises(DataError, match="the model is single-label but the update data is not"):
        update(clf, multi)

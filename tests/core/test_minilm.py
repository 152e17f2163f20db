"""A few checks on the real packaged all-MiniLM-L6-v2 and the real public datasets (slow)."""

from __future__ import annotations

import runpy

import pytest
from conftest import DATASETS, ROOT

from domaintune import TextClassifier, TrainingConfig, load_dataset, sample_per_class

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_paths():
    return runpy.run_path(str(ROOT / "data" / "make_samples.py"))["make_samples"]()


def test_frozen_minilm_learns_the_sample_intents(sample_paths):
    train, val = load_dataset(sample_paths["intents"], label="intent", split=0.15, seed=0)
    test = load_dataset(sample_paths["intents_test"], label="intent")
    clf = TextClassifier.from_pretrained("default", labels=train.label_names)
    clf.fit(train, val, TrainingConfig(method="frozen", progress=False))
    metrics = clf.evaluate(test)
    assert metrics["accuracy"] >= 0.9, metrics["most_confused"]
    assert metrics["ece"] < metrics["ece_uncalibrated"]


def test_zero_shot_minilm_beats_chance_by_far(sample_paths):
    test = load_dataset(sample_paths["intents_test"], label="intent")
    clf = TextClassifier.zero_shot(test.label_names)
    # 20 intents: chance is 5%
    assert clf.evaluate(test)["accuracy"] >= 0.4


@pytest.mark.skipif(not (DATASETS / "banking77" / "train.csv").is_file(),
                    reason="BANKING77 not found in ../shared/datasets")
def test_banking77_five_shot_frozen():
    train = load_dataset(DATASETS / "banking77" / "train.csv", label="category")
    test = load_dataset(DATASETS / "banking77" / "test.csv", label="category")
    few = sample_per_class(train, 5, seed=0)
    assert len(few) == 77 * 5
    clf = TextClassifier.from_pretrained("default", labels=train.label_names)
    clf.fit(few, None, TrainingConfig(method="frozen", progress=False))
    assert clf.evaluate(test.subset(range(0, len(test), 6)))["accuracy"] >= 0.65

"""Candidate features as of the request time: nothing that happened after ``now`` leaks into
the popularity features (the ranker trains on held-out interactions from the past)."""

from __future__ import annotations

import numpy as np

from text_recommender.features import (
    FEATURE_GROUPS,
    FEATURES,
    Timeline,
    feature_mask,
    popularity_features,
)

DAY = 86400


def test_timeline_counts_only_interactions_before_now():
    items = np.array([0, 0, 0, 1, 2, 2])
    ts = np.array([10, 20, 30, 25, 5, 40]) * DAY
    tl = Timeline.build(items, ts, n_items=4)
    count, recent, first = tl.as_of(np.array([0, 1, 2, 3]), now=26 * DAY, window_s=10 * DAY)
    assert count.tolist() == [2, 1, 1, 0]  # item 0 at day 30 and item 2 at day 40 are future
    assert recent.tolist() == [1, 1, 0, 0]  # within (16, 26]: item 0 at 20, item 1 at 25
    assert first.tolist() == [10 * DAY, 25 * DAY, 5 * DAY, -1]
    count, _, _ = tl.as_of(np.array([0, 2]), now=10 * DAY, window_s=DAY)
    assert count.tolist() == [0, 1]  # strictly before now


def test_popularity_features_as_of_now():
    items = np.array([0, 0, 1])
    ts = np.array([1, 2, 50]) * DAY
    tl = Timeline.build(items, ts, n_items=3)
    pop, trend, age = popularity_features(tl, np.array([0, 1, 2]), now=3 * DAY, window_days=1)
    assert np.allclose(pop, [np.log1p(2), 0, 0])
    assert np.isnan(age[1]) and np.isnan(age[2])  # item 1's only interaction is in the future
    assert age[0] == 2.0
    assert trend[0] > 0


def test_timeline_grows_with_the_catalogue():
    tl = Timeline.build(np.array([0]), np.array([5]), n_items=1)
    tl.grow(3)
    count, _, first = tl.as_of(np.array([0, 1, 2]), now=10, window_s=1)
    assert count.tolist() == [1, 0, 0] and first.tolist() == [5, -1, -1]


def test_feature_groups_cover_every_feature_once():
    names = [f for group in FEATURE_GROUPS.values() for f in group]
    assert sorted(names) == sorted(FEATURES) and len(names) == len(set(names))
    keep = feature_mask("cf")
    assert [f for f, k in zip(FEATURES, keep, strict=True) if not k] == list(FEATURE_GROUPS["cf"])

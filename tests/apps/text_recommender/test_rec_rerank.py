"""MMR, eligibility filters and merchandising rules (text_recommender.rerank)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from domaintune.errors import ConfigError, DataError
from text_recommender.rerank import RuleSet, apply_rules, cap_per_category, filter_mask, mmr


def _toy():
    # 0 and 1 are near-duplicates, 2 is different and a bit less relevant, 3 is the least relevant
    rel = np.array([0.9, 0.85, 0.6, 0.1], dtype=np.float32)
    emb = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0], [0.7, 0.7]], dtype=np.float32)
    return rel, emb


def test_mmr_diversity_zero_is_stable_relevance_order():
    rel = np.array([0.2, 0.9, 0.5, 0.9, 0.1], dtype=np.float32)
    emb = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    assert mmr(rel, emb, k=5, diversity=0.0).tolist() == [1, 3, 2, 0, 4]
    assert mmr(rel, emb, k=2, diversity=0.0).tolist() == [1, 3]


def test_mmr_high_diversity_prefers_the_dissimilar_item_over_the_near_duplicate():
    rel, emb = _toy()
    assert mmr(rel, emb, k=3, diversity=0.0).tolist() == [0, 1, 2]
    picked = mmr(rel, emb, k=3, diversity=0.7)
    assert picked[0] == 0  # the most relevant always comes first
    assert picked[1] == 2  # the different item before the near-duplicate
    assert picked.dtype == np.int64


def test_mmr_k_larger_than_candidates_and_empty_and_ties():
    rel, emb = _toy()
    assert sorted(mmr(rel, emb, k=10, diversity=0.5).tolist()) == [0, 1, 2, 3]
    assert mmr(np.zeros(0), np.zeros((0, 2)), k=3, diversity=0.5).tolist() == []
    # all relevance equal and diversity 1: the first position starts, then the least similar
    flat = np.ones(3, dtype=np.float32)
    emb3 = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]], dtype=np.float32)
    assert mmr(flat, emb3, k=2, diversity=1.0).tolist() == [0, 2]


def test_mmr_validates_inputs():
    rel, emb = _toy()
    with pytest.raises(ConfigError, match=r"diversity in \[0, 1\]"):
        mmr(rel, emb, k=2, diversity=1.5)
    with pytest.raises(DataError, match=r"expected embeddings of shape \(4, d\)"):
        mmr(rel, emb[:3], k=2, diversity=0.5)
    with pytest.raises(DataError, match="finite relevance"):
        mmr(np.array([1.0, np.nan, 0.0, 0.0]), emb, k=2, diversity=0.5)


def test_mmr_is_fast_for_300_candidates():
    rng = np.random.default_rng(0)
    rel = rng.random(300).astype(np.float32)
    emb = rng.normal(size=(300, 384)).astype(np.float32)
    mmr(rel, emb, k=10, diversity=0.3)  # warm-up
    start = time.perf_counter()
    for _ in range(20):
        out = mmr(rel, emb, k=10, diversity=0.3)
    per_call = (time.perf_counter() - start) / 20
    assert len(set(out.tolist())) == 10
    assert per_call < 0.01  # ~1 ms on a quiet core; generous for a shared machine


def test_filter_mask_combines_every_condition():
    in_stock = np.array([True, True, False, True, True, True])
    removed_mask = np.array([False, False, False, False, True, False])
    mask = filter_mask(6, seen=[0], excluded={5}, in_stock=in_stock, removed=removed_mask)
    assert mask.tolist() == [False, True, False, True, False, False]
    assert filter_mask(3, removed=np.array([2])).tolist() == [True, True, False]
    assert filter_mask(2).tolist() == [True, True]


def test_filter_mask_errors_name_the_problem():
    with pytest.raises(DataError, match=r"seen item indices in 0\.\.2, found 7"):
        filter_mask(3, seen=[7])
    with pytest.raises(DataError, match=r"in_stock as a boolean mask of shape \(3,\)"):
        filter_mask(3, in_stock=np.array([1, 0, 1]))


def test_apply_rules_boost_and_bury_case_insensitively():
    scores = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    cats = ["Comedy", " drama ", None, ["Horror", "COMEDY"]]
    rules = RuleSet(boost={"comedy": 1.5}, bury={"Drama": 2.0, "horror": 0.5})
    out = apply_rules(scores, cats, rules)
    np.testing.assert_allclose(out, [2.5, 0.0, 3.0, 5.0])
    assert scores.tolist() == [1.0, 2.0, 3.0, 4.0]  # not modified
    assert out.dtype == np.float32
    with pytest.raises(DataError, match="one category per score"):
        apply_rules(scores, cats[:2], rules)


def test_ruleset_validation_and_round_trip():
    rules = RuleSet.from_dict({"boost": {"Sci-Fi": 1}, "max_per_category": 2})
    assert rules.boost == {"sci-fi": 1.0}
    assert RuleSet.from_dict(rules.to_dict()) == rules
    assert RuleSet().empty and not rules.empty
    with pytest.raises(ConfigError, match=r"did you mean 'boost'"):
        RuleSet.from_dict({"boots": {}})
    with pytest.raises(ConfigError, match=r"rules.bury\['x'\] to be a number >= 0"):
        RuleSet(bury={"x": -1.0})
    with pytest.raises(ConfigError, match="max_per_category to be an integer >= 1"):
        RuleSet(max_per_category=0)


def test_cap_per_category_skips_full_categories_and_keeps_order():
    cats = ["a", "A", "a", "b", None, None, ["b", "c"], "c"]
    order = np.arange(8)
    assert cap_per_category(order, cats, cap=2, k=5).tolist() == [0, 1, 3, 4, 5]
    assert cap_per_category(order, cats, cap=1, k=8).tolist() == [0, 3, 4, 5, 7]
    assert cap_per_category(order[::-1], cats, cap=None, k=3).tolist() == [7, 6, 5]
    assert cap_per_category(order, cats, cap=2, k=0).tolist() == []

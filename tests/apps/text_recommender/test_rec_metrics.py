"""Ranking metrics of the recommender (text_recommender.metrics) against hand-computed values.

Each expected number is worked out by hand in the test from the definitions (HR = held-out item
in the top k; nDCG = 1 / log2(rank + 1); MRR = 1 / rank; coverage = distinct items / n_items).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from domaintune.errors import DataError
from text_recommender.metrics import ranking_metrics

# user 0: relevant at rank 1, user 1: at rank 3, user 2: absent from the top 3
RANKED = [["a", "b", "c", "d"], ["d", "e", "a", "f"], ["b", "c", "d", "a"]]
RELEVANT = ["a", "a", "a"]


def test_hit_rate_ndcg_mrr_at_ranks_one_three_and_absent():
    m = ranking_metrics(RANKED, RELEVANT, n_items=10, k=3)
    assert m["hr@3"] == pytest.approx(2 / 3)
    assert m["ndcg@3"] == pytest.approx((1.0 + 1 / math.log2(4) + 0.0) / 3)  # (1 + 0.5) / 3
    assert m["mrr@3"] == pytest.approx((1.0 + 1 / 3 + 0.0) / 3)
    # top-3 lists: {a,b,c} | {d,e,a} | {b,c,d} = {a,b,c,d,e}: 5 of 10 items
    assert m["coverage@3"] == pytest.approx(0.5)
    assert m["n_users"] == 3
    assert set(m) == {"hr@3", "ndcg@3", "mrr@3", "coverage@3", "n_users"}


def test_k_cuts_the_lists_and_names_the_keys():
    m = ranking_metrics(RANKED, RELEVANT, n_items=6, k=1)
    assert m["hr@1"] == pytest.approx(1 / 3)  # only user 0 has "a" first
    assert m["ndcg@1"] == pytest.approx(1 / 3)
    assert m["mrr@1"] == pytest.approx(1 / 3)
    assert m["coverage@1"] == pytest.approx(3 / 6)  # a, d, b
    full = ranking_metrics(RANKED, RELEVANT, n_items=6, k=10)
    assert full["hr@10"] == 1.0  # user 2's "a" is at rank 4
    assert full["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 4) / 3)
    assert full["coverage@10"] == 1.0


def test_prefix_and_ids_compared_as_strings():
    m = ranking_metrics([np.array([12, 7]), [3.0, 12]], [np.int64(7), "12"], n_items=4, k=2,
                        prefix="cold_start_")
    assert m["cold_start_hr@2"] == 1.0
    assert m["cold_start_mrr@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["cold_start_coverage@2"] == pytest.approx(3 / 4)  # "12", "7", "3"
    assert m["cold_start_n_users"] == 2


def test_repeated_ids_count_once_and_sets_of_relevant_items():
    m = ranking_metrics([["x", "x", "y"]], [{"y", "z"}], n_items=3, k=2)
    # top 2 distinct = [x, y]: one of two relevant found; DCG = 1/log2(3), IDCG = 1 + 1/log2(3)
    assert m["hr@2"] == pytest.approx(0.5)
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert m["mrr@2"] == pytest.approx(0.5)
    assert m["coverage@2"] == pytest.approx(2 / 3)


def test_no_users_gives_zeros():
    assert ranking_metrics([], [], n_items=5) == {"hr@10": 0.0, "ndcg@10": 0.0, "mrr@10": 0.0,
                                                  "coverage@10": 0.0, "n_users": 0}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ranked": [["a"]], "relevant": ["a", "b"]}, "one relevant entry per ranked list"),
    ({"ranked": [["a"]], "relevant": ["a"], "k": 0}, "cut-off k >= 1"),
    ({"ranked": [["a"]], "relevant": ["a"], "n_items": 0}, "n_items >= 1"),
    ({"ranked": [["a"]], "relevant": [set()]}, "no relevant ids"),
])
def test_errors_say_what_is_wrong(kwargs, message):
    kwargs = {"n_items": 3, **kwargs}
    with pytest.raises(DataError, match=message):
        ranking_metrics(**kwargs)

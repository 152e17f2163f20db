"""Explanations of recommendations (text_recommender.explain)."""

from __future__ import annotations

import numpy as np
import pytest

from domaintune.errors import DataError
from text_recommender.explain import FEATURE_NAMES, QUERY_TEXT, Explanation, explain

TITLES = ["Heat", "Alien", "The Thing", "Amelie", "Aliens", "Brazil"]
LEAD_FEATURES = ["text_sim", "text_sim_tuned", "text_max_sim", "ease", "knn", "coeng", "pop",
                 "pop_trend", "item_age", "user_activity", "since_last", "src_text", "src_cf",
                 "src_coeng", "src_pop"]


def test_names_the_strongest_history_items_and_features():
    history = np.array([0, 1, 2, 3])  # most recent last
    text_sim = np.array([0.1, 0.7, 0.5, 0.0])
    co_sim = np.array([0.0, 2.0, 4.0, 0.0])  # scaled over the history: [0, .5, 1, 0]
    contrib = {"text_sim": 0.4, "coeng": 0.9, "pop": -1.2, "ease": 0.1}
    e = explain(4, history, text_sim, co_sim, contrib, TITLES)
    assert e.because == [2, 1]  # 0.5 + 1.0 beats 0.7 + 0.5
    assert e.reasons == ["co-engagement", "text match"]
    assert e.text == ("Because you liked The Thing and Alien; "
                      "strongest signals: co-engagement, text match")
    assert isinstance(e, Explanation) and e.to_dict()["because"] == [2, 1]


def test_without_co_sim_limits_verb_and_recency_ties():
    history = np.array([1, 2, 5])
    e = explain(4, history, np.array([0.5, 0.5, 0.2]), None, {"knn": 0.3}, TITLES,
                max_items=1, verb="watched")
    assert e.because == [2]  # tie: the more recent wins
    assert e.text == "Because you watched The Thing; strongest signals: similar items"
    three = explain(4, history, np.array([0.5, 0.4, 0.3]), None, {}, TITLES, max_items=3)
    assert three.text == "Because you liked Alien, The Thing and Brazil"


def test_skips_non_positive_weights_duplicates_and_the_candidate_itself():
    history = np.array([1, 3, 1, 4])
    e = explain(4, history, np.array([0.2, -0.3, 0.6, 0.9]), None, {"pop": 0.2}, TITLES)
    assert e.because == [1]  # 3 has a negative weight, 4 is the candidate, 1 counted once
    nothing = explain(4, np.array([3]), np.array([0.0]), None, {"pop": 0.2, "ease": 0.0}, TITLES)
    assert nothing.because == [] and nothing.text == "Strongest signals: popularity"
    bare = explain(4, np.array([3]), np.array([0.0]), None, {}, TITLES)
    assert bare.text == "Recommended for you"


def test_query_case_without_history():
    e = explain(2, np.array([], dtype=np.int64), np.array([]), None, {}, TITLES)
    assert e == Explanation([], [], QUERY_TEXT)
    assert e.text == "Matches your query"
    with_signal = explain(2, np.array([], dtype=np.int64), np.array([]), None,
                          {"src_text": 1.0}, TITLES)
    assert with_signal.text == "Matches your query; strongest signals: found by text search"


def test_every_lead_feature_has_a_display_name_and_unknown_ones_read_well():
    assert set(LEAD_FEATURES) <= set(FEATURE_NAMES)
    e = explain(0, np.array([1]), np.array([0.5]), None, {"new_signal": 1.0}, TITLES)
    assert e.reasons == ["new signal"]


def test_misaligned_inputs_are_refused():
    with pytest.raises(DataError, match=r"text_sim with one value per history item \(2\)"):
        explain(0, np.array([1, 2]), np.array([0.5]), None, {}, TITLES)
    with pytest.raises(DataError, match=r"history item indices in 0\.\.5"):
        explain(0, np.array([9]), np.array([0.5]), None, {}, TITLES)

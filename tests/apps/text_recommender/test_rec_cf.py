"""text_recommender.cf: EASE against the closed form, item-kNN, co-engagement, popularity, states."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from domaintune import DataError, ModelLoadError, NotFittedError
from text_recommender import cf
from text_recommender.cf import EASE, CoEngagement, ItemKNN, Popularity, user_item_matrix

DAY = 86400


def _matrix(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    users = np.concatenate([np.full(len(r), u) for u, r in enumerate(rows)]).astype(np.int64)
    items = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
    return user_item_matrix(users, items, len(rows), n_items)


def _closed_form(X: np.ndarray, l2: float) -> np.ndarray:
    """EASE's B, computed independently in float64 with numpy.linalg.inv."""
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


def _roundtrip(model):
    """to_state -> np.savez -> np.load(allow_pickle=False) -> from_state."""
    buf = io.BytesIO()
    np.savez(buf, **model.to_state())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        state = {k: data[k] for k in data.files}
    return type(model).from_state(state)


@pytest.fixture
def toy() -> sp.csr_matrix:
    # items 0,1,2 go together; 3,4 go together; 5 is never seen
    return _matrix([[0, 1, 2], [0, 1], [1, 2], [0, 2], [3, 4], [3, 4], [4]], n_items=6)


# ------------------------------------------------------------------------------ user-item matrix


def test_user_item_matrix_collapses_duplicates_to_max_weight():
    m = user_item_matrix(np.array([0, 0, 1, 1]), np.array([2, 2, 0, 1]), 3, 4,
                         weight=np.array([1.0, 4.0, 2.0, 0.0]))
    assert m.dtype == np.float32 and m.shape == (3, 4) and m.has_sorted_indices
    assert m.toarray().tolist() == [[0, 0, 4, 0], [2, 0, 0, 0], [0, 0, 0, 0]]
    implicit = user_item_matrix(np.array([0, 0]), np.array([1, 1]), 1, 2)
    assert implicit.toarray().tolist() == [[0.0, 1.0]]


def test_user_item_matrix_errors_name_the_problem():
    with pytest.raises(DataError, match=r"item_idx in \[0, 3\), found 3"):
        user_item_matrix(np.array([0]), np.array([3]), 1, 3)
    with pytest.raises(DataError, match="same length"):
        user_item_matrix(np.array([0, 0]), np.array([1]), 1, 3)
    with pytest.raises(DataError, match="integer indices"):
        user_item_matrix(np.array([0]), np.array([0.5]), 1, 3)


# ------------------------------------------------------------------------------------------ EASE


def test_ease_hand_solved_two_items():
    # users {0, 1} and {0}; l2 = 1: G + I = [[3, 1], [1, 2]], P = [[2, -1], [-1, 3]] / 5
    # B[0, 1] = -P01 / P11 = 1/3 and B[1, 0] = -P10 / P00 = 1/2
    X = _matrix([[0, 1], [0]], n_items=2)
    ease = EASE(l2=1.0).fit(X)
    np.testing.assert_allclose(ease.B_, [[0.0, 1 / 3], [1 / 2, 0.0]], atol=1e-6)
    np.testing.assert_allclose(ease.score_user(np.array([0])), [0.0, 1 / 3], atol=1e-6)
    np.testing.assert_allclose(ease.score_user(np.array([1]), weight=np.array([2.0])),
                               [1.0, 0.0], atol=1e-6)


def test_ease_matches_closed_form_and_scatters_to_the_catalogue(toy):
    ease = EASE(l2=0.7).fit(toy)
    assert ease.active_.tolist() == [0, 1, 2, 3, 4]            # item 5 never seen
    B = _closed_form(toy.toarray()[:, :5].astype(np.float64), 0.7)
    np.testing.assert_allclose(ease.B_, B, rtol=1e-5, atol=1e-6)
    scores = ease.score_user(np.array([0, 3]), weight=np.array([1.0, 0.5]))
    assert scores.dtype == np.float32 and scores.shape == (6,)
    np.testing.assert_allclose(scores[:5], B[0] + 0.5 * B[3], rtol=1e-5, atol=1e-6)
    assert scores[5] == 0.0


def test_ease_float32_path_agrees_with_float64(toy, monkeypatch):
    monkeypatch.setattr(cf, "_EASE_FLOAT64_MAX", 0)
    ease = EASE(l2=0.7).fit(toy)
    np.testing.assert_allclose(ease.B_, _closed_form(toy.toarray()[:, :5], 0.7), atol=1e-5)


def test_ease_obvious_ranking(toy):
    scores = EASE(l2=1.0).fit(toy).score_user(np.array([3]))
    assert int(np.argmax(scores)) == 4                         # 3's only companion
    assert scores[4] > 0 and np.all(scores[[0, 1, 2, 5]] <= 1e-6)


def test_ease_max_items_keeps_the_most_frequent(toy):
    ease = EASE(l2=1.0, max_items=2).fit(toy)                  # counts: 0:3 1:3 2:3 3:2 4:3
    assert ease.active_.tolist() == [0, 1]
    scores = ease.score_user(np.array([0, 2, 3]))
    assert scores[1] > 0 and np.all(scores[2:] == 0)


def test_ease_pruning_keeps_the_largest_entries_per_row(toy):
    dense = EASE(l2=0.5).fit(toy)
    pruned = EASE(l2=0.5, neighbors=2).fit(toy)
    assert sp.issparse(pruned.B_)
    for a in range(dense.B_.shape[0]):
        row = dense.B_[a].astype(np.float64).copy()
        row[a] = -np.inf
        expected = set(np.argsort(-row, kind="stable")[:2].tolist())
        start, end = pruned.B_.indptr[a], pruned.B_.indptr[a + 1]
        kept = pruned.B_.indices[start:end]
        assert set(kept.tolist()) <= expected and a not in kept
        np.testing.assert_allclose(pruned.B_.data[start:end], dense.B_[a, kept], rtol=1e-6)
        dropped = np.setdiff1d(np.arange(5), np.append(kept, a))
        assert dense.B_[a, dropped].max() <= pruned.B_.data[start:end].min() + 1e-7


@pytest.mark.parametrize("neighbors", [None, 2])
def test_ease_score_users_matches_score_user(toy, neighbors):
    ease = EASE(l2=1.0, neighbors=neighbors).fit(toy)
    batch = ease.score_users(toy[[0, 4, 6]])
    assert batch.dtype == np.float32 and batch.shape == (3, 6)
    for r, u in enumerate([0, 4, 6]):
        hist = toy[u].indices
        np.testing.assert_allclose(batch[r], ease.score_user(hist), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("neighbors", [None, 2])
def test_ease_state_round_trip_and_grow(toy, neighbors):
    ease = EASE(l2=1.0, neighbors=neighbors).fit(toy)
    hist = np.array([0, 3])
    before = ease.score_user(hist)
    loaded = _roundtrip(ease)
    assert loaded.neighbors == neighbors and loaded.l2 == 1.0
    np.testing.assert_array_equal(loaded.score_user(hist), before)
    loaded.grow(8)
    grown = loaded.score_user(hist)
    assert grown.shape == (8,)
    np.testing.assert_array_equal(grown[:6], before)
    assert np.all(grown[6:] == 0) and np.all(loaded.score_user(np.array([7])) == 0)
    assert loaded.score_users(sp.csr_matrix((1, 8), dtype=np.float32)).shape == (1, 8)


def test_ease_errors(toy):
    with pytest.raises(NotFittedError, match="EASE is not fitted yet"):
        EASE().score_user(np.array([0]))
    with pytest.raises(DataError, match="l2 > 0"):
        EASE(l2=0.0).fit(toy)
    ease = EASE(l2=1.0).fit(toy)
    with pytest.raises(DataError, match=r"item_idx in \[0, 6\), found 6; grow\(\)"):
        ease.score_user(np.array([6]))
    with pytest.raises(DataError, match="expected X_rows with 6 columns"):
        ease.score_users(sp.csr_matrix((1, 5)))
    with pytest.raises(DataError, match="n_items >= the current 6"):
        ease.grow(5)
    with pytest.raises(ModelLoadError, match="missing"):
        EASE.from_state({"l2": np.array(1.0)})


# --------------------------------------------------------------------------------------- ItemKNN


def test_itemknn_toy_similarities_by_hand(toy):
    knn = ItemKNN(neighbors=10, shrink=1.0).fit(toy)
    # items 0 and 1: 2 common users, 3 users each -> 2 / (sqrt(3) * sqrt(3) + 1) = 0.5
    # items 3 and 4: 2 common, n3 = 2, n4 = 3 -> 2 / (sqrt(6) + 1)
    idx, sims = knn.similar(0, k=5)
    assert idx.tolist() == [1, 2] and sims.dtype == np.float32
    np.testing.assert_allclose(sims, [0.5, 0.5], rtol=1e-6)
    idx, sims = knn.similar(3, k=5)
    assert idx.tolist() == [4]
    np.testing.assert_allclose(sims, [2 / (np.sqrt(6) + 1)], rtol=1e-6)
    assert knn.similar(5, k=3)[0].size == 0
    scores = knn.score_user(np.array([0, 3]), weight=np.array([1.0, 2.0]))
    np.testing.assert_allclose(scores, [0, 0.5, 0.5, 0, 4 / (np.sqrt(6) + 1), 0], rtol=1e-6)


def test_itemknn_binarises_and_keeps_top_neighbors():
    X = user_item_matrix(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 2, 0, 1, 2]), 3, 3,
                         weight=np.array([5.0, 3.0, 1.0, 2.0, 2.0, 4.0]))
    knn = ItemKNN(neighbors=1, shrink=0.0).fit(X)
    assert X.data.tolist() == [5.0, 3.0, 1.0, 2.0, 2.0, 4.0]  # the caller's matrix is untouched
    # sim(0,1) = 2/2 = 1; sim(0,2) = 1/2: item 0 keeps only item 1
    assert knn.similar(0, 5)[0].tolist() == [1]
    assert np.diff(knn.S_.indptr).max() == 1
    np.testing.assert_allclose(knn.score_users(X[[0]])[0],
                               5.0 * knn.score_user(np.array([0])) + 3.0 *
                               knn.score_user(np.array([1])) + knn.score_user(np.array([2])),
                               rtol=1e-6)


def test_itemknn_state_round_trip_and_grow(toy):
    knn = ItemKNN(neighbors=3, shrink=2.0).fit(toy)
    hist = np.array([0, 4])
    before = knn.score_user(hist)
    loaded = _roundtrip(knn)
    assert (loaded.neighbors, loaded.shrink) == (3, 2.0)
    np.testing.assert_array_equal(loaded.score_user(hist), before)
    loaded.grow(9)
    np.testing.assert_array_equal(loaded.score_user(hist)[:6], before)
    assert loaded.score_user(np.array([8])).shape == (9,)
    with pytest.raises(NotFittedError):
        ItemKNN().similar(0, 3)


# ---------------------------------------------------------------------------------- CoEngagement


def _log():
    # user 0: 0 -> 1 -> 2 ; user 1: 3 -> 0  (given out of time order on purpose)
    users = np.array([1, 0, 0, 1, 0])
    items = np.array([0, 2, 0, 3, 1])
    ts = np.array([20, 30, 10, 15, 20])
    return users, items, ts


def test_coengagement_counts_only_forward_transitions():
    users, items, ts = _log()
    co = CoEngagement(window=1, neighbors=10, decay=0.5).fit(users, items, ts, n_items=5)
    counts = co.counts_.toarray()
    assert counts[0, 1] == 1 and counts[1, 0] == 0             # i -> j counted, j -> i not
    assert counts[1, 2] == 1 and counts[3, 0] == 1
    assert counts[0, 2] == 0                                   # lag 2 is outside window=1
    assert counts[2, 3] == 0 and counts.sum() == 3             # no transitions across users
    np.testing.assert_array_equal(co.n_, [2, 1, 1, 1, 0])
    scores = co.score_user(np.array([3]))
    np.testing.assert_allclose(scores, [1 / np.sqrt(2), 0, 0, 0, 0], rtol=1e-6)
    wide = CoEngagement(window=2).fit(users, items, ts, n_items=5)
    assert wide.counts_[0, 2] == 1 and wide.counts_[2, 0] == 0


def test_coengagement_decay_and_pair_scores():
    users, items, ts = _log()
    co = CoEngagement(window=1, decay=0.5).fit(users, items, ts, n_items=5)
    scores = co.score_user(np.array([0, 1]))                   # 1 is the most recent
    s01, s12 = 1 / np.sqrt(2 * 1), 1.0
    np.testing.assert_allclose(scores, [0, 0.5 * s01, s12, 0, 0], rtol=1e-6)
    pairs = co.pair_scores(np.array([0, 1]), np.array([2, 1, 4]))
    assert pairs.shape == (2, 3) and pairs.dtype == np.float32
    np.testing.assert_allclose(pairs, [[0, s01, 0], [s12, 0, 0]], rtol=1e-6)
    assert co.score_user(np.array([], dtype=np.int64)).tolist() == [0.0] * 5


def test_coengagement_neighbors_prunes_rows():
    users = np.zeros(6, dtype=np.int64)
    items = np.array([0, 1, 0, 1, 0, 2])                       # 0->1 twice, 0->2 once
    co = CoEngagement(window=1, neighbors=1).fit(users, items, np.arange(6), n_items=3)
    assert co.pair_scores(np.array([0]), np.array([1, 2]))[0, 1] == 0.0
    assert co.score_user(np.array([0]))[1] > 0


def test_coengagement_record_equals_fit_on_everything():
    users, items, ts = _log()
    full = CoEngagement(window=2).fit(np.append(users, [0, 0]), np.append(items, [3, 4]),
                                      np.append(ts, [40, 50]), n_items=5)
    inc = CoEngagement(window=2).fit(users, items, ts, n_items=5)
    inc.score_user(np.array([0]))                              # builds the cache first
    inc.record(np.array([0, 1, 2]), np.array([3, 4]))
    np.testing.assert_array_equal(inc.counts_.toarray(), full.counts_.toarray())
    np.testing.assert_array_equal(inc.n_, full.n_)
    np.testing.assert_allclose(inc.score_user(np.array([1, 2])),
                               full.score_user(np.array([1, 2])), rtol=1e-6)


def test_coengagement_state_round_trip_and_grow():
    users, items, ts = _log()
    co = CoEngagement(window=2, neighbors=5, decay=0.6).fit(users, items, ts, n_items=5)
    hist = np.array([3, 0])
    before = co.score_user(hist)
    loaded = _roundtrip(co)
    assert (loaded.window, loaded.neighbors, loaded.decay) == (2, 5, 0.6)
    np.testing.assert_array_equal(loaded.score_user(hist), before)
    loaded.grow(7)
    np.testing.assert_array_equal(loaded.score_user(hist)[:5], before)
    loaded.record(np.array([2]), np.array([6]))                # a new item gets transitions
    assert loaded.score_user(np.array([2]))[6] > 0
    with pytest.raises(DataError, match="decay in"):
        CoEngagement(decay=0.0).fit(users, items, ts, n_items=5)


# ------------------------------------------------------------------------------------ Popularity


def _pop_log():
    items = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    ts = np.array([0, 1, 2, 50, 95, 96, 97, 99]) * DAY
    return items, ts


def test_popularity_counts_trend_age():
    items, ts = _pop_log()
    pop = Popularity(trend_window_days=10).fit(items, ts, n_items=4)
    np.testing.assert_array_equal(pop.count_, [3, 2, 3, 0])
    np.testing.assert_array_equal(pop.recent_, [0, 1, 3, 0])  # ts >= day 89
    assert pop.now_ == 99 * DAY and pop.first_ts_.tolist() == [0, 50 * DAY, 96 * DAY, -1]
    np.testing.assert_allclose(pop.scores(), np.log1p([3, 2, 3, 0]), rtol=1e-6)
    ratio = 10 / 99                                            # window / span
    np.testing.assert_allclose(pop.trend(), [1 / (3 * ratio + 1), 2 / (2 * ratio + 1),
                                             4 / (3 * ratio + 1), 1.0], rtol=1e-6)
    assert pop.trend()[2] > 1 > pop.trend()[0]
    age = pop.age_days(100 * DAY)
    np.testing.assert_allclose(age[:3], [100, 50, 4])
    assert np.isnan(age[3])
    assert age.dtype == np.float32


def test_popularity_top_ties_exclude_and_unseen():
    items, ts = _pop_log()
    pop = Popularity().fit(items, ts, n_items=4)
    assert pop.top(2).tolist() == [0, 2]                       # tie 3-3 by lower code
    assert pop.top(10).tolist() == [0, 2, 1]                   # never-seen item 3 left out
    assert pop.top(2, exclude=np.array([0])).tolist() == [2, 1]
    assert pop.top(0).tolist() == []


def test_popularity_record_matches_fit_and_grow():
    items, ts = _pop_log()
    full = Popularity(trend_window_days=10).fit(items, ts, n_items=4)
    inc = Popularity(trend_window_days=10).fit(items[:4], ts[:4], n_items=4)
    np.testing.assert_array_equal(inc.recent_, [0, 1, 0, 0])   # now_ = day 50: ts >= day 40
    inc.record(items[4:], ts[4:])
    for attr in ("count_", "recent_", "first_ts_"):
        np.testing.assert_array_equal(getattr(inc, attr), getattr(full, attr))
    np.testing.assert_array_equal(inc.trend(), full.trend())
    inc.grow(6)
    assert inc.count_.shape == (6,) and inc.first_ts_[4:].tolist() == [-1, -1]
    np.testing.assert_array_equal(inc.scores()[:4], full.scores())
    inc.record(np.array([5]), np.array([99 * DAY]))
    assert inc.recent_[5] == 1 and inc.age_days(100 * DAY)[5] == 1.0


def test_popularity_state_round_trip():
    items, ts = _pop_log()
    pop = Popularity(trend_window_days=10).fit(items, ts, n_items=4)
    loaded = _roundtrip(pop)
    assert loaded.trend_window_days == 10.0 and loaded.now_ == pop.now_
    np.testing.assert_array_equal(loaded.trend(), pop.trend())
    np.testing.assert_array_equal(loaded.top(3), pop.top(3))
    loaded.record(np.array([0]), np.array([120 * DAY]))       # window slides exactly as before
    pop.record(np.array([0]), np.array([120 * DAY]))
    np.testing.assert_array_equal(loaded.recent_, pop.recent_)
    assert loaded.recent_.tolist() == [1, 0, 0, 0]
    with pytest.raises(NotFittedError, match="Popularity is not fitted yet"):
        Popularity().scores()

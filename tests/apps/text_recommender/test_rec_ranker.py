"""The LightGBM lambdarank wrapper (text_recommender.ranker)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from domaintune.errors import DataError, ModelLoadError, NotFittedError
from text_recommender.ranker import MODEL_FILE, RECORD_FILE, LearnedRanker

NAMES = ["signal", "noise_a", "noise_b"]
SMALL = {"n_estimators": 40, "learning_rate": 0.2, "num_leaves": 7, "min_child_samples": 5,
         "early_stopping_rounds": 5, "eval_at": 5, "n_jobs": 2}


def _queries(n_queries: int, size: int, seed: int):
    """Queries where only feature 0 decides: the row with the largest 'signal' is relevant."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_queries * size, 3))
    y = np.zeros(n_queries * size, dtype=np.int64)
    for q in range(n_queries):
        rows = slice(q * size, (q + 1) * size)
        y[q * size + int(np.argmax(X[rows, 0]))] = 1
    return X, y, np.full(n_queries, size)


def _ndcg(scores, y, groups, k=5):
    out, start = [], 0
    for size in groups:
        s, r = scores[start:start + size], y[start:start + size]
        start += size
        rank = int(np.sum(s > s[np.argmax(r)]))  # one relevant row per query
        out.append(1.0 / np.log2(rank + 2) if rank < k else 0.0)
    return float(np.mean(out))


@pytest.fixture(scope="module")
def data():
    return _queries(40, 10, seed=0), _queries(15, 10, seed=1), _queries(20, 10, seed=2)


@pytest.fixture(scope="module")
def ranker(data):
    (X, y, g), (Xv, yv, gv), _ = data
    return LearnedRanker(**SMALL).fit(X, y, g, NAMES, X_val=Xv, y_val=yv, groups_val=gv)


def test_learns_the_deciding_feature(ranker, data):
    _, _, (Xt, yt, gt) = data
    scores = ranker.predict(Xt)
    assert scores.dtype == np.float32 and scores.shape == (Xt.shape[0],)
    random = _ndcg(np.random.default_rng(3).random(len(yt)), yt, gt)
    assert _ndcg(scores, yt, gt) > max(0.9, random + 0.3)
    assert 1 <= ranker.best_iteration_ <= SMALL["n_estimators"]
    assert ranker.best_score_ is not None


def test_importance_sums_to_one_sorted_with_the_signal_first(ranker):
    importance = ranker.feature_importance()
    assert list(importance)[0] == "signal"
    assert sum(importance.values()) == pytest.approx(1.0)
    values = list(importance.values())
    assert values == sorted(values, reverse=True)


def test_contributions_drop_the_bias_and_explain_the_score(ranker, data):
    _, _, (Xt, _, _) = data
    contrib = ranker.contributions(Xt[:8])
    assert contrib.shape == (8, 3)
    # the row sum differs from the score by one constant (the bias)
    diff = ranker.predict(Xt[:8]) - contrib.sum(axis=1)
    np.testing.assert_allclose(diff, diff[0], atol=1e-4)
    assert np.abs(contrib[:, 0]).mean() > np.abs(contrib[:, 1:]).mean()


def test_save_load_round_trip_gives_identical_predictions(ranker, data, tmp_path):
    _, _, (Xt, _, _) = data
    (tmp_path / "other.npz").write_bytes(b"kept")
    ranker.save(tmp_path)
    assert (tmp_path / "other.npz").read_bytes() == b"kept"
    record = json.loads((tmp_path / RECORD_FILE).read_text())
    assert record["feature_names"] == NAMES and record["params"]["num_leaves"] == 7
    assert record["best_iteration"] == ranker.best_iteration_
    loaded = LearnedRanker.load(tmp_path, feature_names=NAMES)
    np.testing.assert_array_equal(loaded.predict(Xt), ranker.predict(Xt))
    np.testing.assert_array_equal(loaded.contributions(Xt[:4]), ranker.contributions(Xt[:4]))
    assert loaded.feature_importance() == pytest.approx(ranker.feature_importance())
    assert loaded.get_params() == ranker.get_params()


def test_load_refuses_other_features_and_broken_files(ranker, tmp_path):
    ranker.save(tmp_path)
    with pytest.raises(ModelLoadError, match=r"trained on \['signal', 'noise_a', 'noise_b'\]"):
        LearnedRanker.load(tmp_path, feature_names=["signal", "noise_a", "pop"])
    with pytest.raises(ModelLoadError, match="another order"):
        LearnedRanker.load(tmp_path, feature_names=["noise_a", "signal", "noise_b"])
    (tmp_path / MODEL_FILE).write_text("not a model")
    with pytest.raises(ModelLoadError, match="LightGBM text model"):
        LearnedRanker.load(tmp_path)
    with pytest.raises(ModelLoadError, match=r"expected ranker.txt and ranker.json"):
        LearnedRanker.load(tmp_path / "nowhere")


def test_training_is_deterministic_and_works_without_validation(data):
    (X, y, g), _, (Xt, _, _) = data
    params = {**SMALL, "n_estimators": 10}
    a = LearnedRanker(**params).fit(X, y, g, NAMES)
    b = LearnedRanker(**params).fit(X, y, g, NAMES)
    assert a.best_iteration_ == 10 and a.best_score_ is None
    np.testing.assert_array_equal(a.predict(Xt), b.predict(Xt))


def test_errors_before_fit_and_on_bad_input(data):
    (X, y, g), _, _ = data
    with pytest.raises(NotFittedError, match="never fitted"):
        LearnedRanker().predict(X)
    with pytest.raises(DataError, match=r"groups as positive integer query sizes summing to 400"):
        LearnedRanker(**SMALL).fit(X, y, g[:-1], NAMES)
    with pytest.raises(DataError, match=r"shape \(n, 2\)"):
        LearnedRanker(**SMALL).fit(X, y, g, NAMES[:2])
    with pytest.raises(DataError, match="integer grades"):
        LearnedRanker(**SMALL).fit(X, y + 0.5, g, NAMES)
    with pytest.raises(DataError, match="together"):
        LearnedRanker(**SMALL).fit(X, y, g, NAMES, X_val=X)

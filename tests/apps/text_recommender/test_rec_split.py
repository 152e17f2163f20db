"""Evaluation splits (text_recommender.split) on small hand-made interaction logs."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from domaintune.errors import DataError
from text_recommender.split import SplitReport, cold_item_split, leave_last_out


def log(rows: list[tuple[str, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "rating", "ts"]).astype({"ts": "int64"})


# u1: the last like (>= 4) is "c" at ts 30; "d" (ts 40, rating 2) comes after it
# u2: "x" and "y" tie at ts 10 and both are likes: the later row in the file ("y") is the test;
#     "x" is not strictly before it, so it leaves training
# u3: no rating >= 4: everything trains, no test row
LOG = log([
    ("u1", "a", 5.0, 10), ("u2", "x", 5.0, 10), ("u2", "y", 4.0, 10), ("u1", "b", 3.0, 20),
    ("u3", "p", 3.0, 20), ("u1", "c", 4.0, 30), ("u3", "q", 2.0, 35), ("u1", "d", 2.0, 40),
    ("u2", "z", 1.0, 5),
])


def rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["user"], frame["item"], strict=True))


def test_leave_last_out_holds_out_the_last_like_and_trains_strictly_before_it():
    train, test, report = leave_last_out(LOG)
    assert rows(test) == [("u2", "y"), ("u1", "c")]  # time order
    # time-ordered (stable: ties keep the file order)
    assert rows(train) == [("u2", "z"), ("u1", "a"), ("u1", "b"), ("u3", "p"), ("u3", "q")]
    assert list(train.columns) == list(LOG.columns) and list(train.index) == list(range(5))
    assert report == SplitReport(users=3, users_with_test=2, users_without_test=1, train_rows=5,
                                 test_rows=2, dropped_same_or_later=2, implicit=False,
                                 min_rating=4.0)
    assert report.to_dict()["dropped_same_or_later"] == 2  # u1's "d" and u2's tied "x"


def test_min_rating_none_holds_out_the_last_interaction():
    train, test, report = leave_last_out(LOG, min_rating=None)
    assert rows(test) == [("u2", "y"), ("u3", "q"), ("u1", "d")]
    assert sorted(rows(train)) == [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u2", "z"),
                                   ("u3", "p")]
    assert report.users_without_test == 0 and report.min_rating is None


def test_implicit_uses_each_users_median():
    # v: weights 1, 3, 2 (median 2): the last >= 2 is "m" (weight 2, ts 3)
    # w: weights 5, 1 (median 3): only "s" qualifies
    frame = log([("v", "k", 1.0, 1), ("v", "l", 3.0, 2), ("v", "m", 2.0, 3),
                 ("w", "s", 5.0, 1), ("w", "t", 1.0, 2)])
    train, test, report = leave_last_out(frame, implicit=True, min_rating=4.5)
    assert sorted(rows(test)) == [("v", "m"), ("w", "s")]
    assert sorted(rows(train)) == [("v", "k"), ("v", "l")]
    assert report.implicit and report.min_rating is None and report.dropped_same_or_later == 1


def test_ties_are_broken_by_file_order():
    # LOG is not time-ordered ("z" at ts 5 comes last); swapping the tied "x"/"y" rows in the
    # file makes "x" the later one, so it becomes the test row
    swapped = LOG.iloc[[0, 2, 1, 3, 4, 5, 6, 7, 8]]
    train, test, _ = leave_last_out(swapped)
    assert rows(test) == [("u2", "x"), ("u1", "c")]
    assert ("u2", "y") not in rows(train)  # same second as the test row: not strictly before


def test_missing_columns_are_named():
    with pytest.raises(DataError, match=r"expected columns \['user', 'item', 'rating', 'ts'\].*"
                                        r"found \['userId'"):
        leave_last_out(pd.DataFrame({"userId": ["1"], "movieId": ["2"]}))


def test_leave_last_out_of_100k_rows_is_fast():
    rng = np.random.default_rng(0)
    n = 100_000
    frame = pd.DataFrame({"user": rng.integers(0, 600, n).astype(str),
                          "item": rng.integers(0, 9000, n).astype(str),
                          "rating": rng.integers(1, 11, n) / 2.0,
                          "ts": np.sort(rng.integers(0, 10**9, n)).astype(np.int64)})
    start = time.perf_counter()
    train, test, report = leave_last_out(frame)
    elapsed = time.perf_counter() - start
    assert report.train_rows + report.test_rows + report.dropped_same_or_later == n
    assert elapsed < 2.0, f"leave_last_out took {elapsed:.2f}s on 100k rows (expected ~0.1 s)"


def test_cold_item_split_is_seeded_and_disjoint():
    train = log([(f"u{i % 7}", f"i{i % 20}", 4.0, i) for i in range(60)])
    test = log([("u0", "i3", 5.0, 100), ("u1", "i25", 5.0, 101)])  # i25 only in test
    new_train, new_test, cold = cold_item_split(train, test, fraction=0.25, seed=1)
    assert len(cold) == round(0.25 * 21) == 5 and cold == sorted(cold)
    assert set(cold) <= {f"i{i}" for i in range(20)} | {"i25"}
    assert not set(new_train["item"]) & set(cold)  # cold items have no training rows
    assert set(new_train["item"]) | set(cold) >= set(train["item"])
    assert len(new_train) == (~train["item"].isin(cold)).sum()
    assert new_test is test  # test rows unchanged
    assert cold_item_split(train, test, fraction=0.25, seed=1)[2] == cold
    assert cold_item_split(train, test, fraction=0.25, seed=2)[2] != cold
    # the draw does not depend on row order
    assert cold_item_split(train.iloc[::-1], test, fraction=0.25, seed=1)[2] == cold


def test_cold_item_split_edges():
    train = log([("u", "a", 4.0, 1), ("u", "b", 4.0, 2), ("v", "c", 4.0, 3)])
    assert cold_item_split(train, train.iloc[:0], fraction=0.0)[2] == []
    assert len(cold_item_split(train, train.iloc[:0], fraction=0.01)[2]) == 1  # at least one
    assert len(cold_item_split(train, train.iloc[:0], fraction=1.0)[0]) == 0
    with pytest.raises(DataError, match=r"fraction in \[0, 1\], found 1.5"):
        cold_item_split(train, train, fraction=1.5)

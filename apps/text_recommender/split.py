"""Evaluation splits of an interaction log: per-user leave-last-out and a cold-item split.

Both work on the app's interactions frame: columns ``user`` (str), ``item`` (str), ``rating``
(float; 1.0 for implicit data) and ``ts`` (int64 epoch seconds), time-ordered. Everything is
vectorised pandas (100k interactions split in a few tens of milliseconds).

Leave-last-out (the default protocol): for each user the *last* interaction that counts as a
like is held out as the test row; the user's training rows are those strictly before it in
time, so nothing the user did at or after the test moment leaks into training (rows at the
same second as the test row are dropped too: their order inside a second is not known).
Users without a qualifying interaction keep all their rows in training and get no test row.

Example:
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user": ["u", "u", "u"], "item": ["a", "b", "c"],
    ...                     "rating": [5.0, 4.0, 2.0], "ts": [1, 2, 3]})
    >>> train, test, report = leave_last_out(log)
    >>> list(train["item"]), list(test["item"]), report.dropped_same_or_later
    (['a'], ['b'], 1)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from domaintune.errors import DataError

__all__ = ["SplitReport", "cold_item_split", "leave_last_out"]

COLUMNS = ("user", "item", "rating", "ts")


@dataclass
class SplitReport:
    """Counts of a :func:`leave_last_out` split.

    Attributes:
        users: distinct users in the log.
        users_with_test: users that got a test row.
        users_without_test: users with no qualifying interaction (all their rows train).
        train_rows: rows of the training frame.
        test_rows: rows of the test frame (one per user with a test).
        dropped_same_or_later: interactions at or after the test row's time (other than the
            test row itself) excluded from training.
        implicit: whether the threshold was each user's median rating/weight.
        min_rating: the fixed threshold used (``None`` when implicit or when every
            interaction qualifies).
    """

    users: int
    users_with_test: int
    users_without_test: int
    train_rows: int
    test_rows: int
    dropped_same_or_later: int
    implicit: bool
    min_rating: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def _check_frame(df: pd.DataFrame, name: str = "interactions") -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected the {name} as a pandas DataFrame, found {type(df).__name__}")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"expected columns {list(COLUMNS)} in the {name} frame, found "
                        f"{list(df.columns)}; rename the columns (e.g. userId -> user, "
                        f"movieId -> item, timestamp -> ts)")


def leave_last_out(df: pd.DataFrame, *, min_rating: float | None = 4.0,
                   implicit: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, SplitReport]:
    """Hold out each user's last liked interaction; train on what came strictly before it.

    Args:
        df: the interactions frame (``user``, ``item``, ``rating``, ``ts``; extra columns are
            kept). Rows are ordered by ``ts`` here with a stable sort, so ties keep the frame's
            (file) order and the later row of a tie is the "last".
        min_rating: an interaction qualifies as a test row when ``rating >= min_rating``;
            ``None`` makes every interaction qualify. Ignored when ``implicit``.
        implicit: qualify rows with ``rating >= that user's median rating`` (the weights of
            implicit data) instead of a fixed threshold.

    Returns:
        ``(train, test, report)``: two frames with ``df``'s columns, time-ordered, fresh
        0-based index, and a :class:`SplitReport`.

    Raises:
        DataError: a required column is missing.
    """
    _check_frame(df)
    log = df.sort_values("ts", kind="stable").reset_index(drop=True)
    ts = log["ts"].to_numpy(dtype=np.int64)
    rating = log["rating"].to_numpy(dtype=np.float64)
    if implicit:
        threshold = log.groupby("user", sort=False)["rating"].transform("median").to_numpy()
        qualifies = rating >= threshold
        min_rating = None
    elif min_rating is None:
        qualifies = np.ones(len(log), dtype=bool)
    else:
        min_rating = float(min_rating)
        qualifies = rating >= min_rating
    # the last qualifying row per user (position in the time-ordered log)
    last = log.loc[qualifies, ["user"]].drop_duplicates("user", keep="last")
    test_pos = last.index.to_numpy()
    test_ts = pd.Series(ts[test_pos], index=last["user"].to_numpy())
    user_test_ts = log["user"].map(test_ts)  # NaN for users without a test row
    has_test = user_test_ts.notna().to_numpy()
    before = np.zeros(len(log), dtype=bool)
    before[has_test] = ts[has_test] < user_test_ts.to_numpy()[has_test]
    train_mask = ~has_test | before
    test_mask = np.zeros(len(log), dtype=bool)
    test_mask[test_pos] = True
    train = log[train_mask].reset_index(drop=True)
    test = log[test_mask].reset_index(drop=True)
    users = int(log["user"].nunique())
    report = SplitReport(
        users=users, users_with_test=len(test), users_without_test=users - len(test),
        train_rows=len(train), test_rows=len(test),
        dropped_same_or_later=int(len(log) - len(train) - len(test)),
        implicit=bool(implicit), min_rating=min_rating)
    return train, test, report


def cold_item_split(train_df: pd.DataFrame, test_df: pd.DataFrame, *, fraction: float = 0.1,
                    seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Make a share of the items cold: they lose all their training interactions.

    The items are drawn (seeded, without replacement) among the distinct items of
    ``train_df`` and ``test_df`` together, in sorted id order before drawing so the draw does
    not depend on row order; ``round(fraction * n_items)`` of them, at least one when
    ``fraction > 0``. The test rows are unchanged, so the test rows of cold items measure
    cold-start recommendation (text only).

    Args:
        train_df: training interactions (the app's frame; needs an ``item`` column).
        test_df: test interactions (same columns).
        fraction: share of the items to make cold, in ``[0, 1]``.
        seed: seed of the draw.

    Returns:
        ``(train_without_cold_items, test_df, cold_items)`` with ``cold_items`` sorted.

    Raises:
        DataError: ``fraction`` outside ``[0, 1]`` or a frame without an ``item`` column.

    Example:
        >>> import pandas as pd
        >>> train = pd.DataFrame({"user": ["u", "v"], "item": ["a", "b"], "rating": [5.0, 4.0],
        ...                       "ts": [1, 2]})
        >>> new_train, test, cold = cold_item_split(train, train.iloc[:0], fraction=0.5)
        >>> len(new_train), len(cold)
        (1, 1)
    """
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise DataError(f"expected a cold-item fraction in [0, 1], found {fraction}; e.g. 0.1")
    for name, frame in (("train", train_df), ("test", test_df)):
        if "item" not in frame.columns:
            raise DataError(f"expected an 'item' column in the {name} frame, found "
                            f"{list(frame.columns)}")
    items = np.unique(np.concatenate([train_df["item"].astype(str).to_numpy(),
                                      test_df["item"].astype(str).to_numpy()]))
    n_cold = round(fraction * len(items))
    if fraction > 0 and len(items):
        n_cold = max(1, n_cold)
    rng = np.random.default_rng(seed)
    cold = sorted(str(i) for i in rng.choice(items, size=n_cold, replace=False)) if n_cold else []
    keep = ~train_df["item"].astype(str).isin(cold).to_numpy()
    return train_df[keep].reset_index(drop=True), test_df, cold

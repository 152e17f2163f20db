"""Window flooring and the mergeable per-window aggregate (finance_monitor.windows)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from finance_monitor.config import WindowSize
from finance_monitor.windows import WindowStats, window_end, window_start

UTC = timezone.utc


@pytest.mark.parametrize(("size", "expected"), [
    (WindowSize.MIN15, datetime(2026, 1, 5, 10, 45, tzinfo=UTC)),
    (WindowSize.HOUR, datetime(2026, 1, 5, 10, 0, tzinfo=UTC)),
    (WindowSize.DAY, datetime(2026, 1, 5, 0, 0, tzinfo=UTC)),
])
def test_window_start_floors_to_the_size(size, expected):
    ts = datetime(2026, 1, 5, 10, 47, 31, 123456, tzinfo=UTC)
    assert window_start(ts, size) == expected
    assert window_start(ts, size.value) == expected  # the string value works too
    assert window_start(expected, size) == expected  # a start is its own window


def test_window_start_boundaries_are_half_open():
    assert window_start(datetime(2026, 1, 5, 10, 59, 59, 999999, tzinfo=UTC), "hour") == \
        datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert window_start(datetime(2026, 1, 5, 11, 0, tzinfo=UTC), "hour") == \
        datetime(2026, 1, 5, 11, tzinfo=UTC)
    assert window_start(datetime(2026, 1, 5, 10, 14, 59, tzinfo=UTC), "15min") == \
        datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert window_start(datetime(2026, 1, 5, 10, 15, tzinfo=UTC), "15min") == \
        datetime(2026, 1, 5, 10, 15, tzinfo=UTC)


def test_other_time_zones_are_converted_to_utc():
    new_york = timezone(timedelta(hours=-5))
    # 21:30 in UTC-5 is 02:30 UTC the next day: the day window is the next UTC day
    ts = datetime(2026, 1, 5, 21, 30, tzinfo=new_york)
    assert window_start(ts, "day") == datetime(2026, 1, 6, tzinfo=UTC)
    assert window_start(ts, "hour") == datetime(2026, 1, 6, 2, tzinfo=UTC)
    assert window_start(ts, "hour").utcoffset() == timedelta(0)
    # a half-hour zone: 10:10 in UTC+5:30 is 04:40 UTC
    india = timezone(timedelta(hours=5, minutes=30))
    assert window_start(datetime(2026, 1, 5, 10, 10, tzinfo=india), "15min") == \
        datetime(2026, 1, 5, 4, 30, tzinfo=UTC)


def test_naive_datetimes_are_rejected():
    with pytest.raises(TypeError, match="naive datetime 2026-01-05T10:47:00.*assume_tz"):
        window_start(datetime(2026, 1, 5, 10, 47), WindowSize.HOUR)
    with pytest.raises(TypeError, match="naive"):
        window_end(datetime(2026, 1, 5, 10), WindowSize.HOUR)
    with pytest.raises(TypeError, match="datetime"):
        window_start("2026-01-05T10:47:00Z", WindowSize.HOUR)  # type: ignore[arg-type]


def test_unknown_size_is_a_clear_error():
    with pytest.raises(ValueError, match=r"window size in \['15min', 'hour', 'day'\], found 'week'"):
        window_start(datetime(2026, 1, 5, tzinfo=UTC), "week")


@pytest.mark.parametrize(("size", "seconds"), [("15min", 900), ("hour", 3600), ("day", 86400)])
def test_window_end(size, seconds):
    start = datetime(2026, 1, 5, tzinfo=UTC)
    assert window_end(start, size) == start + timedelta(seconds=seconds)


def test_window_stats_add_and_properties():
    stats = WindowStats()
    assert (stats.mean_score, stats.negative_share) == (0.0, 0.0)  # empty window
    stats.add(-0.9, "negative")
    stats.add(0.6, "positive")
    stats.add(0.0, "neutral")
    stats.add(-0.5, "negative")
    assert (stats.count, stats.negative, stats.positive) == (4, 2, 1)
    assert stats.score_sum == pytest.approx(-0.8)
    assert stats.mean_score == pytest.approx(-0.2)
    assert stats.negative_share == 0.5
    with pytest.raises(ValueError, match=r"polarity in \['negative', 'neutral', 'positive'\], "
                                         "found 'bearish'"):
        stats.add(-0.5, "bearish")
    with pytest.raises(ValueError, match="finite score"):
        stats.add(float("nan"), "neutral")
    assert stats.count == 4  # the rejected documents were not counted


def test_window_stats_merge_equals_adding_everything_to_one():
    docs = [(-0.9, "negative"), (0.6, "positive"), (0.1, "neutral"), (-0.4, "negative"),
            (0.8, "positive")]
    whole, left, right = WindowStats(), WindowStats(), WindowStats()
    for i, (score, polarity) in enumerate(docs):
        whole.add(score, polarity)
        (left if i < 2 else right).add(score, polarity)
    left.merge(right)
    assert (left.count, left.negative, left.positive) == (5, 2, 2)
    assert left.score_sum == pytest.approx(whole.score_sum)
    assert right.count == 3  # merge leaves the other aggregate alone


def test_window_stats_dict_round_trip_and_validation():
    stats = WindowStats(count=5, negative=2, positive=1, score_sum=-0.75)
    assert WindowStats.from_dict(stats.to_dict()) == stats
    with pytest.raises(ValueError, match="unknown \\['negatives'\\]"):
        WindowStats.from_dict({"count": 1, "negatives": 1})
    with pytest.raises(ValueError, match="negative \\+ positive <= count"):
        WindowStats.from_dict({"count": 1, "negative": 2})

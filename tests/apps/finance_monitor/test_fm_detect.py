"""The surge detector on small hand-computed series (finance_monitor.detect).

Expected EW means/variances, z-scores and CUSUM values are computed by hand in each test from
the formulas of the module docstring, never by calling the code under test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from datetime import datetime, timedelta, timezone

import pytest

from finance_monitor.config import DetectionConfig, WindowSize
from finance_monitor.detect import Detector, SeriesState, Signal
from finance_monitor.windows import WindowStats

UTC = timezone.utc
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day(i: int) -> datetime:
    return DAY0 + i * DAY


def w(count: int, negative: int = 0, positive: int = 0, score: float | None = None) -> WindowStats:
    """A window aggregate; the score sum defaults to (positive - negative) * 0.8."""
    return WindowStats(count=count, negative=negative, positive=positive,
                       score_sum=(positive - negative) * 0.8 if score is None else score)


def cfg(**overrides) -> DetectionConfig:
    base = dict(method="zscore", halflife=24.0, min_history=10, min_count=5, min_negative=3,
                z_threshold=4.0, volume_z_threshold=None, cusum_k=0.5, cusum_h=5.0, cooldown=0,
                severity={"low": 0.0, "medium": 5.0, "high": 8.0})
    return DetectionConfig(**{**base, **overrides})


def flat_history(n: int = 30, count: int = 10, negative: int = 1) -> dict[datetime, WindowStats]:
    """``n`` identical windows: share baseline exactly negative/count with variance 0."""
    return {day(i): w(count, negative) for i in range(n)}


def run(config: DetectionConfig, stats, until: int, state: SeriesState | None = None):
    return Detector(config, WindowSize.DAY).advance(state or SeriesState(), stats, day(until))


# ---- baselines -------------------------------------------------------------------------------

def test_baselines_after_three_windows_halflife_one():
    # halflife 1 -> a = 1 - 2**-1 = 0.5; no alert possible (min_history 100)
    stats = {day(0): w(4, 0), day(1): w(8, 2), day(2): w(2, 1)}
    state, signals = run(cfg(halflife=1.0, min_history=100), stats, 3)
    assert signals == []
    # count: 4 -> (m=4, v=0); 8: d=4, m=6, v=.5*(0+4*2)=4; 2: d=-4, m=4, v=.5*(4+(-4)(-2))=6
    assert (state.count_mean, state.count_var) == pytest.approx((4.0, 6.0))
    # negative: 0 -> (0, 0); 2: d=2, m=1, v=.5*(2*1)=1; 1: d=0, m=1, v=.5*1=.5
    assert (state.negative_mean, state.negative_var) == pytest.approx((1.0, 0.5))
    # share: 0 -> (0, 0); .25: m=.125, v=.5*(.25*.125)=.015625;
    # .5: d=.375, m=.3125, v=.5*(.015625+.375*.1875)=.04296875
    assert (state.share_mean, state.share_var) == pytest.approx((0.3125, 0.04296875))
    # over-dispersion: window 2: z_b = (.25-0)/sqrt(.02*.98/8) = 5.0508, z^2 = 25.51 -> capped
    # at 25: phi = 1 + .5*(25-1) = 13; window 3: p0=.125, z_b = .375/sqrt(.125*.875/2) = 1.6036,
    # z^2 = 2.5714: phi = 13 + .5*(2.5714-13) = 7.7857
    zb3 = 0.375 / math.sqrt(0.125 * 0.875 / 2)
    assert state.share_phi == pytest.approx(13 + 0.5 * (zb3 ** 2 - 13))
    assert state.share_phi == pytest.approx(7.7857, abs=1e-4)
    assert (state.windows_seen, state.volume_n, state.share_n) == (3, 3, 3)
    assert state.next_window == day(3)


def test_empty_windows_decay_count_baselines_and_leave_the_share_alone():
    # 30 windows of 10 documents, then 70 empty ones; halflife 10: r = 2**-0.1
    state, signals = run(cfg(halflife=10.0), flat_history(30, 10, 1), 100)
    assert signals == []
    r = 0.5 ** 0.1
    # closed form of j updates with x = 0 from (m, v): m r^j and r^j (v + m^2 (1 - r^j))
    assert state.count_mean == pytest.approx(10 * r ** 70, rel=1e-9)
    assert state.count_var == pytest.approx(r ** 70 * (0 + 100 * (1 - r ** 70)), rel=1e-9)
    assert state.negative_mean == pytest.approx(r ** 70, rel=1e-9)
    assert (state.share_mean, state.share_var, state.share_n) == (0.1, 0.0, 30)
    assert (state.windows_seen, state.volume_n) == (100, 100)


def test_long_runs_of_empty_windows_are_linear_not_quadratic():
    # two years of hourly windows, a few documents a day (every 8th hour)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    hours = 2 * 365 * 24
    stats = {start + timedelta(hours=h): w(1, 0) for h in range(0, hours, 8)}
    detector = Detector(cfg(), WindowSize.HOUR)
    t0 = time.perf_counter()
    state, _ = detector.advance(SeriesState(), stats, start + timedelta(hours=hours))
    elapsed = time.perf_counter() - t0
    assert state.windows_seen == hours
    assert elapsed < 5.0  # ~0.05 s in practice; quadratic would be minutes


# ---- z-scores, guards, history ---------------------------------------------------------------

def test_share_zscore_fires_with_hand_computed_value():
    stats = flat_history()  # share .1, variance 0, phi decays below 1 -> the binomial floor
    stats[day(30)] = w(20, 8, score=-4.0)
    state, signals = run(cfg(z_threshold=4.0), stats, 31)
    assert len(signals) == 1
    s = signals[0]
    # z_share = (.4 - .1) / sqrt(.1*.9/20) = .3 / .067082 = 4.4721
    assert s.metrics["z_share"] == pytest.approx(0.3 / math.sqrt(0.09 / 20))
    # z_volume = (8 - 1) / sqrt(max(0, 1, .25)) = 7
    assert s.metrics["z_volume"] == pytest.approx(7.0)
    assert s.triggered_by == ("zscore",)
    assert (s.window_start, s.window_end) == (day(30), day(31))
    assert s.metrics["count"] == 20 and s.metrics["negative"] == 8
    assert s.metrics["negative_share"] == pytest.approx(0.4)
    assert s.metrics["mean_score"] == pytest.approx(-0.2)
    assert s.baseline["count_mean"] == pytest.approx(10.0)
    assert s.baseline["negative_share_mean"] == pytest.approx(0.1)
    assert s.baseline["negative_share_std"] == pytest.approx(0.0)
    # the firing window did not update the baselines
    assert state.count_mean == pytest.approx(10.0) and state.share_n == 30
    # 4.47 < 5: the share alone does not fire at 5, the negative count (z 7) does at 6
    assert run(cfg(z_threshold=5.0), stats, 31)[1] == []
    assert len(run(cfg(z_threshold=5.0, volume_z_threshold=6.0), stats, 31)[1]) == 1
    assert run(cfg(z_threshold=5.0, volume_z_threshold=7.5), stats, 31)[1] == []


def test_one_negative_post_on_a_quiet_ticker_never_alerts():
    stats = {day(i): w(1, 0) for i in range(40)}  # one neutral post a day
    stats[day(40)] = w(1, 1)
    # z_share = (1 - 0) / sqrt(.02*.98/1) = 7.14, z_volume = 1/.5 = 2: only the guards stop it
    for config in (cfg(), cfg(min_count=1), cfg(min_negative=1)):
        assert run(config, stats, 41)[1] == []
    signals = run(cfg(min_count=1, min_negative=1), stats, 41)[1]
    assert [s.window_start for s in signals] == [day(40)]
    assert signals[0].metrics["z_share"] == pytest.approx(1 / math.sqrt(0.02 * 0.98))
    # the shipped defaults keep the guard
    defaults = DetectionConfig()
    assert defaults.min_negative >= 2
    assert Detector(defaults, "day").advance(SeriesState(), stats, day(41))[1] == []


def test_min_history():
    stats = {day(i): w(10, 1) for i in range(5)}
    stats[day(5)] = w(20, 12)  # the 6th window: 5 windows were evaluated before it
    assert len(run(cfg(min_history=5), stats, 6)[1]) == 1
    state, signals = run(cfg(min_history=6), stats, 6)
    assert signals == []
    # during the warm-up the window updated the baselines: count 10 x5 then 20, a = 1-2**(-1/24)
    a = 1 - 0.5 ** (1 / 24)
    assert state.count_mean == pytest.approx(10 + a * 10)


def test_one_alert_per_episode_and_cooldown():
    stats = flat_history()
    spike = w(20, 12)
    for i in (30, 31, 32, 34, 36):  # episode 30-32, a normal window 33, spikes at 34 and 36
        stats[day(i)] = spike
    stats[day(33)] = w(10, 1)
    stats[day(35)] = w(10, 1)
    starts = [s.window_start for s in run(cfg(cooldown=0), stats, 37)[1]]
    assert starts == [day(30), day(34), day(36)]
    # cooldown 4: windows 31..34 are blocked (34 fires silently), 35 is normal, 36 alerts
    state, signals = run(cfg(cooldown=4), stats, 37)
    assert [s.window_start for s in signals] == [day(30), day(36)]
    assert state.alerts == 2 and state.last_alert == day(36)
    assert state.cooldown_left == 4 and state.in_episode
    # cooldown 6: 36 is still blocked (31..36)
    assert [s.window_start for s in run(cfg(cooldown=6), stats, 37)[1]] == [day(30)]
    # firing windows never entered the baselines: 33 and 35 are the only new values (equal to
    # the flat history), so the count baseline is still exactly 10
    assert state.count_mean == pytest.approx(10.0) and state.volume_n == 32


def test_an_episode_ends_on_an_empty_window():
    stats = flat_history()
    stats[day(30)] = w(20, 12)
    stats[day(32)] = w(20, 12)  # day 31 is empty
    assert [s.window_start for s in run(cfg(), stats, 33)[1]] == [day(30), day(32)]


def test_severity_levels_from_the_strongest_z():
    stats = flat_history()
    # volume z = (k - 1)/1, share z = (k/20 - .1)/.067082
    cases = {4: "low", 6: "medium", 10: "high"}  # z_volume 3 / 5 / 9 ; z_share 1.49 / 2.98 / 5.96
    for k, expected in cases.items():
        stats[day(30)] = w(20, k)
        signals = run(cfg(z_threshold=1.0), stats, 31)[1]
        assert [s.severity for s in signals] == [expected], k
    # custom level names and order-independent config
    stats[day(30)] = w(20, 6)
    config = cfg(z_threshold=1.0, severity={"page": 4.5, "info": 0.0})
    assert run(config, stats, 31)[1][0].severity == "page"


# ---- CUSUM -----------------------------------------------------------------------------------

def test_cusum_accumulates_a_slow_drift_the_zscore_misses():
    # a (near) frozen baseline: halflife 1e9 -> a ~ 7e-10
    stats = {day(i): w(100, 10) for i in range(30)}  # share .1, binomial sd .03
    for i in range(30, 36):
        stats[day(i)] = w(100, 16)  # share .16: z = .06/.03 = 2 every window
    zscore_only = cfg(method="zscore", halflife=1e9, z_threshold=4.0)
    assert run(zscore_only, stats, 36)[1] == []
    cusum = cfg(method="cusum", halflife=1e9, cusum_k=0.5, cusum_h=5.0)
    state, signals = run(cusum, stats, 36)
    # S: 1.5, 3.0, 4.5, 6.0 >= 5 -> fires at the 4th drift window (day 33), then resets to 0;
    # day 34: S = 1.5 (no fire, the episode ends), day 35: S = 3.0
    assert [s.window_start for s in signals] == [day(33)]
    assert signals[0].triggered_by == ("cusum",)
    assert signals[0].metrics["cusum"] == pytest.approx(6.0, rel=1e-6)
    assert signals[0].metrics["z_share"] == pytest.approx(2.0, rel=1e-6)
    assert state.cusum == pytest.approx(3.0, rel=1e-6)
    # combined: the same alert, named by the test that fired
    combined = cfg(method="combined", halflife=1e9, z_threshold=4.0)
    assert [s.triggered_by for s in run(combined, stats, 36)[1]] == [("cusum",)]


def test_cusum_stays_zero_in_warmup_and_on_empty_windows():
    stats = {day(i): w(100, 10 + (i % 2) * 10) for i in range(8)}  # noisy warm-up
    state, _ = run(cfg(method="cusum", min_history=8), stats, 8)
    assert state.cusum == 0.0
    stats = {day(i): w(100, 10) for i in range(30)}
    stats[day(30)] = w(100, 16)
    state, _ = run(cfg(method="cusum", halflife=1e9), stats, 31)
    s31 = state.cusum
    assert s31 == pytest.approx(1.5, rel=1e-6)
    state, _ = run(cfg(method="cusum", halflife=1e9), stats, 40, state)  # 9 empty windows
    assert state.cusum == s31


def test_both_tests_fire_together():
    stats = flat_history(30, 100, 10)
    stats[day(30)] = w(100, 40)  # z_share = .3/.03 = 10 -> S = 9.5 >= 5
    signals = run(cfg(method="combined"), stats, 31)[1]
    assert signals[0].triggered_by == ("zscore", "cusum")
    assert signals[0].metrics["cusum"] == pytest.approx(9.5)


# ---- state, purity, resumption ---------------------------------------------------------------

def _random_stats(seed: int, n: int = 200) -> dict[datetime, WindowStats]:
    rng = random.Random(seed)
    stats = {}
    for i in range(n):
        if rng.random() < 0.25:
            continue  # an empty window
        count = rng.randint(1, 12)
        negative = rng.randint(0, count) if rng.random() < 0.1 else rng.randint(0, count // 5)
        stats[day(i)] = w(count, negative, positive=(count - negative) // 2,
                          score=rng.uniform(-1, 1) * count)
    return stats


def test_state_round_trips_through_json():
    stats = _random_stats(1)
    state, signals = run(cfg(min_history=5, cooldown=3, volume_z_threshold=3.0), stats, 150)
    assert signals and state.last_alert is not None
    data = json.loads(json.dumps(state.to_dict()))
    assert isinstance(data["next_window"], str) and data["next_window"].startswith("2026-05-31")
    assert SeriesState.from_dict(data) == state
    assert SeriesState.from_dict(SeriesState().to_dict()) == SeriesState()
    data["next_window"] = data["next_window"].replace("+00:00", "Z")
    assert SeriesState.from_dict(data) == state
    with pytest.raises(ValueError, match="unknown \\['cusm'\\]"):
        SeriesState.from_dict({"cusm": 1.0})
    with pytest.raises(ValueError, match="time zone"):
        SeriesState.from_dict({"next_window": "2026-01-01T00:00:00"})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_advance_split_anywhere_equals_one_call(seed):
    stats = _random_stats(seed)
    config = cfg(min_history=5, cooldown=2, volume_z_threshold=3.0, method="combined",
                 halflife=8.0)
    whole_state, whole = run(config, stats, 200)
    assert whole  # the series raises alerts, so the comparison means something
    for split in range(0, 201, 7):
        first_state, first = run(config, stats, split)
        resumed = SeriesState.from_dict(json.loads(json.dumps(first_state.to_dict())))
        second_state, second = run(config, stats, 200, resumed)
        if day(split - 1) in stats:  # split right after a window with documents: bit for bit
            assert first + second == whole, split
            assert second_state == whole_state, split
        else:  # inside a run of empty windows (taken in closed form): equal up to rounding
            assert [(x.window_start, x.severity, x.triggered_by) for x in first + second] == [
                (x.window_start, x.severity, x.triggered_by) for x in whole], split
            for x, y in zip(first + second, whole, strict=True):
                assert x.metrics == pytest.approx(y.metrics, rel=1e-9), split
            a, b = second_state.to_dict(), whole_state.to_dict()
            assert {k: v for k, v in a.items() if not isinstance(v, float)} == {
                k: v for k, v in b.items() if not isinstance(v, float)}, split
            assert {k: v for k, v in a.items() if isinstance(v, float)} == pytest.approx(
                {k: v for k, v in b.items() if isinstance(v, float)}, rel=1e-12), split


def test_empty_windows_in_closed_form_equal_the_step_by_step_update():
    from finance_monitor.detect import _ew, ew_alpha

    detector = Detector(cfg(halflife=24.0), WindowSize.DAY)
    state = SeriesState(volume_n=5, count_mean=3.2, count_var=1.7, negative_mean=0.9,
                        negative_var=0.4)
    for k in (1, 2, 17, 500, 40000):
        fast = dataclasses.replace(state)
        detector._skip_empty(fast, k)
        n, cm, cv, nm, nv = 5, 3.2, 1.7, 0.9, 0.4
        for _ in range(k):
            cm, cv = _ew(n, cm, cv, 0.0, ew_alpha(24.0))
            nm, nv = _ew(n, nm, nv, 0.0, ew_alpha(24.0))
            n += 1
        assert (fast.volume_n, fast.count_mean, fast.count_var, fast.negative_mean,
                fast.negative_var) == pytest.approx((n, cm, cv, nm, nv), rel=1e-9, abs=1e-300), k


def test_advance_is_pure_and_skips_evaluated_windows():
    stats = flat_history()
    stats[day(30)] = w(20, 12)
    before = SeriesState()
    snapshot = dataclasses.replace(before)
    state, signals = run(cfg(), stats, 31, before)
    assert before == snapshot
    # a second call over the same range evaluates nothing: keys before next_window are ignored
    again, none = run(cfg(), stats, 31, state)
    assert none == [] and again == state and again is not state
    # until not later than next_window: nothing to do
    assert run(cfg(), stats, 20, state) == (state, [])
    assert isinstance(signals[0], Signal)


def test_new_series_starts_at_its_first_key_and_empty_input_is_a_no_op():
    state, _ = run(cfg(), {day(5): w(3, 0)}, 8)
    assert state.windows_seen == 3 and state.next_window == day(8)
    state, signals = run(cfg(), {}, 8)
    assert state == SeriesState() and signals == []


def test_bad_arguments_are_clear_errors():
    detector = Detector(cfg(), WindowSize.HOUR)
    with pytest.raises(ValueError, match="start of a hour window, found 2026-01-01T00:30:00"):
        detector.advance(SeriesState(), {}, DAY0 + timedelta(minutes=30))
    with pytest.raises(ValueError, match="a window key of stats"):
        detector.advance(SeriesState(), {DAY0 + timedelta(minutes=5): w(1)}, day(1))
    with pytest.raises(TypeError, match="time-zone aware"):
        detector.advance(SeriesState(), {}, datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="expected a DetectionConfig"):
        Detector({"method": "zscore"}, "hour")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window size"):
        Detector(cfg(), "week")

"""Finance monitor surge alerts on the real StockNet stream with injected negative episodes.

Usage:
    nice -n 10 python benchmarks/bench_finance_alerts.py [--window day] [--seed 0]
        [--episodes-per-ticker 6] [--hour-tickers 5] [--write-results] [--smoke]

**Stream.** The 106,338 StockNet tweets (``data/prepare_stocknet.py``'s reader; datasets folder
from ``--datasets`` / ``DOMAINTUNE_DATASETS`` / ``../shared/datasets``), one series per StockNet
ticker tag (87), windowed by ``created_at`` in UTC (``--window``, default ``day``: 730 windows
from 2014-01-01 to 2016-01-01; a series starts at its first tweet).

**Background sentiment: a fixed lexicon polarity, not a model.** The alert benchmark measures the
detector, so each real tweet gets a cheap, deterministic stand-in polarity: the counts of its
tokens in the small finance word lists :data:`NEGATIVE_WORDS` / :data:`POSITIVE_WORDS` below;
negative when it has more negative than positive words, positive when more positive, else
neutral; score ``0.8 * (pos - neg) / (pos + neg)`` (0 without any). The measured base negative
rate is printed. Real days with many lexicon-negative tweets (earnings misses, lawsuits) stay in
the stream: an alert there counts as *false* here (it is not injected), so the false-alert rate
is an upper bound of what a person would call a false page.

**Injected episodes (the generator).** Per ticker (seeded: ``--seed`` and the ticker's CRC32),
``--episodes-per-ticker`` episodes with a start drawn uniformly among the series' windows after
its first 60 (the warm-up) such that episodes are at least 40 windows apart, and a length of 1, 2
or 3 windows (uniform). Each window of an episode gets ``extra`` additional *negative* documents
(score -0.8) on top of the real ones, where ``b`` is the ticker's base volume (its mean
documents per window over its span):

* ``mild``: ``extra = max(2, round(0.5 * b))`` — half the usual volume again, all negative;
* ``moderate``: ``extra = max(4, round(1.0 * b))`` — the volume doubles and the added half is
  all negative, at least 4 documents (a quiet ticker with 1 tweet a day gets 4 negative ones);
* ``strong``: ``extra = max(8, round(3.0 * b))``.

Each intensity is its own copy of the stream (episodes at the same places). Tickers are split by
base volume into ``low`` (< 1 document per window), ``mid`` (1-5) and ``high`` (>= 5).

**Metrics** per detector setting (the app's own ``finance_monitor.detect.Detector``):
an episode is *detected* when an alert's window falls in ``[start, start + 2)``; the *delay* is
that window minus ``start`` (median over detected episodes); *false alerts* are alerts outside
every ``[start, start + max(length, 2))``, per 1,000 series-windows (every window from each
series' first tweet to the end), on the injected moderate stream (``FA mod``) and on the
uninjected stream (``FA none``). The target: >= 90% of moderate episodes detected within 2
windows at <= 1 false alert per 1,000 series-windows (both FA columns).

With ``--hour-tickers N`` the same is repeated with hour windows on the N busiest tickers.
``--write-results`` appends the section to ``benchmarks/RESULTS.md``; every run appends one JSON
line to ``benchmarks/out/finance_alerts.jsonl``. ``--smoke`` runs a few tickers and settings.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import time
import zlib
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "apps"), str(ROOT / "shared")]

from finance_monitor.config import DetectionConfig, WindowSize  # noqa: E402
from finance_monitor.detect import Detector, SeriesState  # noqa: E402
from finance_monitor.windows import WindowStats, window_start  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
END = datetime(2016, 1, 1, tzinfo=timezone.utc)

NEGATIVE_WORDS = frozenset("""
down drop drops dropped dropping fall falls fell falling loss losses lose losing lost miss missed
misses missing weak weaker weakness bearish bear bears short shorts shorting shorted sell sells
selling sold selloff sell-off plunge plunges plunged plunging crash crashes crashed crashing tumble
tumbles tumbled slump slumps slumped decline declines declined declining downgrade downgraded
downgrades cut cuts cutting lawsuit lawsuits sue sues sued probe fraud recall recalls warning warns
warned worst bad fail fails failed failure lower lowered low lows puts slide slides slid sink sinks
sank layoffs layoff concern concerns fear fears negative underperform disappointing disappoints
disappointed plummet plummets plummeted ugly dump dumping dumped breakdown red bankruptcy debt
investigation fine fined scandal halt halted trouble crisis selling-off tank tanks tanked
""".split())
POSITIVE_WORDS = frozenset("""
up rise rises rising rose gain gains gained gaining beat beats beating strong stronger strength
bullish bull bulls buy buys buying bought long calls rally rallies rallied rallying surge surges
surged surging soar soars soared jump jumps jumped upgrade upgraded upgrades higher high highs
record profit profits profitable growth grow grows growing positive outperform great good best win
wins winning boost boosts boosted breakout climb climbs climbed green love awesome strong-buy
upside top winner winners recover recovery rebound rebounds
""".split())

INTENSITIES = {"mild": (0.5, 2), "moderate": (1.0, 4), "strong": (3.0, 8)}
MOVE = 0.03  # a "big price move": |close-to-close return| >= 3%
WARMUP_WINDOWS = 60
SPACING = 40


def load_moves(datasets: Path | None, threshold: float = MOVE) -> dict[str, set]:
    """Per ticker, the UTC dates whose window is near a big price move: the first trading day
    on or after the date, or the trading day after it, closed ``threshold`` or more away
    (adjusted close, either direction) from the previous close."""
    import csv
    import gzip

    prepare = load_prepare()
    path = (datasets or prepare.default_datasets()) / "stocknet_tweets_prices" / "prices_raw.csv.gz"
    closes: dict[str, list[tuple[Any, float]]] = defaultdict(list)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                closes[row["ticker"].upper()].append(
                    (datetime.strptime(row["Date"], "%Y-%m-%d").date(), float(row["Adj Close"])))
            except (ValueError, KeyError):
                continue
    out: dict[str, set] = {}
    for ticker, rows in closes.items():
        rows.sort()
        days = [d for d, _ in rows]
        big = [i > 0 and abs(rows[i][1] / rows[i - 1][1] - 1) >= threshold
               for i in range(len(rows))]
        flagged = set()
        day, last = days[0], days[-1]
        i = 0
        while day <= last:
            while i < len(days) and days[i] < day:
                i += 1
            if any(big[j] for j in (i, i + 1) if j < len(days)):
                flagged.add(day)
            day += timedelta(days=1)
        out[ticker] = flagged
    return out


def lexicon_polarity(tokens: list[str]) -> tuple[str, float]:
    """The stand-in polarity and score of a tokenized tweet (see the module docstring)."""
    neg = sum(1 for t in tokens if t in NEGATIVE_WORDS)
    pos = sum(1 for t in tokens if t in POSITIVE_WORDS)
    if neg == pos:
        return "neutral", 0.0
    return ("negative" if neg > pos else "positive"), 0.8 * (pos - neg) / (pos + neg)


def load_prepare() -> Any:
    spec = importlib.util.spec_from_file_location("prepare_stocknet",
                                                  ROOT / "data" / "prepare_stocknet.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def load_stream(datasets: Path | None) -> tuple[dict[str, list[tuple[datetime, str, float]]],
                                                 Counter]:
    """Per ticker: (timestamp, polarity, score) of every tweet; plus polarity counts."""
    prepare = load_prepare()
    series: dict[str, list[tuple[datetime, str, float]]] = defaultdict(list)
    polarity_counts: Counter = Counter()
    for tweet in prepare.read_tweets(prepare.source_path(datasets)):
        polarity, score = lexicon_polarity(tweet["tokens"])
        polarity_counts[polarity] += 1
        series[tweet["ticker"]].append((tweet["timestamp"], polarity, score))
    return dict(series), polarity_counts


def aggregate(tweets: list[tuple[datetime, str, float]], size: WindowSize
              ) -> dict[datetime, WindowStats]:
    stats: dict[datetime, WindowStats] = {}
    for ts, polarity, score in tweets:
        if ts >= END:
            continue
        key = window_start(ts, size)
        window = stats.get(key)
        if window is None:
            window = stats[key] = WindowStats()
        window.add(score, polarity)
    return stats


@dataclasses.dataclass
class Series:
    ticker: str
    stats: dict[datetime, WindowStats]
    first: datetime
    windows: int
    base: float  # mean documents per window over the span

    @property
    def volume_bin(self) -> str:
        return "low" if self.base < 1 else ("mid" if self.base < 5 else "high")


@dataclasses.dataclass(frozen=True)
class Episode:
    ticker: str
    start: int  # window index from the series' first window
    length: int


def make_series(stream: dict[str, list], size: WindowSize, tickers: list[str]) -> list[Series]:
    step = timedelta(seconds=size.seconds)
    out = []
    for ticker in tickers:
        stats = aggregate(stream[ticker], size)
        if not stats:
            continue
        first = min(stats)
        windows = (END - first) // step
        if windows < WARMUP_WINDOWS + SPACING:
            continue
        out.append(Series(ticker, stats, first, windows,
                          sum(w.count for w in stats.values()) / windows))
    return out


def make_episodes(series: list[Series], per_ticker: int, seed: int) -> list[Episode]:
    episodes = []
    for s in series:
        rng = random.Random(seed * 1_000_003 + zlib.crc32(s.ticker.encode()))
        starts: list[int] = []
        for _ in range(200):
            if len(starts) == per_ticker:
                break
            start = rng.randrange(WARMUP_WINDOWS, s.windows - 3)
            if all(abs(start - other) >= SPACING for other in starts):
                starts.append(start)
        for start in sorted(starts):
            episodes.append(Episode(s.ticker, start, rng.choice((1, 2, 3))))
    return episodes


def inject(series: list[Series], episodes: list[Episode], intensity: str | None,
           size: WindowSize) -> dict[str, dict[datetime, WindowStats]]:
    """Each series' stats with the episodes of ``intensity`` added (None: a shallow copy)."""
    out = {s.ticker: dict(s.stats) for s in series}
    if intensity is None:
        return out
    mult, floor = INTENSITIES[intensity]
    by_ticker = {s.ticker: s for s in series}
    step = timedelta(seconds=size.seconds)
    for ep in episodes:
        s = by_ticker[ep.ticker]
        extra = max(floor, round(mult * s.base))
        for i in range(ep.length):
            key = s.first + (ep.start + i) * step
            window = copy.copy(out[ep.ticker].get(key) or WindowStats())
            for _ in range(extra):
                window.add(-0.8, "negative")
            out[ep.ticker][key] = window
    return out


def run_detector(config: DetectionConfig, size: WindowSize, series: list[Series],
                 stats: dict[str, dict[datetime, WindowStats]]) -> dict[str, list[int]]:
    """Alert window indices per ticker."""
    detector = Detector(config, size)
    step = size.seconds
    alerts = {}
    for s in series:
        _, signals = detector.advance(SeriesState(), stats[s.ticker], until=END)
        alerts[s.ticker] = [int((sig.window_start - s.first).total_seconds()) // step
                            for sig in signals]
    return alerts


def score(alerts: dict[str, list[int]], episodes: list[Episode], series_windows: int,
          moved: dict[str, set[int]] | None = None) -> dict[str, Any]:
    by_ticker: dict[str, list[Episode]] = defaultdict(list)
    for ep in episodes:
        by_ticker[ep.ticker].append(ep)
    detected, delays, false, false_moved = 0, [], 0, 0
    per_episode: list[bool] = []
    for ticker, idx in alerts.items():
        eps = by_ticker.get(ticker, [])
        for ep in eps:
            hits = [i - ep.start for i in idx if ep.start <= i < ep.start + 2]
            per_episode.append(bool(hits))
            if hits:
                detected += 1
                delays.append(min(hits))
        wrong = [i for i in idx
                 if not any(ep.start <= i < ep.start + max(ep.length, 2) for ep in eps)]
        false += len(wrong)
        false_moved += sum(1 for i in wrong if moved and i in moved.get(ticker, ()))
    return {"episodes": len(episodes), "detected": detected,
            "rate": detected / len(episodes) if episodes else float("nan"),
            "median_delay": statistics.median(delays) if delays else float("nan"),
            "false": false, "fa_per_1000": 1000 * false / series_windows,
            "false_on_moves": false_moved,
            "fa_per_1000_no_moves": 1000 * (false - false_moved) / series_windows}


def grid(smoke: bool) -> list[tuple[str, dict[str, Any]]]:
    """(label, DetectionConfig overrides) of the settings in the table."""
    rows: list[tuple[str, dict[str, Any]]] = []
    z_pairs = [(3.0, 3.0), (4.0, 4.0), (4.0, None), (5.0, None), (4.0, 6.0), (5.0, 6.0),
               (6.0, 6.0), (5.0, 7.0), (6.0, 8.0)]
    cusum = [(0.5, 5.0), (1.0, 5.0), (1.0, 8.0), (1.5, 8.0), (1.5, 12.0)]
    combined = [(5.0, 6.0, 1.5, 8.0), (5.0, 7.0, 1.5, 8.0), (6.0, 6.0, 1.5, 12.0),
                (5.0, 6.0, 1.5, 12.0), (6.0, 8.0, 1.0, 8.0)]
    if smoke:
        z_pairs, cusum, combined = z_pairs[:2], cusum[:1], combined[:1]
    for z, vz in z_pairs:
        rows.append((f"zscore z={z:g} vz={vz if vz is None else f'{vz:g}'}",
                     {"method": "zscore", "z_threshold": z, "volume_z_threshold": vz}))
    for k, h in cusum:
        rows.append((f"cusum k={k:g} h={h:g}", {"method": "cusum", "cusum_k": k, "cusum_h": h}))
    for z, vz, k, h in combined:
        rows.append((f"combined z={z:g} vz={vz:g} k={k:g} h={h:g}",
                     {"method": "combined", "z_threshold": z, "volume_z_threshold": vz,
                      "cusum_k": k, "cusum_h": h}))
    return rows


def moved_windows(series: list[Series], moves: dict[str, set], size: WindowSize
                  ) -> dict[str, set[int]]:
    """Per ticker, the window indices whose UTC date is near a big price move."""
    step = timedelta(seconds=size.seconds)
    return {s.ticker: {i for i in range(s.windows) if (s.first + i * step).date()
                       in moves.get(s.ticker, ())} for s in series}


def evaluate(series: list[Series], episodes: list[Episode], size: WindowSize,
             settings: list[tuple[str, dict[str, Any]]], base: dict[str, Any],
             moved: dict[str, set[int]]) -> list[dict[str, Any]]:
    streams = {name: inject(series, episodes, name, size) for name in (None, *INTENSITIES)}
    series_windows = sum(s.windows for s in series)
    rows = []
    for label, overrides in settings:
        config = DetectionConfig(**{**base, **overrides})
        row: dict[str, Any] = {"setting": label, "config": config.to_dict()}
        for name, stats in streams.items():
            result = score(run_detector(config, size, series, stats),
                           episodes if name else [], series_windows, moved)
            row[name or "none"] = result
        moderate = row["moderate"]
        row["meets_target"] = (moderate["rate"] >= 0.9 and moderate["fa_per_1000"] <= 1.0
                               and row["none"]["fa_per_1000"] <= 1.0)
        rows.append(row)
    return rows


def by_volume(series: list[Series], episodes: list[Episode], size: WindowSize,
              config: DetectionConfig, intensity: str) -> dict[str, str]:
    """Detection rate of one setting per base-volume bin."""
    stats = inject(series, episodes, intensity, size)
    alerts = run_detector(config, size, series, stats)
    out = {}
    for bin_name in ("low", "mid", "high"):
        tickers = {s.ticker for s in series if s.volume_bin == bin_name}
        eps = [ep for ep in episodes if ep.ticker in tickers]
        result = score({t: a for t, a in alerts.items() if t in tickers}, eps, 1)
        out[bin_name] = (f"{result['detected']}/{result['episodes']}"
                         f" ({100 * result['rate']:.0f}%)" if eps else "-")
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| setting | mild | moderate | strong | delay (mod) | FA mod | FA none | "
             "FA none off moves | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        def pct(name: str, row: dict[str, Any] = row) -> str:
            return f"{100 * row[name]['rate']:.1f}%"
        lines.append(f"| {row['setting']} | {pct('mild')} | {pct('moderate')} | {pct('strong')} "
                     f"| {row['moderate']['median_delay']:g} "
                     f"| {row['moderate']['fa_per_1000']:.2f} | {row['none']['fa_per_1000']:.2f} "
                     f"| {row['none']['fa_per_1000_no_moves']:.2f} "
                     f"| {'met' if row['meets_target'] else '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", choices=[s.value for s in WindowSize], default="day")
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes-per-ticker", type=int, default=6)
    parser.add_argument("--hour-tickers", type=int, default=5,
                        help="also run hour windows on the N busiest tickers (0: skip)")
    parser.add_argument("--base", default="{}",
                        help="JSON DetectionConfig overrides shared by every setting")
    parser.add_argument("--write-results", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.process_time()
    base = json.loads(args.base)
    stream, polarity_counts = load_stream(args.datasets)
    total = sum(polarity_counts.values())
    print(f"{total} tweets, {len(stream)} tickers; lexicon polarity: "
          + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in sorted(polarity_counts.items())))
    tickers = sorted(stream, key=lambda t: (-len(stream[t]), t))
    if args.smoke:
        tickers = tickers[:3] + tickers[-12:-9]
    settings = grid(args.smoke)
    moves = load_moves(args.datasets)
    sections = []
    record: dict[str, Any] = {"command": " ".join(["python", *sys.argv]),
                              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "polarity": dict(polarity_counts), "runs": {}}
    runs = [(WindowSize(args.window), tickers)]
    if args.hour_tickers and args.window != "hour":
        runs.append((WindowSize.HOUR, tickers[:args.hour_tickers]))
    default = DetectionConfig(**base)
    for size, names in runs:
        series = make_series(stream, size, names)
        episodes = make_episodes(series, args.episodes_per_ticker, args.seed)
        bins = Counter(s.volume_bin for s in series)
        head = (f"### {size.value} windows: {len(series)} tickers "
                f"({', '.join(f'{bins[b]} {b}' for b in ('low', 'mid', 'high'))} base volume), "
                f"{sum(s.windows for s in series)} series-windows, {len(episodes)} episodes per "
                "intensity")
        moved = moved_windows(series, moves, size)
        rows = evaluate(series, episodes, size, settings, base, moved)
        per_bin = by_volume(series, episodes, size, default, "moderate")
        text = (f"{head}\n\n{table(rows)}\n\nModerate episodes detected by the defaults "
                f"(DetectionConfig() {json.dumps(base) if base else ''}) per base volume: "
                + ", ".join(f"{k} {v}" for k, v in per_bin.items()))
        print(text + "\n")
        sections.append(text)
        record["runs"][size.value] = {"rows": rows, "moderate_by_volume": per_bin,
                                      "series": len(series), "episodes": len(episodes)}
    record["cpu_s"] = round(time.process_time() - t0, 1)
    print(f"CPU time {record['cpu_s']} s")
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "finance_alerts.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    if args.write_results and not args.smoke:
        with RESULTS_MD.open("a", encoding="utf-8") as handle:
            handle.write("\n## Finance monitor alerts (issue 10)\n\n"
                         f"`{record['command']}`, {record['date'][:10]}, 2 CPU cores, no GPU "
                         f"({record['cpu_s']} s CPU).\n\n" + "\n\n".join(sections) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

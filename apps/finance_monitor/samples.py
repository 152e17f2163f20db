"""The finance monitor's sample data: fictional companies, labelled headlines and two fictional
weeks of posts with a planted negative episode, under ``data/finance/``.

Everything comes from ``sample_data/finance.yaml`` (see its header) with a fixed seed, so the
files are byte-identical on every machine::

    finance/sentiment_train.csv   text,label           headlines about generic companies
    finance/sentiment_test.csv    text,label           the same tones about the watchlist's companies
    finance/watchlist.csv         ticker,name,aliases
    finance/stream.jsonl          {"id", "timestamp", "text"} per line, in time order
    finance/monitor.yaml          the demo's monitor config (hour windows, the watchlist)
    finance/sentiment.yaml        a `domaintune train` config for a sentiment model on the headlines

The test headlines reuse the training templates with other names: they show that the model
reads the tone rather than the company, not how it does on real news (see the PhraseBank
benchmark for that).

Example:
    >>> paths = write_samples("data")  # doctest: +SKIP
    >>> paths["stream"]  # doctest: +SKIP
    PosixPath('data/finance/stream.jsonl')
"""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from domaintune import samples as core_samples
from domaintune.persistence import write_text_atomic

logger = logging.getLogger(__name__)

SAMPLE_DATA = Path(__file__).with_name("sample_data")
SPEC_FILE = SAMPLE_DATA / "finance.yaml"
FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sentiment_train": ("finance/sentiment_train.csv", ("text", "label")),
    "sentiment_test": ("finance/sentiment_test.csv", ("text", "label")),
    "watchlist": ("finance/watchlist.csv", ("ticker", "name", "aliases")),
    "stream": ("finance/stream.jsonl", ()),
    "config": ("finance/monitor.yaml", ()),
    "train_config": ("finance/sentiment.yaml", ()),
}
_TRAIN_TAGS = ("$QRST", "$LMNO", "$VWXY", "$HJKL")

DEMO_CONFIG = """\
# The demo's monitor config (written by finance_monitor.samples; edit a copy).
entities:
  watchlist: watchlist.csv
windows:
  size: hour
  lateness: 1h
"""


TRAIN_CONFIG = """\
# `domaintune train --config data/finance/sentiment.yaml`: a sentiment model on the sample
# headlines (written by finance_monitor.samples; paths are relative to this file).
task: text-classification
model: default
train_file: sentiment_train.csv
test_file: sentiment_test.csv
text_column: text
label_column: label
validation_split: 0.15
output_dir: ../../models/fin-sentiment
training:
  method: frozen          # seconds on a CPU; full fine-tuning for real data (see benchmarks/RESULTS.md)
"""


def spec() -> dict[str, Any]:
    return core_samples.read_sample_file(SPEC_FILE)


def _fill(template: str, name: str, tag: str, rng: random.Random) -> str:
    return template.format(name=name, tag=tag, pct=rng.randint(2, 25))


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def build_sentiment(s: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The labelled training and test headlines."""
    rng = random.Random(11)
    train, test = [], []
    for label, templates in s["templates"].items():
        for i, template in enumerate(templates):
            for j, name in enumerate(s["train_names"]):
                text = _fill(template, name, _TRAIN_TAGS[(i + j) % len(_TRAIN_TAGS)], rng)
                train.append((text[0].upper() + text[1:], label))
            company = s["companies"][i % len(s["companies"])]
            test.append((_fill(template, company["name"], "$" + company["ticker"], rng), label))
    return {"sentiment_train": train, "sentiment_test": test}


def build_stream(s: dict[str, Any]) -> list[dict[str, str]]:
    """The posts of the two weeks, in time order, with the planted episode."""
    st, ep = s["stream"], s["episode"]
    rng = random.Random(st["seed"])
    start = _parse(st["start"])
    labels = list(st["shares"])
    weights = [st["shares"][lab] for lab in labels]
    posts: list[tuple[datetime, str]] = []

    def post(ts: datetime, company: dict[str, Any] | None, label: str) -> None:
        template = rng.choice(s["templates"][label])
        if company is None:
            text = _fill(template, "the market", "stocks", rng)
        else:
            name = rng.choice([company["name"], *company.get("aliases", [])])
            text = _fill(template, name, "$" + company["ticker"], rng)
        posts.append((ts + timedelta(seconds=rng.randrange(3600)), text))

    for hour in range(st["days"] * 24):
        ts = start + timedelta(hours=hour)
        day = 7 <= ts.hour < 21
        for c, company in enumerate(s["companies"]):
            rate = st["day_rate"][c] if day else st["night_rate"]
            n = sum(rng.random() < rate / 4 for _ in range(4))  # ~Binomial(4, rate/4)
            for _ in range(n):
                label = rng.choices(labels, weights)[0]
                post(ts, None if rng.random() < st["general_share"] else company, label)
    target = next(c for c in s["companies"] if c["ticker"] == ep["ticker"])
    ep_start = _parse(ep["start"])
    for h in range(ep["hours"]):
        for _ in range(ep["posts_per_hour"]):
            label = "negative" if rng.random() < ep["negative_share"] else "neutral"
            post(ep_start + timedelta(hours=h), target, label)
    posts.sort(key=lambda p: p[0])
    return [{"id": f"post-{i:05d}", "timestamp": _iso(ts), "text": text}
            for i, (ts, text) in enumerate(posts, start=1)]


def write_samples(data_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write the monitor's sample files under ``data_dir``; only missing files unless
    ``force`` (``AppSpec.samples``). Returns ``{name: path}``."""
    own, todo = core_samples.missing_files(data_dir, FILES, force)
    if todo:
        s = spec()
        tables: dict[str, Any] = build_sentiment(s)
        tables["watchlist"] = [(c["ticker"], c["name"], ";".join(c.get("aliases", [])))
                               for c in s["companies"]]
        for name in todo:
            if name == "stream":
                lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build_stream(s))
                write_text_atomic(own[name], lines)
            elif name == "config":
                write_text_atomic(own[name], DEMO_CONFIG)
            elif name == "train_config":
                write_text_atomic(own[name], TRAIN_CONFIG)
            else:
                core_samples.write_csv_atomic(own[name], FILES[name][1], tables[name])
        logger.info("wrote the finance monitor's samples: %s", ", ".join(str(own[n]) for n in todo))
    return own

"""The text recommender's sample data: a fictional streaming catalogue, its viewers' tastes and
ninety days of their ratings, under ``data/recommender/``.

Everything comes from ``sample_data/recommender.yaml`` (see its header) with a fixed seed, so
the files are byte-identical on every machine::

    recommender/items.csv         item_id,title,category,description,tags
    recommender/interactions.csv  user_id,item_id,rating,timestamp   (epoch seconds, time order)
    recommender/users.csv         user_id,likes                      (a free-text taste)

Each film's description is composed from its category's templates, so the text alone tells the
categories apart. Some films are series ("X", "X II", "X III") that viewers watch in order, so
watching one predicts the next. Every viewer has one or two favourite categories, rated mostly
4-5, plus some noise rated lower; a few viewers have only one or two ratings. The last
``new_arrivals`` films (the highest ids) have no interactions at all: the cold-start items.

Example:
    >>> paths = write_samples("data")  # doctest: +SKIP
    >>> paths["items"]  # doctest: +SKIP
    PosixPath('data/recommender/items.csv')
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from domaintune import samples as core_samples

logger = logging.getLogger(__name__)

SAMPLE_DATA = Path(__file__).with_name("sample_data")
SPEC_FILE = SAMPLE_DATA / "recommender.yaml"
FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "items": ("recommender/items.csv", ("item_id", "title", "category", "description", "tags")),
    "interactions": ("recommender/interactions.csv", ("user_id", "item_id", "rating", "timestamp")),
    "users": ("recommender/users.csv", ("user_id", "likes")),
}
TAG_SEP = ";"
_PART_SUFFIX = ("", " II", " III", " IV")


@dataclass(frozen=True)
class Film:
    """One row of items.csv, with what the log generator needs to know about it."""

    item_id: str
    title: str
    category: str
    description: str
    tags: str
    series: str = ""  # the first part's title, for every part of a series
    part: int = 0  # 1, 2, 3 ... within its series; 0 for a standalone film
    new: bool = False  # a new arrival: never watched

    def row(self) -> tuple[str, ...]:
        return (self.item_id, self.title, self.category, self.description, self.tags)


def spec() -> dict[str, Any]:
    return core_samples.read_sample_file(SPEC_FILE)


def _split(total: int, n: int) -> list[int]:
    """``total`` spread over ``n`` slots, the first ones getting one more."""
    return [total // n + (i < total % n) for i in range(n)]


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


def build_items(s: dict[str, Any]) -> list[Film]:
    """The catalogue: per category its series then standalone films, then the new arrivals."""
    rng = random.Random(s["seed"])
    cat = s["catalogue"]
    names = list(s["categories"])
    seen: set[str] = set()
    specs: list[dict[str, Any]] = []  # title, category, description, tags, series, part, new

    def describe(c: dict[str, Any], hero: str) -> str:
        for _ in range(100):
            plot = rng.choice(c["plots"])
            text = _sentence(plot.format(hero=hero, place=rng.choice(c["places"])))
            if rng.random() < cat["mood_p"]:
                text += " " + rng.choice(c["moods"])
            if text not in seen:
                seen.add(text)
                return text
        raise ValueError(f"{SPEC_FILE}: could not compose a new description for {hero!r}; "
                         "add plots, places or moods to its category")

    def film(name: str, title: str, hero: str, *, series: str = "", part: int = 0,
             new: bool = False, prefix: str = "") -> None:
        c = s["categories"][name]
        tags = rng.sample(c["tags"], rng.randint(*cat["tags"]))
        specs.append({"title": title, "category": name, "description": prefix + describe(c, hero),
                      "tags": TAG_SEP.join(tags), "series": series, "part": part, "new": new})

    titles = {}
    for name in names:
        c = s["categories"][name]
        titles[name] = [f"{a} {b}" for a in c["first"] for b in c["second"]]
        rng.shuffle(titles[name])
    counts = dict(zip(names, _split(cat["films"], len(names)), strict=True))
    for name in names:
        c = s["categories"][name]
        n = 0
        for parts in c["series"]:
            base, hero = titles[name].pop(), rng.choice(c["heroes"])
            for part in range(1, parts + 1):
                prefix = "" if part == 1 else s["sequel"].format(
                    nth=s["nth"][part - 1], series=base) + " "
                film(name, base + _PART_SUFFIX[part - 1], hero, series=base, part=part,
                     prefix=prefix)
            n += parts
        for _ in range(counts[name] - n):
            film(name, titles[name].pop(), rng.choice(c["heroes"]))
    for name, n in zip(names, _split(cat["new_arrivals"], len(names)), strict=True):
        for _ in range(n):
            film(name, titles[name].pop(), rng.choice(s["categories"][name]["heroes"]), new=True)
    return [Film(f"m{i:03d}", **f) for i, f in enumerate(specs, start=1)]


def build_log(s: dict[str, Any], items: list[Film]) -> tuple[list[tuple[str, ...]],
                                                             list[tuple[str, ...]]]:
    """``(users rows, interactions rows)``: each viewer's taste and ratings, the log sorted by
    time."""
    u = s["users"]
    rng = random.Random(s["seed"] + 1)
    names = list(s["categories"])
    watchable = [f for f in items if not f.new]
    weight = {f.item_id: rng.lognormvariate(0.0, u["popularity_spread"]) for f in watchable}
    parts: dict[str, list[Film]] = defaultdict(list)  # series -> its parts, in order
    for f in watchable:
        if f.series:
            parts[f.series].append(f)
    start = int(datetime.fromisoformat(u["start"].replace("Z", "+00:00")).timestamp())
    span = u["days"] * 86400
    light = set(rng.sample(range(u["count"]), u["light_users"]))
    users: list[tuple[str, ...]] = []
    log: list[tuple[int, str, str, int]] = []  # timestamp, user, item, rating
    for i in range(u["count"]):
        user_id = f"u{i + 1:02d}"
        favourites = rng.sample(names, 2 if rng.random() < u["two_favourites_p"] else 1)
        users.append((user_id, ", also ".join(rng.choice(s["categories"][c]["likes"])
                                             for c in favourites)))
        n = rng.randint(1, 2) if i in light else rng.randint(*u["history"][len(favourites) - 1])
        seen: set[str] = set()
        last: Film | None = None
        picks: list[Film] = []
        for _ in range(n):
            pick = None
            if last is not None and last.series and rng.random() < u["sequel_p"]:
                pick = next((f for f in parts[last.series] if f.item_id not in seen), None)
            if pick is None:
                unseen = [f for f in watchable if f.item_id not in seen]
                wanted = (favourites if rng.random() < u["favourite_p"]
                          else [c for c in names if c not in favourites])
                pool = [f for f in unseen if f.category in wanted] or unseen
                pick = rng.choices(pool, [weight[f.item_id] for f in pool])[0]
                if pick.series:  # a series is watched in order: its first unseen part
                    pick = next(f for f in parts[pick.series] if f.item_id not in seen)
            seen.add(pick.item_id)
            picks.append(pick)
            last = pick
        first = rng.randrange(int(span * 0.6))  # joins in the first 60% of the period
        times = sorted(rng.sample(range(start + first, start + span), n))
        for ts, f in zip(times, picks, strict=True):
            kind = "favourite" if f.category in favourites else "other"
            log.append((ts, user_id, f.item_id, rng.choices(range(1, 6), u["ratings"][kind])[0]))
    log.sort()
    return users, [(user, item, str(rating), str(ts)) for ts, user, item, rating in log]


def write_samples(data_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write the recommender's sample files under ``data_dir``; only missing files unless
    ``force`` (``AppSpec.samples``). Returns ``{name: path}``."""
    own, todo = core_samples.missing_files(data_dir, FILES, force)
    if todo:
        s = spec()
        items = build_items(s)
        users, interactions = build_log(s, items)
        tables = {"items": [f.row() for f in items], "interactions": interactions, "users": users}
        for name in todo:
            core_samples.write_csv_atomic(own[name], FILES[name][1], tables[name])
        logger.info("wrote the recommender's samples: %s", ", ".join(str(own[n]) for n in todo))
    return own

"""The recommender's sample data: byte-identical (pinned), only missing files written, and the
properties the demo and the tests rely on (cold items unwatched, known ids, time order, series
watched in order, categories readable from the text)."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest

from text_recommender.samples import FILES, spec, write_samples

STOP = {"a", "an", "the", "of", "and", "to", "in", "at", "on", "for", "from", "with", "is",
        "film", "saga", "second", "third"}
SAMPLE_SHA256 = {
    "items": "26891714296dfb5363882a2a1541530e18a422536f4eb2740d004b8ae453f61e",
    "interactions": "a857cebcb5e735ea59a3b4d225722f11a63dc96c99870565d29ea7bf5ac1fbb3",
    "users": "c0ce4443f0fe0fe03f0572da93a35b14da36053ea44140e16f22fddcf0d8ee49",
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    paths = write_samples(tmp_path_factory.mktemp("data"))
    return {name: list(csv.DictReader(path.open(encoding="utf-8", newline="")))
            for name, path in paths.items()}


def test_samples_are_byte_identical_and_only_missing_files_are_written(tmp_path):
    paths = write_samples(tmp_path)
    assert set(paths) == set(FILES) == set(SAMPLE_SHA256)
    for name, path in paths.items():
        assert path == tmp_path / FILES[name][0]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == SAMPLE_SHA256[name], name
    paths["users"].write_text("user_id,likes\nme,my own taste\n")
    paths["items"].unlink()
    write_samples(tmp_path)  # an existing file is the user's: kept; a missing one is written
    assert "my own taste" in paths["users"].read_text()
    assert hashlib.sha256(paths["items"].read_bytes()).hexdigest() == SAMPLE_SHA256["items"]
    write_samples(tmp_path, force=True)
    assert hashlib.sha256(paths["users"].read_bytes()).hexdigest() == SAMPLE_SHA256["users"]


def test_headers_and_sizes(tables):
    for name, (_, header) in FILES.items():
        assert tuple(tables[name][0]) == header, name
    items, log, users = tables["items"], tables["interactions"], tables["users"]
    assert len(items) == 120 and len({i["item_id"] for i in items}) == 120
    assert len({i["title"] for i in items}) == len({i["description"] for i in items}) == 120
    assert len(Counter(i["category"] for i in items)) == 8
    assert [u["user_id"] for u in users] == [f"u{i:02d}" for i in range(1, 81)]
    assert all(u["likes"] for u in users)
    per_user = Counter(r["user_id"] for r in log)
    assert set(per_user) == {u["user_id"] for u in users}
    assert sum(n <= 2 for n in per_user.values()) == spec()["users"]["light_users"]
    assert max(per_user.values()) <= 40


def test_cold_items_have_no_interactions_and_every_interaction_is_a_known_item(tables):
    ids = [i["item_id"] for i in tables["items"]]
    n_new = spec()["catalogue"]["new_arrivals"]
    watched = {r["item_id"] for r in tables["interactions"]}
    assert watched <= set(ids)
    assert watched == set(ids[:-n_new])  # every old film has viewers, no new arrival has any
    cold = tables["items"][-n_new:]
    assert len({i["category"] for i in cold}) == len(cold) - 2  # spread over the categories
    assert all(len(i["description"]) > 60 for i in cold)


def test_interactions_are_time_ordered_and_valid(tables):
    log = tables["interactions"]
    times = [int(r["timestamp"]) for r in log]
    assert times == sorted(times)
    first, last = (datetime.fromtimestamp(t, timezone.utc) for t in (times[0], times[-1]))
    assert first.year == last.year == 2026 and (last - first).days <= 90
    by_user = defaultdict(list)
    for r in log:
        by_user[r["user_id"]].append(int(r["timestamp"]))
        assert r["rating"] in {"1", "2", "3", "4", "5"}
    for user, ts in by_user.items():
        assert ts == sorted(ts) and len(set(ts)) == len(ts), user
    pairs = Counter((r["user_id"], r["item_id"]) for r in log)
    assert max(pairs.values()) == 1  # a film is rated once per user


def test_series_are_watched_in_order(tables):
    ids = {i["title"]: i["item_id"] for i in tables["items"]}
    series = [(ids[t], ids[t + " II"]) for t in ids if t + " II" in ids]
    series += [(ids[t + " II"], ids[t + " III"]) for t in ids if t + " III" in ids]
    assert len(series) >= 6
    when = {(r["user_id"], r["item_id"]): int(r["timestamp"]) for r in tables["interactions"]}
    followed = 0
    for user in {u for u, _ in when}:
        for before, after in series:
            if (user, after) in when:
                assert when[(user, before)] < when[(user, after)], (user, before, after)
                followed += 1
    assert followed >= 20


def test_favourite_categories_rate_higher(tables):
    category = {i["item_id"]: i["category"] for i in tables["items"]}
    ratings = defaultdict(list)
    for r in tables["interactions"]:
        ratings[r["user_id"], category[r["item_id"]]].append(int(r["rating"]))
    top = [sum(v) / len(v) for v in ratings.values() if len(v) >= 5]
    low = [sum(v) / len(v) for v in ratings.values() if len(v) == 1]
    assert sum(top) / len(top) > 4.0 and sum(low) / len(low) < 3.0


def test_the_description_alone_tells_the_category(tables):
    """Leave-one-out nearest neighbour on the description's words (Jaccard) finds the category:
    the text carries the category's vocabulary, so a text model can learn it."""
    items = tables["items"]
    words = [set(re.findall(r"[a-z]+", i["description"].lower())) - STOP for i in items]
    right = 0
    for k, item in enumerate(items):
        nearest = max((j for j in range(len(items)) if j != k),
                      key=lambda j: len(words[k] & words[j]) / len(words[k] | words[j]))
        right += items[nearest]["category"] == item["category"]
    assert right / len(items) >= 0.95

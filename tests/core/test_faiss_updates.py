"""FaissIndex incremental updates: add and remove on flat, HNSW and IVF indexes, against exact
search over the vectors that should be live; subset search; save/load after updates; errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from domaintune.errors import ConfigError, DataError, NotFittedError
from domaintune.pairs import FaissIndex

KINDS = ["flat", "hnsw", "ivf"]
N, DIM = 300, 16


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Embedding-like data: points around 10 centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, DIM)) * 3
    return (centres[rng.integers(0, 10, n)] + rng.standard_normal((n, DIM))).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build(kind: str, x: np.ndarray, ids, **kw) -> FaissIndex:
    # IVF: probe every cell, so that search is exact and comparable with brute force
    params = {"nlist": 4, "nprobe": 4} if kind == "ivf" else {}
    return FaissIndex(kind, **params, **kw).fit(x, ids=ids)


def brute_force(vectors: dict, q: np.ndarray, k: int) -> list[list]:
    names = list(vectors)
    sims = unit(q) @ unit(np.stack([vectors[i] for i in names])).T
    return [[names[j] for j in row] for row in np.argsort(-sims, axis=1, kind="stable")[:, :k]]


def overlap(found, expected) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, expected, strict=True)]))


def check_positions(index: FaissIndex, live: dict) -> None:
    """ids_, the id -> position map, len() and the stored vectors agree with ``live``."""
    assert len(index) == len(live)
    assert set(index._position_of) == set(live)
    for i, v in list(live.items())[::7]:
        stored = index.index_.reconstruct(int(index._position_of[i]))
        assert index.ids_[index._position_of[i]] == i
        np.testing.assert_allclose(stored, unit(v[None])[0], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_add_then_search_finds_the_new_ids(kind):
    x, extra = clustered(N), clustered(20, seed=2)
    ids = [f"doc-{i}" for i in range(N)]
    index = build(kind, x, ids)
    new_ids = [f"new-{i}" for i in range(20)]
    assert index.add(extra, ids=new_ids) is index
    assert len(index) == N + 20
    _, found = index.search(extra, k=1)
    assert found[:, 0].tolist() == new_ids  # each new vector is its own nearest neighbour
    live = dict(zip(ids + new_ids, np.vstack([x, extra]), strict=True))
    check_positions(index, live)
    q = clustered(10, seed=3)
    _, found = index.search(q, k=10)
    assert overlap(found, brute_force(live, q, 10)) >= (0.9 if kind == "hnsw" else 1.0)
    _, sub = index.search(q, k=3, subset=new_ids[:5] + ids[:5])
    assert sub.tolist() == brute_force({i: live[i] for i in new_ids[:5] + ids[:5]}, q, 3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("exact_max", [50_000, 10])  # subset scored exactly / through a selector
def test_removed_ids_never_come_back(kind, exact_max):
    x = clustered(N)
    ids = [f"doc-{i}" for i in range(N)]
    index = build(kind, x, ids, exact_max=exact_max)
    index.add(clustered(10, seed=2), ids=[f"new-{i}" for i in range(10)])
    gone = ids[::3] + ["new-0", "new-1"]  # a third of the corpus, and two added vectors
    assert index.remove(gone) == len(gone)
    live_ids = [i for i in ids if i not in set(gone)] + [f"new-{i}" for i in range(2, 10)]
    assert len(index) == len(live_ids) == N + 10 - len(gone)
    live = {i: v for i, v in zip(ids, x, strict=True) if i not in set(gone)}
    live.update((f"new-{i}", v) for i, v in enumerate(clustered(10, seed=2)) if i >= 2)
    check_positions(index, live)
    if kind == "hnsw":
        assert len(index.tombstones_) == len(gone) and index.index_.ntotal == N + 10
    else:
        assert len(index.tombstones_) == 0 and index.index_.ntotal == len(index) == len(index.ids_)

    q = np.vstack([x[::3][:20], clustered(5, seed=4)])  # the removed vectors themselves as queries
    scores, found = index.search(q, k=40)
    returned = {i for row in found for i in row if i is not None}
    assert not returned & set(gone)
    assert overlap(found, brute_force(live, q, 40)) >= (0.9 if kind == "hnsw" else 1.0)
    assert np.isfinite(scores).all()  # tombstones do not leave HNSW slots unfilled here

    subset = ids[:60] + ["new-5"]
    members = [i for i in subset if i not in set(gone)]
    with pytest.raises(DataError, match="subset id 'doc-0' is not in this index.*not removed"):
        index.search(q, k=5, subset=subset)
    _, sub = index.search(q, k=5, subset=members)
    assert {i for row in sub for i in row if i is not None} <= set(members)
    if exact_max >= len(members) or kind != "hnsw":
        assert sub.tolist() == brute_force({i: live[i] for i in members}, q, 5)
    assert index.search(q, k=1000)[1].shape == (len(q), len(index))  # k capped at the live count


@pytest.mark.parametrize("kind", KINDS)
def test_a_removed_id_can_be_added_again(kind):
    x = clustered(N)
    index = build(kind, x, list(range(N)))  # int ids
    assert index.remove([5, 6]) == 2
    assert index.remove(5, missing="ignore") == 0  # already gone
    index.add(-x[5:6], ids=[5])  # same id, opposite vector
    assert len(index) == N - 1
    _, found = index.search(x[5], k=N)
    assert 6 not in found[0].tolist()
    assert found[0].tolist().count(5) == 1 and found[0, -1] == 5  # only the new, opposite vector
    scores, found = index.search(-x[5], k=1)
    assert found.tolist() == [[5]] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(DataError, match="found 1 already in the index \\(e.g. 5\\)"):
        index.add(x[5:6], ids=[5])


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_after_updates(kind, tmp_path):
    x, extra, q = clustered(N), clustered(15, seed=2), clustered(8, seed=3)
    ids = [f"doc-{i}" for i in range(N)]
    index = build(kind, x, ids)
    index.remove(ids[10:40])
    index.add(extra, ids=[f"new-{i}" for i in range(15)])
    index.remove(["new-3", "doc-100"])
    index.add(x[10:12] * -1, ids=["doc-10", "doc-11"])  # re-added under a removed id
    index.save(tmp_path / "idx")
    record = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert record["live_count"] == len(index) == N - 32 + 15 + 2
    assert record["count"] == index.index_.ntotal
    assert record["tombstones"] == (index.tombstones_.tolist() if kind == "hnsw" else [])
    assert (len(record["tombstones"]) == 32) == (kind == "hnsw")

    loaded = FaissIndex.load(tmp_path / "idx")
    assert len(loaded) == len(index) and loaded._position_of == index._position_of
    np.testing.assert_array_equal(loaded.tombstones_, index.tombstones_)
    (s1, f1), (s2, f2) = index.search(q, k=20), loaded.search(q, k=20)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_allclose(s1, s2, atol=1e-6)
    assert not {i for row in f2 for i in row} & {*ids[12:40], "new-3", "doc-100"}
    # the loaded index keeps updating consistently
    assert loaded.remove(["doc-10", "new-4"]) == 2
    loaded.add(extra[:1] * 2, ids=["later"])
    assert loaded.search(extra[0], k=1)[1][0, 0] in {"later", "new-0"}  # same direction
    assert len(loaded) == len(index) - 1


def test_a_record_without_tombstones_still_loads(tmp_path):
    """Indexes saved before add/remove existed have no tombstones or live_count in the record."""
    index = FaissIndex("hnsw").fit(clustered(50), ids=[f"d{i}" for i in range(50)])
    index.save(tmp_path / "idx")
    path = tmp_path / "idx" / "index.json"
    record = json.loads(path.read_text())
    del record["tombstones"], record["live_count"]
    path.write_text(json.dumps(record))
    loaded = FaissIndex.load(tmp_path / "idx")
    assert len(loaded) == 50 and len(loaded.tombstones_) == 0
    assert loaded.remove(["d1"]) == 1 and len(loaded) == 49


@pytest.mark.parametrize("kind", KINDS)
def test_removing_everything_then_adding_again(kind):
    x = clustered(N)
    index = build(kind, x, None)  # ids = positions 0..N-1
    assert index.remove(range(N)) == N and len(index) == 0
    scores, found = index.search(x[:3], k=5)
    assert scores.shape == found.shape == (3, 0)
    assert index.search(x[:3], k=5, subset=[])[1].shape == (3, 0)
    index.add(x[:4], ids=[7, 8, 9, 10])
    assert index.search(x[2], k=1)[1].tolist() == [[9]] and len(index) == 4


def test_update_errors_say_what_to_fix():
    x = clustered(20)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FaissIndex().add(x, ids=list(range(20)))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FaissIndex().remove([1])
    index = FaissIndex().fit(x, ids=[f"d{i}" for i in range(20)])
    with pytest.raises(DataError, match="dimension 16 \\(the index's\\), found 8"):
        index.add(np.ones((2, 8)), ids=["a", "b"])
    with pytest.raises(DataError, match="non-empty 2-D array"):
        index.add(np.ones(16), ids=["a"])
    with pytest.raises(DataError, match="NaN or infinite"):
        index.add(np.full((1, 16), np.nan), ids=["a"])
    with pytest.raises(DataError, match="expected str ids like the index's, found int ids"):
        index.add(x[:2], ids=[1, 2])
    with pytest.raises(DataError, match="all int or all str"):
        index.add(x[:2], ids=["a", 2])
    with pytest.raises(DataError, match="found ids=None; pass ids of the index's type \\(str\\)"):
        index.add(x[:2], ids=None)
    with pytest.raises(DataError, match="one id per embedding, found 1 ids and 2 embeddings"):
        index.add(x[:2], ids=["a"])
    with pytest.raises(DataError, match="unique ids, found 1 repeated \\(e.g. 'a'\\)"):
        index.add(x[:2], ids=["a", "a"])
    with pytest.raises(DataError, match="found 1 already in the index \\(e.g. 'd3'\\)"):
        index.add(x[:2], ids=["new", "d3"])
    assert len(index) == 20 and "new" not in index._position_of  # a refused add changes nothing

    with pytest.raises(DataError, match="cannot remove id 'nope': not in this index; 1 of 2 ids"):
        index.remove(["d1", "nope"])
    assert len(index) == 20 and "d1" in index._position_of  # a refused remove changes nothing
    with pytest.raises(DataError, match="this index has str ids, found int"):
        index.remove([3])
    with pytest.raises(ConfigError, match="missing expects 'raise' or 'ignore'.*did you mean 'ignore'"):
        index.remove(["d1"], missing="ignor")
    assert index.remove(["d1", "nope", "d1"], missing="ignore") == 1  # repeats count once
    assert index.remove(np.array(["d2"], dtype=object)) == 1 and len(index) == 18

    ints = FaissIndex().fit(x)
    with pytest.raises(DataError, match="expected int ids like the index's, found str ids"):
        ints.add(x[:1], ids=["a"])
    ints.add(x[:1], ids=[np.int64(20)])  # numpy ints are ints
    assert ints.remove(np.array([20, 0])) == 2 and len(ints) == 19

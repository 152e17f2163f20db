"""data/prepare_movielens.py on a tiny fake copy of MovieLens and (slow) on the real one."""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd
import pytest
from conftest import DATASETS, ROOT, write_csv

REAL = DATASETS / "movielens_latest_small"


@pytest.fixture(scope="module")
def prep():
    path = ROOT / "data" / "prepare_movielens.py"
    spec = importlib.util.spec_from_file_location("prepare_movielens", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake(tmp_path):
    folder = tmp_path / "datasets" / "movielens_latest_small"
    folder.mkdir(parents=True)
    write_csv(folder / "movies.csv", ["movieId", "title", "genres"], [
        (1, "Toy Story (1995)", "Adventure|Animation|Children"),
        (2, "City of Lost Children, The (Cité des enfants perdus, La) (1995) ", "Drama|Sci-Fi"),
        (3, "Babylon 5", "(no genres listed)"),
        (4, "Death Note: Desu nôto (2006–2007)", "Anime"),
    ])
    # user 10: the last like is movie 2 at ts 300 (movie 3 at ts 400 is rated 2.0)
    # user 20: no rating >= 4 -> all train
    # user 30: likes movie 1 and movie 4 in the same second (file order: 4 last -> test)
    write_csv(folder / "ratings.csv", ["userId", "movieId", "rating", "timestamp"], [
        (10, 1, "5.0", 100), (10, 2, "4.0", 300), (10, 3, "2.0", 400), (10, 4, "3.5", 200),
        (20, 1, "3.0", 150), (20, 2, "1.5", 160),
        (30, 1, "4.5", 500), (30, 4, "4.0", 500),
    ])
    write_csv(folder / "tags.csv", ["userId", "movieId", "tag", "timestamp"], [
        (10, 1, "pixar", 1), (20, 1, "fun", 2), (30, 1, "Pixar", 3), (10, 2, "dark", 4),
        (10, 1, "toys", 5),
    ])
    return tmp_path / "datasets"


def test_prepare_converts_a_fake_copy(prep, fake, tmp_path, capsys):
    out = tmp_path / "out"
    assert prep.main(["--datasets", str(fake), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 items (4 rated, 2 with tags, 1 without a year)" in printed
    assert "8 ratings by 3 users" in printed
    assert "2 users with a test item, 1 without one" in printed
    assert sorted(p.name for p in out.iterdir()) == ["interactions.csv", "items.csv", "test.csv",
                                                     "train.csv"]
    items = pd.read_csv(out / "items.csv", dtype=str, keep_default_na=False)
    assert list(items.columns) == ["item_id", "title", "year", "genres", "tags"]
    assert items.to_dict("records") == [
        {"item_id": "1", "title": "Toy Story", "year": "1995",
         "genres": "Adventure, Animation, Children", "tags": "pixar, fun, toys"},
        {"item_id": "2", "title": "City of Lost Children, The (Cité des enfants perdus, La)",
         "year": "1995", "genres": "Drama, Sci-Fi", "tags": "dark"},
        {"item_id": "3", "title": "Babylon 5", "year": "", "genres": "", "tags": ""},
        {"item_id": "4", "title": "Death Note: Desu nôto", "year": "2006", "genres": "Anime",
         "tags": ""},
    ]
    log = pd.read_csv(out / "interactions.csv", dtype={"user_id": str, "item_id": str})
    assert list(log.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert list(log["timestamp"]) == [100, 150, 160, 200, 300, 400, 500, 500]  # time-ordered
    test = pd.read_csv(out / "test.csv", dtype=str)
    assert list(zip(test["user_id"], test["item_id"], strict=True)) == [("10", "2"), ("30", "4")]
    train = pd.read_csv(out / "train.csv", dtype=str)
    assert list(zip(train["user_id"], train["item_id"], strict=True)) == [
        ("10", "1"), ("20", "1"), ("20", "2"), ("10", "4")]
    assert list(train.columns) == list(log.columns)


def test_no_split_and_max_tags(prep, fake, tmp_path, capsys):
    out = tmp_path / "out"
    assert prep.main(["--datasets", str(fake), "--out", str(out), "--no-split",
                      "--max-tags", "1"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["interactions.csv", "items.csv"]
    items = pd.read_csv(out / "items.csv", dtype=str, keep_default_na=False)
    assert items["tags"].tolist()[:2] == ["pixar", "dark"]


def test_missing_folder_and_bad_columns_say_how_to_fix(prep, fake, tmp_path, capsys):
    assert prep.main(["--datasets", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "pass --datasets DIR" in capsys.readouterr().err
    (fake / "movielens_latest_small" / "tags.csv").write_text("user,movie,label\n1,1,x\n")
    assert prep.main(["--datasets", str(fake), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "expected columns ['userId', 'movieId', 'tag', 'timestamp']" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "ratings.csv").is_file(),
                    reason=f"MovieLens ml-latest-small not found at {REAL}")
def test_prepare_on_the_real_movielens(prep, tmp_path, capsys):
    out = tmp_path / "movielens"
    assert prep.main(["--datasets", str(DATASETS), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "9742 items" in printed and "100836 ratings by 610 users" in printed
    items = pd.read_csv(out / "items.csv", dtype=str, keep_default_na=False)
    assert len(items) == 9742 and items["item_id"].is_unique
    assert items.loc[items["item_id"] == "1", "title"].item() == "Toy Story"
    train = pd.read_csv(out / "train.csv", dtype={"user_id": str, "item_id": str})
    test = pd.read_csv(out / "test.csv", dtype={"user_id": str, "item_id": str})
    assert test["user_id"].is_unique and (test["rating"] >= 4.0).all()
    assert len(train) + len(test) <= 100836
    last_train = train.groupby("user_id")["timestamp"].max()
    test_ts = test.set_index("user_id")["timestamp"]
    assert (last_train.reindex(test_ts.index).fillna(-1) < test_ts).all()  # strictly before

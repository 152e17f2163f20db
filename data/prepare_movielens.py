"""Convert MovieLens ml-latest-small into the recommender's catalogue, log and split.

Input: ``movielens_latest_small/{movies,ratings,tags}.csv`` under the datasets folder
(``--datasets``, else ``$DOMAINTUNE_DATASETS``, else ``../shared/datasets`` beside the
repository; see its ``README.txt``): 9,742 movies (``movieId,title,genres``), 100,836 ratings
(``userId,movieId,rating,timestamp``; 0.5-5.0 stars, epoch seconds UTC) by 610 users and 3,683
tag applications (``userId,movieId,tag,timestamp``).

Output (``--out``, default ``data/movielens/``), UTF-8 CSV with a header row, each file written
atomically (temporary file in the folder, then rename):

| file | columns | what |
|---|---|---|
| ``items.csv`` | ``item_id,title,year,genres,tags`` | every movie of ``movies.csv``, in its order |
| ``interactions.csv`` | ``user_id,item_id,rating,timestamp`` | every rating, ordered by time (stable: ties keep the source order) |
| ``train.csv`` / ``test.csv`` | as ``interactions.csv`` | the leave-last-out split (unless ``--no-split``) |

* ``title``: the source title without its trailing year, ``Toy Story (1995)`` -> ``Toy Story``
  (titles without a year stay as they are); ``year``: that year (a range ``(2006–2007)`` gives
  its first year), empty when the title has none.
* ``genres``: ``Adventure|Animation`` -> ``Adventure, Animation``; ``(no genres listed)`` -> empty.
* ``tags``: the movie's distinct user tags (compared case-insensitively, spelled as first
  written), most frequent first (ties: first written first), at most ``--max-tags`` (20), joined
  by ``", "``.
* Ids are the source's integers as strings; ratings and timestamps are as in the source.
  Ratings of movies missing from ``movies.csv`` are dropped and counted (none in the release).

Split (:func:`text_recommender.split.leave_last_out`): per user, the last rating >=
``--min-rating`` (4.0) is the test row and the training rows are the user's ratings strictly
before it in time; users without such a rating keep everything in training.

The GroupLens licence allows research use and redistribution of transformations under the
same conditions, no commercial use; the generated folder is git-ignored.

Usage:
    python data/prepare_movielens.py [--datasets DIR] [--out data/movielens] [--min-rating 4.0]
        [--no-split] [--max-tags 20]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from domaintune.persistence import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))
DEFAULT_OUT = ROOT / "data" / "movielens"
SOURCE = "movielens_latest_small"
REQUIRED = {
    "movies.csv": ("movieId", "title", "genres"),
    "ratings.csv": ("userId", "movieId", "rating", "timestamp"),
    "tags.csv": ("userId", "movieId", "tag", "timestamp"),
}
ITEM_COLUMNS = ["item_id", "title", "year", "genres", "tags"]
LOG_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
NO_GENRES = "(no genres listed)"
_YEAR = r"\s*\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$"


class PrepareError(ValueError):
    """A source file is missing or malformed."""


def read_source(folder: Path, name: str) -> pd.DataFrame:
    """One MovieLens CSV as strings (ids stay exactly as written), columns validated."""
    path = folder / name
    if not path.is_file():
        raise PrepareError(f"expected the MovieLens file {path}, found no such file; pass "
                           f"--datasets DIR (the folder holding {SOURCE}/) or set "
                           "DOMAINTUNE_DATASETS")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in REQUIRED[name] if c not in frame.columns]
    if missing:
        raise PrepareError(f"{path}: expected columns {list(REQUIRED[name])}, found "
                           f"{list(frame.columns)}; is this MovieLens ml-latest-small?")
    return frame


def _numeric(frame: pd.DataFrame, column: str, path: str, *, integer: bool) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | ((values % 1 != 0) if integer else False)
    if bad.any():
        line = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise PrepareError(f"{path} line {line}: expected a number in {column!r}, found "
                           f"{frame[column].iloc[line - 2]!r}")
    return values.astype("int64") if integer else values.astype("float64")


def build_items(movies: pd.DataFrame, tags: pd.DataFrame, max_tags: int = 20) -> pd.DataFrame:
    """The catalogue: ``item_id,title,year,genres,tags`` (see the module docstring)."""
    raw = movies["title"].str.strip()
    year = raw.str.extract(_YEAR, expand=False)
    title = raw.str.replace(_YEAR, "", regex=True).str.strip()
    title = title.where(title != "", raw)  # a title that is only "(1995)" keeps it
    genres = movies["genres"].str.strip()
    genres = genres.where(genres != NO_GENRES, "").str.split("|").str.join(", ")
    items = pd.DataFrame({"item_id": movies["movieId"].str.strip(), "title": title,
                          "year": pd.to_numeric(year).astype("Int64"), "genres": genres})
    items["tags"] = items["item_id"].map(movie_tags(tags, max_tags)).fillna("")
    return items[ITEM_COLUMNS]


def movie_tags(tags: pd.DataFrame, max_tags: int = 20) -> pd.Series:
    """Per movie id, its distinct tags (case-insensitive), most frequent first, ``", "``-joined."""
    t = pd.DataFrame({"item": tags["movieId"].str.strip(), "tag": tags["tag"].str.strip()})
    t = t[t["tag"] != ""]
    t["key"] = t["tag"].str.lower()
    t["pos"] = range(len(t))
    grouped = t.groupby(["item", "key"], sort=False).agg(
        tag=("tag", "first"), count=("tag", "size"), pos=("pos", "min")).reset_index()
    grouped = grouped.sort_values(["item", "count", "pos"], ascending=[True, False, True])
    grouped = grouped.groupby("item", sort=False).head(max_tags)
    return grouped.groupby("item", sort=False)["tag"].agg(", ".join)


def build_interactions(ratings: pd.DataFrame, path: str = "ratings.csv") -> pd.DataFrame:
    """``user_id,item_id,rating,timestamp`` ordered by time (stable on the source order)."""
    log = pd.DataFrame({"user_id": ratings["userId"].str.strip(),
                        "item_id": ratings["movieId"].str.strip(),
                        "rating": _numeric(ratings, "rating", path, integer=False),
                        "timestamp": _numeric(ratings, "timestamp", path, integer=True)})
    return log.sort_values("timestamp", kind="stable").reset_index(drop=True)


def to_app_frame(log: pd.DataFrame) -> pd.DataFrame:
    """The app's interactions frame (``user``, ``item``, ``rating``, ``ts``) of a log."""
    return pd.DataFrame({"user": log["user_id"], "item": log["item_id"],
                         "rating": log["rating"].astype("float64"),
                         "ts": log["timestamp"].astype("int64")})


def from_app_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"user_id": frame["user"], "item_id": frame["item"],
                         "rating": frame["rating"], "timestamp": frame["ts"]})


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_text_atomic(path, frame.to_csv(index=False))


def prepare(datasets: Path, out: Path, *, split: bool = True, min_rating: float = 4.0,
            max_tags: int = 20) -> dict:
    """Read, convert, split and write; returns the counts printed by :func:`main`."""
    from text_recommender.split import leave_last_out

    folder = datasets / SOURCE
    movies, ratings, tags = (read_source(folder, name) for name in REQUIRED)
    items = build_items(movies, tags, max_tags)
    if items["item_id"].duplicated().any():
        dup = items.loc[items["item_id"].duplicated(), "item_id"].iloc[0]
        raise PrepareError(f"{folder / 'movies.csv'}: expected one row per movieId, found "
                           f"movieId {dup} more than once")
    log = build_interactions(ratings, str(folder / "ratings.csv"))
    known = log["item_id"].isin(items["item_id"])
    log = log[known].reset_index(drop=True)
    counts = {"source": str(folder), "output": str(out), "items": len(items),
              "items_rated": int(log["item_id"].nunique()),
              "items_with_tags": int((items["tags"] != "").sum()),
              "items_without_year": int(items["year"].isna().sum()),
              "users": int(log["user_id"].nunique()), "interactions": len(log),
              "ratings_of_unknown_movies": int((~known).sum()), "tag_applications": len(tags),
              "files": ["items.csv", "interactions.csv"]}
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "items.csv", items)
    write_csv(out / "interactions.csv", log)
    if split:
        train, test, report = leave_last_out(to_app_frame(log), min_rating=min_rating)
        write_csv(out / "train.csv", from_app_frame(train))
        write_csv(out / "test.csv", from_app_frame(test))
        counts["split"] = report.to_dict()
        counts["files"] += ["train.csv", "test.csv"]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS,
                        help=f"folder holding {SOURCE}/ (default: $DOMAINTUNE_DATASETS or "
                             "../shared/datasets beside the repository)")
    parser.add_argument("--out", "--output", dest="out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default data/movielens)")
    parser.add_argument("--min-rating", type=float, default=4.0,
                        help="a test row is the user's last rating >= this (default 4.0)")
    parser.add_argument("--max-tags", type=int, default=20, help="tags kept per movie")
    parser.add_argument("--no-split", dest="split", action="store_false",
                        help="write items.csv and interactions.csv only")
    args = parser.parse_args(argv)
    if args.max_tags < 0:
        parser.error(f"expected --max-tags >= 0, found {args.max_tags}")
    try:
        c = prepare(args.datasets, args.out, split=args.split, min_rating=args.min_rating,
                    max_tags=args.max_tags)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"read {c['items']} movies, {c['interactions'] + c['ratings_of_unknown_movies']} "
          f"ratings and {c['tag_applications']} tag applications from {c['source']}")
    print(f"  items.csv         {c['items']:>7} items ({c['items_rated']} rated, "
          f"{c['items_with_tags']} with tags, {c['items_without_year']} without a year)")
    print(f"  interactions.csv  {c['interactions']:>7} ratings by {c['users']} users "
          f"({c['ratings_of_unknown_movies']} ratings of movies not in movies.csv dropped)")
    if "split" in c:
        s = c["split"]
        print(f"  train.csv         {s['train_rows']:>7} rows")
        print(f"  test.csv          {s['test_rows']:>7} rows (the last rating >= "
              f"{s['min_rating']} of each user)")
        print(f"  {s['users_with_test']} users with a test item, {s['users_without_test']} "
              f"without one (all their ratings train); {s['dropped_same_or_later']} ratings at or "
              "after a user's test time left out of training")
    print(f"wrote {len(c['files'])} files to {c['output']} (GroupLens licence: research use only, "
          "do not commit them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Items and interactions: column mapping, item text, timestamps in several formats, and every
dropped row counted by reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domaintune.errors import DataError
from text_recommender.config import DataConfig
from text_recommender.data import load_interactions, load_items, normalize_id, parse_timestamps


def _items(**extra):
    data = {"item_id": [1, 2, 3], "title": ["Alien", "Heat", "Up"],
            "genres": ["Horror|Sci-Fi", "Crime", "Animation"], "year": [1979, 1995, 2009]}
    data.update(extra)
    return pd.DataFrame(data)


def test_item_text_uses_every_non_id_text_column_and_skips_numbers():
    catalog, report = load_items(_items(), DataConfig())
    assert catalog.ids == ["1", "2", "3"]
    assert catalog.texts[0] == "title: Alien. genres: Horror, Sci-Fi"
    assert report.text_fields == ["title", "genres"]
    assert catalog.categories == ["Horror|Sci-Fi", "Crime", "Animation"]  # every label
    assert catalog.titles == ["Alien", "Heat", "Up"]


def test_text_fields_option_and_a_missing_field_names_the_fix():
    catalog, _ = load_items(_items(), DataConfig(), text_fields=["genres", "year"])
    assert catalog.texts[1] == "genres: Crime. year: 1995"
    with pytest.raises(DataError, match=r"text field 'genre'.*did you mean 'genres'.*--text-fields"):
        load_items(_items(), DataConfig(), text_fields=["genre"])


def test_missing_id_column_names_the_option():
    with pytest.raises(DataError, match=r"item id column 'item_id'.*--item-id-column"):
        load_items(_items().rename(columns={"item_id": "movieId"}), DataConfig())
    catalog, _ = load_items(_items().rename(columns={"item_id": "movieId"}),
                            DataConfig(item_id_column="movieId"))
    assert len(catalog) == 3


def test_duplicate_ids_and_empty_texts_are_counted():
    frame = pd.DataFrame({"item_id": ["a", "a", "b", "c", None],
                          "title": ["First", "Second", "", "Gamma", "x"],
                          "description": ["one", "two", "", "", "y"]})
    catalog, report = load_items(frame, DataConfig())
    assert catalog.ids == ["a", "b", "c"]
    assert catalog.titles[0] == "First"  # the first row of a repeated id is kept
    assert report.duplicate_ids == 1 and report.missing_ids == 1
    assert report.empty_text == 1  # b: no text at all -> its id
    assert catalog.texts[1] == "item b" and catalog.texts[2] == "title: Gamma"


def test_in_stock_column_is_read_and_bad_values_name_the_row(tmp_path):
    catalog, _ = load_items(_items(in_stock=["true", "no", "1"]), DataConfig())
    assert catalog.in_stock.tolist() == [True, False, True]
    path = tmp_path / "items.csv"
    _items(in_stock=["yes", "maybe", "1"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"items.csv row 3: in_stock expects true/false"):
        load_items(path, DataConfig())  # row 3 of the file: the header is row 1


def test_timestamps_in_several_formats():
    ts, bad, formats = parse_timestamps(pd.Series([
        "1700000000", 1700000000.7, "1700000000000", "2023-11-14", "2023-11-14T22:13:20Z",
        "2023-11-15T00:13:20+02:00", "not a date", ""]))
    assert ts[:6].tolist() == [1700000000, 1700000000, 1700000000, 1699920000, 1700000000,
                               1700000000]
    assert bad.tolist() == [False] * 6 + [True, True]
    assert formats == {"epoch_seconds": 2, "epoch_milliseconds": 1, "iso": 3}


def test_interactions_drop_and_count_by_reason():
    catalog, _ = load_items(_items(), DataConfig())
    frame = pd.DataFrame({
        "user_id": ["u1", "u1", "", "u2", "u2", "u2", "u3", "u3"],
        "item_id": [1, 2, 1, 99, 3, 3, None, "2.0"],
        "rating": ["5", "x", "4", "4", "3", "3", "5", "4"],
        "timestamp": ["2024-01-02", "1700000000", "1700000000", "1700000000", "1700000100",
                      "1700000100", "1700000000", "garbage"],
    })
    out, report = load_interactions(frame, DataConfig(), catalog)
    assert report.dropped == {"missing_user": 1, "missing_item": 1, "unknown_item": 1,
                              "bad_timestamp": 1, "bad_rating": 1, "duplicate": 1}
    assert report.kept == len(out) == 2 and report.rows == 8
    assert out["ts"].is_monotonic_increasing
    assert out[["user", "item"]].values.tolist() == [["u2", "3"], ["u1", "1"]]


def test_missing_rating_column_is_implicit_and_missing_time_column_names_the_option():
    frame = pd.DataFrame({"user_id": ["u1"], "item_id": ["1"], "timestamp": ["1700000000"]})
    out, report = load_interactions(frame, DataConfig())
    assert report.implicit and out["rating"].tolist() == [1.0]
    with pytest.raises(DataError, match=r"timestamp column 'timestamp'.*--time-column"):
        load_interactions(frame.rename(columns={"timestamp": "when"}), DataConfig())


def test_no_interaction_left_is_one_clear_error():
    catalog, _ = load_items(_items(), DataConfig())
    frame = pd.DataFrame({"user_id": ["u1"], "item_id": ["42"], "timestamp": ["1700000000"]})
    with pytest.raises(DataError, match=r"no interactions left.*unknown_item"):
        load_interactions(frame, DataConfig(), catalog)


@pytest.mark.parametrize("value,expected", [(12, "12"), ("12", "12"), (12.0, "12"), ("12.0", "12"),
                                            (np.int64(7), "7"), (" a ", "a"), (None, None),
                                            (float("nan"), None), ("", None)])
def test_ids_are_strings(value, expected):
    assert normalize_id(value) == expected

"""Data loading: formats, column mapping, splits and every bad-input case named in the issue."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from domaintune import (
    DataError,
    TextDataset,
    load_dataset,
    sample_per_class,
    train_validation_split,
)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_column_mapping(toy_csv):
    data = load_dataset(toy_csv, text="body", label="queue")
    assert len(data) == 32
    assert data.label_names == ["card", "greeting", "login", "refund"]
    assert data.rows[0] == 1


def test_jsonl_parquet_dataframe_and_datasets_agree(tmp_path, toy_csv):
    frame = pd.read_csv(toy_csv)
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")) + "\n\n")
    parquet = tmp_path / "t.parquet"
    frame.to_parquet(parquet)
    import datasets

    sources = [toy_csv, jsonl, parquet, frame, datasets.Dataset.from_pandas(frame)]
    loaded = [load_dataset(s, text="body", label="queue") for s in sources]
    for data in loaded:
        assert data.texts == loaded[0].texts
        assert data.labels == loaded[0].labels


def test_stratified_split_is_seeded_and_keeps_every_class(toy_csv):
    train, val = load_dataset(toy_csv, text="body", label="queue", split=0.25, seed=3)
    train2, val2 = load_dataset(toy_csv, text="body", label="queue", split=0.25, seed=3)
    assert val.texts == val2.texts and train.texts == train2.texts
    assert len(train) + len(val) == 32
    assert set(val.labels) == {"card", "greeting", "login", "refund"}
    assert not set(zip(train.rows, train.texts, strict=True)) & set(zip(val.rows, val.texts, strict=True))


def test_multi_label_from_strings_and_lists(tmp_path):
    csv = write(tmp_path / "m.csv", "text,tags\ncard lost,card|urgent\nhello,greeting\n")
    data = load_dataset(csv, label="tags", multi_label=True)
    assert data.labels == [["card", "urgent"], ["greeting"]]
    jsonl = write(tmp_path / "m.jsonl", '{"text": "a", "tags": ["x", "y"]}\n{"text": "b", "tags": ["y"]}\n')
    data = load_dataset(jsonl, label="tags", multi_label=True)
    assert data.labels == [["x", "y"], ["y"]]
    assert data.label_names == ["x", "y"]


def test_missing_columns_lists_columns_found_and_suggests(toy_csv):
    with pytest.raises(DataError, match=r"expected columns \['text', 'label'\] in .*tickets.csv, "
                                        r"found \['body', 'queue'\]; pass text=.*label="):
        load_dataset(toy_csv)


def test_empty_and_whitespace_texts_name_rows(tmp_path):
    path = write(tmp_path / "e.csv", 'text,label\nok,a\n"   ",b\n,a\nfine,b\n')
    with pytest.raises(DataError, match=r"e.csv: rows 2, 3 have an empty or non-text value in "
                                        r"column 'text' \(2 of 4 rows\)"):
        load_dataset(path)


def test_missing_labels_name_rows(tmp_path):
    path = write(tmp_path / "l.csv", "text,label\nok,a\nno label here,\n")
    with pytest.raises(DataError, match=r"l.csv: row 2 has no label in column 'label'"):
        load_dataset(path)
    jsonl = write(tmp_path / "l.jsonl", '{"text": "x", "label": null}\n')
    with pytest.raises(DataError, match=r"row 1 has no label"):
        load_dataset(jsonl)


def test_non_utf8_file_suggests_encoding(tmp_path):
    path = write(tmp_path / "latin.csv", "text,label\ncaf\u00e9 au lait,drink\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"latin.csv: cannot decode line 2 as utf-8.*pass encoding='latin-1'"):
        load_dataset(path)
    data = load_dataset(path, encoding="latin-1")
    assert data.texts == ["caf\u00e9 au lait"]


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(DataError, match=r"empty.csv is empty: expected a header row"):
        load_dataset(write(tmp_path / "empty.csv", ""))
    with pytest.raises(DataError, match=r"header.csv is empty"):
        load_dataset(write(tmp_path / "header.csv", "text,label\n"))


def test_single_example_class_cannot_be_stratified(tmp_path):
    path = write(tmp_path / "s.csv", "text,label\n" + "a,x\nb,x\nc,x\nd,y\ne,y\nf,y\ng,lonely\n")
    with pytest.raises(DataError, match=r"cannot stratify.*class \['lonely'\] has a single "
                                        r"example; add examples, remove the class, or pass stratify=False"):
        load_dataset(path, split=0.3)
    train, val = load_dataset(path, split=0.3, stratify=False)
    assert len(train) + len(val) == 7


def test_missing_file_bad_json_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv does not exist"):
        load_dataset(tmp_path / "nope.csv")
    bad = write(tmp_path / "b.jsonl", '{"text": "a", "label": "x"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"b.jsonl: line 2 is not valid JSON"):
        load_dataset(bad)
    with pytest.raises(DataError, match=r"unsupported file type '.xlsx'"):
        load_dataset(write(tmp_path / "t.xlsx", "x"))


def test_split_fraction_validated_and_few_shot_sampling(toy_csv):
    data = load_dataset(toy_csv, text="body", label="queue")
    with pytest.raises(DataError, match="between 0 and 1"):
        train_validation_split(data, 1.5)
    few = sample_per_class(data, 2, seed=1)
    assert few.label_counts() == {"card": 2, "greeting": 2, "login": 2, "refund": 2}
    assert sample_per_class(data, 2, seed=1).texts == few.texts
    multi = TextDataset(texts=["a", "b", "c", "d"], labels=[["x"], [], ["x", "y"], []],
                        multi_label=True)
    assert sorted(sample_per_class(multi, 1, seed=0).texts) in (["a", "b"], ["a", "d"],
                                                               ["b", "c"], ["c", "d"])


def test_dataset_label_length_mismatch():
    with pytest.raises(DataError, match="one label per text"):
        TextDataset(texts=["a", "b"], labels=["x"])

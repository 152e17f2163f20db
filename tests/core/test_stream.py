"""The chunked reader: every format, numbering, resumption, malformed lines, clear errors."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from domaintune.errors import DataError
from domaintune.stream import ReadReport, file_fingerprint, read_chunks, stream_format

ROWS = [{"id": str(i), "timestamp": f"2026-01-05T10:{i:02d}:00Z", "text": f"post {i}"}
        for i in range(1, 8)]


def write_jsonl(path, rows, *, compress=False):
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def collect(path, **kwargs):
    kwargs.setdefault("chunk_size", 3)
    return list(read_chunks(path, **kwargs))


def texts(chunks):
    return [t for c in chunks for t in c.frame["text"].tolist()]


@pytest.fixture(params=["csv", "csv.gz", "tsv", "jsonl", "jsonl.gz", "ndjson", "parquet"])
def any_file(request, tmp_path):
    kind = request.param
    path = tmp_path / f"posts.{kind}"
    frame = pd.DataFrame(ROWS)
    if kind.startswith("csv"):
        frame.to_csv(path, index=False, compression="gzip" if kind.endswith("gz") else None)
    elif kind == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif kind == "parquet":
        frame.to_parquet(path, row_group_size=2)  # chunks must span row groups
    else:
        write_jsonl(path, ROWS, compress=kind.endswith("gz"))
    return path


def test_every_format_reads_all_rows_in_numbered_chunks(any_file):
    report = ReadReport()
    chunks = collect(any_file, report=report)
    assert [len(c.frame) for c in chunks] == [3, 3, 1]
    assert [c.first_row for c in chunks] == [1, 4, 7]
    assert [c.last_row for c in chunks] == [3, 6, 7]
    assert texts(chunks) == [r["text"] for r in ROWS]
    assert list(chunks[0].frame.columns) == ["id", "timestamp", "text"]
    assert chunks[1].frame.index.tolist() == [0, 1, 2]
    assert chunks[0].frame["timestamp"].iloc[0] == "2026-01-05T10:01:00Z"  # not parsed
    assert report.rows == 7 and report.malformed_count == 0
    if "jsonl" in any_file.name or "ndjson" in any_file.name:
        assert chunks[1].line_numbers == [4, 5, 6]
    else:
        assert chunks[1].line_numbers is None


def test_columns_are_projected_in_the_order_asked(any_file):
    chunks = collect(any_file, columns=["text", "id"], chunk_size=10)
    assert list(chunks[0].frame.columns) == ["text", "id"]
    assert chunks[0].frame["id"].tolist() == [str(i) for i in range(1, 8)]


@pytest.mark.parametrize("skip", [0, 1, 3, 5, 7, 20])
def test_skip_rows_resumes_with_the_same_numbering(any_file, skip):
    report = ReadReport()
    chunks = collect(any_file, skip_rows=skip, report=report)
    assert texts(chunks) == [r["text"] for r in ROWS][skip:]
    if chunks:
        assert chunks[0].first_row == skip + 1
        assert sum(len(c) for c in chunks) == 7 - skip
    assert report.skipped == min(skip, 7) and report.rows == max(0, 7 - skip)


def test_chunk_size_one_and_larger_than_the_file(any_file):
    assert [c.first_row for c in collect(any_file, chunk_size=1)] == list(range(1, 8))
    (only,) = collect(any_file, chunk_size=1000)
    assert len(only.frame) == 7 and only.first_row == 1


def test_jsonl_malformed_middle_line_is_reported_and_the_rest_read(tmp_path):
    lines = [json.dumps(ROWS[0]), json.dumps(ROWS[1]), '{"id": "x", "text": ', "",
             "[1, 2]", json.dumps(ROWS[2]), "   ", '"just a string"', json.dumps(ROWS[3])]
    path = write_jsonl(tmp_path / "posts.jsonl", lines)
    report = ReadReport()
    chunks = collect(path, report=report, chunk_size=2)
    assert texts(chunks) == ["post 1", "post 2", "post 3", "post 4"]
    assert [c.first_row for c in chunks] == [1, 3]  # malformed and blank lines take no number
    assert chunks[1].line_numbers == [6, 9]
    assert [n for n, _ in report.malformed] == [3, 5, 8]
    assert "invalid JSON" in report.malformed[0][1]
    assert report.malformed[1][1] == "expected a JSON object, found an array"
    assert report.malformed[2][1] == "expected a JSON object, found a string"
    assert report.malformed_count == 3 and report.blank_lines == 2 and report.rows == 4
    assert "3 malformed lines skipped (line 3, 5, 8" in report.summary("posts.jsonl")


def test_jsonl_malformed_lines_before_the_resume_point_are_still_reported(tmp_path):
    path = write_jsonl(tmp_path / "posts.jsonl", [ROWS[0], "{oops", ROWS[1], ROWS[2]])
    report = ReadReport()
    chunks = collect(path, report=report, skip_rows=1)
    assert texts(chunks) == ["post 2", "post 3"] and chunks[0].first_row == 2
    assert chunks[0].line_numbers == [3, 4]
    assert report.malformed == [(2, report.malformed[0][1])] and report.skipped == 1


def test_jsonl_malformed_gzip_and_undecodable_line(tmp_path):
    path = tmp_path / "posts.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b'{"text": "ok"}\n{"text": "caf\xe9"}\n{"text": "end"}\n')
    report = ReadReport()
    assert texts(collect(path, report=report)) == ["ok", "end"]
    assert report.malformed[0][0] == 2 and "cannot decode as utf-8" in report.malformed[0][1]
    # the same bytes in the right encoding
    report = ReadReport()
    assert texts(collect(path, report=report, encoding="latin-1")) == ["ok", "café", "end"]


def test_only_the_first_malformed_lines_are_kept_but_all_are_counted(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", ["nope"] * 30 + [ROWS[0]])
    report = ReadReport()
    assert texts(collect(path, report=report)) == ["post 1"]
    assert report.malformed_count == 30 and len(report.malformed) == 20


def test_jsonl_record_missing_a_key_gets_nan(tmp_path):
    path = write_jsonl(tmp_path / "posts.jsonl", [{"id": "1", "text": "a"}, {"id": "2"},
                                                  {"id": 3, "text": "c", "extra": [1]}])
    (chunk,) = collect(path, columns=["id", "text"])
    assert chunk.frame["id"].tolist() == ["1", "2", 3]  # JSON numbers stay numbers
    assert pd.isna(chunk.frame["text"].iloc[1])
    (everything,) = collect(path)
    assert list(everything.frame.columns) == ["id", "text", "extra"]


def test_csv_cells_are_strings_and_empty_stays_empty(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text('id,text,score\n1,,NA\n2,"two, with comma\nand a newline",3.5\n3\n',
                    encoding="utf-8")
    (chunk,) = collect(path)
    assert chunk.frame.to_dict("list") == {"id": ["1", "2", "3"],
                                           "text": ["", "two, with comma\nand a newline", ""],
                                           "score": ["NA", "3.5", ""]}


def test_csv_row_with_too_many_fields_is_reported_and_skipped(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("id,text\n1,a\n2,b,oops\n3,c\n4,d\n", encoding="utf-8")
    report = ReadReport()
    chunks = collect(path, report=report, chunk_size=2)
    assert texts(chunks) == ["a", "c", "d"]
    assert [len(c) for c in chunks] == [2, 1] and [c.first_row for c in chunks] == [1, 3]
    assert report.malformed == [(3, "expected 2 fields, saw 3")]


def test_csv_unterminated_quote_is_a_clear_error(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('id,text\n1,a\n2,"never closed\n3,c\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"quote\.csv: malformed CSV .*check the quoting"):
        collect(path)


def test_csv_with_bom_and_latin1(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,text\n1,hé\n".encode())
    assert collect(path, columns=["id"])[0].frame["id"].tolist() == ["1"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,text\n1,café\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: cannot decode .* as utf-8.*encoding='latin-1'"):
        collect(latin)
    assert texts(collect(latin, encoding="latin-1")) == ["café"]


@pytest.mark.parametrize("name,content", [
    ("empty.csv", b""), ("header.csv", b"id,text\n"), ("empty.jsonl", b""),
    ("blank.jsonl", b"\n\n  \n"), ("empty.jsonl.gz", gzip.compress(b"")),
    ("empty.csv.gz", b""), ("empty.parquet", b""),
])
def test_empty_files_yield_no_chunk(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    report = ReadReport()
    assert collect(path, report=report) == [] and report.rows == 0


def test_empty_parquet_table_yields_no_chunk(tmp_path):
    path = tmp_path / "none.parquet"
    pd.DataFrame({"id": pd.Series([], dtype=str), "text": pd.Series([], dtype=str)}).to_parquet(path)
    assert collect(path, columns=["text"]) == []


@pytest.mark.parametrize("kind", ["csv", "tsv", "parquet", "jsonl"])
def test_missing_columns_name_the_file_and_the_columns_found(tmp_path, kind):
    path = tmp_path / f"posts.{kind}"
    frame = pd.DataFrame(ROWS)
    if kind == "parquet":
        frame.to_parquet(path)
    elif kind == "jsonl":
        write_jsonl(path, ROWS)
    else:
        frame.to_csv(path, index=False, sep="\t" if kind == "tsv" else ",")
    with pytest.raises(DataError, match=r"expected columns \['body'\] in .*posts\." + kind
                       + r".*found \['id', 'timestamp', 'text'\]"):
        collect(path, columns=["id", "body"])


def test_missing_columns_in_csv_fail_before_any_row_is_read(tmp_path):
    path = tmp_path / "posts.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    with pytest.raises(DataError, match="expected columns"):
        read_chunks(path, chunk_size=2, columns=["body"])  # no next() needed


def test_duplicate_csv_header_is_an_error(tmp_path):
    path = tmp_path / "dupes.csv"
    path.write_text("text,text\na,b\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"\['text'\] appears more than once"):
        collect(path)


@pytest.mark.parametrize("name", ["posts.xlsx", "posts", "posts.txt.gz", "posts.parquet.gz"])
def test_unknown_extension_lists_the_supported_ones(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"cannot stream a file of type .*expected one of \['.csv'"):
        read_chunks(path, chunk_size=10)


def test_json_file_holding_lines_is_streamed_and_an_array_is_refused(tmp_path):
    lines = write_jsonl(tmp_path / "lines.json", ROWS[:2])
    assert texts(collect(lines)) == ["post 1", "post 2"]
    array = tmp_path / "array.json"
    array.write_text(json.dumps(ROWS), encoding="utf-8")
    with pytest.raises(DataError, match="a JSON array cannot be streamed"):
        collect(array)


def test_missing_file_directory_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_chunks(tmp_path / "nope.csv", chunk_size=10)
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="found the directory"):
        read_chunks(folder, chunk_size=10)
    path = write_jsonl(tmp_path / "a.jsonl", ROWS)
    with pytest.raises(ValueError, match="chunk_size to be an integer of 1 or more, found 0"):
        read_chunks(path, chunk_size=0)
    with pytest.raises(ValueError, match="skip_rows"):
        read_chunks(path, chunk_size=1, skip_rows=-1)
    with pytest.raises(DataError, match="unknown encoding 'utf-9'"):
        read_chunks(path, chunk_size=1, encoding="utf-9")


def test_damaged_gzip_and_parquet_are_clear_errors(tmp_path):
    fake = tmp_path / "fake.csv.gz"
    fake.write_text("id,text\n1,a\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a readable gzip file"):
        collect(fake)
    truncated = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(b"".join(b'{"text": "%d"}\n' % (i * 7919) for i in range(5000)))
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut\.jsonl\.gz: not a readable gzip file after line"):
        collect(truncated)
    parquet = tmp_path / "bad.parquet"
    parquet.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        collect(parquet)


def test_reading_is_lazy_and_bounded_by_the_chunk(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [{"text": f"t{i}"} for i in range(10_000)])
    chunks = read_chunks(path, chunk_size=100)
    first = next(chunks)
    assert len(first.frame) == 100 and first.frame["text"].iloc[-1] == "t99"
    assert sum(len(c) for c in chunks) == 9_900


def test_stream_format():
    assert stream_format("a/B.CSV.GZ") == ("csv", True)
    assert stream_format("x.ndjson") == ("jsonl", False)
    assert stream_format("x.pq") == ("parquet", False)


def test_file_fingerprint_is_stable_and_content_based(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", ROWS)
    b = write_jsonl(tmp_path / "b.jsonl", ROWS)
    assert file_fingerprint(a) == file_fingerprint(b) == file_fingerprint(str(a))
    assert len(file_fingerprint(a)) == 64
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert file_fingerprint(empty) == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    write_jsonl(b, ROWS[:-1])
    assert file_fingerprint(a) != file_fingerprint(b)
    with pytest.raises(DataError, match="is not a file"):
        file_fingerprint(tmp_path / "missing.csv")

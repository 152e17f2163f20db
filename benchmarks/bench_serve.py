"""Load test of the REST server (`domaintune serve`) with wrk from a second process, on loopback.

Usage:
    python benchmarks/bench_serve.py --model NAME=DIR [--model NAME=DIR ...]
        [--clients 1,8,16,64] [--duration 10] [--batch-size-one NAME] [--memory NAME --minutes 10]

For each model directory (a model saved by `domaintune train`, served with PyTorch, or an ONNX
export from `domaintune export`, served with ONNX Runtime), the script starts
``domaintune serve DIR --port P`` as a subprocess, waits for ``/ready``, and runs Debian's
``wrk`` (C, so the load generator takes little CPU from the server on 2 cores) with ``N``
connections for ``--duration`` seconds each: single-text ``POST /v1/predict`` requests, each
a BANKING77 test text (cycled; ``benchmarks/wrk_predict.lua``). It records requests/s (=
texts/s), p50/p90/p99 latency (wrk's ``--latency`` distribution), non-2xx responses and socket
errors, the batch sizes the server's micro-batcher formed (from ``/metrics``), and the server's
RSS. ``--batch-size-one NAME`` repeats NAME with ``--max-batch-size 1`` (what micro-batching
buys). ``--memory NAME`` runs 16 clients for ``--minutes`` and samples the server's RSS every
10 s (memory flat or not). One JSON line per run goes to ``benchmarks/out/serve.jsonl``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
LUA = ROOT / "wrk_predict.lua"
DATASETS = ROOT.parent.parent / "shared" / "datasets"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def texts_file(limit: int = 3080) -> Path:
    """BANKING77 test texts, one per line (the lua script cycles through them)."""
    import pandas as pd

    src = DATASETS / "banking77" / "test.csv"
    if not src.is_file():
        sys.exit(f"expected BANKING77 at {src} (../shared/datasets), found none")
    path = OUT / "banking77-test-texts.txt"
    OUT.mkdir(parents=True, exist_ok=True)
    texts = pd.read_csv(src)["text"].astype(str).str.replace("\n", " ").tolist()[:limit]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@contextlib.contextmanager
def server(model_dir: Path, extra: list[str]):
    port = free_port()
    cmd = [sys.executable, "-m", "domaintune.cli", "serve", str(model_dir), "--port", str(port),
           *extra]
    log = open(OUT / f"serve-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"the server exited ({proc.returncode}); see {log.name}")
            with contextlib.suppress(OSError):
                if get(base + "/ready", 2)[0] == 200:
                    break
            time.sleep(0.5)
        else:
            sys.exit(f"the server was not ready after 180 s; see {log.name}")
        yield base, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def batch_stats(base: str) -> dict[str, float]:
    """Mean batch size and batches formed, from the server's Prometheus histogram."""
    _, text = get(base + "/metrics")
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("domaintune_batch_size_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("domaintune_batch_size_count"):
            count += float(line.rsplit(" ", 1)[1])
    return {"batches": count, "texts": total, "mean_batch": round(total / count, 2) if count else 0}


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out: str) -> dict[str, float]:
    def ms(value: str) -> float:
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
        return round(float(m.group(1)) * UNITS[m.group(2)], 2) if m else float("nan")

    res: dict[str, float] = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = ms(m.group(1)) if m else float("nan")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["requests_per_s"] = float(m.group(1)) if m else float("nan")
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    return res


def run_wrk(base: str, clients: int, seconds: float, texts: Path) -> dict[str, float]:
    threads = min(2, clients)
    cmd = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{int(seconds)}s", "--latency",
           "--timeout", "10s", "-s", str(LUA), base + "/v1/predict"]
    env = {**os.environ, "TEXTS_FILE": str(texts)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(out)


def record(entry: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "serve.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    print(json.dumps(entry), flush=True)


def load_levels(name: str, model_dir: Path, clients: list[int], seconds: float, texts: Path,
                extra: list[str]) -> None:
    with server(model_dir, extra) as (base, proc):
        run_wrk(base, 4, 3, texts)  # warm-up
        for n in clients:
            before = batch_stats(base)
            res = run_wrk(base, n, seconds, texts)
            after = batch_stats(base)
            batches = after["batches"] - before["batches"]
            res["mean_batch"] = round((after["texts"] - before["texts"]) / batches, 2) \
                if batches else 0.0
            record({"run": "load", "model": name, "dir": str(model_dir), "server_args": extra,
                    "clients": n, "seconds": seconds, "rss_mb": round(rss_mb(proc.pid), 1),
                    "load_avg_1m": os.getloadavg()[0], "cpus": os.cpu_count(),
                    "date": datetime.now(timezone.utc).isoformat(timespec="minutes"), **res})


def memory_run(name: str, model_dir: Path, minutes: float, texts: Path) -> None:
    with server(model_dir, []) as (base, proc):
        samples, requests = [], 0
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            res = run_wrk(base, 16, 10, texts)
            requests += res["requests"]
            samples.append(round(rss_mb(proc.pid), 1))
            if res["non_2xx"] or res["socket_errors"]:
                print(f"errors in a window: {res}", file=sys.stderr)
        first = statistics.median(samples[: max(1, len(samples) // 5)])
        last = statistics.median(samples[-max(1, len(samples) // 5):])
        record({"run": "memory", "model": name, "dir": str(model_dir), "minutes": minutes,
                "clients": 16, "requests": requests, "rss_mb_samples": samples,
                "rss_first_fifth_mb": first, "rss_last_fifth_mb": last,
                "rss_growth_mb": round(last - first, 1),
                "date": datetime.now(timezone.utc).isoformat(timespec="minutes")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--clients", default="1,8,16,64")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--batch-size-one", action="append", default=[], metavar="NAME")
    parser.add_argument("--memory", metavar="NAME")
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("expected Debian's wrk (apt-get install wrk), found none")
    models = dict(m.split("=", 1) for m in args.model)
    texts = texts_file()
    clients = [int(c) for c in args.clients.split(",")]
    for name, d in models.items():
        load_levels(name, Path(d), clients, args.duration, texts, [])
    for name in args.batch_size_one:
        load_levels(name + " (batch size 1)", Path(models[name]), clients, args.duration, texts,
                    ["--max-batch-size", "1"])
    if args.memory:
        memory_run(args.memory, Path(models[args.memory]), args.minutes, texts)


if __name__ == "__main__":
    main()

"""Start-up benchmark: wall time of the console scripts, each run as a fresh process.

Usage:
    python benchmarks/bench_startup.py --label after [--runs 7]
    # the code of another commit, with the same environment:
    git worktree add /tmp/before 299c5ed
    PYTHONPATH=/tmp/before/shared:/tmp/before/apps python benchmarks/bench_startup.py --label before

Measures ``domaintune --help``, ``support-bot --help``, and ``domaintune predict`` of one message
on a saved PyTorch model directory and on its ONNX export (``domaintune export``): the median,
minimum and maximum of ``--runs`` runs after one warm-up run (so files are in the page cache),
and the exit status (a command the measured code does not support exits non-zero; it is
recorded, not hidden). The model is a ``frozen`` classifier on the packaged MiniLM, trained and
exported by the measured code into a temporary directory (removed at the end). The
console scripts are this environment's (``bin/domaintune``, ``bin/support-bot``), so
``PYTHONPATH`` picks the code they run. Every process runs in an empty scratch directory.

Appends one JSON line (command, machine, date, load averages before and after, figures) to
``benchmarks/out/startup.jsonl``; RESULTS.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
BIN = Path(sys.executable).parent
MESSAGE = "where is my card? it has not arrived"

BUILD = """
import sys
from pathlib import Path
from domaintune import TextClassifier, TextDataset, TrainingConfig

out = Path(sys.argv[1])
texts = {"card_arrival": ["where is my card", "my card has not arrived", "card still not here",
                          "when will the card come"],
         "refund": ["where is my refund", "i want my money back", "refund not received",
                    "how long does a refund take"],
         "greeting": ["hello", "hi there", "good morning", "hey"]}
data = TextDataset(texts=[t for ts in texts.values() for t in ts],
                   labels=[label for label, ts in texts.items() for _ in ts])
clf = TextClassifier.from_pretrained("default", labels=sorted(texts))
clf.fit(data, None, TrainingConfig(method="frozen", progress=False))
clf.save(out / "model")
clf.export_onnx(out / "onnx")
"""


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def code_under_test() -> dict[str, str]:
    """Where the measured ``domaintune`` comes from, and its git commit."""
    where = subprocess.run([sys.executable, "-c", "import domaintune; print(domaintune.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(Path(where).parent), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(Path(where).parent), "status", "--porcelain",
                            "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {"domaintune": where, "commit": commit + ("+changes" if dirty else "")}


def build(work: Path, env: dict[str, str]) -> None:
    """Train and export the model with the measured code (``work/model``, ``work/onnx``)."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        subprocess.run([sys.executable, "-c", BUILD, str(work)], env=env, check=True, cwd=scratch,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, object]:
    times, codes, error = [], set(), [""]
    for i in range(runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
            start = time.perf_counter()
            done = subprocess.run(argv, env=env, cwd=scratch, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, check=False)
            elapsed = time.perf_counter() - start
        codes.add(done.returncode)
        if i:  # the first run warms the page cache
            times.append(elapsed)
        if done.returncode:
            error = done.stderr.strip().splitlines()[-1:] or [""]
    result: dict[str, object] = {
        "median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
        "max_s": round(max(times), 3), "runs": runs, "exit_status": sorted(codes)}
    if codes != {0}:
        result["error"] = error[0][:300]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True, help="e.g. before / after")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    with tempfile.TemporaryDirectory(prefix="bench-startup-models-") as work:
        build(Path(work), env)
        load_before = os.getloadavg()
        figures = run_all(Path(work), args.runs, env)
        load_after = os.getloadavg()
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "pythonpath": os.environ.get("PYTHONPATH", ""), "machine": machine(),
        "label": args.label, **code_under_test(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "figures": figures,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "startup.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


def run_all(work: Path, runs: int, env: dict[str, str]) -> dict[str, dict[str, object]]:
    commands = {
        "domaintune --help": [str(BIN / "domaintune"), "--help"],
        "support-bot --help": [str(BIN / "support-bot"), "--help"],
        "domaintune predict MODEL_DIR (PyTorch)": [str(BIN / "domaintune"), "predict",
                                                   str(work / "model"), MESSAGE],
        "domaintune predict ONNX_DIR (ONNX export)": [str(BIN / "domaintune"), "predict",
                                                      str(work / "onnx"), MESSAGE],
    }
    figures = {}
    for name, argv in commands.items():
        figures[name] = measure(argv, runs, env)
        print(f"{name}: {figures[name]}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()

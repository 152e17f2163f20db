"""backend="torch" vs "onnx" (domaintune.backend) on the packaged MiniLM classifier: what the
ONNX twin costs to build and what it saves, to justify ``AUTO_EXPORT_MIN_TEXTS``.

Usage:
    nice python benchmarks/bench_backend.py [--sizes 1,64,1000] [--repeats 3]

Builds a classifier on the packaged MiniLM (BANKING77's 77 labels; the head stays as built:
speed does not depend on it), then measures in a fresh cache (a temporary
``DOMAINTUNE_CACHE``, removed at the end):

- the cold first ``backend="onnx"`` call: key (hash of the weights) + export + parity check +
  load, i.e. what ``auto`` pays once when a call reaches the threshold; then loading the twin
  from the cache (what a later process pays) and the per-call overhead of choosing a backend;
- ``predict_proba`` on 1, 64 and 1,000 BANKING77 test texts (``batch_size=64``, the default)
  with each backend (median of ``--repeats`` after a warm-up; 1 text: median of 50 calls).

Prints one JSON object and appends it to ``benchmarks/out/backend.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets")) / "banking77"
OUT = ROOT / "benchmarks" / "out"


def texts_and_labels() -> tuple[list[str], list[str]]:
    import csv

    if (DATA / "test.csv").is_file():
        with (DATA / "test.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [r["text"] for r in rows], sorted({r["category"] for r in rows})
    print(f"BANKING77 not found at {DATA}; using synthetic messages", file=sys.stderr)
    base = ["where is my card?", "I was charged twice for the same payment, please refund it",
            "how long does a transfer to another country take and what are the fees?"]
    return [f"{base[i % 3]} ({i})" for i in range(3000)], [f"label_{i}" for i in range(77)]


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,64,1000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cache = tempfile.mkdtemp(prefix="bench-backend-")
    os.environ["DOMAINTUNE_CACHE"] = cache
    try:
        run(sizes, args.repeats)
    finally:
        shutil.rmtree(cache, ignore_errors=True)  # the twin: ~87 MB


def run(sizes: list[int], repeats: int) -> None:

    import torch

    from domaintune import TextClassifier
    from domaintune import backend as be

    texts, labels = texts_and_labels()
    result: dict = {"benchmark": "backend", "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                   time.gmtime()),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "n_labels": len(labels)}
    clf = TextClassifier.from_pretrained("default", labels=labels, device="cpu")

    start = time.perf_counter()
    key = be.model_key(clf._backend_spec())
    result["key_seconds"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    clf.predict_proba(texts[:1], backend="onnx")  # key + export + check + load
    result["cold_twin_seconds"] = round(time.perf_counter() - start, 2)
    result["twin_mb"] = round(sum(f.stat().st_size for f in be.twin_directory(clf).rglob("*")
                                  if f.is_file()) / 2**20, 1)
    fresh = TextClassifier.from_pretrained("default", labels=labels, device="cpu")
    fresh.model.load_state_dict(clf.model.state_dict())  # same weights, a new object
    start = time.perf_counter()
    fresh.predict_proba(texts[:1], backend="onnx")  # key + load from the cache
    result["cached_twin_seconds"] = round(time.perf_counter() - start, 2)
    assert be.model_key(fresh._backend_spec()) == key

    twin = be.onnx_twin(clf)
    one = texts[:1]
    for name, fn in (("select_auto_ms", lambda: be.select(clf, 1, "auto")),
                     ("onnx_twin_direct_1_text_ms", lambda: twin.predict_proba(one)),
                     ("onnx_via_classifier_1_text_ms",
                      lambda: clf.predict_proba(one, backend="onnx"))):
        for _ in range(5):
            fn()
        runs = []
        for _ in range(200):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        result[name] = round(statistics.median(runs) * 1000, 3)

    reference = clf.predict_proba(texts[:1000], backend="torch")
    got = clf.predict_proba(texts[:1000], backend="onnx")
    result["max_abs_diff_1000"] = float(np.abs(got - reference).max())
    result["labels_equal_1000"] = bool((got.argmax(1) == reference.argmax(1)).all())
    for n in sizes:
        batch = texts[:n]
        for backend in ("torch", "onnx"):
            reps = 50 if n == 1 else repeats
            seconds = median_seconds(lambda b=backend, x=batch: clf.predict_proba(x, backend=b), reps)
            result[f"{backend}_{n}_seconds"] = round(seconds, 4)
            result[f"{backend}_{n}_texts_per_s"] = round(n / seconds, 1)
        saved = result[f"torch_{n}_seconds"] - result[f"onnx_{n}_seconds"]
        result[f"onnx_saves_{n}_seconds"] = round(saved, 4)
        # how many calls like this one repay building the twin once
        result[f"calls_of_{n}_to_repay_twin"] = (round(result["cold_twin_seconds"] / saved, 1)
                                                if saved > 0 else None)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "backend.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

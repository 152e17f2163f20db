"""Label-noise benchmark: does ``check_data`` find labels we flipped on purpose in BANKING77?

A fraction (default 5%) of the training rows gets a different label, drawn uniformly from the
other labels with a fixed seed. ``check_data`` (packaged MiniLM, k-fold out-of-fold logistic
regression) then ranks suspects; we report precision and recall of the flipped rows among the
top N and top 2N suspects (N = number of flips), of the whole flagged set, and of the full
self-confidence ranking of every row, plus the runtime.

Usage:
    python benchmarks/bench_label_noise.py                  # full training set (10,003 rows)
    python benchmarks/bench_label_noise.py --limit 1500     # smoke test on a seeded subset
    python benchmarks/bench_label_noise.py --noise 0.1 --seed 1 --folds 5

Data: ../shared/datasets/banking77/train.csv (columns text, category), or $DOMAINTUNE_DATASETS.
The result is printed as JSON and appended to benchmarks/out/label_noise.jsonl with the command,
machine and date; RESULTS.md is written by hand from it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from domaintune import TextDataset, load_dataset
from domaintune.checks import check_data

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_banking77 import DATA  # noqa: E402
from bench_banking77 import record as _record  # noqa: E402


def record(result: dict) -> None:
    _record(result, name="label_noise")


def load(limit: int | None, seed: int) -> TextDataset:
    path = DATA / "train.csv"
    if not path.is_file():
        sys.exit(f"BANKING77 not found: expected {path} (columns text,category); put the dataset "
                 "there or set DOMAINTUNE_DATASETS to the folder holding banking77/")
    data = load_dataset(path, text="text", label="category")
    if limit is not None and limit < len(data):
        rng = np.random.default_rng(seed)
        data = data.subset(sorted(rng.choice(len(data), size=limit, replace=False).tolist()))
    return data


def flip_labels(data: TextDataset, fraction: float, seed: int) -> tuple[TextDataset, dict[int, str]]:
    """Return a copy with ``fraction`` of the labels changed, and {index: true label}."""
    rng = np.random.default_rng(seed + 1)
    names = data.label_names
    n_flip = max(1, round(fraction * len(data)))
    flipped = sorted(rng.choice(len(data), size=n_flip, replace=False).tolist())
    labels = list(data.labels)
    truth = {}
    for i in flipped:
        others = [name for name in names if name != labels[i]]
        truth[i] = labels[i]
        labels[i] = others[int(rng.integers(len(others)))]
    return TextDataset(data.texts, labels, source=f"{data.source} ({len(flipped)} labels flipped)",
                       rows=data.rows), truth


def precision_recall(ranked: list[int], flipped: set[int], k: int) -> dict:
    top = ranked[:k]
    hits = sum(i in flipped for i in top)
    return {"k": k, "retrieved": len(top), "hits": hits,
            "precision": round(hits / len(top), 4) if top else 0.0,
            "recall": round(hits / len(flipped), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--noise", type=float, default=0.05, help="fraction of labels flipped")
    parser.add_argument("--seed", type=int, default=42, help="seed of the subset, flips and folds")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--near-duplicate-threshold", type=float, default=0.95)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None,
                        help="use a seeded random subset of this many rows (smoke test)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    clean = load(args.limit, args.seed)
    noisy, truth = flip_labels(clean, args.noise, args.seed)
    flipped = set(truth)
    start = time.perf_counter()
    report = check_data(noisy, model=args.model, folds=args.folds, seed=args.seed,
                        near_duplicate_threshold=args.near_duplicate_threshold,
                        max_length=args.max_length)
    seconds = time.perf_counter() - start

    n = len(flipped)
    ranked = [s.index for s in report.suspects]
    conf = report.self_confidence
    full_ranking = [int(i) for i in np.argsort(np.where(np.isfinite(conf), conf, np.inf),
                                               kind="stable")]
    suggested_right = sum(s.suggested_label == truth[s.index] for s in report.suspects
                          if s.index in truth)
    print(report.summary(), file=sys.stderr)
    record({
        "benchmark": "banking77-label-noise",
        "args": vars(args),
        "n_rows": len(noisy),
        "n_labels": len(noisy.label_names),
        "n_flipped": n,
        "n_suspects": len(report.suspects),
        "suspects_top_n": precision_recall(ranked, flipped, n),
        "suspects_top_2n": precision_recall(ranked, flipped, 2 * n),
        "suspects_all": precision_recall(ranked, flipped, len(ranked)),
        "self_confidence_top_n": precision_recall(full_ranking, flipped, n),
        "self_confidence_top_2n": precision_recall(full_ranking, flipped, 2 * n),
        "suggested_label_is_true_label": suggested_right,
        "exact_duplicate_groups": len(report.exact_duplicates),
        "conflicting_duplicate_groups": len(report.conflicting_duplicates),
        "near_duplicate_conflicts": len(report.near_duplicates),
        "seconds": round(seconds, 1),
        "timings": report.timings,
        "smoke": args.limit is not None,
    })


if __name__ == "__main__":
    main()

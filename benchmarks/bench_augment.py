"""Does each augmenter help BANKING77 10-shot? (3 seeds, same method with and without it.)

The paraphrase-mining pool is the rest of the BANKING77 training texts with labels removed.

Usage:
    python benchmarks/bench_augment.py [--method frozen] [--shots 10] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_banking77 import OUT, load, machine  # noqa: E402

from domaintune import TextClassifier, TrainingConfig, sample_per_class  # noqa: E402
from domaintune.augment import (  # noqa: E402
    EmbeddingSynonyms,
    ParaphraseMining,
    RandomDeletion,
    RandomSwap,
    augment,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="frozen")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="augmenters to run (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    train, test = load()
    base = TextClassifier.from_pretrained("default", labels=train.label_names)
    names = ["none", "random_deletion", "random_swap", "embedding_synonyms", "paraphrase_mining"]
    names = [n for n in names if not args.only or n in args.only or n == "none"]
    results: dict[str, list[float]] = {n: [] for n in names}
    for seed in args.seeds:
        few = sample_per_class(train, args.shots, seed=seed)
        chosen = set(few.texts)
        pool = [t for t in train.texts if t not in chosen]
        augmenters = {
            "none": [],
            "random_deletion": [RandomDeletion(p=0.1)],
            "random_swap": [RandomSwap(n=1)],
            "embedding_synonyms": [EmbeddingSynonyms(base, p=0.15)],
            "paraphrase_mining": [ParaphraseMining(base, pool=pool)],
        }
        for name in names:
            data = augment(few, augmenters[name], copies=args.copies, seed=seed)
            clf = TextClassifier.from_pretrained("default", labels=train.label_names)
            start = time.perf_counter()
            clf.fit(data, None, TrainingConfig(method=args.method, seed=seed, progress=False,
                                               max_length=64))
            acc = clf.evaluate(test)["accuracy"]
            results[name].append(acc)
            print(f"seed {seed} {name}: {len(data)} examples, accuracy {acc:.4f} "
                  f"({time.perf_counter() - start:.0f}s)", flush=True)
    summary = {n: {"mean": float(np.mean(v)), "per_seed": v,
                   "delta_points": round(100 * (np.mean(v) - np.mean(results["none"])), 2)}
               for n, v in results.items()}
    record = {"benchmark": f"banking77-{args.shots}shot-augment", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": " ".join(["python"] + sys.argv), "machine": machine(),
              "args": vars(args), "results": summary}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "augment.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()

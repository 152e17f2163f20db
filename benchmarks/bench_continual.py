"""Continual-learning benchmark on BANKING77: train on 60 intents, update with the other 17.

Compares against training on all 77 at once (same method and settings) and reports accuracy
on all 77 test intents, accuracy on the first 60 before/after the update (forgetting) and the
time of the update vs the full retrain.

Usage:
    python benchmarks/bench_continual.py --method frozen
    python benchmarks/bench_continual.py --method full --epochs 2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_banking77 import DATA, OUT, load, machine  # noqa: E402

from domaintune import TextClassifier, TrainingConfig, train_validation_split  # noqa: E402
from domaintune.continual import update  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="frozen")
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--old", type=int, default=60, help="intents in the first model")
    parser.add_argument("--replay-per-class", type=int, default=50)
    parser.add_argument("--replay-ratio", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--class-weights", default="none", choices=["none", "balanced"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train, test = load()
    labels = sorted(train.label_names)
    old_labels, new_labels = set(labels[: args.old]), set(labels[args.old :])
    cfg = TrainingConfig(method=args.method, epochs=args.epochs, learning_rate=args.lr,
                         max_length=64, seed=args.seed, replay_per_class=args.replay_per_class,
                         class_weights=args.class_weights)

    def pick(data, keep):
        return data.subset([i for i, lab in enumerate(data.labels) if lab in keep])

    train_all, val_all = train_validation_split(train, 0.05, seed=args.seed)
    test_old = pick(test, old_labels)

    start = time.perf_counter()
    joint = TextClassifier.from_pretrained("default", labels=labels)
    joint.fit(train_all, val_all, cfg)
    joint_seconds = time.perf_counter() - start
    joint_all = joint.evaluate(test)["accuracy"]
    joint_old = joint.evaluate(test_old)["accuracy"]

    first = TextClassifier.from_pretrained("default", labels=sorted(old_labels))
    start = time.perf_counter()
    first.fit(pick(train_all, old_labels), pick(val_all, old_labels), cfg)
    first_seconds = time.perf_counter() - start
    before_old = first.evaluate(test_old)["accuracy"]

    start = time.perf_counter()
    report = update(first, pick(train_all, new_labels), cfg, replay_ratio=args.replay_ratio)
    update_seconds = time.perf_counter() - start
    after_all = first.evaluate(test)["accuracy"]
    after_old = first.evaluate(test_old)["accuracy"]
    result = {
        "benchmark": "banking77-continual", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python"] + sys.argv), "machine": machine(), "args": vars(args),
        "data": str(DATA),
        "joint_all77_accuracy": joint_all, "joint_first60_accuracy": joint_old,
        "joint_train_seconds": round(joint_seconds, 1),
        "first60_model_accuracy": before_old, "first60_train_seconds": round(first_seconds, 1),
        "updated_all77_accuracy": after_all, "updated_first60_accuracy": after_old,
        "gap_to_joint_points": round(100 * (joint_all - after_all), 2),
        "first60_drop_points": round(100 * (before_old - after_old), 2),
        "update_seconds": round(update_seconds, 1),
        "update_vs_retrain_time": round(update_seconds / joint_seconds, 3),
        "n_new": report.n_new, "n_replay": report.n_replay,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "continual.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

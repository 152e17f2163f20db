"""Continual-learning benchmark on BANKING77: train on 60 intents, update with the other 17.

Compares against training on all 77 at once (same method and settings) and reports accuracy
on all 77 test intents, accuracy on the first 60 before/after the update (forgetting) and the
time of the update vs the full retrain.

What does not change between update settings is cached in ``benchmarks/out/continual-cache``
(keyed by method, epochs, learning rate, number of old intents, seed, class weights, max
length): the first-60 model (a saved model directory) with its accuracy and training time, and
the joint-77 model's accuracy and training time. A run with a cache hit trains only the update;
its time ratio is the update's time over the *cached* joint-77 training time (recorded with its
date in every result line, ``joint_cached_at``), so compare ratios only across runs that share
one cache entry and a similar machine state. ``--no-cache`` retrains both. ``--joint estimate``
skips the joint model: its time is then the first-60 model's time scaled by the data size.

Usage:
    python benchmarks/bench_continual.py --method frozen
    python benchmarks/bench_continual.py --method full --epochs 2
    python benchmarks/bench_continual.py --method full --epochs 2 --baselines-only
    python benchmarks/bench_continual.py --method full --epochs 2 --replay-ratio 100 \\
        --buffer-sizes 20 50 100   # the default levers (LwF 1.0 + class-balanced for full)
    python benchmarks/bench_continual.py --method full --epochs 2 --replay-ratio 100 \
        --buffer-sizes 50 --distill-weight 0 --balance none   # without them
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_banking77 import DATA, OUT, load, machine  # noqa: E402

from domaintune import (  # noqa: E402
    TextClassifier,
    TrainingConfig,
    sample_per_class,
    train_validation_split,
)
from domaintune.continual import update  # noqa: E402
from domaintune.persistence import write_json_atomic  # noqa: E402

CACHE = OUT / "continual-cache"


def pick(data, keep):
    return data.subset([i for i, lab in enumerate(data.labels) if lab in keep])


def cache_key(args) -> str:
    """What the first-60 and joint-77 models depend on (not the update's settings)."""
    parts = {"method": args.method, "epochs": args.epochs, "lr": args.lr, "old": args.old,
             "seed": args.seed, "class_weights": args.class_weights, "max_length": 64,
             "val": 0.05}
    text = json.dumps(parts, sort_keys=True)
    return f"{args.method}-e{args.epochs:g}-s{args.seed}-" + hashlib.sha1(text.encode()).hexdigest()[:8]


def baselines(args, cfg, train_all, val_all, test, old_labels, labels) -> dict:
    """Train (or read from the cache) the first-60 model and the joint-77 record.

    ``--joint estimate`` does not train the joint model: its time is the first-60 model's
    training time x (all training examples / first-60 training examples), the same loop on
    1.28x the data, measured in the same session; its accuracy is ``--joint-accuracy`` (a
    figure from an earlier run of the same seeded settings) or unknown.
    """
    key = cache_key(args)
    joint_file, first_dir = CACHE / f"joint-{key}.json", CACHE / f"first60-{key}"
    first_file = CACHE / f"first60-{key}.json"
    test_old = pick(test, old_labels)
    first_train = pick(train_all, old_labels)
    if args.no_cache or not first_file.is_file() or not first_dir.is_dir():
        first = TextClassifier.from_pretrained("default", labels=sorted(old_labels))
        start = time.perf_counter()
        first.fit(first_train, pick(val_all, old_labels), cfg)
        first_seconds = time.perf_counter() - start
        first.save(first_dir, overwrite=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        write_json_atomic(first_file, {
            "first60_model_accuracy": first.evaluate(test_old)["accuracy"],
            "first60_train_seconds": round(first_seconds, 1), "first60_n_train": len(first_train),
            "first60_cached_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        print(f"first-60 trained in {first_seconds:.0f}s", flush=True)
        del first
    first_rec = json.loads(first_file.read_text(encoding="utf-8"))
    if args.joint == "estimate":
        joint_rec = {"joint_all77_accuracy": args.joint_accuracy, "joint_first60_accuracy": None,
                     "joint_train_seconds": round(first_rec["first60_train_seconds"]
                                                  * len(train_all) / len(first_train), 1),
                     "joint_estimated": True}
    else:
        if args.no_cache or not joint_file.is_file():
            start = time.perf_counter()
            joint = TextClassifier.from_pretrained("default", labels=labels)
            joint.fit(train_all, val_all, cfg)
            joint_seconds = time.perf_counter() - start
            rec = {"joint_all77_accuracy": joint.evaluate(test)["accuracy"],
                   "joint_first60_accuracy": joint.evaluate(test_old)["accuracy"],
                   "joint_train_seconds": round(joint_seconds, 1),
                   "joint_cached_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "joint_history": joint.history}
            del joint
            CACHE.mkdir(parents=True, exist_ok=True)
            write_json_atomic(joint_file, rec)
            print(f"joint-77 trained in {joint_seconds:.0f}s: {rec['joint_all77_accuracy']:.4f}",
                  flush=True)
        joint_rec = json.loads(joint_file.read_text(encoding="utf-8"))
        joint_rec.pop("joint_history", None)
        joint_rec["joint_estimated"] = False
    return {**joint_rec, **first_rec, "cache_key": key, "first60_dir": str(first_dir)}


def run_update(args, cfg, base: dict, train_all, test, old_labels, new_labels, buffer: int) -> dict:
    """Load the cached first-60 model, give it a ``buffer``-per-intent replay buffer, update."""
    test_old = pick(test, old_labels)
    first = TextClassifier.load(base["first60_dir"])
    # the buffer is drawn from the first model's own training data (seeded), as fit() does
    first.replay = sample_per_class(pick(train_all, old_labels), buffer, seed=args.seed)
    ucfg = TrainingConfig.from_dict({**cfg.to_dict(), "epochs": args.update_epochs or args.epochs,
                                     "seed": args.seed if args.update_seed is None else args.update_seed,
                                     "distill_weight": args.distill_weight,
                                     "distill_temperature": args.distill_temperature,
                                     "replay_balance": None if args.balance == "auto" else args.balance})
    start = time.perf_counter()
    report = update(first, pick(train_all, new_labels), ucfg, replay_ratio=args.replay_ratio)
    update_seconds = time.perf_counter() - start
    after_all = first.evaluate(test)["accuracy"]
    after_old = first.evaluate(test_old)["accuracy"]
    return {
        "buffer_per_class": buffer, "n_new": report.n_new, "n_replay": report.n_replay,
        "n_steps_examples": report.n_trained, "distill_weight": report.distill_weight,
        "distill_temperature": args.distill_temperature, "balance": report.replay_balance,
        "update_epochs": ucfg.epochs, "update_seed": ucfg.seed,
        "updated_all77_accuracy": after_all, "updated_first60_accuracy": after_old,
        "gap_to_joint_points": (round(100 * (base["joint_all77_accuracy"] - after_all), 2)
                                if base["joint_all77_accuracy"] is not None else None),
        "first60_drop_points": round(100 * (base["first60_model_accuracy"] - after_old), 2),
        "update_seconds": round(update_seconds, 1),
        "update_vs_retrain_time": round(update_seconds / base["joint_train_seconds"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="frozen")
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--update-epochs", type=float, default=None,
                        help="epochs of the update (default: --epochs)")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--old", type=int, default=60, help="intents in the first model")
    parser.add_argument("--replay-per-class", type=int, default=50,
                        help="the replay buffer per old intent (one run)")
    parser.add_argument("--buffer-sizes", type=int, nargs="+", default=None,
                        help="a curve: one update per buffer size (overrides --replay-per-class)")
    parser.add_argument("--replay-ratio", type=float, default=1.0,
                        help="replayed per new example, capped by the buffer (100 = the whole buffer)")
    parser.add_argument("--distill-weight", type=float, default=None,
                        help="learning-without-forgetting weight (0 = off; default: the "
                        "config's auto, 1.0 for a full update)")
    parser.add_argument("--distill-temperature", type=float, default=2.0)
    parser.add_argument("--balance", default="auto", choices=["auto", "none", "class"],
                        help="class-balanced update batches (TrainingConfig.replay_balance; "
                        "auto = class for a full update)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--update-seed", type=int, default=None,
                        help="seed of the update only (its validation split, shuffling, balanced "
                        "draws); default --seed. The first-60 model stays the cached one")
    parser.add_argument("--class-weights", default="none", choices=["none", "balanced"])
    parser.add_argument("--joint", default="train", choices=["train", "estimate"],
                        help="train the joint-77 model (cached) or estimate its time from the "
                        "first-60 model's (see baselines())")
    parser.add_argument("--joint-accuracy", type=float, default=None,
                        help="with --joint estimate: the joint-77 test accuracy of an earlier run")
    parser.add_argument("--baselines-only", action="store_true",
                        help="train/cache the first-60 and joint-77 models, no update")
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train, test = load()
    labels = sorted(train.label_names)
    old_labels, new_labels = set(labels[: args.old]), set(labels[args.old :])
    cfg = TrainingConfig(method=args.method, epochs=args.epochs, learning_rate=args.lr,
                         max_length=64, seed=args.seed, replay_per_class=args.replay_per_class,
                         class_weights=args.class_weights)
    train_all, val_all = train_validation_split(train, 0.05, seed=args.seed)
    base = baselines(args, cfg, train_all, val_all, test, old_labels, labels)
    print(json.dumps(base, indent=2), flush=True)
    if args.baselines_only:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    for buffer in args.buffer_sizes or [args.replay_per_class]:
        result = {
            "benchmark": "banking77-continual", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(["python"] + sys.argv), "machine": machine(), "args": vars(args),
            "data": str(DATA), **base,
            **run_update(args, cfg, base, train_all, test, old_labels, new_labels, buffer),
        }
        with open(OUT / "continual.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
        print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()

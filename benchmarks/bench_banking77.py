"""BANKING77 benchmark: full-data fine-tuning, 10-shot (3 seeds), throughput and latency.

Usage:
    python benchmarks/bench_banking77.py full [--method full] [--epochs 4] ...
    python benchmarks/bench_banking77.py fewshot [--shots 10] [--seeds 0 1 2] [--method full]
    python benchmarks/bench_banking77.py speed --model-dir benchmarks/out/banking77-full

Data: ../shared/datasets/banking77 (official train/test). Results are printed as JSON and
appended to benchmarks/out/banking77.jsonl; RESULTS.md is written by hand from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from domaintune import (
    TextClassifier,
    TrainingConfig,
    load_dataset,
    sample_per_class,
    train_validation_split,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets")) / "banking77"
OUT = ROOT / "benchmarks" / "out"


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, python {platform.python_version()}")


def record(result: dict, name: str = "banking77") -> None:
    """Print ``result`` with date, command and machine, and append it to out/NAME.jsonl."""
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.executable).name] + sys.argv), "machine": machine(),
              **result}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{name}.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


def load():
    if not (DATA / "train.csv").is_file():
        sys.exit(f"BANKING77 not found at {DATA}; set DOMAINTUNE_DATASETS to the datasets folder")
    train = load_dataset(DATA / "train.csv", text="text", label="category")
    test = load_dataset(DATA / "test.csv", text="text", label="category")
    return train, test


def config(args, seed: int) -> TrainingConfig:
    return TrainingConfig(method=args.method, epochs=args.epochs, batch_size=args.batch_size,
                          learning_rate=args.lr, max_length=args.max_length, seed=seed,
                          head_c=args.head_c, early_stopping_patience=args.patience,
                          warmup_ratio=args.warmup, label_smoothing=args.label_smoothing,
                          contrastive_epochs=args.contrastive_epochs,
                          contrastive_learning_rate=args.contrastive_lr,
                          # issue-13 levers; getattr: other scripts build ``args`` without them
                          rdrop_alpha=getattr(args, "rdrop_alpha", 0.0),
                          average_checkpoints=getattr(args, "average_checkpoints", 0))


def run_full(args) -> None:
    train, test = load()
    if args.val > 0:
        train, val = train_validation_split(train, args.val, seed=args.seed)
    else:
        val = None
    clf = TextClassifier.from_pretrained(args.model, labels=train.label_names)
    cfg = config(args, args.seed)
    snapshots: list = []
    if args.paired_average:
        if args.method not in ("full", "lora") or args.epochs < 2 or args.epochs != int(args.epochs):
            sys.exit("--paired-average needs --method full or lora and a whole number of at "
                     f"least 2 epochs (found --method {args.method} --epochs {args.epochs})")
        if args.average_checkpoints:
            sys.exit("--paired-average scores every average itself: drop --average-checkpoints")
        # one training run, every selection scored: keep every epoch's weights (averaging
        # over all epochs) and capture them; averaging touches neither the updates nor the
        # random draws, so the trajectory is the one a run without averaging takes
        import domaintune.training as training

        cfg = dataclasses.replace(cfg, average_checkpoints=int(args.epochs))
        average = training.average_state_dicts

        def capture(states):
            snapshots.extend(states)
            return average(states)

        training.average_state_dicts = capture
    start = time.perf_counter()
    try:
        clf.fit(train, val, cfg)
    finally:
        if args.paired_average:
            training.average_state_dicts = average
    seconds = time.perf_counter() - start
    paired = paired_selections(clf, snapshots, val, test) if args.paired_average else None
    metrics = clf.evaluate(test, output_dir=OUT / f"banking77-{args.method}-eval")
    record({"benchmark": "banking77-full", "method": args.method, "args": vars(args),
            "train_seconds": round(seconds, 1), "test_accuracy": metrics["accuracy"],
            "test_macro_f1": metrics["macro_f1"], "ece_uncalibrated": metrics["ece_uncalibrated"],
            "ece": metrics["ece"], "history": clf.history, "paired_selections": paired})
    # the benchmark's own output directory (the speed benchmark reads it): each run replaces it
    clf.save(OUT / f"banking77-{args.method}", overwrite=True)


def paired_selections(clf, snapshots: list, val, test) -> dict:
    """Validation and test accuracy of each epoch's weights and of the averages of the last
    k epochs (k = 2 .. all), all from the same training run; and what the shipped rules pick:
    the best epoch on validation macro-F1 (``metric_for_best_model``'s default; no averaging)
    and ``average_checkpoints=k`` (the average replaces the best epoch when its validation
    macro-F1 is at least as good)."""
    from domaintune import backend
    from domaintune.training import average_state_dicts

    if len(snapshots) < 2:
        sys.exit(f"--paired-average: {len(snapshots)} epoch(s) captured (early stopping?); "
                 "nothing to compare")
    candidates = {f"epoch{i + 1}": s for i, s in enumerate(snapshots)}
    for k in range(2, len(snapshots) + 1):
        candidates[f"avg_last{k}"] = average_state_dicts(snapshots[-k:])
    scores = {}
    for name, state in candidates.items():
        clf.model.load_state_dict(state)
        backend.forget(clf)  # the weights changed under the classifier
        on_val = clf.evaluate(val) if val is not None else {}
        on_test = clf.evaluate(test)
        scores[name] = {"val_macro_f1": on_val.get("macro_f1"), "val_accuracy": on_val.get("accuracy"),
                        "test_accuracy": on_test["accuracy"], "test_macro_f1": on_test["macro_f1"]}
        print(f"{name}: {scores[name]}", flush=True)
    epochs = [n for n in candidates if n.startswith("epoch")]
    picks = {}
    if val is not None:
        # the loop's rule: metric_for_best_model (macro-F1 by default), first best epoch
        metric = "val_macro_f1"
        best = max(epochs, key=lambda n: scores[n][metric])
        picks["best_epoch"] = best
        for k in range(2, len(snapshots) + 1):
            avg = f"avg_last{k}"
            picks[f"average_checkpoints={k}"] = (
                avg if scores[avg][metric] >= scores[best][metric] else best)
    else:
        picks["best_epoch"] = epochs[-1]
        picks.update({f"average_checkpoints={k}": f"avg_last{k}"
                      for k in range(2, len(snapshots) + 1)})
    # the classifier leaves with the best epoch's weights, what a run without averaging ships,
    # so the record's top-level figures compare with plain ``full`` records (its temperature
    # was fitted to the weights training kept)
    clf.model.load_state_dict(candidates[picks["best_epoch"]])
    backend.forget(clf)
    return {"scores": scores, "picks": picks, "top_level": "best_epoch",
            "pick_test_accuracy": {rule: scores[n]["test_accuracy"] for rule, n in picks.items()}}


def run_fewshot(args) -> None:
    train, test = load()
    accs, f1s, secs = [], [], []
    for seed in args.seeds:
        subset = sample_per_class(train, args.shots, seed=seed)
        clf = TextClassifier.from_pretrained(args.model, labels=train.label_names)
        start = time.perf_counter()
        clf.fit(subset, None, config(args, seed))
        secs.append(time.perf_counter() - start)
        m = clf.evaluate(test)
        accs.append(m["accuracy"])
        f1s.append(m["macro_f1"])
        print(f"seed {seed}: accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f} "
              f"({secs[-1]:.0f}s)", flush=True)
    record({"benchmark": f"banking77-{args.shots}shot", "method": args.method, "args": vars(args),
            "accuracy_per_seed": accs, "accuracy_mean": float(np.mean(accs)),
            "accuracy_std": float(np.std(accs)), "macro_f1_mean": float(np.mean(f1s)),
            "train_seconds_median": statistics.median(secs)})


def run_speed(args) -> None:
    _, test = load()
    clf = TextClassifier.load(args.model_dir, device="cpu")
    texts = test.texts
    clf.predict(texts[:64])  # warm-up
    batch_times = []
    for _ in range(3):
        start = time.perf_counter()
        clf.predict(texts, batch_size=64)
        batch_times.append(time.perf_counter() - start)
    latencies = []
    for text in texts[: args.n_single]:
        start = time.perf_counter()
        clf.predict(text)
        latencies.append((time.perf_counter() - start) * 1000)
    record({"benchmark": "banking77-speed", "model_dir": str(args.model_dir),
            "batch_texts_per_s_median": len(texts) / statistics.median(batch_times),
            "single_latency_ms_p50": float(np.percentile(latencies, 50)),
            "single_latency_ms_p99": float(np.percentile(latencies, 99)),
            "n_single": len(latencies)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("full", "fewshot"):
        p = sub.add_parser(name)
        p.add_argument("--model", default="default")
        p.add_argument("--method", default="full")
        p.add_argument("--epochs", type=float, default=4)
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--lr", type=float, default=None)
        p.add_argument("--max-length", type=int, default=64)
        p.add_argument("--head-c", type=float, default=10.0)
        p.add_argument("--patience", type=int, default=2)
        p.add_argument("--warmup", type=float, default=0.1)
        p.add_argument("--label-smoothing", type=float, default=0.0)
        p.add_argument("--contrastive-epochs", type=float, default=0.0)
        p.add_argument("--contrastive-lr", type=float, default=2e-5)
        p.add_argument("--rdrop-alpha", type=float, default=0.0, help="R-Drop weight (0 = off)")
        p.add_argument("--average-checkpoints", type=int, default=0,
                       help="average the weights of the last k epochs (0 = off)")
    full = sub.choices["full"]
    full.add_argument("--val", type=float, default=0.05, help="validation fraction of train")
    full.add_argument("--seed", type=int, default=42)
    full.add_argument("--paired-average", action="store_true",
                      help="one run, every selection scored on val and test: each epoch, the "
                           "averages of the last k epochs, and what best-epoch and "
                           "average_checkpoints=k pick (see paired_selections)")
    few = sub.choices["fewshot"]
    few.add_argument("--shots", type=int, default=10)
    few.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    speed = sub.add_parser("speed")
    speed.add_argument("--model-dir", type=Path, default=OUT / "banking77-full")
    speed.add_argument("--n-single", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    {"full": run_full, "fewshot": run_fewshot, "speed": run_speed}[args.mode](args)


if __name__ == "__main__":
    main()

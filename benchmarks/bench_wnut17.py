"""WNUT-17 emerging-entity NER: train on train, early-stop on dev, entity-level F1 on test.

Usage:
    python benchmarks/bench_wnut17.py [--model default] [--method full] [--epochs 6] [--lr 1e-4]
    python benchmarks/bench_wnut17.py --limit 50 --max-steps 5 --output /tmp/smoke.jsonl  # smoke

Data: ../shared/datasets/wnut17 (or $DOMAINTUNE_DATASETS/wnut17), the official task files
``wnut17train.conll`` (3,394 sentences), ``emerging.dev.conll`` (1,009) and
``emerging.test.annotated`` (1,287): ``token<TAB>tag``, BIO, six entity types. Scores are
entity-level (seqeval, IOB2 strict: type and both boundaries must match), micro-averaged, as in
the shared task's "entity F1". Results are printed as JSON and appended to
benchmarks/out/wnut17.jsonl (with the command, machine and date); RESULTS.md is written by hand.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from domaintune import TrainingConfig
from domaintune.ner import TokenClassifier, TokenDataset, read_conll

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets")) / "wnut17"
OUT = ROOT / "benchmarks" / "out"
FILES = {"train": "wnut17train.conll", "dev": "emerging.dev.conll", "test": "emerging.test.annotated"}


def machine() -> str:
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores{gpu}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, python {platform.python_version()}")


def record(result: dict, output: Path) -> None:
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.executable).name] + sys.argv), "machine": machine(),
              **result}
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))
    print(f"appended to {output}", file=sys.stderr)


def load(limit: int | None) -> dict[str, TokenDataset]:
    missing = [name for name in FILES.values() if not (DATA / name).is_file()]
    if missing:
        sys.exit(f"WNUT-17 not found: {DATA} lacks {missing}; put the official files "
                 f"({', '.join(FILES.values())}) there or set DOMAINTUNE_DATASETS to the folder "
                 "that contains wnut17/")
    splits = {split: read_conll(DATA / name) for split, name in FILES.items()}
    if limit:
        splits = {k: v.subset(range(min(limit, len(v)))) for k, v in splits.items()}
    return splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--method", default="full", choices=["full", "lora", "frozen"])
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--patience", type=int, default=2, help="early stopping on dev entity F1")
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N sentences of each split (smoke tests)")
    parser.add_argument("--output", type=Path, default=OUT / "wnut17.jsonl")
    parser.add_argument("--save-dir", type=Path, default=None, help="also save the model here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    data = load(args.limit)
    for split in data.values():
        print(split.summary(), file=sys.stderr)
    train, dev, test = data["train"], data["dev"], data["test"]
    types = sorted(set(train.entity_types) | set(dev.entity_types) | set(test.entity_types))
    cfg = TrainingConfig(method=args.method, epochs=args.epochs, max_steps=args.max_steps,
                         batch_size=args.batch_size, learning_rate=args.lr,
                         max_length=args.max_length, early_stopping_patience=args.patience,
                         warmup_ratio=args.warmup, seed=args.seed, device=args.device)
    ner = TokenClassifier.from_pretrained(args.model, labels=types, max_length=args.max_length)
    start = time.perf_counter()
    ner.fit(train, dev, cfg)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    m = ner.evaluate(test)
    eval_seconds = time.perf_counter() - start
    if args.save_dir:
        ner.save(args.save_dir)
    record({
        "benchmark": "wnut17" if not args.limit else f"wnut17-smoke-limit{args.limit}",
        "model": args.model, "method": args.method, "args": {k: str(v) for k, v in vars(args).items()},
        "n_sentences": {k: len(v) for k, v in data.items()},
        "tags_repaired": {k: len(v.repairs) for k, v in data.items()},
        "train_seconds": round(train_seconds, 1),
        "test_sentences_per_s": round(len(test) / eval_seconds, 1),
        "dev_entity_f1": ner.metrics.get("validation", {}).get("entity_f1"),
        "test_entity_f1": m["entity_f1"], "test_entity_precision": m["entity_precision"],
        "test_entity_recall": m["entity_recall"], "test_macro_f1": m["macro_f1"],
        "test_per_type": m["per_type"],
        "test_token_accuracy_including_O": m["token_level_including_O"]["accuracy"],
        "eval": f"seqeval {m['mode']} {m['scheme']}, entity-level micro F1",
        "history": ner.history,
    }, args.output)


if __name__ == "__main__":
    main()

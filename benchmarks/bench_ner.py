"""NER accuracy levers on held-out data: wikigold, SEC filings, WNUT-17 (entity F1, seqeval).

Usage:
    python benchmarks/bench_ner.py --dataset wikigold                      # today's defaults
    python benchmarks/bench_ner.py --dataset wikigold --shape --context 64 --epochs 8
    python benchmarks/bench_ner.py --dataset sec --limit 60 --max-steps 3 --output /tmp/s.jsonl

Data: ../shared/datasets (or $DOMAINTUNE_DATASETS):

* ``wikigold``: ``wikigold/wikigold.conll.txt`` (IOB1, cased Wikipedia, PER/LOC/ORG/MISC). No
  official split: a seeded DOCUMENT-level split of its -DOCSTART- documents, train/dev/test =
  70/10/20 of the documents (``--split-seed``), so no document is in two parts.
* ``sec``: ``sec_filings_ner/FIN5.train.conll`` (train; a seeded 10 % sentence-level dev split:
  it has only 5 documents) and ``FIN3.test.conll`` (test). IOB1, the same four types.
* ``wnut17``: the official train / dev / test files (IOB2, six types).

Every run trains ONE model and evaluates it with both decodings (``argmax`` + BIO repair and
constrained ``viterbi``); no retraining is needed to compare them. Scores are entity-level
(seqeval strict, IOB2, micro), with precision, recall and per-type figures; the token-level
report (counting O words) is recorded separately. Results are printed and appended as one JSON
line to benchmarks/out/ner.jsonl (date, command, machine, train seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from domaintune import TrainingConfig
from domaintune.ner import TokenClassifier, TokenDataset, read_conll

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))
OUT = ROOT / "benchmarks" / "out"


def machine() -> str:
    import torch

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores{gpu}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, python {platform.python_version()}")


def record(result: dict, output: Path) -> None:
    """Print ``result`` with date, command and machine, and append it to ``output`` (JSONL)."""
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.executable).name] + sys.argv), "machine": machine(),
              **result}
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))
    print(f"appended to {output}", file=sys.stderr)


def _need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"dataset files not found: {missing}; put them there or set DOMAINTUNE_DATASETS "
                 "to the folder that holds wikigold/, sec_filings_ner/ and wnut17/")


def load(name: str, split_seed: int) -> dict[str, TokenDataset]:
    """``{"train", "dev", "test"}`` of one dataset (see the module docstring)."""
    if name == "wikigold":
        path = DATA / "wikigold" / "wikigold.conll.txt"
        _need(path)
        data = read_conll(path, scheme="IOB1")
        train, dev, test = data.split_documents([0.7, 0.1], seed=split_seed)
        return {"train": train, "dev": dev, "test": test}
    if name == "sec":
        train_path = DATA / "sec_filings_ner" / "FIN5.train.conll"
        test_path = DATA / "sec_filings_ner" / "FIN3.test.conll"
        _need(train_path, test_path)
        train, dev = read_conll(train_path, scheme="IOB1").split(0.1, seed=split_seed)
        return {"train": train, "dev": dev, "test": read_conll(test_path, scheme="IOB1")}
    folder = DATA / "wnut17"
    files = {"train": "wnut17train.conll", "dev": "emerging.dev.conll",
             "test": "emerging.test.annotated"}
    _need(*(folder / f for f in files.values()))
    return {k: read_conll(folder / f) for k, f in files.items()}


def scores(m: dict) -> dict:
    """The entity-level figures of one evaluation (token level kept apart)."""
    return {"entity_f1": m["entity_f1"], "entity_precision": m["entity_precision"],
            "entity_recall": m["entity_recall"], "macro_f1": m["macro_f1"],
            "per_type": {k: {"f1": round(v["f1"], 4), "precision": round(v["precision"], 4),
                             "recall": round(v["recall"], 4), "support": v["support"]}
                         for k, v in m["per_type"].items()}}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="wikigold", choices=["wikigold", "sec", "wnut17"])
    parser.add_argument("--model", default="default")
    parser.add_argument("--method", default="full", choices=["full", "lora", "frozen"])
    parser.add_argument("--epochs", type=float, default=3, help="TrainingConfig default: 3")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None, help="None = the NER default (full: 2e-4 for <= 6 layers, else 5e-5; head 1e-3)")
    parser.add_argument("--head-lr", type=float, default=None,
                        help="TrainingConfig.head_learning_rate (None = 1e-3 for NER full, else the encoder's)")
    parser.add_argument("--layer-decay", type=float, default=None,
                        help="TrainingConfig.layer_decay (layer-wise learning-rate decay)")
    parser.add_argument("--shape", action=argparse.BooleanOptionalAction, default=None,
                        help="TrainingConfig.ner_word_shapes: learned word-shape embedding "
                             "(default: the config's default, on)")
    parser.add_argument("--context", type=int, default=0,
                        help="TrainingConfig.ner_context: document context, sub-tokens each side")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--patience", type=int, default=2, help="early stopping on dev entity F1")
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--split-seed", type=int, default=13,
                        help="seed of the wikigold document split / the SEC dev split")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N sentences of each split (smoke tests)")
    parser.add_argument("--output", type=Path, default=OUT / "ner.jsonl")
    parser.add_argument("--save-dir", type=Path, default=None, help="also save the model here")
    parser.add_argument("--note", default="", help="free text stored with the record")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    data = load(args.dataset, args.split_seed)
    if args.limit:
        data = {k: v.subset(range(min(args.limit, len(v)))) for k, v in data.items()}
    for split in data.values():
        print(split.summary(), file=sys.stderr)
    train, dev, test = data["train"], data["dev"], data["test"]
    types = sorted(set(train.entity_types) | set(dev.entity_types) | set(test.entity_types))
    cfg = TrainingConfig(method=args.method, epochs=args.epochs, max_steps=args.max_steps,
                         batch_size=args.batch_size, learning_rate=args.lr,
                         head_learning_rate=args.head_lr,
                         max_length=args.max_length, early_stopping_patience=args.patience,
                         warmup_ratio=args.warmup, seed=args.seed, device=args.device,
                         progress=False)
    levers = {}
    if args.layer_decay is not None:
        levers["layer_decay"] = args.layer_decay
    if args.shape is not None:
        levers["ner_word_shapes"] = args.shape
    if args.context:
        levers["ner_context"] = args.context
    if levers:
        cfg = TrainingConfig.from_dict({**cfg.to_dict(), **levers})
    ner = TokenClassifier.from_pretrained(args.model, labels=types, max_length=args.max_length)
    start = time.perf_counter()
    ner.fit(train, dev, cfg)
    train_seconds = time.perf_counter() - start
    results: dict = {}
    for decoding in ("argmax", "viterbi"):
        ner.decoding = decoding
        t0 = time.perf_counter()
        m_test = ner.evaluate(test)
        seconds = time.perf_counter() - t0
        m_dev = ner.evaluate(dev)
        results[decoding] = {"dev": scores(m_dev), "test": scores(m_test),
                             "test_sentences_per_s": round(len(test) / seconds, 1),
                             "test_token_level_including_O": {
                                 "accuracy": m_test["token_level_including_O"]["accuracy"]}}
        if ner.context and test.documents is not None:
            # what predict() on raw texts sees: the same test sentences without neighbours
            alone = dataclasses.replace(test, documents=None)
            results[decoding]["test_without_context"] = scores(ner.evaluate(alone))
    if args.save_dir:
        ner.save(args.save_dir, overwrite=True)
    record({
        "benchmark": f"ner-{args.dataset}" + (f"-smoke-limit{args.limit}" if args.limit else ""),
        "dataset": args.dataset, "model": args.model, "method": args.method,
        "note": args.note, "args": {k: str(v) for k, v in vars(args).items()},
        "training_config": (ner.training_config or cfg).to_dict(),  # the rates used (resolved)
        "n_sentences": {k: len(v) for k, v in data.items()},
        "tags_repaired": {k: len(v.repairs) for k, v in data.items()},
        "n_documents": {k: len(set(v.documents)) if v.documents is not None else None
                        for k, v in data.items()},
        "train_seconds": round(train_seconds, 1),
        "best_epoch": next((h["best_epoch"] for h in ner.history if "best_epoch" in h), None),
        "epochs_run": sum(1 for h in ner.history if "epoch" in h),
        "dev_entity_f1": {d: r["dev"]["entity_f1"] for d, r in results.items()},
        "test_entity_f1": {d: r["test"]["entity_f1"] for d, r in results.items()},
        "test_entity_f1_without_context": {d: r["test_without_context"]["entity_f1"]
                                           for d, r in results.items() if "test_without_context" in r},
        "by_decoding": results,
        "eval": "seqeval strict IOB2, entity-level micro F1; token level reported apart",
        "history": ner.history,
    }, args.output)


if __name__ == "__main__":
    main()

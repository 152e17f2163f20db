"""Finance monitor sentiment benchmark: Financial PhraseBank accuracy and macro-F1 (issue 10).

Data: the split written by ``python data/prepare_phrasebank.py`` (``--data``, default
``data/phrasebank``): de-duplicated, 80/10/10 stratified, seed 42. Models are trained on
``train.csv`` with the core's documented path (``TextClassifier.from_pretrained("default",
...).fit(train, validation, TrainingConfig(...))`` = what ``domaintune train`` runs), selected
on ``validation.csv`` (early stopping on validation macro-F1, the best epoch kept; settings
compared by validation), and scored on ``test.csv`` (the 50%-agreement set) and on its
all-agree rows (``test_allagree.csv``).

Usage (on a shared machine prefix ``nice -n 10``):
    python benchmarks/bench_finance_sentiment.py run --name frozen --method frozen
    python benchmarks/bench_finance_sentiment.py run --name full-e3 [--epochs 3] [--lr 5e-5]
        [--class-weights balanced] [--seed 42] [--batch-size 32] [--save models/phrasebank-sentiment]
    python benchmarks/bench_finance_sentiment.py ensemble --name ens3 --members A B C
    python benchmarks/bench_finance_sentiment.py cli --output models/phrasebank-sentiment [same flags]
    python benchmarks/bench_finance_sentiment.py export --model-dir models/phrasebank-sentiment

``run`` saves each model to ``benchmarks/out/phrasebank/<name>`` with its validation and test
probabilities (``probs.npz``), which ``ensemble`` averages (mean of calibrated probabilities).
``cli`` writes the equivalent ``train.yaml`` and runs ``domaintune train`` on it (the recipe the
monitor's docs suggest). ``export`` runs ``domaintune export`` (fp32 and ``--int8``) and scores
each export with ONNX Runtime. Every mode prints JSON and appends it to
``benchmarks/out/phrasebank.jsonl``; RESULTS.md quotes those lines.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_banking77 import OUT, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "phrasebank"
WORK = OUT / "phrasebank"
LABELS = ["negative", "neutral", "positive"]
ANCHOR = {"finbert_50agree_accuracy": 0.86, "finbert_allagree_accuracy": 0.97}
TARGET = {"accuracy_50agree": 0.87, "accuracy_allagree": 0.97}


def read_split(data: Path, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts, label indices and agreement levels of ``data/<name>.csv``."""
    path = data / f"{name}.csv"
    if not path.is_file():
        sys.exit(f"{path} not found; run `python data/prepare_phrasebank.py --output {data}` first")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return ([r["text"] for r in rows], np.array([LABELS.index(r["label"]) for r in rows]),
            np.array([int(r["agreement"]) for r in rows]))


def scores(probs: np.ndarray, targets: np.ndarray, agreement: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 on the whole split (50%-agree) and on its all-agree rows."""
    from domaintune import classification_metrics

    out = {}
    for key, mask in (("50agree", np.ones(len(targets), bool)), ("allagree", agreement == 100)):
        m = classification_metrics(targets[mask], probs[mask].argmax(1), LABELS)
        out[f"accuracy_{key}"] = round(m["accuracy"], 4)
        out[f"macro_f1_{key}"] = round(m["macro_f1"], 4)
    return out


def check_allagree_file(data: Path, test_texts: list[str], test_agreement: np.ndarray) -> int:
    """``test_allagree.csv`` must be exactly the all-agree rows of ``test.csv``."""
    texts, _, _ = read_split(data, "test_allagree")
    expected = [t for t, a in zip(test_texts, test_agreement, strict=True) if a == 100]
    if texts != expected:
        sys.exit(f"{data}/test_allagree.csv is not the all-agree subset of test.csv; re-run "
                 "data/prepare_phrasebank.py")
    return len(texts)


def training_config(args, seed: int):
    from domaintune import TrainingConfig

    return TrainingConfig(method=args.method, epochs=args.epochs, batch_size=args.batch_size,
                          learning_rate=args.lr, seed=seed, class_weights=args.class_weights,
                          early_stopping_patience=args.patience, head_c=args.head_c,
                          label_smoothing=args.label_smoothing, warmup_ratio=args.warmup,
                          max_length=args.max_length, progress=False)


def run_one(args) -> None:
    from domaintune import TextClassifier, load_dataset

    train = load_dataset(args.data / "train.csv", text="text", label="label")
    val = load_dataset(args.data / "validation.csv", text="text", label="label")
    val_texts, val_y, val_agree = read_split(args.data, "validation")
    test_texts, test_y, test_agree = read_split(args.data, "test")
    n_allagree = check_allagree_file(args.data, test_texts, test_agree)
    cfg = training_config(args, args.seed)
    load_before = os.getloadavg()[0]
    clf = TextClassifier.from_pretrained(args.model, labels=LABELS)
    start = time.perf_counter()
    clf.fit(train, val, cfg)
    seconds = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    val_p, test_p = clf.predict_proba(val_texts), clf.predict_proba(test_texts)
    directory = WORK / args.name
    clf.save(directory, overwrite=True)
    np.savez(directory / "probs.npz", validation=val_p, test=test_p)
    if args.save:
        clf.save(args.save, overwrite=True)
    record({"benchmark": "phrasebank", "mode": "run", "name": args.name,
            "config": cfg.to_dict(), "train_seconds": round(seconds, 1),
            "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
            "sizes": {"train": len(train), "validation": len(val), "test": len(test_texts),
                      "test_allagree": n_allagree},
            "validation": scores(val_p, val_y, val_agree), "test": scores(test_p, test_y, test_agree),
            "best_epoch": _best_epoch(clf.history), "history": clf.history,
            "temperature": clf.temperature, "model_dir": str(directory),
            "saved_to": str(args.save) if args.save else None}, name="phrasebank")


def _best_epoch(history: list[dict]) -> int | None:
    scored = [h for h in history if "val_macro_f1" in h]
    return max(scored, key=lambda h: h["val_macro_f1"]).get("epoch") if scored else None


def run_ensemble(args) -> None:
    _, val_y, val_agree = read_split(args.data, "validation")
    _, test_y, test_agree = read_split(args.data, "test")
    val_p, test_p, seconds = [], [], 0.0
    lines = [json.loads(line) for line in (OUT / "phrasebank.jsonl").read_text().splitlines()]
    for member in args.members:
        probs = np.load(WORK / member / "probs.npz")
        val_p.append(probs["validation"])
        test_p.append(probs["test"])
        runs = [r for r in lines if r.get("mode") == "run" and r.get("name") == member]
        seconds += runs[-1]["train_seconds"] if runs else float("nan")
    record({"benchmark": "phrasebank", "mode": "ensemble", "name": args.name,
            "members": args.members, "combine": "mean of calibrated probabilities",
            "train_seconds": round(seconds, 1),
            "validation": scores(np.mean(val_p, 0), val_y, val_agree),
            "test": scores(np.mean(test_p, 0), test_y, test_agree)}, name="phrasebank")


def run_cli(args) -> None:
    """Train the recipe with ``domaintune train`` (the documented command) and score it."""
    import yaml

    from domaintune import TextClassifier, TrainingConfig

    cfg = training_config(args, args.seed).to_dict()
    defaults = TrainingConfig().to_dict()
    training = {k: v for k, v in cfg.items()
                if k != "progress" and (v != defaults[k] or k in ("method", "epochs"))}
    run = {"model": args.model, "train_file": str((args.data / "train.csv").resolve()),
           "eval_file": str((args.data / "validation.csv").resolve()),
           "test_file": str((args.data / "test.csv").resolve()),
           "text_column": "text", "label_column": "label", "labels": LABELS,
           "output_dir": str(args.output.resolve()), "training": training}
    WORK.mkdir(parents=True, exist_ok=True)
    config_path = WORK / "train.yaml"
    config_path.write_text(yaml.safe_dump(run, sort_keys=False), encoding="utf-8")
    command = [str(Path(sys.executable).with_name("domaintune")), "train", "--config",
               str(config_path), "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"domaintune train failed ({done.returncode}):\n{done.stderr[-3000:]}")
    clf = TextClassifier.load(args.output, device="cpu")
    _, val_y, val_agree = read_split(args.data, "validation")
    val_texts = read_split(args.data, "validation")[0]
    test_texts, test_y, test_agree = read_split(args.data, "test")
    record({"benchmark": "phrasebank", "mode": "cli", "name": args.name,
            "command": " ".join(command[1:]), "train_yaml": run,
            "train_seconds_end_to_end": round(seconds, 1),
            "train_seconds": clf.metrics.get("train_seconds"),
            "cli_output": json.loads(done.stdout.strip().splitlines()[-1]),
            "validation": scores(clf.predict_proba(val_texts), val_y, val_agree),
            "test": scores(clf.predict_proba(test_texts), test_y, test_agree),
            "model_dir": str(args.output)}, name="phrasebank")


def run_export(args) -> None:
    from domaintune import TextClassifier
    from domaintune.export import OnnxTextClassifier

    test_texts, test_y, test_agree = read_split(args.data, "test")
    cli = str(Path(sys.executable).with_name("domaintune"))
    result: dict = {"benchmark": "phrasebank", "mode": "export", "model_dir": str(args.model_dir)}

    def timed(predict) -> tuple[np.ndarray, float]:
        predict(test_texts[:64])  # warm-up
        start = time.perf_counter()
        probs = predict(test_texts)
        return probs, round(len(test_texts) / (time.perf_counter() - start), 1)

    clf = TextClassifier.load(args.model_dir, device="cpu")
    reference, rate = timed(clf.predict_proba)
    result["torch"] = {**scores(reference, test_y, test_agree), "batch_texts_per_s": rate}
    for precision in ("fp32", "int8"):
        out = Path(f"{args.model_dir}-onnx-{precision}")
        command = [cli, "export", str(args.model_dir), "--output", str(out), "--overwrite", "--json"]
        if precision == "int8":
            command += ["--int8", "--max-int8-drop", "100"]  # measure, do not refuse
        start = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"domaintune export failed ({done.returncode}):\n{done.stderr[-3000:]}")
        export_s = time.perf_counter() - start
        served = OnnxTextClassifier.load(out)
        probs, rate = timed(served.predict_proba)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
        result[f"onnx_{precision}"] = {
            **scores(probs, test_y, test_agree), "batch_texts_per_s": rate,
            "agreement_with_torch": round(float((probs.argmax(1) == reference.argmax(1)).mean()), 4),
            "size_mb": round(size, 1), "export_seconds": round(export_s, 1), "path": str(out),
            "cli": json.loads(done.stdout.strip().splitlines()[-1])}
    record(result, name="phrasebank")


DEFAULTS = {"method": "full", "epochs": 3.0, "batch_size": 32, "lr": None,
            "class_weights": "none", "patience": 2, "head_c": 10.0, "label_smoothing": 0.0,
            "warmup": 0.1, "max_length": 128}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the prepared split")
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("run", "cli"):
        p = sub.add_parser(mode)
        p.add_argument("--name", required=mode == "run")
        p.add_argument("--model", default="default")
        p.add_argument("--method", default=DEFAULTS["method"])
        p.add_argument("--epochs", type=float, default=DEFAULTS["epochs"])
        p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
        p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="default: the core's (5e-5)")
        p.add_argument("--class-weights", default=DEFAULTS["class_weights"])
        p.add_argument("--patience", type=int, default=DEFAULTS["patience"])
        p.add_argument("--head-c", type=float, default=DEFAULTS["head_c"])
        p.add_argument("--label-smoothing", type=float, default=DEFAULTS["label_smoothing"])
        p.add_argument("--warmup", type=float, default=DEFAULTS["warmup"])
        p.add_argument("--max-length", type=int, default=DEFAULTS["max_length"])
        p.add_argument("--seed", type=int, default=42)
    sub.choices["run"].add_argument("--save", type=Path, default=None,
                                    help="also save the model here (e.g. models/phrasebank-sentiment)")
    sub.choices["cli"].add_argument("--output", type=Path,
                                    default=ROOT / "models" / "phrasebank-sentiment")
    ens = sub.add_parser("ensemble")
    ens.add_argument("--name", required=True)
    ens.add_argument("--members", nargs="+", required=True, help="names of earlier `run`s")
    exp = sub.add_parser("export")
    exp.add_argument("--model-dir", type=Path, default=ROOT / "models" / "phrasebank-sentiment")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    {"run": run_one, "ensemble": run_ensemble, "cli": run_cli, "export": run_export}[args.mode](args)


if __name__ == "__main__":
    main()

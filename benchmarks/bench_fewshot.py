"""BANKING77 10-shot: ours (semi-supervised) against SetFit 1.x and a plain HF Trainer fine-tune.

Every method trains on the same 770-example subsets as ``bench_banking77.py fewshot`` (its
``load`` and the same ``sample_per_class(train, shots, seed=seed)`` call) and on the same
backbone, the packaged all-MiniLM-L6-v2 (``resolve_model("default")``).

Methods (``--methods``):

* ``ours`` (**semi-supervised**): paraphrase mining from the rest of the BANKING77 training
  texts with their labels hidden (``domaintune.augment.ParaphraseMining`` with the base encoder),
  then the SetFit-style contrastive stage (``TrainingConfig.contrastive_epochs``) on the
  labelled + mined examples, then the logistic-regression head (``method="frozen"``). With
  ``--remine`` (default on) a second row, ``ours+remine``: the same pool is mined again with the
  contrastively tuned encoder and the head is refitted on the labelled + re-mined examples (no
  second contrastive stage), so both rows come out of one training run per seed.
* ``setfit``: ``peers/run_setfit.py`` (SetFit 1.x at its paper settings) in the peers' venv.
* ``hf-trainer``: ``peers/run_hf_trainer.py`` (``AutoModelForSequenceClassification`` +
  ``Trainer``) in the peers' venv.

The peers run as subprocesses of ``--peers-python`` (a benchmark-only environment made from
``benchmarks/peers/requirements-peers.txt``, not a project dependency), on the subset written as
a CSV file. Without that interpreter their rows are skipped with a message.

Usage:
    python benchmarks/bench_fewshot.py [--methods ours setfit hf-trainer] [--seeds 0 1 2]
        [--peer-seeds 0] [--peers-python ../peers-venv/bin/python]

Records: one JSON line per method in benchmarks/out/fewshot.jsonl (date, command, machine,
per-seed accuracy and time); a Markdown table is printed at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_banking77 import DATA, OUT, load, machine  # noqa: E402

from domaintune import TextClassifier, TrainingConfig, sample_per_class  # noqa: E402
from domaintune.data import TextDataset  # noqa: E402
from domaintune.persistence import write_text_atomic  # noqa: E402

PEERS = Path(__file__).resolve().parent / "peers"
METHODS = ("ours", "setfit", "hf-trainer")
PEER_RUNNERS = {"setfit": "run_setfit.py", "hf-trainer": "run_hf_trainer.py"}
DEFAULT_PEERS_PYTHON = Path(__file__).resolve().parents[2] / "peers-venv" / "bin" / "python"  # beside the repo
SETUP_HINT = ("create it with: python3.11 -m venv ../peers-venv && ../peers-venv/bin/pip "
              "install -r benchmarks/peers/requirements-peers.txt")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of ours")
    parser.add_argument("--peer-seeds", type=int, nargs="+", default=None,
                        help="seeds of the peers (default: --seeds)")
    parser.add_argument("--model", default="default", help="backbone of every method")
    parser.add_argument("--max-length", type=int, default=64)
    # ours: paraphrase mining
    parser.add_argument("--copies", type=int, default=2, help="mined texts per labelled example")
    parser.add_argument("--min-similarity", type=float, default=0.8)
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--remine", action=argparse.BooleanOptionalAction, default=True,
                        help="also report the head refitted on texts re-mined by the tuned encoder")
    parser.add_argument("--remine-copies", type=int, default=2)
    parser.add_argument("--remine-min-similarity", type=float, default=0.8)
    # ours: contrastive stage and head
    parser.add_argument("--contrastive-epochs", type=float, default=4.0,
                        help="passes over labelled + mined examples (4 x ~1,900 = the pairs of "
                             "10 passes over the 770 labelled ones)")
    parser.add_argument("--contrastive-lr", type=float, default=2e-5)
    parser.add_argument("--head-c", type=float, default=100.0)
    # peers
    parser.add_argument("--peers-python", type=Path, default=DEFAULT_PEERS_PYTHON)
    parser.add_argument("--peer-timeout", type=float, default=3600.0, help="seconds per peer run")
    parser.add_argument("--peer-args", action="append", default=[], metavar="METHOD=ARGS",
                        help='extra runner arguments, e.g. --peer-args "setfit=--num-iterations 5"')
    parser.add_argument("--work-dir", type=Path, default=OUT / "fewshot",
                        help="where subsets and peer results are written")
    parser.add_argument("--no-record", action="store_true", help="do not append to fewshot.jsonl")
    args = parser.parse_args(argv)
    if args.peer_seeds is None:
        args.peer_seeds = list(args.seeds)
    extra: dict[str, list[str]] = {}
    for item in args.peer_args:
        method, sep, rest = item.partition("=")
        if not sep or method not in PEER_RUNNERS:
            parser.error(f"--peer-args: expected METHOD=ARGS with METHOD in {sorted(PEER_RUNNERS)}, "
                         f"found {item!r}")
        extra.setdefault(method, []).extend(rest.split())
    args.peer_extra = extra
    return args


def write_subset(data: TextDataset, path: Path) -> Path:
    """Write ``data`` as a ``text,category`` CSV (BANKING77's own columns), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "category"])
    for text, label in zip(data.texts, data.labels, strict=True):
        writer.writerow([text, label])
    return write_text_atomic(path, buffer.getvalue())


def peers_problem(python: Path) -> str | None:
    """None when ``python`` can run the peers, otherwise the reason their rows are skipped."""
    if not Path(python).is_file() or not os.access(python, os.X_OK):
        return (f"peers skipped: their environment's interpreter {python} was not found; "
                f"{SETUP_HINT} (or pass --peers-python)")
    return None


def peer_command(args: argparse.Namespace, method: str, subset: Path, test: Path, seed: int,
                 model_dir: Path, output: Path) -> list[str]:
    return [str(args.peers_python), str(PEERS / PEER_RUNNERS[method]), "--train", str(subset),
            "--test", str(test), "--model", str(model_dir), "--seed", str(seed),
            "--output", str(output), *args.peer_extra.get(method, [])]


def run_peer(command: list[str], output: Path, timeout: float) -> dict[str, Any]:
    output.unlink(missing_ok=True)
    print("running:", " ".join(command), flush=True)
    proc = subprocess.run(command, timeout=timeout, capture_output=True, text=True)
    if proc.returncode != 0 or not output.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise RuntimeError(f"peer run failed (exit {proc.returncode}): {' '.join(command)}\n{tail}")
    return json.loads(output.read_text(encoding="utf-8"))


class CachedEmbeddings:
    """``embed()`` of a base classifier, computed once for every training text (mining reuses it)."""

    def __init__(self, classifier: TextClassifier, texts: list[str]):
        unique = list(dict.fromkeys(texts))
        vectors = classifier.embed(unique)
        self._index = {t: i for i, t in enumerate(unique)}
        self._vectors = vectors

    def embed(self, texts):
        return self._vectors[[self._index[t] for t in texts]].copy()


def run_ours(args, train: TextDataset, test: TextDataset, few: TextDataset, base: CachedEmbeddings,
             seed: int) -> dict[str, dict[str, Any]]:
    from domaintune.augment import ParaphraseMining, augment

    chosen = set(few.texts)
    pool = [t for t in train.texts if t not in chosen]  # the rest of train, labels hidden
    start = time.perf_counter()
    mined = augment(few, [ParaphraseMining(base, pool=pool, min_similarity=args.min_similarity,
                                           margin=args.margin)], copies=args.copies, seed=seed)
    clf = TextClassifier.from_pretrained(args.model, labels=train.label_names)
    cfg = TrainingConfig(method="frozen", seed=seed, max_length=args.max_length, head_c=args.head_c,
                         contrastive_epochs=args.contrastive_epochs,
                         contrastive_learning_rate=args.contrastive_lr, progress=False)
    clf.fit(mined, None, cfg)
    seconds = time.perf_counter() - start
    rows = {"ours": {"accuracy": clf.evaluate(test)["accuracy"], "train_seconds": seconds,
                     "n_train": len(mined), "n_mined": len(mined) - len(few)}}
    if args.remine:
        start = time.perf_counter()
        remined = augment(few, [ParaphraseMining(clf, pool=pool, min_similarity=args.remine_min_similarity,
                                                 margin=args.margin)], copies=args.remine_copies, seed=seed)
        clf.fit(remined, None, TrainingConfig(method="frozen", seed=seed, max_length=args.max_length,
                                              head_c=args.head_c, progress=False))
        rows["ours+remine"] = {"accuracy": clf.evaluate(test)["accuracy"],
                               "train_seconds": seconds + time.perf_counter() - start,
                               "n_train": len(remined), "n_mined": len(remined) - len(few)}
    return rows


def record(result: dict[str, Any]) -> None:
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.executable).name] + sys.argv), "machine": machine(),
              "load_average": os.getloadavg()[0], **result}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "fewshot.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")


def summary(method: str, runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    accs = [runs[s]["accuracy"] for s in sorted(runs)]
    secs = [runs[s]["train_seconds"] for s in sorted(runs)]
    return {"method": method, "seeds": sorted(runs), "accuracy_per_seed": accs,
            "accuracy_mean": statistics.fmean(accs),
            "accuracy_std": statistics.pstdev(accs) if len(accs) > 1 else 0.0,
            "train_seconds_per_seed": [round(s, 1) for s in secs],
            "train_seconds_median": round(statistics.median(secs), 1),
            "runs": {str(s): runs[s] for s in sorted(runs)}}


SETTING = {"ours": "semi-supervised (770 labelled + unlabelled rest of train)",
           "ours+remine": "semi-supervised (770 labelled + unlabelled rest of train)",
           "setfit": "supervised (770 labelled)", "hf-trainer": "supervised (770 labelled)"}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| method | setting | accuracy per seed | mean | train time (median) |",
             "|---|---|---|---|---|"]
    for r in rows:
        per_seed = " / ".join(f"{100 * a:.2f} (s{s})" for s, a in zip(r["seeds"], r["accuracy_per_seed"],
                                                                       strict=True))
        lines.append(f"| {r['method']} | {SETTING.get(r['method'], '')} | {per_seed} | "
                     f"**{100 * r['accuracy_mean']:.2f}%** | {r['train_seconds_median']:.0f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from domaintune.hub import resolve_model

    model_dir = Path(resolve_model(args.model))
    peers = [m for m in args.methods if m in PEER_RUNNERS]
    problem = peers_problem(args.peers_python) if peers else None
    if problem:
        print(problem, flush=True)
        peers = []
    train, test = load()
    results: dict[str, dict[int, dict[str, Any]]] = {}
    base = None
    for seed in sorted(set(args.seeds) | set(args.peer_seeds if peers else [])):
        few = sample_per_class(train, args.shots, seed=seed)
        subset = write_subset(few, args.work_dir / f"banking77-{args.shots}shot-seed{seed}.csv")
        if "ours" in args.methods and seed in args.seeds:
            if base is None:
                base = CachedEmbeddings(TextClassifier.from_pretrained(args.model, labels=train.label_names),
                                        train.texts)
            for name, row in run_ours(args, train, test, few, base, seed).items():
                results.setdefault(name, {})[seed] = row
                print(f"seed {seed} {name}: accuracy {row['accuracy']:.4f}, {row['n_mined']} mined, "
                      f"{row['train_seconds']:.0f}s", flush=True)
        for method in peers:
            if seed not in args.peer_seeds:
                continue
            output = args.work_dir / f"{method}-seed{seed}.json"
            cmd = peer_command(args, method, subset, DATA / "test.csv", seed, model_dir, output)
            row = run_peer(cmd, output, args.peer_timeout)
            results.setdefault(method, {})[seed] = row
            print(f"seed {seed} {method}: accuracy {row['accuracy']:.4f}, {row['train_seconds']:.0f}s",
                  flush=True)
    rows = [summary(m, runs) for m, runs in results.items()]
    for row in rows:
        if not args.no_record:
            record({"benchmark": f"banking77-{args.shots}shot-peers", "setting": SETTING.get(row["method"]),
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "peers_skipped": problem, **row})
    if problem:
        print(problem)
    print(table(rows))


if __name__ == "__main__":
    main()

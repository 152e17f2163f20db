"""Shared helpers of the peer runners (standard library only: they run in the peers' venv).

A subset file is a CSV with the columns ``text`` and ``category`` (as BANKING77's own files);
a runner writes one JSON object (accuracy, seconds, versions) to ``--output``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def base_parser(description: str | None, model_help: str) -> argparse.ArgumentParser:
    """The arguments every runner takes: the subset and test files, the model, the output file,
    the seed, the batch size (16) and a step cap for smoke tests; a runner adds its own."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True, type=Path, help="CSV with text,category")
    parser.add_argument("--test", required=True, type=Path, help="CSV with text,category")
    parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--output", required=True, type=Path, help="JSON result file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=-1, help="cap on steps (smoke tests only)")
    return parser


class Subsets:
    """The training subset and the test set of a run (:func:`read_csv` of each), with the label
    names (sorted) and their indices."""

    def __init__(self, train: str | Path, test: str | Path) -> None:
        self.train_texts, self.train_labels = read_csv(train)
        self.test_texts, self.test_labels = read_csv(test)
        self.names = sorted(set(self.train_labels))
        self.index = {n: i for i, n in enumerate(self.names)}


def train_loss(train_output: Any) -> float | None:
    """The mean training loss that ``Trainer.train()`` reports, where it reports one."""
    loss = getattr(train_output, "training_loss", None)
    return None if loss is None else round(float(loss), 4)


def read_csv(path: str | Path, text: str = "text", label: str = "category") -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or text not in rows[0] or label not in rows[0]:
        raise SystemExit(f"{path}: expected a CSV with columns {text!r} and {label!r}, "
                         f"found {list(rows[0]) if rows else 'no rows'}")
    return [r[text] for r in rows], [r[label] for r in rows]


def write_json_atomic(path: str | Path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def accuracy(predicted: list[str], gold: list[str]) -> float:
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)

"""Shared helpers of the peer runners (standard library only: they run in the peers' venv).

A subset file is a CSV with the columns ``text`` and ``category`` (as BANKING77's own files);
a runner writes one JSON object (accuracy, seconds, versions) to ``--output``.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path


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

"""benchmarks/bench_wnut17.py is bench_ner.py --dataset wnut17 with its own defaults (no
training here: only the arguments the wrapper hands on)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def benches():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        yield importlib.import_module("bench_ner"), importlib.import_module("bench_wnut17")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_wnut17_wrapper_runs_bench_ner_with_its_defaults(benches, monkeypatch):
    ner, wnut = benches
    parse = ner.build_parser().parse_args
    args = parse(wnut.command([]))
    assert (args.dataset, args.epochs, args.lr) == ("wnut17", 6, 1e-4)
    assert args.output == ner.OUT / "wnut17.jsonl"
    # the commands in its docstring and in RESULTS.md: given options override the defaults
    args = parse(wnut.command(["--limit", "50", "--max-steps", "5", "--output", "/tmp/s.jsonl",
                               "--epochs", "2", "--save-dir", "/tmp/m"]))
    assert (args.limit, args.max_steps, args.epochs, args.lr) == (50, 5, 2, 1e-4)
    assert args.output == Path("/tmp/s.jsonl") and args.save_dir == Path("/tmp/m")
    with pytest.raises(SystemExit, match="always runs WNUT-17"):
        wnut.command(["--dataset", "sec"])
    seen = []
    monkeypatch.setattr(ner, "main", seen.append)
    monkeypatch.setattr(sys, "argv", ["bench_wnut17.py", "--max-steps", "40"])
    wnut.main()
    assert seen == [wnut.command(["--max-steps", "40"])]
    assert wnut.DATA == ner.DATA / "wnut17"  # bench_export.py reads the folder from here

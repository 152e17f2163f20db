"""WNUT-17 emerging-entity NER: train on train, early-stop on dev, entity-level F1 on test.

Usage:
    python benchmarks/bench_wnut17.py [--model default] [--method full] [--epochs 6] [--lr 1e-4]
    python benchmarks/bench_wnut17.py --limit 50 --max-steps 5 --output /tmp/smoke.jsonl  # smoke

A thin wrapper: ``python benchmarks/bench_ner.py --dataset wnut17`` with this benchmark's own
defaults, ``--epochs 6 --lr 1e-4 --output benchmarks/out/wnut17.jsonl``; every other option
(and ``--help``) is bench_ner.py's, and options given here override those defaults.

Data: ../shared/datasets/wnut17 (or $DOMAINTUNE_DATASETS/wnut17), the official task files
``wnut17train.conll`` (3,394 sentences), ``emerging.dev.conll`` (1,009) and
``emerging.test.annotated`` (1,287): ``token<TAB>tag``, BIO, six entity types. Scores are
entity-level (seqeval, IOB2 strict: type and both boundaries must match), micro-averaged, as in
the shared task's "entity F1", for both decodings (argmax + repair, Viterbi). Results are
printed as JSON and appended to benchmarks/out/wnut17.jsonl (with the command, machine and
date; records before this wrapper hold one decoding); RESULTS.md is written by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ner  # noqa: E402

DATA = bench_ner.DATA / "wnut17"  # the WNUT-17 folder (bench_export.py reads it from here)
DEFAULTS = ("--epochs", "6", "--lr", "1e-4", "--output", str(bench_ner.OUT / "wnut17.jsonl"))


def command(argv: Sequence[str]) -> list[str]:
    """bench_ner.py's arguments for ``bench_wnut17.py ARGV`` (later options win in argparse)."""
    if any(a == "--dataset" or a.startswith("--dataset=") for a in argv):
        sys.exit("bench_wnut17.py always runs WNUT-17; for another dataset run "
                 "benchmarks/bench_ner.py --dataset NAME")
    return ["--dataset", "wnut17", *DEFAULTS, *argv]


def main(argv: Sequence[str] | None = None) -> None:
    bench_ner.main(command(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()

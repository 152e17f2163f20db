"""Split the Financial PhraseBank into de-duplicated, stratified train/validation/test CSVs.

Input: ``financial_phrasebank/financial_phrasebank_all.csv`` in the datasets folder
(``--datasets``, else ``$DOMAINTUNE_DATASETS``, else ``../shared/datasets`` beside the
repository; see its ``SOURCE.md``): the 4,846 sentences of ``Sentences_50Agree.txt`` (UTF-8,
columns ``sentence,label,agreement_min_pct``; ``agreement_min_pct`` is the strictest agreement
file the sentence is in: 100 = all annotators agree, 75, 66 or 50). The 50%-agreement set is
every sentence; the all-agree subset is the rows with agreement 100.

Duplicates: sentences are compared after Unicode NFKC, lower-casing, removing punctuation and
collapsing spaces (the release has 8 exact duplicates and 3 that differ only in a comma or in
case). Of a group of copies, one row is kept: the one with the highest agreement. When the
copies disagree on the label (2 groups in the release, both at 66% agreement for each label)
the group is dropped entirely: neither label is trustworthy, and keeping one at random would
put a coin-flip label into the data. (A rule "keep the higher-agreement label" would decide
such a group if the agreements differed; the release has no such group, and the counts say so.)

Split: 80/10/10, stratified by label and by the all-agree flag (so each split has the same
share of all-agree sentences per label), seeded (``--seed``, default 42): within each stratum
the rows are shuffled and ``round(10%)`` go to test, ``round(10%)`` to validation, the rest to
train. Rows keep the release's order within each output file.

Output (``--output``, default ``data/phrasebank/``), UTF-8, header row, written atomically
(temporary file in the folder, then ``os.replace``):

| file | rows | what |
|---|---|---|
| ``train.csv`` / ``validation.csv`` / ``test.csv`` | 3,867 / 483 / 483 | columns ``text,label,agreement`` |
| ``test_allagree.csv`` | 226 | the rows of ``test.csv`` with agreement 100 |

The licence is CC BY-NC-SA 3.0 (non-commercial): never commit the generated files.

Usage:
    python data/prepare_phrasebank.py [--datasets DIR] [--output data/phrasebank] [--seed 42]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))
DEFAULT_OUT = ROOT / "data" / "phrasebank"
SOURCE_NAME = Path("financial_phrasebank") / "financial_phrasebank_all.csv"
REQUIRED = ("sentence", "label", "agreement_min_pct")
LABELS = ("negative", "neutral", "positive")
AGREEMENTS = (50, 66, 75, 100)
HEADER = ["text", "label", "agreement"]
_PUNCT = re.compile(r"[^\w\s]")


class PrepareError(ValueError):
    """The source file is missing or malformed."""


def normalise(text: str) -> str:
    """The key that duplicates share: NFKC, lower case, no punctuation, single spaces."""
    return " ".join(_PUNCT.sub(" ", unicodedata.normalize("NFKC", text).lower()).split())


def read_rows(source: Path) -> list[tuple[str, str, int]]:
    """``(text, label, agreement)`` per row of the convenience CSV, validated."""
    if not source.is_file():
        raise PrepareError(f"Financial PhraseBank CSV {source} does not exist; pass --datasets DIR "
                           "(the folder that holds financial_phrasebank/) or set "
                           "DOMAINTUNE_DATASETS")
    rows = []
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise PrepareError(f"{source}: expected columns {list(REQUIRED)}, found "
                               f"{reader.fieldnames}; is this financial_phrasebank_all.csv?")
        for line, row in enumerate(reader, start=2):
            text, label = row["sentence"].strip(), row["label"].strip().lower()
            try:
                agreement = int(row["agreement_min_pct"])
            except ValueError:
                agreement = -1
            if not text or label not in LABELS or agreement not in AGREEMENTS:
                raise PrepareError(f"{source} line {line}: expected a sentence, a label in "
                                   f"{list(LABELS)} and an agreement in {list(AGREEMENTS)}, found "
                                   f"{row!r}")
            rows.append((text, label, agreement))
    if not rows:
        raise PrepareError(f"{source} has no rows")
    return rows


def deduplicate(rows: list[tuple[str, str, int]]) -> tuple[list[tuple[str, str, int]], dict[str, int]]:
    """One row per normalised sentence (see the module docstring); returns rows and counts."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (text, _, _) in enumerate(rows):
        groups[normalise(text)].append(i)
    keep: set[int] = set()
    counts = Counter()
    for members in groups.values():
        if len(members) == 1:
            keep.add(members[0])
            continue
        counts["duplicate_groups"] += 1
        counts["duplicate_rows_removed"] += len(members) - 1
        best = max(rows[i][2] for i in members)
        top = [i for i in members if rows[i][2] == best]
        if len({rows[i][1] for i in top}) > 1:  # equal agreement, different labels
            counts["conflicting_groups_dropped"] += 1
            counts["duplicate_rows_removed"] += 1  # the copy that would have been kept
            continue
        if len({rows[i][1] for i in members}) > 1:
            counts["conflicts_decided_by_agreement"] += 1
        keep.add(top[0])
    return [rows[i] for i in sorted(keep)], dict(counts)


def split(rows: list[tuple[str, str, int]], *, seed: int = 42, validation: float = 0.1,
          test: float = 0.1) -> dict[str, list[tuple[str, str, int]]]:
    """Stratified (label x all-agree) seeded split; each part keeps the input order."""
    strata: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for i, (_, label, agreement) in enumerate(rows):
        strata[(label, agreement == 100)].append(i)
    rng = random.Random(seed)
    part_of: dict[int, str] = {}
    for key in sorted(strata):
        members = strata[key][:]
        rng.shuffle(members)
        n_test, n_val = round(test * len(members)), round(validation * len(members))
        for j, i in enumerate(members):
            part_of[i] = "test" if j < n_test else "validation" if j < n_test + n_val else "train"
    parts: dict[str, list[tuple[str, str, int]]] = {"train": [], "validation": [], "test": []}
    for i, row in enumerate(rows):
        parts[part_of[i]].append(row)
    parts["test_allagree"] = [r for r in parts["test"] if r[2] == 100]
    return parts


def write_csv(path: Path, rows: list[tuple[str, str, int]]) -> None:
    """Write ``rows`` under ``HEADER`` atomically (temporary file beside it, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    os.replace(tmp, path)


def prepare(datasets: Path, out: Path, *, seed: int = 42) -> dict:
    """Read, de-duplicate, split and write; returns the counts."""
    source = datasets / SOURCE_NAME
    rows = read_rows(source)
    unique, dup = deduplicate(rows)
    parts = split(unique, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        write_csv(out / f"{name}.csv", part)
    return {"source": str(source), "output": str(out), "seed": seed, "rows_read": len(rows),
            "rows_kept": len(unique), **{k: dup.get(k, 0) for k in (
                "duplicate_groups", "duplicate_rows_removed", "conflicting_groups_dropped",
                "conflicts_decided_by_agreement")},
            "splits": {name: {"rows": len(part), **Counter(r[1] for r in part)}
                       for name, part in parts.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS,
                        help="folder holding financial_phrasebank/ (default: $DOMAINTUNE_DATASETS "
                             "or ../shared/datasets beside the repository)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        c = prepare(args.datasets, args.output, seed=args.seed)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = c["splits"]
    print(f"read {c['rows_read']} sentences from {c['source']}; {c['duplicate_groups']} duplicate "
          f"groups (normalised text): removed {c['duplicate_rows_removed']} rows, of which "
          f"{c['conflicting_groups_dropped']} groups were dropped whole because their copies "
          f"disagree on the label at equal agreement ({c['conflicts_decided_by_agreement']} "
          f"conflicts decided by higher agreement); kept {c['rows_kept']}.")
    for name in ("train", "validation", "test", "test_allagree"):
        labels = ", ".join(f"{lab} {s[name].get(lab, 0)}" for lab in LABELS)
        print(f"  {name + '.csv':<19} {s[name]['rows']:>5} rows ({labels})")
    print(f"seed {c['seed']}; wrote 4 files to {c['output']} (CC BY-NC-SA 3.0: do not commit them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

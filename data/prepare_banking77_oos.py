"""Convert BANKING77-OOS (line files) into the CSVs the support bot reads.

Input: the ``banking77_oos_salesforce`` folder (see ``../shared/datasets/banking77/SOURCE.md``):
``{train,valid,test}/{seq.in,label}`` with 50 in-scope intents, ``id-oos/{train,valid,test}/``
(27 held-out banking intents, labelled ``oos``, original label in ``label_original``) and
``ood-oos/{valid,test}/`` (general out-of-domain questions). ``seq.in`` holds one utterance per
line, aligned with ``label``.

Output (``--out``, default ``data/prepared/banking77_oos``):

| file | columns | what |
|---|---|---|
| ``train.csv`` / ``valid.csv`` / ``test.csv`` | ``text,intent`` | in-scope utterances |
| ``id_oos_{train,valid,test}.csv`` | ``text,original_intent`` | in-domain out-of-scope |
| ``ood_oos_{valid,test}.csv`` | ``text`` | out-of-domain out-of-scope |
| ``oos_valid.csv`` | ``text`` | ID-OOS valid + OOD-OOS valid: the bot's ``--oos`` tuning set |
| ``faq.csv`` | ``id,question,answer,intent`` | one entry per intent whose questions are the first ``--faq-questions`` training utterances of that intent (the dataset has no answers: the answer says which intent it is) |

The FAQ lets the bot's retrieval-similarity signal work on this data (similarity to known
training utterances); it is built from the training split only, so nothing leaks into the test
split.

Usage:
    python data/prepare_banking77_oos.py [--source ../shared/datasets/banking77/banking77_oos_salesforce]
        [--out data/prepared/banking77_oos] [--faq-questions 8]
    support-bot train --intents data/prepared/banking77_oos/train.csv \\
        --faq data/prepared/banking77_oos/faq.csv --oos data/prepared/banking77_oos/oos_valid.csv \\
        --output models/banking77-bot
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = (Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))
                  / "banking77" / "banking77_oos_salesforce")
DEFAULT_OUT = ROOT / "data" / "prepared" / "banking77_oos"


SKIPPED: dict[str, int] = {}  # empty utterances skipped per split (the source has a few)


class PrepareError(ValueError):
    """The source folder is missing files or its line files disagree."""


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise PrepareError(f"expected {path}, found no such file; pass --source pointing at the "
                           "banking77_oos_salesforce folder")
    return [line.rstrip("\n").strip() for line in path.read_text(encoding="utf-8").splitlines()]


def read_split(folder: Path, *extra: str) -> list[tuple[str, ...]]:
    """Rows ``(text, label, *extra)`` of one split folder, checking that the files align; empty
    utterances are skipped (counted in ``SKIPPED``)."""
    texts = read_lines(folder / "seq.in")
    columns = [read_lines(folder / name) for name in ("label", *extra)]
    for name, column in zip(("label", *extra), columns, strict=True):
        if len(column) != len(texts):
            raise PrepareError(f"{folder}: seq.in has {len(texts)} lines but {name} has "
                               f"{len(column)}; the files must be aligned line by line")
    rows = [row for row in zip(texts, *columns, strict=True) if row[0]]
    SKIPPED[str(folder.name if folder.parent.name not in ("id-oos", "ood-oos")
                else f"{folder.parent.name}/{folder.name}")] = len(texts) - len(rows)
    return rows


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def prepare(source: Path, out: Path, faq_questions: int = 8) -> dict[str, int]:
    """Write the CSVs; returns row counts per file."""
    if not source.is_dir():
        raise PrepareError(f"BANKING77-OOS folder {source} does not exist; pass --source (see "
                           "../shared/datasets/banking77/SOURCE.md)")
    counts: dict[str, int] = {}
    splits = {name: read_split(source / name) for name in ("train", "valid", "test")}
    for name, rows in splits.items():
        write_csv(out / f"{name}.csv", ["text", "intent"], rows)
        counts[f"{name}.csv"] = len(rows)
    oos_valid: list[tuple[str]] = []
    for name in ("train", "valid", "test"):
        rows = read_split(source / "id-oos" / name, "label_original")
        write_csv(out / f"id_oos_{name}.csv", ["text", "original_intent"], [(t, o) for t, _, o in rows])
        counts[f"id_oos_{name}.csv"] = len(rows)
        if name == "valid":
            oos_valid += [(t,) for t, _, _ in rows]
    for name in ("valid", "test"):
        rows = read_split(source / "ood-oos" / name)
        write_csv(out / f"ood_oos_{name}.csv", ["text"], [(t,) for t, _ in rows])
        counts[f"ood_oos_{name}.csv"] = len(rows)
        if name == "valid":
            oos_valid += [(t,) for t, _ in rows]
    write_csv(out / "oos_valid.csv", ["text"], oos_valid)
    counts["oos_valid.csv"] = len(oos_valid)
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, label in splits["train"]:
        if len(by_intent[label]) < faq_questions and "||" not in text:
            by_intent[label].append(text)
    faq = [(f"b77-{i + 1:03d}", " || ".join(questions),
            f"This is about {label.replace('_', ' ')}.", label)
           for i, (label, questions) in enumerate(sorted(by_intent.items()))]
    write_csv(out / "faq.csv", ["id", "question", "answer", "intent"], faq)
    counts["faq.csv"] = len(faq)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--faq-questions", type=int, default=8,
                        help="training utterances per intent used as FAQ questions")
    args = parser.parse_args(argv)
    try:
        counts = prepare(args.source, args.out, args.faq_questions)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {counts['train.csv']}/{counts['valid.csv']}/{counts['test.csv']} in-scope "
          f"train/valid/test rows, {counts['id_oos_test.csv']} ID-OOS and "
          f"{counts['ood_oos_test.csv']} OOD-OOS test rows, {counts['oos_valid.csv']} OOS "
          f"validation rows and {counts['faq.csv']} FAQ entries to {args.out}; skipped "
          f"{sum(SKIPPED.values())} empty utterances "
          f"({', '.join(f'{k} {v}' for k, v in SKIPPED.items() if v) or 'none'}). Files: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

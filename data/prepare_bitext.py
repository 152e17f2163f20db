"""Turn the Bitext customer-support sample into an FAQ, held-out paraphrase queries and intents.

Input: ``Bitext_Sample_Customer_Support_Training_Dataset.csv`` (see
``../shared/datasets/bitext_customer_support/SOURCE.md``): 4,514 rows of ``instruction`` (a
customer message), ``intent`` (27), ``category`` and ``response`` (an agent answer with
placeholders such as ``{{Order Number}}``). The data is synthetic (generated and curated), not
real customer traffic.

Per intent, a seeded share of the messages (``--heldout``, default 0.2) is held out as queries;
the rest become the FAQ questions. With ``--answers-per-intent 1`` (default) each intent is one
FAQ entry whose answer is the intent's most typical response (the one with the highest mean
TF-IDF cosine similarity to the others); with ``K > 1`` the intent's responses are clustered
into K groups (TF-IDF + k-means, seeded) and each cluster is an entry, answered by its most
typical response, with the messages whose responses fell into it as questions.

Placeholders: ``{{Order Number}}`` becomes the bot slot ``{order_number}``; every other
``{{Name}}`` becomes ``[Name]`` (company details, not something to ask the customer).

Output (``--out``, default ``data/prepared/bitext``):

| file | columns | what |
|---|---|---|
| ``faq.csv`` | ``id,question,answer,intent,tags`` | questions joined by `` || ``, tags = category |
| ``faq_queries.csv`` | ``query,faq_id`` | held-out messages and the entry that answers them |
| ``intents.csv`` / ``intents_test.csv`` | ``text,intent`` | the FAQ questions / held-out messages |
| ``train_pairs.csv`` | ``query,passage`` | (FAQ question, its entry's answer), to fine-tune a bi-encoder |

Held-out messages equal (up to case and spacing) to a kept message are dropped.

Usage:
    python data/prepare_bitext.py [--source PATH.csv] [--out data/prepared/bitext]
        [--heldout 0.2] [--answers-per-intent 1] [--max-questions 60] [--seed 13]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = (Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))
                  / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv")
DEFAULT_OUT = ROOT / "data" / "prepared" / "bitext"
REQUIRED = ("instruction", "intent", "category", "response")
SLOTS = {"order number": "order_number"}
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


class PrepareError(ValueError):
    """The source file is missing or lacks columns."""


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def convert_placeholders(text: str) -> str:
    """``{{Order Number}}`` -> ``{order_number}``; other ``{{X}}`` -> ``[X]``; stray braces kept
    out of the slot syntax."""
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        slot = SLOTS.get(name.lower())
        return "{" + slot + "}" if slot else f"[{name}]"

    out = _PLACEHOLDER.sub(sub, text)
    return re.sub(r"\{(?![a-z_][a-z0-9_]*\})", "(", out).strip()


def read_rows(source: Path) -> list[dict[str, str]]:
    if not source.is_file():
        raise PrepareError(f"Bitext CSV {source} does not exist; pass --source (see "
                           "../shared/datasets/bitext_customer_support/SOURCE.md)")
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise PrepareError(f"{source}: expected columns {list(REQUIRED)}, found "
                               f"{reader.fieldnames}; is this the Bitext sample CSV?")
        return [r for r in reader if r["instruction"].strip() and r["response"].strip()]


def typical(indices: list[int], matrix) -> int:
    """The index (of ``indices``) whose row has the highest mean cosine to the others."""
    sub = matrix[indices]
    sims = (sub @ sub.T).toarray() if hasattr(sub, "toarray") else sub @ sub.T
    return indices[int(sims.mean(axis=1).argmax())]


def prepare(source: Path, out: Path, *, heldout: float = 0.2, answers_per_intent: int = 1,
            max_questions: int = 60, seed: int = 13) -> dict[str, int]:
    """Write the files; returns counts."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not 0 < heldout < 1:
        raise PrepareError(f"--heldout expects a fraction in (0, 1), found {heldout}")
    rows = read_rows(source)
    responses = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform(
        [r["response"] for r in rows])  # rows are L2-normalised: dot product = cosine
    by_intent: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_intent[r["intent"].strip()].append(i)
    rng = random.Random(seed)
    faq, queries, kept_rows, test_rows, pairs = [], [], [], [], []
    dropped = 0
    for intent in sorted(by_intent):
        idx = by_intent[intent][:]
        rng.shuffle(idx)
        n_test = max(1, round(heldout * len(idx)))
        test, train = idx[:n_test], idx[n_test:]
        k = max(1, min(answers_per_intent, len(train)))
        if k > 1:
            labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(responses[train])
            assign = {i: int(c) for i, c in zip(train, labels, strict=True)}
        else:
            assign = dict.fromkeys(train, 0)
        entry_of: dict[int, str] = {}
        for cluster in range(k):
            members = [i for i in train if assign[i] == cluster]
            if not members:
                continue
            entry_id = f"{intent}" if k == 1 else f"{intent}-{cluster + 1}"
            answer = convert_placeholders(rows[typical(members, responses)]["response"])
            questions = list(dict.fromkeys(rows[i]["instruction"].strip().replace("||", "|")
                                           for i in members))[:max_questions]
            faq.append((entry_id, " || ".join(questions), answer, intent, rows[members[0]]["category"]))
            pairs += [(q, answer) for q in questions]
            for i in members:
                entry_of[i] = entry_id
        kept = {normalise(rows[i]["instruction"]) for i in train}
        kept_rows += [(rows[i]["instruction"].strip(), intent) for i in train]
        for i in test:
            text = rows[i]["instruction"].strip()
            if normalise(text) in kept:
                dropped += 1
                continue
            # the entry that answers it: its own response's cluster (nearest centroid member)
            if k > 1:
                sims = (responses[i] @ responses[train].T).toarray()[0]
                target = entry_of[train[int(sims.argmax())]]
            else:
                target = next(iter(entry_of.values()))
            queries.append((text, target))
            test_rows.append((text, intent))
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "faq.csv", ["id", "question", "answer", "intent", "tags"], faq)
    _write(out / "faq_queries.csv", ["query", "faq_id"], queries)
    _write(out / "intents.csv", ["text", "intent"], kept_rows)
    _write(out / "intents_test.csv", ["text", "intent"], test_rows)
    _write(out / "train_pairs.csv", ["query", "passage"], pairs)
    return {"rows": len(rows), "intents": len(by_intent), "faq_entries": len(faq),
            "queries": len(queries), "train_messages": len(kept_rows), "pairs": len(pairs),
            "dropped_duplicates": dropped}


def _write(path: Path, header: list[str], rows: list[tuple]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--heldout", type=float, default=0.2)
    parser.add_argument("--answers-per-intent", type=int, default=1)
    parser.add_argument("--max-questions", type=int, default=60,
                        help="question paraphrases kept per FAQ entry")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    try:
        counts = prepare(args.source, args.out, heldout=args.heldout,
                         answers_per_intent=args.answers_per_intent,
                         max_questions=args.max_questions, seed=args.seed)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"read {counts['rows']} rows ({counts['intents']} intents); wrote {counts['faq_entries']} "
          f"FAQ entries, {counts['queries']} held-out queries ({counts['dropped_duplicates']} held-out "
          f"messages dropped as duplicates of FAQ questions), {counts['train_messages']} training "
          f"messages and {counts['pairs']} (question, answer) pairs to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

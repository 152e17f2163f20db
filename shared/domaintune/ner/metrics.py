"""Entity-level NER metrics (seqeval, IOB2 strict) and a token-level report that includes O.

Entity level is the number that matters: an entity counts as correct only when its type and
both boundaries match the gold entity exactly (seqeval ``mode="strict"``, ``scheme=IOB2``;
the CoNLL-2003 / WNUT-17 convention). ``entity_f1`` is the micro average over all entities;
``macro_f1`` is the unweighted mean over the entity types found in the gold data or in the
predictions. Token-level scores are reported separately under ``token_level_including_O``:
they count every word, including the ``O`` words that make up most of any corpus, so a model
that predicts nothing still gets a high token accuracy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .data import bio_chunks, repair_bio

MODE = "strict"
SCHEME = "IOB2"


def entity_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level precision, recall and F1 (micro, macro, per type) plus a token-level report.

    Both tag sequences are made valid IOB2 first (an ``I-X`` that cannot continue an entity
    becomes ``B-X``, as conlleval reads it), so strict and conlleval modes agree.

    Args:
        gold: gold BIO tags per sentence.
        pred: predicted BIO tags per sentence (same lengths).

    Returns:
        ``entity_f1`` (micro), ``entity_precision``, ``entity_recall``, ``macro_f1``,
        ``per_type`` (precision, recall, f1, support = gold entities, predicted), counts of
        gold/predicted/correct entities, ``mode`` and ``scheme``, and
        ``token_level_including_O`` (accuracy and per-tag scores over all words).

    Example:
        >>> m = entity_metrics([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
        >>> m["entity_precision"], m["entity_recall"], m["entity_f1"]
        (0.5, 0.5, 0.5)
    """
    if len(gold) != len(pred):
        raise ValueError(f"expected as many predicted as gold sentences, found {len(pred)} and {len(gold)}")
    gold = [repair_bio(seq)[0] for seq in gold]
    pred = [repair_bio(seq)[0] for seq in pred]
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags")
    per_type = _per_type_seqeval(gold, pred)
    gold_n = Counter(k for seq in gold for k, _, _ in bio_chunks(seq))
    pred_n = Counter(k for seq in pred for k, _, _ in bio_chunks(seq))
    gold_set = {(i, c) for i, seq in enumerate(gold) for c in bio_chunks(seq)}
    pred_set = {(i, c) for i, seq in enumerate(pred) for c in bio_chunks(seq)}
    correct = len(gold_set & pred_set)
    n_gold, n_pred = sum(gold_n.values()), sum(pred_n.values())
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    for kind, row in per_type.items():
        row["predicted"] = int(pred_n.get(kind, 0))
    macro = sum(r["f1"] for r in per_type.values()) / len(per_type) if per_type else 0.0
    return {
        "entity_f1": f1,
        "entity_precision": precision,
        "entity_recall": recall,
        "macro_f1": macro,
        "per_type": per_type,
        "n_gold_entities": n_gold,
        "n_predicted_entities": n_pred,
        "n_correct_entities": correct,
        "n_sentences": len(gold),
        "n_tokens": sum(len(s) for s in gold),
        "mode": MODE,
        "scheme": SCHEME,
        "token_level_including_O": token_report(gold, pred),
    }


def _per_type_seqeval(gold: list[list[str]], pred: list[list[str]]) -> dict[str, dict[str, Any]]:
    """Per-type precision/recall/F1/support from seqeval's strict IOB2 report."""
    if not any(t != "O" for seq in gold for t in seq) and not any(t != "O" for seq in pred for t in seq):
        return {}
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    report = classification_report(gold, pred, mode=MODE, scheme=IOB2, output_dict=True,
                                   zero_division=0)
    return {
        kind: {"precision": float(row["precision"]), "recall": float(row["recall"]),
               "f1": float(row["f1-score"]), "support": int(row["support"])}
        for kind, row in sorted(report.items())
        if kind not in ("micro avg", "macro avg", "weighted avg")
    }


def token_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Word-level tag accuracy and per-tag precision/recall/F1, O included (see module doc)."""
    from sklearn.metrics import precision_recall_fscore_support

    flat_gold = [t for seq in gold for t in seq]
    flat_pred = [t for seq in pred for t in seq]
    tags = sorted(set(flat_gold) | set(flat_pred), key=lambda t: (t != "O", t[2:], t))
    if not flat_gold:
        return {"accuracy": 0.0, "macro_f1": 0.0, "per_tag": {}, "includes_O": True}
    precision, recall, f1, support = precision_recall_fscore_support(
        flat_gold, flat_pred, labels=tags, zero_division=0)
    present = [i for i, s in enumerate(support) if s > 0]
    return {
        "accuracy": sum(g == p for g, p in zip(flat_gold, flat_pred, strict=True)) / len(flat_gold),
        "macro_f1": float(sum(f1[i] for i in present) / len(present)) if present else 0.0,
        "per_tag": {tag: {"precision": float(precision[i]), "recall": float(recall[i]),
                          "f1": float(f1[i]), "support": int(support[i])}
                    for i, tag in enumerate(tags)},
        "includes_O": True,
        "note": "word-level scores over every word, O included; O dominates, so these are "
                "much higher than the entity-level scores (use entity_f1)",
    }

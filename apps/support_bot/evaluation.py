"""Evaluating a support bot: intent accuracy, out-of-scope recall/precision and FAQ retrieval,
with a report (``metrics.json``, ``report.md``, ``confusion_matrix.png``).

Example:
    >>> from domaintune import load_dataset
    >>> bot = SupportBot.load("models/bot")  # doctest: +SKIP
    >>> evaluate(bot, load_dataset("data/support/intents_test.csv", label="intent"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from domaintune import DataError, TextDataset, classification_metrics, plot_confusion_matrix
from domaintune.pairs import retrieval_metrics
from domaintune.persistence import write_json_atomic, write_text_atomic

from .service import REPORTS_DIR, Analysis, SupportBot, now


def evaluate(bot: SupportBot, data: TextDataset, oos_texts: list[str] | None = None,
             faq_queries: list[tuple[str, str]] | None = None,
             output_dir: str | Path | None = None) -> dict[str, Any]:
    """Intent accuracy, OOS recall/precision and FAQ retrieval quality; writes a report.

    Args:
        bot: the bot to evaluate.
        data: labelled in-scope messages.
        oos_texts: out-of-scope messages (other than the ones used in training).
        faq_queries: ``(query, FAQ id)`` pairs.
        output_dir: where to write ``metrics.json``, ``confusion_matrix.png`` (intents +
            ``oos``) and ``report.md``; default ``<bot>/reports/evaluate``.

    Returns:
        ``accuracy`` (classifier, in-scope), ``macro_f1``, ``in_scope_acceptance``,
        ``in_scope_accuracy`` (accepted with the right intent), ``oos_recall``,
        ``oos_precision``, ``retrieval_mrr10``, ``retrieval_recall1``, ... (``None`` where
        the data was not given), ``most_confused`` and ``report_dir``.

    Example:
        >>> evaluate(bot, load_dataset("test.csv", label="intent"), oos_texts)["oos_recall"]  # doctest: +SKIP
    """
    labels = bot.intents
    known = set(labels)
    unknown = sorted({y for y in data.labels if y not in known})
    if unknown:
        raise DataError(f"{data.source}: intents {unknown[:10]} are not known to the bot (it knows "
                        f"{len(labels)}: {labels[:10]} ...); remove those rows, map them to known "
                        "intents, or retrain the bot with them")
    res = bot.analyze(data.texts)
    pred = np.array([a.intent for a in res])
    truth = np.array(data.labels)
    accepted = np.array([a.in_scope for a in res])
    ext = labels + (["oos"] if "oos" not in known else ["<out of scope>"])
    oos_label = ext[-1]
    index = {lab: i for i, lab in enumerate(ext)}
    y_true = [index[y] for y in truth]
    y_pred = [index[p] if ok else index[oos_label] for p, ok in zip(pred, accepted, strict=True)]
    clf_metrics = classification_metrics(np.array([index[y] for y in truth]),
                                         np.array([index[p] for p in pred]), ext)
    metrics: dict[str, Any] = {
        "accuracy": float(np.mean(pred == truth)),
        "macro_f1": clf_metrics["macro_f1"],
        "in_scope_acceptance": float(np.mean(accepted)),
        "in_scope_accuracy": float(np.mean(accepted & (pred == truth))),
        "n_in_scope": len(res),
        "oos_recall": None, "oos_precision": None, "n_oos": 0,
        "retrieval_mrr10": None, "retrieval_recall1": None, "retrieval_recall5": None,
        "retrieval_unrestricted_mrr10": None, "retrieval_unrestricted_recall1": None,
        "n_queries": 0,
    }
    oos_res = bot.analyze(list(oos_texts)) if oos_texts else []
    if oos_res:
        rejected = np.array([not a.in_scope for a in oos_res])
        y_true += [index[oos_label]] * len(oos_res)
        y_pred += [index[oos_label] if not a.in_scope else index[a.intent] for a in oos_res]
        wrongly_rejected = int((~accepted).sum())
        metrics["oos_recall"] = float(rejected.mean())
        total_rejected = int(rejected.sum()) + wrongly_rejected
        metrics["oos_precision"] = (float(rejected.sum() / total_rejected)
                                    if total_rejected else None)
        metrics["n_oos"] = len(oos_res)
    bot_metrics = classification_metrics(np.array(y_true), np.array(y_pred), ext)
    metrics["most_confused"] = bot_metrics["most_confused"][:10]
    scored = [(name, round(v["f1"], 4)) for name, v in clf_metrics["per_class"].items()
              if v["support"] > 0]
    metrics["worst_intents"] = [list(x) for x in sorted(scored, key=lambda x: x[1])[:3]]
    if faq_queries:
        metrics.update(_retrieval_metrics(bot, faq_queries))
    out = Path(output_dir) if output_dir else (
        (bot.directory or Path(".")) / REPORTS_DIR / "evaluate")
    out.mkdir(parents=True, exist_ok=True)
    plot_confusion_matrix(bot_metrics["confusion_matrix"], ext, out / "confusion_matrix.png")
    write_json_atomic(out / "metrics.json", {
        **metrics, "per_class": clf_metrics["per_class"],
        "confusion_matrix": bot_metrics["confusion_matrix"], "labels": ext,
        "bot_version": bot.version, "evaluated_at": now()})
    write_text_atomic(out / "report.md", _report(bot, metrics, res, truth, oos_res, data.source))
    metrics["report_dir"] = str(out)
    return metrics


def _retrieval_metrics(bot: SupportBot, faq_queries: list[tuple[str, str]]) -> dict[str, Any]:
    bad = sorted({fid for _, fid in faq_queries if fid not in bot.kb})
    if bad:
        raise DataError(f"FAQ queries name ids {bad[:10]} that the knowledge base does not have; "
                        "check the faq_id column against the FAQ file the bot was trained on")
    queries = [q for q, _ in faq_queries]
    relevant = [fid for _, fid in faq_queries]
    restricted = [a.ranking.ids[:10] for a in bot.analyze(queries)]
    plain = [r.ids[:10] for r in bot.rank(
        [q[: bot.config.dialogue.max_model_chars] for q in queries])]
    m = retrieval_metrics(restricted, relevant, ks=(1, 5, 10))
    u = retrieval_metrics(plain, relevant, ks=(1, 5, 10))
    return {"retrieval_mrr10": m["mrr@10"], "retrieval_recall1": m["recall@1"],
            "retrieval_recall5": m["recall@5"], "retrieval_unrestricted_mrr10": u["mrr@10"],
            "retrieval_unrestricted_recall1": u["recall@1"], "n_queries": len(queries)}


def _report(bot: SupportBot, metrics: dict[str, Any], res: list[Analysis], truth: np.ndarray,
            oos_res: list[Analysis], source: str) -> str:
    def fmt(v: Any) -> str:
        return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    lines = [f"# Support bot evaluation (version {bot.version})", "",
             f"In-scope data: `{source}` ({metrics['n_in_scope']} messages); OOS messages: "
             f"{metrics['n_oos']}; FAQ queries: {metrics['n_queries']}.", "",
             "| metric | value |", "|---|---|"]
    for key in ("accuracy", "macro_f1", "in_scope_acceptance", "in_scope_accuracy", "oos_recall",
                "oos_precision", "retrieval_recall1", "retrieval_recall5", "retrieval_mrr10",
                "retrieval_unrestricted_recall1", "retrieval_unrestricted_mrr10"):
        lines.append(f"| {key} | {fmt(metrics.get(key))} |")
    lines += ["", "`accuracy`: the classifier's intent accuracy on in-scope messages; "
              "`in_scope_accuracy`: accepted by the OOS detector **and** right.", "",
              "## Most confused (true → predicted, `oos` = rejected)", ""]
    for pair in metrics["most_confused"]:
        lines.append(f"- {pair['true']} → {pair['predicted']}: {pair['count']}")
    rejected = [(a, y) for a, y in zip(res, truth, strict=True) if not a.in_scope][:10]
    if rejected:
        lines += ["", "## In-scope messages rejected as out of scope (first 10)", ""]
        lines += [f"- `{a.text[:100]}` ({y}; predicted {a.intent} {a.confidence:.2f}, "
                  f"similarity {a.similarity:.2f})" for a, y in rejected]
    accepted = [a for a in oos_res if a.in_scope][:10]
    if accepted:
        lines += ["", "## Out-of-scope messages accepted (first 10)", ""]
        lines += [f"- `{a.text[:100]}` → {a.intent} ({a.confidence:.2f}, similarity "
                  f"{a.similarity:.2f})" for a in accepted]
    lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
    return "\n".join(lines)

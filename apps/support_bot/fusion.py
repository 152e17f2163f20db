"""Answer fusion: rank FAQ entries by a logistic regression over the retriever's and the intent
classifier's signals, learned on validation messages (not hand weights).

Per message, the candidates are the retriever's nearest entries plus the entries of the
classifier's ``faq.fusion_intents`` most probable intents. Each candidate is one row of
:data:`FEATURES`; a logistic regression (scikit-learn, standardised features) is fitted on the
candidate rows of validation messages whose intent has exactly one FAQ entry (positive: that
entry), with the candidates built as a reply builds them: a message whose right entry neither
signal brought gives negatives only. Its coefficients are saved as JSON (``fusion.json``), never a pickle, and the fused
score is a dot product at serving time.

Example:
    >>> fusion = AnswerFusion().fit(candidates, probabilities, labels, gold, intent_of)  # doctest: +SKIP
    >>> fusion.rank(candidates[0], probabilities[0], labels, intent_of)[:3]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from domaintune import DataError

FORMAT_VERSION = 1
FEATURES = (
    "cosine",              # the entry's best vector's cosine similarity to the message
    "cosine_gap",          # its cosine minus the best candidate's (<= 0)
    "inverse_rank",        # 1 / the entry's rank by cosine among the candidates
    "intent_probability",  # the classifier's calibrated probability of the entry's intent
    "log_intent_probability",
    "is_top_intent",       # the entry's intent is the classifier's best intent
    "entry_share",         # intent probability / the number of entries of that intent
    "no_intent",           # the entry has no intent (eligible for any)
)

Candidates = Sequence[tuple[str, float]]  # (entry id, cosine), any order


def features(candidates: Candidates, probability: Mapping[str, float], top_intent: str | None,
             intent_of: Mapping[str, str | None],
             entries_per_intent: Mapping[str, int]) -> tuple[list[str], np.ndarray]:
    """``(entry ids, rows)``: one row of :data:`FEATURES` per candidate, best cosine first."""
    ranked = sorted(candidates, key=lambda x: -x[1])
    if not ranked:
        return [], np.zeros((0, len(FEATURES)), dtype=np.float64)
    top = ranked[0][1]
    rows = []
    for rank, (entry_id, cosine) in enumerate(ranked, start=1):
        intent = intent_of.get(entry_id)
        p = float(probability.get(intent, 0.0)) if intent else 0.0
        rows.append((cosine, cosine - top, 1.0 / rank, p, math.log(p + 1e-4),
                     float(intent is not None and intent == top_intent),
                     p / max(1, entries_per_intent.get(intent, 1)) if intent else 0.0,
                     float(intent is None)))
    return [e for e, _ in ranked], np.asarray(rows, dtype=np.float64)


class AnswerFusion:
    """A fitted logistic regression over candidate features (see the module docstring).

    Attributes:
        mean, scale, coef, intercept: the standardisation and the model (one value per feature).
        report: validation figures of the fit (``recall@1`` and ``mrr`` of the fused, the
            retriever's and the classifier's rankings, cross-validated for the fusion).
    """

    def __init__(self, mean: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                 coef: Sequence[float] | None = None, intercept: float = 0.0,
                 report: dict[str, Any] | None = None) -> None:
        n = len(FEATURES)
        self.mean = np.zeros(n) if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
        self.coef = np.zeros(n) if coef is None else np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.report: dict[str, Any] = dict(report or {})

    # ------------------------------------------------------------------ scoring
    def decision(self, rows: np.ndarray) -> np.ndarray:
        """The fused score (log-odds of "this is the right entry") of feature rows."""
        if len(rows) == 0:
            return np.zeros(0)
        return ((rows - self.mean) / self.scale) @ self.coef + self.intercept

    def rank(self, candidates: Candidates, probability: Mapping[str, float],
             top_intent: str | None, intent_of: Mapping[str, str | None],
             entries_per_intent: Mapping[str, int]) -> list[tuple[str, float]]:
        """Candidates as ``(entry id, fused probability)``, best first."""
        ids, rows = features(candidates, probability, top_intent, intent_of, entries_per_intent)
        scores = self.decision(rows)
        order = np.argsort(-scores, kind="stable")
        return [(ids[i], float(1.0 / (1.0 + np.exp(-scores[i])))) for i in order]

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, rows: Sequence[np.ndarray], ids: Sequence[list[str]], gold: Sequence[str],
            baselines: Mapping[str, Sequence[Sequence[str]]] | None = None, *,
            seed: int = 0, folds: int = 5) -> AnswerFusion:
        """Fit on the candidate rows of validation messages.

        Args:
            rows: per message, its candidates' feature rows (:func:`features`).
            ids: per message, the candidates' entry ids (same order as ``rows``).
            gold: per message, the right entry. It need not be among the candidates: such a
                message gives negative rows only and counts as a miss in ``report``.
            baselines: other rankings of the same messages to compare with in ``report``
                (``{"retriever": [[ids...], ...], "classifier": ...}``).
            seed, folds: the cross-validation of the report (grouped by message).

        Raises:
            DataError: fewer than 2 messages, or no right or no wrong candidate at all.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold

        if len(rows) < 2:
            raise DataError(f"the answer fusion needs at least 2 validation messages, found "
                            f"{len(rows)}; give more validation data or train without the fusion")
        X = np.concatenate(list(rows))
        y = np.concatenate([np.array([e == g for e in i], dtype=int)
                            for i, g in zip(ids, gold, strict=True)])
        groups = np.concatenate([np.full(len(r), k) for k, r in enumerate(rows)])
        if y.min() == y.max():
            raise DataError(f"the answer fusion needs right and wrong candidates among the "
                            f"validation messages' candidates, found {int(y.sum())} right and "
                            f"{int(len(y) - y.sum())} wrong; fetch more candidates per message "
                            "or give more varied validation messages")

        def fit_one(Xf: np.ndarray, yf: np.ndarray) -> AnswerFusion:
            mean = Xf.mean(axis=0)
            scale = Xf.std(axis=0)
            scale[scale < 1e-9] = 1.0
            model = LogisticRegression(C=1.0, max_iter=2000)
            model.fit((Xf - mean) / scale, yf)
            return cls(mean, scale, model.coef_[0], float(model.intercept_[0]))

        fused = fit_one(X, y)
        # out-of-fold rankings: an honest figure for the fusion against the other rankings
        k = min(folds, len(rows))
        oof = np.zeros(len(y))
        if k >= 2:
            for train_idx, test_idx in GroupKFold(n_splits=k).split(X, y, groups):
                if y[train_idx].min() == y[train_idx].max():
                    oof[test_idx] = fused.decision(X[test_idx])
                    continue
                oof[test_idx] = fit_one(X[train_idx], y[train_idx]).decision(X[test_idx])
        else:
            oof = fused.decision(X)
        rankings: dict[str, list[list[str]]] = {"fusion_cv": []}
        start = 0
        for i in ids:
            scores = oof[start:start + len(i)]
            rankings["fusion_cv"].append([i[j] for j in np.argsort(-scores, kind="stable")])
            start += len(i)
        for name, ranked in (baselines or {}).items():
            rankings[name] = [list(r) for r in ranked]
        fused.report = {"n_messages": len(rows), "n_rows": int(len(y)),
                        **{name: ranking_scores(r, gold) for name, r in rankings.items()},
                        "coefficients": dict(zip(FEATURES, (round(float(c), 4)
                                                            for c in fused.coef), strict=True))}
        return fused

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "kind": "logistic_regression",
                "features": list(FEATURES), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "report": self.report}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnswerFusion:
        """Rebuild from :meth:`to_dict`'s JSON.

        Raises:
            DataError: another format or feature list, or values of the wrong length.
        """
        try:
            if list(data["features"]) != list(FEATURES):
                raise DataError(f"the fusion model uses the features {data['features']}, but this "
                                f"version computes {list(FEATURES)}; retrain the bot")
            fusion = cls(data["mean"], data["scale"], data["coef"], float(data["intercept"]),
                         data.get("report"))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a fusion model ({type(exc).__name__}: {exc}); retrain the "
                            "bot") from None
        n = len(FEATURES)
        if not (len(fusion.mean) == len(fusion.scale) == len(fusion.coef) == n) or not all(
                np.isfinite(v).all() for v in (fusion.mean, fusion.scale, fusion.coef)):
            raise DataError(f"the fusion model needs {n} finite values per array; retrain the bot")
        return fusion

    def describe(self) -> str:
        cv = self.report.get("fusion_cv", {})
        return (f"learned answer fusion on {self.report.get('n_messages', '?')} validation "
                f"messages (cross-validated Recall@1 {cv.get('recall@1', float('nan')):.3f})")


def ranking_scores(rankings: Sequence[Sequence[str]], gold: Sequence[str]) -> dict[str, float]:
    """Recall@1, Recall@5 and MRR of rankings against one right entry per message."""
    r1 = r5 = mrr = 0.0
    for ranked, g in zip(rankings, gold, strict=True):
        ranked = list(ranked)
        if g in ranked:
            pos = ranked.index(g)
            r1 += pos == 0
            r5 += pos < 5
            mrr += 1.0 / (pos + 1)
    n = max(1, len(gold))
    return {"recall@1": round(r1 / n, 4), "recall@5": round(r5 / n, 4), "mrr": round(mrr / n, 4)}

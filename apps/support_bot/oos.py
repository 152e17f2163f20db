"""Out-of-scope detection from two signals, with thresholds tuned on validation data.

Signals per message: ``confidence``, the intent classifier's temperature-calibrated top
probability, and ``similarity``, the cosine similarity of the best FAQ match.

* **With OOS examples** (``mode="combiner"``): a logistic regression (balanced class weights,
  standardised features) maps ``(confidence, similarity)`` to an in-scope score; the acceptance
  threshold on that score is the one that maximises the objective on the validation data (the
  in-scope validation split plus the OOS examples):

  - ``balanced_accuracy`` (default): ``(in-scope accuracy + OOS recall) / 2``, where in-scope
    accuracy counts a message as right only when it is accepted **and** its intent is right
    (rejecting a message the classifier would get wrong costs nothing), and OOS recall is the
    share of OOS examples rejected. With ``min_oos_recall``, only thresholds reaching it count.
  - ``in_scope_accuracy``: the highest in-scope accuracy with OOS recall >= ``min_oos_recall``.

  Candidate thresholds are the midpoints between consecutive distinct scores (plus "accept all"
  and "reject all"); ties go to the threshold that accepts more.
* **Without OOS examples** (``mode="acceptance"``): a message is accepted when both signals are
  at least their in-scope validation quantile at the same level ``q``; ``q`` is the largest
  level at which at least ``target_acceptance`` of the in-scope validation messages are accepted.

Follows scikit-learn's contract: ``fit`` returns ``self``, learned state ends in ``_``.

Example:
    >>> import numpy as np
    >>> det = OOSDetector(target_acceptance=0.9).fit(np.linspace(0.5, 1, 50), np.linspace(0.2, 0.9, 50))
    >>> round(float(det.accept([0.99], [0.8])[0]))
    1
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from domaintune import DataError, NotFittedError

from .config import OOSObjective

logger = logging.getLogger("support_bot")

FEATURES = ("confidence", "similarity")


def _as_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise DataError(f"{name} contains NaN or infinite values")
    return arr


class OOSDetector:
    """Accept or reject messages as in scope; see the module docstring for the tuning.

    Args:
        objective: ``balanced_accuracy`` or ``in_scope_accuracy``.
        min_oos_recall: required OOS recall on the OOS examples, or ``None``.
        target_acceptance: share of in-scope validation accepted when no OOS examples are given.
        min_oos_examples: fewer OOS examples fall back to ``target_acceptance``.
    """

    def __init__(self, objective: str | OOSObjective = OOSObjective.BALANCED_ACCURACY, *,
                 min_oos_recall: float | None = None, target_acceptance: float = 0.95,
                 min_oos_examples: int = 10) -> None:
        self.objective = objective
        self.min_oos_recall = min_oos_recall
        self.target_acceptance = target_acceptance
        self.min_oos_examples = min_oos_examples

    # ------------------------------------------------------------------ fitting
    def fit(self, confidence: Any, similarity: Any, correct: Any = None,
            oos_confidence: Any = None, oos_similarity: Any = None) -> OOSDetector:
        """Tune on in-scope validation signals (and OOS examples' signals when given).

        Args:
            confidence, similarity: signals of the in-scope validation messages.
            correct: per in-scope message, whether the predicted intent is right (default: all).
            oos_confidence, oos_similarity: signals of the OOS examples, or ``None``.

        Returns:
            ``self``; ``report_`` holds the validation figures at the chosen threshold.
        """
        conf = _as_array(confidence, "confidence")
        sim = _as_array(similarity, "similarity")
        if len(conf) == 0 or len(conf) != len(sim):
            raise DataError(f"expected one confidence and one similarity per in-scope validation "
                            f"message, found {len(conf)} and {len(sim)} (at least 1)")
        ok = np.ones(len(conf), bool) if correct is None else np.asarray(correct, bool).reshape(-1)
        if len(ok) != len(conf):
            raise DataError(f"expected one 'correct' flag per in-scope message, found {len(ok)} for "
                            f"{len(conf)}")
        objective = OOSObjective(self.objective)
        n_oos = 0 if oos_confidence is None else len(np.asarray(oos_confidence).reshape(-1))
        if n_oos >= self.min_oos_examples:
            o_conf = _as_array(oos_confidence, "oos_confidence")
            o_sim = _as_array(oos_similarity, "oos_similarity")
            if len(o_conf) != len(o_sim):
                raise DataError(f"expected one similarity per OOS example, found {len(o_sim)} for "
                                f"{len(o_conf)}")
            self._fit_combiner(conf, sim, ok, o_conf, o_sim, objective)
        else:
            if n_oos:
                logger.warning("only %d OOS examples (fewer than oos.min_oos_examples=%d): tuning "
                               "for %.0f%% in-scope acceptance instead", n_oos,
                               self.min_oos_examples, 100 * self.target_acceptance)
            self._fit_acceptance(conf, sim, ok)
        return self

    def _fit_combiner(self, conf, sim, ok, o_conf, o_sim, objective: OOSObjective) -> None:
        from sklearn.linear_model import LogisticRegression

        x = np.column_stack([np.concatenate([conf, o_conf]), np.concatenate([sim, o_sim])])
        y = np.concatenate([np.ones(len(conf)), np.zeros(len(o_conf))])
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-9] = 1.0
        lr = LogisticRegression(class_weight="balanced", C=1.0, max_iter=1000)
        lr.fit((x - mean) / scale, y)
        self.mode_ = "combiner"
        self.mean_ = mean.tolist()
        self.scale_ = scale.tolist()
        self.coef_ = lr.coef_[0].tolist()
        self.intercept_ = float(lr.intercept_[0])
        s_in = self.score(conf, sim)
        s_oos = self.score(o_conf, o_sim)
        levels = np.unique(np.concatenate([s_in, s_oos]))
        candidates = np.concatenate([[-np.inf], (levels[:-1] + levels[1:]) / 2, [np.inf]])
        best: tuple[float, float, float] | None = None
        fallback: tuple[float, float, float] | None = None
        for t in candidates[::-1]:  # from "reject all" down to "accept all"
            acc_in = float(np.mean((s_in >= t) & ok))
            recall = float(np.mean(s_oos < t))
            value = acc_in if objective == OOSObjective.IN_SCOPE_ACCURACY else (acc_in + recall) / 2
            if fallback is None or recall > fallback[2] or (recall == fallback[2] and acc_in > fallback[1]):
                fallback = (float(t), acc_in, recall)
            if self.min_oos_recall is not None and recall < self.min_oos_recall:
                continue
            if best is None or value >= best[0]:
                best = (value, float(t), recall)
        if best is None:
            logger.warning("no threshold reaches oos.min_oos_recall=%.2f on the OOS examples; using "
                           "the one with the highest OOS recall (%.3f)", self.min_oos_recall,
                           fallback[2])
            self.threshold_ = fallback[0]
        else:
            self.threshold_ = best[1]
        self.n_in_ = len(conf)
        self.n_oos_ = len(o_conf)
        accepted_in = s_in >= self.threshold_
        rejected_oos = s_oos < self.threshold_
        self.report_ = self._report(accepted_in, ok, rejected_oos)

    def _fit_acceptance(self, conf, sim, ok) -> None:
        target = float(self.target_acceptance)
        levels = np.linspace(0.0, 1.0 - target, 501) if target < 1 else np.array([0.0])
        best = 0.0
        for q in levels:  # acceptance only falls as q rises
            t_c, t_s = np.quantile(conf, q), np.quantile(sim, q)
            rate = float(np.mean((conf >= t_c) & (sim >= t_s)))
            if rate + 1e-12 >= target:
                best = float(q)
            else:
                break
        self.mode_ = "acceptance"
        self.quantile_ = best
        self.confidence_threshold_ = float(np.quantile(conf, best))
        self.similarity_threshold_ = float(np.quantile(sim, best))
        self.n_in_ = len(conf)
        self.n_oos_ = 0
        self.report_ = self._report(self.accept(conf, sim), ok, None)

    def _report(self, accepted_in: np.ndarray, ok: np.ndarray,
                rejected_oos: np.ndarray | None) -> dict[str, Any]:
        report: dict[str, Any] = {
            "mode": self.mode_,
            "n_in_scope": int(len(accepted_in)),
            "in_scope_acceptance": float(np.mean(accepted_in)),
            "in_scope_accuracy": float(np.mean(accepted_in & ok)),
        }
        if rejected_oos is not None:
            report.update(n_oos=int(len(rejected_oos)), oos_recall=float(np.mean(rejected_oos)),
                          objective=OOSObjective(self.objective).value)
            report["balanced_accuracy"] = (report["in_scope_accuracy"] + report["oos_recall"]) / 2
        return report

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "mode_"):
            raise NotFittedError("this OOSDetector is not fitted yet; call fit(...) or "
                                 "OOSDetector.from_dict(...) first")

    def score(self, confidence: Any, similarity: Any) -> np.ndarray:
        """In-scope score per message (higher = more in scope).

        ``combiner``: the logistic regression's in-scope probability; ``acceptance``: the
        smaller of the two signals' margins above their thresholds.
        """
        self._check_fitted()
        conf = _as_array(confidence, "confidence")
        sim = _as_array(similarity, "similarity")
        if self.mode_ == "combiner":
            x = (np.column_stack([conf, sim]) - np.asarray(self.mean_)) / np.asarray(self.scale_)
            z = x @ np.asarray(self.coef_) + self.intercept_
            return 1.0 / (1.0 + np.exp(-z))
        return np.minimum(conf - self.confidence_threshold_, sim - self.similarity_threshold_)

    def accept(self, confidence: Any, similarity: Any) -> np.ndarray:
        """``True`` where a message is in scope."""
        scores = self.score(confidence, similarity)
        if self.mode_ == "combiner":
            return scores >= self.threshold_
        return scores >= 0

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Parameters and learned state as plain JSON (no pickles)."""
        self._check_fitted()
        out: dict[str, Any] = {
            "objective": OOSObjective(self.objective).value, "min_oos_recall": self.min_oos_recall,
            "target_acceptance": self.target_acceptance, "min_oos_examples": self.min_oos_examples,
            "features": list(FEATURES), "mode": self.mode_, "n_in_scope": self.n_in_,
            "n_oos": self.n_oos_, "report": self.report_,
        }
        if self.mode_ == "combiner":
            out.update(mean=self.mean_, scale=self.scale_, coef=self.coef_,
                       intercept=self.intercept_, threshold=self.threshold_)
        else:
            out.update(quantile=self.quantile_, confidence_threshold=self.confidence_threshold_,
                       similarity_threshold=self.similarity_threshold_)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OOSDetector:
        """Rebuild a fitted detector from :meth:`to_dict`."""
        try:
            det = cls(data["objective"], min_oos_recall=data.get("min_oos_recall"),
                      target_acceptance=data["target_acceptance"],
                      min_oos_examples=data["min_oos_examples"])
            det.mode_ = data["mode"]
            det.n_in_ = int(data["n_in_scope"])
            det.n_oos_ = int(data["n_oos"])
            det.report_ = dict(data.get("report", {}))
            if det.mode_ == "combiner":
                det.mean_, det.scale_ = list(data["mean"]), list(data["scale"])
                det.coef_, det.intercept_ = list(data["coef"]), float(data["intercept"])
                det.threshold_ = float(data["threshold"])
            elif det.mode_ == "acceptance":
                det.quantile_ = float(data["quantile"])
                det.confidence_threshold_ = float(data["confidence_threshold"])
                det.similarity_threshold_ = float(data["similarity_threshold"])
            else:
                raise ValueError(f"unknown mode {det.mode_!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the saved OOS detector is corrupted ({type(exc).__name__}: {exc}); "
                            "retrain the bot") from None
        return det

    def describe(self) -> str:
        """One line on how the detector decides, for summaries."""
        self._check_fitted()
        r = self.report_
        if self.mode_ == "combiner":
            return (f"logistic combiner of confidence and similarity, threshold "
                    f"{self.threshold_:.3f} chosen for {r.get('objective')} on {self.n_in_} in-scope "
                    f"+ {self.n_oos_} OOS validation messages: in-scope accuracy "
                    f"{r['in_scope_accuracy']:.3f}, OOS recall {r['oos_recall']:.3f}")
        return (f"confidence >= {self.confidence_threshold_:.3f} and similarity >= "
                f"{self.similarity_threshold_:.3f} (the {self.quantile_:.3f} quantiles of "
                f"{self.n_in_} in-scope validation messages; {r['in_scope_acceptance']:.1%} "
                f"accepted, target {self.target_acceptance:.0%})")

    def __repr__(self) -> str:
        fitted = f", mode={self.mode_!r}" if hasattr(self, "mode_") else ""
        return f"OOSDetector(objective={OOSObjective(self.objective).value!r}{fitted})"

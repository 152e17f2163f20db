"""Out-of-scope detection from two or three signals, with thresholds tuned on validation data.

Signals per message: ``confidence``, the intent classifier's temperature-calibrated top
probability, ``similarity``, the cosine similarity of the best FAQ match, and, when the
classifier learned an out-of-scope class from OOS training examples, ``oos_probability``, that
class's probability (used as ``1 - oos_probability``, so that every signal is higher in scope).

* **With OOS examples** (``mode="combiner"``): a logistic regression (balanced class weights,
  standardised features) maps the signals to an in-scope score; the acceptance
  threshold on that score is the one that maximises the objective on the validation data (the
  in-scope validation split plus the OOS examples):

  - ``balanced_accuracy`` (default): ``(in-scope accuracy + OOS recall) / 2``, where in-scope
    accuracy counts a message as right only when it is accepted **and** its intent is right
    (rejecting a message the classifier would get wrong costs nothing), and OOS recall is the
    share of OOS examples rejected. With ``min_oos_recall``, only thresholds reaching it count.
  - ``in_scope_accuracy``: the highest in-scope accuracy with OOS recall >= ``min_oos_recall``.

  Candidate thresholds are the midpoints between consecutive distinct scores (plus "accept all"
  and "reject all"); ties go to the threshold that accepts more.
* **Without OOS examples** (``mode="acceptance"``): a message is accepted when every signal is
  at least its in-scope validation quantile at the same level ``q``; ``q`` is the largest
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
OOS_FEATURE = "in_scope_class"  # 1 - the probability of the classifier's out-of-scope class


def _as_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise DataError(f"{name} contains NaN or infinite values")
    return arr


def _signals(confidence: Any, similarity: Any, oos_probability: Any, what: str) -> np.ndarray:
    """``(n, 2)`` or ``(n, 3)`` matrix of signals, each higher for in-scope messages."""
    conf = _as_array(confidence, f"{what} confidence")
    sim = _as_array(similarity, f"{what} similarity")
    cols = [conf, sim]
    if oos_probability is not None:
        cols.append(1.0 - _as_array(oos_probability, f"{what} oos_probability"))
    if len({len(c) for c in cols}) != 1:
        raise DataError(f"expected one value of each signal per {what} message, found "
                        f"{[len(c) for c in cols]}")
    return np.column_stack(cols) if len(conf) else np.zeros((0, len(cols)))


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
            oos_confidence: Any = None, oos_similarity: Any = None, *,
            oos_probability: Any = None, oos_examples_oos_probability: Any = None) -> OOSDetector:
        """Tune on in-scope validation signals (and OOS examples' signals when given).

        Args:
            confidence, similarity: signals of the in-scope validation messages.
            correct: per in-scope message, whether the predicted intent is right (default: all).
            oos_confidence, oos_similarity: signals of the OOS examples, or ``None``.
            oos_probability, oos_examples_oos_probability: the out-of-scope class probability
                of the in-scope messages and of the OOS examples, when the classifier has such
                a class (then :meth:`score` and :meth:`accept` need it too).

        Returns:
            ``self``; ``report_`` holds the validation figures at the chosen threshold.
        """
        x_in = _signals(confidence, similarity, oos_probability, "in-scope validation")
        if len(x_in) == 0:
            raise DataError("expected at least one in-scope validation message, found none")
        ok = np.ones(len(x_in), bool) if correct is None else np.asarray(correct, bool).reshape(-1)
        if len(ok) != len(x_in):
            raise DataError(f"expected one 'correct' flag per in-scope message, found {len(ok)} for "
                            f"{len(x_in)}")
        self.features_ = list(FEATURES) + ([OOS_FEATURE] if oos_probability is not None else [])
        objective = OOSObjective(self.objective)
        n_oos = 0 if oos_confidence is None else len(np.asarray(oos_confidence).reshape(-1))
        if n_oos >= self.min_oos_examples:
            if (oos_probability is None) != (oos_examples_oos_probability is None):
                raise DataError("give oos_probability for both the in-scope messages and the OOS "
                                "examples, or for neither")
            x_oos = _signals(oos_confidence, oos_similarity, oos_examples_oos_probability, "OOS")
            self._fit_combiner(x_in, ok, x_oos, objective)
        else:
            if n_oos:
                logger.warning("only %d OOS examples (fewer than oos.min_oos_examples=%d): tuning "
                               "for %.0f%% in-scope acceptance instead", n_oos,
                               self.min_oos_examples, 100 * self.target_acceptance)
            self._fit_acceptance(x_in, ok)
        return self

    def _fit_combiner(self, x_in: np.ndarray, ok: np.ndarray, x_oos: np.ndarray,
                      objective: OOSObjective) -> None:
        from sklearn.linear_model import LogisticRegression

        x = np.concatenate([x_in, x_oos])
        y = np.concatenate([np.ones(len(x_in)), np.zeros(len(x_oos))])
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-9] = 1.0
        lr = LogisticRegression(class_weight="balanced", C=1.0, max_iter=1000)
        lr.fit((x - mean) / scale, y)
        self.mode_ = "combiner"
        self.mean_ = mean.tolist()
        self.scale_ = scale.tolist()
        self.coef_ = lr.coef_[0].tolist()
        self.intercept_ = float(lr.intercept_[0])
        s_in = self._score(x_in)
        s_oos = self._score(x_oos)
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
        self.n_in_ = len(x_in)
        self.n_oos_ = len(x_oos)
        accepted_in = s_in >= self.threshold_
        rejected_oos = s_oos < self.threshold_
        self.report_ = self._report(accepted_in, ok, rejected_oos)

    def _fit_acceptance(self, x_in: np.ndarray, ok: np.ndarray) -> None:
        target = float(self.target_acceptance)
        levels = np.linspace(0.0, 1.0 - target, 501) if target < 1 else np.array([0.0])
        best = 0.0
        for q in levels:  # acceptance only falls as q rises
            rate = float(np.mean((x_in >= np.quantile(x_in, q, axis=0)).all(axis=1)))
            if rate + 1e-12 >= target:
                best = float(q)
            else:
                break
        self.mode_ = "acceptance"
        self.quantile_ = best
        self.thresholds_ = np.quantile(x_in, best, axis=0).tolist()
        self.n_in_ = len(x_in)
        self.n_oos_ = 0
        self.report_ = self._report(self._score(x_in) >= 0, ok, None)

    @property
    def confidence_threshold_(self) -> float:
        return float(self.thresholds_[0])

    @property
    def similarity_threshold_(self) -> float:
        return float(self.thresholds_[1])

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

    def _score(self, x: np.ndarray) -> np.ndarray:
        if self.mode_ == "combiner":
            z = ((x - np.asarray(self.mean_)) / np.asarray(self.scale_)) @ np.asarray(self.coef_)
            return 1.0 / (1.0 + np.exp(-(z + self.intercept_)))
        return (x - np.asarray(self.thresholds_)).min(axis=1)

    def score(self, confidence: Any, similarity: Any, oos_probability: Any = None) -> np.ndarray:
        """In-scope score per message (higher = more in scope).

        ``combiner``: the logistic regression's in-scope probability; ``acceptance``: the
        smallest of the signals' margins above their thresholds. ``oos_probability`` is used
        when the detector was fitted with it (and ignored otherwise).
        """
        self._check_fitted()
        uses_class = OOS_FEATURE in self.features_
        if uses_class and oos_probability is None:
            raise DataError("this OOS detector was tuned with the classifier's out-of-scope class; "
                            "pass oos_probability too")
        return self._score(_signals(confidence, similarity,
                                    oos_probability if uses_class else None, "scored"))

    @property
    def threshold(self) -> float:
        """The :meth:`score` a message needs to be in scope."""
        self._check_fitted()
        return float(self.threshold_) if self.mode_ == "combiner" else 0.0

    def accept(self, confidence: Any, similarity: Any, oos_probability: Any = None) -> np.ndarray:
        """``True`` where a message is in scope."""
        scores = self.score(confidence, similarity, oos_probability)
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
            "features": list(self.features_), "mode": self.mode_, "n_in_scope": self.n_in_,
            "n_oos": self.n_oos_, "report": self.report_,
        }
        if self.mode_ == "combiner":
            out.update(mean=self.mean_, scale=self.scale_, coef=self.coef_,
                       intercept=self.intercept_, threshold=self.threshold_)
        else:
            out.update(quantile=self.quantile_, thresholds=list(self.thresholds_))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OOSDetector:
        """Rebuild a fitted detector from :meth:`to_dict`."""
        try:
            det = cls(data["objective"], min_oos_recall=data.get("min_oos_recall"),
                      target_acceptance=data["target_acceptance"],
                      min_oos_examples=data["min_oos_examples"])
            det.mode_ = data["mode"]
            det.features_ = list(data.get("features", FEATURES))
            if det.features_ not in (list(FEATURES), [*FEATURES, OOS_FEATURE]):
                raise ValueError(f"unknown features {det.features_}")
            det.n_in_ = int(data["n_in_scope"])
            det.n_oos_ = int(data["n_oos"])
            det.report_ = dict(data.get("report", {}))
            if det.mode_ == "combiner":
                det.mean_, det.scale_ = list(data["mean"]), list(data["scale"])
                det.coef_, det.intercept_ = list(data["coef"]), float(data["intercept"])
                det.threshold_ = float(data["threshold"])
                sizes = {len(det.mean_), len(det.scale_), len(det.coef_), len(det.features_)}
                if len(sizes) != 1:
                    raise ValueError(f"coefficients for {sorted(sizes)} signals, features "
                                     f"{det.features_}")
            elif det.mode_ == "acceptance":
                det.quantile_ = float(data["quantile"])
                if "thresholds" in data:
                    det.thresholds_ = [float(v) for v in data["thresholds"]]
                else:  # bots saved before the out-of-scope class existed
                    det.thresholds_ = [float(data["confidence_threshold"]),
                                       float(data["similarity_threshold"])]
                if len(det.thresholds_) != len(det.features_):
                    raise ValueError(f"{len(det.thresholds_)} thresholds for {det.features_}")
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
            return (f"logistic combiner of {', '.join(self.features_)}, threshold "
                    f"{self.threshold_:.3f} chosen for {r.get('objective')} on {self.n_in_} in-scope "
                    f"+ {self.n_oos_} OOS validation messages: in-scope accuracy "
                    f"{r['in_scope_accuracy']:.3f}, OOS recall {r['oos_recall']:.3f}")
        limits = " and ".join(f"{n} >= {t:.3f}" for n, t in zip(self.features_, self.thresholds_,
                                                                   strict=True))
        return (f"{limits} (the {self.quantile_:.3f} quantiles of "
                f"{self.n_in_} in-scope validation messages; {r['in_scope_acceptance']:.1%} "
                f"accepted, target {self.target_acceptance:.0%})")

    def __repr__(self) -> str:
        fitted = f", mode={self.mode_!r}" if hasattr(self, "mode_") else ""
        return f"OOSDetector(objective={OOSObjective(self.objective).value!r}{fitted})"

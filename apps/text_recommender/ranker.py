"""The learned ranker: LightGBM lambdarank over the candidates' features.

:class:`LearnedRanker` wraps :class:`lightgbm.LGBMRanker` (``objective="lambdarank"``) with the
project's contract: ``__init__`` only stores parameters, :meth:`~LearnedRanker.fit` validates
and returns ``self``, predicting before ``fit`` raises :class:`~domaintune.errors.NotFittedError`.
Training is deterministic (``deterministic=True``, row-wise histograms, a fixed seed, at most
``n_jobs`` threads). With a validation set, training stops early on its ``ndcg@eval_at`` and
the best iteration is the one used, saved and reported.

The model is saved as text, never pickled: ``ranker.txt`` (the booster's text model, trimmed to
the best iteration) and ``ranker.json`` (feature names, parameters, best iteration, LightGBM
version). :meth:`~LearnedRanker.load` refuses a model trained on another feature list.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] > 0.5).astype(int)
    >>> ranker = LearnedRanker(n_estimators=20, min_child_samples=5).fit(
    ...     X, y, np.full(20, 10), ["signal", "noise"])
    >>> next(iter(ranker.feature_importance()))
    'signal'
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from domaintune.errors import ConfigError, DataError, ModelLoadError, NotFittedError
from domaintune.persistence import write_json_atomic, write_text_atomic

__all__ = ["MODEL_FILE", "RECORD_FILE", "LearnedRanker"]

MODEL_FILE = "ranker.txt"
RECORD_FILE = "ranker.json"
_FORMAT = "text_recommender.ranker"
_FORMAT_VERSION = 1
_MAX_LABEL = 30  # lambdarank's default label_gain covers relevance grades 0..30


class LearnedRanker:
    """LightGBM lambdarank ranker with text persistence.

    Args:
        n_estimators: maximum number of boosting rounds.
        learning_rate: shrinkage per round.
        num_leaves: leaves per tree.
        min_child_samples: minimum rows per leaf.
        eval_at: the cut-off of the validation NDCG used for early stopping.
        early_stopping_rounds: stop after this many rounds without improvement on the
            validation set (only when one is given; 0 = never stop early).
        seed: random seed.
        n_jobs: LightGBM threads (training and prediction).

    Attributes (after fit or load):
        booster_: the :class:`lightgbm.Booster`.
        feature_names_: the feature names, in column order.
        best_iteration_: number of boosting rounds used for prediction.
        best_score_: validation ``ndcg@eval_at`` at the best iteration (None without validation).
    """

    def __init__(self, *, n_estimators: int = 300, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 20, eval_at: int = 10,
                 early_stopping_rounds: int = 30, seed: int = 0, n_jobs: int = 2) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.eval_at = eval_at
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.n_jobs = n_jobs

    # -- parameters ------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (what ``ranker.json`` stores)."""
        return {name: getattr(self, name) for name in _PARAMS}

    def _check_params(self) -> None:
        checks = {
            "n_estimators": (self.n_estimators, 1), "num_leaves": (self.num_leaves, 2),
            "min_child_samples": (self.min_child_samples, 1), "eval_at": (self.eval_at, 1),
            "early_stopping_rounds": (self.early_stopping_rounds, 0), "n_jobs": (self.n_jobs, 1),
        }
        for name, (value, low) in checks.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"expected ranker {name} to be an integer >= {low}, found "
                                  f"{value!r}; use the default {_PARAMS[name]}")
        if not isinstance(self.learning_rate, (int, float)) or not 0 < self.learning_rate <= 1:
            raise ConfigError(f"expected ranker learning_rate in (0, 1], found "
                              f"{self.learning_rate!r}; use e.g. 0.05")

    # -- training --------------------------------------------------------------------------

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, feature_names: list[str],
            *, X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            groups_val: np.ndarray | None = None) -> LearnedRanker:
        """Train on query groups.

        Args:
            X: ``(n_rows, n_features)`` features; rows of one query are consecutive.
            y: ``(n_rows,)`` integer relevance grades (0 = not relevant, up to 30).
            groups: number of rows of each query, in row order (sums to ``n_rows``).
            feature_names: one name per column.
            X_val, y_val, groups_val: an optional validation set (all three or none); when
                given, training stops early on its ``ndcg@eval_at``.

        Returns:
            self.
        """
        import lightgbm

        self._check_params()
        names = _check_names(feature_names)
        X, y, groups = _check_rows("training", X, y, groups, len(names))
        val = (X_val, y_val, groups_val)
        if any(v is not None for v in val) and not all(v is not None for v in val):
            given = [n for n, v in zip(("X_val", "y_val", "groups_val"), val, strict=True)
                     if v is not None]
            raise DataError(f"expected X_val, y_val and groups_val together, found only {given}; "
                            "pass all three or none")
        model = lightgbm.LGBMRanker(
            objective="lambdarank", n_estimators=int(self.n_estimators),
            learning_rate=float(self.learning_rate), num_leaves=int(self.num_leaves),
            min_child_samples=int(self.min_child_samples), random_state=int(self.seed),
            n_jobs=int(self.n_jobs), deterministic=True, force_row_wise=True, verbose=-1,
            importance_type="gain",
        )
        fit_args: dict[str, Any] = {"group": groups, "feature_name": names}
        if X_val is not None:
            Xv, yv, gv = _check_rows("validation", X_val, y_val, groups_val, len(names))
            fit_args.update(eval_X=(Xv,), eval_y=(yv,), eval_group=[gv],
                            eval_at=[int(self.eval_at)], eval_names=["validation"])
            if self.early_stopping_rounds > 0:
                fit_args["callbacks"] = [lightgbm.early_stopping(
                    int(self.early_stopping_rounds), first_metric_only=True, verbose=False)]
        model.fit(X, y, **fit_args)
        self.booster_ = model.booster_
        self.feature_names_ = names
        best = int(model.best_iteration_ or 0)
        self.best_iteration_ = best if best > 0 else int(self.booster_.current_iteration())
        score = model.best_score_.get("validation", {}).get(f"ndcg@{int(self.eval_at)}")
        self.best_score_ = float(score) if score is not None else None
        return self

    # -- prediction ------------------------------------------------------------------------

    def _fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("expected a fitted LearnedRanker, found one that was never "
                                 "fitted; call fit(...) or LearnedRanker.load(directory) first")

    def _matrix(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and X.shape[0] == len(self.feature_names_):
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names_):
            raise DataError(f"expected features of shape (n, {len(self.feature_names_)}) in the "
                            f"order {self.feature_names_}, found shape {X.shape}; build the rows "
                            "with the feature list the ranker was trained on")
        return X

    def _threads(self, X: np.ndarray) -> int:
        """One thread for a request's few hundred rows (threads cost more than they save
        there), ``n_jobs`` for bulk scoring."""
        return 1 if X.shape[0] < 5000 else int(self.n_jobs)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Ranker scores (higher = better) of feature rows.

        Args:
            X: ``(n, n_features)`` features in the training column order.

        Returns:
            ``float32`` array of shape ``(n,)``.
        """
        self._fitted()
        X = self._matrix(X)
        if X.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        scores = self.booster_.predict(X, num_iteration=self.best_iteration_,
                                       num_threads=self._threads(X))
        return np.asarray(scores, dtype=np.float32)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contributions (SHAP values, LightGBM ``pred_contrib``) of each row.

        The bias column is dropped, so a row sums to its score minus the model's bias.

        Args:
            X: ``(n, n_features)`` features.

        Returns:
            ``float32`` array of shape ``(n, n_features)``.
        """
        self._fitted()
        X = self._matrix(X)
        if X.shape[0] == 0:
            return np.zeros((0, len(self.feature_names_)), dtype=np.float32)
        contrib = self.booster_.predict(X, num_iteration=self.best_iteration_, pred_contrib=True,
                                        num_threads=self._threads(X))
        return np.asarray(contrib, dtype=np.float32)[:, :-1]

    def feature_importance(self) -> dict[str, float]:
        """Total split gain per feature, normalised to sum 1, largest first.

        Returns:
            feature name -> share (all 0.0 when the model has no split, e.g. constant labels).
        """
        self._fitted()
        gain = np.asarray(self.booster_.feature_importance(
            importance_type="gain", iteration=self.best_iteration_), dtype=np.float64)
        total = float(gain.sum())
        shares = gain / total if total > 0 else np.zeros_like(gain)
        order = np.argsort(-shares, kind="stable")
        return {self.feature_names_[i]: float(shares[i]) for i in order}

    # -- persistence -----------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Write ``ranker.txt`` (LightGBM text model) and ``ranker.json`` into ``directory``.

        Each file is written atomically; the record is written last. Other files in the
        directory are left alone.
        """
        self._fitted()
        import lightgbm

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        write_text_atomic(directory / MODEL_FILE, text)
        write_json_atomic(directory / RECORD_FILE, {
            "format": _FORMAT, "format_version": _FORMAT_VERSION,
            "feature_names": list(self.feature_names_), "params": self.get_params(),
            "best_iteration": int(self.best_iteration_), "best_score": self.best_score_,
            "lightgbm_version": lightgbm.__version__,
        })

    @classmethod
    def load(cls, directory: str | Path, feature_names: list[str] | None = None) -> LearnedRanker:
        """Load a ranker saved by :meth:`save`.

        Args:
            directory: the directory holding ``ranker.txt`` and ``ranker.json``.
            feature_names: the feature list the caller will pass; a model trained on another
                list (names or order) is refused.

        Returns:
            A fitted :class:`LearnedRanker`.

        Raises:
            ModelLoadError: files missing or corrupted, or a different feature list.
        """
        import lightgbm

        directory = Path(directory)
        missing = [name for name in (MODEL_FILE, RECORD_FILE) if not (directory / name).is_file()]
        if missing:
            found = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
            raise ModelLoadError(f"expected {MODEL_FILE} and {RECORD_FILE} in {directory}, found "
                                 f"{found if directory.is_dir() else 'no such directory'}; "
                                 "train the ranker again (LearnedRanker.fit then save)")
        try:
            record = json.loads((directory / RECORD_FILE).read_text(encoding="utf-8"))
            saved_names = [str(n) for n in record["feature_names"]]
            best_iteration = int(record["best_iteration"])
            params = dict(record.get("params") or {})
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"expected a JSON record with feature_names and best_iteration "
                                 f"in {directory / RECORD_FILE}, found it unreadable ({exc}); "
                                 "train and save the ranker again") from exc
        if feature_names is not None and list(feature_names) != saved_names:
            extra = [n for n in feature_names if n not in saved_names]
            lacking = [n for n in saved_names if n not in feature_names]
            detail = (f"missing {lacking}, new {extra}" if extra or lacking
                      else "same names in another order")
            raise ModelLoadError(f"expected the ranker in {directory} to use features "
                                 f"{list(feature_names)}, found it trained on {saved_names} "
                                 f"({detail}); retrain the ranker with the current features")
        try:
            booster = lightgbm.Booster(model_str=(directory / MODEL_FILE).read_text(encoding="utf-8"))
        except (lightgbm.basic.LightGBMError, ValueError, OSError) as exc:
            raise ModelLoadError(f"expected a LightGBM text model in {directory / MODEL_FILE}, "
                                 f"found it unreadable ({exc}); train and save the ranker again"
                                 ) from exc
        if booster.feature_name() != saved_names:
            raise ModelLoadError(f"expected {directory / MODEL_FILE} to use the features of "
                                 f"{RECORD_FILE} {saved_names}, found {booster.feature_name()}; "
                                 "the two files come from different saves: save the ranker again")
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            warnings.warn(f"ignoring unknown ranker parameters {unknown} in "
                          f"{directory / RECORD_FILE} (written by a newer version?)", stacklevel=2)
        ranker = cls(**{k: v for k, v in params.items() if k in _PARAMS})
        ranker.booster_ = booster
        ranker.feature_names_ = saved_names
        ranker.best_iteration_ = min(best_iteration, booster.current_iteration()) or \
            booster.current_iteration()
        score = record.get("best_score")
        ranker.best_score_ = float(score) if score is not None else None
        return ranker


_PARAMS: dict[str, Any] = {
    "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
    "eval_at": 10, "early_stopping_rounds": 30, "seed": 0, "n_jobs": 2,
}


def _check_names(feature_names: Sequence[str]) -> list[str]:
    names = [str(n) for n in feature_names]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if not names or dupes:
        raise DataError(f"expected distinct feature names, found "
                        f"{'none' if not names else f'duplicates {dupes}'}; name each column once")
    return names


def _check_rows(kind: str, X: Any, y: Any, groups: Any, n_features: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise DataError(f"expected {kind} features of shape (n, {n_features}) (one column per "
                        f"feature name), found shape {X.shape}; align X with feature_names")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise DataError(f"expected {kind} labels of shape ({X.shape[0]},), found {y.shape}; "
                        "pass one relevance grade per row")
    if y.size and (not np.all(np.isfinite(y.astype(np.float64)))
                   or np.any(y != np.round(y)) or y.min() < 0 or y.max() > _MAX_LABEL):
        raise DataError(f"expected {kind} labels as integer grades 0..{_MAX_LABEL}, found values "
                        f"from {y.min()} to {y.max()}; use 1 for the engaged item, 0 otherwise")
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.size == 0 or groups.dtype.kind not in "iu" or groups.min() < 1 \
            or int(groups.sum()) != X.shape[0]:
        total = int(groups.sum()) if groups.size and groups.dtype.kind in "iu" else groups
        raise DataError(f"expected {kind} groups as positive integer query sizes summing to "
                        f"{X.shape[0]} rows, found {groups.size} groups totalling {total}; pass "
                        "the number of candidates of each query, in row order")
    return X, y.astype(np.int32), groups.astype(np.int64)

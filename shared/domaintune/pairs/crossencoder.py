"""``CrossEncoderModel``: reads a (query, passage) pair jointly and returns a score or a class.

Slower than a bi-encoder (one forward pass per pair) but more accurate, so it reranks the
bi-encoder's top candidates, scores pair similarity, or classifies pairs (entailment,
duplicate questions ...). It wraps ``sentence_transformers.cross_encoder.CrossEncoder``;
built from an embedding model (e.g. the packaged MiniLM) it gets a freshly initialised head.

Tasks:
    ``binary``: label 0/1 (or a relevance in [0, 1]); binary cross-entropy; ``predict`` gives
    a probability. ``regression``: any real score; MSE; ``predict`` gives the score.
    ``classification``: named classes; cross-entropy; ``predict`` gives the class name.

Example:
    >>> from domaintune.pairs import CrossEncoderModel, PairTrainingConfig, load_pairs
    >>> data = load_pairs("qrels.csv", query="question", passage="answer", label="relevant")  # doctest: +SKIP
    >>> ce = CrossEncoderModel.from_pretrained("default", task="binary").fit(data)  # doctest: +SKIP
    >>> ce.rank("where is my refund?", ["Refunds take 5 days.", "Cards ship in a week."])  # doctest: +SKIP
    [{'index': 0, 'score': 0.97, 'passage': 'Refunds take 5 days.'}, {'index': 1, ...}]
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..artifacts import META_FILE, check_labels, read_artifact, write_artifact
from ..data import _rows_phrase
from ..device import resolve_device
from ..errors import ConfigError, DataError, ModelLoadError, closest
from ..hub import resolve_model
from ..persistence import write_json_atomic
from .config import PairTrainingConfig
from .data import PairDataset, label_key
from .io import WEIGHTS_FILE, fingerprint, restore_state, versions
from .metrics import pair_classification_metrics, retrieval_metrics
from .training import count_truncated, run_trainer

logger = logging.getLogger(__name__)

TASK = "cross-encoder"


class CrossEncoderTask(str, enum.Enum):
    """What a cross-encoder predicts for a pair."""

    BINARY = "binary"  # relevant or not: a probability (sigmoid), binary cross-entropy
    REGRESSION = "regression"  # a real-valued score, mean squared error
    CLASSIFICATION = "classification"  # one of several named classes (softmax), cross-entropy


def _task(value: Any) -> CrossEncoderTask:
    valid = [t.value for t in CrossEncoderTask]
    text = value.value if isinstance(value, CrossEncoderTask) else str(value)
    if text not in valid:
        raise ConfigError(f"task expects one of {valid}, found {value!r}{closest(text, valid)}")
    return CrossEncoderTask(text)


def _as_pairs(pairs: Any) -> tuple[list[tuple[str, str]], bool]:
    """Normalise one pair, a list of pairs or a PairDataset to a list; say whether it was one."""
    if isinstance(pairs, PairDataset):
        return list(zip(pairs.queries, pairs.passages, strict=True)), False
    if isinstance(pairs, (tuple, list)) and len(pairs) == 2 and all(isinstance(t, str) for t in pairs):
        return [(pairs[0], pairs[1])], True
    out = []
    for i, pair in enumerate(pairs):
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2
                or not all(isinstance(t, str) for t in pair)):
            raise DataError(f"expected (query, passage) pairs of two strings, found {pair!r} at "
                            f"position {i}")
        out.append((pair[0], pair[1]))
    return out, False


class CrossEncoderModel:
    """Pair scorer/classifier. Build one with :meth:`from_pretrained` (then :meth:`fit`) or
    :meth:`load`; the wrapped ``CrossEncoder`` is ``self.model``."""

    def __init__(
        self,
        model: Any,
        *,
        task: str | CrossEncoderTask = CrossEncoderTask.BINARY,
        labels: Sequence[Any] | None = None,
        base_model: str = "default",
    ) -> None:
        self.model = model
        self.task = _task(task)
        self.labels = [label_key(v) for v in labels] if labels is not None else None
        self.base_model = str(base_model)
        self.training_config: PairTrainingConfig | None = None
        self.history: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        model: str = "default",
        *,
        task: str | CrossEncoderTask | None = None,
        labels: Sequence[Any] | None = None,
        max_length: int | None = None,
        device: str = "auto",
        seed: int = 42,
    ) -> CrossEncoderModel:
        """A cross-encoder on ``model`` with a fresh (seeded) head, unless ``model`` already is a
        cross-encoder with a head of the right size.

        Args:
            model: ``"default"`` (packaged all-MiniLM-L6-v2), a local directory or a hub id.
            task: ``binary``, ``regression`` or ``classification``; ``None`` = ``classification``
                when ``labels`` are given, else ``binary``.
            labels: class names (and their order) of a ``classification`` model.
            max_length: tokens per (query, passage) pair; ``None`` keeps the model's limit.
            device: ``auto`` (CUDA > MPS > CPU), ``cpu``, ``cuda`` ...
            seed: seed of the head's initialisation.

        Example:
            >>> nli = CrossEncoderModel.from_pretrained(
            ...     "default", labels=["entailment", "neutral", "contradiction"])  # doctest: +SKIP
        """
        from sentence_transformers import CrossEncoder
        from sentence_transformers.base.modules import Transformer

        task = _task(task if task is not None else ("classification" if labels else "binary"))
        if task == CrossEncoderTask.CLASSIFICATION:
            names = [label_key(v) for v in (labels or [])]
            if len(set(names)) < 2 or len(set(names)) != len(names):
                raise ConfigError(f"a classification cross-encoder needs at least 2 distinct label "
                                  f"names, found {list(labels or [])}; pass labels=[...] "
                                  "(e.g. pairs.label_names)")
            config_kwargs: dict[str, Any] = {
                "num_labels": len(names),
                "id2label": dict(enumerate(names)),
                "label2id": {n: i for i, n in enumerate(names)},
            }
        elif labels is not None:
            raise ConfigError(f"labels are only used by task='classification', found task="
                              f"{task.value!r} with labels {list(labels)}; drop labels or set the task")
        else:
            names = None
            config_kwargs = {"num_labels": 1}
        path = resolve_model(model)
        torch.manual_seed(seed)
        try:
            transformer = Transformer(
                str(path), transformer_task="sequence-classification", config_kwargs=config_kwargs,
                model_kwargs={"ignore_mismatched_sizes": True}, max_seq_length=max_length,
            )
            ce = CrossEncoder(modules=[transformer], device=str(resolve_device(device)),
                              activation_fn=torch.nn.Identity())
        except Exception as exc:
            raise ModelLoadError(
                f"cannot build a cross-encoder from {path} ({type(exc).__name__}: {exc}); pass a "
                "transformers or sentence-transformers model directory, or model='default'"
            ) from None
        return cls(ce, task=task, labels=names, base_model=str(model))

    @property
    def max_length(self) -> int | None:
        """Tokens per (query, passage) pair; longer pairs are truncated."""
        return self.model.max_seq_length

    # ------------------------------------------------------------------ inference
    def _logits(self, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
        if not pairs:
            n = len(self.labels) if self.labels else 1
            return np.zeros((0, n) if self.task == CrossEncoderTask.CLASSIFICATION else 0, np.float32)
        out = self.model.predict(pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(),
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def predict_proba(self, pairs: Any, batch_size: int = 32) -> np.ndarray:
        """Class probabilities (``classification``: ``(n, n_labels)``) or the probability of the
        positive class (``binary``: ``(n,)``); one pair gives one row/number."""
        if self.task == CrossEncoderTask.REGRESSION:
            raise ConfigError("predict_proba needs a binary or classification cross-encoder; this "
                              "one does regression, so use predict()")
        batch, single = _as_pairs(pairs)
        logits = torch.as_tensor(self._logits(batch, batch_size))
        if self.task == CrossEncoderTask.BINARY:
            probs = torch.sigmoid(logits).numpy()
        else:
            probs = torch.softmax(logits, dim=-1).numpy()
        return probs[0] if single else probs

    def predict(self, pairs: Any, batch_size: int = 32) -> Any:
        """Score or class of each pair.

        Args:
            pairs: one ``(query, passage)`` pair, a list of pairs, or a :class:`PairDataset`.
            batch_size: pairs per forward pass.

        Returns:
            ``binary``: probabilities; ``regression``: scores (a float for one pair, an array
            for a list); ``classification``: label names (a string or a list).

        Example:
            >>> ce.predict(("where is my refund?", "Refunds take 5 days."))  # doctest: +SKIP
            0.97
        """
        batch, single = _as_pairs(pairs)
        if self.task == CrossEncoderTask.CLASSIFICATION:
            probs = self.predict_proba(batch, batch_size)
            out = [self.labels[j] for j in probs.argmax(axis=1)] if len(batch) else []
            return out[0] if single else out
        scores = self.predict_proba(batch, batch_size) if self.task == CrossEncoderTask.BINARY \
            else self._logits(batch, batch_size)
        return float(scores[0]) if single else scores

    def rank(
        self, query: str, passages: Sequence[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """Passages sorted by score for ``query``, best first (``binary``/``regression``).

        Args:
            query: the query.
            passages: candidate passages (e.g. a bi-encoder's top 50).
            top_k: return only the best ``top_k``.
            batch_size: pairs per forward pass.

        Returns:
            ``[{"index": position in passages, "score": float, "passage": text}, ...]``.

        Example:
            >>> ce.rank("where is my refund?", candidates, top_k=3)  # doctest: +SKIP
        """
        if self.task == CrossEncoderTask.CLASSIFICATION:
            raise ConfigError("rank needs a binary or regression cross-encoder; this one classifies "
                              f"pairs into {self.labels}; use predict_proba() instead")
        if not isinstance(query, str):
            raise DataError(f"expected the query as a string, found {type(query).__name__}")
        scores = np.atleast_1d(self.predict([(query, p) for p in passages], batch_size))
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"index": int(i), "score": float(scores[i]), "passage": passages[i]} for i in order]

    # ------------------------------------------------------------------ training
    def _training_rows(self, data: PairDataset, purpose: str) -> tuple[list[tuple[str, str]], list[Any]]:
        """(pairs, targets) for the loss; raises a DataError naming the rows that do not fit."""
        if not isinstance(data, PairDataset):
            raise DataError(f"expected a PairDataset (see domaintune.pairs.load_pairs), found "
                            f"{type(data).__name__}")
        pairs = list(zip(data.queries, data.passages, strict=True))
        binary = self.task == CrossEncoderTask.BINARY
        if data.labels is None:
            if not (binary and data.negatives is not None):
                raise DataError(
                    f"{data.source}: {purpose} a {self.task.value} cross-encoder needs a label per "
                    "pair; pass label=<column> to load_pairs"
                    + (" (or a negative column)" if binary else "")
                )
            targets: list[Any] = [1.0] * len(pairs)
        elif self.task == CrossEncoderTask.CLASSIFICATION:
            index = {n: i for i, n in enumerate(self.labels or [])}
            keys = [label_key(v) for v in data.labels]
            bad = [r for r, k in zip(data.rows, keys, strict=True) if k not in index]
            if bad:
                unknown = sorted({k for k in keys if k not in index})[:5]
                raise DataError(f"{data.source}: {_rows_phrase(bad)} ha{'ve' if len(bad) > 1 else 's'} "
                                f"labels {unknown} the model does not know (its labels: {self.labels}); "
                                "rebuild it with labels=pairs.label_names or fix those rows")
            targets = [index[k] for k in keys]
        else:
            bad = [r for r, v in zip(data.rows, data.labels, strict=True)
                   if not isinstance(v, float) or (binary and not 0.0 <= v <= 1.0)]
            if bad:
                expected = "a number in [0, 1]" if binary else "a number"
                hint = "; use task='regression' for other scores" if binary else ""
                raise DataError(f"{data.source}: a {self.task.value} cross-encoder expects {expected} "
                                f"in column {data.columns['label']!r}, found other values at "
                                f"{_rows_phrase(bad)}{hint}")
            targets = list(data.labels)
        if binary and data.negatives is not None:
            pairs += list(zip(data.queries, data.negatives, strict=True))
            targets += [0.0] * len(data.negatives)
        return pairs, targets

    def fit(
        self,
        train: PairDataset,
        validation: PairDataset | None = None,
        config: PairTrainingConfig | None = None,
    ) -> CrossEncoderModel:
        """Train on labelled pairs.

        Args:
            train: pairs with a label per row (a 0/1 or [0, 1] relevance for ``binary``, a score
                for ``regression``, a class name for ``classification``). A ``binary`` model
                also learns each row's ``negatives`` passage as a 0 pair, so (query, positive,
                negative) triplets train it without labels.
            validation: labelled pairs evaluated after training (:meth:`evaluate`).
            config: a :class:`PairTrainingConfig` (default: 1 epoch, batch 32, lr 2e-5).

        Returns:
            ``self``, trained; ``history`` holds the per-epoch loss, ``metrics`` the summary.

        Example:
            >>> ce.fit(train, val, PairTrainingConfig(epochs=2, batch_size=16))  # doctest: +SKIP
        """
        import datasets
        from sentence_transformers.cross_encoder.losses import (
            BinaryCrossEntropyLoss,
            CrossEntropyLoss,
            MSELoss,
        )

        cfg = config or PairTrainingConfig()
        if not isinstance(cfg, PairTrainingConfig):
            raise TypeError(f"expected a PairTrainingConfig, found {type(cfg).__name__}")
        pairs, targets = self._training_rows(train, "training")
        if validation is not None:
            self._training_rows(validation, "evaluating")
        if not pairs:
            raise DataError(f"{train.source}: the training data has no pairs")
        if cfg.max_length is not None:
            self.model.max_seq_length = cfg.max_length
        count_truncated(self.model.tokenizer, pairs, self.max_length, "pairs")
        dataset = datasets.Dataset.from_dict({
            "query": [p[0] for p in pairs], "passage": [p[1] for p in pairs], "label": targets,
        })
        loss = {
            CrossEncoderTask.BINARY: BinaryCrossEntropyLoss,
            CrossEncoderTask.REGRESSION: MSELoss,
            CrossEncoderTask.CLASSIFICATION: CrossEntropyLoss,
        }[self.task](self.model)
        start = time.perf_counter()
        run = run_trainer(self.model, dataset, loss, cfg, cross_encoder=True)
        self.training_config = cfg
        self.history = run["history"]
        self.metrics = {"train_seconds": round(time.perf_counter() - start, 2),
                        "n_train": len(pairs), "steps": run["steps"],
                        "train_loss": run["train_loss"]}
        if validation is not None:
            self.metrics["validation"] = self.evaluate(validation)
        logger.info("trained %s cross-encoder %s on %d pairs for %d steps in %.1fs, final loss %.4f",
                    self.task.value, self.base_model, len(pairs), run["steps"],
                    self.metrics["train_seconds"], run["train_loss"])
        return self

    def evaluate(self, data: PairDataset, batch_size: int = 32) -> dict[str, Any]:
        """Metrics on labelled pairs.

        ``binary``: accuracy/F1/precision/recall at probability 0.5, and, when some query has
        several passages, MRR@10 and nDCG@10 of reranking each query's passages.
        ``regression``: MSE, Pearson and Spearman correlation.
        ``classification``: accuracy and macro precision/recall/F1.
        """
        pairs, targets = self._training_rows(data, "evaluating")
        predictions = self.predict(pairs, batch_size)
        if self.task == CrossEncoderTask.CLASSIFICATION:
            return pair_classification_metrics([self.labels[t] for t in targets], predictions)
        scores = np.asarray(predictions, dtype=np.float64)
        truth = np.asarray(targets, dtype=np.float64)
        if self.task == CrossEncoderTask.REGRESSION:
            from scipy.stats import pearsonr, spearmanr

            constant = len(truth) < 2 or truth.std() == 0 or scores.std() == 0
            return {"mse": float(np.mean((scores - truth) ** 2)),
                    "pearson": float("nan") if constant else float(pearsonr(truth, scores)[0]),
                    "spearman": float("nan") if constant else float(spearmanr(truth, scores)[0]),
                    "n": len(truth)}
        metrics: dict[str, Any] = pair_classification_metrics(truth >= 0.5, scores, threshold=0.5)
        groups: dict[str, list[int]] = {}
        for i, (q, _) in enumerate(pairs):
            groups.setdefault(q, []).append(i)
        ranked, relevant = [], []
        for rows in groups.values():
            rel = {i for i in rows if truth[i] >= 0.5}
            if len(rows) > 1 and rel:
                ranked.append(sorted(rows, key=lambda i: -scores[i]))
                relevant.append(rel)
        if ranked:
            metrics.update(retrieval_metrics(ranked, relevant, ks=(1, 10)))
            metrics["n_queries"] = len(ranked)
        return metrics

    # ------------------------------------------------------------------ persistence
    @property
    def fingerprint(self) -> str:
        """Short hash of the weights."""
        return fingerprint(self.model)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model directory atomically (temp dir, then rename) and return its path.

        Contents: the sentence-transformers/transformers files (``config.json``,
        ``model.safetensors``, tokenizer, ``modules.json``), ``domaintune.json`` (task, labels,
        base model, fingerprint, versions), ``training_config.json``, ``metrics.json`` and a model
        card ``README.md``.

        Args:
            path: a new or empty directory.
            overwrite: replace an earlier domaintune directory at ``path`` (a directory holding
                anything else is never replaced).
        """
        path = Path(path)
        with write_artifact(path, task=TASK, overwrite=overwrite) as art:
            tmp = art.dir
            self.model.save(str(tmp), create_model_card=False, safe_serialization=True)
            art.meta.update(**versions(), pair_task=self.task.value, labels=self.labels,
                       base_model=self.base_model, max_length=self.max_length,
                       fingerprint=self.fingerprint, trained=self.training_config is not None)
            if self.training_config is not None:
                write_json_atomic(tmp / "training_config.json", self.training_config.to_dict())
            write_json_atomic(tmp / "metrics.json", {**self.metrics, "history": self.history})
            (tmp / "README.md").write_text(self._model_card(), encoding="utf-8")
        return path

    def _model_card(self) -> str:
        what = {"binary": "relevance probability of a (query, passage) pair",
                "regression": "a real-valued score of a pair",
                "classification": f"one of {len(self.labels or [])} classes of a pair"}[self.task.value]
        val = self.metrics.get("validation") or {}
        lines = [f"# {self.base_model} cross-encoder ({self.task.value}) fine-tuned with domaintune",
                 "", f"- predicts {what}; max_length {self.max_length}",
                 f"- training pairs: {self.metrics.get('n_train', 0)}; steps: "
                 f"{self.metrics.get('steps', 0)}"]
        if self.labels:
            lines.append(f"- labels: {', '.join(self.labels[:30])}")
        if val:
            lines.append("- validation: " + ", ".join(f"{k} {v:.4f}" for k, v in val.items()
                                                     if isinstance(v, float)))
        lines += ["", "## Use", "", "```python", "from domaintune.pairs import CrossEncoderModel",
                  "ce = CrossEncoderModel.load('path/to/this/folder')",
                  "ce.predict([('a query', 'a passage')])", "```", ""]
        return "\n".join(lines)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> CrossEncoderModel:
        """Load a directory written by :meth:`save` (safetensors only; no pickles are read).

        Raises:
            ModelLoadError: the directory is missing, incomplete or corrupted, or its weights no
                longer match the fingerprint recorded at save time.
        """
        from sentence_transformers import CrossEncoder

        path = Path(path)
        meta = read_artifact(path, task=TASK, required=("config.json", WEIGHTS_FILE),
                             loader="CrossEncoderModel.save")
        try:
            task = _task(meta["pair_task"])
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{path}/domaintune.json is corrupted ({exc}); re-save or retrain "
                                 "the model") from None
        try:
            ce = CrossEncoder(str(path), device=str(resolve_device(device)), local_files_only=True,
                              activation_fn=torch.nn.Identity())
        except Exception as exc:
            raise ModelLoadError(f"{path} is corrupted: cannot load the cross-encoder "
                                 f"({type(exc).__name__}: {exc}); re-save or retrain the model") from None
        labels = meta.get("labels")
        if labels is not None:
            labels = check_labels(labels, path / META_FILE)
        expected = len(labels) if task == CrossEncoderTask.CLASSIFICATION and labels else 1
        if ce.num_labels != expected:
            raise ModelLoadError(f"{path} is inconsistent: the head has {ce.num_labels} outputs, the "
                                 f"record expects {expected}; re-save or retrain the model")
        obj = cls(ce, task=task, labels=labels, base_model=meta.get("base_model", "default"))
        return restore_state(obj, meta, path)

    def __repr__(self) -> str:
        return (f"CrossEncoderModel(base_model={self.base_model!r}, task={self.task.value!r}, "
                f"labels={self.labels}, trained={self.training_config is not None})")

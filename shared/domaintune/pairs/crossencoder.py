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
from ..errors import ConfigError, DataError, ModelLoadError
from ..hub import resolve_model
from ..persistence import write_json_atomic
from .config import PairTrainingConfig
from .data import PairDataset, label_key
from .io import WEIGHTS_FILE, fingerprint, restore_state, versions
from .metrics import pair_classification_metrics, retrieval_metrics
from .scoring import CrossEncoderTask, PairScorer, as_pairs, as_task
from .training import count_truncated, run_trainer

logger = logging.getLogger(__name__)

TASK = "cross-encoder"


class CrossEncoderModel(PairScorer):
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
        self.task = as_task(task)
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

        task = as_task(task if task is not None else ("classification" if labels else "binary"))
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
    # predict_proba / predict / rank: domaintune.pairs.scoring.PairScorer, from these logits
    def _logits(self, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
        if not pairs:
            return self._empty()
        out = self.model.predict(pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(),
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    # ------------------------------------------------------------------ export
    def export_onnx(self, directory: str | Path, *, quantize: bool = False,
                    overwrite: bool = False, validation: PairDataset | None = None) -> Path:
        """Export the cross-encoder (encoder and head) to ONNX for fast CPU serving.

        Load the export with :class:`domaintune.export.OnnxCrossEncoder` (or
        ``domaintune.load``): same ``predict`` / ``predict_proba`` / ``rank``. The graph reads a
        (query, passage) pair tokenized as a pair (``token_type_ids`` where the encoder uses
        them, truncated ``longest_first`` to :attr:`max_length`) and returns the logits; an fp32
        export is checked to reproduce this model's logits on probe pairs. With ``quantize``
        (int8 weights) the manifest's ``int8_check`` records how often int8 and fp32 agree
        (same side of 0.5 for ``binary``, same class for ``classification``, largest score
        difference for ``regression``) on ``validation`` pairs when given, else on the probe
        pairs (the model stores no validation pairs).

        Args:
            directory: a new or empty directory (or an earlier export, with ``overwrite``).
            quantize: int8 dynamic quantization of the linear layers' weights.
            overwrite: replace an earlier ONNX export at ``directory``.
            validation: pairs on which to compare int8 with fp32 (labels are not needed).

        Example:
            >>> ce.export_onnx("models/reranker-onnx")  # doctest: +SKIP
        """
        from ..export import PROBE_PAIRS, OnnxCrossEncoder, export_module

        max_length = int(self.max_length or 512)
        tokenizer = self.model.tokenizer
        measured = as_pairs(validation)[0] if validation is not None else list(PROBE_PAIRS)
        if not measured:
            raise DataError("the validation pairs for the int8 check are empty; pass pairs or "
                            "validation=None (the probe pairs are used)")
        source = "validation pairs" if validation is not None else "probe pairs"

        def check(run_fp32, run_int8) -> dict[str, Any]:
            fp32, int8 = [], []
            for start in range(0, len(measured), 32):
                batch = measured[start : start + 32]
                enc = tokenizer([a for a, _ in batch], [b for _, b in batch], padding=True,
                                truncation="longest_first", max_length=max_length,
                                return_tensors="np")
                feeds = {k: np.asarray(v, dtype=np.int64) for k, v in enc.items()}
                fp32.append(run_fp32(feeds))
                int8.append(run_int8(feeds))
            a, b = np.concatenate(fp32), np.concatenate(int8)
            result: dict[str, Any] = {"n_pairs": len(measured), "measured_on": source,
                                      "max_abs_diff": float(np.abs(a - b).max())}
            if self.task == CrossEncoderTask.CLASSIFICATION:
                result["top1_agreement"] = float(np.mean(a.argmax(1) == b.argmax(1)))
            elif self.task == CrossEncoderTask.BINARY:
                result["top1_agreement"] = float(np.mean((a[:, 0] > 0) == (b[:, 0] > 0)))
            if validation is None:
                result["accuracy_skipped"] = ("the cross-encoder stores no validation pairs; "
                                              "pass validation=... to measure on your own pairs")
            return result

        return export_module(
            self.model, lambda ce, inputs: ce(dict(inputs))["scores"], tokenizer, directory,
            max_length=max_length, kind=OnnxCrossEncoder.KIND, quantize=quantize,
            overwrite=overwrite, probe=PROBE_PAIRS, int8_check=check,
            info={"pair_task": self.task.value, "labels": self.labels,
                  "base_model": self.base_model,
                  "fingerprint": self.fingerprint + ("-int8" if quantize else "")})

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
            task = as_task(meta["pair_task"])
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

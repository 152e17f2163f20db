"""``TextClassifier``: a new domain is data + label names + a config, not a subclass.

Example:
    >>> from domaintune import TextClassifier, TrainingConfig, load_dataset
    >>> train, val = load_dataset("tickets.csv", text="body", label="queue", split=0.1)  # doctest: +SKIP
    >>> clf = TextClassifier.from_pretrained("default", labels=train.label_names)  # doctest: +SKIP
    >>> clf.fit(train, val, TrainingConfig(method="frozen"))  # doctest: +SKIP
    >>> clf.predict("where is my refund?")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .artifacts import (
    META_FILE,
    check_labels,
    check_positive,
    read_artifact,
    require_files,
    restore_config,
    restore_metrics,
    write_artifact,
)
from .calibration import decide, expected_calibration_error, fit_temperature, probabilities
from .config import HeadInit, Method, Task, TrainingConfig
from .data import TextDataset, load_dataset, sample_per_class, text_batch
from .device import resolve_device
from .errors import DataError, ModelLoadError, NotFittedError
from .evaluation import classification_metrics, multilabel_metrics, plot_confusion_matrix
from .hub import resolve_model
from .levers import warn_ignored_levers
from .modeling import EncoderClassifier, Pooling
from .persistence import write_json_atomic
from .training import (
    contrastive_stage,
    encode,
    fit_linear_head,
    redraw_linear_head,
    set_seed,
    train_loop,
)

logger = logging.getLogger(__name__)

TASK = "text-classification"
HEAD_FILE = "head.safetensors"
ADAPTER_DIR = "adapter"
REPLAY_FILE = "replay.jsonl"  # stratified sample of the training data, for updates
HOLDOUT_FILE = "holdout.jsonl"  # the validation data, to measure forgetting after updates
DEFAULT_ZERO_SHOT_TEMPLATE = "{}"
_MAX_HOLDOUT = 5000
MIN_CALIBRATION_EXAMPLES = 50  # fewer validation examples: no temperature fit
TEMPERATURE_BOUNDS = (0.05, 20.0)  # a fit outside these is not trusted
_ZERO_SHOT_SCALE = 20.0  # cosine similarity x 20 = logits; refit by ``calibrate``


def _unique_labels(labels: Sequence[Any]) -> list[str]:
    """Label names from a list of names or of per-example labels (order kept, deduplicated)."""
    flat: list[str] = []
    for lab in labels:
        if isinstance(lab, (list, tuple, set)):
            flat.extend(str(x) for x in lab)
        else:
            flat.append(str(lab))
    names = list(dict.fromkeys(flat))
    if not names:
        raise DataError("expected at least one label name, found none; pass labels=[...]")
    return names


def _read_head(file: Path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """The head's tensors and the label list stored in its safetensors metadata (None for
    heads saved before labels were stored there)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
            stored = (handle.metadata() or {}).get("labels")
        return tensors, (json.loads(stored) if stored is not None else None)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{file} is corrupted ({type(exc).__name__}: {exc}); re-save or "
                             "retrain the model") from None


def _load_encoder(path: Path):
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        encoder = AutoModel.from_pretrained(str(path))
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load a transformer encoder from {path} ({type(exc).__name__}: {exc}); "
            "pass a directory with config.json, weights and tokenizer files, or model='default'"
        ) from None
    return encoder, tokenizer


class TextClassifier:
    """Single- or multi-label text classifier on a pretrained transformer encoder.

    Build one with :meth:`from_pretrained` (then :meth:`fit`), :meth:`zero_shot` or
    :meth:`load`.
    """

    def __init__(
        self,
        model: EncoderClassifier,
        tokenizer,
        labels: list[str],
        *,
        multi_label: bool = False,
        base_model: str = "default",
        max_length: int = 128,
        device: str | torch.device = "auto",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.multi_label = multi_label
        self.base_model = base_model
        self.max_length = max_length
        self.device = resolve_device(device)
        self.model.to(self.device).eval()
        self.temperature = 1.0
        self.threshold = 0.5  # multi-label decision threshold on calibrated probabilities
        self.method: Method | None = None
        self.training_config: TrainingConfig | None = None
        self.history: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self.label_descriptions: dict[str, str] | None = None
        # continual learning: a stratified sample of the training data and the validation data
        self.replay: TextDataset | None = None
        self.holdout: TextDataset | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        model: str = "default",
        labels: Sequence[Any] = (),
        *,
        multi_label: bool = False,
        max_length: int = 128,
        device: str = "auto",
    ) -> TextClassifier:
        """A classifier with a fresh head on the encoder ``model``.

        Args:
            model: ``"default"`` (packaged all-MiniLM-L6-v2), a local directory or a hub id.
            labels: the label names (or the per-example labels of a dataset).
            multi_label: several labels per text (sigmoid head) instead of exactly one.
        """
        names = _unique_labels(labels)
        path = resolve_model(model)
        encoder, tokenizer = _load_encoder(path)
        net = EncoderClassifier(encoder, len(names), Pooling.from_model_dir(path))
        return cls(net, tokenizer, names, multi_label=multi_label, base_model=str(model),
                   max_length=max_length, device=device)

    @classmethod
    def zero_shot(
        cls,
        labels: Sequence[str],
        descriptions: dict[str, str] | Sequence[str] | None = None,
        *,
        model: str = "default",
        template: str = DEFAULT_ZERO_SHOT_TEMPLATE,
        device: str = "auto",
    ) -> TextClassifier:
        """Classify by cosine similarity between a text and each label's name or description.

        No training data is needed. ``calibrate(val)`` fits the temperature when a little
        labelled data exists.

        Example:
            >>> clf = TextClassifier.zero_shot(["refund", "lost card"])  # doctest: +SKIP
            >>> clf.predict("I lost my card")  # doctest: +SKIP
            'lost card'
        """
        clf = cls.from_pretrained(model, labels, device=device)
        clf._set_zero_shot_head(descriptions, template)
        clf.method = Method.ZERO_SHOT
        clf.training_config = TrainingConfig(method=Method.ZERO_SHOT, progress=False)
        return clf

    def _set_zero_shot_head(self, descriptions, template: str) -> None:
        if descriptions is None:
            descriptions = {lab: lab.replace("_", " ").replace("-", " ") for lab in self.labels}
        elif not isinstance(descriptions, dict):
            descriptions = dict(zip(self.labels, descriptions, strict=True))
        missing = [lab for lab in self.labels if not str(descriptions.get(lab, "")).strip()]
        if missing:
            raise DataError(f"zero-shot: no description for labels {missing}; give one per label")
        self.label_descriptions = {lab: str(descriptions[lab]) for lab in self.labels}
        prompts = [template.format(self.label_descriptions[lab]) for lab in self.labels]
        self.model.pooling = Pooling(self.model.pooling.mode, normalize=True)
        vectors = encode(self.model, self.tokenizer, prompts, max_length=self.max_length,
                         device=self.device)
        self.model.set_head(vectors * _ZERO_SHOT_SCALE, np.zeros(len(self.labels), np.float32))

    # ------------------------------------------------------------------ data helpers
    def _targets(self, data: TextDataset, *, purpose: str) -> np.ndarray:
        index = {lab: i for i, lab in enumerate(self.labels)}
        unknown = [
            (row, lab)
            for row, labs in zip(data.rows, data.labels_list, strict=True)
            for lab in labs
            if lab not in index
        ]
        if unknown:
            found = sorted({lab for _, lab in unknown})
            rows = ", ".join(str(r) for r, _ in unknown[:5])
            raise DataError(
                f"{data.source}: {purpose} data has label{'s' if len(found) > 1 else ''} "
                f"{found[:10]} (row{'s' if len(unknown) > 1 else ''} {rows}"
                f"{' ...' if len(unknown) > 5 else ''}) that the model never saw; it knows "
                f"{len(self.labels)} labels: {self.labels[:20]}{' ...' if len(self.labels) > 20 else ''}. "
                "Remove those rows, map them to known labels, or add the labels and retrain"
            )
        if self.multi_label:
            if not data.multi_label:
                raise DataError(f"{data.source}: the model is multi-label; load the data with multi_label=True")
            out = np.zeros((len(data), len(self.labels)), dtype=np.float32)
            for r, labs in enumerate(data.labels_list):
                out[r, [index[lab] for lab in labs]] = 1.0
            return out
        if data.multi_label:
            raise DataError(f"{data.source}: the data is multi-label but the model is single-label; "
                            "build the classifier with multi_label=True")
        return np.array([index[lab] for lab in data.labels], dtype=np.int64)

    def _logits(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False,
                max_length: int | None = None) -> np.ndarray:
        """Head logits of ``texts``, tokenized at ``max_length`` (default: the model's)."""
        return encode(self.model, self.tokenizer, list(texts),
                      max_length=max_length or self.max_length,
                      batch_size=batch_size, device=self.device, head=True, progress=progress)

    def _validation_metrics(self, texts: Sequence[str], targets: np.ndarray) -> dict[str, float]:
        logits = self._logits(texts)
        tensor = torch.as_tensor(logits)
        if self.multi_label:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                tensor, torch.as_tensor(targets)).item()
            pred = (logits > 0).astype(int)
            m = multilabel_metrics(targets.astype(int), pred, self.labels)
        else:
            loss = torch.nn.functional.cross_entropy(tensor, torch.as_tensor(targets)).item()
            m = classification_metrics(targets, logits.argmax(1), self.labels)
        return {"loss": loss, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}

    # ------------------------------------------------------------------ training
    def fit(
        self,
        train: TextDataset,
        validation: TextDataset | None = None,
        config: TrainingConfig | None = None,
    ) -> TextClassifier:
        """Train on ``train``; ``validation`` drives early stopping and calibration.

        Args:
            train: labelled training data (see :func:`domaintune.load_dataset`).
            validation: labelled validation data, optional.
            config: a :class:`TrainingConfig`; defaults to full fine-tuning for 3 epochs.

        Returns:
            ``self``, trained (and temperature-calibrated when validation data is given).
        """
        cfg = config or TrainingConfig()
        if not isinstance(cfg, TrainingConfig):
            raise TypeError(f"expected a TrainingConfig, found {type(cfg).__name__}")
        if len(train) == 0:
            raise DataError(f"{train.source}: the training data has no rows")
        warn_ignored_levers(cfg, task=Task.TEXT_CLASSIFICATION, method=cfg.method,
                            multi_label=self.multi_label)
        set_seed(cfg.seed)
        if self.method is None:  # a fresh head: draw it from the seed (reproducible fits)
            redraw_linear_head(self.model.head)
        self.device = resolve_device(cfg.device)
        self.model.to(self.device)
        self.max_length = cfg.max_length
        y_train = self._targets(train, purpose="training")
        y_val = self._targets(validation, purpose="validation") if validation is not None else None
        start = time.perf_counter()
        self._count_truncated(train.texts)
        validate = (lambda: self._validation_metrics(validation.texts, y_val)) if validation is not None else None

        if cfg.contrastive_epochs and cfg.method != Method.ZERO_SHOT:
            groups = np.array([self.labels.index(labs[0]) for labs in train.labels_list])
            self.history = contrastive_stage(self.model, self.tokenizer, train.texts, groups, cfg,
                                             device=self.device)
        else:
            self.history = []
        if cfg.method == Method.ZERO_SHOT:
            self._set_zero_shot_head(self.label_descriptions, DEFAULT_ZERO_SHOT_TEMPLATE)
        elif cfg.method == Method.FROZEN or cfg.head_init == HeadInit.LINEAR_PROBE:
            embeddings = encode(self.model, self.tokenizer, train.texts, max_length=cfg.max_length,
                                device=self.device, progress=cfg.progress)
            weight, bias = fit_linear_head(
                embeddings, y_train, len(self.labels), multi_label=self.multi_label,
                c=cfg.head_c, balanced=cfg.class_weights.value == "balanced", seed=cfg.seed,
            )
            self.model.set_head(weight, bias)
            self.history += [{"epoch": 0, "stage": "linear_probe", **(
                {f"val_{k}": v for k, v in validate().items()} if validate else {})}]
        if cfg.method == Method.LORA:
            self._wrap_lora(cfg)
        if cfg.method in (Method.FULL, Method.LORA):
            self.history += train_loop(self.model, self.tokenizer, train.texts, y_train, cfg,
                                       multi_label=self.multi_label, device=self.device,
                                       validate=validate)
        from .backend import forget

        forget(self)  # a twin built before (or during) the fit holds older weights
        self.method = cfg.method
        self.training_config = cfg
        self.temperature = 1.0
        self.metrics = {"train_seconds": round(time.perf_counter() - start, 2),
                        "n_train": len(train), "n_validation": len(validation) if validation else 0}
        self.replay = (sample_per_class(train, cfg.replay_per_class, seed=cfg.seed)
                       if cfg.replay_per_class else None)
        if validation is not None:
            self.metrics["validation"] = self._validation_metrics(validation.texts, y_val)
            if cfg.calibrate:
                self.metrics["calibration"] = self.calibrate(validation)
        self.holdout = validation
        if validation is not None and len(validation) > _MAX_HOLDOUT:
            self.holdout = sample_per_class(validation, max(1, _MAX_HOLDOUT // len(self.labels)),
                                            seed=cfg.seed)
        logger.info(
            "trained %s (%s) on %d examples, %d labels in %.1fs%s",
            self.base_model, cfg.method.value, len(train), len(self.labels),
            self.metrics["train_seconds"],
            f"; validation macro-F1 {self.metrics['validation']['macro_f1']:.4f}" if validation else "",
        )
        return self

    def _count_truncated(self, texts: Sequence[str]) -> int:
        lengths = [len(ids) for ids in self.tokenizer(list(texts), truncation=False)["input_ids"]]
        n = sum(length > self.max_length for length in lengths)
        if n:
            logger.warning("%d of %d training texts are longer than max_length=%d tokens and are "
                           "truncated; raise max_length to keep them whole", n, len(texts), self.max_length)
        return n

    def _wrap_lora(self, cfg: TrainingConfig) -> None:
        from peft import LoraConfig, get_peft_model

        names = {name.split(".")[-1] for name, _ in self.model.encoder.named_modules()}
        targets = cfg.lora_target_modules
        if targets is None:
            for pair in (("query", "value"), ("q_lin", "v_lin"), ("q_proj", "v_proj")):
                if set(pair) <= names:
                    targets = list(pair)
                    break
            else:
                raise DataError("lora: cannot guess attention module names for this encoder; "
                                "set lora_target_modules in the TrainingConfig")
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=targets)
        self.model.encoder = get_peft_model(self.model.encoder, lora)

    # ------------------------------------------------------------------ calibration
    def calibrate(self, validation: TextDataset) -> dict[str, Any]:
        """Fit the softmax temperature on ``validation``; returns ECE before and after.

        The fit is skipped (temperature left as it is, with a warning saying why, and
        ``"skipped"`` in the result) when it cannot be trusted: fewer than
        ``MIN_CALIBRATION_EXAMPLES`` examples, a validation set the model already classifies
        perfectly (the likelihood then keeps rising as the temperature falls, so every later
        prediction would look ~100% certain), or a fitted temperature outside
        ``TEMPERATURE_BOUNDS``.
        """
        targets = self._targets(validation, purpose="calibration")
        logits = self._logits(validation.texts)
        before = expected_calibration_error(probabilities(logits, self.temperature, self.multi_label),
                                            targets, multi_label=self.multi_label)
        result: dict[str, Any] = {"temperature": self.temperature, "ece_before": before,
                                  "ece_after": before, "n": len(validation)}
        if self.multi_label:
            perfect = bool(np.all((logits > 0) == (targets > 0.5)))
        else:
            perfect = bool(np.all(logits.argmax(1) == targets))
        reason = None
        if len(validation) < MIN_CALIBRATION_EXAMPLES:
            reason = (f"only {len(validation)} validation examples (at least "
                      f"{MIN_CALIBRATION_EXAMPLES} are needed for a reliable fit)")
        elif perfect:
            reason = ("the model classifies every validation example correctly, so the "
                      "temperature cannot be estimated (the fit would make every prediction "
                      "look ~100% certain)")
        else:
            fitted = fit_temperature(logits, targets, self.multi_label)
            low, high = TEMPERATURE_BOUNDS
            if not low <= fitted <= high:
                reason = (f"the fitted temperature {fitted:.3g} is outside [{low}, {high}], a sign "
                          "of too little or unrepresentative validation data")
            else:
                self.temperature = fitted
                after = expected_calibration_error(
                    probabilities(logits, fitted, self.multi_label), targets,
                    multi_label=self.multi_label)
                result.update(temperature=fitted, ece_after=after)
        if reason:
            logger.warning("calibration skipped: %s; keeping temperature %.3g. Give more (and "
                           "harder) validation data to calibrate", reason, self.temperature)
            result["skipped"] = reason
        return result

    # ------------------------------------------------------------------ inference
    def predict_proba(self, texts: str | Sequence[str], batch_size: int = 64, *,
                      backend: str = "auto") -> np.ndarray:
        """Calibrated probabilities: ``(n_labels,)`` for one string, ``(n, n_labels)`` for a list.

        Args:
            texts: one text or a list.
            batch_size: texts per forward pass.
            backend: ``auto`` (the faster of PyTorch and the model's fp32 ONNX twin),
                ``torch`` or ``onnx``; same outputs either way (see :mod:`domaintune.backend`).

        Example:
            >>> clf.predict_proba(["where is my card?"], backend="onnx").shape  # doctest: +SKIP
            (1, 77)
        """
        from .backend import select

        batch, single = text_batch(texts, "texts to classify")
        twin = select(self, len(batch), backend) if batch else None
        if twin is not None:
            probs = twin.predict_proba(batch, batch_size)
        else:
            probs = probabilities(self._logits(batch, batch_size), self.temperature,
                                  self.multi_label)
        return probs[0] if single else probs

    def predict(self, texts: str | Sequence[str], batch_size: int = 64, *,
                backend: str = "auto"):
        """Label(s) for one string or a list (multi-label: a list of labels per text);
        ``backend`` as for :meth:`predict_proba`."""
        batch, single = text_batch(texts, "texts to classify")
        probs = self.predict_proba(batch, batch_size, backend=backend)
        out = decide(probs, self.labels, self.multi_label, self.threshold)
        return out[0] if single else out

    def embed(self, texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Pooled encoder embeddings (as used by the head)."""
        batch, single = text_batch(texts, "texts to embed")
        out = encode(self.model, self.tokenizer, batch, max_length=self.max_length,
                     batch_size=batch_size, device=self.device)
        return out[0] if single else out

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data: TextDataset, output_dir: str | Path | None = None,
                 batch_size: int = 64) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class report, most confused pairs and calibration (ECE).

        With ``output_dir``, also writes ``metrics.json`` and ``confusion_matrix.png`` there.
        """
        targets = self._targets(data, purpose="evaluation")
        logits = self._logits(data.texts, batch_size)
        probs = probabilities(logits, self.temperature, self.multi_label)
        if self.multi_label:
            metrics = multilabel_metrics(targets.astype(int), (probs >= self.threshold).astype(int),
                                         self.labels)
        else:
            metrics = classification_metrics(targets, probs.argmax(1), self.labels)
        metrics["ece_uncalibrated"] = expected_calibration_error(
            probabilities(logits, 1.0, self.multi_label), targets, multi_label=self.multi_label)
        metrics["ece"] = expected_calibration_error(probs, targets, multi_label=self.multi_label)
        metrics["temperature"] = self.temperature
        if output_dir is not None:
            out = Path(output_dir)
            out.mkdir(parents=True, exist_ok=True)
            if not self.multi_label:
                plot_confusion_matrix(metrics["confusion_matrix"], self.labels, out / "confusion_matrix.png")
            write_json_atomic(out / "metrics.json", metrics)
        return metrics

    # ------------------------------------------------------------------ export
    def export_onnx(self, directory: str | Path, *, quantize: bool = False,
                    overwrite: bool = False, max_int8_drop: float | None = None) -> Path:
        """Export the classifier (encoder, pooling, head) to ONNX for fast CPU serving.

        Load the export with :class:`domaintune.export.OnnxTextClassifier` (same
        ``predict_proba`` / ``predict``, same calibration). An fp32 export is checked to
        reproduce this model's logits; ``quantize`` also stores int8 weights (faster, slightly
        different outputs). An int8 export is compared with this model on its stored
        validation texts (:attr:`holdout`): top-1 agreement and accuracy fp32 vs int8 go to
        ``onnx.json`` (``int8_check``); with ``max_int8_drop`` (accuracy points) a larger loss
        is refused and nothing is written. LoRA adapters are merged.

        Example:
            >>> clf.export_onnx("models/intent-onnx")  # doctest: +SKIP
        """
        from .export import OnnxTextClassifier, export_module

        def merge_lora(module):
            if hasattr(module.encoder, "merge_and_unload"):  # a PEFT (LoRA) wrapper
                module.encoder = module.encoder.merge_and_unload()
            return module

        return export_module(
            self.model, lambda m, inputs: m(**inputs), self.tokenizer, directory,
            max_length=self.max_length, kind=OnnxTextClassifier.KIND, quantize=quantize, overwrite=overwrite,
            prepare=merge_lora, max_int8_drop=max_int8_drop, **self._int8_holdout(),
            info={"labels": self.labels, "multi_label": self.multi_label,
                  "temperature": self.temperature, "threshold": self.threshold,
                  "base_model": self.base_model})

    def _backend_spec(self):
        """What :mod:`domaintune.backend` needs to build, key and load this model's ONNX twin."""
        from .backend import TwinSpec
        from .export import OnnxTextClassifier

        return TwinSpec(
            kind=OnnxTextClassifier.KIND, module=self.model, device=self.device,
            tokenizer=self.tokenizer,
            settings={"labels": self.labels, "multi_label": self.multi_label,
                      "temperature": self.temperature, "threshold": self.threshold,
                      "max_length": self.max_length, "pooling": [self.model.pooling.mode,
                                                                 self.model.pooling.normalize]},
            export=lambda directory: self.export_onnx(directory, quantize=False),
            load=OnnxTextClassifier.load)

    def _int8_holdout(self) -> dict[str, Any]:
        """The stored validation texts (and, single-label, their label indices) for the int8
        check of :meth:`export_onnx`."""
        if self.holdout is None or not len(self.holdout):
            return {"holdout_texts": []}  # recorded as not measured
        targets = None
        if not self.multi_label and self.holdout.labels is not None and all(
                lab in self.labels for lab in self.holdout.labels):
            targets = [self.labels.index(lab) for lab in self.holdout.labels]
        return {"holdout_texts": list(self.holdout.texts), "holdout_targets": targets}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model directory atomically (temp dir, then rename) and return its path.

        Contents: ``domaintune.json`` (labels, method, pooling, temperature, versions, the file
        list and the SHA-256 of every weight file), encoder ``config.json`` +
        ``model.safetensors`` (or ``adapter/`` for LoRA), ``head.safetensors`` (with the labels
        in its metadata), tokenizer files, ``training_config.json``, ``metrics.json`` and a
        model card ``README.md``.

        Args:
            path: a new or empty directory.
            overwrite: replace an earlier domaintune directory at ``path`` (a directory holding
                anything else is never replaced).

        Raises:
            ArtifactExistsError: ``path`` is not empty (and not replaceable).
        """
        from safetensors.torch import save_file

        if self.method is None:
            raise NotFittedError("this classifier has not been trained; call fit() or zero_shot() first")
        path = Path(path)
        with write_artifact(path, task=TASK, overwrite=overwrite) as art:
            tmp = art.dir
            encoder = self.model.encoder
            if self.method == Method.LORA:
                encoder.save_pretrained(str(tmp / ADAPTER_DIR))
            else:
                encoder.save_pretrained(str(tmp))
            self.tokenizer.save_pretrained(str(tmp))
            head = {k: v.detach().cpu().contiguous() for k, v in self.model.head.state_dict().items()}
            save_file(head, str(tmp / HEAD_FILE), metadata={"labels": json.dumps(self.labels)})
            art.meta.update({
                "method": self.method.value,
                "labels": self.labels,
                "multi_label": self.multi_label,
                "base_model": self.base_model,
                "pooling": {"mode": self.model.pooling.mode, "normalize": self.model.pooling.normalize},
                "max_length": self.max_length,
                "temperature": self.temperature,
                "threshold": self.threshold,
                "label_descriptions": self.label_descriptions,
                "torch_version": torch.__version__,
            })
            if self.training_config is not None:
                write_json_atomic(tmp / "training_config.json", self.training_config.to_dict())
            write_json_atomic(tmp / "metrics.json", {**self.metrics, "history": self.history})
            for name, data in ((REPLAY_FILE, self.replay), (HOLDOUT_FILE, self.holdout)):
                if data is not None and len(data):
                    data.write_jsonl(tmp / name)
            (tmp / "README.md").write_text(self._model_card(), encoding="utf-8")
        return path

    def _model_card(self) -> str:
        val = self.metrics.get("validation", {})
        cal = self.metrics.get("calibration", {})
        lines = [
            f"# {self.base_model} fine-tuned with domaintune ({self.method.value if self.method else '?'})",
            "",
            f"- task: {'multi-label' if self.multi_label else 'single-label'} text classification, "
            f"{len(self.labels)} labels",
            f"- base model: `{self.base_model}`; pooling: {self.model.pooling.mode}"
            f"{', normalised' if self.model.pooling.normalize else ''}; max_length {self.max_length}",
            f"- training examples: {self.metrics.get('n_train', 0)}, validation examples: "
            f"{self.metrics.get('n_validation', 0)}, training time: {self.metrics.get('train_seconds', 0)} s",
        ]
        if val:
            lines.append(f"- validation accuracy {val['accuracy']:.4f}, macro-F1 {val['macro_f1']:.4f}")
        if cal:
            lines.append(f"- temperature {cal['temperature']:.3f}; validation ECE "
                         f"{cal['ece_before']:.4f} before, {cal['ece_after']:.4f} after calibration")
        lines += [
            f"- labels: {', '.join(self.labels[:30])}{' ...' if len(self.labels) > 30 else ''}",
            "",
            "## Use",
            "",
            "```python",
            "from domaintune import TextClassifier",
            "clf = TextClassifier.load('path/to/this/folder')",
            "clf.predict(['some text'])",
            "```",
            "",
            "Limits: evaluated only on the data named above; texts longer than max_length are truncated.",
            "",
        ]
        return "\n".join(lines)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> TextClassifier:
        """Load a directory written by :meth:`save` (no pickles are read).

        Every recorded weight file is checked against its SHA-256, and the record against the
        weights (labels, head size, temperature).

        Raises:
            ModelLoadError: missing, incomplete, changed or inconsistent files, naming the file.
        """
        path = Path(path)
        meta = read_artifact(path, task=TASK, default_task=TASK,
                             loader="TextClassifier.save or `domaintune train`")
        meta_file = path / META_FILE
        try:
            method = Method(meta.get("method"))
        except ValueError:
            raise ModelLoadError(f"{meta_file} is corrupted ('method' is {meta.get('method')!r}, "
                                 f"expected one of {[m.value for m in Method]}); re-save or "
                                 "retrain the model") from None
        needed = [HEAD_FILE] + ([f"{ADAPTER_DIR}/adapter_config.json"] if method == Method.LORA
                                else ["config.json", "model.safetensors"])
        require_files(path, needed)
        head, stored_labels = _read_head(path / HEAD_FILE)
        n_outputs = int(head["weight"].shape[0]) if "weight" in head else None
        labels = check_labels(meta.get("labels"), meta_file, n_outputs=n_outputs,
                              stored=stored_labels, stored_in=HEAD_FILE)
        temperature = check_positive(meta.get("temperature", 1.0), meta_file, "temperature")
        threshold = float(meta.get("threshold", 0.5))
        if not 0 < threshold < 1:
            raise ModelLoadError(f"{meta_file} is corrupted ('threshold' must be in (0, 1), found "
                                 f"{threshold}); re-save or retrain the model")
        if method == Method.LORA:
            from peft import PeftModel

            base = resolve_model(meta["base_model"])
            encoder, _ = _load_encoder(base)
            try:
                encoder = PeftModel.from_pretrained(encoder, str(path / ADAPTER_DIR)).merge_and_unload()
            except Exception as exc:
                raise ModelLoadError(f"{path / ADAPTER_DIR} is corrupted: cannot load the LoRA "
                                     f"adapter ({type(exc).__name__}: {exc}); re-save or retrain "
                                     "the model") from None
            from transformers import AutoTokenizer
            tokenizer = AutoTokenizer.from_pretrained(str(path))
        else:
            encoder, tokenizer = _load_encoder(path)
        pooling = Pooling(**meta.get("pooling", {}))
        net = EncoderClassifier(encoder, len(labels), pooling)
        try:
            net.head.load_state_dict(head)
        except RuntimeError as exc:
            raise ModelLoadError(f"{path / HEAD_FILE} does not fit this encoder ({exc}); re-save "
                                 "or retrain the model") from None
        clf = cls(net, tokenizer, labels, multi_label=bool(meta.get("multi_label", False)),
                  base_model=meta.get("base_model", "default"),
                  max_length=meta.get("max_length", 128), device=device)
        clf.method = method
        clf.temperature = temperature
        clf.threshold = threshold
        clf.label_descriptions = meta.get("label_descriptions")
        clf.training_config = restore_config(TrainingConfig, path / "training_config.json")
        restore_metrics(clf, path / "metrics.json")
        for name, attr in ((REPLAY_FILE, "replay"), (HOLDOUT_FILE, "holdout")):
            if (path / name).is_file():
                setattr(clf, attr, load_dataset(path / name, text="text", label="label",
                                                multi_label=clf.multi_label))
        return clf

    def __repr__(self) -> str:
        return (f"TextClassifier(base_model={self.base_model!r}, method="
                f"{self.method.value if self.method else None!r}, labels={len(self.labels)}, "
                f"multi_label={self.multi_label})")

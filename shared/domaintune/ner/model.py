"""``TokenClassifier``: named-entity recognition as data + entity types + a config.

Example:
    >>> from domaintune import TrainingConfig
    >>> from domaintune.ner import TokenClassifier, load_ner_dataset
    >>> train, val = load_ner_dataset("train.conll", split=0.1)  # doctest: +SKIP
    >>> ner = TokenClassifier.from_pretrained("default", labels=train.entity_types)  # doctest: +SKIP
    >>> ner.fit(train, val, TrainingConfig(epochs=3))  # doctest: +SKIP
    >>> ner.predict("Ann flew to Oslo")  # doctest: +SKIP
    [{'type': 'person', 'text': 'Ann', 'start': 0, 'end': 3, 'score': 0.98}, ...]
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..artifacts import (
    META_FILE,
    check_labels,
    read_artifact,
    read_json_file,
    restore_config,
    restore_metrics,
    write_artifact,
)
from ..config import Method, Task, TrainingConfig
from ..data import check_texts, text_batch
from ..device import resolve_device
from ..errors import ConfigError, DataError, ModelLoadError, NotFittedError
from ..hub import resolve_model
from ..levers import warn_ignored_levers
from ..persistence import write_json_atomic
from ..training import length_grouped_batches, redraw_linear_head, set_seed
from .alignment import Window, attach_labels, encode_windows, stored_context
from .data import TokenDataset, tags_for_types
from .decoding import (
    WORD_RE,
    check_decoding,
    decode_tags,
    entities,
    run_windows,
    split_words,
    word_lists,
    word_scores,
)
from .features import SHAPE_INPUT, SHAPES, check_shape_classes, token_shapes
from .metrics import MODE, SCHEME, entity_metrics
from .training import HEAD_NAME, ShapeTagger, collate, is_head, train_windows, with_learning_rates

logger = logging.getLogger(__name__)

TASK = "token-classification"
SHAPES_FILE = "word_shapes.safetensors"
_WORD_RE = WORD_RE  # a word: a whitespace-separated piece (domaintune.ner.decoding)
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json",
                    "sentencepiece.bpe.model", "spm.model")


def tags_from_labels(labels: Sequence[str]) -> list[str]:
    """The BIO tag list for entity types (``["person", "location"]``) or for BIO tags.

    Example:
        >>> tags_from_labels(["PER", "LOC"])
        ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']
        >>> tags_from_labels(["O", "B-LOC", "I-LOC"])
        ['O', 'B-LOC', 'I-LOC']
    """
    if isinstance(labels, str):
        labels = [labels]
    names = list(dict.fromkeys(str(x).strip() for x in labels if str(x).strip()))
    is_tag = [n == "O" or n[:2] in ("B-", "I-") for n in names]
    if any(is_tag) and not all(is_tag):
        raise DataError(f"labels mix BIO tags and entity types ({names[:10]}); pass entity types "
                        "like ['person', 'location'] or BIO tags like ['O', 'B-person', 'I-person']")
    types = [n[2:] for n in names if n != "O"] if all(is_tag) else names
    if not types:
        raise DataError(f"expected at least one entity type, found {names}; pass labels="
                        "dataset.entity_types or e.g. labels=['person', 'location']")
    return tags_for_types(types)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' 'newly initialized weights' report while building a head."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:
        raise ModelLoadError(f"cannot load a tokenizer from {path} ({type(exc).__name__}: {exc}); "
                             "pass a directory with tokenizer files, or model='default'") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{path}: token classification needs a fast (tokenizers-backed) "
                             f"tokenizer for word alignment, found {type(tokenizer).__name__}; "
                             "use a model that ships tokenizer.json")
    try:
        tokenizer(["a"], is_split_into_words=True)
    except Exception:  # byte-level BPE (RoBERTa, GPT-2) needs a prefix space for split words
        tokenizer = AutoTokenizer.from_pretrained(str(path), add_prefix_space=True)
    return tokenizer


def _load_model(path: Path, tags: list[str] | None, *, saved: bool = False):
    """The token-classification model at ``path`` and whether its tag layer is fresh: newly
    drawn (missing from the checkpoint or of another shape) or trained for other tags (a hub
    NER checkpoint's ``id2label`` is not ``tags``, in order), so ``fit`` draws it again."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    kwargs: dict[str, Any] = {}
    checkpoint_tags: list[str] | None = None
    if tags is not None:
        try:
            id2label = getattr(AutoConfig.from_pretrained(str(path)), "id2label", None) or {}
            checkpoint_tags = [str(id2label[i]) for i in range(len(id2label))]
        except Exception:  # no readable config: from_pretrained below says what is wrong
            pass
        # a hub NER checkpoint with another tag count: its tag layer is drawn anew (fresh)
        kwargs = {"num_labels": len(tags), "id2label": dict(enumerate(tags)),
                  "label2id": {t: i for i, t in enumerate(tags)}, "ignore_mismatched_sizes": True}
    if saved:
        kwargs["use_safetensors"] = True  # never read pickled weights from a saved directory
    try:
        with _quiet_transformers():
            net, info = AutoModelForTokenClassification.from_pretrained(
                str(path), output_loading_info=True, **kwargs)
    except Exception as exc:
        fix = ("re-save or retrain the model" if saved else
               "pass a directory with config.json and weights, or model='default'")
        raise ModelLoadError(f"cannot load a token-classification model from {path} "
                             f"({type(exc).__name__}: {exc}); {fix}") from None
    mismatched = [str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", ())]
    encoder = [key for key in mismatched if not key.startswith(f"{HEAD_NAME}.")]
    if encoder:  # ignore_mismatched_sizes is for the tag layer only
        raise ModelLoadError(f"cannot load a token-classification model from {path}: "
                             f"{len(encoder)} encoder weights do not match its config.json "
                             f"(e.g. {encoder[0]}); pass a directory whose weights and config "
                             "belong together, or model='default'")
    drawn = [*map(str, info.get("missing_keys", ())), *mismatched]
    fresh = any(key.startswith(f"{HEAD_NAME}.") for key in drawn)
    if not fresh and tags is not None and checkpoint_tags != list(tags):
        logger.info("%s: its tag layer was trained for tags %s, not %s: fit draws a new one",
                    path, checkpoint_tags, list(tags))
        fresh = True
    return net, fresh


def _selection(cfg: TrainingConfig) -> tuple[str, bool]:
    """Validation key for early stopping: macro_f1/entity_f1 -> entity-level micro F1 (the
    NER convention), accuracy -> token accuracy, loss -> loss."""
    value = cfg.metric_for_best_model.value
    if value == "loss":
        return "loss", False
    if value == "accuracy":
        return "token_accuracy", True
    return "entity_f1", True


def _stored_decoding(meta: dict[str, Any], meta_file: Path) -> str:
    """The saved decoding (models saved before it existed decode with ``argmax``)."""
    value = meta.get("decoding", "argmax")
    if value not in ("argmax", "viterbi"):
        raise ModelLoadError(f"{meta_file} is corrupted ('decoding' is {value!r}, expected "
                             "'argmax' or 'viterbi'); re-save or retrain the model")
    return value


def _load_shapes(net, path: Path, shapes: Any, meta_file: Path) -> ShapeTagger:
    """Wrap ``net`` with the saved word-shape embedding (``word_shapes`` in the record)."""
    from safetensors.torch import load_file

    fix = "re-save or retrain the model"
    if not isinstance(shapes, dict) or shapes.get("file") != SHAPES_FILE:
        raise ModelLoadError(f"{meta_file} is corrupted or from another version ('word_shapes' "
                             f"is {shapes!r}, expected file {SHAPES_FILE!r} and classes "
                             f"{list(SHAPES)}); {fix}")
    file = path / SHAPES_FILE
    if not file.is_file():
        raise ModelLoadError(f"{path} is incomplete: missing {SHAPES_FILE} (the word-shape "
                             f"embedding); {fix}")
    try:
        weight = load_file(str(file))["weight"]
    except Exception as exc:
        raise ModelLoadError(f"cannot load {file} ({type(exc).__name__}: {str(exc)[:200]}); "
                             f"{fix}") from None
    check_shape_classes(shapes.get("classes"), int(weight.shape[0]) if weight.ndim == 2 else None,
                        meta_file, fix)
    model = ShapeTagger(net, len(SHAPES))
    try:
        model.shape_embedding.weight.data.copy_(weight)
    except Exception as exc:
        raise ModelLoadError(f"cannot load {file} ({type(exc).__name__}: {str(exc)[:200]}); "
                             f"{fix}") from None
    return model


class TokenClassifier:
    """Named-entity recognition (BIO token classification) on a pretrained encoder.

    Build one with :meth:`from_pretrained` (then :meth:`fit`) or :meth:`load`. Texts are split
    into words at whitespace; predictions are entity spans with character offsets into the
    original text. Long texts are split into overlapping windows (see
    :mod:`domaintune.ner.alignment`), never truncated.
    """

    def __init__(
        self,
        model,
        tokenizer,
        tags: Sequence[str],
        *,
        base_model: str = "default",
        max_length: int = 128,
        stride: int | None = None,
        device: str | torch.device = "auto",
        decoding: str = "viterbi",
        fresh_head: bool = False,
    ) -> None:
        self.model = model
        # the tag layer is untrained (drawn when the model was built): fit draws it again from
        # its seed; a loaded head (a hub NER checkpoint with these tags) is fine-tuned from
        self.fresh_head = fresh_head
        self.decoding = check_decoding(decoding)
        self.context = 0  # document context in sub-tokens each side (TrainingConfig.ner_context)
        self.tokenizer = tokenizer
        self.tags = list(tags)
        self.base_model = base_model
        self.max_length = max_length
        self.stride = stride
        self.device = resolve_device(device)
        self.model.to(self.device).eval()
        self.method: Method | None = None
        self.training_config: TrainingConfig | None = None
        self.history: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        model: str = "default",
        labels: Sequence[str] = (),
        *,
        max_length: int = 128,
        stride: int | None = None,
        device: str = "auto",
        decoding: str = "viterbi",
    ) -> TokenClassifier:
        """A token classifier on the encoder ``model``, with a fresh tagging head unless
        ``model`` is a token-classification checkpoint trained for exactly these tags (its
        ``id2label``, in this order), whose head ``fit`` then fine-tunes.

        Args:
            model: ``"default"`` (packaged all-MiniLM-L6-v2), a local directory or a hub id.
            labels: entity types (``dataset.entity_types``, e.g. ``["person", "location"]``)
                or the full BIO tag list; tags become ``O, B-T, I-T`` for each type T.
            max_length: tokens per window (``fit`` replaces it with the config's).
            stride: most sub-tokens shared by consecutive windows of a long text;
                ``None`` = a quarter of the window.
            device: ``auto`` (CUDA > MPS > CPU), ``cpu``, ``cuda`` ...
            decoding: how per-word scores become tags: ``"viterbi"`` (default: the best valid
                IOB2 sequence, :func:`domaintune.ner.decoding.viterbi_bio`; +2.6 to +3.4 entity
                F1 points on wikigold) or ``"argmax"`` (each word's best tag, then an invalid
                ``I-X`` repaired to ``B-X``; models saved without a ``decoding`` record keep
                it). Saved with the model and used by its ONNX export; the attribute
                ``decoding`` may be changed after training (no retraining needed).

        Example:
            >>> ner = TokenClassifier.from_pretrained("default", labels=["person", "location"])  # doctest: +SKIP
        """
        tags = tags_from_labels(labels)
        path = resolve_model(model)
        tokenizer = _load_tokenizer(path)
        net, fresh_head = _load_model(path, tags)
        return cls(net, tokenizer, tags, base_model=str(model), max_length=max_length,
                   stride=stride, device=device, decoding=decoding, fresh_head=fresh_head)

    @property
    def entity_types(self) -> list[str]:
        """Entity types the model predicts, in tag order."""
        return [t[2:] for t in self.tags if t.startswith("B-")]

    # ------------------------------------------------------------------ helpers
    @property
    def word_shapes(self) -> bool:
        """Whether the model reads word-shape ids (``TrainingConfig.ner_word_shapes``)."""
        return isinstance(self.model, ShapeTagger)

    def _hf(self):
        """The Hugging Face ``*ForTokenClassification`` model (inside a ShapeTagger or not)."""
        return self.model.net if isinstance(self.model, ShapeTagger) else self.model

    def _position_limit(self) -> int:
        limits = [getattr(self.model.config, "max_position_embeddings", None)]
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if model_max and model_max < 100_000:
            limits.append(model_max)
        return min([x for x in limits if x] or [self.max_length])

    def _window_budget(self) -> int:
        return self.max_length - self.tokenizer.num_special_tokens_to_add(pair=False)

    def _resolved_stride(self) -> int:
        budget = self._window_budget()
        stride = budget // 4 if self.stride is None else self.stride
        if not 0 <= stride < budget:
            raise ConfigError(f"stride expects an integer in [0, {budget}) for max_length="
                              f"{self.max_length} ({budget} sub-tokens per window), found "
                              f"{self.stride}; lower stride or raise max_length")
        return stride

    def _encode(self, sentences: Sequence[Sequence[str]],
                documents: Sequence[int] | None = None) -> list[Window]:
        return encode_windows(self.tokenizer, sentences, max_length=self.max_length,
                              stride=self._resolved_stride(), shapes=self.word_shapes,
                              documents=documents, context=self.context if documents else 0)

    def _tag_ids(self, data: TokenDataset, *, purpose: str) -> list[list[int]]:
        if data.tags is None:
            raise DataError(f"{data.source} has no tags; {purpose} needs labelled data "
                            "(CoNLL token<TAB>tag lines or JSONL entities)")
        index = {t: i for i, t in enumerate(self.tags)}
        unknown: dict[str, list[int]] = {}
        for line, seq in zip(data.lines, data.tags, strict=True):
            for tag in seq:
                if tag not in index:
                    unknown.setdefault(tag[2:], []).append(line)
        if unknown:
            lines = sorted({n for ns in unknown.values() for n in ns})
            raise DataError(
                f"{data.source}: {purpose} data has entity type{'s' if len(unknown) > 1 else ''} "
                f"{sorted(unknown)[:10]} (sentences at line{'s' if len(lines) > 1 else ''} "
                f"{', '.join(map(str, lines[:5]))}{' ...' if len(lines) > 5 else ''}) that the "
                f"model does not know; it knows {self.entity_types}. Build the model with "
                "labels=train.entity_types (covering all splits), or map those types")
        return [[index[t] for t in seq] for seq in data.tags]

    @torch.inference_mode()
    def _window_logits(self, windows: Sequence[Window], batch_size: int,
                       progress: bool = False) -> list[np.ndarray]:
        from tqdm.auto import tqdm

        self.model.eval()
        out: list[np.ndarray | None] = [None] * len(windows)
        pad_id = self.tokenizer.pad_token_id or 0
        batches = length_grouped_batches([len(w) for w in windows], batch_size, None)
        for idx in tqdm(batches, desc="tagging", disable=not progress, leave=False):
            batch = collate([windows[i] for i in idx], pad_id, self.device)
            logits = self.model(**batch).logits.float().cpu().numpy()
            for row, i in enumerate(idx):
                out[i] = logits[row, : len(windows[i])]
        return out  # type: ignore[return-value]

    def _word_logits(self, sentences: Sequence[Sequence[str]], batch_size: int = 64,
                     windows: list[Window] | None = None) -> tuple[list[np.ndarray], list[Window], list[np.ndarray]]:
        windows = self._encode(sentences) if windows is None else windows
        token_logits = self._window_logits(windows, batch_size)
        scores = word_scores(windows, token_logits, [len(s) for s in sentences], len(self.tags))
        return scores, windows, token_logits

    def _decode(self, logits: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Valid IOB2 tags (``self.decoding``) and the probability of each chosen tag."""
        return decode_tags(logits, self.tags, check_decoding(self.decoding))

    def _check_fitted(self) -> None:
        if self.method is None:
            raise NotFittedError("this TokenClassifier has not been trained; call fit() first "
                                 "or load a saved model with TokenClassifier.load()")

    def _validation_metrics(self, data: TokenDataset, tag_ids: list[list[int]],
                            windows: list[Window]) -> dict[str, float]:
        scores, _, token_logits = self._word_logits(data.tokens, windows=windows)
        nll, count = 0.0, 0
        for win, logits in zip(windows, token_logits, strict=True):
            for pos, word in win.label_positions.items():
                row = logits[pos] - logits[pos].max()
                nll -= row[tag_ids[win.sentence][word]] - np.log(np.exp(row).sum())
                count += 1
        pred = [self._decode(s)[0] for s in scores]
        m = entity_metrics(data.tags, pred)  # type: ignore[arg-type]
        return {"loss": float(nll / max(count, 1)), "entity_f1": m["entity_f1"],
                "entity_precision": m["entity_precision"], "entity_recall": m["entity_recall"],
                "macro_f1": m["macro_f1"],
                "token_accuracy": m["token_level_including_O"]["accuracy"]}

    # ------------------------------------------------------------------ training
    def fit(
        self,
        train: TokenDataset,
        validation: TokenDataset | None = None,
        config: TrainingConfig | None = None,
    ) -> TokenClassifier:
        """Fine-tune on ``train``; ``validation`` drives early stopping (best epoch kept).

        Methods: ``full`` (all weights), ``lora`` (PEFT adapters on the attention
        query/value + the trained head; merged into the encoder after training, so the saved
        directory stands alone) and ``frozen`` (only the tagging head is trained; learning rate
        ``head_learning_rate`` or 1e-3). ``zero-shot`` is not available for NER.
        Learning rates: with ``learning_rate=None`` ``full`` trains the head at 1e-3
        (``head_learning_rate=None``) and the encoder at 2e-4 when it has at most 6 layers (the
        default MiniLM; NER's own default, measured on wikigold with benchmarks/bench_ner.py),
        else at the text classifier's 5e-5 (2e-4 is too high for a 12- or 24-layer BERT);
        ``batch_size=16`` and more epochs (early stopping keeps the best) help small data sets
        further. The rates used are saved in ``training_config.json`` (``training_config``).
        ``metric_for_best_model``: ``macro_f1`` (default) selects on the entity-level micro
        F1 (``entity_f1``, the NER convention), ``accuracy`` on token accuracy, ``loss`` on
        validation loss. ``head_init`` and ``calibrate`` do not apply: a fresh head starts
        random (drawn from ``seed``) and there is no temperature.

        Args:
            train: tagged sentences (:func:`~domaintune.ner.load_ner_dataset`).
            validation: tagged sentences for early stopping and the validation report.
            config: a :class:`~domaintune.TrainingConfig`; default = full fine-tuning, 3 epochs.

        Returns:
            ``self``, trained.

        Example:
            >>> ner.fit(train, val, TrainingConfig(method="full", epochs=3))  # doctest: +SKIP
        """
        cfg = config or TrainingConfig()
        if not isinstance(cfg, TrainingConfig):
            raise TypeError(f"expected a TrainingConfig, found {type(cfg).__name__}")
        if cfg.method == Method.ZERO_SHOT:
            raise ConfigError("method 'zero-shot' is not available for token classification; "
                              "use method='full', 'lora' or 'frozen' (trains the head only)")
        warn_ignored_levers(cfg, task=Task.TOKEN_CLASSIFICATION, method=cfg.method)
        if not isinstance(train, TokenDataset):
            raise DataError(f"expected a TokenDataset for training, found {type(train).__name__}; "
                            "load it with domaintune.ner.load_ner_dataset")
        y_train = self._tag_ids(train, purpose="training")
        y_val = self._tag_ids(validation, purpose="validation") if validation is not None else None
        set_seed(cfg.seed)
        if self.fresh_head:  # untrained: draw it from the seed (reproducible fits)
            hf = self._hf()
            redraw_linear_head(getattr(hf, HEAD_NAME),
                               std=getattr(hf.config, "initializer_range", 0.02))
        self.device = resolve_device(cfg.device)
        if cfg.ner_word_shapes and not self.word_shapes:
            self.model = ShapeTagger(self.model)
        self.model.to(self.device)
        self.context = cfg.ner_context
        limit = self._position_limit()
        if cfg.max_length > limit:
            logger.warning("max_length=%d exceeds what %s supports; using %d (longer texts are "
                           "split into windows)", cfg.max_length, self.base_model, limit)
        self.max_length = min(cfg.max_length, limit)
        start = time.perf_counter()
        windows = self._encode(train.tokens, train.documents)
        attach_labels(windows, y_train)
        n_split = len(windows) - len(train)
        if n_split:
            logger.info("%s: %d sentences are longer than max_length=%d tokens and were split "
                        "into overlapping windows (%d windows in all); nothing is truncated",
                        train.source, len({w.sentence for w in windows if w.word_start > 0}),
                        self.max_length, len(windows))
        if self.context and train.documents is None:
            logger.warning("ner_context=%d: %s has no -DOCSTART- documents, so sentences are "
                           "read without context", self.context, train.source)
        val_windows = (self._encode(validation.tokens, validation.documents)
                       if validation is not None else None)
        validate = ((lambda: self._validation_metrics(validation, y_val, val_windows))
                    if validation is not None else None)
        trainable = None
        if cfg.method == Method.FROZEN:
            trainable = {n: p.requires_grad for n, p in self.model.named_parameters()}
            for name, param in self.model.named_parameters():
                param.requires_grad = is_head(name)
        # the learning rates actually used (NER's defaults depend on the encoder's depth),
        # recorded in training_config.json instead of null
        cfg = with_learning_rates(self.model, cfg)
        if cfg.method == Method.LORA:
            self._wrap_lora(cfg)
        try:
            self.history = train_windows(
                self.model, windows, cfg, n_tags=len(self.tags),
                pad_id=self.tokenizer.pad_token_id or 0, device=self.device, validate=validate,
                select=_selection(cfg))
        finally:
            if cfg.method == Method.LORA:
                if self.word_shapes:
                    self.model.net = self.model.net.merge_and_unload()
                else:
                    self.model = self.model.merge_and_unload()
                self.model.eval()
            if trainable is not None:
                for name, param in self.model.named_parameters():
                    param.requires_grad = trainable.get(name, True)
        self.method = cfg.method
        self.fresh_head = False
        self.training_config = cfg
        self.metrics = {"train_seconds": round(time.perf_counter() - start, 2),
                        "n_train": len(train), "n_train_tokens": train.n_tokens,
                        "n_train_windows": len(windows),
                        "n_validation": len(validation) if validation is not None else 0,
                        "tags_repaired_in_training_data": len(train.repairs)}
        if validation is not None:
            self.metrics["validation"] = self._validation_metrics(validation, y_val, val_windows)
        logger.info(
            "trained %s (%s) for NER on %d sentences (%d tokens, %d windows), %d entity types, "
            "in %.1fs%s; %d training tags had been repaired on loading",
            self.base_model, cfg.method.value, len(train), train.n_tokens, len(windows),
            len(self.entity_types), self.metrics["train_seconds"],
            f"; validation entity F1 {self.metrics['validation']['entity_f1']:.4f}"
            if validation is not None else "", len(train.repairs))
        return self

    def _wrap_lora(self, cfg: TrainingConfig) -> None:
        from peft import LoraConfig, TaskType, get_peft_model

        names = {name.split(".")[-1] for name, _ in self._hf().named_modules()}
        targets = cfg.lora_target_modules
        if targets is None:
            for pair in (("query", "value"), ("q_lin", "v_lin"), ("q_proj", "v_proj")):
                if set(pair) <= names:
                    targets = list(pair)
                    break
            else:
                raise ConfigError("lora: cannot guess the attention module names of this encoder; "
                                  "set lora_target_modules in the TrainingConfig")
        lora = LoraConfig(task_type=TaskType.TOKEN_CLS, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                          lora_dropout=cfg.lora_dropout, target_modules=targets,
                          modules_to_save=["classifier"])
        if self.word_shapes:
            self.model.net = get_peft_model(self.model.net, lora)
        else:
            self.model = get_peft_model(self.model, lora)

    # ------------------------------------------------------------------ inference
    @staticmethod
    def _check_texts(texts: list[Any]) -> None:
        check_texts(texts, "texts to tag")

    def predict(self, texts: str | Sequence[str], batch_size: int = 64):
        """Entity spans in one text or in each text of a list (same shape back).

        Words are the whitespace-separated pieces of the text (punctuation attached to a
        word stays part of it). Each entity is ``{"type", "text", "start", "end", "score"}``
        with ``text == original[start:end]`` (``end`` exclusive) and ``score`` the mean
        probability of the predicted tags of its words. Predicted tags are made valid BIO
        first (``decoding``: ``argmax`` turns an ``I-X`` that cannot continue an entity into
        ``B-X``; ``viterbi`` picks the best valid sequence). Each text is read alone: a model
        trained with document context (``ner_context``) gets no neighbouring sentences here
        (``evaluate`` on a ``TokenDataset`` with ``documents`` does use them).

        Args:
            texts: one string or a list of strings (any length: long texts are windowed).
            batch_size: windows per forward pass.

        Example:
            >>> ner.predict("Ann flew to Oslo")  # doctest: +SKIP
            [{'type': 'person', 'text': 'Ann', 'start': 0, 'end': 3, 'score': 0.97},
             {'type': 'location', 'text': 'Oslo', 'start': 12, 'end': 16, 'score': 0.95}]
        """
        self._check_fitted()
        batch, single = text_batch(texts, "texts to tag", keep_offsets=True)
        spans, words = split_words(batch)
        scores, _, _ = self._word_logits(words, batch_size)
        out = [entities(text, offs, logits, self.tags, check_decoding(self.decoding))
               for text, offs, logits in zip(batch, spans, scores, strict=True)]
        return out[0] if single else out

    def predict_tags(self, tokens: Sequence[str] | Sequence[Sequence[str]], batch_size: int = 64):
        """BIO tags for pre-tokenized words: one word list, or a list of word lists.

        Example:
            >>> ner.predict_tags(["Ann", "flew", "to", "Oslo"])  # doctest: +SKIP
            ['B-person', 'O', 'O', 'B-location']
        """
        self._check_fitted()
        sentences, single = word_lists(tokens)
        scores, _, _ = self._word_logits(sentences, batch_size)
        out = [self._decode(s)[0] for s in scores]
        return out[0] if single else out

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data: TokenDataset, output_dir: str | Path | None = None,
                 batch_size: int = 64) -> dict[str, Any]:
        """Entity-level precision/recall/F1 (seqeval, IOB2 strict) and a token-level report.

        Args:
            data: tagged sentences.
            output_dir: also write ``metrics.json`` there.
            batch_size: windows per forward pass.

        Returns:
            ``entity_f1`` (micro), ``entity_precision``, ``entity_recall``, ``macro_f1`` (mean
            over entity types), ``per_type`` (precision, recall, f1, support, predicted),
            entity counts, ``mode``/``scheme``, and ``token_level_including_O`` (word
            accuracy and per-tag scores counting O words; not comparable to entity scores).

        Example:
            >>> ner.evaluate(test)["entity_f1"]  # doctest: +SKIP
        """
        self._check_fitted()
        self._tag_ids(data, purpose="evaluation")
        scores, _, _ = self._word_logits(data.tokens, batch_size,
                                         windows=self._encode(data.tokens, data.documents))
        pred = [self._decode(s)[0] for s in scores]
        metrics = entity_metrics(data.tags, pred)  # type: ignore[arg-type]
        if output_dir is not None:
            out = Path(output_dir)
            out.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out / "metrics.json", metrics)
        return metrics

    # ------------------------------------------------------------------ export
    def export_onnx(self, directory: str | Path, *, quantize: bool = False,
                    overwrite: bool = False, validation: TokenDataset | None = None,
                    max_int8_drop: float | None = None) -> Path:
        """Export the tagger (encoder and tagging head) to ONNX for fast CPU serving.

        Load the export with :class:`domaintune.export.OnnxNerModel` (or ``domaintune.load``):
        same ``predict`` / ``predict_tags``, same entities (texts are split into words,
        windowed and decoded by the same code, :mod:`domaintune.ner.decoding`). The graph
        returns per-token logits ``(batch, sequence, tags)``; an fp32 export is checked to
        reproduce this model's logits on the real (unpadded) tokens of probe texts.

        With ``quantize`` (int8 weights) the manifest's ``int8_check`` records the per-token
        top-1 agreement of int8 with fp32, on ``validation`` sentences when given (plus
        entity-level F1, seqeval IOB2 strict, fp32 vs int8), else on the probe texts (a saved
        tagger keeps no validation sentences, so entity F1 is recorded as not measured).

        Args:
            directory: a new or empty directory (or an earlier export, with ``overwrite``).
            quantize: int8 dynamic quantization of the linear layers' weights.
            overwrite: replace an earlier ONNX export at ``directory``.
            validation: tagged sentences for the int8 check.
            max_int8_drop: refuse (nothing written) an int8 export that loses more entity-F1
                points than this on ``validation`` (``None``: record, refuse nothing).

        Raises:
            Int8AccuracyError: the int8 export loses more than ``max_int8_drop`` F1 points.

        Example:
            >>> ner.export_onnx("models/ner-onnx")  # doctest: +SKIP
        """
        from ..export import (
            INPUT_NAMES,
            PROBE_TEXTS,
            Int8AccuracyError,
            OnnxNerModel,
            export_module,
        )

        self._check_fitted()
        if validation is not None:
            if not isinstance(validation, TokenDataset):
                raise DataError(f"expected a TokenDataset as validation, found "
                                f"{type(validation).__name__}; load it with load_ner_dataset")
            self._tag_ids(validation, purpose="the int8 check's")
            if not len(validation):
                raise DataError(f"{validation.source}: the validation data for the int8 check "
                                "has no sentences")
        sentences = list(validation.tokens) if validation is not None else split_words(PROBE_TEXTS)[1]
        pad_id = self.tokenizer.pad_token_id or 0
        names = INPUT_NAMES + ((SHAPE_INPUT,) if self.word_shapes else ())

        def check(run_fp32, run_int8) -> dict[str, Any]:
            windows = self._encode(sentences, validation.documents if validation is not None else None)
            fp32 = run_windows(windows, run_fp32, pad_id=pad_id, names=names)
            int8 = run_windows(windows, run_int8, pad_id=pad_id, names=names)
            same = np.concatenate([a.argmax(-1) == b.argmax(-1) for a, b in zip(fp32, int8, strict=True)])
            result: dict[str, Any] = {
                "n_texts": len(sentences),
                "measured_on": "validation sentences" if validation is not None else "probe texts",
                "n_tokens": int(same.size), "token_top1_agreement": float(same.mean()),
                "entity_f1_fp32": None, "entity_f1_int8": None, "entity_f1_drop_points": None,
                "max_drop_points": max_int8_drop, "acceptable": None}
            if validation is None:
                result["entity_f1_skipped"] = (
                    "a saved NER model keeps no validation sentences; pass validation=... "
                    "(tagged sentences) to measure entity F1")
                return result
            n_words = [len(s) for s in sentences]
            f1 = []
            for logits in (fp32, int8):
                scores = word_scores(windows, logits, n_words, len(self.tags))
                pred = [self._decode(s)[0] for s in scores]
                f1.append(entity_metrics(validation.tags, pred)["entity_f1"])  # type: ignore[arg-type]
            drop = round((f1[0] - f1[1]) * 100, 4)
            result.update(entity_f1_fp32=f1[0], entity_f1_int8=f1[1], entity_f1_drop_points=drop)
            if max_int8_drop is not None:
                result["acceptable"] = bool(drop <= max_int8_drop)
                if not result["acceptable"]:
                    raise Int8AccuracyError(
                        f"the int8 export loses {drop:.2f} entity-F1 points on the "
                        f"{len(sentences)} validation sentences (fp32 {f1[0]:.3f} -> int8 "
                        f"{f1[1]:.3f}, per-token top-1 agreement {same.mean():.1%}), more than "
                        f"the {max_int8_drop:g} allowed; nothing was written to {directory}. "
                        "Export in fp32 (without int8 quantization), or raise max_int8_drop")
            return result

        special = set(self.tokenizer.all_special_ids)

        def probe_shapes(enc) -> dict[str, torch.Tensor]:
            # the parity check's shape ids: each probe sub-token's own shape (the graph is
            # checked on the same ids in PyTorch and ONNX; serving computes them per word)
            rows = []
            for ids in enc["input_ids"].tolist():
                toks = self.tokenizer.convert_ids_to_tokens(ids)
                rows.append([0 if i in special else token_shapes([t.lstrip("#") or t], [0])[0]
                             for i, t in zip(ids, toks, strict=True)])
            return {SHAPE_INPUT: torch.tensor(rows, dtype=torch.long)}

        return export_module(
            self.model, lambda m, inputs: m(**inputs).logits, self.tokenizer, directory,
            max_length=self.max_length, kind=OnnxNerModel.KIND, quantize=quantize,
            overwrite=overwrite, int8_check=check,
            extra_inputs=probe_shapes if self.word_shapes else None,
            info={"tags": self.tags, "entity_types": self.entity_types,
                  "base_model": self.base_model, "stride": self._resolved_stride(),
                  "method": self.method.value if self.method else None,  # type: ignore[union-attr]
                  "scheme": SCHEME, "decoding": self.decoding,
                  "word_shapes": list(SHAPES) if self.word_shapes else None,
                  "context": self.context})

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model directory atomically (temp dir, then rename) and return its path.

        Contents: ``domaintune.json`` (``"task": "token-classification"``, tags, method,
        max_length, stride, versions, the file list and the SHA-256 of the weights),
        ``config.json`` + ``model.safetensors`` (the encoder and tagging head; LoRA adapters
        already merged), tokenizer files, ``training_config.json``, ``metrics.json`` (with the
        per-epoch history) and a model card ``README.md``. No pickles.

        Args:
            path: a new or empty directory.
            overwrite: replace an earlier domaintune directory at ``path`` (a directory holding
                anything else is never replaced).

        Example:
            >>> ner.save("models/ner")  # doctest: +SKIP
        """
        self._check_fitted()
        path = Path(path)
        with write_artifact(path, task=TASK, overwrite=overwrite) as art:
            tmp = art.dir
            self._hf().save_pretrained(str(tmp))
            self.tokenizer.save_pretrained(str(tmp))
            if self.word_shapes:
                from safetensors.torch import save_file

                weight = self.model.shape_embedding.weight.detach().cpu().contiguous()
                save_file({"weight": weight}, str(tmp / SHAPES_FILE))
            art.meta.update({
                "method": self.method.value,  # type: ignore[union-attr]
                "tags": self.tags,
                "entity_types": self.entity_types,
                "scheme": SCHEME,
                "eval_mode": MODE,
                "base_model": self.base_model,
                "max_length": self.max_length,
                "stride": self.stride,
                "decoding": self.decoding,
                "word_shapes": ({"file": SHAPES_FILE, "classes": list(SHAPES)}
                                if self.word_shapes else None),
                "context": self.context,
                "lora_merged": self.method == Method.LORA,
                "torch_version": torch.__version__,
            })
            if self.training_config is not None:
                write_json_atomic(tmp / "training_config.json", self.training_config.to_dict())
            write_json_atomic(tmp / "metrics.json", {**self.metrics, "history": self.history})
            (tmp / "README.md").write_text(self._model_card(), encoding="utf-8")
        return path

    def _model_card(self) -> str:
        val = self.metrics.get("validation", {})
        lines = [
            f"# {self.base_model} fine-tuned for NER with domaintune ({self.method.value if self.method else '?'})",
            "",
            f"- task: token classification (BIO / IOB2), {len(self.entity_types)} entity types: "
            f"{', '.join(self.entity_types[:30])}",
            f"- base model: `{self.base_model}`; max_length {self.max_length} tokens per window "
            f"(longer texts are split into overlapping windows, stride {self._resolved_stride()})",
            f"- decoding: {self.decoding}; word-shape features: "
            f"{'yes' if self.word_shapes else 'no'}; document context: "
            f"{self.context} sub-tokens each side" + (" (evaluate only; predict reads each text "
                                                      "alone)" if self.context else ""),
            f"- training sentences: {self.metrics.get('n_train', 0)}, validation sentences: "
            f"{self.metrics.get('n_validation', 0)}, training time: {self.metrics.get('train_seconds', 0)} s",
        ]
        if val:
            lines.append(f"- validation entity-level F1 (seqeval, IOB2 strict) {val['entity_f1']:.4f}, "
                         f"precision {val['entity_precision']:.4f}, recall {val['entity_recall']:.4f}")
        lines += [
            "",
            "## Use",
            "",
            "```python",
            "from domaintune.ner import TokenClassifier",
            "ner = TokenClassifier.load('path/to/this/folder')",
            "ner.predict('some text')  # [{'type', 'text', 'start', 'end', 'score'}, ...]",
            "```",
            "",
            "Limits: evaluated only on the data named above; words are whitespace-separated, so "
            "punctuation attached to an entity word is part of its span.",
            "",
        ]
        return "\n".join(lines)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> TokenClassifier:
        """Load a directory written by :meth:`save` (safetensors only, no pickles).

        Raises:
            ModelLoadError: the directory is missing, incomplete, corrupted, written by a newer
                domaintune, or holds another task's model.

        Example:
            >>> ner = TokenClassifier.load("models/ner")  # doctest: +SKIP
        """
        path = Path(path)
        meta = read_artifact(path, task=TASK, default_task="text-classification",
                             loader="TokenClassifier.save or `domaintune train`")
        meta_file = path / META_FILE
        try:
            method = Method(meta.get("method"))
        except ValueError:
            raise ModelLoadError(f"{meta_file} is corrupted ('method' is {meta.get('method')!r}, "
                                 f"expected one of {[m.value for m in Method]}); re-save or "
                                 "retrain the model") from None
        missing = [n for n in ("config.json", "model.safetensors") if not (path / n).is_file()]
        if not any((path / n).is_file() for n in _TOKENIZER_FILES):
            missing.append("tokenizer files (tokenizer.json or vocab)")
        if missing:
            raise ModelLoadError(f"{path} is incomplete: missing {missing}; re-save or retrain the model")
        config = read_json_file(path / "config.json")
        id2label = config.get("id2label") if isinstance(config, dict) else None
        stored = ([id2label[str(i)] for i in range(len(id2label))]
                  if isinstance(id2label, dict) and all(str(i) in id2label for i in range(len(id2label)))
                  else None)
        tags = check_labels(meta.get("tags"), meta_file, key="tags",
                            n_outputs=len(stored) if stored is not None else None,
                            stored=stored, stored_in="config.json (id2label)")
        bad = [t for t in tags if t != "O" and not re.fullmatch(r"[BI]-.+", t)]
        if bad or "O" not in tags:
            raise ModelLoadError(f"{meta_file} is corrupted ('tags' must be BIO tags including "
                                 f"'O', found {bad or tags}); re-save or retrain the model")
        tokenizer = _load_tokenizer(path)
        net, _ = _load_model(path, None, saved=True)
        if net.config.num_labels != len(tags):
            raise ModelLoadError(f"{path}: the weights have {net.config.num_labels} outputs but "
                                 f"{META_FILE} lists {len(tags)} tags; re-save or retrain the model")
        shapes = meta.get("word_shapes")
        if shapes:  # models saved before word shapes existed have none (or null)
            net = _load_shapes(net, path, shapes, meta_file)
        ner = cls(net, tokenizer, tags, base_model=meta.get("base_model", "default"),
                  max_length=int(meta.get("max_length", 128)), stride=meta.get("stride"),
                  device=device, decoding=_stored_decoding(meta, meta_file))
        ner.method = method
        ner.context = stored_context(meta.get("context", 0), meta_file,
                                     "re-save or retrain the model")
        ner.training_config = restore_config(TrainingConfig, path / "training_config.json")
        restore_metrics(ner, path / "metrics.json")
        return ner

    def __repr__(self) -> str:
        return (f"TokenClassifier(base_model={self.base_model!r}, method="
                f"{self.method.value if self.method else None!r}, entity_types={self.entity_types})")

"""Configuration dataclasses, validated where they enter (Python, YAML or the command line).

Unknown keys that a person writes are errors with the closest valid key suggested; unknown keys
found while loading a saved model are warnings (``from_dict(..., unknown="warn")``: a newer
version wrote them). Values are type-checked; string options are Enums; training settings are
one nested ``training:`` section; relative paths in a YAML file are relative to that file.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ._version import __version__
from .errors import ConfigError, closest

logger = logging.getLogger(__name__)

Unknown = Literal["error", "warn"]


class Method(str, enum.Enum):
    """How the encoder is adapted."""

    FULL = "full"  # fine-tune every weight
    LORA = "lora"  # low-rank adapters (peft) + a trained head
    FROZEN = "frozen"  # frozen encoder embeddings + logistic-regression head (fast, few-shot)
    ZERO_SHOT = "zero-shot"  # label names/descriptions embedded as the head; no training


class Task(str, enum.Enum):
    TEXT_CLASSIFICATION = "text-classification"
    TOKEN_CLASSIFICATION = "token-classification"  # NER: domaintune.ner.TokenClassifier


class TagScheme(str, enum.Enum):
    """Tagging scheme of token-classification input; converted to IOB2 (= BIO) on loading."""

    IOB2 = "IOB2"  # = BIO: every entity starts with B-
    IOB1 = "IOB1"  # I- starts an entity; B- only between adjacent entities of one type


class Repair(str, enum.Enum):
    """What to do with an ``I-X`` that cannot continue an entity (invalid IOB2)."""

    WARN = "warn"  # convert it to B-X, log a warning naming file + line, count it
    ERROR = "error"  # raise DataError naming file, line and tag


class ClassWeights(str, enum.Enum):
    NONE = "none"
    BALANCED = "balanced"  # n_samples / (n_classes * count), as scikit-learn computes it


class ReplayBalance(str, enum.Enum):
    """How a continual-learning update draws its training examples each epoch."""

    NONE = "none"  # every new and replayed example once per epoch
    CLASS = "class"  # every label the same number of examples per epoch (see TrainingConfig)


class Metric(str, enum.Enum):
    MACRO_F1 = "macro_f1"
    ENTITY_F1 = "entity_f1"  # token classification: entity-level micro F1
    ACCURACY = "accuracy"
    LOSS = "loss"


class Runtime(str, enum.Enum):
    """How a trained model is served: ``onnx`` (ONNX Runtime, see domaintune.export), ``torch``,
    or ``auto`` (ONNX Runtime on a CPU when onnxruntime is installed, PyTorch otherwise)."""

    AUTO = "auto"
    TORCH = "torch"
    ONNX = "onnx"


class HeadInit(str, enum.Enum):
    LINEAR_PROBE = "linear_probe"  # fit a logistic-regression head first, then fine-tune (LP-FT)
    RANDOM = "random"


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _describe(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"one of {[m.value for m in hint]}"
    if isinstance(hint, type) and issubclass(hint, ConfigBase):
        return "a mapping"
    if hint in _TYPE_WORDS:
        return _TYPE_WORDS[hint]
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return str(hint)


def coerce(where: str, value: Any, hint: Any) -> Any:
    """Check / convert ``value`` to the annotated type ``hint``, or raise one ConfigError that
    starts with ``where`` (e.g. ``"TrainingConfig key 'epochs'"`` or ``"oos.label"``).

    Handles ``bool``/``int``/``float``/``str`` (no silent casts between them, except a whole
    float to an int and a ``Path`` to a string), Enums (by value, with the closest value
    suggested), ``X | None``, ``list[X]``, ``dict[K, V]`` and nested :class:`ConfigBase`
    sections (built from mappings).
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        if value is None and nullable:
            return None
        if len(args) == 1:  # X | None
            try:
                return coerce(where, value, args[0])
            except ConfigError:
                if args[0] in _TYPE_WORDS:
                    raise ConfigError(f"{where} expects {_describe(args[0])}"
                                      f"{' or null' if nullable else ''}, found {value!r}") from None
                raise  # enums and sections explain themselves (closest value, unknown key)
        for arg in args:
            try:
                return coerce(where, value, arg)
            except ConfigError:
                continue
        wanted = " or ".join(_describe(a) for a in args)
        raise ConfigError(f"{where} expects {wanted}{' or null' if nullable else ''}, "
                          f"found {value!r}")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        valid = [m.value for m in hint]
        if isinstance(value, str) and value in valid:
            return hint(value)
        raise ConfigError(f"{where} expects one of {valid}, found {value!r}"
                          f"{closest(str(value), valid)}")
    if isinstance(hint, type) and issubclass(hint, ConfigBase):
        return value if isinstance(value, hint) else hint.from_dict(value, where=where)
    if origin in (list, tuple):
        (item, *_) = typing.get_args(hint) or (Any,)
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} expects a list, found {value!r}")
        return [coerce(f"{where}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict:
        key_t, val_t = typing.get_args(hint) or (str, Any)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} expects a mapping, found {value!r}")
        return {coerce(f"{where} key", k, key_t): coerce(f"{where}.{k}", v, val_t)
                for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, (str, Path)):
            return str(value)
    else:  # pragma: no cover - only the types above are used
        return value
    raise ConfigError(f"{where} expects {_describe(hint)}, found {value!r}")


def _plain(value: Any) -> Any:
    """JSON/YAML-ready form: sections as dicts, Enums as their values."""
    if isinstance(value, ConfigBase):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML config file (an empty file is ``{}``), or one clear
    ConfigError for a missing file, invalid YAML or a top level that is not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; check the path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value at the top, found "
                          f"{type(data).__name__}")
    return data


def resolve_relative_paths(data: dict[str, Any], base: str | Path,
                           keys: Sequence[tuple[str, str]], *, always: Sequence[str] = ()) -> None:
    """Make the relative file paths of an app config's YAML relative to the YAML's folder.

    ``keys`` are ``(section, key)`` pairs; a relative value is resolved against ``base`` when
    that file exists there, or always for the keys named in ``always`` (outputs that do not
    exist yet). ``data`` is changed in place.
    """
    base = Path(base)
    for section, key in keys:
        node = data.get(section)
        value = node.get(key) if isinstance(node, dict) else None
        if (isinstance(value, str) and value and not Path(value).is_absolute()
                and (key in always or (base / value).exists())):
            data[section] = {**node, key: str((base / value).resolve())}


_FLOAT_WITHOUT_DOT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set`` items to a config mapping: ``key=value`` or ``section.key=value``
    (values parsed as YAML: ``3`` -> int, ``true`` -> bool, ``[a, b]`` -> list).

    Example:
        >>> apply_overrides({"training": {"epochs": 3}}, ["training.epochs=1", "name=x"])
        {'training': {'epochs': 1}, 'name': 'x'}
    """
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, found {item!r}; e.g. --set "
                              "training.epochs=2")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str) and _FLOAT_WITHOUT_DOT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 as a string; on the command line it is a number
        *sections, last = [part.strip() for part in key.strip().split(".")]
        node = out
        for depth, part in enumerate(sections):
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, Mapping):
                raise ConfigError(f"--set {key.strip()}: {'.'.join(sections[:depth + 1])!r} is "
                                  f"not a section (it holds {child!r})")
            node[part] = dict(child)
            node = node[part]
        node[last] = value
    return out


def resolve_paths(data: dict[str, Any], keys: Sequence[str], base: str | Path, *,
                  source: str | Path | None = None) -> dict[str, Any]:
    """Make the relative paths under ``keys`` absolute, relative to ``base`` (the folder of the
    config file that holds them).

    Configs written before paths were read relative to their file (their paths relative to the
    current directory) keep working: when a relative input path is found only relative to the
    current directory, every path of that config is read relative to the current directory as
    before, with a warning saying how to update the config. ``keys`` ending in ``_dir`` are
    outputs (they need not exist).
    """
    base = Path(base).resolve()
    cwd = Path.cwd().resolve()
    relative = {k: data[k] for k in keys
                if isinstance(data.get(k), str) and data[k] and not Path(data[k]).is_absolute()}
    inputs = [k for k in relative if not k.endswith("_dir")]
    only_cwd = [k for k in inputs
                if not (base / relative[k]).exists() and (cwd / relative[k]).exists()]
    only_base = [k for k in inputs
                 if (base / relative[k]).exists() and not (cwd / relative[k]).exists()]
    root = base
    if base != cwd and only_cwd and not only_base:
        root = cwd
        key = only_cwd[0]
        logger.warning(
            "%s: %s %r is not found relative to the config file's folder (%s) but is relative "
            "to the current directory, so this config's paths are read relative to the current "
            "directory, as before domaintune 0.2; write them relative to %s (%s: %s) to keep "
            "the config working from any directory", source or "config", key, relative[key],
            base, base, key, os.path.relpath(cwd / relative[key], base))
    return {**data, **{k: str((root / v).resolve()) for k, v in relative.items()}}


class ConfigBase:
    """Base of every config dataclass (core and apps): strict types, unknown keys rejected with
    the closest valid key suggested, range checks, nested sections, ``to_dict`` / ``from_dict``.

    Errors name the key as ``<Class> key 'name'``, or as ``<section>.name`` when the class sets
    ``_where = "<section>"`` (an app config's sections: ``oos.label``).
    """

    _where: typing.ClassVar[str | None] = None

    @classmethod
    def _key_where(cls, key: str) -> str:
        return f"{cls._where}.{key}" if cls._where else f"{cls.__name__} key {key!r}"

    def _validate_types(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = coerce(self._key_where(f.name), getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)

    def check_ranges(self, checks: list[tuple[str, bool, str]]) -> None:
        """Raise a ConfigError for the first ``(key, ok, expected)`` whose ``ok`` is False."""
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{self._key_where(key)} expects {expected}, found "
                                  f"{getattr(self, key)!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (nested sections as dicts, Enums as values)."""
        return {f.name: _plain(getattr(self, f.name))
                for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def keys(cls) -> list[str]:
        """The valid keys."""
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Any, where: str | None = None, *, unknown: Unknown = "error"):
        """Build from a mapping (``None`` = defaults).

        Args:
            data: the keys and values (nested sections as mappings).
            where: how errors name this mapping (default: the class's section or name).
            unknown: ``"error"`` (what a person wrote: a ConfigError with the closest valid key
                suggested) or ``"warn"`` (a config saved beside a model, perhaps by a newer
                version: keys this version does not know are dropped with a warning naming
                them, here and in nested sections).

        Example:
            >>> TrainingConfig.from_dict({"epochs": 1, "new_key": 2}, unknown="warn").epochs
            1.0
        """
        where = where or cls._where
        if unknown not in ("error", "warn"):
            raise ValueError(f"unknown= expects 'error' or 'warn', found {unknown!r}")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where or cls.__name__} expects a mapping of keys to values, "
                              f"found {data!r}")
        valid = cls.keys()
        extra = [k for k in data if k not in valid]
        if unknown == "warn":
            if extra:
                logger.warning("%s: ignoring key%s %s that this domaintune (%s) does not know "
                               "(saved by a newer version?)", where or cls.__name__,
                               "s" if len(extra) > 1 else "", [str(k) for k in extra],
                               __version__)
            data = {k: v for k, v in data.items() if k in valid}
            hints = typing.get_type_hints(cls)
            for key, value in list(data.items()):  # nested sections read the same way
                hint = hints.get(key)
                if (isinstance(hint, type) and issubclass(hint, ConfigBase)
                        and isinstance(value, Mapping)):
                    data[key] = hint.from_dict(value, where=cls._key_where(key), unknown="warn")
        elif extra:
            key = str(extra[0])
            place = f"key {key!r} in {where}" if where else f"{cls.__name__} key {key!r}"
            raise ConfigError(f"unknown {place}{closest(key, valid)} "
                              f"(valid keys: {', '.join(valid)})")
        try:
            return cls(**data)
        except ConfigError as exc:
            own, text = cls._where, str(exc)
            if (own and where and where != own and text.startswith(own)
                    and text[len(own):len(own) + 1] in (".", ":")):
                # a section inside a mapping (dialogue.slots.<name>): name the entry
                raise ConfigError(f"{where}{text[len(own):]}") from None
            raise


@dataclass
class BaseTrainingConfig(ConfigBase):
    """The settings every training loop of the core shares, declared once: the base of
    :class:`TrainingConfig` (classifiers, NER) and
    :class:`~domaintune.pairs.PairTrainingConfig` (bi- and cross-encoders), which add their own
    keys and may change a default (``epochs``).

    Args:
        epochs: passes over the training data.
        max_steps: stop after this many optimizer steps (overrides ``epochs``); ``None`` = off.
        batch_size: examples per step.
        weight_decay: AdamW weight decay.
        warmup_ratio: fraction of steps with a linear learning-rate warm-up.
        seed: seed for Python, NumPy and torch.
        device: ``auto`` (CUDA > MPS > CPU), ``cpu``, ``cuda``, ``cuda:1`` ...
        progress: show progress bars.
    """

    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 42
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        self._validate_types()
        self.check_ranges(self.shared_checks())

    def shared_checks(self) -> list[tuple[str, bool, str]]:
        """The range checks of the shared keys (subclasses add theirs)."""
        return [
            ("epochs", self.epochs > 0, "a positive number"),
            ("max_steps", self.max_steps is None or self.max_steps > 0, "a positive integer or null"),
            ("batch_size", self.batch_size > 0, "a positive integer"),
            ("weight_decay", self.weight_decay >= 0, "a number >= 0"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "a number in [0, 1)"),
        ]


@dataclass
class TrainingConfig(BaseTrainingConfig):
    """How to train a model. Validated on construction.

    One config serves every task and method; a lever set where the run ignores it (e.g.
    ``rdrop_alpha`` with ``frozen``, ``ner_*`` for text classification, ``distill_*`` or
    ``replay_balance`` outside a continual update) logs one warning saying why and what to do
    (:mod:`domaintune.levers`) when training starts.

    Args:
        method: ``full``, ``lora``, ``frozen`` or ``zero-shot``.
        epochs: passes over the training data (``full``/``lora``).
        max_steps: stop after this many optimizer steps (overrides ``epochs``); ``None`` = off.
        batch_size: examples per forward pass.
        gradient_accumulation_steps: forward passes per optimizer step.
        learning_rate: encoder learning rate; ``None`` picks 5e-5 (full) or 1e-3 (lora); NER
            ``full`` picks 2e-4 for an encoder of at most 6 layers (head 1e-3).
        head_learning_rate: learning rate of the classification head; ``None`` = same.
        weight_decay: AdamW weight decay.
        warmup_ratio: fraction of steps with a linear learning-rate warm-up.
        max_length: tokens per text; longer texts are truncated (counted in the log).
        group_by_length: batch texts of similar length together (less padding, faster).
        seed: seed for Python, NumPy and torch.
        class_weights: ``none`` or ``balanced`` loss weights for imbalanced data.
        early_stopping_patience: stop after this many epochs without improvement of
            ``metric_for_best_model`` on validation data; the best epoch is kept. ``None`` = off.
        metric_for_best_model: ``macro_f1``, ``accuracy`` or ``loss``.
        head_init: ``linear_probe`` (fit a logistic-regression head on frozen embeddings
            first, then fine-tune: LP-FT) or ``random``.
        head_c: inverse L2 strength of the logistic-regression head (``frozen`` and LP-FT).
        contrastive_epochs: passes of SetFit-style contrastive tuning of the encoder on
            same-label pairs before the head is fitted (0 = off); helps few-shot data.
        contrastive_learning_rate: learning rate of that stage.
        label_smoothing: cross-entropy label smoothing.
        lora_r, lora_alpha, lora_dropout: LoRA rank, scaling and dropout.
        lora_target_modules: module names that get adapters; ``None`` = attention query/value.
        calibrate: fit a temperature on validation data after training.
        replay_per_class: training examples per label kept in the model directory
            (``replay.jsonl``) for later updates without forgetting; 0 = none.
        distill_weight: continual updates only (:func:`domaintune.continual.update`):
            weight λ of the learning-without-forgetting term, ``λ·T²·KL(old ‖ new)`` between
            the softened old-label logits of the model *before* the update (computed once per
            training example, before training) and the current model's logits on those labels,
            for replayed and new examples alike; 0 = off. ``None`` (the default) = auto: 1.0 in
            a ``full`` update, off for ``lora`` (not measured) and ``frozen`` (no gradient
            steps) and in a first fit (issue 13: with ``replay_balance`` auto it lowered the
            BANKING77 60 → 77 drop on every paired update seed; see benchmarks/RESULTS.md).
        distill_temperature: the temperature T of that term (> 0; 2 is the LwF paper's).
        replay_balance: continual updates only: ``none`` (each new and replayed example once
            per epoch) or ``class``: each epoch draws the same number of examples from every
            label (the mean per-label count of the update's data, so the epoch keeps its
            size): labels with fewer examples (old labels with their replay buffer) are
            repeated, labels with more (new labels with all their data) are subsampled, a
            fresh draw each epoch. ``None`` (the default) = auto: ``class`` in a ``full``
            update, ``none`` otherwise.
        rdrop_alpha: R-Drop (full/LoRA fine-tuning, single-label): each batch is passed twice
            with different dropout masks, loss = mean cross-entropy of both + α · the
            symmetric KL between their predictions / 2; 0 = off. Doubles the training cost.
        average_checkpoints: average the weights at the end of the last k epochs (k ≥ 2;
            0 = off). With validation data the average replaces the best epoch only if its
            validation score is at least as good (the log says which was kept).
        device: ``auto`` (CUDA > MPS > CPU), ``cpu``, ``cuda``, ``cuda:1`` ...
        progress: show tqdm progress bars.
        layer_decay: layer-wise learning-rate decay (``full``): the top encoder layer trains at
            ``learning_rate``, each layer below at ``layer_decay`` times the one above, the
            embeddings at the lowest rate (for encoders whose parameter names carry
            ``layer.<i>.`` / ``embeddings``); ``None`` = off (one rate for the encoder). For
            NER (issue 13, wikigold, 4 seeds) 0.8 gave +2.1 dev but only +0.6 test entity F1,
            within the run-to-run noise, so it stays off.
        ner_word_shapes: token classification: add a learned word-shape embedding (lower,
            Title, UPPER, mixed, digits, has-digit, punctuation, other; zero-initialised) to the
            encoder's input embeddings, giving an uncased encoder the case it cannot see.
            On by default (issue 13: +5.3 test entity F1 on wikigold, +1.1 on SEC filings with
            the default uncased backbone); ``False`` trains a plain tagger.
        ner_context: token classification: sub-tokens of the neighbouring sentences of the
            same document (CoNLL ``-DOCSTART-`` documents) fed as left and right context of each
            sentence (FLERT; only the centre sentence is labelled and scored); 0 = off. Used by
            training and ``evaluate``; ``predict`` on raw texts has no neighbours.
    """

    # shared with PairTrainingConfig (BaseTrainingConfig): epochs, max_steps, batch_size,
    # weight_decay, warmup_ratio, seed, device, progress
    method: Method = Method.FULL
    gradient_accumulation_steps: int = 1
    learning_rate: float | None = None
    head_learning_rate: float | None = None
    max_length: int = 128
    group_by_length: bool = True
    class_weights: ClassWeights = ClassWeights.NONE
    early_stopping_patience: int | None = 2
    metric_for_best_model: Metric = Metric.MACRO_F1
    head_init: HeadInit = HeadInit.LINEAR_PROBE
    head_c: float = 10.0
    contrastive_epochs: float = 0.0
    contrastive_learning_rate: float = 2e-5
    label_smoothing: float = 0.0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_target_modules: list[str] | None = None
    calibrate: bool = True
    replay_per_class: int = 50
    # --- NER accuracy levers (issue 13, H1): layer-wise LR decay (any encoder), NER features
    layer_decay: float | None = None
    ner_word_shapes: bool = True
    ner_context: int = 0
    # --- continual-learning levers (issue 13: LwF distillation, class-balanced replay)
    distill_weight: float | None = None  # None = auto: 1.0 in a `full` update, else off
    distill_temperature: float = 2.0
    replay_balance: ReplayBalance | None = None  # None = auto: class in a `full` update
    # --- fine-tuning regularisers (issue 13: R-Drop, checkpoint averaging)
    rdrop_alpha: float = 0.0
    average_checkpoints: int = 0

    def __post_init__(self) -> None:
        self._validate_types()
        checks = self.shared_checks() + [
            ("layer_decay", self.layer_decay is None or 0 < self.layer_decay <= 1, "a number in (0, 1] or null"),
            ("ner_context", 0 <= self.ner_context <= 4096, "an integer in [0, 4096] (sub-tokens each side)"),
            ("gradient_accumulation_steps", self.gradient_accumulation_steps > 0, "a positive integer"),
            ("learning_rate", self.learning_rate is None or self.learning_rate > 0, "a positive number"),
            ("head_learning_rate", self.head_learning_rate is None or self.head_learning_rate > 0, "a positive number"),
            ("max_length", 8 <= self.max_length <= 8192, "an integer in [8, 8192]"),
            ("early_stopping_patience", self.early_stopping_patience is None or self.early_stopping_patience > 0, "a positive integer or null"),
            ("head_c", self.head_c > 0, "a positive number"),
            ("contrastive_epochs", self.contrastive_epochs >= 0, "a number >= 0"),
            ("contrastive_learning_rate", self.contrastive_learning_rate > 0, "a positive number"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "a number in [0, 1)"),
            ("lora_r", self.lora_r > 0, "a positive integer"),
            ("replay_per_class", self.replay_per_class >= 0, "an integer >= 0"),
            ("lora_alpha", self.lora_alpha > 0, "a positive integer"),
            ("lora_dropout", 0 <= self.lora_dropout < 1, "a number in [0, 1)"),
            ("distill_weight", self.distill_weight is None or self.distill_weight >= 0,
             "a number >= 0 (0 = off) or null (auto)"),
            ("distill_temperature", self.distill_temperature > 0, "a positive number"),
            ("rdrop_alpha", self.rdrop_alpha >= 0, "a number >= 0 (0 = off)"),
            ("average_checkpoints", self.average_checkpoints == 0 or self.average_checkpoints >= 2,
             "0 (off) or an integer >= 2"),
        ]
        self.check_ranges(checks)

    @property
    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-3 if self.method == Method.LORA else 5e-5


@dataclass
class RunConfig(ConfigBase):
    """What ``domaintune train`` does: data, model, output, and a nested ``training:`` section.

    The YAML form::

        task: text-classification
        model: default
        train_file: data/support/intents.csv     # relative to this file's folder
        output_dir: models/intents
        training:                                # any TrainingConfig key
          method: full
          epochs: 3

    Training keys written at the top level (the form before ``training:``: ``epochs: 3``) still
    work; in a YAML file they log a warning saying to move them under ``training:``; ``--set
    epochs=2`` and ``--set training.epochs=2`` are the same override. Setting one key both ways
    in a file is an error. Relative ``train_file``, ``eval_file``, ``test_file``,
    ``output_dir`` (and ``model`` when it names a local directory there) are relative to the
    YAML file's folder; ``--set`` paths are relative to the current directory.

    Args:
        task: ``text-classification`` or ``token-classification`` (NER: ``train_file`` etc. are
            CoNLL ``token<TAB>tag`` files or JSONL character spans; ``labels`` = entity types).
        model: ``default`` (packaged all-MiniLM-L6-v2), a local directory or a hub id.
        train_file: training data (CSV/TSV/JSONL/JSON/Parquet).
        eval_file: validation data; if absent, ``validation_split`` of the training data is used.
        validation_split: fraction of ``train_file`` held out when ``eval_file`` is not given
            (0 = no validation data: no early stopping or calibration).
        stratify: keep the label proportions in that split (``false``: a random split, e.g.
            when a class has a single example).
        test_file: optional held-out test data evaluated after training.
        text_column, label_column: column mapping.
        multi_label: rows carry several labels joined by ``label_separator``.
        label_separator: separator of several labels in one cell.
        encoding: text encoding of the data files.
        output_dir: where the model directory and ``metrics.json`` go.
        labels: label names (and their order); default = those found in the training data.
        tag_scheme: token classification: ``IOB2`` (= BIO) or ``IOB1`` input files.
        repair: token classification: ``warn`` (an ``I-X`` that cannot continue an entity
            becomes ``B-X``, logged) or ``error`` (stop, naming file, line and tag).
        stride: token classification: most sub-tokens shared by consecutive windows of a text
            longer than ``max_length``; ``null`` = a quarter of the window.
        name: registry name of the model (default: the output directory's name).
        registry: SQLAlchemy URL of the model registry (default: env DOMAINTUNE_REGISTRY or
            ``sqlite:///models/registry.db``).
        training: how to train (:class:`TrainingConfig`).

    Example:
        >>> run = RunConfig.from_dict({"train_file": "t.csv", "training": {"epochs": 1}})
        >>> run.training.epochs, RunConfig.from_dict({"epochs": 1}).training.epochs
        (1.0, 1.0)
    """

    task: Task = Task.TEXT_CLASSIFICATION
    model: str = "default"
    train_file: str | None = None
    eval_file: str | None = None
    validation_split: float = 0.1
    stratify: bool = True
    test_file: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    multi_label: bool = False
    label_separator: str = "|"
    encoding: str = "utf-8"
    output_dir: str = "models/model"
    labels: list[str] | None = None
    tag_scheme: TagScheme = TagScheme.IOB2
    repair: Repair = Repair.WARN
    stride: int | None = None
    name: str | None = None
    registry: str | None = None
    training: TrainingConfig = field(default_factory=TrainingConfig)

    PATH_KEYS: typing.ClassVar[tuple[str, ...]] = ("train_file", "eval_file", "test_file",
                                                  "output_dir")
    _SECTION: typing.ClassVar[str] = "train config section 'training'"

    @classmethod
    def _key_where(cls, key: str) -> str:
        return f"train config key {key!r}"

    def __post_init__(self) -> None:
        self._validate_types()
        self.check_ranges([("validation_split", 0 <= self.validation_split < 1,
                            "a number in [0, 1)")])

    @classmethod
    def own_keys(cls) -> list[str]:
        """The keys beside the ``training:`` section."""
        return [k for k in cls.keys() if k != "training"]

    @classmethod
    def nest_training_keys(cls, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``data`` with top-level training keys (``epochs: 3``) moved under ``training:``, and
        the keys moved. A key set both ways is a ConfigError."""
        data = dict(data)
        section = data.get("training")
        if isinstance(section, TrainingConfig):
            section = section.to_dict()
        elif section is None:
            section = {}
        elif not isinstance(section, Mapping):
            raise ConfigError(f"train config key 'training' expects a mapping of training keys "
                              f"(training: {{epochs: 3, method: full}}), found {section!r}")
        flat = [k for k in data if k in TrainingConfig.keys() and k not in cls.keys()]
        if not flat:
            return data, []
        section = dict(section)
        for key in flat:
            if key in section and section[key] != data[key]:
                raise ConfigError(f"train config sets {key!r} twice: {data[key]!r} at the top "
                                  f"level and {section[key]!r} under training:; keep one "
                                  f"(training.{key})")
            section[key] = data.pop(key)
        data["training"] = section
        return data, flat

    @classmethod
    def from_dict(cls, data: Any, where: str | None = None, *,
                  unknown: Unknown = "error") -> RunConfig:
        """Build from a mapping with a nested ``training`` mapping (or flat training keys)."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"the train config expects a mapping of keys to values, found "
                              f"{data!r}")
        data, _ = cls.nest_training_keys(data)
        extra = [k for k in data if k not in cls.keys()]
        if extra and unknown == "warn":
            logger.warning("train config: ignoring key%s %s that this domaintune (%s) does not "
                           "know (saved by a newer version?)", "s" if len(extra) > 1 else "",
                           [str(k) for k in extra], __version__)
            data = {k: v for k, v in data.items() if k not in extra}
        elif extra:
            key = str(extra[0])
            valid = cls.own_keys() + TrainingConfig.keys()
            raise ConfigError(
                f"unknown train config key {key!r}{closest(key, valid + ['training'])} "
                f"(valid keys: {', '.join(cls.own_keys())}; and under training: "
                f"{', '.join(TrainingConfig.keys())})")
        section = data.get("training")
        if not isinstance(section, TrainingConfig):
            section = TrainingConfig.from_dict(section, where=cls._SECTION, unknown=unknown)
        return cls(**{**data, "training": section})

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] | None = None) -> RunConfig:
        """Read a YAML file and apply ``--set`` overrides (``key=value`` or
        ``training.key=value``; values parsed as YAML).

        Relative paths in the file are taken relative to the file's folder (see
        :func:`resolve_paths`); training keys at the top level of the file log a warning
        saying to move them under ``training:``.

        Example:
            >>> RunConfig.from_yaml("train.yaml", ["training.epochs=1"])  # doctest: +SKIP
        """
        path = Path(path)
        data, flat = cls.nest_training_keys(read_yaml_mapping(path))
        if flat:
            logger.warning("%s: training keys at the top level (%s) still work, but their place "
                           "is the training: section (training: {%s: ...}); move them there",
                           path, ", ".join(flat), flat[0])
        data = resolve_paths(data, cls.PATH_KEYS, path.parent, source=path)
        model = data.get("model")
        if (isinstance(model, str) and model and model != "default"
                and not Path(model).is_absolute() and (path.parent / model).is_dir()):
            data["model"] = str((path.parent / model).resolve())  # a local directory there
        return cls.from_dict(apply_overrides(data, cls.nested_overrides(overrides)))

    @classmethod
    def nested_overrides(cls, overrides: Sequence[str] | None) -> list[str]:
        """``--set`` items with a bare training key written as ``training.key``
        (``epochs=2`` -> ``training.epochs=2``)."""
        out = []
        for item in overrides or []:
            key, sep, raw = item.partition("=")
            name = key.strip()
            if sep and name in TrainingConfig.keys() and name not in cls.keys():
                item = f"training.{name}={raw}"
            out.append(item)
        return out

    @classmethod
    def training_overrides(cls, overrides: Sequence[str] | None) -> dict[str, Any]:
        """The training keys that ``--set`` items change, whether written ``key=value`` or
        ``training.key=value`` (``domaintune update`` applies them to the saved training
        config); any other key is a ConfigError."""
        data = apply_overrides({}, cls.nested_overrides(overrides))
        section = data.pop("training", {})
        if data:
            key = next(iter(data))
            raise ConfigError(f"--set {key}: not a training key{closest(key, TrainingConfig.keys())}"
                              f" (training keys: {', '.join(TrainingConfig.keys())})")
        return section

    @staticmethod
    def from_yaml_overrides(overrides: list[str] | None) -> dict[str, Any]:
        """Parse ``key=value`` strings into a mapping (dotted keys nest); values are YAML."""
        return apply_overrides({}, overrides or [])

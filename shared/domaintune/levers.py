"""Which training levers a run reads: one warning for each lever set where it is ignored.

One :class:`~domaintune.config.TrainingConfig` serves every task and method, so a lever can be
set where it does nothing: ``rdrop_alpha`` with method ``frozen`` or for NER, ``ner_context``
for text classification, ``distill_weight`` in a plain fit. :func:`ignored_levers` names each
such lever with why it is ignored and what to do; :func:`warn_ignored_levers` logs one warning
per lever (training then goes on exactly as without it). They are warnings, not
:class:`~domaintune.errors.ConfigError`: the config is valid on its own (the task and whether
the run is an update are known only when training starts), and a config saved beside a model
is reused by later runs (``domaintune update`` starts from it).

Example:
    >>> from domaintune.config import Method, Task, TrainingConfig
    >>> [key for key, _ in ignored_levers(TrainingConfig(method="frozen", rdrop_alpha=1.0),
    ...                                   task=Task.TEXT_CLASSIFICATION, method=Method.FROZEN)]
    ['rdrop_alpha']
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Collection

from .config import Method, ReplayBalance, Task, TrainingConfig

logger = logging.getLogger(__name__)

_FINE_TUNED = (Method.FULL, Method.LORA)
_USE_FINE_TUNING = "train with method 'full' or 'lora', or remove it"
_UPDATE = "domaintune.continual.update / `domaintune update`"
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainingConfig)}
_DEFAULT_TEMPERATURE = _DEFAULTS["distill_temperature"]
# on by default for token classification: only a value other than the default is the user's
_DEFAULT_SHAPES = _DEFAULTS["ner_word_shapes"]


def _no_gradient_steps(method: Method, task: Task) -> str:
    """Why a run of ``method`` has no fine-tuning steps of the encoder."""
    if method == Method.ZERO_SHOT:
        return "method 'zero-shot' builds the head from the label names and trains nothing"
    if task == Task.TOKEN_CLASSIFICATION:
        return "method 'frozen' trains only the tagging head, not the encoder layers"
    return "method 'frozen' fits its head by logistic regression on frozen embeddings"


# the continual levers' auto values (``None`` in the config) per update method. issue 13:
# learning without forgetting + a class-balanced buffer lowered the first-60 drop of a `full`
# BANKING77 60 -> 77 update on every paired update seed (benchmarks/RESULTS.md); LoRA updates
# were not measured and frozen ones have no gradient steps to distil into, so they stay off
_AUTO_UPDATE_LEVERS = {Method.FULL: (1.0, ReplayBalance.CLASS)}


def resolve_update_levers(cfg: TrainingConfig, method: Method) -> TrainingConfig:
    """``cfg`` with its auto (``None``) ``distill_weight`` / ``replay_balance`` made concrete
    for a continual update by ``method``: 1.0 and ``class`` for ``full``, off otherwise.
    Values the config sets are kept.

    Example:
        >>> resolved = resolve_update_levers(TrainingConfig(), Method.FULL)
        >>> resolved.distill_weight, resolved.replay_balance.value
        (1.0, 'class')
        >>> resolve_update_levers(TrainingConfig(distill_weight=0), Method.FULL).distill_weight
        0.0
    """
    weight, balance = _AUTO_UPDATE_LEVERS.get(method, (0.0, ReplayBalance.NONE))
    return dataclasses.replace(
        cfg, distill_weight=weight if cfg.distill_weight is None else cfg.distill_weight,
        replay_balance=balance if cfg.replay_balance is None else cfg.replay_balance)


def ignored_levers(
    cfg: TrainingConfig,
    *,
    task: Task,
    method: Method,
    multi_label: bool = False,
    continual: bool = False,
    skip: Collection[str] = (),
) -> list[tuple[str, str]]:
    """The levers of ``cfg`` that are set (not at their "off" value) but that this run ignores.

    Args:
        cfg: the run's training config.
        task: what is trained (text or token classification).
        method: how it is trained (an update may use the model's method, not ``cfg.method``).
        multi_label: a multi-label text classifier.
        continual: the run is a continual update (:func:`domaintune.continual.update`), not a
            first fit.
        skip: keys not to report (e.g. ones an update inherited from the model's own config).

    Returns:
        ``(key, message)`` pairs; each message says the key, why it is ignored and what to do.
    """
    if continual:
        cfg = resolve_update_levers(cfg, method)  # auto levers are what the update will use
    text = task == Task.TEXT_CLASSIFICATION
    fine_tuned = method in _FINE_TUNED
    found: list[tuple[str, str]] = []

    def add(key: str, message: str) -> None:
        if key not in skip:
            value = getattr(cfg, key)
            value = value.value if isinstance(value, enum.Enum) else value  # 'class', not the enum
            found.append((key, f"{message} (this config sets {key}={value!r})"))

    # where an update-only lever belongs: NER has no continual update
    update_instead = ("set it in the update's config instead" if text else
                      "token classification has no continual update; remove it")

    if cfg.rdrop_alpha:
        if not text:
            add("rdrop_alpha", "rdrop_alpha is ignored for token classification: R-Drop is "
                "implemented for text classifiers only; remove it")
        elif not fine_tuned:
            add("rdrop_alpha", f"rdrop_alpha is ignored: {_no_gradient_steps(method, task)}, "
                f"so there are no dropout passes to compare; {_USE_FINE_TUNING}")
        elif multi_label:
            add("rdrop_alpha", "rdrop_alpha is ignored for multi-label classifiers (single-label "
                "only: R-Drop compares two softmax distributions); remove it")
    if cfg.average_checkpoints and not (fine_tuned or (not text and method == Method.FROZEN)):
        add("average_checkpoints", f"average_checkpoints is ignored: "
            f"{_no_gradient_steps(method, task)}, so there are no epochs to average; "
            f"{_USE_FINE_TUNING}")
    if cfg.layer_decay not in (None, 1, 1.0) and not fine_tuned:  # 1.0 = one rate, off
        add("layer_decay", f"layer_decay is ignored: {_no_gradient_steps(method, task)}, so no "
            f"encoder layer has a learning rate to decay; {_USE_FINE_TUNING}")
    if cfg.distill_weight:  # None (auto) resolves to a number in an update; in a fit it is off
        if not continual:
            add("distill_weight", "distill_weight is ignored in a first fit: learning without "
                "forgetting distils the model as it was before an update into the updated one, "
                f"so it applies to continual updates only ({_UPDATE}); {update_instead}")
        elif not fine_tuned:
            add("distill_weight", "distill_weight is ignored by the frozen method (its head is "
                "refit by logistic regression); use method full or lora to distil")
    elif cfg.distill_temperature != _DEFAULT_TEMPERATURE:
        add("distill_temperature", "distill_temperature is ignored: it is the temperature of the "
            "distillation term, which is off in this run (distill_weight=0, or auto outside a "
            "`full` update); "
            + (f"set distill_weight > 0 in a continual update ({_UPDATE}), or remove it" if text
               else update_instead))
    if cfg.replay_balance not in (None, ReplayBalance.NONE) and not continual:
        add("replay_balance", "replay_balance is ignored in a first fit: it decides how a "
            f"continual update draws its new and replayed examples ({_UPDATE}); {update_instead}")
    if text:
        if cfg.ner_word_shapes and not _DEFAULT_SHAPES:
            add("ner_word_shapes", "ner_word_shapes is ignored for text classification: the "
                "word-shape embedding is a token-classification (NER) feature; remove it, or "
                "train a TokenClassifier (task: token-classification)")
        if cfg.ner_context:
            add("ner_context", "ner_context is ignored for text classification: document "
                "context is a token-classification (NER) feature; remove it, or train a "
                "TokenClassifier (task: token-classification)")
    if cfg.contrastive_epochs:
        if not text:
            add("contrastive_epochs", "contrastive_epochs is ignored for token classification: "
                "the contrastive stage pairs whole texts by label (text classification only); "
                "remove it")
        elif continual:
            add("contrastive_epochs", "contrastive_epochs is ignored by an update: the "
                "contrastive stage runs in a first fit (TextClassifier.fit), before the head is "
                "fitted; remove it from the update's config")
        elif method == Method.ZERO_SHOT:
            add("contrastive_epochs", f"contrastive_epochs is ignored: "
                f"{_no_gradient_steps(method, task)}; train with method 'frozen', 'full' or "
                "'lora', or remove it")
    return found


def warn_ignored_levers(cfg: TrainingConfig, *, task: Task, method: Method,
                        multi_label: bool = False, continual: bool = False,
                        skip: Collection[str] = ()) -> list[str]:
    """Log one warning per lever of :func:`ignored_levers`; returns the keys warned about."""
    found = ignored_levers(cfg, task=task, method=method, multi_label=multi_label,
                           continual=continual, skip=skip)
    for _, message in found:
        logger.warning("%s", message)
    return [key for key, _ in found]

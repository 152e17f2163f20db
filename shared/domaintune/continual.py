"""Continual learning: update a trained classifier with new data (and new labels) without
forgetting, by replaying a stored sample of its training data.

Example:
    >>> clf = TextClassifier.load("models/tickets")  # doctest: +SKIP
    >>> report = update(clf, load_dataset("new_tickets.csv", label="queue"))  # doctest: +SKIP
    >>> report.forgetting  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .classifier import TextClassifier
from .config import Method, ReplayBalance, Task, TrainingConfig
from .data import TextDataset, sample_per_class, train_validation_split
from .errors import DataError
from .levers import resolve_update_levers, warn_ignored_levers
from .training import class_balanced_sampler, encode, fit_linear_head, set_seed, train_loop

logger = logging.getLogger(__name__)


@dataclass
class UpdateReport:
    """What an update did and what it cost on the old evaluation data."""

    n_new: int
    n_replay: int
    new_labels: list[str]
    seconds: float
    n_trained: int = 0  # training examples drawn per epoch (new + replayed, after balancing)
    distill_weight: float = 0.0  # learning-without-forgetting weight used (0 = off)
    replay_balance: str = "none"
    before: dict[str, float] = field(default_factory=dict)  # old holdout, before the update
    after: dict[str, float] = field(default_factory=dict)  # old holdout, after the update
    new_data: dict[str, float] = field(default_factory=dict)  # new validation data, after
    # the TrainingConfig the update ran with, levers resolved and the method it trained (the
    # saved training_config.json is the first fit's); settings an update does not read (a
    # first fit's contrastive_epochs) are recorded as they were, see the warnings
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def forgetting(self) -> float | None:
        """Accuracy lost on the old evaluation data (positive = forgot)."""
        if "accuracy" in self.before and "accuracy" in self.after:
            return self.before["accuracy"] - self.after["accuracy"]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "forgetting": self.forgetting}


def grow_labels(clf: TextClassifier, new_labels: list[str], examples: TextDataset | None = None) -> list[str]:
    """Append ``new_labels`` to the head; rows of existing labels are left untouched.

    New rows start at the class prototype (mean embedding of its ``examples``, scaled to the
    old rows' mean norm) so the new labels are usable before any training; without examples
    they start at zero weight with the lowest existing bias.

    Returns:
        The labels actually added (those not already known).
    """
    added = [lab for lab in dict.fromkeys(new_labels) if lab not in clf.labels]
    if not added:
        return []
    head = clf.model.head
    old_w = head.weight.detach().cpu().numpy()
    old_b = head.bias.detach().cpu().numpy()
    new_w = np.zeros((len(added), old_w.shape[1]), dtype=old_w.dtype)
    new_b = np.full(len(added), old_b.min() if len(old_b) else 0.0, dtype=old_b.dtype)
    if examples is not None:
        emb = clf.embed(examples.texts)
        scale = float(np.linalg.norm(old_w, axis=1).mean()) if len(old_w) else 1.0
        for k, lab in enumerate(added):
            rows = [i for i, labs in enumerate(examples.labels_list) if lab in labs]
            if rows:
                proto = emb[rows].mean(0)
                new_w[k] = proto / (np.linalg.norm(proto) + 1e-12) * scale
                new_b[k] = float(np.median(old_b))
    linear = torch.nn.Linear(old_w.shape[1], len(clf.labels) + len(added))
    clf.model.head = linear
    clf.model.set_head(np.vstack([old_w, new_w]), np.concatenate([old_b, new_b]))
    clf.model.head.to(clf.device)
    clf.labels = clf.labels + added
    return added


def _check_columns_match(clf: TextClassifier, new: TextDataset) -> None:
    if new.labels is None:
        raise DataError(f"{new.source}: an update needs labelled data; pass label=<column>")
    if new.multi_label != clf.multi_label:
        kind = "multi-label" if clf.multi_label else "single-label"
        raise DataError(f"{new.source}: the model is {kind} but the update data is not; load it "
                        f"with multi_label={clf.multi_label}")


def update(
    clf: TextClassifier,
    new: TextDataset,
    config: TrainingConfig | None = None,
    *,
    replay_ratio: float = 1.0,
    validation_split: float = 0.1,
) -> UpdateReport:
    """Fine-tune ``clf`` on ``new`` mixed with its replay buffer; grows the head for new labels.

    Two levers against forgetting, set in ``config``; both default to auto (``None``): on in a
    ``full`` update (λ = 1.0, ``class``), off in ``lora`` and ``frozen`` ones
    (:func:`domaintune.levers.resolve_update_levers`; 0 / ``none`` turn them off):

    * ``distill_weight`` λ > 0 (learning without forgetting): before training, the model as it
      is (the old head, old labels only) scores every training example once, new and replayed;
      the update's loss adds ``λ · T² · KL(softmax(old/T) ‖ softmax(new/T))`` over the old
      labels' logits (T = ``distill_temperature``), so the updated model keeps the old model's
      view of the old labels while it learns the new ones. No second model is held during
      training: the old logits are a fixed table.
    * ``replay_balance="class"`` (class-balanced buffer): the whole replay buffer is replayed
      (``replay_ratio`` is not applied) and every epoch draws the same number of examples
      from every label, old labels from their buffer examples and new labels from all their
      data: that number is the mean per-label count of the mixed data (the epoch keeps its
      size); smaller labels are repeated, larger ones subsampled (a fresh draw each epoch).
      For ``frozen`` the head is refit with balanced class weights instead.

    ``frozen`` refits its head by logistic regression and has no distillation term (a
    ``distill_weight`` is ignored with a warning, as is any lever an update does not read:
    see :mod:`domaintune.levers`).

    Args:
        clf: a trained classifier (its ``replay`` buffer is used when present).
        new: new labelled examples, possibly with labels the model has never seen.
        config: training settings; defaults to the model's own method and settings (its
            epochs, at least 1) at its current ``max_length``.
        replay_ratio: replayed old examples per new example (capped by the buffer size);
            the ``frozen`` method refits its head from scratch and always replays the whole
            buffer.
        validation_split: fraction of ``new`` held out to early-stop and calibrate
            (0 = none); the old holdout is always added to the validation data.

    Returns:
        An :class:`UpdateReport` with accuracy on the old holdout before and after.
    """
    _check_columns_match(clf, new)
    cfg = config or dataclasses.replace(
        clf.training_config or TrainingConfig(), progress=False, max_length=clf.max_length,
        epochs=max(1.0, (clf.training_config.epochs if clf.training_config else 2.0)),
    )
    if cfg.method == Method.ZERO_SHOT:
        raise DataError("zero-shot models have nothing to update; train with method frozen/full/lora")
    set_seed(cfg.seed)
    start = time.perf_counter()
    holdout = clf.holdout
    before = clf.evaluate(holdout) if holdout is not None else {}
    new_val = None
    if validation_split > 0 and len(new) >= 10:
        try:
            new, new_val = train_validation_split(new, validation_split, seed=cfg.seed)
        except DataError:
            new, new_val = train_validation_split(new, validation_split, seed=cfg.seed, stratify=False)
    n_old = len(clf.labels)
    added = grow_labels(clf, [lab for labs in new.labels_list for lab in labs], new)
    replay = clf.replay
    n_replay = 0
    mixed = new
    method = clf.method if config is None and clf.method is not None else cfg.method
    saved = clf.training_config
    inherited = (["contrastive_epochs"]  # the first fit's stage, kept in the saved config
                 if saved is not None and cfg.contrastive_epochs == saved.contrastive_epochs else [])
    cfg = resolve_update_levers(cfg, method)  # auto (None) levers: on for `full`, else off
    warn_ignored_levers(cfg, task=Task.TEXT_CLASSIFICATION, method=method,
                        multi_label=clf.multi_label, continual=True, skip=inherited)
    balance = cfg.replay_balance == ReplayBalance.CLASS
    if replay is not None and len(replay) and (replay_ratio > 0 or balance):
        # the frozen method refits its head from scratch, so it replays the whole buffer;
        # so does a class-balanced update (the balance decides how often each is drawn)
        whole = method == Method.FROZEN or balance
        want = len(replay) if whole else int(round(replay_ratio * len(new)))
        if want < len(replay):
            rng = np.random.default_rng(cfg.seed)
            replay_used = replay.subset(sorted(rng.choice(len(replay), want, replace=False).tolist()))
        else:
            replay_used = replay
        n_replay = len(replay_used)
        mixed = replay_used.concat(new, source=f"{new.source}+replay")
    val = new_val
    if holdout is not None:
        val = holdout if val is None else holdout.concat(val)
    y_mixed = clf._targets(mixed, purpose="update")
    n_trained = len(mixed)
    distill = cfg.distill_weight if method != Method.FROZEN else 0.0
    if method == Method.FROZEN:
        emb = encode(clf.model, clf.tokenizer, mixed.texts, max_length=cfg.max_length,
                     device=clf.device, progress=cfg.progress)
        weight, bias = fit_linear_head(emb, y_mixed, len(clf.labels), multi_label=clf.multi_label,
                                       c=cfg.head_c,
                                       balanced=cfg.class_weights.value == "balanced" or balance,
                                       seed=cfg.seed)
        clf.model.set_head(weight, bias)
    else:
        teacher = None
        if distill > 0 and n_old:
            # the old model's logits on its own labels, once per training example (the new
            # head rows do not change the old columns: grow_labels leaves them untouched)
            # at the update's max_length: the teacher scores the inputs the student trains on
            teacher = clf._logits(mixed.texts, max_length=cfg.max_length)[:, :n_old]
        groups = None
        if balance:
            groups = (y_mixed if not clf.multi_label else
                      np.array([clf.labels.index(labs[0]) if labs else -1 for labs in mixed.labels_list]))
            n_trained = class_balanced_sampler(groups).size
        if method == Method.LORA and clf.method != Method.LORA:
            clf._wrap_lora(cfg)
        y_val = clf._targets(val, purpose="validation") if val is not None else None
        validate = (lambda: clf._validation_metrics(val.texts, y_val)) if val is not None else None
        clf.history += train_loop(clf.model, clf.tokenizer, mixed.texts, y_mixed, cfg,
                                  multi_label=clf.multi_label, device=clf.device, validate=validate,
                                  teacher_logits=teacher, balance_groups=groups)
    from .backend import forget

    forget(clf)  # an ONNX twin of the old weights must not answer for the updated model
    if cfg.max_length != clf.max_length:
        # the weights (or the refit head) now fit inputs tokenized at the update's length
        logger.info("the model now tokenizes at the update's max_length=%d (was %d)",
                    cfg.max_length, clf.max_length)
        clf.max_length = cfg.max_length
    clf.method = method
    if val is not None and cfg.calibrate:
        clf.metrics["calibration"] = clf.calibrate(val)
    # the new replay buffer: old buffer + a sample of the new data
    fresh = sample_per_class(new, cfg.replay_per_class, seed=cfg.seed) if cfg.replay_per_class else None
    if fresh is not None:
        clf.replay = fresh if replay is None else replay.concat(fresh, source="replay")
    if new_val is not None:
        clf.holdout = new_val if holdout is None else holdout.concat(new_val, source="holdout")
    report = UpdateReport(
        n_new=len(new), n_replay=n_replay, new_labels=added,
        seconds=round(time.perf_counter() - start, 2), n_trained=n_trained,
        distill_weight=distill, replay_balance=cfg.replay_balance.value,
        before={k: before[k] for k in ("accuracy", "macro_f1") if k in before},
        after={k: v for k, v in clf.evaluate(holdout).items() if k in ("accuracy", "macro_f1")}
        if holdout is not None else {},
        new_data={k: v for k, v in clf.evaluate(new_val).items() if k in ("accuracy", "macro_f1")}
        if new_val is not None else {},
        config=dataclasses.replace(cfg, method=method).to_dict(),
    )
    clf.metrics.setdefault("updates", []).append(report.to_dict())
    logger.info("updated on %d new + %d replayed examples (%d new labels) in %.1fs; old-holdout "
                "accuracy %s -> %s", report.n_new, n_replay, len(added), report.seconds,
                report.before.get("accuracy"), report.after.get("accuracy"))
    return report

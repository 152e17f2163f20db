"""Training configuration of the text-pair models (bi-encoder and cross-encoder).

Follows :mod:`domaintune.config`: a dataclass validated on construction, unknown keys are errors
with the closest valid key suggested, string options are Enums, ``to_dict``/``from_dict``. The
keys every training loop shares (epochs, steps, batch size, weight decay, warm-up, seed,
device, progress) are declared once, in :class:`~domaintune.config.BaseTrainingConfig`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..config import BaseTrainingConfig


class PairLoss(str, enum.Enum):
    """Contrastive loss of the bi-encoder (the cross-encoder's loss follows from its task)."""

    MNRL = "mnrl"  # MultipleNegativesRankingLoss: in-batch negatives (+ hard negatives if given)
    CACHED_MNRL = "cached-mnrl"  # CachedMNRL (GradCache): large batches in small memory


@dataclass
class PairTrainingConfig(BaseTrainingConfig):
    """How to fine-tune a :class:`~domaintune.pairs.BiEncoder` or
    :class:`~domaintune.pairs.CrossEncoderModel`. Validated on construction.

    Args:
        epochs: passes over the training pairs.
        max_steps: stop after this many optimizer steps (overrides ``epochs``); ``None`` = off.
        batch_size: pairs per step. For the bi-encoder every other pair in the batch is a
            negative, so larger batches train better (use ``cached-mnrl`` when memory is short).
        learning_rate: peak AdamW learning rate (linear warm-up, then linear decay).
        weight_decay: AdamW weight decay.
        warmup_ratio: fraction of the steps with a linear learning-rate warm-up.
        max_length: tokens per text (bi-encoder) or per (query, passage) pair (cross-encoder);
            longer inputs are truncated and counted in the log. ``None`` keeps the model's limit.
        seed: seed of Python, NumPy, torch and the batch order.
        loss: bi-encoder loss, ``mnrl`` or ``cached-mnrl`` (ignored by the cross-encoder, whose
            loss follows its task: binary cross-entropy, MSE or cross-entropy).
        scale: bi-encoder similarity scale (inverse temperature) of the contrastive loss.
        mini_batch_size: ``cached-mnrl`` chunk size (memory use, not the result).
        device: ``auto`` (CUDA > MPS > CPU), ``cpu``, ``cuda``, ``cuda:1`` ...
        progress: show progress bars and per-epoch losses.

    Example:
        >>> PairTrainingConfig(epochs=1, batch_size=64, learning_rate=2e-5).batch_size
        64
        >>> PairTrainingConfig.from_dict({"epoch": 1})  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ConfigError: unknown PairTrainingConfig key 'epoch'; did you mean 'epochs'? ...
    """

    # shared with TrainingConfig (BaseTrainingConfig): max_steps, batch_size, weight_decay,
    # warmup_ratio, seed, device, progress; epochs too, with a default of 1 here
    epochs: float = 1.0
    learning_rate: float = 2e-5
    max_length: int | None = None
    loss: PairLoss = PairLoss.MNRL
    scale: float = 20.0
    mini_batch_size: int = 32

    def __post_init__(self) -> None:
        self._validate_types()
        checks = self.shared_checks() + [
            ("learning_rate", self.learning_rate > 0, "a positive number"),
            ("max_length", self.max_length is None or 8 <= self.max_length <= 8192,
             "an integer in [8, 8192] or null"),
            ("scale", self.scale > 0, "a positive number"),
            ("mini_batch_size", self.mini_batch_size > 0, "a positive integer"),
        ]
        self.check_ranges(checks)

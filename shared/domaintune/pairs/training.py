"""Run a sentence-transformers trainer (``SentenceTransformerTrainer`` / ``CrossEncoderTrainer``)
from a :class:`PairTrainingConfig`: no checkpoints on disk, seeded, one log entry per epoch."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from typing import Any

from ..device import resolve_device
from ..training import set_seed
from .config import PairTrainingConfig

logger = logging.getLogger(__name__)


def count_truncated(tokenizer: Any, texts: Sequence[Any], max_length: int | None, what: str) -> int:
    """Log (and return) how many ``texts`` (strings or (a, b) pairs) exceed ``max_length`` tokens."""
    if tokenizer is None or not max_length or not texts:
        return 0
    if isinstance(texts[0], (tuple, list)):
        ids = tokenizer([t[0] for t in texts], [t[1] for t in texts], truncation=False)["input_ids"]
    else:
        ids = tokenizer(list(texts), truncation=False)["input_ids"]
    n = sum(len(x) > max_length for x in ids)
    if n:
        logger.warning("%d of %d training %s are longer than max_length=%d tokens and are "
                       "truncated; raise max_length to keep them whole", n, len(texts), what,
                       max_length)
    return n


def _quiet_progress_class() -> type:
    from transformers import ProgressCallback

    class QuietProgress(ProgressCallback):
        """The trainer's tqdm bar (on stderr) without the log dicts it writes to stdout."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            return None

    return QuietProgress


def _QuietProgress() -> Any:  # noqa: N802 - built lazily: transformers is imported on use
    return _quiet_progress_class()()


def run_trainer(
    model: Any,
    dataset: Any,
    loss: Any,
    cfg: PairTrainingConfig,
    *,
    cross_encoder: bool,
    no_duplicates: bool = False,
) -> dict[str, Any]:
    """Train ``model`` in place with the sentence-transformers trainer; return the run's log.

    Args:
        model: a ``SentenceTransformer`` or ``CrossEncoder``.
        dataset: a ``datasets.Dataset`` whose columns are the loss's inputs (label last).
        loss: the loss module.
        cfg: the training configuration.
        cross_encoder: use ``CrossEncoderTrainer`` instead of ``SentenceTransformerTrainer``.
        no_duplicates: batch sampler that never puts the same text twice in a batch (in-batch
            negatives must not be copies of the positive).

    Returns:
        ``{"steps", "train_loss", "history"}`` with one history entry per epoch.
    """
    from transformers import PrinterCallback, ProgressCallback

    if cross_encoder:
        from sentence_transformers import CrossEncoderTrainer as Trainer
        from sentence_transformers import CrossEncoderTrainingArguments as Arguments
    else:
        from sentence_transformers import SentenceTransformerTrainer as Trainer
        from sentence_transformers import SentenceTransformerTrainingArguments as Arguments

    set_seed(cfg.seed)
    device = resolve_device(cfg.device)
    with tempfile.TemporaryDirectory(prefix="domaintune-pairs-") as out:
        extra = {"batch_sampler": "no_duplicates"} if no_duplicates else {}
        args = Arguments(
            output_dir=out,
            num_train_epochs=cfg.epochs,
            max_steps=cfg.max_steps or -1,
            per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            weight_decay=cfg.weight_decay,
            warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio in transformers >= 5
            lr_scheduler_type="linear",
            seed=cfg.seed,
            data_seed=cfg.seed,
            save_strategy="no",
            logging_strategy="epoch",
            report_to="none",
            disable_tqdm=not cfg.progress,
            use_cpu=device.type == "cpu",
            dataloader_num_workers=0,
            **extra,
        )
        trainer = Trainer(model=model, args=args, train_dataset=dataset, loss=loss)
        # the trainer prints each log dict to stdout (PrinterCallback without a progress bar,
        # ProgressCallback.on_log through tqdm.write with one): stdout belongs to the caller
        # (the CLI prints one JSON object there); the history below keeps the same numbers
        trainer.remove_callback(PrinterCallback)
        if trainer.pop_callback(ProgressCallback) is not None:
            trainer.add_callback(_QuietProgress())
        output = trainer.train()
        history = [
            {"epoch": round(float(h["epoch"]), 4), "step": int(h["step"]),
             "train_loss": float(h["loss"]), "learning_rate": float(h.get("learning_rate", 0.0))}
            for h in trainer.state.log_history
            if "loss" in h
        ]
    model.eval()
    return {"steps": int(output.global_step), "train_loss": float(output.training_loss),
            "history": history}

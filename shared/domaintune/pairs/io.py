"""Saved pair models: weight fingerprints and what is restored beside the weights (the record
itself is written and checked by :mod:`domaintune.artifacts`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ..artifacts import restore_config, restore_metrics
from ..errors import ModelLoadError

WEIGHTS_FILE = "model.safetensors"


def fingerprint(module: torch.nn.Module, extra: Any = None) -> str:
    """A short SHA-256 of a module's weights (names, dtypes, shapes, values) and ``extra``.

    Two encoders with the same fingerprint give the same embeddings; used to tell whether an
    index was built with the encoder at hand.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if extra is not None:
        digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def restore_state(model: Any, meta: dict[str, Any], path: Path) -> Any:
    """Check the weights' fingerprint against ``meta`` and restore the training config, metrics
    and history saved beside them; returns ``model``."""
    from .config import PairTrainingConfig

    if meta.get("fingerprint") and model.fingerprint != meta["fingerprint"]:
        raise ModelLoadError(f"{path}: the weights do not match the fingerprint recorded at save "
                             f"time ({meta['fingerprint']}, found {model.fingerprint}); the files "
                             "were changed or corrupted; re-save or retrain the model")
    cfg = restore_config(PairTrainingConfig, path / "training_config.json")
    if cfg is not None:
        model.training_config = cfg
    restore_metrics(model, path / "metrics.json")
    return model


def versions() -> dict[str, str]:
    """torch and sentence-transformers versions, for the record of a saved pair model."""
    out = {"torch_version": torch.__version__}
    try:
        import sentence_transformers

        out["sentence_transformers_version"] = sentence_transformers.__version__
    except ImportError:  # pragma: no cover - a hard dependency
        pass
    return out

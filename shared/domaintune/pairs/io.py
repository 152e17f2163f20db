"""Saved pair-model directories: the ``domaintune.json`` record, checks on load, weight fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..errors import ModelLoadError
from ..persistence import write_json_atomic

META_FILE = "domaintune.json"
FORMAT_VERSION = 1
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


def write_meta(directory: Path, task: str, **fields: Any) -> None:
    """Write ``domaintune.json`` (format and library versions plus ``fields``) into ``directory``."""
    meta = {
        "format_version": FORMAT_VERSION,
        "domaintune_version": __version__,
        "task": task,
        **fields,
        "torch_version": torch.__version__,
    }
    try:
        import sentence_transformers

        meta["sentence_transformers_version"] = sentence_transformers.__version__
    except ImportError:  # pragma: no cover - a hard dependency
        pass
    write_json_atomic(directory / META_FILE, meta)


def read_meta(path: str | Path, task: str, required: tuple[str, ...], loader: str) -> dict[str, Any]:
    """Check a saved pair-model directory and return its ``domaintune.json``.

    Raises:
        ModelLoadError: the directory is missing, is not a ``task`` model, its record is corrupted,
            it was written by a newer domaintune, or a required file is missing.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelLoadError(f"model directory {path} does not exist; pass a directory written by "
                             f"{loader}.save")
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise ModelLoadError(f"{path} is not a domaintune {task} model: {META_FILE} is missing; pass a "
                             f"directory written by {loader}.save (or use {loader}.from_pretrained "
                             "for a plain model)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError(f"expected a JSON object, found {type(meta).__name__}")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{meta_file} is corrupted ({type(exc).__name__}: {exc}); re-save or "
                             "retrain the model") from None
    if meta.get("task") != task:
        raise ModelLoadError(f"{path} holds a {meta.get('task')!r} model, expected a {task!r} model; "
                             f"load it with the matching class")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelLoadError(f"{path} was written by a newer domaintune (format "
                             f"{meta['format_version']}); upgrade domaintune to load it")
    missing = [name for name in required if not (path / name).is_file()]
    if missing:
        raise ModelLoadError(f"{path} is incomplete: missing {missing}; re-save or retrain the model "
                             "(only safetensors weights are read)")
    return meta


def read_json(path: Path, default: Any) -> Any:
    """A JSON file's content, or ``default`` when it is absent or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def restore_state(model: Any, meta: dict[str, Any], path: Path) -> Any:
    """Check the weights' fingerprint against ``meta`` and restore the training config, metrics
    and history saved beside them; returns ``model``."""
    from .config import PairTrainingConfig

    if meta.get("fingerprint") and model.fingerprint != meta["fingerprint"]:
        raise ModelLoadError(f"{path}: the weights do not match the fingerprint recorded at save "
                             f"time ({meta['fingerprint']}, found {model.fingerprint}); the files "
                             "were changed or corrupted; re-save or retrain the model")
    cfg = read_json(path / "training_config.json", None)
    if cfg is not None:
        model.training_config = PairTrainingConfig.from_dict(cfg, unknown="warn")
    saved = read_json(path / "metrics.json", {})
    model.history = saved.pop("history", [])
    model.metrics = saved
    return model

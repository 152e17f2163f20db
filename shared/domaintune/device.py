"""Device auto-selection: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return a torch device; ``"auto"``/``None`` picks CUDA > MPS > CPU.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)

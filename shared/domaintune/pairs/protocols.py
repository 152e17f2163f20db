"""What retrieval code needs of an encoder, as a protocol (so ``retrieval`` does not import
``biencoder``: a :class:`~domaintune.pairs.BiEncoder`, an ONNX export or any object with these
members works)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Embeds texts as L2-normalised float32 rows and says which encoder it is."""

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               progress: bool = False) -> np.ndarray:
        """``(len(texts), dim)`` normalised embeddings."""
        ...

    @property
    def encoder_info(self) -> Mapping[str, Any]:
        """``{"name", "fingerprint", "dim"}``: recorded by an index built with this encoder."""
        ...

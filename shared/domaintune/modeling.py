"""The network behind every text model: a transformer encoder, a pooling step and a linear head.

Frozen, LoRA, full fine-tuning and zero-shot all share this shape, so prediction, saving,
calibration and export work the same for each of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one text vector: ``mean`` or ``cls``, optionally L2-normalised."""

    mode: str = "mean"
    normalize: bool = False

    @classmethod
    def from_model_dir(cls, path: Path) -> Pooling:
        """Read a sentence-transformers layout (``1_Pooling``, ``Normalize``) when present."""
        mode, normalize = "mean", False
        pooling_cfg = path / "1_Pooling" / "config.json"
        if pooling_cfg.is_file():
            cfg = json.loads(pooling_cfg.read_text())
            if cfg.get("pooling_mode_cls_token"):
                mode = "cls"
        modules = path / "modules.json"
        if modules.is_file():
            normalize = any("Normalize" in m.get("type", "") for m in json.loads(modules.read_text()))
        return cls(mode=mode, normalize=normalize)


class EncoderClassifier(nn.Module):
    """Encoder + pooling + linear head; ``forward`` returns logits."""

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: Pooling) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        hidden = encoder.config.hidden_size
        self.head = nn.Linear(hidden, num_labels)

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        if self.pooling.mode == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.pooling.normalize:
            pooled = nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask, token_type_ids))

    def set_head(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Replace the head's parameters (e.g. with a fitted logistic regression)."""
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(weight, dtype=self.head.weight.dtype))
            self.head.bias.copy_(torch.as_tensor(bias, dtype=self.head.bias.dtype))


def tokenize(tokenizer, texts: Sequence[str], max_length: int, device: torch.device) -> dict:
    enc = tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    keep = ("input_ids", "attention_mask", "token_type_ids")
    return {k: v.to(device) for k, v in enc.items() if k in keep}

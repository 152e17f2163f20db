"""The text side: a user's history as text, their recency-weighted profile, and the behaviour
pairs the text model is fine-tuned on.

Fine-tuning (issue 11's step 2) uses the core's pair training (:meth:`domaintune.pairs.BiEncoder.fit`,
contrastive loss with in-batch negatives): the query is a user's recent items written as text
(:func:`history_text`), the positive is the text of the next item they rated positively. The
trained encoder then embeds both the catalogue and users' histories, so "what this user will
engage with next" becomes a nearest-neighbour search.

Example:
    >>> import numpy as np
    >>> e = np.eye(3, dtype="float32")
    >>> [round(float(v), 3) for v in profile(e, np.array([0, 1]), halflife=1.0)]  # recent weighs more
    [0.447, 0.894, 0.0]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .config import FineTuneConfig
from .data import Catalog

logger = logging.getLogger(__name__)


def item_label(catalog: Catalog, item: int) -> str:
    """``Title (category)`` of an item, the unit of a history text."""
    title, category = catalog.titles[item], catalog.categories[item]
    return f"{title} ({category})" if category and category.lower() not in title.lower() else title


def history_text(catalog: Catalog, items: Sequence[int] | np.ndarray, n: int) -> str:
    """A user's last ``n`` items (``items`` oldest first) as one text, most recent first:
    ``"Alien (Horror); Heat (Crime)"``."""
    recent = list(items)[-n:][::-1]
    return "; ".join(item_label(catalog, int(i)) for i in recent)


def profile(embeddings: np.ndarray, items: np.ndarray, halflife: float) -> np.ndarray:
    """The L2-normalised, recency-weighted mean of the embeddings of ``items`` (oldest first):
    weight ``0.5 ** (age / halflife)``, age in interactions (most recent = 0). Zeros for an
    empty history."""
    if len(items) == 0:
        return np.zeros(embeddings.shape[1], dtype=np.float32)
    age = np.arange(len(items) - 1, -1, -1, dtype=np.float32)
    weight = 0.5 ** (age / float(halflife))
    vec = (embeddings[np.asarray(items, dtype=np.int64)] * weight[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(vec))
    return (vec / norm).astype(np.float32) if norm > 0 else vec.astype(np.float32)


def behaviour_pairs(frame: pd.DataFrame, catalog: Catalog, cfg: FineTuneConfig, *,
                    history_items: int, positive_rating: float, implicit: bool) -> Any:
    """The fine-tuning pairs: (the user's items before t as text, the text of item t) for every
    interaction t rated positively after at least one earlier interaction.

    At most ``cfg.pairs_per_user`` pairs per user (their most recent) and ``cfg.max_pairs`` in
    all (taken evenly over users: every user's most recent pair first).

    Args:
        frame: coded interactions (``user``, ``item`` codes, ``rating``, ``ts``), time-ordered.

    Returns:
        A :class:`domaintune.pairs.PairDataset` (source ``"behaviour pairs"``).
    """
    from domaintune.pairs import PairDataset

    per_user: list[list[tuple[str, str]]] = []
    for _, group in frame.groupby("user", sort=True):
        items = group["item"].to_numpy()
        ratings = group["rating"].to_numpy()
        pairs = []
        for t in range(len(items) - 1, 0, -1):
            if len(pairs) >= cfg.pairs_per_user:
                break
            if implicit or ratings[t] >= positive_rating:
                pairs.append((history_text(catalog, items[:t], history_items),
                              catalog.texts[int(items[t])]))
        if pairs:
            per_user.append(pairs)
    queries: list[str] = []
    passages: list[str] = []
    depth = 0
    while len(queries) < cfg.max_pairs and any(depth < len(p) for p in per_user):
        for pairs in per_user:
            if depth < len(pairs) and len(queries) < cfg.max_pairs:
                queries.append(pairs[depth][0])
                passages.append(pairs[depth][1])
        depth += 1
    return PairDataset(queries, passages, source="behaviour pairs")


def fine_tune(encoder_name: str, pairs: Any, cfg: FineTuneConfig, *, max_length: int,
              progress: bool = False) -> Any:
    """A fresh copy of ``encoder_name`` fine-tuned on ``pairs`` (see :func:`behaviour_pairs`)."""
    from domaintune.pairs import BiEncoder, PairTrainingConfig

    encoder = BiEncoder.from_pretrained(encoder_name, max_length=max_length)
    train_cfg = PairTrainingConfig(epochs=cfg.epochs, batch_size=cfg.batch_size,
                                   learning_rate=cfg.learning_rate, max_length=max_length,
                                   seed=cfg.seed, progress=progress)
    return encoder.fit(pairs, config=train_cfg)

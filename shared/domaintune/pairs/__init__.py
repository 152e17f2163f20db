"""Text-pair models: bi-encoder retrieval, cross-encoder scoring/reranking, FAISS search, metrics.

Example:
    >>> from domaintune.pairs import BiEncoder, FaissIndex, PairTrainingConfig, load_pairs
    >>> train, val = load_pairs("faq.csv", query="question", passage="answer").split(0.1)  # doctest: +SKIP
    >>> enc = BiEncoder.from_pretrained("default").fit(train, val, PairTrainingConfig(epochs=1))  # doctest: +SKIP
    >>> index = FaissIndex().fit(enc.encode(corpus), ids=corpus_ids, encoder=enc)  # doctest: +SKIP
    >>> scores, ids = index.search(enc.encode(["where is my refund?"]), k=10)  # doctest: +SKIP
"""

from __future__ import annotations

from .biencoder import BiEncoder
from .config import PairLoss, PairTrainingConfig
from .crossencoder import CrossEncoderModel, CrossEncoderTask
from .data import PairDataset, load_pairs
from .metrics import (
    mrr_at_k,
    ndcg_at_k,
    pair_classification_metrics,
    recall_at_k,
    retrieval_metrics,
)
from .protocols import Encoder
from .retrieval import (
    EXACT_SEARCH_MAX,
    FaissIndex,
    IndexKind,
    evaluate_retrieval,
    mine_hard_negatives,
)

__all__ = [
    "EXACT_SEARCH_MAX",
    "BiEncoder",
    "CrossEncoderModel",
    "CrossEncoderTask",
    "Encoder",
    "FaissIndex",
    "IndexKind",
    "PairDataset",
    "PairLoss",
    "PairTrainingConfig",
    "evaluate_retrieval",
    "load_pairs",
    "mine_hard_negatives",
    "mrr_at_k",
    "ndcg_at_k",
    "pair_classification_metrics",
    "recall_at_k",
    "retrieval_metrics",
]

"""Token classification (named-entity recognition) on the domaintune core.

Same shape as the text classifier: data + entity types + a ``TrainingConfig``.

Example:
    >>> from domaintune import TrainingConfig
    >>> from domaintune.ner import TokenClassifier, load_ner_dataset
    >>> train, val = load_ner_dataset("train.conll", split=0.1)  # doctest: +SKIP
    >>> ner = TokenClassifier.from_pretrained("default", labels=train.entity_types)  # doctest: +SKIP
    >>> ner.fit(train, val, TrainingConfig(epochs=3)).evaluate(val)["entity_f1"]  # doctest: +SKIP
    >>> ner.predict("Ann flew to Oslo")  # doctest: +SKIP

Modules: ``data`` (CoNLL / JSONL spans, BIO validation and repair, conversions), ``alignment``
(word tags to sub-tokens, sliding windows, document context), ``features`` (word shapes),
``decoding`` (argmax or constrained Viterbi BIO decoding), ``metrics`` (seqeval entity-level scores),
``training`` (the loop), ``model`` (``TokenClassifier``), ``commands`` (what the CLI calls).
"""

from __future__ import annotations

from .alignment import encode_windows, first_subtoken_labels, merge_windows
from .data import (
    Repair,
    TagRepair,
    TagScheme,
    TokenDataset,
    bio_chunks,
    conll_to_spans,
    load_ner_dataset,
    read_conll,
    read_spans_jsonl,
    repair_bio,
    spans_to_conll,
    write_conll,
    write_spans_jsonl,
)
from .metrics import entity_metrics
from .model import TokenClassifier, tags_from_labels

__all__ = [
    "Repair",
    "TagRepair",
    "TagScheme",
    "TokenClassifier",
    "TokenDataset",
    "bio_chunks",
    "conll_to_spans",
    "encode_windows",
    "entity_metrics",
    "first_subtoken_labels",
    "load_ner_dataset",
    "merge_windows",
    "read_conll",
    "read_spans_jsonl",
    "repair_bio",
    "spans_to_conll",
    "tags_from_labels",
    "write_conll",
    "write_spans_jsonl",
]

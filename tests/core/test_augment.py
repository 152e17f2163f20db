"""Augmenters: seeded, training split only, label-preserving; paraphrase mining on a toy pool."""

from __future__ import annotations

import random

import pytest

from domaintune import DataError, TextClassifier, TextDataset
from domaintune.augment import (
    BackTranslation,
    EmbeddingSynonyms,
    ParaphraseMining,
    RandomDeletion,
    RandomSwap,
    augment,
)
from domaintune.errors import NotFittedError


@pytest.fixture
def data():
    return TextDataset(texts=["where is my refund please", "my card was stolen today", "hello"],
                       labels=["refund", "card", "greeting"], source="train.csv")


def test_word_augmenters_are_seeded_and_keep_labels(data):
    a = augment(data, [RandomSwap(), RandomDeletion(p=0.3)], copies=2, seed=1)
    b = augment(data, [RandomSwap(), RandomDeletion(p=0.3)], copies=2, seed=1)
    assert a.texts == b.texts and a.labels == b.labels
    assert a.texts[:3] == data.texts and len(a) > len(data)
    for text, label in zip(a.texts[3:], a.labels[3:], strict=True):
        origin = next(t for t, lab in zip(data.texts, data.labels, strict=True) if lab == label)
        assert set(text.split()) <= set(origin.split())
    assert len(set(a.texts)) == len(a.texts)  # no duplicates


def test_swap_changes_order_only(data):
    out = RandomSwap(n=1).generate(data, 1, random.Random(0))
    for text, row in zip(out.texts, out.rows, strict=True):
        assert sorted(text.split()) == sorted(data.texts[row - 1].split())


def test_embedding_synonyms_use_vocabulary_neighbours(tiny_model, data):
    clf = TextClassifier.from_pretrained(tiny_model, labels=data.labels)
    syn = EmbeddingSynonyms(clf, p=1.0, min_similarity=-1.0)
    assert syn.neighbours("refund") and "refund" not in syn.neighbours("refund")
    out = syn.generate(data, 1, random.Random(0))
    assert len(out) >= 1
    for text, label, row in zip(out.texts, out.labels, out.rows, strict=True):
        assert label == data.labels[row - 1] and text != data.texts[row - 1]


def test_paraphrase_mining_adopts_close_pool_texts(tiny_model, data):
    clf = TextClassifier.from_pretrained(tiny_model, labels=data.labels)
    pool = ["where is my refund please", "where is my refund please now", "hello"]
    mined = ParaphraseMining(clf, pool=pool, min_similarity=0.9, margin=0.0).generate(
        data, 2, random.Random(0))
    # exact training texts are excluded from the pool; the near copy is adopted as 'refund'
    assert "where is my refund please now" in mined.texts
    assert mined.labels[mined.texts.index("where is my refund please now")] == "refund"
    with pytest.raises(DataError, match="non-empty unlabelled pool"):
        ParaphraseMining(clf, pool=[]).generate(data, 1, random.Random(0))


def test_back_translation_needs_models(data):
    with pytest.raises(NotFittedError, match="forward= and backward="):
        BackTranslation().generate(data, 1, random.Random(0))

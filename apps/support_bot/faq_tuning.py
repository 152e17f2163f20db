"""Fine-tuning the FAQ bi-encoder on the bot's own (paraphrase, FAQ entry) pairs.

When the FAQ has several question paraphrases per entry, or its entries carry the intents of the
classifier's training examples, those texts say which entry answers which message. Left unused,
retrieval stays at the frozen encoder's level while the classifier already knows the answer.
:func:`faq_pairs` collects the pairs, :func:`fine_tune_encoder` trains the encoder on them with
the core's contrastive pair training (``domaintune.pairs.BiEncoder.fit``: in-batch negatives
plus one mined hard negative per pair).

Example:
    >>> pairs = faq_pairs(kb, train.texts, train.labels, exclude=val.texts)  # doctest: +SKIP
    >>> encoder, report = fine_tune_encoder(kb, pairs, KnowledgeBaseConfig())  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from domaintune import ConfigError, DataError
from domaintune.pairs import BiEncoder, PairDataset

from .config import KnowledgeBaseConfig, Switch
from .knowledge import KnowledgeBase

logger = logging.getLogger(__name__)


def normalise(text: str) -> str:
    """Lower case, single spaces: texts equal up to case and spacing compare equal."""
    return " ".join(re.sub(r"\s+", " ", str(text)).lower().split())


def single_entry_intents(kb: KnowledgeBase) -> dict[str, str]:
    """Intent -> its FAQ entry id, for the intents that have exactly one entry."""
    by_intent: dict[str, list[str]] = {}
    for entry in kb:
        if entry.intent:
            by_intent.setdefault(entry.intent, []).append(entry.id)
    return {intent: ids[0] for intent, ids in by_intent.items() if len(ids) == 1}


def faq_pairs(kb: KnowledgeBase, texts: Sequence[str] = (), labels: Sequence[str] = (), *,
              exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(message, entry id)`` pairs that say which FAQ entry answers which text.

    Args:
        kb: the knowledge base: every question paraphrase of an entry is a pair.
        texts, labels: intent examples; one whose intent has exactly one FAQ entry is a pair
            with that entry (an intent with several entries does not say which one).
        exclude: texts that must not become pairs (the validation messages, which tune the OOS
            detector and the fusion on data the encoder has not seen), compared up to case and
            spacing.

    Returns:
        Distinct pairs, FAQ paraphrases first.
    """
    banned = {normalise(t) for t in exclude}
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []

    def add(text: str, entry_id: str) -> None:
        key = (normalise(text), entry_id)
        if key[0] and key[0] not in banned and key not in seen:
            seen.add(key)
            out.append((text, entry_id))

    for entry in kb:
        for question in entry.questions:
            add(question, entry.id)
    entry_of = single_entry_intents(kb)
    for text, label in zip(texts, labels, strict=True):
        if label in entry_of:
            add(text, entry_of[label])
    return out


def cap_pairs(pairs: list[tuple[str, str]], limit: int, seed: int) -> list[tuple[str, str]]:
    """At most ``limit`` pairs, spread evenly over the entries (round robin over each entry's
    seeded shuffle), so that no entry is left out when the cap bites."""
    if len(pairs) <= limit:
        return list(pairs)
    rng = random.Random(seed)
    groups: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        groups.setdefault(pair[1], []).append(pair)
    for group in groups.values():
        rng.shuffle(group)
    out: list[tuple[str, str]] = []
    depth = 0
    while len(out) < limit:
        for group in groups.values():
            if depth < len(group) and len(out) < limit:
                out.append(group[depth])
        depth += 1
    return out


def fine_tune_epochs(n_pairs: int, config: KnowledgeBaseConfig) -> float:
    """Epochs of the fine-tune: ``fine_tune_training.epochs``, raised (whole epochs) until about
    ``fine_tune_min_steps`` optimizer steps when the pair set is small (not with
    ``max_steps``)."""
    cfg = config.fine_tune_training
    if cfg.max_steps is not None or n_pairs < 1:
        return cfg.epochs
    per_epoch = max(1, -(-n_pairs // cfg.batch_size))
    needed = -(-config.fine_tune_min_steps // per_epoch)
    return float(max(cfg.epochs, needed))


def should_fine_tune(n_pairs: int, n_entries: int, config: KnowledgeBaseConfig) -> tuple[bool, str]:
    """Whether :func:`fine_tune_encoder` runs, and why (in words)."""
    if config.fine_tune == Switch.FALSE:
        return False, "faq.fine_tune is false"
    if config.fine_tune == Switch.TRUE:
        if n_pairs < 2 or n_entries < 2:
            raise ConfigError(f"faq.fine_tune is true but the FAQ gives {n_pairs} (paraphrase, "
                              f"entry) pairs over {n_entries} entries; in-batch negatives need at "
                              "least 2 of each: add question paraphrases (' || ') or an intent "
                              "column, or set faq.fine_tune to auto or false")
        return True, "faq.fine_tune is true"
    if n_entries < 2:
        return False, f"auto: {n_entries} FAQ entry has pairs (needs 2)"
    if n_pairs < config.fine_tune_min_pairs:
        return False, (f"auto: {n_pairs} pairs < faq.fine_tune_min_pairs "
                       f"({config.fine_tune_min_pairs})")
    return True, f"auto: {n_pairs} pairs >= faq.fine_tune_min_pairs ({config.fine_tune_min_pairs})"


def _hard_negatives(encoder: BiEncoder, kb: KnowledgeBase, pairs: list[tuple[str, str]],
                    index_answers: bool) -> list[str]:
    """Per pair, the answer of the wrong entry the (frozen) encoder ranks highest for its text:
    entries scored as the retriever scores them (their best question or answer vector)."""
    ids: list[str] = []
    texts: list[str] = []
    for entry in kb:
        for question in entry.questions:
            ids.append(entry.id)
            texts.append(question)
        if index_answers:
            ids.append(entry.id)
            texts.append(entry.answer)
    order = list(dict.fromkeys(ids))
    column = {entry_id: j for j, entry_id in enumerate(order)}
    cols = np.array([column[e] for e in ids])
    vectors = encoder.encode(texts)
    queries = list(dict.fromkeys(text for text, _ in pairs))
    row_of = {text: i for i, text in enumerate(queries)}
    entries_of_text: dict[str, set[int]] = {}
    for k, text in enumerate(texts):
        entries_of_text.setdefault(normalise(text), set()).add(int(cols[k]))
    best = np.empty((len(queries), len(order)), dtype=np.float32)
    for lo in range(0, len(queries), 256):  # entry score = its best vector, in chunks
        sims = encoder.encode(queries[lo:lo + 256]) @ vectors.T
        chunk = np.full((len(order), sims.shape[0]), -np.inf, dtype=np.float32)
        np.maximum.at(chunk, cols, sims.T)
        best[lo:lo + sims.shape[0]] = chunk.T
    negatives = []
    for text, entry_id in pairs:
        scores = best[row_of[text]].copy()
        scores[column[entry_id]] = -np.inf
        # a text that is also another entry's question is no negative of that entry
        for j in entries_of_text.get(normalise(text), ()):
            scores[j] = -np.inf
        j = int(scores.argmax())
        negatives.append(kb[order[j]].answer if np.isfinite(scores[j]) else "")
    return negatives


def fine_tune_encoder(kb: KnowledgeBase, pairs: list[tuple[str, str]],
                      config: KnowledgeBaseConfig, *, seed: int = 42,
                      encoder: BiEncoder | None = None) -> tuple[BiEncoder, dict[str, Any]]:
    """Fine-tune ``config.encoder`` on ``pairs`` (``(text, entry id)``) with the core's pair
    training: the positive passage is the entry's answer (one text per entry, so the core's
    no-duplicates batches never hold two pairs of one entry: no false in-batch negatives) and,
    with ``fine_tune_hard_negatives``, the answer of the most similar wrong entry.

    Returns:
        ``(encoder, report)``; the report has the pair counts, steps, loss and seconds.
    """
    from .retrieval import load_encoder

    start = time.perf_counter()
    enc = encoder or load_encoder(config.encoder)
    used = cap_pairs(pairs, config.fine_tune_max_pairs, seed)
    cfg = dataclasses.replace(config.fine_tune_training, seed=seed,
                              epochs=fine_tune_epochs(len(used), config))
    negatives = None
    if config.fine_tune_hard_negatives:
        from domaintune.backend import use_backend

        # PyTorch only: an ONNX twin built now for the frozen weights would still answer
        # encode() after fit() changed them (the core's twin check misses the trainer's updates)
        with use_backend("torch"):
            negatives = _hard_negatives(enc, kb, used, config.index_answers)
        keep = [i for i, n in enumerate(negatives) if n]
        used = [used[i] for i in keep]
        negatives = [negatives[i] for i in keep]
    data = PairDataset(queries=[t for t, _ in used], passages=[kb[e].answer for _, e in used],
                       negatives=negatives, source="FAQ paraphrase -> answer pairs")
    if len(data) < 2:
        raise DataError(f"the FAQ gives {len(data)} usable (paraphrase, entry) pairs; fine-tuning "
                        "needs at least 2: set faq.fine_tune to false")
    limit = enc.model.max_seq_length  # the index embeds whole texts, as before the fine-tune
    enc.fit(data, config=cfg)
    enc.model.max_seq_length = limit
    report = {"pairs": len(pairs), "used_pairs": len(data),
              "entries": len({e for _, e in used}), "hard_negatives": negatives is not None,
              "steps": enc.metrics.get("steps"), "train_loss": enc.metrics.get("train_loss"),
              "epochs": cfg.epochs, "batch_size": cfg.batch_size,
              "learning_rate": cfg.learning_rate, "max_length": cfg.max_length,
              "seconds": round(time.perf_counter() - start, 2)}
    logger.info("fine-tuned the FAQ encoder on %d (paraphrase, answer) pairs of %d entries%s in "
                "%.1fs (%s steps)", len(data), report["entries"],
                " with hard negatives" if negatives is not None else "", report["seconds"],
                report["steps"])
    return enc, report

"""Data augmentation for the training split only (never validation or test), seeded.

Built-in, offline augmenters:

- :class:`RandomDeletion` and :class:`RandomSwap` (EDA, Wei & Zou 2019);
- :class:`EmbeddingSynonyms`: replace words by their nearest neighbours in the encoder's own
  input-embedding space (no WordNet download needed);
- :class:`ParaphraseMining`: label-preserving paraphrases mined from an unlabelled pool: a pool
  text joins a label when it is very close to an example of that label and clearly closer to
  that label than to any other;
- :class:`BackTranslation`: round trip through two translation models that you supply by path
  (e.g. MarianMT en→de and de→en directories).

Example:
    >>> train_aug = augment(train, [RandomSwap(), RandomDeletion()], copies=1, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .data import TextDataset
from .errors import DataError, NotFittedError

logger = logging.getLogger(__name__)


class Augmenter(Protocol):
    """Turns a list of (text, label) examples into new examples; ``name`` identifies it."""

    name: str

    def generate(self, data: TextDataset, copies: int, rng: random.Random) -> TextDataset: ...


def _words_augmenter(data: TextDataset, copies: int, rng: random.Random, edit) -> TextDataset:
    texts, labels, rows = [], [], []
    for i, text in enumerate(data.texts):
        words = text.split()
        for _ in range(copies):
            new = edit(list(words), rng)
            candidate = " ".join(new).strip()
            if candidate and candidate != text:
                texts.append(candidate)
                labels.append(data.labels[i])
                rows.append(data.rows[i])
    return TextDataset(texts, labels, source=f"{data.source}[augmented]", rows=rows,
                       multi_label=data.multi_label)


@dataclass
class RandomDeletion:
    """Delete each word with probability ``p`` (keeps at least one word)."""

    p: float = 0.1
    name: str = "random_deletion"

    def generate(self, data: TextDataset, copies: int, rng: random.Random) -> TextDataset:
        def edit(words, r):
            kept = [w for w in words if r.random() > self.p]
            return kept or [r.choice(words)] if words else words

        return _words_augmenter(data, copies, rng, edit)


@dataclass
class RandomSwap:
    """Swap ``n`` random pairs of words."""

    n: int = 1
    name: str = "random_swap"

    def generate(self, data: TextDataset, copies: int, rng: random.Random) -> TextDataset:
        def edit(words, r):
            for _ in range(self.n):
                if len(words) >= 2:
                    i, j = r.sample(range(len(words)), 2)
                    words[i], words[j] = words[j], words[i]
            return words

        return _words_augmenter(data, copies, rng, edit)


@dataclass
class EmbeddingSynonyms:
    """Replace a fraction ``p`` of words with a nearest neighbour in the input-embedding space.

    Only whole-word vocabulary entries (alphabetic, not ``##`` pieces) are candidates; the
    neighbour must have cosine similarity ≥ ``min_similarity``.
    """

    classifier: object  # a TextClassifier (its tokenizer and encoder input embeddings)
    p: float = 0.15
    k: int = 5
    min_similarity: float = 0.45
    name: str = "embedding_synonyms"
    _neighbours: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def _fit(self) -> None:
        tok = self.classifier.tokenizer
        vocab = tok.get_vocab()
        words = [w for w in vocab if w.isalpha() and len(w) > 2 and not w.startswith("##")]
        ids = [vocab[w] for w in words]
        matrix = self.classifier.model.encoder.get_input_embeddings().weight.detach().cpu().numpy()[ids]
        matrix = matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12)
        self._words, self._matrix = words, matrix.astype(np.float32)
        self._index = {w: i for i, w in enumerate(words)}

    def neighbours(self, word: str) -> list[str]:
        if not hasattr(self, "_matrix"):
            self._fit()
        key = word.lower()
        if key not in self._neighbours:
            i = self._index.get(key)
            if i is None:
                self._neighbours[key] = []
            else:
                sims = self._matrix @ self._matrix[i]
                best = np.argsort(-sims)[1 : self.k + 1]
                self._neighbours[key] = [self._words[j] for j in best if sims[j] >= self.min_similarity]
        return self._neighbours[key]

    def generate(self, data: TextDataset, copies: int, rng: random.Random) -> TextDataset:
        def edit(words, r):
            for i, w in enumerate(words):
                if r.random() < self.p:
                    options = self.neighbours(w.strip(".,?!"))
                    if options:
                        words[i] = r.choice(options)
            return words

        return _words_augmenter(data, copies, rng, edit)


@dataclass
class ParaphraseMining:
    """Label unlabelled ``pool`` texts that paraphrase a training example (label-preserving).

    A pool text is adopted for label ``y`` when its cosine similarity to its nearest training
    example (of label ``y``) is ≥ ``min_similarity`` and beats the nearest example of any other
    label by ``margin``. At most ``copies`` pool texts are adopted per training example.
    """

    classifier: object  # a TextClassifier used for embeddings
    pool: Sequence[str] = ()
    min_similarity: float = 0.8
    margin: float = 0.05
    name: str = "paraphrase_mining"

    def generate(self, data: TextDataset, copies: int, rng: random.Random) -> TextDataset:
        import faiss

        if data.multi_label:
            raise DataError("paraphrase mining supports single-label data only")
        pool = [t for t in dict.fromkeys(self.pool) if t.strip() and t not in set(data.texts)]
        if not pool:
            raise DataError("paraphrase mining needs a non-empty unlabelled pool of texts")
        train_emb = self.classifier.embed(data.texts).astype(np.float32)
        pool_emb = self.classifier.embed(pool).astype(np.float32)
        faiss.normalize_L2(train_emb)
        faiss.normalize_L2(pool_emb)
        index = faiss.IndexFlatIP(train_emb.shape[1])
        index.add(train_emb)
        k = min(len(data), 20)
        sims, nbrs = index.search(pool_emb, k)
        labels = np.array(data.labels)
        adopted: dict[int, list[tuple[float, int]]] = {}
        for p in range(len(pool)):
            best_label = labels[nbrs[p, 0]]
            other = [s for s, j in zip(sims[p], nbrs[p], strict=True) if labels[j] != best_label]
            runner_up = other[0] if other else -1.0
            if sims[p, 0] >= self.min_similarity and sims[p, 0] - runner_up >= self.margin:
                adopted.setdefault(int(nbrs[p, 0]), []).append((float(sims[p, 0]), p))
        texts, out_labels, rows = [], [], []
        for i, cands in adopted.items():
            for _, p in sorted(cands, reverse=True)[:copies]:
                texts.append(pool[p])
                out_labels.append(data.labels[i])
                rows.append(data.rows[i])
        logger.info("paraphrase mining adopted %d of %d pool texts", len(texts), len(pool))
        return TextDataset(texts, out_labels, source=f"{data.source}[mined]", rows=rows)


@dataclass
class BackTranslation:
    """Round-trip translation with two local seq2seq models (``forward`` then ``backward``)."""

    forward: str = ""
    backward: str = ""
    batch_size: int = 16
    name: str = "back_translation"

    def _translate(self, model_dir: str, texts: list[str]) -> list[str]:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from .hub import resolve_model

        path = resolve_model(model_dir)
        tok = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSeq2SeqLM.from_pretrained(str(path)).eval()
        import torch

        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = tok(texts[i : i + self.batch_size], return_tensors="pt", padding=True,
                          truncation=True)
                gen = model.generate(**enc, max_new_tokens=128, num_beams=2)
                out.extend(tok.batch_decode(gen, skip_special_tokens=True))
        return out

    def generate(self, data: TextDataset, copies: int, rng: random.Random) -> TextDataset:
        if not self.forward or not self.backward:
            raise NotFittedError("back-translation needs forward= and backward= translation "
                                 "model directories (e.g. MarianMT en-de and de-en)")
        there = self._translate(self.forward, list(data.texts))
        back = self._translate(self.backward, there)
        keep = [i for i, t in enumerate(back) if t.strip() and t.strip() != data.texts[i]]
        return TextDataset([back[i] for i in keep], [data.labels[i] for i in keep],
                           source=f"{data.source}[back-translated]", rows=[data.rows[i] for i in keep],
                           multi_label=data.multi_label)


def augment(train: TextDataset, augmenters: Sequence[Augmenter], *, copies: int = 1,
            seed: int = 42) -> TextDataset:
    """Return ``train`` followed by what each augmenter generates from it (seeded).

    Apply this to the training split only, after splitting off validation and test data.
    Generated texts that duplicate an existing text are dropped (and counted in the log).
    """
    if train.labels is None:
        raise DataError(f"{train.source}: augmentation needs labelled training data")
    out = train
    seen = set(train.texts)
    for aug in augmenters:
        generated = aug.generate(train, copies, random.Random(seed))
        keep = []
        for i, text in enumerate(generated.texts):
            if text not in seen:
                seen.add(text)
                keep.append(i)
        logger.info("%s: %d new examples (%d duplicates dropped)", aug.name, len(keep),
                    len(generated) - len(keep))
        out = out.concat(generated.subset(keep), source=train.source)
    return out

"""FAQ retrieval: question paraphrases (and answers) embedded by a ``domaintune.pairs.BiEncoder``
into a ``domaintune.pairs.FaissIndex``, searched per message, optionally restricted to the
predicted intent and re-ranked by a ``CrossEncoderModel``.

Each entry contributes one vector per question paraphrase (ids ``<entry id>#q<k>``) and, with
``index_answers``, one for its answer (``<entry id>#a``); an entry's score is its best vector's
cosine similarity. The index sidecar records the encoder's fingerprint, so loading it with a
different encoder is refused.

Example:
    >>> retriever = FaqRetriever.build(kb, KnowledgeBaseConfig())  # doctest: +SKIP
    >>> retriever.search(["where is my refund?"])[0][:2]  # doctest: +SKIP
    [('faq-011', 0.71), ('faq-012', 0.64)]
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from domaintune import ModelLoadError
from domaintune.pairs import BiEncoder, CrossEncoderModel, FaissIndex
from domaintune.persistence import write_json_atomic

from .config import KnowledgeBaseConfig
from .knowledge import KnowledgeBase

logger = logging.getLogger("support_bot")

INDEX_DIR = "index"
ENCODER_DIR = "encoder"  # the fine-tuned FAQ encoder (BiEncoder.save), when faq.fine_tune ran
ENTRIES_FILE = "entries.jsonl"
MANIFEST_FILE = "retrieval.json"


def load_encoder(name: str) -> BiEncoder:
    """A ``BiEncoder`` from ``"default"``, a ``BiEncoder.save`` directory or any model dir/hub id."""
    path = Path(name)
    if path.is_dir() and (path / "domaintune.json").is_file():
        return BiEncoder.load(path)
    return BiEncoder.from_pretrained(name)


def load_cross_encoder(name: str) -> CrossEncoderModel:
    """A trained ``CrossEncoderModel`` from a ``CrossEncoderModel.save`` directory."""
    path = Path(name)
    if not (path.is_dir() and (path / "domaintune.json").is_file()):
        raise ModelLoadError(f"faq.cross_encoder expects a directory written by "
                             f"CrossEncoderModel.save (a trained re-ranker), found {name!r}; train "
                             "one with domaintune.pairs.CrossEncoderModel(...).fit(pairs).save(dir) "
                             "or set faq.cross_encoder to null")
    return CrossEncoderModel.load(path)


def _entry_of(vector_id: Any) -> str:
    """The FAQ entry of an index vector id (``<entry id>#q<k>`` or ``<entry id>#a``)."""
    return str(vector_id).rpartition("#")[0]


@dataclass(frozen=True)
class Ranking:
    """Retrieval result for one message.

    Attributes:
        entries: ``(entry id, score)`` best first: entries of the requested intent first (when
            restricted), then the others. Scores are cosine similarities, or cross-encoder
            scores for the re-ranked head of the list.
        top_similarity: cosine similarity of the best entry over the whole knowledge base (the
            out-of-scope signal; never re-ranked or restricted).
        restricted: whether the list starts with entries of the requested intent.
        fused: whether the list is the answer fusion's (scores: its probability that the entry
            is the right one; see :mod:`support_bot.fusion`).
    """

    entries: tuple[tuple[str, float], ...]
    top_similarity: float
    restricted: bool = False
    fused: bool = False

    @property
    def ids(self) -> list[str]:
        return [entry_id for entry_id, _ in self.entries]


class FaqRetriever:
    """Nearest FAQ entries for messages. Build with :meth:`build` or :meth:`load`.

    Args:
        kb: the knowledge base.
        encoder: the bi-encoder of questions and messages.
        index: a fitted ``FaissIndex`` over ``kb``'s vectors.
        config: retrieval settings.
        cross_encoder: an optional re-ranker.
        fine_tuned: the fine-tune's report when ``encoder`` was fine-tuned on the FAQ's pairs
            (it is then saved with the retriever, in ``kb/encoder/``); ``None`` otherwise.
        encoder_source: the saved fine-tuned encoder's directory (to copy it when the loaded
            encoder is an ONNX export).
    """

    def __init__(self, kb: KnowledgeBase, encoder: BiEncoder, index: FaissIndex,
                 config: KnowledgeBaseConfig, cross_encoder: CrossEncoderModel | None = None, *,
                 fine_tuned: dict[str, Any] | None = None,
                 encoder_source: Path | None = None) -> None:
        self.kb = kb
        self.encoder = encoder
        self.index = index
        self.config = config
        self.cross_encoder = cross_encoder
        self.fine_tuned = fine_tuned
        self.encoder_source = encoder_source
        self._vector_text: dict[str, str] | None = None
        self._vectors_per_entry = max(1.0, len(index) / max(1, len(kb)))
        self._intent_of = {e.id: e.intent for e in kb}
        self.entries_per_intent: dict[str, int] = {}
        for e in kb:
            if e.intent:
                self.entries_per_intent[e.intent] = self.entries_per_intent.get(e.intent, 0) + 1
        self._intents = frozenset(i for i in self._intent_of.values() if i)
        self._vectors_of: dict[str, list[Any]] = {}  # intent -> its index ids (entry#q0 ...)
        for vector_id in index.ids_.tolist():
            intent = self._intent_of.get(_entry_of(vector_id))
            if intent:
                self._vectors_of.setdefault(intent, []).append(vector_id)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def vector_texts(kb: KnowledgeBase, index_answers: bool) -> tuple[list[str], list[str]]:
        """``(ids, texts)`` of the vectors an index over ``kb`` holds."""
        ids: list[str] = []
        texts: list[str] = []
        for entry in kb:
            for k, question in enumerate(entry.questions):
                ids.append(f"{entry.id}#q{k}")
                texts.append(question)
            if index_answers:
                ids.append(f"{entry.id}#a")
                texts.append(entry.answer)
        return ids, texts

    @classmethod
    def build(cls, kb: KnowledgeBase, config: KnowledgeBaseConfig, *,
              encoder: BiEncoder | None = None, batch_size: int = 64,
              progress: bool = False, fine_tuned: dict[str, Any] | None = None) -> FaqRetriever:
        """Embed ``kb`` with ``config.encoder`` (or ``encoder``) and index it.

        ``fine_tuned``: the fine-tune's report when ``encoder`` was fine-tuned on the FAQ's
        pairs (:mod:`support_bot.faq_tuning`); the encoder is then saved with the retriever.

        Example:
            >>> FaqRetriever.build(kb, KnowledgeBaseConfig(encoder="default"))  # doctest: +SKIP
        """
        enc = encoder or load_encoder(config.encoder)
        ids, texts = cls.vector_texts(kb, config.index_answers)
        vectors = enc.encode(texts, batch_size=batch_size, progress=progress)
        index = FaissIndex(kind=config.index_kind, exact_max=config.exact_max).fit(
            vectors, ids=ids, encoder=enc)
        ce = load_cross_encoder(config.cross_encoder) if config.cross_encoder else None
        logger.info("indexed %d FAQ entries as %d vectors (%s index)", len(kb), len(ids),
                    index.kind_.value)
        return cls(kb, enc, index, config, ce, fine_tuned=fine_tuned)

    def save(self, directory: str | Path) -> Path:
        """Write ``entries.jsonl``, the index directory, a manifest and (when fine-tuned) the
        encoder (``encoder/``) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.kb.write_jsonl(directory / ENTRIES_FILE)
        self.index.save(directory / INDEX_DIR)
        if self.fine_tuned is not None:
            if isinstance(self.encoder, BiEncoder):
                self.encoder.save(directory / ENCODER_DIR)
            elif self.encoder_source is not None and self.encoder_source.is_dir():
                shutil.copytree(self.encoder_source, directory / ENCODER_DIR)
            else:
                raise ModelLoadError("the fine-tuned FAQ encoder cannot be saved: this retriever "
                                     "serves an ONNX export and knows no saved encoder to copy; "
                                     "load the bot with runtime 'torch'")
        write_json_atomic(directory / MANIFEST_FILE, {
            "encoder": self.config.encoder, "encoder_info": self.encoder.encoder_info,
            "entries": len(self.kb), "vectors": len(self.index), "kind": self.index.kind_.value,
            "index_answers": self.config.index_answers, "fine_tuned": self.fine_tuned})
        return directory

    @classmethod
    def load(cls, directory: str | Path, config: KnowledgeBaseConfig, *,
             encoder: BiEncoder | None = None) -> FaqRetriever:
        """Load what :meth:`save` wrote; the index must have been built with this encoder.

        A retriever saved with a fine-tuned encoder loads it from ``encoder/`` (unless
        ``encoder`` is given: e.g. its ONNX export); one saved without (older bots, or
        ``faq.fine_tune`` off) loads ``config.encoder``.

        Raises:
            ModelLoadError: the index is missing or corrupted, or was built with a different
                encoder than ``config.encoder``.
        """
        directory = Path(directory)
        kb = KnowledgeBase.read_jsonl(directory / ENTRIES_FILE)
        fine_tuned = read_manifest(directory).get("fine_tuned")
        source = directory / ENCODER_DIR if fine_tuned is not None else None
        if fine_tuned is not None and not (source / "domaintune.json").is_file():
            raise ModelLoadError(f"{directory} was saved with a fine-tuned FAQ encoder, but "
                                 f"{source} is missing; retrain the bot")
        if encoder is not None:
            enc = encoder
        elif source is not None:
            enc = BiEncoder.load(source)
        else:
            enc = load_encoder(config.encoder)
        try:
            index = FaissIndex.load(directory / INDEX_DIR, encoder=enc)
        except ModelLoadError as exc:
            raise ModelLoadError(f"support bot FAQ index: {exc}. Rebuild the bot with "
                                 "`support-bot train` (or set faq.encoder to the encoder the "
                                 "index was built with)") from None
        ce = load_cross_encoder(config.cross_encoder) if config.cross_encoder else None
        return cls(kb, enc, index, config, ce, fine_tuned=fine_tuned, encoder_source=source)

    # ------------------------------------------------------------------ search
    def encode(self, texts: list[str]) -> np.ndarray:
        """Message embeddings (normalised float32)."""
        return self.encoder.encode(texts)

    def _entry_scores(self, scores: np.ndarray, ids: np.ndarray) -> list[tuple[str, float]]:
        best: dict[str, float] = {}
        for score, vid in zip(scores.tolist(), ids.tolist(), strict=True):
            if vid is None or not np.isfinite(score):
                continue
            entry_id = _entry_of(vid)
            if entry_id not in best:
                best[entry_id] = float(score)
        return list(best.items())

    def search(self, texts: list[str], intents: list[str | None] | None = None, *,
               vectors: np.ndarray | None = None) -> list[Ranking]:
        """Rank FAQ entries for each message.

        Args:
            texts: the messages.
            intents: per message, the intent to restrict to (``None`` = no restriction);
                ignored unless ``config.restrict_to_intent``.
            vectors: the messages' embeddings, when already computed.

        Returns:
            One :class:`Ranking` per message.
        """
        if not texts:
            return []
        q = self.encode(texts) if vectors is None else vectors
        n_vectors = len(self.index)
        k = int(min(n_vectors, max(self.config.candidates, self.config.top_k) *
                    np.ceil(self._vectors_per_entry)))
        scores, ids = self.index.search(q, k=k)
        out = []
        for i, text in enumerate(texts):
            ranked = self._entry_scores(scores[i], ids[i])
            top = ranked[0][1] if ranked else 0.0
            intent = intents[i] if intents is not None else None
            restricted = False
            if intent is not None and self.config.restrict_to_intent:
                ranked, restricted = self._restrict(q[i], ranked, intent, k)
            if self.cross_encoder is not None and ranked:
                ranked = self._rerank(text, ranked, restricted, intent)
            out.append(Ranking(tuple(ranked), top, restricted))
        return out

    @property
    def intent_of(self) -> dict[str, str | None]:
        """Entry id -> its intent (``None``: eligible for any intent)."""
        return self._intent_of

    def _text_of(self, vector_id: Any) -> str:
        """The text of an index vector (``<entry>#q<k>``: its k-th question; ``#a``: answer)."""
        if self._vector_text is None:
            ids, texts = self.vector_texts(self.kb, True)
            self._vector_text = dict(zip(ids, texts, strict=True))
        return self._vector_text.get(str(vector_id), "")

    def candidates(self, vectors: np.ndarray, intents: list[list[str]], *,
                   exclude_texts: list[str] | None = None) -> list[list[tuple[str, float]]]:
        """Candidate entries per message for the answer fusion: the nearest ``faq.candidates``
        entries and every entry of the given intents, as ``(entry id, cosine)`` best first.

        Args:
            vectors: the messages' embeddings.
            intents: per message, intents whose entries join the candidates (searched among
                that intent's vectors when none came with the nearest).
            exclude_texts: per message, a text whose vectors are left out (equal up to case
                and spacing): a validation message that is also an FAQ question must not find
                itself (leave-one-out features for learning the fusion).
        """
        from .faq_tuning import normalise

        n_vectors = len(self.index)
        k = int(min(n_vectors, self.config.candidates * np.ceil(self._vectors_per_entry)))
        extra = 0 if exclude_texts is None else 1
        scores, ids = self.index.search(vectors, k=min(n_vectors, k + extra))
        out = []
        for i in range(len(vectors)):
            banned = normalise(exclude_texts[i]) if exclude_texts is not None else None

            def keep(s: np.ndarray, v: np.ndarray, banned=banned):
                if banned is None:
                    return s, v
                ok = np.array([x is not None and normalise(self._text_of(x)) != banned
                               for x in v.tolist()], dtype=bool)
                return s[ok], v[ok]

            kept_s, kept_v = keep(scores[i], ids[i])
            # the k nearest that are left: one more was fetched for the excluded text, and a
            # message without one must get what a reply gets (k, not k + 1)
            ranked = self._entry_scores(kept_s[:k], kept_v[:k])
            have = {self._intent_of.get(e) for e, _ in ranked}
            for intent in intents[i]:
                if intent in have or intent not in self._vectors_of:
                    continue
                subset = self._vectors_of[intent]
                s, v = self.index.search(vectors[i], k=len(subset), subset=subset)
                seen = {e for e, _ in ranked}
                ranked += [x for x in self._entry_scores(*keep(s[0], v[0])) if x[0] not in seen]
            out.append(sorted(ranked, key=lambda x: -x[1]))
        return out

    def _restrict(self, vector: np.ndarray, ranked: list[tuple[str, float]], intent: str,
                  k: int) -> tuple[list[tuple[str, float]], bool]:
        """Entries of ``intent`` (and intent-less ones) first; widen the search if none came."""
        if intent not in self._intents:
            return ranked, False

        def split(items: list[tuple[str, float]]):
            inside = [x for x in items if self._intent_of.get(x[0]) in (intent, None)]
            outside = [x for x in items if self._intent_of.get(x[0]) not in (intent, None)]
            return inside, outside

        inside, outside = split(ranked)
        if not any(self._intent_of.get(x[0]) == intent for x in inside):
            # none of the intent's entries is among the nearest: search only among them
            scores, ids = self.index.search(vector, k=k, subset=self._vectors_of[intent])
            own = self._entry_scores(scores[0], ids[0])
            seen = {x[0] for x in own}
            ranked = sorted(own + [x for x in ranked if x[0] not in seen], key=lambda x: -x[1])
            inside, outside = split(ranked)
        return inside + outside, True

    def _rerank(self, text: str, ranked: list[tuple[str, float]], restricted: bool,
                intent: str | None) -> list[tuple[str, float]]:
        head = ranked[: self.config.rerank_candidates]
        if restricted:
            head = [x for x in head if self._intent_of.get(x[0]) in (intent, None)] or head
        passages = [self._passage(entry_id) for entry_id, _ in head]
        order = self.cross_encoder.rank(text, passages)
        reranked = [(head[r["index"]][0], float(r["score"])) for r in order]
        done = {entry_id for entry_id, _ in reranked}
        return reranked + [x for x in ranked if x[0] not in done]

    def _passage(self, entry_id: str) -> str:
        entry = self.kb[entry_id]
        return f"{entry.questions[0]} {entry.answer}"

    def describe(self) -> dict[str, Any]:
        """Sizes and settings, for summaries."""
        return {"entries": len(self.kb), "vectors": len(self.index), "kind": self.index.kind_.value,
                "encoder": self.config.encoder, "cross_encoder": self.config.cross_encoder,
                "fine_tuned": self.fine_tuned}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The retrieval manifest of a saved bot (``{}`` when absent)."""
    path = Path(directory) / MANIFEST_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

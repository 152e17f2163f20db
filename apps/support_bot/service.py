"""The support bot's service: load a bot directory, analyse messages, reply, take feedback.

What the UI, the CLI and the REST API call. A bot directory holds ``bot.json`` (version,
parent, config, summary), ``config.yaml`` (the same config, for people), ``intent_model/`` (a
``domaintune.TextClassifier``), ``kb/`` (FAQ entries and their FAISS index), ``oos.json`` (the
tuned detector), ``oos_examples.jsonl`` (the OOS examples, to re-tune after retraining),
``onnx/`` (ONNX exports of both encoders), ``fusion.json`` (the learned answer fusion, when
there is one), ``kb/encoder/`` (the FAQ encoder, when it was fine-tuned) and, once the bot has
talked, ``log.db``.

The models run here; the dialogue decisions are :func:`support_bot.policy.decide` (pure);
training is :mod:`support_bot.training`, evaluation :mod:`support_bot.evaluation`.

Example:
    >>> bot = SupportBot.train(BotConfig(intents_file="data/support/intents.csv",
    ...                                  faq_file="data/support/faq.csv",
    ...                                  oos_file="data/support/oos.csv"), "models/bot")  # doctest: +SKIP
    >>> reply = SupportBot.load("models/bot").reply("c1", "my card hasn't arrived")  # doctest: +SKIP
    >>> reply.intent, reply.outcome  # doctest: +SKIP
    ('card_not_arrived', <Outcome.ANSWERED: 'answered'>)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
import uuid
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from domaintune import (
    ConfigError,
    DataError,
    ModelLoadError,
    Runtime,
    TextClassifier,
    TextDataset,
)
from domaintune.artifacts import read_record, verify_files, write_artifact
from domaintune.data import clean_text
from domaintune.errors import closest
from domaintune.export import OnnxBiEncoder, OnnxTextClassifier, resolve_runtime
from domaintune.persistence import write_json_atomic, write_text_atomic

from .config import BotConfig
from .dialogue import ConversationContext
from .fusion import AnswerFusion
from .knowledge import KnowledgeBase
from .oos import OOSDetector
from .policy import MessageAnalysis, Outcome, PolicyConfig, decide, followup_query
from .retrieval import FaqRetriever, Ranking, read_manifest
from .store import Feedback, LogStore

if TYPE_CHECKING:
    from .policy import Decision

logger = logging.getLogger(__name__)

TASK = "support-bot"
BOT_FILE = "bot.json"
CONFIG_FILE = "config.yaml"
INTENT_DIR = "intent_model"
KB_DIR = "kb"
OOS_FILE = "oos.json"
FUSION_FILE = "fusion.json"  # the learned answer fusion (JSON coefficients), when faq.fusion made one
OOS_EXAMPLES_FILE = "oos_examples.jsonl"
ONNX_DIR = "onnx"  # ONNX exports: onnx/intent_model, onnx/faq_encoder
FAQ_ENCODER_DIR = "faq_encoder"
REPORTS_DIR = "reports"
_MAX_CACHED_CONTEXTS = 10_000
_MAX_CONVERSATION_ID = 200


@dataclass(frozen=True)
class Reply:
    """The bot's answer to one message.

    Attributes:
        text: what to show the customer.
        intent: the intent acted on (the predicted one, or the reused one of a follow-up);
            ``None`` for an empty message.
        confidence: the classifier's calibrated probability of ``intent``.
        answer_id: the FAQ entry (or ``response:<intent>``) answered or waiting for slots.
        top_answers: ``(entry id, score, answer text)`` of the best FAQ matches.
        outcome: ``answered``, ``asked_slot``, ``oos``, ``handoff`` or ``empty``.
        handoff: the conversation is queued for an agent.
        missing_slots: slot names the bot is asking for.
        turn_id: id of the logged turn (for :meth:`SupportBot.feedback`); ``None`` if not logged.
        conversation_id: the conversation (generated when none was given).
        reason: why the bot did what it did, in words.
        similarity: cosine similarity of the best FAQ match (the OOS signal).
        in_scope_score: the OOS detector's score of the message (``None`` without a detector).
        in_scope_threshold: the score a message needs to be in scope.
        in_scope: whether the bot treated the message as in scope (``False``: out of scope,
            or a handoff after out-of-scope turns; then ``intent`` is only the classifier's
            guess).
    """

    text: str
    intent: str | None
    confidence: float
    answer_id: str | None
    top_answers: tuple[tuple[str, float, str], ...]
    outcome: Outcome
    handoff: bool
    missing_slots: tuple[str, ...]
    turn_id: int | None
    conversation_id: str = ""
    reason: str = ""
    similarity: float = 0.0
    in_scope_score: float | None = None
    in_scope_threshold: float | None = None
    in_scope: bool = True


@dataclass(frozen=True)
class Analysis:
    """What the models say about one message (no dialogue state, nothing logged).

    Attributes:
        text: the message as given to the models.
        intent: the classifier's top intent.
        confidence: its calibrated probability.
        similarity: the best FAQ match's cosine similarity over the whole knowledge base.
        in_scope: the OOS detector's decision (``True`` when no detector is fitted yet).
        ranking: FAQ entries, restricted to ``intent`` first when configured.
        probabilities: calibrated probability of every class of the classifier.
        oos_probability: the probability of the classifier's out-of-scope class (0 when it was
            not trained with one).
        in_scope_score: the OOS detector's score (``None`` when no detector is fitted yet).
        in_scope_threshold: the score needed to be in scope.
    """

    text: str
    intent: str
    confidence: float
    similarity: float
    in_scope: bool
    ranking: Ranking
    probabilities: np.ndarray = field(repr=False)
    oos_probability: float = 0.0
    in_scope_score: float | None = None
    in_scope_threshold: float | None = None



def now() -> str:
    """The current UTC time, ISO 8601 to the second (the bot's timestamps)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class SupportBot:
    """A trained support bot. Build one with :meth:`train` or :meth:`load`.

    Thread-safe: replies to different conversations run concurrently (model calls are
    serialised, logging is not); replies to one conversation are serialised by a lock.

    Args:
        config: the bot's settings.
        classifier: the trained intent classifier.
        retriever: the FAQ retriever.
        detector: the fitted OOS detector (``None`` while tuning it).
        directory: the bot directory (where the log lives), if saved.
        meta: the ``bot.json`` record.
        fusion: the learned answer fusion (``None``: the intent-restricted ranking).
    """

    def __init__(self, config: BotConfig, classifier: TextClassifier, retriever: FaqRetriever,
                 detector: OOSDetector | None = None, *, directory: str | Path | None = None,
                 meta: dict[str, Any] | None = None, fusion: AnswerFusion | None = None) -> None:
        self.config = config
        self.classifier = classifier
        self.retriever = retriever
        self.detector = detector
        self.fusion = fusion
        self.directory = Path(directory) if directory is not None else None
        self.meta = dict(meta or {})
        self._model_lock = threading.Lock()
        self._guard = threading.Lock()
        self._conversation_locks: weakref.WeakValueDictionary[str, threading.Lock] = \
            weakref.WeakValueDictionary()
        self._contexts: OrderedDict[str, ConversationContext] = OrderedDict()
        self._log: LogStore | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._policy: PolicyConfig | None = None

    # ------------------------------------------------------------------ properties
    @property
    def intents(self) -> list[str]:
        """The intents the classifier knows (not its out-of-scope classes)."""
        oos = set(self.oos_classes)
        return [lab for lab in self.classifier.labels if lab not in oos]

    @property
    def oos_classes(self) -> list[str]:
        """The classifier's out-of-scope classes (``oos_train_file``; one per topic with
        ``oos.topic_column``), as recorded when the bot was trained; empty when it has none."""
        return list(self.meta.get("oos_classes", []))

    @property
    def has_oos_class(self) -> bool:
        """Whether the classifier learned out-of-scope classes (``oos_train_file``)."""
        return bool(self.oos_classes)

    @property
    def kb(self) -> KnowledgeBase:
        return self.retriever.kb

    @property
    def version(self) -> int:
        """1 for a trained bot, +1 per retrain."""
        return int(self.meta.get("version", 1))

    @property
    def log(self) -> LogStore:
        """The conversation log of this bot's directory (opened on first use)."""
        if self._log is None:
            with self._guard:
                if self._log is None:
                    if self.directory is None:
                        raise DataError("this bot has not been saved, so it has no log; save it "
                                        "(SupportBot.train(config, output_dir)) or load one")
                    cfg = self.config.log
                    self._log = LogStore(self.directory / cfg.file, busy_timeout_s=cfg.busy_timeout_s,
                                         max_retries=cfg.max_retries)
        return self._log

    def close(self) -> None:
        """Close the log's database connections (and the encoder thread, if any)."""
        if self._log is not None:
            self._log.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    @property
    def _side_by_side(self) -> bool:
        """Both models are ONNX Runtime sessions, which release the GIL: run them concurrently."""
        return (isinstance(self.classifier, OnnxTextClassifier)
                and isinstance(self.retriever.encoder, OnnxBiEncoder))

    def __enter__(self) -> SupportBot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f", directory={str(self.directory)!r}" if self.directory else ""
        return (f"SupportBot(version={self.version}, intents={len(self.intents)}, "
                f"faq_entries={len(self.kb)}{where})")

    # ------------------------------------------------------------------ training (training.py)
    @classmethod
    def train(cls, config: BotConfig, output_dir: str | Path | None = None, *,
              overwrite: bool = False) -> SupportBot:
        """Train and save a bot: see :func:`support_bot.training.train`.

        Example:
            >>> cfg = BotConfig.from_yaml("apps/support_bot/sample_bot.yaml")  # doctest: +SKIP
            >>> bot = SupportBot.train(cfg, "models/bot")  # doctest: +SKIP
        """
        from .training import train

        return train(config, output_dir, overwrite=overwrite)

    def tune_oos(self, validation: TextDataset, oos_texts: list[str] | None = None) -> OOSDetector:
        """Fit an :class:`OOSDetector`: see :func:`support_bot.training.tune_oos`."""
        from .training import tune_oos

        return tune_oos(self, validation, oos_texts)

    def retrain(self, output_dir: str | Path, *, replay_ratio: float | None = None) -> SupportBot:
        """Learn from the log's feedback into a new version: see
        :func:`support_bot.training.retrain`.

        Example:
            >>> new = SupportBot.load("models/bot").retrain("models/bot-v2")  # doctest: +SKIP
        """
        from .training import retrain

        return retrain(self, output_dir, replay_ratio=replay_ratio)

    def evaluate(self, data: TextDataset, oos_texts: list[str] | None = None,
                 faq_queries: list[tuple[str, str]] | None = None,
                 output_dir: str | Path | None = None) -> dict[str, Any]:
        """Accuracy, OOS recall/precision, retrieval quality and a report: see
        :func:`support_bot.evaluation.evaluate`."""
        from .evaluation import evaluate

        return evaluate(self, data, oos_texts, faq_queries, output_dir)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path, *, oos_texts: list[str] | None = None,
             overwrite: bool = False) -> Path:
        """Write the bot directory atomically (a temporary folder renamed into place).

        Args:
            directory: a new or empty directory.
            oos_texts: the out-of-scope examples kept with the bot (default: the saved ones).
            overwrite: replace an earlier bot directory (its conversation log is lost); a
                directory holding anything else is never replaced.
        """
        if self.detector is None:
            raise DataError("the OOS detector is not tuned; call tune_oos() first")
        directory = Path(directory)
        if oos_texts is None and self.directory is not None:
            oos_texts = read_oos_examples(self.directory)
        meta = {k: v for k, v in self.meta.items()
                if k not in ("format_version", "domaintune_version", "task", "contents", "files",
                             "runtime_files", "onnx")}
        meta["config"] = self.config.to_dict()
        if not isinstance(self.classifier, TextClassifier):
            raise DataError("this bot serves an ONNX export of its classifier, which cannot be "
                            "saved again; load it with runtime 'torch' to save it (retrain works "
                            "from either)")
        if self._log is not None:  # reopened under the saved directory on the next turn
            self._log.close()
            self._log = None
        with write_artifact(directory, task=TASK, overwrite=overwrite, meta_file=BOT_FILE,
                            what="support bot") as art:
            tmp = art.dir
            self.classifier.save(tmp / INTENT_DIR)
            self.retriever.save(tmp / KB_DIR)
            if self.config.runtime != Runtime.TORCH and self._export_onnx(tmp / ONNX_DIR):
                meta["onnx"] = {"faq_encoder": self.config.faq.encoder,  # what they were made from
                                "fingerprint": self.retriever.encoder.encoder_info["fingerprint"]}
            write_json_atomic(tmp / OOS_FILE, self.detector.to_dict())
            if self.fusion is not None:
                write_json_atomic(tmp / FUSION_FILE, self.fusion.to_dict())
            lines = [json.dumps({"text": t}, ensure_ascii=False) for t in oos_texts or []]
            write_text_atomic(tmp / OOS_EXAMPLES_FILE, "".join(line + "\n" for line in lines))
            write_text_atomic(tmp / CONFIG_FILE, self.config.to_yaml())
            # the conversation log is written while the bot serves: still part of the bot
            log = self.config.log.file
            meta["runtime_files"] = [log, f"{log}-wal", f"{log}-shm", f"{log}-journal"]
            art.meta.update(meta)
        self.directory = directory
        self.meta = {k: v for k, v in meta.items() if k != "config"}
        return directory

    def _export_onnx(self, target: Path) -> bool:
        """ONNX exports of the classifier and the FAQ encoder (see :mod:`domaintune.export`).

        With ``runtime: auto`` a failed export is a warning (the bot is saved without exports and
        served with PyTorch); with ``runtime: onnx`` it is an error.
        """
        try:
            self.classifier.export_onnx(target / INTENT_DIR)
            encoder = self.retriever.encoder
            if isinstance(encoder, OnnxBiEncoder):  # already an export: copy it
                shutil.copytree(encoder.model.directory, target / FAQ_ENCODER_DIR)
            else:
                encoder.export_onnx(target / FAQ_ENCODER_DIR)
            return True
        except Exception as exc:  # tracing and ONNX Runtime raise many types
            if self.config.runtime == Runtime.ONNX:
                raise
            shutil.rmtree(target, ignore_errors=True)
            logger.warning("ONNX export failed (%s: %s); the bot is saved without exports and "
                           "will be served with PyTorch (set runtime: torch to skip the export)",
                           type(exc).__name__, str(exc)[:300])
            return False

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "auto",
             runtime: str | Runtime | None = None) -> SupportBot:
        """Load a bot directory written by :meth:`train`, :meth:`save` or :meth:`retrain`.

        Args:
            directory: the bot directory.
            device: ``auto``, ``cpu``, ``cuda`` ... for the intent classifier.
            runtime: ``onnx``, ``torch`` or ``auto``; default: the bot's ``runtime`` setting.
                ``onnx`` serves the exports saved with the bot (a bot saved without them falls
                back to PyTorch, with a warning).

        Raises:
            ModelLoadError: not a bot directory, a corrupted file, or an FAQ index built with a
                different encoder than the configured one.

        Example:
            >>> bot = SupportBot.load("models/demo-bot")  # doctest: +SKIP
        """
        directory = Path(directory)
        meta_file = directory / BOT_FILE
        if not directory.is_dir():
            raise ModelLoadError(f"bot directory {directory} does not exist; train one with "
                                 "`support-bot train ... --output DIR`")
        if not meta_file.is_file():
            raise ModelLoadError(f"{directory} is not a support bot: {BOT_FILE} is missing; pass a "
                                 "directory written by `support-bot train`")
        meta = read_record(directory, BOT_FILE, "`support-bot train`", fix="retrain the bot")
        verify_files(directory, meta, BOT_FILE, fix="retrain the bot")
        try:
            config = BotConfig.from_dict(meta.pop("config"))
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{meta_file} is corrupted ({type(exc).__name__}: {exc}); retrain "
                                 "the bot") from None
        serve = resolve_runtime(config.runtime if runtime is None else runtime, device)
        onnx_dir = directory / ONNX_DIR
        exported = meta.get("onnx") or {}
        if serve == Runtime.ONNX and not (onnx_dir / INTENT_DIR).is_dir():
            logger.warning("%s has no ONNX exports (saved with runtime 'torch', by an older "
                           "version, or its export failed when it was saved): serving with "
                           "PyTorch", directory)
            serve = Runtime.TORCH
        elif (serve == Runtime.ONNX and exported.get("faq_encoder") != config.faq.encoder
              and read_manifest(directory / KB_DIR).get("fine_tuned") is None):
            # only a bot that serves faq.encoder itself: a fine-tuned one serves kb/encoder
            # whatever faq.encoder says, and its export's fingerprint is checked below
            logger.warning("%s: faq.encoder is now %r but the FAQ index and its ONNX export were "
                           "made from %r: loading the configured encoder with PyTorch (the index "
                           "accepts it only if it has the same weights; else retrain the bot)",
                           directory, config.faq.encoder, exported.get("faq_encoder"))
            serve = Runtime.TORCH
        if serve == Runtime.ONNX:
            cpu = ["CPUExecutionProvider"]  # runtime onnx means ONNX Runtime on the CPU
            # the two models run side by side (see analyze): half of the cores each
            threads = max(1, (os.cpu_count() or 2) // 2)
            classifier = OnnxTextClassifier.load(onnx_dir / INTENT_DIR, providers=cpu,
                                                 threads=threads)
            encoder = OnnxBiEncoder.load(onnx_dir / FAQ_ENCODER_DIR, providers=cpu,
                                         threads=threads)
            if encoder.fingerprint != exported.get("fingerprint"):
                raise ModelLoadError(f"{onnx_dir / FAQ_ENCODER_DIR} is not the export recorded in "
                                     f"{meta_file} (fingerprint {encoder.fingerprint}, expected "
                                     f"{exported.get('fingerprint')}); load with runtime 'torch' "
                                     "or retrain the bot")
            retriever = FaqRetriever.load(directory / KB_DIR, config.faq, encoder=encoder)
        else:
            classifier = TextClassifier.load(directory / INTENT_DIR, device=device)
            retriever = FaqRetriever.load(directory / KB_DIR, config.faq)
        try:
            detector = OOSDetector.from_dict(json.loads((directory / OOS_FILE).read_text("utf-8")))
        except (OSError, json.JSONDecodeError, DataError) as exc:
            raise ModelLoadError(f"{directory / OOS_FILE} is missing or corrupted ({exc}); retrain "
                                 "the bot") from None
        fusion = None  # bots saved before the answer fusion (or without one) have no file
        if (directory / FUSION_FILE).is_file():
            try:
                fusion = AnswerFusion.from_dict(
                    json.loads((directory / FUSION_FILE).read_text("utf-8")))
            except (OSError, json.JSONDecodeError, DataError) as exc:
                raise ModelLoadError(f"{directory / FUSION_FILE} is corrupted ({exc}); retrain "
                                     "the bot") from None
        return cls(config, classifier, retriever, detector, directory=directory, meta=meta,
                   fusion=fusion)

    # ------------------------------------------------------------------ models
    def analyze(self, texts: list[str], *, restrict: bool = True) -> list[Analysis]:
        """Intent, confidence, FAQ ranking and OOS decision for each message (nothing logged).

        Args:
            texts: messages (cut at ``dialogue.max_model_chars``).
            restrict: rank the predicted intent's entries first (when configured).

        Example:
            >>> bot.analyze(["where is my refund?"])[0].intent  # doctest: +SKIP
            'refund_status'
        """
        if not texts:
            return []
        limit = self.config.dialogue.max_model_chars
        cut = [t[:limit] for t in texts]
        oos_columns = self._oos_columns
        with self._model_lock:
            vectors = None
            if self._side_by_side:  # the FAQ embedding runs while the classifier does
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="support-bot-encoder")
                future = self._pool.submit(self.retriever.encode, cut)
                try:
                    probs = np.atleast_2d(self.classifier.predict_proba(cut))
                finally:
                    vectors = future.result()
            else:
                probs = np.atleast_2d(self.classifier.predict_proba(cut))
            best = self._best_columns(probs)
            intents = [self.classifier.labels[j] for j in best]
            if restrict and self.uses_fusion:
                if vectors is None:
                    vectors = self.retriever.encode(cut)
                rankings = self.fused_rankings(vectors, probs, intents)
            else:
                rankings = self.retriever.search(cut, intents if restrict else None,
                                                 vectors=vectors)
        confidence = probs[np.arange(len(cut)), best]
        oos_prob = probs[:, oos_columns].sum(axis=1)
        similarity = np.array([r.top_similarity for r in rankings])
        scores: list[float | None] = [None] * len(cut)
        threshold = None
        if self.detector is not None:
            in_scope = self.detector.accept(confidence, similarity, oos_prob)
            scores = [float(x) for x in self.detector.score(confidence, similarity, oos_prob)]
            threshold = self.detector.threshold
        else:
            in_scope = np.ones(len(cut), bool)
        return [Analysis(text=t, intent=i, confidence=float(c), similarity=float(s),
                         in_scope=bool(ok), ranking=r, probabilities=p, oos_probability=float(o),
                         in_scope_score=sc, in_scope_threshold=threshold)
                for t, i, c, s, ok, r, p, o, sc in zip(cut, intents, confidence, similarity,
                                                       in_scope, rankings, probs, oos_prob, scores,
                                                       strict=True)]


    @property
    def _oos_columns(self) -> np.ndarray:
        """Which of the classifier's columns are out-of-scope classes."""
        oos = set(self.oos_classes)
        return np.array([lab in oos for lab in self.classifier.labels], dtype=bool)

    def _best_columns(self, probs: np.ndarray) -> np.ndarray:
        # the intent is the best *intent*; out-of-scope classes only add evidence
        return np.where(self._oos_columns, -1.0, probs).argmax(axis=1)

    def best_intents(self, probs: np.ndarray) -> list[str]:
        """The best intent (out-of-scope classes left out) of each row of the classifier's
        probabilities, as :meth:`analyze` picks it."""
        labels = self.classifier.labels
        return [labels[j] for j in self._best_columns(np.atleast_2d(probs))]

    @property
    def uses_fusion(self) -> bool:
        """Whether replies rank the FAQ with the learned answer fusion (``faq.fusion`` not
        false, a fitted ``fusion.json``, no cross-encoder)."""
        from .config import Switch

        return (self.fusion is not None and self.config.faq.fusion != Switch.FALSE
                and self.retriever.cross_encoder is None)

    def fused_rankings(self, vectors: np.ndarray, probs: np.ndarray, intents: list[str], *,
                       exclude_texts: list[str] | None = None,
                       extra_intents: list[str] | None = None) -> list[Ranking]:
        """FAQ rankings by the answer fusion (see :mod:`support_bot.fusion`).

        Args:
            vectors: the messages' FAQ-encoder embeddings.
            probs: the classifier's calibrated probabilities (one row per message).
            intents: the intent each message is answered for (the classifier's best intent;
                for a follow-up, the reused one): the fusion's ``is_top_intent``.
            exclude_texts: per message, a text the retriever must not find (leave-one-out, for
                learning the fusion on validation messages that are also FAQ questions).
            extra_intents: per message, one more intent whose entries join the candidates
                (a follow-up's reused intent, which the classifier may not rank high).
        """
        fusion = self.fusion
        if fusion is None:
            raise DataError("this bot has no answer fusion (faq.fusion); retrain it")
        candidates, pmaps = self.fusion_candidates(vectors, probs, exclude_texts=exclude_texts,
                                                   extra_intents=extra_intents)
        out = []
        for i, cands in enumerate(candidates):
            ranked = fusion.rank(cands, pmaps[i], intents[i], self.retriever.intent_of,
                                 self.retriever.entries_per_intent)
            top_sim = max((c for _, c in cands), default=0.0)
            out.append(Ranking(tuple(ranked), float(top_sim), restricted=False, fused=True))
        return out

    def fusion_candidates(self, vectors: np.ndarray, probs: np.ndarray, *,
                          exclude_texts: list[str] | None = None,
                          extra_intents: list[str] | None = None
                          ) -> tuple[list[list[tuple[str, float]]], list[dict[str, float]]]:
        """The fusion's candidates per message (``(entry id, cosine)``: the nearest entries
        and those of the ``faq.fusion_intents`` most probable intents) and the intents'
        probabilities (out-of-scope classes left out)."""
        labels = self.classifier.labels
        intent_columns = np.flatnonzero(~self._oos_columns).tolist()
        n_top = self.config.faq.fusion_intents
        tops, pmaps = [], []
        for i, row in enumerate(probs):
            top = [labels[j] for j in sorted(intent_columns, key=lambda j: -row[j])[:n_top]]
            if extra_intents is not None and extra_intents[i] not in top:
                top.append(extra_intents[i])
            tops.append(top)
            pmaps.append({labels[j]: float(row[j]) for j in intent_columns})
        candidates = self.retriever.candidates(vectors, tops, exclude_texts=exclude_texts)
        return candidates, pmaps

    def rank(self, texts: list[str], intents: list[str] | None = None) -> list[Ranking]:
        """FAQ rankings of ``texts`` for ``intents`` (e.g. a follow-up for the reused intent),
        under the model lock.

        With ``intents`` and the answer fusion (:attr:`uses_fusion`), the fusion ranks them as
        it ranks a first message (the classifier's probabilities of the text, the given intent
        as the intent answered and its entries among the candidates); without the fusion, the
        given intent's entries come first (when ``faq.restrict_to_intent``). Without
        ``intents``: the retriever's plain ranking.
        """
        with self._model_lock:
            if intents is None or not self.uses_fusion:
                return self.retriever.search(texts, intents)
            limit = self.config.dialogue.max_model_chars
            # a follow-up's text is the earlier message + the new one: keep its end (the new
            # message) when it is too long
            cut = [t[-limit:] if len(t) > limit else t for t in texts]
            probs = np.atleast_2d(self.classifier.predict_proba(cut))
            return self.fused_rankings(self.retriever.encode(cut), probs, list(intents),
                                       extra_intents=list(intents))

    # ------------------------------------------------------------------ conversation
    def _conversation_lock(self, conversation_id: str) -> threading.Lock:
        with self._guard:
            lock = self._conversation_locks.get(conversation_id)
            if lock is None:
                lock = threading.Lock()
                self._conversation_locks[conversation_id] = lock
            return lock

    def _context(self, conversation_id: str) -> ConversationContext:
        with self._guard:
            ctx = self._contexts.get(conversation_id)
        if ctx is None:
            ctx = ConversationContext.from_dict(self.log.load_context(conversation_id))
        return ConversationContext.from_dict(ctx.to_dict())  # a copy: kept only if logged

    def _remember(self, conversation_id: str, ctx: ConversationContext) -> None:
        with self._guard:
            self._contexts[conversation_id] = ctx
            self._contexts.move_to_end(conversation_id)
            while len(self._contexts) > _MAX_CACHED_CONTEXTS:
                self._contexts.popitem(last=False)

    @staticmethod
    def _check_conversation_id(conversation_id: Any) -> str:
        if conversation_id is None:
            return uuid.uuid4().hex
        if isinstance(conversation_id, bool) or not isinstance(conversation_id, (str, int)):
            raise DataError(f"expected a conversation id as a string, found "
                            f"{type(conversation_id).__name__}; pass e.g. a session or ticket id")
        cid = str(conversation_id).strip()
        if not cid or len(cid) > _MAX_CONVERSATION_ID:
            raise DataError(f"expected a conversation id of 1 to {_MAX_CONVERSATION_ID} characters, "
                            f"found {len(cid)}; pass e.g. a session id (or None for a new one)")
        return cid

    def model_text(self, text: Any) -> str:
        """What the models see of a message: control characters removed, cut at
        ``dialogue.max_model_chars`` (``""`` for an empty message)."""
        if text is None:
            return ""
        if not isinstance(text, str):
            raise DataError(f"expected the message as a string, found {type(text).__name__}")
        cleaned = clean_text(text)
        return cleaned[: self.config.dialogue.max_model_chars] if cleaned.strip() else ""

    def reply(self, conversation_id: str | int | None, text: str, *,
              analysis: Analysis | None = None) -> Reply:
        """Answer one message of a conversation and log the turn.

        Args:
            conversation_id: any id of up to 200 characters; an unknown id starts a new
                conversation, ``None`` starts one with a generated id.
            text: the customer's message. Empty messages get a request for a message (not
                logged); messages longer than ``dialogue.max_model_chars`` are cut for the
                models (the count is logged).
            analysis: ``analyze([model_text(text)])[0]`` when the caller already ran the models
                (the REST server batches them across conversations); checked to be of this text.

        Returns:
            A :class:`Reply`.

        Example:
            >>> bot.reply("c1", "my order hasn't arrived").missing_slots  # doctest: +SKIP
            ('order_number',)
            >>> bot.reply("c1", "it's 12345678").outcome  # doctest: +SKIP
            <Outcome.ANSWERED: 'answered'>
        """
        cid = self._check_conversation_id(conversation_id)
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise DataError(f"expected the message as a string, found {type(text).__name__}")
        cleaned = clean_text(text)  # NUL and other control characters reach neither the models
        if cleaned != text:         # nor the log
            logger.info("conversation %s: removed %d control characters from a message", cid,
                        len(text) - len(cleaned))
            text = cleaned
        dc = self.config.dialogue
        if not text.strip():
            return Reply(text=dc.empty_message, intent=None, confidence=0.0, answer_id=None,
                         top_answers=(), outcome=Outcome.EMPTY, handoff=False, missing_slots=(),
                         turn_id=None, conversation_id=cid, reason="empty message")
        model_text = text[: dc.max_model_chars]
        truncated = len(text) - len(model_text)
        if truncated:
            logger.info("conversation %s: message of %d characters cut to %d for the models "
                        "(%d characters dropped)", cid, len(text), len(model_text), truncated)
        if analysis is not None and analysis.text != model_text:
            raise ValueError("reply(analysis=...) was given the analysis of another text; pass "
                             "analyze([bot.model_text(text)])[0]")
        with self._conversation_lock(cid):
            ctx = self._context(cid)
            if analysis is None:
                analysis = self.analyze([model_text])[0]
            decision = self.decide(ctx, analysis)
            ctx = decision.context
            ctx.turns += 1
            turn = {
                "text": text[: dc.max_log_chars], "text_chars": len(text),
                "truncated_chars": truncated, "predicted_intent": analysis.intent,
                "intent": decision.intent, "confidence": decision.confidence,
                "similarity": analysis.similarity, "in_scope": analysis.in_scope,
                "answer_id": decision.answer_id, "outcome": decision.outcome.value,
                "handoff": decision.handoff, "reason": decision.reason,
                "reply": decision.text, "missing_slots": list(decision.missing_slots),
                "bot_version": self.version,
            }
            handoff_reason = decision.reason if decision.handoff else None
            turn_id, _ = self.log.record_turn(cid, turn, ctx.to_dict(), handoff_reason)
            self._remember(cid, ctx)
        return Reply(text=decision.text, intent=decision.intent,
                     confidence=decision.confidence, answer_id=decision.answer_id,
                     top_answers=decision.top_answers, outcome=decision.outcome,
                     handoff=decision.handoff, missing_slots=decision.missing_slots,
                     turn_id=turn_id, conversation_id=cid, reason=decision.reason,
                     similarity=analysis.similarity, in_scope_score=analysis.in_scope_score,
                     in_scope_threshold=analysis.in_scope_threshold,
                     in_scope=decision.in_scope)

    @property
    def policy_config(self) -> PolicyConfig:
        """The rules of the dialogue policy: the dialogue settings and the FAQ answers."""
        if self._policy is None:
            self._policy = PolicyConfig(self.config.dialogue,
                                        answers={e.id: e.answer for e in self.kb},
                                        top_k=self.config.faq.top_k)
        return self._policy

    def decide(self, context: ConversationContext, analysis: Analysis) -> Decision:
        """The dialogue policy's decision for one analysed message (nothing logged; ``context``
        is not modified: the new one is ``Decision.context``). Ranks the FAQ for a follow-up
        when the policy needs it."""
        labels = self.classifier.labels
        message = MessageAnalysis(
            text=analysis.text, intent=analysis.intent, confidence=analysis.confidence,
            in_scope=analysis.in_scope, entries=analysis.ranking.entries,
            probabilities=dict(zip(labels, analysis.probabilities.tolist(), strict=True)))
        rules = self.policy_config
        query = followup_query(context, message, rules)
        if query is not None:
            ranking = self.rank([query], [context.last_intent])[0]
            message = dataclasses.replace(message, followup_entries=ranking.entries)
        return decide(context, message, rules)

    # ------------------------------------------------------------------ feedback
    def feedback(self, turn_id: int, *, helpful: bool | None = None,
                 corrected_intent: str | None = None, allow_new_intent: bool = False) -> None:
        """Record whether a reply helped and/or the intent it should have had.

        Args:
            turn_id: ``Reply.turn_id``.
            helpful: ``True`` (helpful) / ``False`` (not helpful) / ``None`` (unchanged).
            corrected_intent: the right intent for the message.
            allow_new_intent: accept an intent the model does not know yet (retraining adds it).

        Raises:
            DataError: no such turn, nothing given, or an unknown corrected intent.

        Example:
            >>> bot.feedback(reply.turn_id, helpful=False, corrected_intent="card_lost")  # doctest: +SKIP
        """
        if helpful is None and corrected_intent is None:
            raise DataError("expected helpful=True/False or corrected_intent=..., found neither")
        if corrected_intent is not None:
            corrected_intent = str(corrected_intent).strip()
            if not corrected_intent:
                raise DataError("expected a corrected intent name, found an empty string")
            if corrected_intent not in self.intents and not allow_new_intent:
                raise DataError(f"unknown intent {corrected_intent!r}"
                                f"{closest(corrected_intent, self.intents)}; the bot knows "
                                f"{self.intents[:20]}{' ...' if len(self.intents) > 20 else ''}; "
                                "pass allow_new_intent=True to add a new one")
        value = None if helpful is None else (Feedback.HELPFUL if helpful else Feedback.NOT_HELPFUL)
        self.log.set_feedback(turn_id, value, corrected_intent)



def read_oos_examples(directory: str | Path) -> list[str]:
    """The OOS examples saved with a bot."""
    path = Path(directory) / OOS_EXAMPLES_FILE
    if not path.is_file():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def load(directory: str | Path, **kwargs: Any) -> SupportBot:
    """:meth:`SupportBot.load` (the app's service loader)."""
    return SupportBot.load(directory, **kwargs)

"""The support bot: intent classifier + FAQ retrieval + out-of-scope detection + dialogue rules
+ a SQLite log, trained, saved, loaded, evaluated and retrained as one directory.

A bot directory holds ``bot.json`` (version, parent, config, summary), ``config.yaml`` (the same
config, for people), ``intent_model/`` (a ``domaintune.TextClassifier``), ``kb/`` (FAQ entries and
their FAISS index), ``oos.json`` (the tuned detector), ``oos_examples.jsonl`` (the OOS examples,
to re-tune after retraining) and, once the bot has talked, ``log.db``.

Example:
    >>> bot = SupportBot.train(BotConfig(intents_file="data/support/intents.csv",
    ...                                  faq_file="data/support/faq.csv",
    ...                                  oos_file="data/support/oos.csv"), "models/bot")  # doctest: +SKIP
    >>> reply = SupportBot.load("models/bot").reply("c1", "my card hasn't arrived")  # doctest: +SKIP
    >>> reply.intent, reply.outcome  # doctest: +SKIP
    ('card_not_arrived', <Outcome.ANSWERED: 'answered'>)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from domaintune import (
    ConfigError,
    DataError,
    ModelLoadError,
    Runtime,
    TextClassifier,
    TextDataset,
    classification_metrics,
    load_dataset,
    plot_confusion_matrix,
    train_validation_split,
    update,
)
from domaintune import __version__ as domaintune_version
from domaintune.errors import closest
from domaintune.export import OnnxBiEncoder, OnnxTextClassifier, resolve_runtime
from domaintune.pairs import retrieval_metrics
from domaintune.persistence import atomic_directory, write_json_atomic, write_text_atomic

from .config import BotConfig, SlotScope
from .dialogue import (
    ConversationContext,
    extract_slots,
    fill_template,
    handoff_keyword,
    is_followup,
)
from .knowledge import KnowledgeBase, load_knowledge_base, template_slots
from .logstore import Feedback, LogStore, Outcome
from .oos import OOSDetector
from .retrieval import FaqRetriever, Ranking

logger = logging.getLogger("support_bot")

FORMAT_VERSION = 1
BOT_FILE = "bot.json"
CONFIG_FILE = "config.yaml"
INTENT_DIR = "intent_model"
KB_DIR = "kb"
OOS_FILE = "oos.json"
OOS_EXAMPLES_FILE = "oos_examples.jsonl"
ONNX_DIR = "onnx"  # ONNX exports: onnx/intent_model, onnx/faq_encoder
FAQ_ENCODER_DIR = "faq_encoder"
REPORTS_DIR = "reports"
SAMPLE_CONFIG = Path(__file__).with_name("sample_bot.yaml")
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
    """

    text: str
    intent: str
    confidence: float
    similarity: float
    in_scope: bool
    ranking: Ranking
    probabilities: np.ndarray = field(repr=False)
    oos_probability: float = 0.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _resolve_path_option(value: str | None) -> str | None:
    """Make an option that names an existing local path absolute (so the bot loads anywhere)."""
    if value and value != "default" and Path(value).exists():
        return str(Path(value).resolve())
    return value


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
    """

    def __init__(self, config: BotConfig, classifier: TextClassifier, retriever: FaqRetriever,
                 detector: OOSDetector | None = None, *, directory: str | Path | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.config = config
        self.classifier = classifier
        self.retriever = retriever
        self.detector = detector
        self.directory = Path(directory) if directory is not None else None
        self.meta = dict(meta or {})
        self._model_lock = threading.Lock()
        self._guard = threading.Lock()
        self._conversation_locks: weakref.WeakValueDictionary[str, threading.Lock] = \
            weakref.WeakValueDictionary()
        self._contexts: OrderedDict[str, ConversationContext] = OrderedDict()
        self._log: LogStore | None = None
        self._pool: ThreadPoolExecutor | None = None

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

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, config: BotConfig, output_dir: str | Path | None = None, *,
              overwrite: bool = False) -> SupportBot:
        """Train the intent classifier, index the FAQ, tune the OOS detector and save the bot.

        Args:
            config: a :class:`BotConfig` with ``intents_file`` and ``faq_file`` (and optionally
                ``oos_file``).
            output_dir: the bot directory (default ``config.output_dir``).
            overwrite: replace an existing bot directory (its log is lost).

        Returns:
            The trained bot, saved in ``output_dir``.

        Raises:
            ConfigError: a missing file setting, or answer slots without an extractor.
            DataError: problems in the data files (named file, rows and columns).

        Example:
            >>> cfg = BotConfig.from_yaml("apps/support_bot/sample_bot.yaml")  # doctest: +SKIP
            >>> bot = SupportBot.train(cfg, "models/bot")  # doctest: +SKIP
        """
        start = time.perf_counter()
        out = Path(output_dir or config.output_dir or "")
        if not str(output_dir or config.output_dir or ""):
            raise ConfigError("no output directory: pass output_dir (--output BOT_DIR) or set "
                              "output_dir in the config")
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise DataError(f"{out} already exists and is not empty; pass another --output, or "
                            "overwrite=True (--overwrite) to replace it (its log is lost)")
        for key in ("intents_file", "faq_file"):
            if not getattr(config, key):
                raise ConfigError(f"the bot config needs {key} (--{key.split('_')[0]} FILE); "
                                  "found none")
        config = BotConfig.from_dict({
            **config.to_dict(),
            "intent": {**config.intent.to_dict(), "model": _resolve_path_option(config.intent.model)},
            "faq": {**config.faq.to_dict(), "encoder": _resolve_path_option(config.faq.encoder),
                    "cross_encoder": _resolve_path_option(config.faq.cross_encoder)},
        })
        ic = config.intent
        opts = {"text": ic.text_column, "label": ic.label_column, "encoding": ic.encoding}
        data = load_dataset(config.intents_file, **opts)
        if config.validation_file:
            train, val = data, load_dataset(config.validation_file, **opts)
            unseen = sorted(set(val.labels) - set(train.labels))
            if unseen:
                raise DataError(f"{config.validation_file}: intents {unseen[:10]} do not occur in "
                                f"{config.intents_file}; remove those rows or add training examples")
        else:
            train, val = train_validation_split(data, ic.validation_split, seed=ic.seed)
        kb = load_knowledge_base(config.faq_file, config.faq)
        labels = train.label_names
        check_templates(kb, config, labels)
        oos_texts: list[str] = []
        if config.oos_file:
            oos_texts = load_dataset(config.oos_file, text=config.oos.text_column, label=None,
                                     encoding=config.oos.encoding).texts
        classes = list(labels)
        n_oos_train = 0
        if config.oos_train_file:
            oos_label = config.oos.label
            clash = [lab for lab in labels if lab == oos_label or lab.startswith(oos_label + "/")]
            if clash:
                raise ConfigError(f"oos.label {oos_label!r} names the out-of-scope classes, but "
                                  f"{config.intents_file} has the intent(s) {clash[:5]}; set "
                                  "oos.label to another name")
            topic = config.oos.topic_column
            extra_data = load_dataset(config.oos_train_file, text=config.oos.text_column,
                                      label=topic, encoding=config.oos.encoding)
            extra = list(extra_data.texts)
            extra_labels = ([f"{oos_label}/{t}" for t in extra_data.labels] if topic
                            else [oos_label] * len(extra))
            overlap = len(set(extra) & set(oos_texts))
            if overlap:
                logger.warning("%d messages of %s are also in %s: the OOS detector is tuned on "
                               "messages the classifier has seen, which overstates its recall",
                               overlap, config.oos_train_file, config.oos_file)
            n_oos_train = len(extra)
            train = TextDataset(texts=list(train.texts) + extra,
                                labels=list(train.labels) + extra_labels,
                                source=f"{train.source} + {config.oos_train_file}")
            classes += sorted(set(extra_labels))
        clf = TextClassifier.from_pretrained(ic.model, labels=classes, max_length=ic.max_length)
        clf.fit(train, val, ic.training_config())
        retriever = FaqRetriever.build(kb, config.faq)
        bot = cls(config, clf, retriever,
                  meta={"version": 1, "parent": None, "oos_classes": classes[len(labels):]})
        bot.detector = bot.tune_oos(val, oos_texts)
        summary = {
            "intents": len(labels), "n_train": len(train), "n_validation": len(val),
            "validation": clf.metrics.get("validation", {}),
            "calibration": clf.metrics.get("calibration", {}),
            "faq": retriever.describe(), "oos": bot.detector.report_,
            "n_oos_examples": len(oos_texts), "n_oos_train": n_oos_train,
            "n_intent_train": len(train) - n_oos_train, "seconds": round(time.perf_counter() - start, 2),
        }
        bot.meta.update(created_at=_now(), summary=summary,
                        data={"intents_file": config.intents_file,
                              "validation_file": config.validation_file,
                              "faq_file": config.faq_file, "oos_file": config.oos_file,
                              "oos_train_file": config.oos_train_file})
        bot.save(out, oos_texts=oos_texts)
        logger.info(
            "trained a support bot on %d intent examples (%d intents; %d held out for calibration "
            "and OOS tuning, validation accuracy %.3f), indexed %d FAQ entries as %d vectors (%s), "
            "tuned OOS detection with %d OOS examples: %s. Saved to %s in %.1fs.",
            len(train) - n_oos_train, len(labels), len(val), summary["validation"].get("accuracy", float("nan")),
            len(kb), len(retriever.index), retriever.index.kind_.value, len(oos_texts),
            bot.detector.describe(), out, summary["seconds"])
        return bot

    def tune_oos(self, validation: TextDataset, oos_texts: list[str] | None = None) -> OOSDetector:
        """Fit an :class:`OOSDetector` on in-scope validation data and OOS examples.

        Args:
            validation: labelled in-scope messages the classifier was not trained on.
            oos_texts: out-of-scope messages (may be empty).

        Returns:
            The fitted detector (also see ``detector.report_``).
        """
        cfg = self.config.oos
        saved, self.detector = self.detector, None
        try:
            val = self.analyze(validation.texts)
            oos = self.analyze(list(oos_texts or []))
        finally:
            self.detector = saved
        correct = [a.intent == y for a, y in zip(val, validation.labels, strict=True)]
        det = OOSDetector(cfg.objective, min_oos_recall=cfg.min_oos_recall,
                          target_acceptance=cfg.target_acceptance,
                          min_oos_examples=cfg.min_oos_examples)
        with_class = self.has_oos_class
        return det.fit([a.confidence for a in val], [a.similarity for a in val], correct,
                       [a.confidence for a in oos] if oos else None,
                       [a.similarity for a in oos] if oos else None,
                       oos_probability=[a.oos_probability for a in val] if with_class else None,
                       oos_examples_oos_probability=([a.oos_probability for a in oos]
                                                     if with_class and oos else None))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path, *, oos_texts: list[str] | None = None) -> Path:
        """Write the bot directory atomically (a temporary folder renamed into place)."""
        if self.detector is None:
            raise DataError("the OOS detector is not tuned; call tune_oos() first")
        directory = Path(directory)
        if oos_texts is None and self.directory is not None:
            oos_texts = read_oos_examples(self.directory)
        meta = {"format_version": FORMAT_VERSION, "domaintune_version": domaintune_version,
                **self.meta, "config": self.config.to_dict()}
        meta.pop("onnx", None)
        if not isinstance(self.classifier, TextClassifier):
            raise DataError("this bot serves an ONNX export of its classifier, which cannot be "
                            "saved again; load it with runtime 'torch' to save it (retrain works "
                            "from either)")
        with atomic_directory(directory) as tmp:
            self.classifier.save(tmp / INTENT_DIR)
            self.retriever.save(tmp / KB_DIR)
            if self.config.runtime != Runtime.TORCH and self._export_onnx(tmp / ONNX_DIR):
                meta["onnx"] = {"faq_encoder": self.config.faq.encoder,  # what they were made from
                                "fingerprint": self.retriever.encoder.encoder_info["fingerprint"]}
            write_json_atomic(tmp / OOS_FILE, self.detector.to_dict())
            lines = [json.dumps({"text": t}, ensure_ascii=False) for t in oos_texts or []]
            write_text_atomic(tmp / OOS_EXAMPLES_FILE, "".join(line + "\n" for line in lines))
            write_text_atomic(tmp / CONFIG_FILE, self.config.to_yaml())
            write_json_atomic(tmp / BOT_FILE, meta)
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
        if not directory.is_dir():
            raise ModelLoadError(f"bot directory {directory} does not exist; train one with "
                                 "`support-bot train ... --output DIR`")
        meta_file = directory / BOT_FILE
        if not meta_file.is_file():
            raise ModelLoadError(f"{directory} is not a support bot: {BOT_FILE} is missing; pass a "
                                 "directory written by `support-bot train`")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            config = BotConfig.from_dict(meta.pop("config"))
        except (json.JSONDecodeError, KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{meta_file} is corrupted ({type(exc).__name__}: {exc}); retrain "
                                 "the bot") from None
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ModelLoadError(f"{directory} was written by a newer support_bot (format "
                                 f"{meta['format_version']}); upgrade to load it")
        serve = resolve_runtime(config.runtime if runtime is None else runtime, device)
        onnx_dir = directory / ONNX_DIR
        exported = meta.get("onnx") or {}
        if serve == Runtime.ONNX and not (onnx_dir / INTENT_DIR).is_dir():
            logger.warning("%s has no ONNX exports (saved with runtime 'torch' or by an older "
                           "version): serving with PyTorch", directory)
            serve = Runtime.TORCH
        elif serve == Runtime.ONNX and exported.get("faq_encoder") != config.faq.encoder:
            logger.warning("%s: faq.encoder is now %r but the ONNX exports were made from %r: "
                           "serving with PyTorch and the configured encoder", directory,
                           config.faq.encoder, exported.get("faq_encoder"))
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
        return cls(config, classifier, retriever, detector, directory=directory, meta=meta)

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
        labels = self.classifier.labels
        oos = set(self.oos_classes)
        oos_columns = np.array([lab in oos for lab in labels])
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
            # the intent is the best *intent*; out-of-scope classes only add evidence
            best = np.where(oos_columns, -1.0, probs).argmax(axis=1)
            intents = [labels[j] for j in best]
            rankings = self.retriever.search(cut, intents if restrict else None, vectors=vectors)
        confidence = probs[np.arange(len(cut)), best]
        oos_prob = probs[:, oos_columns].sum(axis=1)
        similarity = np.array([r.top_similarity for r in rankings])
        if self.detector is not None:
            in_scope = self.detector.accept(confidence, similarity, oos_prob)
        else:
            in_scope = np.ones(len(cut), bool)
        return [Analysis(text=t, intent=i, confidence=float(c), similarity=float(s),
                         in_scope=bool(ok), ranking=r, probabilities=p, oos_probability=float(o))
                for t, i, c, s, ok, r, p, o in zip(cut, intents, confidence, similarity, in_scope,
                                                   rankings, probs, oos_prob, strict=True)]

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

    def reply(self, conversation_id: str | int | None, text: str) -> Reply:
        """Answer one message of a conversation and log the turn.

        Args:
            conversation_id: any id of up to 200 characters; an unknown id starts a new
                conversation, ``None`` starts one with a generated id.
            text: the customer's message. Empty messages get a request for a message (not
                logged); messages longer than ``dialogue.max_model_chars`` are cut for the
                models (the count is logged).

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
        with self._conversation_lock(cid):
            ctx = self._context(cid)
            analysis = self.analyze([model_text])[0]
            decision = self._decide(ctx, model_text, analysis)
            ctx.turns += 1
            turn = {
                "text": text[: dc.max_log_chars], "text_chars": len(text),
                "truncated_chars": truncated, "predicted_intent": analysis.intent,
                "intent": decision["intent"], "confidence": decision["confidence"],
                "similarity": analysis.similarity, "in_scope": analysis.in_scope,
                "answer_id": decision["answer_id"], "outcome": decision["outcome"].value,
                "handoff": decision["outcome"] == Outcome.HANDOFF, "reason": decision["reason"],
                "reply": decision["text"], "missing_slots": list(decision["missing"]),
                "bot_version": self.version,
            }
            handoff_reason = decision["reason"] if decision["outcome"] == Outcome.HANDOFF else None
            turn_id, _ = self.log.record_turn(cid, turn, ctx.to_dict(), handoff_reason)
            self._remember(cid, ctx)
        return Reply(text=decision["text"], intent=decision["intent"],
                     confidence=decision["confidence"], answer_id=decision["answer_id"],
                     top_answers=decision["top"], outcome=decision["outcome"],
                     handoff=decision["outcome"] == Outcome.HANDOFF,
                     missing_slots=tuple(decision["missing"]), turn_id=turn_id,
                     conversation_id=cid, reason=decision["reason"],
                     similarity=analysis.similarity)

    def _top(self, ranking: Ranking, slots: dict[str, str]) -> tuple[tuple[str, float, str], ...]:
        out = []
        for entry_id, score in ranking.entries[: self.config.faq.top_k]:
            out.append((entry_id, round(float(score), 4),
                        fill_template(self.kb[entry_id].answer, slots)[0]))
        return tuple(out)

    def _confidence_of(self, analysis: Analysis, intent: str | None) -> float:
        if intent in self.classifier.labels:
            return float(analysis.probabilities[self.classifier.labels.index(intent)])
        return analysis.confidence

    def _decide(self, ctx: ConversationContext, text: str, a: Analysis) -> dict[str, Any]:
        """The dialogue rules; updates ``ctx`` and returns what to reply and log."""
        dc = self.config.dialogue
        top = self._top(a.ranking, ctx.slots)

        def result(outcome: Outcome, reply_text: str, *, intent: str | None = a.intent,
                   confidence: float | None = None, answer_id: str | None = None,
                   missing: list[str] | None = None, reason: str = "",
                   top_answers: tuple = top) -> dict[str, Any]:
            return {"outcome": outcome, "text": reply_text, "intent": intent,
                    "confidence": a.confidence if confidence is None else confidence,
                    "answer_id": answer_id, "missing": missing or [], "reason": reason,
                    "top": top_answers}

        def handoff(reason: str) -> dict[str, Any]:
            ctx.low_confidence_streak = 0
            ctx.clear_pending()
            ctx.handed_off = True
            return result(Outcome.HANDOFF, dc.handoff_message, reason=reason)

        # 1. explicit requests for a person, and escalated intents
        keyword = handoff_keyword(text, dc)
        if keyword:
            return handoff(f"asked for a person ({keyword!r})")
        if a.in_scope and a.intent in dc.handoff_intents:
            return handoff(f"handoff intent {a.intent!r}")
        if a.in_scope and a.intent in dc.escalate_intents:
            return handoff(f"escalated intent {a.intent!r}")

        # 2. an answer waiting for slot values
        if ctx.pending_answer:
            awaited = list(ctx.pending_missing)
            found = extract_slots(text, dc.slots, awaited=awaited)
            if any(s in found for s in awaited):
                ctx.slots.update(found)
                ctx.low_confidence_streak = 0
                return self._answer(ctx, text, ctx.pending_answer, ctx.pending_intent,
                                    ctx.pending_confidence, result, "slot value given")
            followup = is_followup(text, accepted=a.in_scope, has_last_intent=True, config=dc)
            if a.in_scope and not followup and a.intent != ctx.pending_intent:
                ctx.clear_pending()  # a new question: answer it below
            else:
                ctx.low_confidence_streak += 1
                if ctx.low_confidence_streak >= dc.low_confidence_limit:
                    return handoff(f"slot {awaited[0]!r} not given in {ctx.low_confidence_streak} "
                                   "turns")
                prompt = dc.slots[awaited[0]].prompt
                return result(Outcome.ASKED_SLOT, f"{dc.slot_retry_prefix} {prompt}".strip(),
                              intent=ctx.pending_intent, confidence=ctx.pending_confidence,
                              answer_id=ctx.pending_answer, missing=awaited,
                              reason=f"still waiting for {awaited[0]!r}")

        found_now = extract_slots(text, dc.slots)
        ctx.slots.update(found_now)

        # 3. a follow-up of the previous topic reuses its intent
        intent, in_scope, ranking = a.intent, a.in_scope, a.ranking
        reason = "in scope" if a.in_scope else "out of scope"
        same = a.in_scope and a.intent == ctx.last_intent
        if ctx.last_intent and not same and is_followup(
                text, accepted=a.in_scope, has_last_intent=True, config=dc):
            intent, in_scope = ctx.last_intent, True
            query = f"{ctx.last_text or ''} {text}".strip()
            with self._model_lock:
                ranking = self.retriever.search([query], [intent])[0]
            reason = f"follow-up: reused the last intent {intent!r}"

        # 4. out of scope: ask to rephrase, hand off when it keeps happening
        if not in_scope:
            ctx.low_confidence_streak += 1
            if ctx.low_confidence_streak >= dc.low_confidence_limit:
                return handoff(f"low confidence {ctx.low_confidence_streak} turns in a row")
            return result(Outcome.OOS, dc.fallback_message, reason=reason)

        # 5. answer (a fixed response, or the best FAQ entry)
        ctx.low_confidence_streak = 0
        if ctx.last_intent is not None and intent != ctx.last_intent:
            # a new topic: forget values that belong to the old one ("topic" slots)
            for name, slot in dc.slots.items():
                if slot.scope == SlotScope.TOPIC and name not in found_now:
                    ctx.slots.pop(name, None)
        if intent in dc.responses:
            answer_id = f"response:{intent}"
        elif ranking.entries:
            answer_id = ranking.entries[0][0]
        else:  # pragma: no cover - a knowledge base is never empty
            return result(Outcome.OOS, dc.fallback_message, reason="no FAQ entry")
        return self._answer(ctx, text, answer_id, intent, self._confidence_of(a, intent), result,
                            reason, ranking=ranking)

    def _answer(self, ctx: ConversationContext, text: str, answer_id: str, intent: str | None,
                confidence: float, result, reason: str, ranking: Ranking | None = None) -> dict[str, Any]:
        dc = self.config.dialogue
        if answer_id.startswith("response:"):
            template = dc.responses[answer_id.split(":", 1)[1]]
        else:
            template = self.kb[answer_id].answer
        filled, missing = fill_template(template, ctx.slots)
        top = self._top(ranking, ctx.slots) if ranking is not None else None
        extra = {"top_answers": top} if top is not None else {}
        ctx.last_intent = intent
        if not (ctx.pending_answer and ctx.pending_answer == answer_id):
            ctx.last_text = text
        if missing:
            ctx.pending_answer, ctx.pending_intent = answer_id, intent
            ctx.pending_confidence, ctx.pending_missing = confidence, missing
            return result(Outcome.ASKED_SLOT, dc.slots[missing[0]].prompt, intent=intent,
                          confidence=confidence, answer_id=answer_id, missing=missing,
                          reason=f"{reason}; asking for {missing[0]!r}", **extra)
        ctx.clear_pending()
        return result(Outcome.ANSWERED, filled, intent=intent, confidence=confidence,
                      answer_id=answer_id, reason=reason, **extra)

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

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data: TextDataset, oos_texts: list[str] | None = None,
                 faq_queries: list[tuple[str, str]] | None = None,
                 output_dir: str | Path | None = None) -> dict[str, Any]:
        """Intent accuracy, OOS recall/precision and FAQ retrieval quality; writes a report.

        Args:
            data: labelled in-scope messages.
            oos_texts: out-of-scope messages (other than the ones used in training).
            faq_queries: ``(query, FAQ id)`` pairs.
            output_dir: where to write ``metrics.json``, ``confusion_matrix.png`` (intents +
                ``oos``) and ``report.md``; default ``<bot>/reports/evaluate``.

        Returns:
            ``accuracy`` (classifier, in-scope), ``macro_f1``, ``in_scope_acceptance``,
            ``in_scope_accuracy`` (accepted with the right intent), ``oos_recall``,
            ``oos_precision``, ``retrieval_mrr10``, ``retrieval_recall1``, ... (``None`` where
            the data was not given), ``most_confused`` and ``report_dir``.

        Example:
            >>> bot.evaluate(load_dataset("test.csv", label="intent"), oos_texts)["oos_recall"]  # doctest: +SKIP
        """
        labels = self.intents
        known = set(labels)
        unknown = sorted({y for y in data.labels if y not in known})
        if unknown:
            raise DataError(f"{data.source}: intents {unknown[:10]} are not known to the bot (it knows "
                            f"{len(labels)}: {labels[:10]} ...); remove those rows, map them to known "
                            "intents, or retrain the bot with them")
        res = self.analyze(data.texts)
        pred = np.array([a.intent for a in res])
        truth = np.array(data.labels)
        accepted = np.array([a.in_scope for a in res])
        ext = labels + (["oos"] if "oos" not in known else ["<out of scope>"])
        oos_label = ext[-1]
        index = {lab: i for i, lab in enumerate(ext)}
        y_true = [index[y] for y in truth]
        y_pred = [index[p] if ok else index[oos_label] for p, ok in zip(pred, accepted, strict=True)]
        clf_metrics = classification_metrics(np.array([index[y] for y in truth]),
                                             np.array([index[p] for p in pred]), ext)
        metrics: dict[str, Any] = {
            "accuracy": float(np.mean(pred == truth)),
            "macro_f1": clf_metrics["macro_f1"],
            "in_scope_acceptance": float(np.mean(accepted)),
            "in_scope_accuracy": float(np.mean(accepted & (pred == truth))),
            "n_in_scope": len(res),
            "oos_recall": None, "oos_precision": None, "n_oos": 0,
            "retrieval_mrr10": None, "retrieval_recall1": None, "retrieval_recall5": None,
            "retrieval_unrestricted_mrr10": None, "retrieval_unrestricted_recall1": None,
            "n_queries": 0,
        }
        oos_res = self.analyze(list(oos_texts)) if oos_texts else []
        if oos_res:
            rejected = np.array([not a.in_scope for a in oos_res])
            y_true += [index[oos_label]] * len(oos_res)
            y_pred += [index[oos_label] if not a.in_scope else index[a.intent] for a in oos_res]
            wrongly_rejected = int((~accepted).sum())
            metrics["oos_recall"] = float(rejected.mean())
            total_rejected = int(rejected.sum()) + wrongly_rejected
            metrics["oos_precision"] = (float(rejected.sum() / total_rejected)
                                        if total_rejected else None)
            metrics["n_oos"] = len(oos_res)
        bot_metrics = classification_metrics(np.array(y_true), np.array(y_pred), ext)
        metrics["most_confused"] = bot_metrics["most_confused"][:10]
        if faq_queries:
            metrics.update(self._retrieval_metrics(faq_queries))
        out = Path(output_dir) if output_dir else (
            (self.directory or Path(".")) / REPORTS_DIR / "evaluate")
        out.mkdir(parents=True, exist_ok=True)
        plot_confusion_matrix(bot_metrics["confusion_matrix"], ext, out / "confusion_matrix.png")
        write_json_atomic(out / "metrics.json", {
            **metrics, "per_class": clf_metrics["per_class"],
            "confusion_matrix": bot_metrics["confusion_matrix"], "labels": ext,
            "bot_version": self.version, "evaluated_at": _now()})
        write_text_atomic(out / "report.md", self._report(metrics, res, truth, oos_res, data.source))
        metrics["report_dir"] = str(out)
        return metrics

    def _retrieval_metrics(self, faq_queries: list[tuple[str, str]]) -> dict[str, Any]:
        bad = sorted({fid for _, fid in faq_queries if fid not in self.kb})
        if bad:
            raise DataError(f"FAQ queries name ids {bad[:10]} that the knowledge base does not have; "
                            "check the faq_id column against the FAQ file the bot was trained on")
        queries = [q for q, _ in faq_queries]
        relevant = [fid for _, fid in faq_queries]
        restricted = [a.ranking.ids[:10] for a in self.analyze(queries)]
        with self._model_lock:
            plain = [r.ids[:10] for r in self.retriever.search(
                [q[: self.config.dialogue.max_model_chars] for q in queries])]
        m = retrieval_metrics(restricted, relevant, ks=(1, 5, 10))
        u = retrieval_metrics(plain, relevant, ks=(1, 5, 10))
        return {"retrieval_mrr10": m["mrr@10"], "retrieval_recall1": m["recall@1"],
                "retrieval_recall5": m["recall@5"], "retrieval_unrestricted_mrr10": u["mrr@10"],
                "retrieval_unrestricted_recall1": u["recall@1"], "n_queries": len(queries)}

    def _report(self, metrics: dict[str, Any], res: list[Analysis], truth: np.ndarray,
                oos_res: list[Analysis], source: str) -> str:
        def fmt(v: Any) -> str:
            return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

        lines = [f"# Support bot evaluation (version {self.version})", "",
                 f"In-scope data: `{source}` ({metrics['n_in_scope']} messages); OOS messages: "
                 f"{metrics['n_oos']}; FAQ queries: {metrics['n_queries']}.", "",
                 "| metric | value |", "|---|---|"]
        for key in ("accuracy", "macro_f1", "in_scope_acceptance", "in_scope_accuracy", "oos_recall",
                    "oos_precision", "retrieval_recall1", "retrieval_recall5", "retrieval_mrr10",
                    "retrieval_unrestricted_recall1", "retrieval_unrestricted_mrr10"):
            lines.append(f"| {key} | {fmt(metrics.get(key))} |")
        lines += ["", "`accuracy`: the classifier's intent accuracy on in-scope messages; "
                  "`in_scope_accuracy`: accepted by the OOS detector **and** right.", "",
                  "## Most confused (true → predicted, `oos` = rejected)", ""]
        for pair in metrics["most_confused"]:
            lines.append(f"- {pair['true']} → {pair['predicted']}: {pair['count']}")
        rejected = [(a, y) for a, y in zip(res, truth, strict=True) if not a.in_scope][:10]
        if rejected:
            lines += ["", "## In-scope messages rejected as out of scope (first 10)", ""]
            lines += [f"- `{a.text[:100]}` ({y}; predicted {a.intent} {a.confidence:.2f}, "
                      f"similarity {a.similarity:.2f})" for a, y in rejected]
        accepted = [a for a in oos_res if a.in_scope][:10]
        if accepted:
            lines += ["", "## Out-of-scope messages accepted (first 10)", ""]
            lines += [f"- `{a.text[:100]}` → {a.intent} ({a.confidence:.2f}, similarity "
                      f"{a.similarity:.2f})" for a in accepted]
        lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
        return "\n".join(lines)

    # ------------------------------------------------------------------ retraining
    def retrain(self, output_dir: str | Path, *, replay_ratio: float | None = None) -> SupportBot:
        """Update the intent model with corrected and helpful turns from the log, re-tune the OOS
        detector and save a new bot version in ``output_dir`` (never overwriting).

        Args:
            output_dir: a directory that does not exist yet.
            replay_ratio: replayed old training examples per new example
                (``domaintune.continual.update``); ``None`` = the whole replay buffer. Feedback
                batches are small, and a ``frozen`` head is refitted from scratch, so replaying
                only a few old examples would forget most of what the bot knew.

        Returns:
            The new bot (``version`` = this one's + 1; ``meta["retrain"]`` says what changed).

        Raises:
            DataError: ``output_dir`` exists, or the log has no corrected or helpful turns.

        Example:
            >>> new = SupportBot.load("models/bot").retrain("models/bot-v2")  # doctest: +SKIP
        """
        if self.directory is None:
            raise DataError("retrain needs a saved bot (with a log); load one with SupportBot.load")
        out = Path(output_dir)
        if out.exists():
            raise DataError(f"{out} already exists; a retrained bot is saved as a new version in a "
                            "new directory and never overwrites one: pass another --output")
        if out.resolve() == self.directory.resolve():
            raise DataError("the new version needs its own directory, not the bot's own")
        examples = self.log.feedback_examples()
        if not examples:
            raise DataError(f"{self.log.path} has no corrected or helpful turns to learn from; "
                            "collect feedback first (bot.feedback(turn_id, helpful=True) or "
                            "corrected_intent=...)")
        limit = self.config.dialogue.max_model_chars
        new = TextDataset(texts=[e["text"][:limit] for e in examples],
                          labels=[e["intent"] for e in examples],
                          source=f"{self.log.path} feedback")
        classifier = TextClassifier.load(self.directory / INTENT_DIR,
                                         device=str(getattr(self.classifier, "device", "auto")))
        if replay_ratio is None:
            buffer = len(classifier.replay) if classifier.replay is not None else 0
            replay_ratio = max(1.0, buffer / len(new))
        report = update(classifier, new, replay_ratio=replay_ratio)
        bot = SupportBot(self.config, classifier, self.retriever, meta={
            "version": self.version + 1, "parent": str(self.directory.resolve()),
            "parent_version": self.version, "data": self.meta.get("data", {}),
            "oos_classes": self.oos_classes})
        oos_texts = read_oos_examples(self.directory)
        validation = classifier.holdout
        if validation is None or not len(validation):
            raise DataError(f"{self.directory / INTENT_DIR} keeps no validation data, so the OOS "
                            "detector cannot be re-tuned; retrain the bot from its files")
        bot.detector = bot.tune_oos(validation, oos_texts)
        n_corrected = sum(e["source"] == "corrected" for e in examples)
        bot.meta.update(created_at=_now(), retrain={
            "n_examples": len(examples), "n_corrected": n_corrected,
            "n_helpful": len(examples) - n_corrected,
            "last_turn_id": max(e["turn_id"] for e in examples),
            "update": report.to_dict(), "oos": bot.detector.report_})
        bot.save(out, oos_texts=oos_texts)
        logger.info(
            "retrained bot version %d -> %d on %d logged turns (%d corrected, %d confirmed "
            "helpful; new intents %s) + %d replayed examples; old-holdout accuracy %s -> %s; OOS: "
            "%s. Saved to %s.", self.version, bot.version, len(examples), n_corrected,
            len(examples) - n_corrected, report.new_labels or "none", report.n_replay,
            report.before.get("accuracy"), report.after.get("accuracy"), bot.detector.describe(), out)
        return bot


def read_oos_examples(directory: str | Path) -> list[str]:
    """The OOS examples saved with a bot."""
    path = Path(directory) / OOS_EXAMPLES_FILE
    if not path.is_file():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def check_templates(kb: KnowledgeBase, config: BotConfig, labels: list[str]) -> None:
    """Fail early on answer slots without an extractor; warn about intents that do not match.

    Raises:
        ConfigError: a ``{slot}`` in an answer or response that ``dialogue.slots`` lacks.
    """
    dc = config.dialogue
    used = kb.slots()
    for intent, template in dc.responses.items():
        for slot in template_slots(template):
            used.setdefault(slot, []).append(f"response:{intent}")
    missing = {slot: ids for slot, ids in used.items() if slot not in dc.slots}
    if missing:
        detail = "; ".join(f"{{{s}}} in {ids[:3]}{' ...' if len(ids) > 3 else ''}"
                           for s, ids in missing.items())
        raise ConfigError(f"answers use slots without an extractor: {detail}; add them under "
                          "dialogue.slots, e.g. dialogue: {slots: {" + next(iter(missing)) +
                          ": {pattern: '...', prompt: 'What is ...?'}}}")
    unknown = sorted(set(kb.intents) - set(labels))
    if unknown:
        logger.warning("FAQ intents %s are not intents of the classifier; their entries are only "
                       "found when no intent restriction applies", unknown[:10])
    for key in ("handoff_intents", "escalate_intents"):
        absent = [i for i in getattr(dc, key) if i not in labels]
        if absent:
            logger.warning("dialogue.%s %s are not intents of the classifier (known: %s ...); only "
                           "keywords can trigger them", key, absent, labels[:5])
    absent = [i for i in dc.responses if i not in labels]
    if absent:
        logger.warning("dialogue.responses has intents %s the classifier does not know", absent)


def sample_bot(paths: dict[str, Path], output_dir: str | Path, *, retrain: bool = False) -> SupportBot:
    """Load, or train in seconds (frozen MiniLM), the bot of the project's sample data.

    Args:
        paths: ``data/make_samples.py``'s paths (``intents``, ``faq``, ``oos``).
        output_dir: the bot directory (e.g. ``models/demo-bot``).
        retrain: train again even if the directory holds a bot.
    """
    out = Path(output_dir)
    if (out / BOT_FILE).is_file() and not retrain:
        try:
            return SupportBot.load(out)
        except ModelLoadError as exc:
            logger.warning("cannot load the sample bot (%s); training it again", exc)
    config = BotConfig.from_yaml(SAMPLE_CONFIG)
    config.intents_file, config.faq_file = str(paths["intents"]), str(paths["faq"])
    config.oos_file = str(paths["oos"])
    return SupportBot.train(config, out, overwrite=True)

"""Settings of the support bot: one dataclass per concern, validated on construction.

``BotConfig`` holds the data files and five sections: ``intent`` (the intent classifier),
``faq`` (knowledge base columns, encoder, index, retrieval), ``oos`` (how out-of-scope
thresholds are tuned), ``dialogue`` (handoff, slots, follow-ups, messages) and ``log`` (the
SQLite conversation log). Unknown keys are errors with the closest valid key suggested; string
options are Enums; every section has ``to_dict``/``from_dict``.

Example:
    >>> cfg = BotConfig.from_dict({"intents_file": "intents.csv", "faq_file": "faq.csv",
    ...                            "intent": {"method": "frozen"}})
    >>> cfg.intent.method.value
    'frozen'
    >>> BotConfig.from_dict({"intnet": {}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    domaintune.errors.ConfigError: unknown key 'intnet' in the bot config; did you mean 'intent'? ...
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from domaintune import ConfigBase, ConfigError, Method, Runtime, TrainingConfig
from domaintune.config import apply_overrides, read_yaml_mapping
from domaintune.pairs import EXACT_SEARCH_MAX, IndexKind, PairTrainingConfig


class OOSObjective(str, enum.Enum):
    """What the out-of-scope threshold maximises on validation data that includes OOS examples.

    ``balanced_accuracy``: the mean of *in-scope accuracy* (share of in-scope validation messages
    accepted **and** given the right intent) and *OOS recall* (share of OOS examples rejected), so
    both kinds of mistake weigh the same whatever the class sizes. With ``min_oos_recall`` set,
    only thresholds reaching that OOS recall are eligible.
    ``in_scope_accuracy``: the highest in-scope accuracy among thresholds whose OOS recall is at
    least ``min_oos_recall`` (which must then be set).
    """

    BALANCED_ACCURACY = "balanced_accuracy"
    IN_SCOPE_ACCURACY = "in_scope_accuracy"


class Switch(str, enum.Enum):
    """An option that is on, off, or decided from the data (``auto``). YAML ``true`` / ``false``
    are accepted for ``"true"`` / ``"false"``."""

    AUTO = "auto"
    TRUE = "true"
    FALSE = "false"


def _switch(value: object) -> object:
    return Switch.TRUE if value is True else Switch.FALSE if value is False else value


def _faq_tuning() -> PairTrainingConfig:
    # 1 epoch over at most fine_tune_max_pairs pairs, texts cut at 64 tokens: bounded cost
    return PairTrainingConfig(epochs=1.0, batch_size=32, learning_rate=3e-5, max_length=64,
                              progress=False)


class SlotScope(str, enum.Enum):
    """How long a slot value is kept in a conversation."""

    CONVERSATION = "conversation"  # until the conversation ends (a card number, an order number)
    TOPIC = "topic"  # until the conversation moves to another intent (an amount, a merchant)


class _Section(ConfigBase):
    """A section of the bot config: errors name keys as ``<section>.<key>``."""

    _where = "config"

    def _validate(self) -> None:
        self._validate_types()

    def _check(self, checks: list[tuple[str, bool, str]]) -> None:
        self.check_ranges(checks)


# Keys of intent.training that the intent section sets itself (and uses outside training).
_INTENT_OWNED = ("method", "max_length", "seed")


def _intent_training() -> TrainingConfig:
    return TrainingConfig(method=Method.FROZEN, progress=False)


@dataclass
class IntentConfig(_Section):
    """The intent classifier (trained with ``domaintune.TextClassifier``).

    Args:
        model: encoder: ``"default"`` (packaged all-MiniLM-L6-v2), a local directory or hub id.
        method: ``frozen`` (embeddings + logistic regression: seconds), ``full``, ``lora``.
        text_column: text column of the intents file.
        label_column: intent column of the intents file.
        encoding: text encoding of the intents file.
        validation_split: share of the intents held out to calibrate the temperature and tune
            the out-of-scope thresholds (stratified).
        max_length: tokens per message for the classifier.
        seed: seed of the split and of training.
        training: the classifier's ``domaintune.TrainingConfig`` (the core's typed section:
            ``epochs``, ``head_c``, ``batch_size`` ...; ``progress`` defaults to false). Its
            ``method``, ``max_length`` and ``seed`` are the three keys above, set here and not
            under ``training``.

    Example:
        >>> IntentConfig.from_dict({"method": "full", "training": {"epochs": 2}}).training.epochs
        2.0
    """

    _where = "intent"

    model: str = "default"
    method: Method = Method.FROZEN
    text_column: str = "text"
    label_column: str = "intent"
    encoding: str = "utf-8"
    validation_split: float = 0.15
    max_length: int = 128
    seed: int = 42
    training: TrainingConfig = field(default_factory=_intent_training)

    def __post_init__(self) -> None:
        if self.training is None:
            self.training = _intent_training()
        elif isinstance(self.training, Mapping):
            clash = [k for k in _INTENT_OWNED if k in self.training]
            if clash:
                raise ConfigError(f"intent.training sets {clash}, which are intent.{clash[0]} "
                                  f"itself; set intent.{clash[0]} instead")
            try:
                self.training = TrainingConfig.from_dict({"progress": False, **self.training},
                                                         where="intent.training")
            except ConfigError as exc:
                text = str(exc)
                raise ConfigError(text if "intent.training" in text
                                  else f"intent.training: {text}") from None
        self._validate()
        self._check([
            ("validation_split", 0.0 < self.validation_split < 1.0, "a number in (0, 1)"),
            ("method", self.method != Method.ZERO_SHOT, "frozen, full or lora (the bot trains on "
                                                        "labelled intents)"),
        ])
        defaults = TrainingConfig()
        for key in _INTENT_OWNED:  # a TrainingConfig given in Python may not contradict them
            given = getattr(self.training, key)
            if given not in (getattr(defaults, key), getattr(self, key),
                             getattr(_intent_training(), key)):
                raise ConfigError(f"intent.training.{key} is {_plain_value(given)!r} but "
                                  f"intent.{key} is {_plain_value(getattr(self, key))!r}; set "
                                  f"intent.{key} only")
        self.training = dataclasses.replace(self.training, method=self.method,
                                            max_length=self.max_length, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["training"] = {k: v for k, v in out["training"].items() if k not in _INTENT_OWNED}
        return out

    def training_config(self) -> TrainingConfig:
        """The ``TrainingConfig`` the classifier is trained with (a copy of ``training``)."""
        return dataclasses.replace(self.training)


def _plain_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


@dataclass
class KnowledgeBaseConfig(_Section):
    """The FAQ / knowledge base, its embedding index and retrieval.

    Args:
        id_column, question_column, answer_column: required columns of the FAQ file.
        intent_column, tags_column: optional columns (``null`` = none). A column named here
            that the file lacks is an error unless it is the default name.
        question_separator: separator of several question paraphrases in one cell (a JSONL
            ``question`` may also be a list).
        tag_separator: separator of tags in one cell.
        encoding: text encoding of the FAQ file.
        encoder: bi-encoder embedding the questions: ``"default"`` (packaged MiniLM), a
            ``BiEncoder.save`` directory, or any local model directory / hub id.
        index_kind: ``auto`` (exact search up to ``exact_max`` vectors, HNSW above), ``flat``,
            ``hnsw`` or ``ivf``.
        exact_max: largest index searched exactly by ``auto``.
        index_answers: also embed each answer (helps when questions are few).
        restrict_to_intent: answer only from entries of the predicted intent (entries without an
            intent stay eligible for any intent; falls back to all entries when the intent has
            none).
        top_k: answers shown per reply (``top_answers``).
        candidates: nearest entries fetched per query before restriction and re-ranking.
        cross_encoder: a ``CrossEncoderModel.save`` directory to re-rank the candidates; null =
            off.
        rerank_candidates: candidates scored by the cross-encoder.
        intents_from_ids: when no FAQ entry has an intent but some intents of the classifier
            are entry ids (intent examples labelled with the FAQ id they ask about), those
            entries answer those intents (restriction, fine-tune pairs and fusion then use it).
        fine_tune: fine-tune the FAQ bi-encoder on (paraphrase, FAQ entry) pairs while training
            the bot: ``auto`` (default: when there are at least ``fine_tune_min_pairs`` pairs),
            ``true`` (always; fewer than 2 pairs or entries is an error) or ``false``. The pairs
            are each FAQ question paraphrase with its entry, plus each training intent example
            whose intent has exactly one FAQ entry (``intent`` column) with that entry; the
            validation messages never are. The positive passage is the entry's answer; with
            ``fine_tune_hard_negatives`` each pair also gets the answer of the entry the frozen
            encoder ranks highest among the wrong ones. Loss: the core's in-batch negatives
            (``domaintune.pairs.BiEncoder.fit``). The tuned encoder is saved in the bot
            (``kb/encoder/``); ``faq.encoder`` stays the model it started from.
        fine_tune_min_pairs: pairs needed for ``fine_tune: auto`` to fine-tune.
        fine_tune_max_pairs: at most this many pairs are used (a seeded sample, spread over the
            entries), which bounds the training time.
        fine_tune_hard_negatives: add one mined hard negative per pair.
        fine_tune_min_steps: a small pair set is trained for more epochs, up to this many
            optimizer steps (unless ``fine_tune_training.max_steps`` is set): on BANKING77 with
            3 messages per intent, 25 steps (5 epochs of 153 pairs) gave Recall@1 0.742 against
            0.723 for 1 epoch (5 steps).
        fine_tune_training: the ``domaintune.pairs.PairTrainingConfig`` of the fine-tune
            (default: 1 epoch, batch 32, learning rate 3e-5, texts cut at 64 tokens).
        fusion: rank the FAQ by a small logistic regression over the retriever's and the intent
            classifier's signals per candidate entry (cosine, its gap to the best, 1/rank, the
            classifier's probability of the entry's intent, ...), learned on the validation
            messages whose intent has exactly one entry (positive = that entry) and saved as
            JSON coefficients (``fusion.json``). ``auto`` (default): learned and used when the
            FAQ entries carry intents of the classifier and at least ``fusion_min_queries``
            validation messages can train it; ``true``: the same, with a warning when it
            cannot be learned; ``false``: the intent-restricted ranking. Not combined with a
            ``cross_encoder``.
        fusion_min_queries: validation messages needed to learn the fusion.
        fusion_intents: the classifier's top intents whose entries are added to the retrieved
            candidates (so the classifier can bring an entry the retriever missed).
    """

    _where = "faq"

    id_column: str = "id"
    question_column: str = "question"
    answer_column: str = "answer"
    intent_column: str | None = "intent"
    tags_column: str | None = "tags"
    question_separator: str = " || "
    tag_separator: str = ";"
    encoding: str = "utf-8"
    encoder: str = "default"
    index_kind: IndexKind = IndexKind.AUTO
    exact_max: int = EXACT_SEARCH_MAX
    index_answers: bool = True
    restrict_to_intent: bool = True
    top_k: int = 3
    candidates: int = 50
    cross_encoder: str | None = None
    rerank_candidates: int = 10
    intents_from_ids: bool = True
    fine_tune: Switch = Switch.AUTO
    fine_tune_min_pairs: int = 100
    fine_tune_max_pairs: int = 1000
    fine_tune_hard_negatives: bool = True
    fine_tune_min_steps: int = 25
    fine_tune_training: PairTrainingConfig = field(default_factory=_faq_tuning)
    fusion: Switch = Switch.AUTO
    fusion_min_queries: int = 20
    fusion_intents: int = 3

    def __post_init__(self) -> None:
        self.fine_tune = _switch(self.fine_tune)
        self.fusion = _switch(self.fusion)
        if self.fine_tune_training is None:
            self.fine_tune_training = _faq_tuning()
        elif isinstance(self.fine_tune_training, Mapping):
            self.fine_tune_training = PairTrainingConfig.from_dict(
                {**_faq_tuning().to_dict(), **self.fine_tune_training},
                where="faq.fine_tune_training")
        self._validate()
        self._check([
            ("fine_tune_min_pairs", self.fine_tune_min_pairs >= 2, "an integer >= 2"),
            ("fine_tune_max_pairs", self.fine_tune_max_pairs >= 2, "an integer >= 2"),
            ("fine_tune_min_steps", self.fine_tune_min_steps >= 0, "an integer >= 0"),
            ("fusion_min_queries", self.fusion_min_queries >= 2, "an integer >= 2"),
            ("fusion_intents", self.fusion_intents >= 1, "an integer >= 1"),
            ("question_separator", bool(self.question_separator.strip()), "a non-blank separator"),
            ("exact_max", self.exact_max > 0, "a positive integer"),
            ("top_k", self.top_k > 0, "a positive integer"),
            ("candidates", self.candidates >= self.top_k, f"an integer >= top_k ({self.top_k})"),
            ("rerank_candidates", self.rerank_candidates > 0, "a positive integer"),
        ])


@dataclass
class OOSConfig(_Section):
    """How the out-of-scope detector is tuned (no hand-set thresholds).

    Two signals: the classifier's temperature-calibrated top probability and the cosine
    similarity of the best FAQ match. With at least ``min_oos_examples`` OOS examples, a logistic
    regression combines them and its threshold maximises ``objective`` on the validation
    intents + OOS examples. Otherwise one threshold per signal is set at the same quantile of the
    in-scope validation data, so that ``target_acceptance`` of it is accepted.

    Args:
        objective: ``balanced_accuracy`` or ``in_scope_accuracy`` (see :class:`OOSObjective`).
        min_oos_recall: required OOS recall on the OOS examples (null = no constraint).
        target_acceptance: share of in-scope validation messages accepted without OOS examples.
        min_oos_examples: fewer OOS examples than this fall back to ``target_acceptance``.
        label: name of the out-of-scope class the classifier learns from ``oos_train_file``
            (never shown as an intent; must differ from every intent).
        topic_column: optional column of ``oos_train_file`` naming each example's topic
            ("mortgages", "insurance"); each topic becomes its own class ``label/topic``, and
            their probabilities add up to the out-of-scope probability. Topics you do not serve
            are often close to ones you do; one class per topic keeps them apart better than a
            single catch-all class.
        text_column: text column of the OOS files.
        encoding: text encoding of the OOS files.
    """

    _where = "oos"

    objective: OOSObjective = OOSObjective.BALANCED_ACCURACY
    min_oos_recall: float | None = None
    target_acceptance: float = 0.95
    min_oos_examples: int = 10
    label: str = "out_of_scope"
    topic_column: str | None = None
    text_column: str = "text"
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        self._validate()
        self._check([
            ("min_oos_recall", self.min_oos_recall is None or 0.0 < self.min_oos_recall <= 1.0,
             "a number in (0, 1] or null"),
            ("target_acceptance", 0.0 < self.target_acceptance <= 1.0, "a number in (0, 1]"),
            ("min_oos_examples", self.min_oos_examples >= 2, "an integer >= 2"),
            ("label", bool(str(self.label).strip()), "a non-empty class name"),
        ])
        if self.objective == OOSObjective.IN_SCOPE_ACCURACY and self.min_oos_recall is None:
            raise ConfigError("oos.objective 'in_scope_accuracy' needs oos.min_oos_recall (e.g. "
                              "0.9); set it, or use objective 'balanced_accuracy'")


@dataclass
class SlotConfig(_Section):
    """One slot of the answer templates (``{name}`` in an answer).

    Args:
        pattern: regular expression finding the value in a message (the first group if it has
            one, else the whole match); null = free text only.
        prompt: what the bot asks when the value is missing.
        free_text: when the bot has asked for this slot and the pattern finds nothing, take the
            whole reply (up to 80 characters) as the value.
        scope: ``conversation`` (kept until the conversation ends) or ``topic`` (forgotten when
            the conversation moves to another intent, unless the message gives it again).
    """

    _where = "dialogue.slots"

    pattern: str | None = None
    prompt: str = ""
    free_text: bool = False
    scope: SlotScope = SlotScope.CONVERSATION

    def __post_init__(self) -> None:
        self._validate()
        if self.pattern is None and not self.free_text:
            raise ConfigError(f"{self._where}: a slot needs a pattern or free_text: true")
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ConfigError(f"{self._where}: pattern {self.pattern!r} is not a valid regular "
                                  f"expression ({exc}); fix it (YAML: quote it in single quotes)") from None
            if compiled.groups > 1:
                raise ConfigError(f"{self._where}: pattern {self.pattern!r} has {compiled.groups} "
                                  "groups; use at most one (the value), and (?:...) elsewhere")
        if not self.prompt.strip():
            raise ConfigError(f"{self._where}: expected a prompt asking for the value, found none")


def free_text_slot(name: str) -> SlotConfig:
    """The slot of a ``{name}`` no extractor is configured for: asked for in words ("What is
    the merchant?"), the customer's reply is the value, forgotten when the topic changes.

    Example:
        >>> free_text_slot("merchant").prompt
        'What is the merchant?'
    """
    return SlotConfig(pattern=None, prompt=f"What is the {name.replace('_', ' ')}?",
                      free_text=True, scope=SlotScope.TOPIC)


def _default_slots() -> dict[str, SlotConfig]:
    # Order matters: an earlier slot claims its text first (an amount "£1200" is not a card's
    # last four digits).
    return {
        "amount": SlotConfig(
            pattern=r"(?:[£$€]\s?\d+(?:,\d{3})*(?:\.\d{1,2})?|\b\d+(?:,\d{3})*(?:\.\d{1,2})?\s?"
                    r"(?i:pounds|euros|dollars|gbp|eur|usd)\b)",
            prompt="What amount is it about (for example £25.00)?", scope=SlotScope.TOPIC),
        "order_number": SlotConfig(pattern=r"\b\d{6,}\b",
                                   prompt="What is your order number? It has 6 or more digits."),
        "card_last4": SlotConfig(pattern=r"\b\d{4}\b",
                                 prompt="What are the last 4 digits of your card?"),
    }


@dataclass
class DialogueConfig(_Section):
    """Conversation rules: handoff, slots, follow-ups and the bot's fixed messages.

    Args:
        handoff_intents: intents that mean "let me talk to a person" (handoff when predicted
            in scope).
        escalate_intents: intents always passed to an agent (e.g. complaints).
        handoff_keywords: phrases that hand off whatever the classifier says (whole words,
            case-insensitive).
        low_confidence_limit: consecutive out-of-scope turns that hand off.
        slot_retry_limit: times the bot asks again for a slot value it did not get; after
            that an off-topic message drops the waiting answer (and is out of scope), and an
            in-scope message without the value hands off.
        ask_unknown_slots: a ``{slot}`` in an answer that ``slots`` does not define is asked for
            in words ("What is the merchant?", free text) instead of failing training.
        followup_max_words: a message of at most this many words with a reference or follow-up
            start ("and ...", "that", "it") may reuse the last intent.
        followup_starts: openings of a follow-up ("and", "what about" ...).
        followup_references: words referring back ("that", "it" ...).
        max_model_chars: characters of a message given to the models (longer ones are cut,
            the count is logged).
        max_log_chars: characters of a message kept in the log.
        responses: fixed answers per intent (templates allowed), used before the FAQ.
        slots: slot name -> ``SlotConfig`` (pattern, prompt, free_text).
        fallback_message: reply to an out-of-scope message.
        handoff_message: reply when handing off.
        empty_message: reply to an empty message.
        slot_retry_prefix: put before the slot prompt when the reply did not contain the value.
    """

    _where = "dialogue"

    handoff_intents: list[str] = field(default_factory=lambda: ["speak_to_human"])
    escalate_intents: list[str] = field(default_factory=list)
    handoff_keywords: list[str] = field(default_factory=lambda: [
        "human", "real person", "a person", "an agent", "live agent", "operator",
        "representative", "speak to someone", "talk to someone", "customer service"])
    low_confidence_limit: int = 2
    slot_retry_limit: int = 1
    ask_unknown_slots: bool = True
    followup_max_words: int = 8
    followup_starts: list[str] = field(default_factory=lambda: [
        "and", "also", "what about", "how about", "but", "then", "so"])
    followup_references: list[str] = field(default_factory=lambda: [
        "that", "it", "this", "those", "these", "them", "they", "there"])
    max_model_chars: int = 2000
    max_log_chars: int = 20000
    responses: dict[str, str] = field(default_factory=dict)
    slots: dict[str, SlotConfig] = field(default_factory=_default_slots)
    fallback_message: str = ("Sorry, I'm not sure I understood. Could you rephrase that? I can help "
                             "with questions about your account, cards and payments.")
    handoff_message: str = ("I'm passing you to one of our agents; someone will reply here "
                            "shortly.")
    empty_message: str = "Please type a message so I can help."
    slot_retry_prefix: str = "Sorry, I didn't catch that."

    def __post_init__(self) -> None:
        if isinstance(self.slots, Mapping):
            self.slots = {str(k): (v if isinstance(v, SlotConfig)
                                   else SlotConfig.from_dict(v, where=f"dialogue.slots.{k}"))
                          for k, v in self.slots.items()}
        self._validate()
        bad = [k for k in self.slots if not re.fullmatch(r"[a-z_][a-z0-9_]*", k)]
        if bad:
            raise ConfigError(f"dialogue.slots: slot names are lower-case identifiers as in "
                              f"{{order_number}}, found {bad}")
        self._check([
            ("low_confidence_limit", self.low_confidence_limit >= 1, "an integer >= 1"),
            ("slot_retry_limit", self.slot_retry_limit >= 0, "an integer >= 0"),
            ("followup_max_words", self.followup_max_words >= 1, "an integer >= 1"),
            ("max_model_chars", self.max_model_chars >= 16, "an integer >= 16"),
            ("max_log_chars", self.max_log_chars >= 16, "an integer >= 16"),
        ])


@dataclass
class LogConfig(_Section):
    """The SQLite conversation log (one file per bot directory, WAL mode).

    Args:
        file: file name inside the bot directory.
        busy_timeout_s: how long a writer waits for the lock before retrying.
        max_retries: attempts of a write that found the database locked.
    """

    _where = "log"

    file: str = "log.db"
    busy_timeout_s: float = 30.0
    max_retries: int = 20

    def __post_init__(self) -> None:
        self._validate()
        self._check([
            ("file", bool(self.file) and "/" not in self.file and "\\" not in self.file,
             "a plain file name"),
            ("busy_timeout_s", self.busy_timeout_s > 0, "a positive number"),
            ("max_retries", self.max_retries >= 1, "an integer >= 1"),
        ])


@dataclass
class BotConfig(_Section):
    """Everything needed to train a support bot.

    Args:
        intents_file: labelled messages (CSV/TSV/JSONL/JSON/Parquet).
        validation_file: labelled messages held out for calibration and OOS tuning (same
            columns); null = a stratified ``intent.validation_split`` of ``intents_file``.
        faq_file: the knowledge base (CSV or JSONL).
        oos_file: optional out-of-scope messages for tuning the OOS detector.
        oos_train_file: optional out-of-scope messages that train an extra ``oos.label`` class
            of the intent classifier (keep them apart from ``oos_file``: the detector is tuned on
            messages the classifier has not seen).
        output_dir: where ``support-bot train --config`` writes the bot (``--output`` wins).
        runtime: how the loaded bot runs its classifier and FAQ encoder: ``onnx`` (ONNX
            Runtime; both models are exported when the bot is saved, each checked to give the
            PyTorch outputs), ``torch``, or ``auto`` (ONNX Runtime on a CPU, PyTorch on a GPU).
        intent, faq, oos, dialogue, log: the sections above.

    Example:
        >>> cfg = BotConfig(intents_file="data/support/intents.csv",
        ...                 faq_file="data/support/faq.csv")
        >>> cfg.dialogue.low_confidence_limit
        2
    """

    _where = "the bot config"

    @classmethod
    def _key_where(cls, key: str) -> str:  # top-level keys by their bare name
        return key

    intents_file: str | None = None
    validation_file: str | None = None
    faq_file: str | None = None
    oos_file: str | None = None
    oos_train_file: str | None = None
    output_dir: str | None = None
    runtime: Runtime = Runtime.AUTO
    intent: IntentConfig = field(default_factory=IntentConfig)
    faq: KnowledgeBaseConfig = field(default_factory=KnowledgeBaseConfig)
    oos: OOSConfig = field(default_factory=OOSConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        self._validate()

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> BotConfig:
        """Read a YAML file, then apply ``section.key=value`` overrides (values parsed as YAML).

        Relative paths in the YAML (the data files, ``output_dir``, and ``intent.model``,
        ``faq.encoder``, ``faq.cross_encoder`` when they name a local directory) are taken
        relative to the YAML file's folder; ``--set`` values relative to the working directory.

        Example:
            >>> BotConfig.from_yaml("bot.yaml", ["dialogue.low_confidence_limit=3"])  # doctest: +SKIP
        """
        path = Path(path)
        data = read_yaml_mapping(path)
        for key in _FILE_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                data[key] = str((path.parent / value).resolve())
        for section, key in _MODEL_KEYS:  # a model given as a local path, relative to the file
            node = data.get(section)
            value = node.get(key) if isinstance(node, dict) else None
            if (isinstance(value, str) and value and value != "default"
                    and not Path(value).is_absolute() and (path.parent / value).exists()):
                data[section] = {**node, key: str((path.parent / value).resolve())}
        return cls.from_dict(apply_overrides(data, overrides or []))

    def to_yaml(self) -> str:
        """The config as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


_FILE_KEYS = ("intents_file", "validation_file", "faq_file", "oos_file", "oos_train_file",
              "output_dir")
_MODEL_KEYS = (("intent", "model"), ("faq", "encoder"), ("faq", "cross_encoder"))

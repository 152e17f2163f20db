"""Training the support bot: fit the intent classifier, index the FAQ, tune the OOS detector,
and retrain from the conversation log's feedback.

:class:`~support_bot.SupportBot`'s ``train``, ``tune_oos`` and ``retrain`` call these functions.

Example:
    >>> from support_bot import BotConfig
    >>> bot = train(BotConfig.from_yaml("apps/support_bot/sample_bot.yaml"), "models/bot")  # doctest: +SKIP
    >>> new = retrain(bot, "models/bot-v2")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from domaintune import (
    ConfigError,
    DataError,
    ModelLoadError,
    TextClassifier,
    TextDataset,
    load_dataset,
    train_validation_split,
    update,
)
from domaintune.artifacts import check_target

from .advice import reading
from .config import BotConfig, Switch, free_text_slot
from .faq_tuning import faq_pairs, fine_tune_encoder, should_fine_tune, single_entry_intents
from .fusion import AnswerFusion, features
from .knowledge import KnowledgeBase, load_knowledge_base, template_slots
from .oos import OOSDetector
from .retrieval import FaqRetriever
from .service import BOT_FILE, INTENT_DIR, SupportBot, now, read_oos_examples

logger = logging.getLogger(__name__)

SAMPLE_CONFIG = Path(__file__).with_name("sample_bot.yaml")


def _resolve_path_option(value: str | None) -> str | None:
    """Make an option that names an existing local path absolute (so the bot loads anywhere)."""
    if value and value != "default" and Path(value).exists():
        return str(Path(value).resolve())
    return value


def train(config: BotConfig, output_dir: str | Path | None = None, *,
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
        >>> bot = train(cfg, "models/bot")  # doctest: +SKIP
    """
    start = time.perf_counter()
    out = Path(output_dir or config.output_dir or "")
    if not str(output_dir or config.output_dir or ""):
        raise ConfigError("no output directory: pass output_dir (--output BOT_DIR) or set "
                          "output_dir in the config")
    # before minutes of training: may this directory be written? (never a folder of other
    # files; an earlier bot only with overwrite, and its log is lost)
    check_target(out, overwrite=overwrite, what="support bot", meta_file=BOT_FILE)
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
    with reading("intents"):  # advice in data errors names the bot's own settings
        data = load_dataset(config.intents_file, **opts)
        val_data = load_dataset(config.validation_file, **opts) if config.validation_file else None
    if val_data is not None:
        train, val = data, val_data
        unseen = sorted(set(val.labels) - set(train.labels))
        if unseen:
            raise DataError(f"{config.validation_file}: intents {unseen[:10]} do not occur in "
                            f"{config.intents_file}; remove those rows or add training examples")
    else:
        with reading("intents"):
            train, val = train_validation_split(data, ic.validation_split, seed=ic.seed)
    kb = load_knowledge_base(config.faq_file, config.faq)
    labels = train.label_names
    kb = intents_from_ids(kb, labels, config)
    config = check_templates(kb, config, labels)
    # (paraphrase, entry) pairs of the FAQ and the intent examples; never the validation ones
    pairs = faq_pairs(kb, train.texts, train.labels, exclude=val.texts)
    tune, why = should_fine_tune(len(pairs), len({e for _, e in pairs}), config.faq)
    logger.info("FAQ encoder fine-tune: %s (%s)", "yes" if tune else "no", why)
    oos_texts: list[str] = []
    if config.oos_file:
        with reading("oos"):
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
        with reading("oos"):
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
    tuned, tune_report = None, None
    if tune:
        tuned, tune_report = fine_tune_encoder(kb, pairs, config.faq, seed=ic.seed)
    retriever = FaqRetriever.build(kb, config.faq, encoder=tuned, fine_tuned=tune_report)
    bot = SupportBot(config, clf, retriever,
              meta={"version": 1, "parent": None, "oos_classes": classes[len(labels):]})
    bot.fusion, fusion_report = fit_fusion(bot, val)
    bot.detector = tune_oos(bot, val, oos_texts)
    summary = {
        "worst_intents": worst_intents(bot, val),
        "intents": len(labels), "n_train": len(train), "n_validation": len(val),
        "validation": clf.metrics.get("validation", {}),
        "calibration": clf.metrics.get("calibration", {}),
        "faq": retriever.describe(), "oos": bot.detector.report_,
        "faq_fine_tune": {"done": tune, "why": why, "pairs": len(pairs), **(tune_report or {})},
        "faq_fusion": fusion_report,
        "n_oos_examples": len(oos_texts), "n_oos_train": n_oos_train,
        "n_intent_train": len(train) - n_oos_train, "seconds": round(time.perf_counter() - start, 2),
    }
    bot.meta.update(created_at=now(), summary=summary,
                    data={"intents_file": config.intents_file,
                          "validation_file": config.validation_file,
                          "faq_file": config.faq_file, "oos_file": config.oos_file,
                          "oos_train_file": config.oos_train_file})
    bot.save(out, oos_texts=oos_texts, overwrite=overwrite)
    logger.info(
        "trained a support bot on %d intent examples (%d intents; %d held out for calibration "
        "and OOS tuning, validation accuracy %.3f), indexed %d FAQ entries as %d vectors (%s), "
        "tuned OOS detection with %d OOS examples: %s. Saved to %s in %.1fs.",
        len(train) - n_oos_train, len(labels), len(val), summary["validation"].get("accuracy", float("nan")),
        len(kb), len(retriever.index), retriever.index.kind_.value, len(oos_texts),
        bot.detector.describe(), out, summary["seconds"])
    return bot


def worst_intents(bot: SupportBot, data: TextDataset, n: int = 3) -> list[list]:
    """The ``n`` intents with the lowest F1 on ``data`` (``[[intent, f1], ...]``, worst first)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(data.labels))
    predicted = [a.intent for a in bot.analyze(list(data.texts))]
    scores = f1_score(list(data.labels), predicted, labels=labels, average=None, zero_division=0)
    ranked = sorted(zip(labels, (round(float(x), 4) for x in scores), strict=True),
                    key=lambda x: x[1])
    return [list(x) for x in ranked[:n]]


def fit_fusion(bot: SupportBot, validation: TextDataset) -> tuple[AnswerFusion | None,
                                                                  dict[str, Any]]:
    """Learn the answer fusion (``faq.fusion``) on the validation messages whose intent has
    exactly one FAQ entry, that entry being the right answer.

    Each message's candidates are built exactly as a reply builds them
    (:meth:`SupportBot.fusion_candidates`: the nearest entries and those of the classifier's
    ``faq.fusion_intents`` most probable intents), so the right entry is among them only when
    the retriever or the classifier brought it; it is never added. A message whose right entry
    is not among its candidates contributes its candidates as negatives only (as at serving
    time, none of them is right) and counts as a miss in every ranking's figures; the report
    and the training log give their number (``n_right_missing``). Retrieval features of a
    validation message leave out its own text when it is also an FAQ question (the encoder
    never trained on validation messages, see :func:`support_bot.faq_tuning.faq_pairs`). The
    report holds the cross-validated figures of the fusion and those of the retriever, the
    classifier and the intent-restricted ranking on the same candidates (not a gate: on
    BANKING77 with 3 messages per intent, the 78-message comparison rejected a fusion that was
    1.6 points better on the test set).

    Returns:
        ``(fusion or None, report)``: the report says whether it is used and why, with the
        validation figures of every ranking. A fusion that cannot be learned (e.g. no message
        has its right entry among its candidates) is ``None`` and the report says why (a
        warning with ``faq.fusion: true``, an info line with ``auto``).
    """
    cfg = bot.config.faq
    if cfg.fusion == Switch.FALSE:
        return None, {"used": False, "why": "faq.fusion is false"}

    def skip(why: str) -> tuple[None, dict[str, Any]]:
        (logger.warning if cfg.fusion == Switch.TRUE else logger.info)(
            "answer fusion not learned: %s", why)
        return None, {"used": False, "why": why}

    if cfg.cross_encoder is not None:
        return skip("a faq.cross_encoder re-ranks the answers")
    entry_of = single_entry_intents(bot.kb)
    known = set(bot.intents)
    entry_of = {i: e for i, e in entry_of.items() if i in known}
    if not entry_of:
        return skip("no FAQ entry carries an intent of the classifier (faq.intent_column)")
    limit = bot.config.dialogue.max_model_chars
    usable = [(t[:limit], y) for t, y in zip(validation.texts, validation.labels, strict=True)
              if y in entry_of]
    if len(usable) < cfg.fusion_min_queries:
        return skip(f"{len(usable)} validation messages of intents with one FAQ entry < "
                    f"faq.fusion_min_queries ({cfg.fusion_min_queries})")
    texts = [t for t, _ in usable]
    probs = np.atleast_2d(bot.classifier.predict_proba(texts))
    intents = bot.best_intents(probs)
    vectors = bot.retriever.encode(texts)
    # the candidates a reply would get (no right entry added), leave-one-out for FAQ questions
    candidates, pmaps = bot.fusion_candidates(vectors, probs, exclude_texts=texts)
    intent_of = bot.retriever.intent_of
    rows, ids, gold = [], [], []
    missing = 0
    base: dict[str, list[list[str]]] = {"retriever": [], "classifier": [], "restricted": []}
    for cands, pmap, top, (_, y) in zip(candidates, pmaps, intents, usable, strict=True):
        order, feats = features(cands, pmap, top, intent_of, bot.retriever.entries_per_intent)
        if not order:
            continue
        missing += entry_of[y] not in order  # negatives only: none of its candidates is right
        rows.append(feats)
        ids.append(order)
        gold.append(entry_of[y])
        base["retriever"].append(order)  # by cosine
        base["classifier"].append(sorted(order, key=lambda e: -pmap.get(intent_of.get(e) or "", 0.0)))
        own = ([e for e in order if intent_of.get(e) in (top, None)]
               if any(intent_of.get(e) == top for e in order) else [])
        base["restricted"].append(own + [e for e in order if e not in set(own)])
    try:
        fusion = AnswerFusion.fit(rows, ids, gold, base, seed=bot.config.intent.seed)
    except DataError as exc:  # e.g. no right entry among any candidates, or too few messages
        return skip(f"the fusion cannot be learned from the validation messages ({exc}; "
                    f"{missing} of {len(rows)} messages had their right entry outside the "
                    "candidates); to learn it, raise faq.candidates or faq.fusion_intents, give "
                    "more validation messages of intents that map to one FAQ entry, or set "
                    "faq.fusion: false to rank without it")
    fusion.report["n_right_missing"] = missing
    report = dict(fusion.report)
    logger.info("%s; %d of %d messages had their right entry outside the candidates (negatives "
                "only, a miss for every ranking); validation Recall@1 retriever %.4f, "
                "classifier %.4f, restricted %.4f", fusion.describe(), missing, len(rows),
                report["retriever"]["recall@1"], report["classifier"]["recall@1"],
                report["restricted"]["recall@1"])
    return fusion, {"used": True, "why": f"faq.fusion is {cfg.fusion.value}", **report}


def tune_oos(bot: SupportBot, validation: TextDataset,
             oos_texts: list[str] | None = None) -> OOSDetector:
    """Fit an :class:`OOSDetector` on in-scope validation data and OOS examples.

    Args:
        bot: the bot whose classifier and retriever give the signals (its own detector is not
            used while tuning).
        validation: labelled in-scope messages the classifier was not trained on.
        oos_texts: out-of-scope messages (may be empty).

    Returns:
        The fitted detector (also see ``detector.report_``).
    """
    cfg = bot.config.oos
    saved, bot.detector = bot.detector, None
    try:
        val = bot.analyze(validation.texts)
        oos = bot.analyze(list(oos_texts or []))
    finally:
        bot.detector = saved
    correct = [a.intent == y for a, y in zip(val, validation.labels, strict=True)]
    det = OOSDetector(cfg.objective, min_oos_recall=cfg.min_oos_recall,
                      target_acceptance=cfg.target_acceptance,
                      min_oos_examples=cfg.min_oos_examples)
    with_class = bot.has_oos_class
    return det.fit([a.confidence for a in val], [a.similarity for a in val], correct,
                   [a.confidence for a in oos] if oos else None,
                   [a.similarity for a in oos] if oos else None,
                   oos_probability=[a.oos_probability for a in val] if with_class else None,
                   oos_examples_oos_probability=([a.oos_probability for a in oos]
                                                 if with_class and oos else None))


def retrain(source: SupportBot, output_dir: str | Path, *,
            replay_ratio: float | None = None) -> SupportBot:
    """Update the intent model with corrected and helpful turns from the log, re-tune the OOS
    detector and save a new bot version in ``output_dir`` (never overwriting).

    Args:
        source: a saved bot (with its log).
        output_dir: a directory that does not exist yet.
        replay_ratio: replayed old training examples per new example
            (``domaintune.continual.update``); ``None`` = the whole replay buffer. Feedback
            batches are small, and a ``frozen`` head is refitted from scratch, so replaying
            only a few old examples would forget most of what the bot knew.

    Returns:
        The new bot (``version`` = the source's + 1; ``meta["retrain"]`` says what changed).

    Raises:
        DataError: ``output_dir`` exists, or the log has no corrected or helpful turns.
    """
    if source.directory is None:
        raise DataError("retrain needs a saved bot (with a log); load one with SupportBot.load")
    out = Path(output_dir)
    if out.exists():
        raise DataError(f"{out} already exists; a retrained bot is saved as a new version in a "
                        "new directory and never overwrites one: pass another --output")
    if out.resolve() == source.directory.resolve():
        raise DataError("the new version needs its own directory, not the bot's own")
    examples = source.log.feedback_examples()
    if not examples:
        raise DataError(f"{source.log.path} has no corrected or helpful turns to learn from; "
                        "collect feedback first (bot.feedback(turn_id, helpful=True) or "
                        "corrected_intent=...)")
    limit = source.config.dialogue.max_model_chars
    new = TextDataset(texts=[e["text"][:limit] for e in examples],
                      labels=[e["intent"] for e in examples],
                      source=f"{source.log.path} feedback")
    classifier = TextClassifier.load(source.directory / INTENT_DIR,
                                     device=str(getattr(source.classifier, "device", "auto")))
    if replay_ratio is None:
        buffer = len(classifier.replay) if classifier.replay is not None else 0
        replay_ratio = max(1.0, buffer / len(new))
    report = update(classifier, new, replay_ratio=replay_ratio)
    bot = SupportBot(source.config, classifier, source.retriever, meta={
        "version": source.version + 1, "parent": str(source.directory.resolve()),
        "parent_version": source.version, "data": source.meta.get("data", {}),
        "oos_classes": source.oos_classes})
    oos_texts = read_oos_examples(source.directory)
    validation = classifier.holdout
    if validation is None or not len(validation):
        raise DataError(f"{source.directory / INTENT_DIR} keeps no validation data, so the OOS "
                        "detector cannot be re-tuned; retrain the bot from its files")
    bot.fusion, fusion_report = fit_fusion(bot, validation)
    bot.detector = tune_oos(bot, validation, oos_texts)
    n_corrected = sum(e["source"] == "corrected" for e in examples)
    bot.meta.update(created_at=now(), retrain={
        "n_examples": len(examples), "n_corrected": n_corrected,
        "n_helpful": len(examples) - n_corrected,
        "last_turn_id": max(e["turn_id"] for e in examples),
        "update": report.to_dict(), "oos": bot.detector.report_, "faq_fusion": fusion_report})
    bot.save(out, oos_texts=oos_texts)
    logger.info(
        "retrained bot version %d -> %d on %d logged turns (%d corrected, %d confirmed "
        "helpful; new intents %s) + %d replayed examples; old-holdout accuracy %s -> %s; OOS: "
        "%s. Saved to %s.", source.version, bot.version, len(examples), n_corrected,
        len(examples) - n_corrected, report.new_labels or "none", report.n_replay,
        report.before.get("accuracy"), report.after.get("accuracy"), bot.detector.describe(), out)
    return bot


def intents_from_ids(kb: KnowledgeBase, labels: list[str], config: BotConfig) -> KnowledgeBase:
    """With ``faq.intents_from_ids``: an FAQ without intents whose entry ids are intents of the
    classifier (intent examples labelled by FAQ id) gets those intents."""
    if not config.faq.intents_from_ids or kb.intents:
        return kb
    known = set(labels)
    matched = [e for e in kb if e.id in known]
    if not matched:
        return kb
    logger.info("the FAQ has no intent column, but %d of its %d entry ids are intents of the "
                "classifier: those entries answer those intents (faq.intents_from_ids)",
                len(matched), len(kb))
    return KnowledgeBase([dataclasses.replace(e, intent=e.id) if e.id in known else e
                          for e in kb], source=kb.source)


def check_templates(kb: KnowledgeBase, config: BotConfig, labels: list[str]) -> BotConfig:
    """Slots for every ``{slot}`` of the answers; warn about intents that do not match.

    A ``{slot}`` that ``dialogue.slots`` lacks is asked for in words ("What is the
    merchant?", :func:`~support_bot.config.free_text_slot`) when
    ``dialogue.ask_unknown_slots`` (the default); the returned config has them.

    Raises:
        ConfigError: a slot without an extractor while ``dialogue.ask_unknown_slots`` is off.
    """
    dc = config.dialogue
    used = kb.slots()
    for intent, template in dc.responses.items():
        for slot in template_slots(template):
            used.setdefault(slot, []).append(f"response:{intent}")
    missing = {slot: ids for slot, ids in used.items() if slot not in dc.slots}
    if missing and dc.ask_unknown_slots:
        logger.info("answers use slots without a pattern: %s; the bot asks for them in words "
                    "and takes the reply as the value (add a pattern under dialogue.slots to "
                    "find them in any message)", ", ".join(f"{{{s}}}" for s in missing))
        config = dataclasses.replace(config, dialogue=dataclasses.replace(
            dc, slots={**dc.slots, **{s: free_text_slot(s) for s in missing}}))
        dc = config.dialogue
    elif missing:
        detail = "; ".join(f"{{{s}}} in {ids[:3]}{' ...' if len(ids) > 3 else ''}"
                           for s, ids in missing.items())
        raise ConfigError(f"answers use slots without an extractor: {detail}; add them under "
                          "dialogue.slots, e.g. dialogue: {slots: {" + next(iter(missing)) +
                          ": {pattern: '...', prompt: 'What is ...?'}}}, or set "
                          "dialogue.ask_unknown_slots: true to ask for them in words")
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
    return config



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
    logger.info("training the sample bot into %s (intent classifier, FAQ index, OOS detector "
                "and ONNX exports: under a minute on a CPU) ...", out)
    config = BotConfig.from_yaml(SAMPLE_CONFIG)
    config.intents_file, config.faq_file = str(paths["intents"]), str(paths["faq"])
    config.oos_file = str(paths["oos"])
    return train(config, out, overwrite=True)


DEMO_DIR = "demo-bot"


def demo_bot(samples: dict[str, Path], models_dir: str | Path, *,
             retrain: bool = False) -> SupportBot:
    """The demo's bot (``AppSpec.demo``): :func:`sample_bot` in
    ``models_dir/demo-bot``."""
    return sample_bot(samples, Path(models_dir) / DEMO_DIR, retrain=retrain)


def demo_classifier(bot: SupportBot) -> TextClassifier:
    """The bot's intent classifier as a PyTorch ``TextClassifier`` (``AppSpec.classifier``):
    the demo's "Text classifier" tab shows it rather than training a second classifier on
    the same sample intents."""
    if isinstance(bot.classifier, TextClassifier):
        return bot.classifier
    return TextClassifier.load(Path(bot.directory) / INTENT_DIR, device="cpu")

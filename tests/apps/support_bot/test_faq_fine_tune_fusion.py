"""The FAQ encoder's default fine-tune on (paraphrase, entry) pairs and the learned answer fusion
of the classifier's and the retriever's scores (apps/support_bot/faq_tuning.py, fusion.py), on the
tiny random BERT."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_support_bot import toy_config, toy_files  # noqa: F401  (module fixture)

from domaintune import ConfigError, DataError, TextDataset
from support_bot import BotConfig, FaqEntry, KnowledgeBase, KnowledgeBaseConfig, SupportBot
from support_bot.dialogue import ConversationContext
from support_bot.faq_tuning import cap_pairs, faq_pairs, should_fine_tune, single_entry_intents
from support_bot.fusion import FEATURES, AnswerFusion, features
from support_bot.retrieval import ENCODER_DIR, MANIFEST_FILE
from support_bot.service import FUSION_FILE, KB_DIR

FAST_TUNE = {"fine_tune_training": {"max_steps": 2, "batch_size": 8}}


def _kb() -> KnowledgeBase:
    return KnowledgeBase([
        FaqEntry("a", ("where is my refund", "refund not arrived"), "Refunds take 5 days.", "refund"),
        FaqEntry("b", ("card lost",), "Freeze the card.", "card"),
        FaqEntry("c", ("card stolen",), "Call us.", "card"),
        FaqEntry("d", ("hello",), "Hi!", None),
    ])


def test_pairs_come_from_paraphrases_and_single_entry_intents_never_validation():
    kb = _kb()
    assert single_entry_intents(kb) == {"refund": "a"}  # card has two entries: ambiguous
    pairs = faq_pairs(kb, ["money back please", "my card", "Where is my  REFUND"],
                      ["refund", "card", "refund"], exclude=["refund NOT arrived"])
    assert ("money back please", "a") in pairs
    assert all(text != "my card" for text, _ in pairs)  # intent with two entries: no pair
    assert all(text.lower() != "refund not arrived" for text, _ in pairs)  # validation text
    assert sum(e == "a" for _, e in pairs) == 2  # the FAQ's own question, once (case, spacing)
    capped = cap_pairs(pairs * 1 + [(f"x{i}", "a") for i in range(20)], 6, seed=0)
    assert len(capped) == 6 and {e for _, e in capped} == {"a", "b", "c", "d"}


def test_small_pair_sets_train_for_more_epochs_up_to_the_minimum_steps():
    from support_bot.faq_tuning import fine_tune_epochs

    cfg = KnowledgeBaseConfig()  # batch 32, 1 epoch, 25 steps at least
    assert fine_tune_epochs(153, cfg) == 5.0  # 5 steps per epoch
    assert fine_tune_epochs(1000, cfg) == 1.0  # 32 steps already
    assert fine_tune_epochs(10, KnowledgeBaseConfig(fine_tune_min_steps=0)) == 1.0
    assert fine_tune_epochs(10, KnowledgeBaseConfig(
        fine_tune_training={"max_steps": 3})) == 1.0


def test_the_fine_tune_threshold_of_auto_true_and_false():
    auto = KnowledgeBaseConfig(fine_tune_min_pairs=50)
    assert should_fine_tune(49, 10, auto)[0] is False
    assert should_fine_tune(50, 10, auto)[0] is True
    assert should_fine_tune(500, 1, auto)[0] is False  # in-batch negatives need 2 entries
    assert should_fine_tune(5, 3, KnowledgeBaseConfig(fine_tune=True))[0] is True
    assert should_fine_tune(10_000, 50, KnowledgeBaseConfig(fine_tune=False))[0] is False
    with pytest.raises(ConfigError, match="fine_tune is true"):
        should_fine_tune(1, 1, KnowledgeBaseConfig(fine_tune="true"))
    cfg = BotConfig.from_dict({"faq": {"fine_tune": False, "fusion": "auto",
                                       "fine_tune_training": {"epochs": 2}}})
    assert cfg.faq.fine_tune.value == "false" and cfg.faq.fine_tune_training.epochs == 2.0
    assert BotConfig.from_dict(cfg.to_dict()).faq.fine_tune_training.max_length == 64
    with pytest.raises(ConfigError, match="faq.fine_tune_training"):
        BotConfig.from_dict({"faq": {"fine_tune_training": {"epoch": 1}}})


def test_default_fine_tune_triggers_by_the_threshold_and_the_encoder_reloads(
        tiny_model_dir, toy_files, tmp_path):  # noqa: F811
    below = SupportBot.train(toy_config(str(tiny_model_dir), toy_files, oos_file=None),
                             tmp_path / "below")  # default min pairs (100) > the toy's pairs
    assert below.meta["summary"]["faq_fine_tune"]["done"] is False
    assert not (tmp_path / "below" / KB_DIR / ENCODER_DIR).exists()
    below.close()

    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None,
                     faq={"fine_tune_min_pairs": 10, **FAST_TUNE})
    assert cfg.faq.fine_tune.value == "auto"
    bot = SupportBot.train(cfg, tmp_path / "tuned")
    info = bot.meta["summary"]["faq_fine_tune"]
    assert info["done"] is True and info["used_pairs"] >= 10 and info["hard_negatives"] is True
    assert (tmp_path / "tuned" / KB_DIR / ENCODER_DIR / "domaintune.json").is_file()
    manifest = json.loads((tmp_path / "tuned" / KB_DIR / MANIFEST_FILE).read_text())
    assert manifest["fine_tuned"]["steps"] == 2
    texts = ["where is my refund", "card stolen", "hello"]
    before = [r.ids for r in bot.rank(texts)]
    fingerprint = bot.retriever.encoder.fingerprint
    bot.close()
    for runtime in ("torch", "onnx"):
        with SupportBot.load(tmp_path / "tuned", device="cpu", runtime=runtime) as loaded:
            assert loaded.retriever.encoder.fingerprint == fingerprint  # the tuned one, not base
            assert [r.ids for r in loaded.rank(texts)] == before
    # a retrained version keeps the tuned encoder (copied, also from an ONNX-served bot)
    with SupportBot.load(tmp_path / "tuned", device="cpu", runtime="onnx") as loaded:
        reply = loaded.reply("c1", "where is my refund")
        loaded.feedback(reply.turn_id, helpful=True)
        new = loaded.retrain(tmp_path / "tuned-v2")
        new.close()
    with SupportBot.load(tmp_path / "tuned-v2", device="cpu", runtime="torch") as v2:
        assert v2.retriever.encoder.fingerprint == fingerprint


def _synthetic(signal: str, n: int = 60, seed: int = 0):
    """Candidate rows where the right entry is told by the classifier or by the cosine."""
    rng = np.random.default_rng(seed)
    intent_of = {f"e{j}": f"i{j}" for j in range(6)}
    rows, ids, gold = [], [], []
    for _ in range(n):
        g = int(rng.integers(6))
        cos = rng.uniform(0.2, 0.6, 6)
        prob = rng.dirichlet(np.ones(6)) * 0.3
        if signal == "classifier":
            prob[g] += 0.7
        else:
            cos[g] += 0.4
        cands = [(f"e{j}", float(cos[j])) for j in range(6)]
        pmap = {f"i{j}": float(prob[j]) for j in range(6)}
        top = f"i{int(prob.argmax())}"
        order, feats = features(cands, pmap, top, intent_of, {})
        rows.append(feats)
        ids.append(order)
        gold.append(f"e{g}")
    return rows, ids, gold, intent_of


def test_the_fusion_learns_which_signal_to_trust_and_round_trips_as_json():
    rows, ids, gold, intent_of = _synthetic("classifier")
    fusion = AnswerFusion.fit(rows, ids, gold, {"retriever": ids})
    coef = dict(zip(FEATURES, fusion.coef, strict=True))
    assert coef["intent_probability"] > abs(coef["cosine"])
    assert fusion.report["fusion_cv"]["recall@1"] > fusion.report["retriever"]["recall@1"] + 0.3
    # the retriever prefers e1, the classifier is sure of i0's entry e0: e0 wins
    cands = [("e0", 0.30), ("e1", 0.80), ("e2", 0.50)]
    pmap = {"i0": 0.9, "i1": 0.05, "i2": 0.05}
    ranked = fusion.rank(cands, pmap, "i0", intent_of, {})
    assert ranked[0][0] == "e0" and 0.0 <= ranked[0][1] <= 1.0
    # trained where the cosine tells the entry, the same candidates keep the retriever's order
    rows, ids, gold, _ = _synthetic("cosine", seed=1)
    by_cosine = AnswerFusion.fit(rows, ids, gold)
    assert by_cosine.rank(cands, {"i0": 0.4, "i1": 0.3, "i2": 0.3}, "i0", intent_of,
                          {})[0][0] == "e1"
    text = json.dumps(fusion.to_dict())  # plain JSON numbers, no pickle
    again = AnswerFusion.from_dict(json.loads(text))
    assert again.rank(cands, pmap, "i0", intent_of, {}) == ranked
    bad = {**fusion.to_dict(), "features": ["cosine"]}
    with pytest.raises(Exception, match="features"):
        AnswerFusion.from_dict(bad)


def test_the_bot_learns_saves_reloads_and_uses_the_fusion(tiny_model_dir, toy_files, tmp_path):  # noqa: F811
    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None,
                     faq={"fusion": True, "fusion_min_queries": 4, "fine_tune": False})
    bot = SupportBot.train(cfg, tmp_path / "bot")
    report = bot.meta["summary"]["faq_fusion"]
    assert report["used"] is True and report["n_messages"] >= 4
    assert {"fusion_cv", "retriever", "classifier", "restricted"} <= set(report)
    saved = json.loads((tmp_path / "bot" / FUSION_FILE).read_text())
    assert saved["features"] == list(FEATURES) and len(saved["coef"]) == len(FEATURES)
    texts = ["where is my refund", "card stolen", "reset my password", "hello"]
    analyses = bot.analyze(texts)
    assert all(a.ranking.fused for a in analyses)
    # the ranking is the fusion's: its probabilities, best first
    for a in analyses:
        scores = [s for _, s in a.ranking.entries]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        assert a.similarity == pytest.approx(max(c for _, c in bot.retriever.search(
            [a.text])[0].entries))  # the OOS signal is still the plain best cosine
    ranked = [a.ranking.ids for a in analyses]
    bot.close()
    with SupportBot.load(tmp_path / "bot", device="cpu", runtime="torch") as loaded:
        assert np.allclose(loaded.fusion.coef, bot.fusion.coef)
        assert [a.ranking.ids for a in loaded.analyze(texts)] == ranked
        # a follow-up is ranked by the fusion too, for the reused intent and both messages
        ctx = ConversationContext(last_intent="card_lost", last_text="card stolen")
        alone = dataclasses.replace(loaded.analyze(["and what about that"])[0],
                                    intent="greeting", in_scope=False)  # out of scope alone
        decision = loaded.decide(ctx, alone)
        assert decision.reason.startswith("follow-up") and decision.intent == "card_lost"
        follow = loaded.rank(["card stolen and what about that"], ["card_lost"])[0]
        assert follow.fused and not follow.restricted
        assert "faq-3" in follow.ids  # the reused intent's entry is a candidate
        assert [(e, s) for e, s, _ in decision.top_answers] == [
            (e, round(s, 4)) for e, s in follow.entries[: loaded.config.faq.top_k]]
        # a fusion that trusts only the classifier answers with the classifier's intent
        loaded.fusion = AnswerFusion(coef=[0, 0, 0, 5.0, 0, 0, 0, 0])
        for a in loaded.analyze(texts):
            top_entry = a.ranking.ids[0]
            assert loaded.retriever.intent_of[top_entry] == a.intent or a.intent == "refund"
        loaded.config.faq.fusion = loaded.config.faq.fusion.__class__("false")
        assert not loaded.uses_fusion  # faq.fusion: false: the intent-restricted ranking
        assert not any(a.ranking.fused for a in loaded.analyze(texts))
        plain = loaded.rank(["card stolen and what about that"], ["card_lost"])[0]
        assert not plain.fused and plain.restricted and plain.ids[0] == "faq-3"


def test_fusion_falls_back_without_intents_and_old_bot_dirs_still_load(
        tiny_model_dir, toy_files, tmp_path):  # noqa: F811
    # an FAQ without an intent column: no fusion (a clear reason), the bot works as before
    faq = tmp_path / "faq.csv"
    rows = Path(toy_files["faq"]).read_text().splitlines()
    faq.write_text("\n".join(line.rsplit(",", 1)[0] for line in rows) + "\n")
    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None, faq_file=str(faq),
                     faq={"fusion": True, "fusion_min_queries": 2})
    bot = SupportBot.train(cfg, tmp_path / "no-intents")
    assert bot.fusion is None and "intent" in bot.meta["summary"]["faq_fusion"]["why"]
    assert not (tmp_path / "no-intents" / FUSION_FILE).exists()
    assert bot.reply("c", "where is my refund").outcome.value in ("answered", "asked_slot")
    bot.close()
    # an older bot: no fine-tune or fusion keys in its config or manifest, no new files
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "no-intents", old)
    meta = json.loads((old / "bot.json").read_text())
    for key in ("fine_tune", "fine_tune_min_pairs", "fine_tune_max_pairs",
                "fine_tune_hard_negatives", "fine_tune_min_steps", "fine_tune_training",
                "intents_from_ids", "fusion",
                "fusion_min_queries", "fusion_intents"):
        meta["config"]["faq"].pop(key)
    for key in ("faq_fine_tune", "faq_fusion"):
        meta["summary"].pop(key)
    manifest = json.loads((old / KB_DIR / MANIFEST_FILE).read_text())
    manifest.pop("fine_tuned")
    (old / KB_DIR / MANIFEST_FILE).write_text(json.dumps(manifest))
    meta["files"].pop(f"{KB_DIR}/{MANIFEST_FILE}", None)
    (old / "bot.json").write_text(json.dumps(meta))
    with SupportBot.load(old, device="cpu") as loaded:
        assert loaded.fusion is None and loaded.retriever.fine_tuned is None
        assert loaded.config.faq.fine_tune.value == "auto"
        assert loaded.reply("c", "card stolen").intent is not None


def test_the_tuned_encoder_serves_its_new_weights_not_a_stale_onnx_twin(tiny_model_dir):
    """Mining hard negatives embeds >= the core's auto-export size; a twin of the frozen weights
    built then must not answer for the tuned ones."""
    from domaintune.backend import AUTO_EXPORT_MIN_TEXTS
    from support_bot.faq_tuning import fine_tune_encoder

    words = ["refund", "card", "login", "hello", "money", "password", "stolen", "account"]
    per = AUTO_EXPORT_MIN_TEXTS // 4 + 1
    kb = KnowledgeBase([
        FaqEntry(f"e{k}", tuple(f"{topic} {words[i % 8]} {words[(i // 8) % 8]} {i}"
                                for i in range(per)), f"answer about {topic}", topic)
        for k, topic in enumerate(["refund", "card", "login", "hello"])])
    pairs = faq_pairs(kb)
    cfg = KnowledgeBaseConfig(encoder=str(tiny_model_dir), fine_tune_max_pairs=40,
                              fine_tune_training={"max_steps": 2, "batch_size": 4,
                                                  "learning_rate": 1e-3})
    encoder, report = fine_tune_encoder(kb, pairs, cfg, seed=0)
    assert report["steps"] == 2 and report["used_pairs"] == 40
    texts = [q for e in kb for q in e.questions]
    assert np.allclose(encoder.encode(texts), encoder.encode(texts, backend="torch"), atol=1e-4)


def test_intents_named_by_faq_ids_give_an_intentless_faq_its_intents(
        tiny_model_dir, toy_files, tmp_path):  # noqa: F811
    from conftest import write_csv

    faq = write_csv(tmp_path / "faq.csv", ["id", "question", "answer"],
                    [("refund", "Where is my refund?", "Refunds take 5 days."),
                     ("card_lost", "I lost my card", "Freeze the card in the app."),
                     ("login", "How do I reset my password?", "Tap 'forgot password'."),
                     ("greeting", "Hello", "Hi!"), ("agent", "Can I talk to a person?", "Sure."),
                     ("other", "What are your opening hours?", "9 to 5.")])
    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None, faq_file=str(faq),
                     faq={"fusion": False})
    bot = SupportBot.train(cfg, tmp_path / "by-id")
    assert bot.retriever.intent_of == {"refund": "refund", "card_lost": "card_lost",
                                       "login": "login", "greeting": "greeting",
                                       "agent": "agent", "other": None}
    # without the fusion the ranking is restricted to the intent: its entry (id = intent) first,
    # which only the mapping gives (an FAQ without intents is never restricted)
    analysis = bot.analyze(["card stolen"])[0]
    assert not analysis.ranking.fused and analysis.ranking.restricted
    first = [e for e in analysis.ranking.ids if e != "other"]  # "other" has no intent: any
    assert first[0] == analysis.intent
    for intent in ("refund", "card_lost", "login", "greeting", "agent"):
        assert [e for e in bot.rank(["card stolen"], [intent])[0].ids if e != "other"][0] == intent
    bot.close()
    off = toy_config(str(tiny_model_dir), toy_files, oos_file=None, faq_file=str(faq),
                     faq={"intents_from_ids": False, "fusion": False})
    with SupportBot.train(off, tmp_path / "off") as plain:
        assert set(plain.retriever.intent_of.values()) == {None}
        assert not plain.analyze(["card stolen"])[0].ranking.restricted


def _sure_of(bot: SupportBot, intent: str):
    """A stand-in for the classifier's predict_proba that is sure of ``intent``."""
    labels = bot.classifier.labels

    def predict_proba(texts):
        probs = np.full((len(texts), len(labels)), 0.02 / max(1, len(labels) - 1))
        probs[:, labels.index(intent)] = 0.98
        return probs
    return predict_proba


def test_the_fusion_learns_on_the_candidates_a_reply_gets_never_a_forced_right_entry(
        tiny_model_dir, toy_files, tmp_path, monkeypatch):  # noqa: F811
    from support_bot.training import fit_fusion

    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None,
                     faq={"fusion": True, "fusion_min_queries": 4, "fine_tune": False,
                          "candidates": 1, "top_k": 1, "fusion_intents": 1})
    bot = SupportBot.train(cfg, tmp_path / "bot")
    # the classifier is sure of "greeting": only the single nearest entry can bring another
    # intent's right entry, so some validation messages have theirs outside the candidates
    monkeypatch.setattr(bot.classifier, "predict_proba", _sure_of(bot, "greeting"))
    texts = ["lost card please help", "i have lost my card", "login not working",
             "i need a new password", "hello there", "hi again", "need help please", "want help"]
    labels = ["card_lost", "card_lost", "login", "login", "greeting", "greeting", "agent", "agent"]
    entry = {"card_lost": "faq-3", "login": "faq-4", "greeting": "faq-5", "agent": "faq-6"}
    seen: dict = {}
    fit = AnswerFusion.fit.__func__

    def spy(cls, rows, ids, gold, *args, **kwargs):
        seen.update(ids=ids, gold=gold)
        return fit(cls, rows, ids, gold, *args, **kwargs)

    monkeypatch.setattr(AnswerFusion, "fit", classmethod(spy))
    fusion, report = fit_fusion(bot, TextDataset(texts=texts, labels=labels))
    assert fusion is not None and report["used"] is True
    bot.fusion = fusion
    served = [a.ranking for a in bot.analyze(texts)]  # none of these texts is an FAQ question
    assert all(r.fused for r in served)
    assert [sorted(i) for i in seen["ids"]] == [sorted(r.ids) for r in served]
    missing = sum(entry[y] not in r.ids for y, r in zip(labels, served, strict=True))
    assert missing >= 1  # the case the review found: it was added to the candidates before
    assert report["n_right_missing"] == missing and report["n_messages"] == len(texts)
    assert report["n_rows"] == sum(len(r.ids) for r in served)  # their negatives count
    bot.close()


def test_a_fusion_that_cannot_be_learned_is_skipped_and_said_under_auto(
        tiny_model_dir, toy_files, tmp_path, monkeypatch, caplog):  # noqa: F811
    from support_bot.training import fit_fusion

    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None,
                     faq={"fusion": "auto", "fusion_min_queries": 2, "fine_tune": False})
    bot = SupportBot.train(cfg, tmp_path / "bot")
    # no message has its right entry among its candidates: nothing to learn
    monkeypatch.setattr(bot.retriever, "candidates",
                        lambda vectors, intents, **kw: [[("faq-1", 0.9), ("faq-2", 0.5)]
                                                        for _ in range(len(vectors))])
    val = TextDataset(texts=["card lost", "password reset", "hello"],
                      labels=["card_lost", "login", "greeting"])
    with caplog.at_level(logging.INFO, logger="support_bot"):
        fusion, report = fit_fusion(bot, val)
    assert fusion is None and report["used"] is False
    assert "found 0 right" in report["why"] and "3 of 3 messages" in report["why"]
    said = [r for r in caplog.records if "answer fusion not learned" in r.getMessage()]
    assert said and all(r.levelno == logging.INFO for r in said)  # auto: said, not a warning
    with pytest.raises(DataError, match="found 0 right and 4 wrong"):
        AnswerFusion.fit([np.zeros((2, len(FEATURES)))] * 2, [["faq-1", "faq-2"]] * 2,
                         ["faq-3", "faq-3"])
    bot.close()


def _set_faq_encoder(bot_dir: Path, encoder: str) -> None:
    record = json.loads((bot_dir / "bot.json").read_text())
    record["config"]["faq"]["encoder"] = encoder
    (bot_dir / "bot.json").write_text(json.dumps(record))


def test_the_changed_faq_encoder_warning_fires_only_for_a_bot_that_serves_it(
        tiny_model_dir, toy_files, tmp_path, caplog):  # noqa: F811
    from domaintune.export import OnnxBiEncoder

    plain = tmp_path / "plain"
    SupportBot.train(toy_config(str(tiny_model_dir), toy_files, oos_file=None,
                                faq={"fine_tune": False}), plain).close()
    tuned = tmp_path / "tuned"
    SupportBot.train(toy_config(str(tiny_model_dir), toy_files, oos_file=None,
                                faq={"fine_tune": True, **FAST_TUNE}), tuned).close()
    moved = shutil.copytree(tiny_model_dir, tmp_path / "moved-encoder")  # the same weights
    _set_faq_encoder(plain, str(moved))
    _set_faq_encoder(tuned, str(tmp_path / "gone"))  # a tuned bot serves kb/encoder anyway
    warned = "ONNX export were made from"
    with caplog.at_level(logging.WARNING, logger="support_bot"):
        with SupportBot.load(tuned, device="cpu", runtime="onnx") as bot:
            assert isinstance(bot.retriever.encoder, OnnxBiEncoder)  # its export still serves
            assert bot.reply("c", "card stolen").intent is not None
    assert not [r for r in caplog.records if warned in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="support_bot"):
        with SupportBot.load(plain, device="cpu", runtime="onnx") as bot:
            assert not isinstance(bot.retriever.encoder, OnnxBiEncoder)  # PyTorch, as said
            assert bot.reply("c", "card stolen").intent is not None
    assert [r for r in caplog.records if warned in r.getMessage()]

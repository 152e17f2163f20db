"""The support bot (apps/support_bot): knowledge base, slots, OOS tuning, handoff, follow-ups, the
SQLite log under concurrency, index checks, and an end-to-end train → chat → feedback → retrain
run through the CLI, all on the tiny random BERT."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import yaml
from conftest import write_csv

from domaintune import ArtifactExistsError, ConfigError, DataError, ModelLoadError, NotFittedError
from support_bot import (
    BotConfig,
    ConversationContext,
    DialogueConfig,
    KnowledgeBaseConfig,
    LogError,
    LogStore,
    OOSDetector,
    Outcome,
    SlotScope,
    SupportBot,
    extract_slots,
    fill_template,
    is_followup,
    load_knowledge_base,
)
from support_bot import store as logstore_module
from support_bot.cli import chat, main

# ---------------------------------------------------------------------- toy data (tiny vocab)
INTENTS = {
    "refund": ["where is my refund", "money back please", "refund not arrived", "return money",
               "where is my money", "my refund was not sent", "i want my money back",
               "refund please", "has my refund been sent", "when do i get my money back"],
    "card_lost": ["card lost", "card stolen", "my card was stolen", "i lost my card",
                  "lost card please help", "card was lost", "my card is lost", "stolen card",
                  "i have lost my card", "card lost and stolen"],
    "login": ["password reset", "cannot login", "login failed", "reset my password",
              "i need a new password", "login not working", "reset password please",
              "my login failed", "how do i reset my password", "password not working"],
    "greeting": ["hello", "hi", "hello there", "hi there", "hello hi", "hi hello",
                 "hello again", "hi again", "hello you", "hi you"],
    "agent": ["i want help", "need help please", "please help me", "help me please",
              "i need help", "can you help", "help", "want help", "need help", "help please"],
}
FAQ = [
    ("faq-1", "Where is my refund? || My refund has not arrived",
     "Refunds take 5 days. Track order {order_number} in the app.", "refund"),
    ("faq-2", "How do I get my money back?", "Ask the shop to return the money.", "refund"),
    ("faq-3", "I lost my card || My card was stolen", "Freeze card {card_last4} in the app.",
     "card_lost"),
    ("faq-4", "How do I reset my password?", "Tap 'forgot password' on the login screen.", "login"),
    ("faq-5", "Hello || Hi", "Hi! How can I help?", "greeting"),
    ("faq-6", "Can I get help from a person?", "Type 'agent' to talk to our team.", "agent"),
]
OOS = ["exchange rate", "atm cash fee", "what is the exchange rate", "fees", "old cash",
       "rate of exchange", "atm fee", "cash atm", "new fee", "the rate", "fee rate", "exchange"]




@pytest.fixture(scope="module")
def toy_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("toy-support")
    rows = [(t, intent) for intent, texts in INTENTS.items() for t in texts]
    return {
        "intents": write_csv(folder / "intents.csv", ["text", "intent"], rows),
        "faq": write_csv(folder / "faq.csv", ["id", "question", "answer", "intent"], FAQ),
        "oos": write_csv(folder / "oos.csv", ["text"], [(t,) for t in OOS]),
        "queries": write_csv(folder / "queries.csv", ["query", "faq_id"],
                             [("where is my refund", "faq-1"), ("card stolen", "faq-3"),
                              ("reset password", "faq-4")]),
    }


def toy_config(model: str, files: dict[str, Path], **sections) -> BotConfig:
    data = {
        "intents_file": str(files["intents"]), "faq_file": str(files["faq"]),
        "oos_file": str(files["oos"]),
        "intent": {"model": model, "validation_split": 0.2, "training": {"head_c": 100.0}},
        "faq": {"encoder": model},
        "dialogue": {"handoff_intents": ["agent"]},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return BotConfig.from_dict(data)


@pytest.fixture(scope="module")
def trained_dir(tiny_model_dir, toy_files, tmp_path_factory) -> Path:
    """A toy bot trained once (tiny BERT, frozen method, no OOS tuning surprises)."""
    out = tmp_path_factory.mktemp("bots") / "toy-bot"
    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None)
    SupportBot.train(cfg, out).close()
    return out


@pytest.fixture
def bot(trained_dir, tmp_path):
    """A private copy of the toy bot (its own log)."""
    target = tmp_path / "bot"
    shutil.copytree(trained_dir, target)
    with SupportBot.load(target, device="cpu") as loaded:
        yield loaded


# ---------------------------------------------------------------------- config
def test_config_rejects_unknown_keys_with_suggestion_and_round_trips(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'low_confidence_limt' in dialogue; did you "
                                          "mean 'low_confidence_limit'"):
        BotConfig.from_dict({"dialogue": {"low_confidence_limt": 3}})
    with pytest.raises(ConfigError, match="oos.target_acceptance expects a number in"):
        BotConfig.from_dict({"oos": {"target_acceptance": 1.5}})
    with pytest.raises(ConfigError, match="intent.method expects one of .*did you mean 'frozen'"):
        BotConfig.from_dict({"intent": {"method": "frozn"}})
    with pytest.raises(ConfigError, match="dialogue.slots.x: pattern .* not a valid regular"):
        BotConfig.from_dict({"dialogue": {"slots": {"x": {"pattern": "(", "prompt": "?"}}}})
    with pytest.raises(ConfigError, match="dialogue.slots.card.pattern expects a string or null"):
        BotConfig.from_dict({"dialogue": {"slots": {"card": {"pattern": 4}}}})
    with pytest.raises(ConfigError, match="unknown key 'patern' in dialogue.slots.card; did you"):
        BotConfig.from_dict({"dialogue": {"slots": {"card": {"patern": "x"}}}})
    with pytest.raises(ConfigError, match="runtime expects one of .*did you mean 'onnx'"):
        BotConfig.from_dict({"runtime": "onx"})
    from domaintune import RunConfig

    for loader in (BotConfig.from_yaml, RunConfig.from_yaml):  # one reader for every YAML config
        with pytest.raises(ConfigError, match="config file .*missing.yaml does not exist"):
            loader(tmp_path / "missing.yaml")
        (tmp_path / "bad.yaml").write_text("a: [1, 2\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
            loader(tmp_path / "bad.yaml")
        (tmp_path / "list.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="expected a mapping of key: value at the top, found list"):
            loader(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="intent.training"):
        BotConfig.from_dict({"intent": {"training": {"epoch": 2}}})
    cfg = BotConfig.from_dict({"faq": {"top_k": 5}, "oos": {"min_oos_recall": 0.9}})
    assert BotConfig.from_dict(cfg.to_dict()) == cfg
    yaml_file = tmp_path / "bot.yaml"
    yaml_file.write_text(yaml.safe_dump({**cfg.to_dict(), "intents_file": "intents.csv"}),
                         encoding="utf-8")
    loaded = BotConfig.from_yaml(yaml_file, ["dialogue.low_confidence_limit=3"])
    assert loaded.dialogue.low_confidence_limit == 3
    assert loaded.intents_file == str(tmp_path / "intents.csv")


# ---------------------------------------------------------------------- knowledge base
def test_kb_duplicate_ids_and_empty_answers_are_one_clear_error(tmp_path):
    path = write_csv(tmp_path / "faq.csv", ["id", "question", "answer"], [
        ("a", "q1", "answer one"), ("b", "q2", ""), ("a", "q3", "answer three"),
        ("c", "", "answer four")])
    with pytest.raises(DataError) as info:
        load_knowledge_base(path)
    message = str(info.value)
    assert str(path) in message
    assert "row 2 has an empty answer in column 'answer'" in message
    assert "row 4 has no question in column 'question'" in message
    assert "duplicate id 'a' (rows 1 and 3)" in message


def test_intent_restriction_finds_an_intents_entry_far_from_the_message():
    from domaintune.pairs import FaissIndex
    from support_bot import FaqRetriever, KnowledgeBaseConfig
    from support_bot.knowledge import FaqEntry, KnowledgeBase

    entries = [FaqEntry(f"a{i}", (f"question {i}",), "answer", "near") for i in range(40)]
    entries.append(FaqEntry("far-1", ("far question",), "far answer", "far"))
    kb = KnowledgeBase(entries)
    rng = np.random.default_rng(0)
    vectors = np.vstack([np.eye(8)[0] + 0.05 * rng.standard_normal((40, 8)), -np.eye(8)[:1]])

    class Fixed:  # an encoder that returns e0 for every message
        encoder_info = {"name": "fixed", "fingerprint": "f", "dim": 8}

        def encode(self, texts, batch_size=64, progress=False):
            return np.tile(np.eye(8, dtype=np.float32)[0], (len(texts), 1))

    ids = [f"{e.id}#q0" for e in entries]
    index = FaissIndex().fit(vectors.astype(np.float32), ids=ids, encoder=Fixed.encoder_info)
    retriever = FaqRetriever(kb, Fixed(), index, KnowledgeBaseConfig(candidates=5, top_k=3))
    plain, restricted = retriever.search(["anything", "anything"], [None, "far"])
    assert "far-1" not in plain.ids and not plain.restricted
    assert restricted.restricted and restricted.ids[0] == "far-1"
    assert restricted.top_similarity == pytest.approx(plain.top_similarity)  # over the whole KB


def test_kb_column_mapping_jsonl_and_missing_columns(tmp_path):
    path = tmp_path / "kb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"key": 7, "q": ["where is my refund", "refund late"], "a": "Refund {amount}", "cat": "refund"},
        {"key": 8, "q": "card lost", "a": "Freeze it", "cat": ""}]) + "\n", encoding="utf-8")
    cfg = KnowledgeBaseConfig(id_column="key", question_column="q", answer_column="a",
                              intent_column="cat", tags_column=None)
    kb = load_knowledge_base(path, cfg)
    assert [e.id for e in kb] == ["7", "8"]
    assert kb["7"].questions == ("where is my refund", "refund late")
    assert kb["7"].slots == ("amount",) and kb["7"].intent == "refund" and kb["8"].intent is None
    with pytest.raises(DataError, match=r"found \['key', 'q', 'a', 'cat'\]; pass "
                                          r"`faq.id_column='<column>'`"):
        load_knowledge_base(path, KnowledgeBaseConfig(question_column="q", answer_column="a"))


# ---------------------------------------------------------------------- dialogue rules
def test_slot_extraction_and_template_filling():
    slots = DialogueConfig().slots
    found = extract_slots("order 12345678 for £1200, card ending 4321", slots)
    assert found == {"amount": "£1200", "order_number": "12345678", "card_last4": "4321"}
    assert extract_slots("paid 75 pounds", slots) == {"amount": "75 pounds"}
    assert extract_slots("no numbers here 🙂", slots) == {}
    text, missing = fill_template("Order {order_number}: {amount} ({order_number})",
                                  {"order_number": "123456"})
    assert text == "Order 123456: {amount} (123456)" and missing == ["amount"]
    assert fill_template("JSON {{not_a_slot}} stays", {}) == ("JSON {{not_a_slot}} stays", [])
    free = DialogueConfig(slots={"merchant": {"pattern": None, "prompt": "Which shop?",
                                              "free_text": True}}).slots
    assert extract_slots("Pixel Plaza.", free, awaited=["merchant"]) == {"merchant": "Pixel Plaza"}
    assert extract_slots("Pixel Plaza.", free) == {}


def test_followup_detection():
    cfg = DialogueConfig()
    assert is_followup("and how long will that take?", accepted=True, has_last_intent=True, config=cfg)
    assert is_followup("what about abroad", accepted=False, has_last_intent=True, config=cfg)
    assert not is_followup("and my pin is blocked", accepted=True, has_last_intent=True, config=cfg)
    assert not is_followup("thanks, that's it", accepted=True, has_last_intent=True, config=cfg)
    assert not is_followup("how long will that take?", accepted=True, has_last_intent=False, config=cfg)


# ---------------------------------------------------------------------- OOS tuning
def test_oos_thresholds_reach_the_target_acceptance_without_oos_examples():
    rng = np.random.default_rng(0)
    conf, sim = rng.uniform(0.3, 1.0, 200), rng.uniform(0.1, 0.9, 200)
    det = OOSDetector(target_acceptance=0.95).fit(conf, sim)
    rate = det.accept(conf, sim).mean()
    assert det.mode_ == "acceptance"
    assert 0.95 <= rate <= 0.95 + 2 / 200  # the target, not much more
    assert det.report_["in_scope_acceptance"] == pytest.approx(rate)
    assert det.confidence_threshold_ > conf.min() and det.similarity_threshold_ > sim.min()
    again = OOSDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    assert (again.accept(conf, sim) == det.accept(conf, sim)).all()
    with pytest.raises(NotFittedError):
        OOSDetector().accept([0.5], [0.5])


def test_oos_combiner_threshold_maximises_balanced_accuracy():
    rng = np.random.default_rng(1)
    conf_in, sim_in = rng.normal(0.8, 0.1, 300), rng.normal(0.7, 0.1, 300)
    conf_out, sim_out = rng.normal(0.5, 0.1, 100), rng.normal(0.4, 0.1, 100)
    correct = rng.uniform(size=300) < 0.9
    det = OOSDetector().fit(conf_in, sim_in, correct, conf_out, sim_out)
    assert det.mode_ == "combiner"
    s_in, s_out = det.score(conf_in, sim_in), det.score(conf_out, sim_out)

    def objective(t):
        return (np.mean((s_in >= t) & correct) + np.mean(s_out < t)) / 2

    brute = max(objective(t) for t in np.concatenate([s_in, s_out, [np.inf]]))
    assert objective(det.threshold_) == pytest.approx(brute)
    assert det.report_["balanced_accuracy"] == pytest.approx(brute)
    assert det.report_["oos_recall"] > 0.8
    strict = OOSDetector("in_scope_accuracy", min_oos_recall=0.99).fit(
        conf_in, sim_in, correct, conf_out, sim_out)
    assert strict.report_["oos_recall"] >= 0.99
    few = OOSDetector(min_oos_examples=10).fit(conf_in, sim_in, correct, conf_out[:3], sim_out[:3])
    assert few.mode_ == "acceptance"  # too few OOS examples: falls back to the target rate


def test_oos_detector_with_the_classifiers_out_of_scope_class():
    rng = np.random.default_rng(2)
    conf_in, sim_in, p_in = rng.normal(0.8, 0.1, 300), rng.normal(0.6, 0.1, 300), rng.uniform(0, 0.2, 300)
    conf_out, sim_out, p_out = rng.normal(0.7, 0.1, 100), rng.normal(0.55, 0.1, 100), rng.uniform(0.3, 0.9, 100)
    det = OOSDetector().fit(conf_in, sim_in, None, conf_out, sim_out, oos_probability=p_in,
                            oos_examples_oos_probability=p_out)
    assert det.features_ == ["confidence", "similarity", "in_scope_class"]
    assert det.report_["oos_recall"] > 0.95  # the class probability separates what the others cannot
    assert det.coef_[2] > 0  # a higher out-of-scope probability lowers the in-scope score
    again = OOSDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    assert (again.accept(conf_out, sim_out, p_out) == det.accept(conf_out, sim_out, p_out)).all()
    with pytest.raises(DataError, match="pass oos_probability too"):
        det.accept(conf_in, sim_in)
    with pytest.raises(DataError, match="for both the in-scope messages and the OOS examples"):
        OOSDetector().fit(conf_in, sim_in, None, conf_out, sim_out, oos_probability=p_in)
    old = {"objective": "balanced_accuracy", "min_oos_recall": None, "target_acceptance": 0.95,
           "min_oos_examples": 10, "mode": "acceptance", "n_in_scope": 5, "n_oos": 0,
           "quantile": 0.05, "confidence_threshold": 0.6, "similarity_threshold": 0.3}
    before = OOSDetector.from_dict(old)  # saved before the third signal existed
    assert before.features_ == ["confidence", "similarity"]
    assert before.accept([0.7, 0.5], [0.4, 0.4]).tolist() == [True, False]
    broken = {**det.to_dict(), "coef": det.coef_[:2]}
    with pytest.raises(DataError, match="corrupted.*coefficients for"):
        OOSDetector.from_dict(broken)
    only = OOSDetector(target_acceptance=0.9).fit(conf_in, sim_in, oos_probability=p_in)
    assert only.mode_ == "acceptance" and len(only.thresholds_) == 3
    assert 0.9 <= only.accept(conf_in, sim_in, p_in).mean() <= 0.92
    assert "in_scope_class >=" in only.describe()


# ---------------------------------------------------------------------- the bot
def reject_everything(bot: SupportBot) -> None:
    """Thresholds no message reaches: every message is out of scope from now on."""
    bot.detector.mode_ = "acceptance"
    bot.detector.thresholds_ = [2.0] * len(bot.detector.features_)


def test_reply_answers_logs_and_handles_odd_messages(bot):
    reply = bot.reply("c1", "how do i reset my password")
    assert reply.outcome == Outcome.ANSWERED and reply.intent == "login"
    assert reply.answer_id == "faq-4" and reply.text.startswith("Tap 'forgot password'")
    assert reply.top_answers[0][0] == "faq-4" and len(reply.top_answers) == 3
    assert 0 < reply.confidence <= 1 and isinstance(reply.turn_id, int)
    empty = bot.reply("c1", "   \n")
    assert empty.outcome == Outcome.EMPTY and "type a message" in empty.text and empty.turn_id is None
    huge = bot.reply("c2", "hello " * 20_000)  # 120 KB
    emoji = bot.reply("c3", "hello 👋 здравствуйте 你好")
    assert emoji.turn_id is not None
    rows = {r["id"]: r for r in bot.log.turns()}
    assert rows[huge.turn_id]["text_chars"] == 120_000
    assert rows[huge.turn_id]["truncated_chars"] == 120_000 - bot.config.dialogue.max_model_chars
    assert len(rows[huge.turn_id]["text"]) == bot.config.dialogue.max_log_chars
    assert rows[reply.turn_id]["predicted_intent"] == "login"
    assert [r["turn_index"] for r in bot.log.turns("c1")] == [0]
    fresh = bot.reply(None, "hi")
    assert fresh.conversation_id and bot.log.turns(fresh.conversation_id)[0]["turn_index"] == 0
    with pytest.raises(DataError, match="conversation id"):
        bot.reply("x" * 500, "hi")


def test_control_characters_never_reach_the_models_or_the_log(bot):
    reply = bot.reply("nul", "where is\x00 my refund\x1b")
    (turn,) = bot.log.turns()
    assert turn["text"] == "where is my refund" and "\x00" not in turn["reply"]
    assert reply.turn_id == turn["id"]
    only_controls = bot.reply("nul", "\x00\x07")
    assert only_controls.outcome == Outcome.EMPTY and bot.log.count_turns() == 1


def test_a_sentence_with_the_order_number_fills_the_slot(bot):
    asked = bot.reply("s", "where is my refund")
    assert asked.missing_slots == ("order_number",)
    filled = bot.reply("s", "my order number is 4821377, can you help")
    assert filled.outcome == Outcome.ANSWERED and not filled.handoff  # not the 'agent' intent
    assert "Track order 4821377" in filled.text


def test_slot_is_asked_for_and_filled_on_the_next_turn(bot):
    first = bot.reply("s1", "where is my refund")
    assert first.outcome == Outcome.ASKED_SLOT and first.answer_id == "faq-1"
    assert first.missing_slots == ("order_number",) and "order number" in first.text
    second = bot.reply("s1", "it is 12345678")
    assert second.outcome == Outcome.ANSWERED and second.answer_id == "faq-1"
    assert second.text == "Refunds take 5 days. Track order 12345678 in the app."
    # a value given earlier in the conversation is used at once
    bot.reply("s2", "the card ends in 4321")
    direct = bot.reply("s2", "my card was stolen")
    assert direct.outcome == Outcome.ANSWERED and direct.text == "Freeze card 4321 in the app."


def test_topic_slots_are_forgotten_when_the_topic_changes(bot):
    for conversation in ("keep", "forget"):
        if conversation == "forget":
            bot.config.dialogue.slots["order_number"].scope = SlotScope.TOPIC
        bot.reply(conversation, "where is my refund")
        assert bot.reply(conversation, "12345678").outcome == Outcome.ANSWERED
        assert bot.reply(conversation, "how do i reset my password").intent == "login"
        again = bot.reply(conversation, "where is my refund")
        if conversation == "keep":  # conversation scope: the order number is still known
            assert again.outcome == Outcome.ANSWERED and "12345678" in again.text
        else:
            assert again.outcome == Outcome.ASKED_SLOT and again.missing_slots == ("order_number",)


def test_handoff_on_request_and_after_two_low_confidence_turns(bot):
    by_keyword = bot.reply("h1", "can i talk to a human please")
    assert by_keyword.handoff and by_keyword.outcome == Outcome.HANDOFF
    assert "human" in by_keyword.reason
    by_intent = bot.reply("h2", "i need help")
    assert by_intent.handoff and "agent" in by_intent.reason
    reject_everything(bot)
    first = bot.reply("h3", "password reset")
    assert first.outcome == Outcome.OOS and not first.handoff
    second = bot.reply("h3", "cannot login")
    assert second.handoff and second.reason == "out of scope 2 turns in a row"
    assert not second.in_scope and not first.in_scope  # the details say "out of scope"
    queue = bot.log.handoff_queue()
    assert [q["conversation_id"] for q in queue] == ["h1", "h2", "h3"]
    assert queue[2]["turn_id"] == second.turn_id


def test_followup_reuses_the_last_intent(bot):
    bot.reply("f1", "how do i reset my password")
    reject_everything(bot)
    follow = bot.reply("f1", "and how long will that take?")
    assert follow.outcome == Outcome.ANSWERED and follow.intent == "login"
    assert "follow-up" in follow.reason
    context = ConversationContext.from_dict(bot.log.load_context("f1"))
    assert context.last_intent == "login" and context.turns == 2


def test_concurrent_replies_lose_no_turns(bot):
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(10):
                bot.reply(f"thread-{k % 4}", ["hello", "card lost", "where is my money"][i % 3])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    turns = bot.log.turns()
    assert len(turns) == 80
    for k in range(4):  # two threads per conversation: indexes 0..19 without gaps or repeats
        assert sorted(r["turn_index"] for r in turns if r["conversation_id"] == f"thread-{k}") == list(range(20))


def test_feedback_validation(bot):
    reply = bot.reply("fb", "card lost")
    bot.feedback(reply.turn_id, helpful=True)
    bot.feedback(reply.turn_id, corrected_intent="card_lost")
    row = bot.log.turn(reply.turn_id)
    assert row["feedback"] == "helpful" and row["corrected_intent"] == "card_lost"
    with pytest.raises(DataError, match="unknown intent 'card_lots'; did you mean 'card_lost'"):
        bot.feedback(reply.turn_id, corrected_intent="card_lots")
    with pytest.raises(DataError, match="no turn 9999"):
        bot.feedback(9999, helpful=False)


def test_demo_is_an_api_and_feedback_lands_in_the_log(bot):
    from gradio_client import Client

    from support_bot.ui import build_demo

    demo = build_demo(bot)
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"reply", "feedback_helpful", "feedback_not_helpful", "correct_intent",
            "new_conversation", "handoff_queue"} <= names
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        _, history, details, table, banner, _, queue = client.predict(
            "how do i reset my password", [], api_name="/reply")
        assert "`login`" in details and table["data"][0][0] == "✓ faq-4"
        assert "forgot password" in str(history[-1]["content"])
        # an empty message adds no bubble and leaves the last turn to rate
        _, after, _, _, _, status, _ = client.predict("  ", history, api_name="/reply")
        assert after == history and "type a message" in status
        assert "Saved **helpful** for turn" in client.predict(api_name="/feedback_helpful")
        assert "Saved" in client.predict("login", api_name="/correct_intent")
    finally:
        demo.close()
    (turn,) = bot.log.turns()
    assert turn["corrected_intent"] == "login" and turn["feedback"] == "helpful"


# ---------------------------------------------------------------------- saved files
def _other_encoder(source: Path, target: Path) -> Path:
    import torch
    from transformers import AutoModel

    shutil.copytree(source, target)
    model = AutoModel.from_pretrained(str(target))
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.add_(0.5)
    model.save_pretrained(str(target))
    return target


def test_index_built_with_another_encoder_is_refused(trained_dir, tiny_model_dir, tmp_path):
    target = shutil.copytree(trained_dir, tmp_path / "bot")
    meta = json.loads((target / "bot.json").read_text())
    meta["config"]["faq"]["encoder"] = str(_other_encoder(tiny_model_dir, tmp_path / "other"))
    (target / "bot.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="built with a different encoder.*support-bot train"):
        SupportBot.load(target)


def test_corrupted_index_is_a_clear_error(trained_dir, tmp_path):
    target = shutil.copytree(trained_dir, tmp_path / "bot")
    index_file = target / "kb" / "index" / "index.faiss"
    index_file.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelLoadError, match="index.faiss is corrupted"):
        SupportBot.load(target)
    with pytest.raises(ModelLoadError, match="not a support bot"):
        SupportBot.load(target / "kb")


def test_log_schema_version_and_migration(tmp_path, monkeypatch):
    with LogStore(tmp_path / "log.db") as store:
        assert store.schema_version == logstore_module.SCHEMA_VERSION
        store.record_turn("c", {"text": "hi", "text_chars": 2, "outcome": "answered"}, {})
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    added = logstore_module.SCHEMA_VERSION
    known = list(logstore_module.MIGRATIONS)
    monkeypatch.setattr(logstore_module, "MIGRATIONS", [*known, lambda conn: conn.exec_driver_sql(
        "ALTER TABLE turns ADD COLUMN channel VARCHAR(32)")])
    with LogStore(tmp_path / "log.db") as store:
        assert store.schema_version == added + 1
        assert store.count_turns() == 1
    monkeypatch.setattr(logstore_module, "MIGRATIONS", known)
    with LogStore(tmp_path / "log.db") as store, pytest.raises(LogError, match="newer than"):
        store.count_turns()


def test_training_refuses_unfillable_slots_and_overwriting(tiny_model_dir, toy_files, trained_dir, tmp_path):
    cfg = toy_config(str(tiny_model_dir), toy_files,
                     dialogue={"slots": {}, "ask_unknown_slots": False})
    with pytest.raises(ConfigError, match=r"slots without an extractor: \{order_number\} in "
                                          r"\['faq-1'\].*ask_unknown_slots: true"):
        SupportBot.train(cfg, tmp_path / "x")
    with pytest.raises(ArtifactExistsError, match="already holds a domaintune directory.*--overwrite"):
        SupportBot.train(toy_config(str(tiny_model_dir), toy_files), trained_dir)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep")
    with pytest.raises(ArtifactExistsError, match="never replaces it, even with overwrite"):
        SupportBot.train(toy_config(str(tiny_model_dir), toy_files), folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "keep"


def test_a_slot_without_an_extractor_is_asked_for_in_words(tiny_model_dir, toy_files, tmp_path):
    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None, dialogue={"slots": {}})
    with SupportBot.train(cfg, tmp_path / "bot") as trained:
        slot = trained.config.dialogue.slots["card_last4"]
        assert (slot.prompt, slot.free_text, slot.pattern) == ("What is the card last4?", True, None)
    with SupportBot.load(tmp_path / "bot") as bot:  # saved with the bot
        assert set(bot.config.dialogue.slots) == {"order_number", "card_last4"}
        bot.detector.mode_ = "acceptance"  # accept everything: the tiny model is unsure
        bot.detector.thresholds_ = [-2.0] * len(bot.detector.features_)
        asked = bot.reply("c", "i lost my card")
        assert asked.intent == "card_lost" and asked.text == "What is the card last4?"
        reject_everything(bot)  # an off-topic reply is the free-text value
        filled = bot.reply("c", "it ends in 9911")
        assert filled.outcome == Outcome.ANSWERED and filled.text == "Freeze card it ends in 9911 in the app."


# ---------------------------------------------------------------------- end to end
def test_end_to_end_train_chat_feedback_retrain_evaluate(tiny_model, toy_files, tmp_path, capsys):
    bot_dir, new_dir = tmp_path / "bot", tmp_path / "bot-v2"
    args = ["train", "--intents", str(toy_files["intents"]), "--faq", str(toy_files["faq"]),
            "--oos", str(toy_files["oos"]), "--output", str(bot_dir), "--model", tiny_model,
            "--encoder", tiny_model, "--set", "intent.validation_split=0.2",
            "--set", "intent.training.head_c=100", "--set", "dialogue.handoff_intents=[agent]"]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert len(printed.out.strip().splitlines()) == 1  # exactly one JSON object on stdout
    summary = json.loads(printed.out)
    assert "validation (" in printed.err and f"saved to {bot_dir}" in printed.err
    assert "worst intents on validation (F1)" in printed.err and len(summary["worst_intents"]) == 3
    assert summary["version"] == 1 and summary["oos"]["mode"] == "combiner"
    assert summary["n_oos_examples"] == len(OOS)

    with SupportBot.load(bot_dir) as bot:
        transcript = io.StringIO()
        chat(bot, conversation_id="e2e", stdin=io.StringIO("hello\ncan i talk to a human\nquit\n"),
             stdout=transcript)
        assert "[answered greeting" in transcript.getvalue()  # "hello"
        assert "[handoff" in transcript.getvalue()
        assert [q["conversation_id"] for q in bot.log.handoff_queue()] == ["e2e"]
        # feedback from the chat itself (what `retrain` learns from)
        transcript = io.StringIO()
        chat(bot, conversation_id="e2e-chat", stdin=io.StringIO(
            "hello\n/helpful\nreset my password\n/intent login\n"), stdout=transcript)
        assert "saved: turn" in transcript.getvalue()
        assert {e["text"] for e in bot.log.feedback_examples()} >= {"hello", "reset my password"}
    capsys.readouterr()
    assert main(["handoffs", str(bot_dir)]) == 0
    listed = capsys.readouterr().out
    assert "e2e" in listed and "asked for a person ('human')" in listed
    with SupportBot.load(bot_dir) as bot:
        answered = bot.reply("e2e-2", "i lost my card")
        wrong = bot.reply("e2e-2", "money back please")
        assert answered.intent == "card_lost"
        assert answered.outcome in (Outcome.ANSWERED, Outcome.ASKED_SLOT)
        bot.feedback(answered.turn_id, helpful=True)
        bot.feedback(wrong.turn_id, helpful=False, corrected_intent="refund")
        extra = bot.reply("e2e-3", "please give my money back")
        bot.feedback(extra.turn_id, corrected_intent="refund_late", allow_new_intent=True)
        expected = 5  # two corrections + one helpful answer, and the two from the chat
        assert len(bot.log.feedback_examples()) == expected

    assert main(["retrain", str(bot_dir), "--output", str(new_dir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == 2 and info["n_examples"] == expected and info["n_corrected"] == 3
    assert main(["retrain", str(bot_dir), "--output", str(new_dir)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    with SupportBot.load(new_dir) as new:
        assert new.version == 2 and "refund_late" in new.intents
        assert new.meta["parent"] == str(bot_dir.resolve())
        assert not (new_dir / "log.db").exists() or new.log.count_turns() == 0

    assert main(["evaluate", str(new_dir), "--data", str(toy_files["intents"]),
                 "--oos-data", str(toy_files["oos"]), "--faq-queries", str(toy_files["queries"])]) == 0
    printed = capsys.readouterr()
    metrics = json.loads(printed.out)
    assert "macro-F1" in printed.err and "worst intents (F1)" in printed.err
    for key in ("accuracy", "oos_recall", "oos_precision", "retrieval_mrr10", "retrieval_recall1"):
        assert key in metrics
    assert metrics["accuracy"] > 0.6 and metrics["n_queries"] == 3
    report = Path(metrics["report_dir"])
    assert (report / "confusion_matrix.png").stat().st_size > 1000
    assert "Most confused" in (report / "report.md").read_text()

    # both versions are in the registry with lineage; apps load "the production version of X"
    assert summary["registered"] == "bot v1 (candidate)" and info["registered"] == "bot v2 (candidate)"
    from domaintune import ModelRegistry

    with ModelRegistry(os.environ["DOMAINTUNE_REGISTRY"]) as registry:
        assert registry.get("bot", 2).parent_version == 1
        registry.promote("bot", 2)
    assert main(["evaluate", "bot", "--data", str(toy_files["intents"]), "--json"]) == 0
    printed = capsys.readouterr()
    by_name = json.loads(printed.out)
    assert "evaluated" not in printed.err  # --json: only the JSON
    labelled = write_csv(tmp_path / "labelled.csv", ["text", "label"], [("hello", "greeting")])
    assert main(["evaluate", str(new_dir), "--data", str(labelled)]) == 2
    assert "pass `--intent-column label`" in capsys.readouterr().err
    queries = write_csv(tmp_path / "q.csv", ["question", "faq_id"], [("hello", "faq-5")])
    assert main(["evaluate", str(new_dir), "--data", str(toy_files["intents"]),
                 "--faq-queries", str(queries)]) == 2
    assert "pass `--query-column question`" in capsys.readouterr().err
    assert Path(by_name["report_dir"]).resolve().is_relative_to(new_dir.resolve())  # v2 was loaded
    assert main(["chat", "no-such-bot"]) == 2
    assert "neither a bot directory nor a registered bot" in capsys.readouterr().err


def test_bot_learns_an_out_of_scope_class_from_oos_training_examples(tiny_model_dir, toy_files,
                                                                     tmp_path):
    oos_train = write_csv(tmp_path / "oos_train.csv", ["text"], [(t,) for t in OOS[:6]])
    oos_tune = write_csv(tmp_path / "oos_tune.csv", ["text"], [(t,) for t in OOS[6:]] * 2)
    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=str(oos_tune),
                     oos_train_file=str(oos_train))
    with SupportBot.train(cfg, tmp_path / "bot") as bot:
        assert "out_of_scope" in bot.classifier.labels and "out_of_scope" not in bot.intents
        assert bot.has_oos_class and bot.detector.features_[-1] == "in_scope_class"
        assert bot.meta["summary"]["n_oos_train"] == 6
        probe = OOS + ["where is my refund", "hello"]
        trained = bot.analyze(probe)
        for a in trained:
            assert a.intent in bot.intents and 0.0 <= a.oos_probability <= 1.0
            assert a.probabilities.shape == (len(INTENTS) + 1,)
    with SupportBot.load(tmp_path / "bot") as loaded:  # classes and detector survive a reload
        assert loaded.oos_classes == ["out_of_scope"]
        again = loaded.analyze(probe)
        np.testing.assert_allclose([a.oos_probability for a in again],
                                   [a.oos_probability for a in trained], atol=1e-5)
        assert [a.in_scope for a in again] == [a.in_scope for a in trained]
    topics = write_csv(tmp_path / "oos_topics.csv", ["text", "topic"],
                       [(t, "exchange" if "exchange" in t or "rate" in t else "fees")
                        for t in OOS[:6]])
    by_topic = toy_config(str(tiny_model_dir), toy_files, oos_file=str(oos_tune),
                          oos_train_file=str(topics), oos={"topic_column": "topic"})
    with SupportBot.train(by_topic, tmp_path / "topics") as bot:
        assert bot.oos_classes == ["out_of_scope/exchange", "out_of_scope/fees"]
        a = bot.analyze(["exchange rate"])[0]
        cols = [bot.classifier.labels.index(c) for c in bot.oos_classes]
        assert a.oos_probability == pytest.approx(float(a.probabilities[cols].sum()))
        assert a.intent in bot.intents
    clash = toy_config(str(tiny_model_dir), toy_files, oos_train_file=str(oos_train),
                       oos={"label": "refund"})
    with pytest.raises(ConfigError, match=r"oos.label 'refund' names .* has the intent\(s\) \['refund'\]"):
        SupportBot.train(clash, tmp_path / "clash")


def test_a_failed_onnx_export_keeps_the_trained_bot_with_runtime_auto(tiny_model_dir, toy_files,
                                                                      tmp_path, monkeypatch):
    from domaintune import TextClassifier

    def fail(self, directory, **kwargs):
        raise RuntimeError("cannot trace this model")

    monkeypatch.setattr(TextClassifier, "export_onnx", fail)
    cfg = toy_config(str(tiny_model_dir), toy_files, oos_file=None)
    SupportBot.train(cfg, tmp_path / "auto").close()  # a warning, not a lost bot
    assert not (tmp_path / "auto" / "onnx").exists()
    with SupportBot.load(tmp_path / "auto") as bot:
        assert isinstance(bot.classifier, TextClassifier) and "onnx" not in bot.meta
        assert bot.reply("c", "where is my refund").intent == "refund"
    strict = toy_config(str(tiny_model_dir), toy_files, oos_file=None, runtime="onnx")
    with pytest.raises(RuntimeError, match="cannot trace"):
        SupportBot.train(strict, tmp_path / "strict")
    assert not (tmp_path / "strict").exists()


def test_onnx_and_torch_runtimes_give_the_same_answers(trained_dir, tmp_path):
    from domaintune import TextClassifier
    from domaintune.export import OnnxBiEncoder, OnnxTextClassifier

    assert (trained_dir / "onnx" / "intent_model" / "model.onnx").is_file()
    texts = [t for group in INTENTS.values() for t in group[:3]] + OOS[:4] + ["🙂 " * 50]
    with SupportBot.load(trained_dir, runtime="torch") as slow, \
            SupportBot.load(trained_dir, runtime="onnx") as fast:
        assert isinstance(slow.classifier, TextClassifier)
        assert isinstance(fast.classifier, OnnxTextClassifier)
        assert isinstance(fast.retriever.encoder, OnnxBiEncoder)
        a, b = slow.analyze(texts), fast.analyze(texts)
        np.testing.assert_allclose([x.probabilities for x in a], [x.probabilities for x in b],
                                   atol=1e-5)
        np.testing.assert_allclose([x.similarity for x in a], [x.similarity for x in b], atol=1e-5)
        assert [x.intent for x in a] == [x.intent for x in b]
        assert [x.ranking.ids for x in a] == [x.ranking.ids for x in b]
        with pytest.raises(DataError, match="runtime 'torch' to save it"):
            fast.save(tmp_path / "copy")
    torch_only = shutil.copytree(trained_dir, tmp_path / "no-exports")
    shutil.rmtree(torch_only / "onnx")  # as an older bot, or one saved with runtime torch
    record = json.loads((torch_only / "bot.json").read_text())
    record["files"] = {k: v for k, v in record["files"].items() if not k.startswith("onnx/")}
    record["contents"] = [k for k in record["contents"] if not k.startswith("onnx/")]
    (torch_only / "bot.json").write_text(json.dumps(record))
    with SupportBot.load(torch_only, runtime="onnx") as fallback:  # an older bot: PyTorch
        assert isinstance(fallback.classifier, TextClassifier)


def test_a_changed_weight_file_inside_a_bot_is_refused(trained_dir, tmp_path):
    bot_dir = shutil.copytree(trained_dir, tmp_path / "tampered")
    head = bot_dir / "intent_model" / "head.safetensors"
    blob = bytearray(head.read_bytes())
    blob[-8:] = bytes(255 - b for b in blob[-8:])
    head.write_bytes(bytes(blob))
    with pytest.raises(ModelLoadError, match=r"intent_model/head.safetensors is corrupted: its "
                                             "SHA-256 differs.*retrain the bot"):
        SupportBot.load(bot_dir, runtime="torch")

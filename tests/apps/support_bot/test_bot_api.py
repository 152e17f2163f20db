"""support-bot's REST routes (apps/support_bot/api.py) on the core's server, in process."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import write_csv
from fastapi.testclient import TestClient

from domaintune import ConfigError
from domaintune.serving import ServeConfig, create_app
from support_bot import SupportBot
from support_bot.api import routes
from support_bot.cli import build_parser

INTENTS = {
    "refund": ["where is my refund", "money back please", "refund not arrived", "return money",
               "where is my money", "refund please", "has my refund been sent"],
    "card_lost": ["card lost", "card stolen", "my card was stolen", "i lost my card",
                  "stolen card", "card was lost", "my card is lost"],
    "agent": ["i want help", "need help please", "help me please", "i need help", "help",
              "want help", "need help"],
}
FAQ = [("faq-1", "Where is my refund?", "Refunds take 5 days.", "refund"),
       ("faq-2", "I lost my card", "Freeze the card in the app.", "card_lost"),
       ("faq-3", "Can I get help from a person?", "Type 'agent' to talk to our team.", "agent")]


@pytest.fixture(scope="module")
def served_dir(tiny_model_dir, tmp_path_factory):
    from support_bot import BotConfig

    folder = tmp_path_factory.mktemp("bot-api")
    rows = [(t, intent) for intent, texts in INTENTS.items() for t in texts]
    cfg = BotConfig.from_dict({
        "intents_file": str(write_csv(folder / "intents.csv", ["text", "intent"], rows)),
        "faq_file": str(write_csv(folder / "faq.csv", ["id", "question", "answer", "intent"], FAQ)),
        "intent": {"model": str(tiny_model_dir), "validation_split": 0.2,
                   "training": {"head_c": 100.0}},
        "faq": {"encoder": str(tiny_model_dir)}, "dialogue": {"handoff_intents": ["agent"]}})
    out = folder / "bot"
    SupportBot.train(cfg, out).close()
    return out


@pytest.fixture
def bot(served_dir, tmp_path):
    target = tmp_path / "bot"
    shutil.copytree(served_dir, target)
    with SupportBot.load(target, device="cpu") as loaded:
        yield loaded


@pytest.fixture
def client(bot):
    config = ServeConfig(max_wait_ms=20.0)
    with TestClient(create_app(routes(bot, config), config)) as c:
        yield c


def test_reply_answers_like_the_bot_and_logs_the_turn(client, bot):
    r = client.post("/v1/reply", json={"conversation_id": "c1", "text": "where is my refund"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["conversation_id"] == "c1" and body["turn_id"] >= 1
    expected = bot.analyze([bot.model_text("where is my refund")])[0]
    assert body["intent"] == expected.intent
    assert body["outcome"] in {"answered", "asked_slot", "oos", "handoff"}
    assert {a["id"] for a in body["top_answers"]} <= {"faq-1", "faq-2", "faq-3"}
    turns = bot.log.turns("c1")
    assert len(turns) == 1 and turns[0]["text"] == "where is my refund"
    # no id: a new conversation with a generated id
    new = client.post("/v1/reply", json={"text": "card stolen"}).json()
    assert new["conversation_id"] and new["conversation_id"] != "c1"


def test_empty_message_is_answered_not_logged(client, bot):
    r = client.post("/v1/reply", json={"conversation_id": "c2", "text": "   "})
    assert r.status_code == 200 and r.json()["outcome"] == "empty" and r.json()["turn_id"] is None


def test_feedback_is_recorded_and_bad_feedback_is_a_4xx(client, bot):
    turn = client.post("/v1/reply", json={"conversation_id": "c3", "text": "card lost"}).json()
    r = client.post("/v1/feedback", json={"turn_id": turn["turn_id"], "helpful": False,
                                          "corrected_intent": "card_lost"})
    assert r.status_code == 200 and r.json() == {"turn_id": turn["turn_id"], "recorded": True}
    row = bot.log.turns("c3")[0]
    assert row["feedback"] == "not_helpful" and row["corrected_intent"] == "card_lost"
    r = client.post("/v1/feedback", json={"turn_id": turn["turn_id"], "new_intent": "card_frozen"})
    assert r.status_code == 200 and bot.log.turns("c3")[0]["corrected_intent"] == "card_frozen"
    missing = client.post("/v1/feedback", json={"turn_id": 999999, "helpful": True})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_turn"
    t = turn["turn_id"]
    cases = [({"turn_id": t}, "missing_feedback"),
             ({"turn_id": t, "corrected_intent": "refund", "new_intent": "x"}, "invalid_feedback"),
             ({"turn_id": t, "corrected_intent": "no_such"}, "invalid_request"),
             ({"turn_id": t, "helpful": True, "extra": 1}, "invalid_request"),
             ({"turn_id": "x", "helpful": True}, "invalid_request")]
    for body, code in cases:
        r = client.post("/v1/feedback", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.json())


def test_bad_reply_requests_name_the_field(client):
    for body, field in [({}, "text"), ({"text": 3}, "text"), ({"text": "hi", "x": 1}, "x"),
                        ({"text": "hi", "conversation_id": "c" * 201}, "conversation_id")]:
        r = client.post("/v1/reply", json=body)
        assert r.status_code == 422, body
        assert field in r.json()["error"]["message"], r.json()
    r = client.post("/v1/reply", json={"text": "x" * 20_000})
    assert r.status_code == 422 and "text" in r.json()["error"]["message"]
    r = client.post("/v1/reply", json={"text": "hi", "conversation_id": "  "})
    assert r.status_code == 422 and "conversation_id" in r.json()["error"]["message"]


def test_concurrent_conversations_get_their_own_replies(client, bot):
    messages = {f"conv-{i}": text for i, text in enumerate(
        ["where is my refund", "card stolen", "i need help", "refund please"] * 4)}

    def send(item):
        cid, text = item
        return cid, client.post("/v1/reply", json={"conversation_id": cid, "text": text}).json()

    with ThreadPoolExecutor(8) as pool:
        answers = dict(pool.map(send, messages.items()))
    for cid, text in messages.items():
        assert answers[cid]["conversation_id"] == cid
        assert answers[cid]["intent"] == bot.analyze([text])[0].intent
        assert [t["text"] for t in bot.log.turns(cid)] == [text]


def test_model_info_and_the_cli_parser():
    args = build_parser().parse_args(["serve", "BOT", "--port", "8123"])
    assert args.port == 8123 and args.func.__name__ == "_serve"
    args = build_parser().parse_args(["serve", "BOT", "--workers", "2"])
    with pytest.raises(ConfigError, match="--workers 1"):
        args.func(args)


def test_v1_model_names_the_bot(client, bot):
    info = client.get("/v1/model").json()
    assert info["task"] == "support-bot" and sorted(info["intents"]) == sorted(bot.intents)


def test_fuzzing_every_route_gives_no_5xx(bot):
    from fuzz import fuzz_every_route

    config = ServeConfig(max_wait_ms=0.0, max_chars=300)
    fuzz_every_route(create_app(routes(bot, config), config), max_examples=30,
                     expect={"/v1/reply", "/v1/feedback", "/v1/model", "/health"})

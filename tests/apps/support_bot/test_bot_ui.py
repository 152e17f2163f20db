"""The support bot's demo, without a browser: what the tab shows after each message."""

from __future__ import annotations

import dataclasses

from support_bot.policy import Outcome
from support_bot.service import Reply
from support_bot.ui import chat_turn, describe, handoff_rows, top_answers_rows


def reply(**kw) -> Reply:
    base = dict(text="Refunds take 5 days.", intent="refund_status", confidence=0.934,
                answer_id="faq-011", top_answers=(), outcome=Outcome.ANSWERED, handoff=False,
                missing_slots=(), turn_id=7, conversation_id="c1", reason="in scope",
                similarity=0.81, in_scope_score=0.9, in_scope_threshold=0.44, in_scope=True)
    base.update(kw)
    return Reply(**base)


def test_details_show_the_confidence_the_decision_used():
    line = describe(reply())
    assert "**Intent:** `refund_status` · **confidence** 93%" in line
    assert "**outcome:** `answered`" in line and "_in scope_ (turn 7)" in line


def test_details_say_out_of_scope_rather_than_an_intent():
    oos = describe(reply(intent="greeting", confidence=1.0, outcome=Outcome.OOS, in_scope=False,
                         in_scope_score=0.21, reason="out of scope"))
    assert "greeting" not in oos and "100%" not in oos
    assert oos.startswith("**Intent:** out of scope · in-scope score 0.21 (needs 0.44)")
    handed = describe(reply(intent="goodbye", confidence=1.0, outcome=Outcome.HANDOFF,
                            handoff=True, in_scope=False, in_scope_score=0.1,
                            reason="out of scope 2 turns in a row"))
    assert "goodbye" not in handed and "out of scope 2 turns in a row" in handed


def test_top_answers_sorted_by_the_score_shown_rounded_with_slots_marked():
    rows = top_answers_rows(reply(top_answers=(
        ("faq-003", 0.8219, "Track order {order_number} in the app."),
        ("faq-004", 0.4181, "Cards arrive in 5 days."),
        ("faq-010", 0.5543, "Ask {merchant} for a refund of £25."))))
    assert [r[1] for r in rows] == ["0.82", "0.55", "0.42"]
    assert rows[0] == ["faq-003", "0.82", "Track order [order number] in the app."]
    assert rows[1][2] == "Ask [merchant] for a refund of £25."
    used = top_answers_rows(reply(answer_id="faq-004", top_answers=(
        ("faq-003", 0.8, "a"), ("faq-004", 0.4, "b"))))
    assert [r[0] for r in used] == ["faq-003", "✓ faq-004"]


class FakeBot:
    def __init__(self):
        self.replies = {"": reply(text="Please type a message so I can help.", intent=None,
                                  outcome=Outcome.EMPTY, turn_id=None, reason="empty message"),
                        "hi": reply(text="Hello!"),
                        "human": reply(text="Passing you on.", outcome=Outcome.HANDOFF,
                                       handoff=True, turn_id=8, reason="asked for a person")}
        self.directory = None

    def reply(self, cid, text):
        return dataclasses.replace(self.replies[text.strip()], conversation_id=cid)


def test_an_empty_message_adds_no_bubble_and_keeps_the_last_turn():
    bot = FakeBot()
    first = chat_turn(bot, "hi", [], None, None)
    assert [m["role"] for m in first.history] == ["user", "assistant"] and first.last_turn == 7
    empty = chat_turn(bot, "   ", first.history, first.conversation_id, first.last_turn)
    assert empty.history == first.history  # not merged into the bot's last bubble
    assert empty.last_turn == 7  # 👍 still rates the last reply
    assert empty.details is None and empty.answers is None and empty.banner is None
    assert "type a message" in empty.status


def test_the_handoff_banner_is_set_on_handoff_and_left_alone_after():
    bot = FakeBot()
    handed = chat_turn(bot, "human", [], "c9", None)
    assert handed.banner is not None and "`c9` is in the agent queue" in handed.banner
    assert "asked for a person" in handed.banner
    after = chat_turn(bot, "hi", handed.history, "c9", handed.last_turn)
    assert after.banner is None  # None = unchanged: the banner stays until a new conversation


def test_handoff_rows_list_the_open_queue(tmp_path):
    from support_bot.store import LogStore

    class Bot:
        directory = tmp_path
        log = LogStore(tmp_path / "log.db")

    assert handoff_rows(Bot()) == []
    Bot.log.record_turn("c1", {"text": "human please", "text_chars": 12, "outcome": "handoff",
                         "handoff": True, "bot_version": 1},
                        {}, "asked for a person ('human')")
    (row,) = handoff_rows(Bot())
    assert row[0] == "c1" and row[2] == "asked for a person ('human')"
    Bot.log.close()


def test_new_conversation_resets_the_correct_intent_dropdown():
    import gradio as gr

    from support_bot.ui import support_bot_tab

    class Bot(FakeBot):
        intents = ["refund_status", "card_lost"]

    with gr.Blocks() as demo:
        support_bot_tab(Bot())
    reset = next(d for d in demo.config["dependencies"] if d.get("api_name") == "new_conversation")
    dropdown = next(c["id"] for c in demo.config["components"]
                    if c.get("props", {}).get("label") == "Correct intent")
    assert dropdown in reset["outputs"]
    out = demo.fns[reset["id"]].fn()
    assert out[-1] == {"__type__": "update", "value": None}

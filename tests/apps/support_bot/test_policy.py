"""The dialogue policy alone: every transition of ``decide`` on hand-made analyses (no models)."""

from __future__ import annotations

import dataclasses

import pytest

from support_bot.config import DialogueConfig, SlotConfig, SlotScope
from support_bot.dialogue import ConversationContext
from support_bot.policy import (
    Decision,
    MessageAnalysis,
    PolicyConfig,
    decide,
    followup_query,
)
from support_bot.store import Outcome

ANSWERS = {
    "faq-refund": "Refunds take 5 days. Track order {order_number} in the app.",
    "faq-card": "Freeze card {card_last4} in the app.",
    "faq-refund-time": "A refund takes up to 5 working days.",
    "faq-fx": "Exchange {amount} at the live rate.",
    "faq-hello": "Hi! How can I help?",
}
RULES = PolicyConfig(DialogueConfig(handoff_intents=["agent"], escalate_intents=["complaint"]),
                     answers=ANSWERS, top_k=2)


def message(text: str, intent: str = "refund", *, confidence: float = 0.9, in_scope: bool = True,
            entries: tuple[tuple[str, float], ...] | None = None,
            followup: tuple[tuple[str, float], ...] | None = None) -> MessageAnalysis:
    default = {"refund": (("faq-refund", 0.8), ("faq-refund-time", 0.6)),
               "card_lost": (("faq-card", 0.9),), "fx": (("faq-fx", 0.7),),
               "greeting": (("faq-hello", 0.9),)}
    return MessageAnalysis(text=text, intent=intent, confidence=confidence, in_scope=in_scope,
                           entries=default.get(intent, ()) if entries is None else entries,
                           probabilities={"refund": 0.2, "card_lost": 0.3, "fx": 0.1,
                                          intent: confidence},
                           followup_entries=followup)


def run(turns: list[MessageAnalysis], rules: PolicyConfig = RULES,
        context: ConversationContext | None = None) -> list[Decision]:
    """Decide each message in turn, carrying the context like the service does."""
    ctx = context or ConversationContext()
    out = []
    for turn in turns:
        decision = decide(ctx, turn, rules)
        ctx = decision.context
        out.append(decision)
    return out


def test_answer_from_the_best_faq_entry_with_known_slots_filled():
    ctx = ConversationContext(slots={"order_number": "12345678"})
    d = decide(ctx, message("where is my refund"), RULES)
    assert isinstance(d, Decision) and d.outcome == Outcome.ANSWERED and not d.handoff
    assert d.text == "Refunds take 5 days. Track order 12345678 in the app."
    assert (d.intent, d.confidence, d.answer_id, d.missing_slots) == ("refund", 0.9, "faq-refund", ())
    assert d.reason == "in scope"
    assert d.top_answers == (("faq-refund", 0.8, ANSWERS["faq-refund"].replace(
        "{order_number}", "12345678")), ("faq-refund-time", 0.6, ANSWERS["faq-refund-time"]))
    assert d.context.last_intent == "refund" and d.context.last_text == "where is my refund"
    assert d.context.pending_answer is None and d.context.low_confidence_streak == 0


def test_decide_does_not_modify_its_inputs_and_decisions_are_frozen():
    ctx = ConversationContext(low_confidence_streak=1)
    before = ctx.to_dict()
    d = decide(ctx, message("tell me a joke", in_scope=False), RULES)
    assert ctx.to_dict() == before
    assert d.context is not ctx and d.context.low_confidence_streak == 0  # handed off at 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.text = "changed"  # type: ignore[misc]


def test_fixed_responses_come_before_the_faq():
    rules = dataclasses.replace(RULES, dialogue=DialogueConfig(
        responses={"greeting": "Hello! I'm the bank's assistant."}))
    d = decide(ConversationContext(), message("hi", "greeting"), rules)
    assert (d.outcome, d.answer_id, d.text) == (Outcome.ANSWERED, "response:greeting",
                                               "Hello! I'm the bank's assistant.")


def test_ask_slot_then_fill_it_on_the_next_turn():
    asked, filled = run([message("my refund is missing"), message("it's 12345678", "card_lost")])
    assert asked.outcome == Outcome.ASKED_SLOT
    assert asked.text == RULES.dialogue.slots["order_number"].prompt
    assert asked.missing_slots == ("order_number",) and asked.answer_id == "faq-refund"
    assert asked.reason == "in scope; asking for 'order_number'"
    assert asked.context.pending_answer == "faq-refund"
    assert asked.context.pending_missing == ["order_number"]
    # the value answers the waiting entry, whatever the classifier says about "it's 12345678"
    assert filled.outcome == Outcome.ANSWERED and filled.reason == "slot value given"
    assert filled.text == "Refunds take 5 days. Track order 12345678 in the app."
    assert (filled.intent, filled.confidence, filled.answer_id) == ("refund", 0.9, "faq-refund")
    assert filled.context.slots == {"order_number": "12345678"}
    assert filled.context.pending_answer is None
    assert filled.context.last_text == "my refund is missing"  # the question, for follow-ups


# ---------------------------------------------------------------------- waiting for a slot
# One test per row of the transition table in apps/support_bot/README.md ("The dialogue policy").
def test_2a_a_message_containing_the_value_fills_it_whatever_the_classifier_says():
    for intent, in_scope in (("agent", True), ("greeting", True), ("card_lost", False)):
        asked, filled = run([message("my refund is missing"),
                             message("my order number is 4821377", intent, confidence=0.86,
                                     in_scope=in_scope)])
        assert asked.outcome == Outcome.ASKED_SLOT
        assert filled.outcome == Outcome.ANSWERED and not filled.handoff, intent
        assert filled.text == "Refunds take 5 days. Track order 4821377 in the app."
        assert filled.reason == "slot value given" and filled.intent == "refund"
        assert filled.confidence == 0.9  # the confidence the waiting answer was chosen with


def test_2b_a_handoff_intent_without_the_value_hands_off_and_drops_the_slot():
    _, handed, after = run([message("my refund is missing"), message("help me", "agent"),
                            message("hello", "greeting")])
    assert handed.outcome == Outcome.HANDOFF and handed.reason == "handoff intent 'agent'"
    assert handed.context.pending_answer is None and handed.context.pending_missing == []
    assert handed.context.last_intent is None  # the topic went to the agent
    assert after.outcome == Outcome.ANSWERED and after.text == ANSWERS["faq-hello"]


def test_1_an_explicit_request_for_a_person_wins_over_a_slot_value():
    _, handed = run([message("my refund is missing"),
                     message("order 4821377, let me talk to a human", "refund")])
    assert handed.outcome == Outcome.HANDOFF and handed.reason == "asked for a person ('human')"
    assert handed.context.pending_answer is None


def test_after_a_handoff_the_pending_slot_is_not_asked_for_again():
    _, handed, followup = run([
        message("my refund is missing"), message("can I speak to someone", "refund"),
        message("and how long will that take?", "refund", in_scope=False)])
    assert handed.outcome == Outcome.HANDOFF
    # no pending answer, no last topic: the follow-up is not linked to the refund any more
    assert followup_query(handed.context, message("and how long will that take?", "refund",
                                                  in_scope=False), RULES) is None
    assert followup.outcome == Outcome.OOS and followup.missing_slots == ()
    assert followup.text == RULES.dialogue.fallback_message


def test_2d_a_free_text_slot_takes_the_reply():
    rules = dataclasses.replace(RULES, answers={**ANSWERS, "faq-merchant": "Ask {merchant}."},
                                dialogue=DialogueConfig(slots={
                                    **DialogueConfig().slots, "merchant": SlotConfig(
                                        prompt="What is the merchant?", free_text=True)}))
    asked, filled = run([message("refund from a shop", entries=(("faq-merchant", 0.9),)),
                         message("Tesco", "greeting", in_scope=False)], rules)
    assert asked.text == "What is the merchant?" and asked.missing_slots == ("merchant",)
    assert filled.outcome == Outcome.ANSWERED and filled.text == "Ask Tesco."
    assert filled.reason == "slot value given (free text)"
    # but a new in-scope question is not taken as the value (2c before 2d)
    _, new = run([message("refund from a shop", entries=(("faq-merchant", 0.9),)),
                  message("I lost my card", "card_lost")], rules)
    assert new.intent == "card_lost" and new.answer_id == "faq-card"


def test_2e_an_off_topic_message_asks_again_without_counting_as_out_of_scope():
    asked, again = run([message("my refund is missing"),
                        message("what's the weather", "card_lost", in_scope=False)])
    assert again.outcome == Outcome.ASKED_SLOT and again.missing_slots == ("order_number",)
    assert again.text == (f"{RULES.dialogue.slot_retry_prefix} "
                          f"{RULES.dialogue.slots['order_number'].prompt}")
    assert (again.intent, again.answer_id) == ("refund", "faq-refund")
    assert again.reason == "still waiting for 'order_number'"
    assert again.context.low_confidence_streak == 0 and again.context.slot_retries == 1


def test_2f_then_off_topic_messages_drop_the_wait_and_are_out_of_scope():
    turns = run([message("my refund is missing")]
                + [message("what's the weather", "card_lost", in_scope=False)] * 3)
    asked, again, dropped, handed = turns
    assert again.outcome == Outcome.ASKED_SLOT
    assert dropped.outcome == Outcome.OOS and dropped.text == RULES.dialogue.fallback_message
    assert dropped.reason == "out of scope; stopped waiting for 'order_number' after 2 requests"
    assert dropped.context.pending_answer is None and dropped.context.low_confidence_streak == 1
    assert handed.outcome == Outcome.HANDOFF  # low_confidence_limit (2) out-of-scope turns
    assert handed.reason == "out of scope 2 turns in a row"
    # a value still fills the slot after a retry
    _, _, filled = run([message("my refund is missing"), message("no idea", in_scope=False),
                        message("12345678", in_scope=False)])
    assert filled.outcome == Outcome.ANSWERED and filled.context.slot_retries == 0


def test_2g_an_in_scope_message_without_the_value_hands_off_after_the_retries():
    asked, again, handed = run([message("my refund is missing"),
                                message("where is my refund"), message("my refund please")])
    assert again.outcome == Outcome.ASKED_SLOT
    assert handed.outcome == Outcome.HANDOFF and handed.handoff
    assert handed.reason == "slot 'order_number' not given after 2 requests"
    assert handed.context.handed_off and handed.context.pending_answer is None


def test_slot_retry_limit_zero_never_asks_again():
    rules = dataclasses.replace(RULES, dialogue=DialogueConfig(slot_retry_limit=0))
    _, dropped = run([message("my refund is missing"), message("weather?", in_scope=False)], rules)
    assert dropped.outcome == Outcome.OOS
    assert dropped.reason == "out of scope; stopped waiting for 'order_number' after 1 requests"


def test_top_answers_mark_the_slots_still_missing():
    d = decide(ConversationContext(), message("my refund is missing"), RULES)
    assert d.top_answers[0] == ("faq-refund", 0.8,
                                "Refunds take 5 days. Track order [order number] in the app.")


def test_2c_a_new_in_scope_question_drops_the_waiting_answer():
    _, new = run([message("my refund is missing"), message("I lost my card", "card_lost")])
    assert new.outcome == Outcome.ASKED_SLOT and new.answer_id == "faq-card"
    assert new.missing_slots == ("card_last4",) and new.intent == "card_lost"


def test_out_of_scope_asks_to_rephrase_then_hands_off_after_the_limit():
    rules = dataclasses.replace(RULES, dialogue=DialogueConfig(low_confidence_limit=3))
    first, second, third = run([message("weather?", in_scope=False, confidence=0.2)] * 3, rules)
    for d in (first, second):
        assert d.outcome == Outcome.OOS and d.text == rules.dialogue.fallback_message
        assert d.reason == "out of scope" and d.intent == "refund" and d.confidence == 0.2
    assert (first.context.low_confidence_streak, second.context.low_confidence_streak) == (1, 2)
    assert third.outcome == Outcome.HANDOFF and third.text == rules.dialogue.handoff_message
    assert third.reason == "out of scope 3 turns in a row"
    assert third.context.low_confidence_streak == 0 and third.context.handed_off


def test_an_answer_resets_the_low_confidence_streak():
    _, answered, oos = run([message("weather?", in_scope=False), message("hello", "greeting"),
                            message("weather?", in_scope=False)])
    assert answered.outcome == Outcome.ANSWERED and answered.context.low_confidence_streak == 0
    assert oos.outcome == Outcome.OOS  # not a handoff: the streak started again


@pytest.mark.parametrize("text", ["Can I talk to a real person?", "HUMAN please",
                                  "let me speak to someone"])
def test_an_explicit_request_for_a_person_hands_off_whatever_the_model_says(text):
    d = decide(ConversationContext(pending_answer="faq-refund", pending_missing=["order_number"]),
               message(text, "refund", confidence=0.99), RULES)
    assert d.outcome == Outcome.HANDOFF and d.text == RULES.dialogue.handoff_message
    assert d.reason.startswith("asked for a person (")
    assert d.context.handed_off and d.context.pending_answer is None


def test_handoff_and_escalated_intents_only_in_scope():
    agent = decide(ConversationContext(), message("help me", "agent"), RULES)
    assert agent.outcome == Outcome.HANDOFF and agent.reason == "handoff intent 'agent'"
    complaint = decide(ConversationContext(), message("awful service", "complaint"), RULES)
    assert complaint.reason == "escalated intent 'complaint'"
    unsure = decide(ConversationContext(), message("help me", "agent", in_scope=False), RULES)
    assert unsure.outcome == Outcome.OOS


def test_followup_reuses_the_last_intent_with_the_followup_ranking():
    ctx = decide(ConversationContext(), message("where is my refund", entries=(
        ("faq-refund-time", 0.9),)), RULES).context
    followup = message("and how long will that take?", "fx", in_scope=False)
    assert followup_query(ctx, followup, RULES) == "where is my refund and how long will that take?"
    with pytest.raises(ValueError, match="follow-up: rank the FAQ for followup_query"):
        decide(ctx, followup, RULES)
    d = decide(ctx, dataclasses.replace(followup, followup_entries=(("faq-refund-time", 0.7),)),
               RULES)
    assert d.outcome == Outcome.ANSWERED and d.intent == "refund"
    assert d.answer_id == "faq-refund-time" and d.text == ANSWERS["faq-refund-time"]
    assert d.reason == "follow-up: reused the last intent 'refund'"
    assert d.confidence == 0.2  # the classifier's probability of the reused intent
    assert d.top_answers == (("faq-refund-time", 0.7, ANSWERS["faq-refund-time"]),)


def test_no_followup_without_a_last_intent_or_for_a_new_statement():
    assert followup_query(ConversationContext(), message("and that?"), RULES) is None
    ctx = ConversationContext(last_intent="refund", last_text="where is my refund")
    assert followup_query(ctx, message("and my card is lost", "card_lost"), RULES) is None
    assert followup_query(ctx, message("and that refund?", "refund"), RULES) is None  # same intent


def test_topic_slots_are_forgotten_when_the_topic_changes():
    slots = {"amount": SlotConfig(pattern=r"£\d+", prompt="How much?", scope=SlotScope.TOPIC),
             "card_last4": SlotConfig(pattern=r"\b\d{4}\b", prompt="Last 4 digits?")}
    rules = dataclasses.replace(RULES, dialogue=DialogueConfig(slots=slots))
    first, second = run([message("exchange £20 please, card 1234", "fx"),
                         message("I lost my card", "card_lost")], rules)
    assert first.text == "Exchange £20 at the live rate."
    assert first.context.slots == {"amount": "£20", "card_last4": "1234"}
    assert second.context.slots == {"card_last4": "1234"}  # the amount belonged to "fx"
    assert second.text == "Freeze card 1234 in the app."


def test_no_faq_entry_is_out_of_scope():
    d = decide(ConversationContext(), message("where is my refund", entries=()), RULES)
    assert d.outcome == Outcome.OOS and d.reason == "no FAQ entry"

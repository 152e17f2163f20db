"""The dialogue policy: what the bot does with one message, as a pure function.

:func:`decide` takes the conversation so far (:class:`ConversationContext`), what the models
say about the message (:class:`MessageAnalysis`) and the rules (:class:`PolicyConfig`) and
returns a :class:`Decision`: the outcome, the reply, and the new context. It calls no model,
reads and writes nothing and does not modify its arguments, so every rule is tested alone
(tests/apps/support_bot/test_policy.py). :class:`~support_bot.SupportBot` runs the models,
calls it, and logs the turn.

The rules, in order (the table of transitions is in apps/support_bot/README.md, "The
dialogue policy"; each row is a test in tests/apps/support_bot/test_policy.py):

1. an explicit request for a person (``dialogue.handoff_keywords``): hand off, whatever else
   the message says; a pending slot is dropped;
2. an answer waiting for a slot value:

   a. the message contains the value (the slot's pattern finds it): fill it and answer,
      whatever the classifier says ("my order number is 4821377");
   b. a handoff / escalated intent in scope: hand off (the pending slot is dropped);
   c. a new in-scope question (another intent, not a follow-up): drop the wait, go on at 3;
   d. an awaited free-text slot takes the message as the value: fill it and answer;
   e. otherwise ask again, up to ``slot_retry_limit`` times (not counted as out of scope);
      then an out-of-scope message drops the wait and goes on at 3 (asked to rephrase), and
      an in-scope one without the value hands off;

3. a handoff / escalated intent predicted in scope: hand off;
4. a follow-up ("and how long will that take?") reuses the last intent, with the FAQ ranked
   for the two messages together (:func:`followup_query` says which query to rank);
5. out of scope: ask to rephrase, hand off after ``low_confidence_limit`` such turns in a row;
6. answer: a fixed ``dialogue.responses`` entry or the best FAQ entry; an answer with
   ``{slot}`` values it lacks asks for the first one.

A handoff forgets the pending answer and the last topic (no follow-up of it, no slot asked
again); slot values and the ``handed_off`` flag stay.

Example:
    >>> from support_bot.config import DialogueConfig
    >>> rules = PolicyConfig(DialogueConfig(), answers={"faq-1": "Refunds take 5 days."})
    >>> message = MessageAnalysis(text="where is my refund", intent="refund", confidence=0.9,
    ...                           in_scope=True, entries=(("faq-1", 0.8),))
    >>> decide(ConversationContext(), message, rules).outcome
    <Outcome.ANSWERED: 'answered'>
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .config import DialogueConfig, SlotScope
from .dialogue import (
    ConversationContext,
    extract_slots,
    fill_template,
    handoff_keyword,
    is_followup,
    mark_slots,
)

RESPONSE_PREFIX = "response:"  # answer ids of dialogue.responses entries: "response:<intent>"

Entries = tuple[tuple[str, float], ...]



class Outcome(str, enum.Enum):
    """What the bot did with a turn."""

    ANSWERED = "answered"
    ASKED_SLOT = "asked_slot"
    OOS = "oos"
    HANDOFF = "handoff"
    EMPTY = "empty"  # an empty message: not logged

@dataclass(frozen=True)
class PolicyConfig:
    """The rules of :func:`decide`: the dialogue settings and the answers it can give.

    Args:
        dialogue: handoff, slots, follow-ups and the fixed messages.
        answers: answer template of every FAQ entry id (``{slot}`` placeholders allowed).
        top_k: FAQ answers listed in ``Decision.top_answers``.
    """

    dialogue: DialogueConfig
    answers: Mapping[str, str] = field(default_factory=dict)
    top_k: int = 3

    def template(self, answer_id: str) -> str:
        """The template of an FAQ entry id or of ``response:<intent>``."""
        if answer_id.startswith(RESPONSE_PREFIX):
            return self.dialogue.responses[answer_id[len(RESPONSE_PREFIX):]]
        return self.answers[answer_id]


@dataclass(frozen=True)
class MessageAnalysis:
    """What the models say about one message, as the policy needs it.

    Args:
        text: the message as the models saw it.
        intent: the classifier's best intent.
        confidence: its calibrated probability.
        in_scope: the out-of-scope detector's decision.
        entries: ``(FAQ id, score)`` best first, ranked for ``intent``.
        probabilities: calibrated probability of each class (the confidence of a reused
            intent); a missing class falls back to ``confidence``.
        followup_entries: the FAQ ranked for :func:`followup_query`'s query and the last
            intent; needed when that query is not ``None``.
    """

    text: str
    intent: str
    confidence: float
    in_scope: bool
    entries: Entries = ()
    probabilities: Mapping[str, float] = field(default_factory=dict)
    followup_entries: Entries | None = None

    def confidence_of(self, intent: str | None) -> float:
        if intent is not None and intent in self.probabilities:
            return float(self.probabilities[intent])
        return self.confidence


@dataclass(frozen=True)
class Decision:
    """What the bot does with a message.

    Attributes:
        outcome: answered, asked for a slot, out of scope or handed off.
        text: the reply to show.
        intent: the intent acted on (the predicted one, or a reused one).
        confidence: the classifier's probability of ``intent``.
        answer_id: the FAQ entry (or ``response:<intent>``) answered or waiting for slots.
        missing_slots: the slots the reply asks for.
        reason: why, in words.
        top_answers: ``(FAQ id, score, answer with the known slots filled)``, best first.
        context: the conversation after this message (the input context is not modified).
        in_scope: whether the decision treated the message as in scope (``False`` for out of
            scope and for a handoff after out-of-scope turns; ``True`` for answers, slot
            questions and follow-ups).
    """

    outcome: Outcome
    text: str
    intent: str | None
    confidence: float
    answer_id: str | None
    missing_slots: tuple[str, ...]
    reason: str
    top_answers: tuple[tuple[str, float, str], ...]
    context: ConversationContext
    in_scope: bool = True

    @property
    def handoff(self) -> bool:
        return self.outcome == Outcome.HANDOFF


def followup_query(context: ConversationContext, analysis: MessageAnalysis,
                   config: PolicyConfig) -> str | None:
    """The query to rank the FAQ with (for ``context.last_intent``) when :func:`decide` may
    treat the message as a follow-up, else ``None``. The caller ranks it and passes the result
    as ``MessageAnalysis.followup_entries``."""
    same = analysis.in_scope and analysis.intent == context.last_intent
    if context.last_intent and not same and is_followup(
            analysis.text, accepted=analysis.in_scope, has_last_intent=True,
            config=config.dialogue):
        return f"{context.last_text or ''} {analysis.text}".strip()
    return None


def decide(context: ConversationContext, analysis: MessageAnalysis,
           config: PolicyConfig) -> Decision:
    """The bot's decision for one message (see the module docstring for the rules).

    Args:
        context: the conversation so far (not modified).
        analysis: the models' view of the message.
        config: the rules.

    Returns:
        The :class:`Decision`, with the new context.

    Raises:
        ValueError: the message is a follow-up but ``analysis.followup_entries`` is missing.
    """
    return _Turn(ConversationContext.from_dict(context.to_dict()), analysis, config).decide()


class _Turn:
    """One call of :func:`decide` (keeps the rules readable; ``ctx`` is a private copy)."""

    def __init__(self, ctx: ConversationContext, a: MessageAnalysis, config: PolicyConfig):
        self.ctx, self.a, self.config, self.dc = ctx, a, config, config.dialogue

    def top(self, entries: Entries) -> tuple[tuple[str, float, str], ...]:
        """The listed answers: known slots filled, missing ones shown as ``[slot name]``."""
        return tuple((entry_id, round(float(score), 4),
                      mark_slots(fill_template(self.config.answers[entry_id], self.ctx.slots)[0]))
                     for entry_id, score in entries[: self.config.top_k])

    def result(self, outcome: Outcome, text: str, *, intent: str | None = None,
               use_predicted: bool = True, confidence: float | None = None,
               answer_id: str | None = None, missing: list[str] | None = None,
               reason: str = "", top: tuple[tuple[str, float, str], ...] | None = None,
               in_scope: bool | None = None) -> Decision:
        if in_scope is None:
            in_scope = outcome in (Outcome.ANSWERED, Outcome.ASKED_SLOT) or self.a.in_scope
        return Decision(
            outcome=outcome, text=text,
            intent=self.a.intent if intent is None and use_predicted else intent,
            confidence=self.a.confidence if confidence is None else confidence,
            answer_id=answer_id, missing_slots=tuple(missing or ()), reason=reason,
            top_answers=self.initial_top if top is None else top, context=self.ctx,
            in_scope=in_scope)

    def handoff(self, reason: str, *, in_scope: bool | None = None) -> Decision:
        ctx = self.ctx
        ctx.low_confidence_streak = 0
        ctx.clear_pending()
        ctx.last_intent = ctx.last_text = None  # the agent takes over this topic
        ctx.handed_off = True
        return self.result(Outcome.HANDOFF, self.dc.handoff_message, reason=reason,
                           in_scope=in_scope)

    def handoff_intent(self) -> Decision | None:
        a, dc = self.a, self.dc
        if a.in_scope and a.intent in dc.handoff_intents:
            return self.handoff(f"handoff intent {a.intent!r}")
        if a.in_scope and a.intent in dc.escalate_intents:
            return self.handoff(f"escalated intent {a.intent!r}")
        return None

    def pending(self) -> Decision | None:
        """Rule 2: the answer waiting for a slot value (``None``: go on with the other rules)."""
        a, ctx, dc = self.a, self.ctx, self.dc
        awaited = list(ctx.pending_missing)
        by_pattern = extract_slots(a.text, dc.slots, awaited=awaited, free_text=False)
        if any(s in by_pattern for s in awaited):  # 2a
            return self.fill(by_pattern, "slot value given")
        handed = self.handoff_intent()  # 2b
        if handed is not None:
            return handed
        followup = is_followup(a.text, accepted=a.in_scope, has_last_intent=True, config=dc)
        if a.in_scope and not followup and a.intent != ctx.pending_intent:  # 2c
            ctx.clear_pending()
            return None
        found = extract_slots(a.text, dc.slots, awaited=awaited)
        if any(s in found for s in awaited):  # 2d
            return self.fill(found, "slot value given (free text)")
        if ctx.slot_retries < dc.slot_retry_limit:  # 2e
            ctx.slot_retries += 1
            prompt = dc.slots[awaited[0]].prompt
            return self.result(Outcome.ASKED_SLOT, f"{dc.slot_retry_prefix} {prompt}".strip(),
                               intent=ctx.pending_intent, use_predicted=False,
                               confidence=ctx.pending_confidence, answer_id=ctx.pending_answer,
                               missing=awaited, reason=f"still waiting for {awaited[0]!r}")
        asked = ctx.slot_retries + 1
        if a.in_scope:
            return self.handoff(f"slot {awaited[0]!r} not given after {asked} requests")
        ctx.clear_pending()  # off-topic: stop waiting, treat it as any out-of-scope message
        self.dropped = f"stopped waiting for {awaited[0]!r} after {asked} requests"
        return None

    def fill(self, found: dict[str, str], reason: str) -> Decision:
        ctx = self.ctx
        ctx.slots.update(found)
        ctx.low_confidence_streak = 0
        return self.answer(ctx.pending_answer or "", ctx.pending_intent, ctx.pending_confidence,
                           reason)

    def decide(self) -> Decision:
        a, ctx, dc = self.a, self.ctx, self.dc
        self.initial_top = self.top(a.entries)  # top answers with the slots known before
        self.dropped = ""

        # 1. explicit requests for a person, whatever else the message says
        keyword = handoff_keyword(a.text, dc)
        if keyword:
            return self.handoff(f"asked for a person ({keyword!r})")

        # 2. an answer waiting for a slot value
        if ctx.pending_answer:
            decided = self.pending()
            if decided is not None:
                return decided

        # 3. handoff and escalated intents
        handed = self.handoff_intent()
        if handed is not None:
            return handed

        query = followup_query(ctx, a, self.config)  # before this message changes the context
        found_now = extract_slots(a.text, dc.slots)
        ctx.slots.update(found_now)

        # 4. a follow-up of the previous topic reuses its intent
        intent, in_scope, entries = a.intent, a.in_scope, a.entries
        reason = "in scope" if a.in_scope else "out of scope"
        if query is not None:
            if a.followup_entries is None:
                raise ValueError("this message is a follow-up: rank the FAQ for followup_query() "
                                 "and the last intent, and pass it as followup_entries")
            intent, in_scope, entries = ctx.last_intent, True, a.followup_entries
            reason = f"follow-up: reused the last intent {intent!r}"

        # 5. out of scope: ask to rephrase, hand off when it keeps happening
        if not in_scope:
            ctx.low_confidence_streak += 1
            if ctx.low_confidence_streak >= dc.low_confidence_limit:
                return self.handoff(f"out of scope {ctx.low_confidence_streak} turns in a row",
                                    in_scope=False)
            if self.dropped:
                reason = f"{reason}; {self.dropped}"
            return self.result(Outcome.OOS, dc.fallback_message, reason=reason, in_scope=False)

        # 6. answer (a fixed response, or the best FAQ entry)
        ctx.low_confidence_streak = 0
        if ctx.last_intent is not None and intent != ctx.last_intent:
            # a new topic: forget values that belong to the old one ("topic" slots)
            for name, slot in dc.slots.items():
                if slot.scope == SlotScope.TOPIC and name not in found_now:
                    ctx.slots.pop(name, None)
        if intent in dc.responses:
            answer_id = f"{RESPONSE_PREFIX}{intent}"
        elif entries:
            answer_id = entries[0][0]
        else:  # a knowledge base is never empty; a ranking without entries is out of scope
            return self.result(Outcome.OOS, dc.fallback_message, reason="no FAQ entry",
                               in_scope=False)
        return self.answer(answer_id, intent, a.confidence_of(intent), reason, entries=entries)

    def answer(self, answer_id: str, intent: str | None, confidence: float, reason: str, *,
               entries: Entries | None = None) -> Decision:
        ctx, dc = self.ctx, self.dc
        filled, missing = fill_template(self.config.template(answer_id), ctx.slots)
        top = self.top(entries) if entries is not None else None
        ctx.slot_retries = 0
        ctx.last_intent = intent
        if not (ctx.pending_answer and ctx.pending_answer == answer_id):
            ctx.last_text = self.a.text
        if missing:
            ctx.pending_answer, ctx.pending_intent = answer_id, intent
            ctx.pending_confidence, ctx.pending_missing = confidence, missing
            return self.result(Outcome.ASKED_SLOT, dc.slots[missing[0]].prompt, intent=intent,
                               use_predicted=False, confidence=confidence, answer_id=answer_id,
                               missing=missing, reason=f"{reason}; asking for {missing[0]!r}",
                               top=top)
        ctx.clear_pending()
        return self.result(Outcome.ANSWERED, filled, intent=intent, use_predicted=False,
                           confidence=confidence, answer_id=answer_id, reason=reason, top=top)

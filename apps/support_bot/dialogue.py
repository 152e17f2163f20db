"""Conversation state and rules: slot extraction and template filling, follow-up detection,
explicit handoff requests.

Pure functions of text and configuration (no models), so each rule is easy to test.

Example:
    >>> from support_bot.config import DialogueConfig
    >>> cfg = DialogueConfig()
    >>> extract_slots("my order 1234567 for £25 hasn't come", cfg.slots)
    {'amount': '£25', 'order_number': '1234567'}
    >>> fill_template("Order {order_number} is on its way", {"order_number": "1234567"})
    ('Order 1234567 is on its way', [])
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import DialogueConfig, SlotConfig
from .knowledge import SLOT_PATTERN

_WORD = re.compile(r"\w+", re.UNICODE)
_QUESTION_WORDS = {"how", "what", "when", "where", "why", "which", "who", "can", "could", "will",
                   "would", "does", "do", "is", "are", "should", "did", "has", "have"}
FREE_TEXT_MAX = 80


@dataclass
class ConversationContext:
    """What the bot remembers about one conversation (saved with every turn).

    Attributes:
        last_intent: intent of the last answered (or slot-asking) turn.
        last_text: that turn's message (joined with a follow-up for retrieval).
        slots: slot values collected so far.
        pending_answer: FAQ entry (or ``response:<intent>``) waiting for slot values.
        pending_intent: its intent.
        pending_confidence: the classifier's confidence when it was chosen.
        pending_missing: the slots still missing.
        slot_retries: times the bot has asked again for the pending slot.
        low_confidence_streak: consecutive turns that were out of scope.
        handed_off: the conversation is queued for an agent.
        turns: turns so far.
    """

    last_intent: str | None = None
    last_text: str | None = None
    slots: dict[str, str] = field(default_factory=dict)
    pending_answer: str | None = None
    pending_intent: str | None = None
    pending_confidence: float = 0.0
    pending_missing: list[str] = field(default_factory=list)
    slot_retries: int = 0
    low_confidence_streak: int = 0
    handed_off: bool = False
    turns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConversationContext:
        """Rebuild from :meth:`to_dict`; unknown keys (from other versions) are ignored."""
        if not data:
            return cls()
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def clear_pending(self) -> None:
        self.pending_answer = None
        self.pending_intent = None
        self.pending_confidence = 0.0
        self.pending_missing = []
        self.slot_retries = 0


def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)  # case-sensitive; use (?i:...) in a pattern to ignore case


def extract_slots(text: str, slots: dict[str, SlotConfig], *, awaited: list[str] | None = None,
                  free_text: bool = True) -> dict[str, str]:
    """Slot values found in ``text``.

    Awaited slots are matched first, then the others in configuration order; a piece of text
    fills at most one slot. A free-text slot that is awaited and not matched by its pattern takes
    the whole message (at most 80 characters, when it has no other slot value in it).

    Args:
        text: the message.
        slots: slot name -> :class:`SlotConfig`.
        awaited: slots the bot has just asked for.
        free_text: let an awaited free-text slot take the whole message (``False``: patterns
            only).

    Returns:
        ``{slot: value}`` for the slots found.
    """
    awaited = [s for s in (awaited or []) if s in slots]
    order = awaited + [s for s in slots if s not in awaited]
    masked = text
    found: dict[str, str] = {}
    for name in order:
        cfg = slots[name]
        if cfg.pattern is None:
            continue
        match = _compiled(cfg.pattern).search(masked)
        if match is None:
            continue
        value = (match.group(1) if match.re.groups else match.group(0)) or ""
        if value.strip():
            found[name] = value.strip()
            start, end = match.span()
            masked = masked[:start] + " " * (end - start) + masked[end:]
    for name in awaited:
        if free_text and name not in found and slots[name].free_text and not found:
            value = " ".join(text.split())[:FREE_TEXT_MAX].strip(" .!?")
            if value:
                found[name] = value
    return found


def fill_template(template: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """Fill ``{slot}`` placeholders; return the text and the slots still missing (in order).

    Missing slots stay as ``{slot}`` in the text.

    Example:
        >>> fill_template("{a} and {b}", {"a": "x"})
        ('x and {b}', ['b'])
    """
    missing: list[str] = []

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return SLOT_PATTERN.sub(sub, template), missing


def mark_slots(text: str) -> str:
    """Show the ``{slot}`` placeholders left in a template as ``[slot name]`` (for people).

    Example:
        >>> mark_slots("Track order {order_number} in the app")
        'Track order [order number] in the app'
    """
    return SLOT_PATTERN.sub(lambda m: f"[{m.group(1).replace('_', ' ')}]", text)


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``."""
    return [w.lower() for w in _WORD.findall(text)]


def _has_phrase(tokens: list[str], phrase: str, *, at_start: bool = False) -> bool:
    target = words(phrase)
    if not target:
        return False
    if at_start:
        return tokens[: len(target)] == target
    n = len(target)
    return any(tokens[i:i + n] == target for i in range(len(tokens) - n + 1))


def handoff_keyword(text: str, config: DialogueConfig) -> str | None:
    """The handoff keyword (phrase) ``text`` contains, or ``None``."""
    tokens = words(text)
    for phrase in config.handoff_keywords:
        if _has_phrase(tokens, phrase):
            return phrase
    return None


def is_followup(text: str, *, accepted: bool, has_last_intent: bool, config: DialogueConfig) -> bool:
    """Whether ``text`` continues the previous topic and should reuse the last intent.

    A message out of scope on its own is a follow-up when it opens like one ("and ...", "what
    about ...") or refers back ("that", "it"). An in-scope message is one only when it is short
    (``followup_max_words``), is a question and does either: "and how long will that take?" —
    so "thanks, that's it" or "and my PIN is blocked" start something new.

    Example:
        >>> cfg = DialogueConfig()
        >>> is_followup("and how long will that take?", accepted=True, has_last_intent=True, config=cfg)
        True
        >>> is_followup("and my pin is blocked", accepted=True, has_last_intent=True, config=cfg)
        False
    """
    if not has_last_intent:
        return False
    tokens = words(text)
    if not tokens:
        return False
    starts = any(_has_phrase(tokens, p, at_start=True) for p in config.followup_starts)
    refers = any(_has_phrase(tokens, p) for p in config.followup_references)
    if not accepted:
        return starts or refers
    body = tokens[1:] if starts and tokens[0] in {w for p in config.followup_starts for w in words(p)} else tokens
    question = text.rstrip().endswith("?") or (bool(body) and body[0] in _QUESTION_WORDS)
    return len(tokens) <= config.followup_max_words and question and (starts or refers)

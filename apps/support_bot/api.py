"""The support bot's REST routes (``support-bot serve BOT_DIR``), on the core's server.

``POST /v1/reply`` answers one message of a conversation (the models run in the core's
micro-batcher, so concurrent conversations share one forward pass; the dialogue step and the
log write run in a worker thread); ``POST /v1/feedback`` records whether a reply helped and/or
the intent it should have had. The server adds ``/health``, ``/ready``, ``/v1/model``,
``/metrics`` and ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from domaintune.serving import ApiError, MicroBatcher, Routes, ServeConfig, check_text
from domaintune.serving.calls import call

from .service import SupportBot

MAX_CONVERSATION_ID = 200


class ReplyRequest(BaseModel):
    """One customer message."""

    model_config = ConfigDict(extra="forbid")
    conversation_id: str | None = Field(
        None, max_length=MAX_CONVERSATION_ID,
        description="any id of the conversation (a session or ticket id); omit it to start one")
    text: str = Field(..., description="the customer's message")


class Answer(BaseModel):
    id: str
    score: float
    text: str


class ReplyResponse(BaseModel):
    conversation_id: str
    turn_id: int | None = Field(None, description="pass it to /v1/feedback")
    text: str
    outcome: str = Field(..., description="answered, asked_slot, oos, handoff or empty")
    intent: str | None
    confidence: float
    answer_id: str | None
    handoff: bool
    missing_slots: list[str]
    in_scope: bool
    reason: str
    top_answers: list[Answer]


class FeedbackRequest(BaseModel):
    """Feedback on one reply (``turn_id`` from /v1/reply)."""

    model_config = ConfigDict(extra="forbid")
    turn_id: int = Field(..., ge=1, le=2**63 - 1)
    helpful: bool | None = None
    corrected_intent: str | None = Field(None, max_length=200)
    allow_new_intent: bool = False


class FeedbackResponse(BaseModel):
    turn_id: int
    recorded: bool


def reply_json(reply: Any) -> dict[str, Any]:
    """A :class:`~support_bot.service.Reply` as the API's JSON object."""
    return {"conversation_id": reply.conversation_id, "turn_id": reply.turn_id,
            "text": reply.text, "outcome": getattr(reply.outcome, "value", reply.outcome),
            "intent": reply.intent, "confidence": float(reply.confidence),
            "answer_id": reply.answer_id, "handoff": bool(reply.handoff),
            "missing_slots": list(reply.missing_slots), "in_scope": bool(reply.in_scope),
            "reason": reply.reason,
            "top_answers": [{"id": i, "score": float(s), "text": t} for i, s, t in reply.top_answers]}


def routes(bot: SupportBot, config: ServeConfig | None = None) -> Routes:
    """The bot's routes (the AppSpec ``routes`` hook)."""
    config = config or ServeConfig()
    batcher = MicroBatcher(lambda texts: bot.analyze(list(texts)), name="support_bot",
                           max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms)
    router = APIRouter(tags=["support bot"])

    @router.post("/v1/reply", response_model=ReplyResponse,
                 summary="answer one message of a conversation")
    async def reply(request: ReplyRequest) -> dict[str, Any]:
        text = request.text  # an empty message is answered (asking for one), not refused
        if text.strip():
            text = check_text(text, "text", config)
        cid = request.conversation_id
        if cid is not None and not cid.strip():
            raise ApiError(422, "invalid_conversation_id",
                           "conversation_id: expected 1 to 200 characters, found a blank id; "
                           "omit it to start a new conversation")
        model_text = bot.model_text(text)
        analysis = await batcher.submit(model_text) if model_text else None
        answer = await call(bot.reply, cid, text, analysis=analysis)
        return reply_json(answer)

    @router.post("/v1/feedback", response_model=FeedbackResponse,
                 summary="record whether a reply helped, or its right intent")
    async def feedback(request: FeedbackRequest) -> dict[str, Any]:
        if request.helpful is None and request.corrected_intent is None:
            raise ApiError(422, "missing_feedback", "expected helpful (true/false) and/or "
                           "corrected_intent, found neither")
        await call(bot.feedback, request.turn_id, helpful=request.helpful,
                   corrected_intent=request.corrected_intent,
                   allow_new_intent=request.allow_new_intent, code="invalid_feedback")
        return {"turn_id": request.turn_id, "recorded": True}

    def info() -> dict[str, Any]:
        return {"task": "support-bot", "version": bot.version, "intents": bot.intents,
                "oos_classes": bot.oos_classes, "faq_entries": len(bot.kb)}

    return Routes(name="support_bot", router=router, info=info, batchers=[batcher],
                  close=bot.close)

"""The support bot's REST routes (``support-bot serve BOT_DIR``), on the core's server.

``POST /v1/reply`` answers one message of a conversation (the models run in the core's
micro-batcher, so concurrent conversations share one forward pass; the dialogue step and the
log write run in a worker thread); ``POST /v1/feedback`` records whether a reply helped and/or
the intent it should have had. The server adds ``/health``, ``/ready``, ``/v1/model``,
``/metrics`` and ``/openapi.json``.
"""


from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from domaintune.serving import ApiError, MicroBatcher, Routes, ServeConfig, error_response
from domaintune.serving.calls import call
from domaintune.serving.schemas import TEXT_PATTERN

from .service import SupportBot

MAX_CONVERSATION_ID = 200


def reply_request(config: ServeConfig) -> type[BaseModel]:
    """The body of ``POST /v1/reply``, with the server's text limit in its schema."""

    class ReplyRequest(BaseModel):
        """One customer message."""

        model_config = ConfigDict(extra="forbid")
        conversation_id: str | None = Field(
            None, min_length=1, max_length=MAX_CONVERSATION_ID, pattern=TEXT_PATTERN,
            description="any id of the conversation (a session or ticket id); omit it to start "
                        "one")
        text: str = Field(..., max_length=config.max_chars,
                          description="the customer's message (an empty one is answered with a "
                                      "request for a message)")

    return ReplyRequest


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


def feedback_request(intents: list[str]) -> type[BaseModel]:
    """The body of ``POST /v1/feedback``: the bot's intents are the schema's enum."""
    Intent = Literal[tuple(intents)] if intents else str  # type: ignore[valid-type]

    class FeedbackRequest(BaseModel):
        """Feedback on one reply (``turn_id`` from /v1/reply): ``helpful`` and/or the intent
        it should have had (``corrected_intent``, one the bot knows; or ``new_intent``, one it
        does not know yet: retraining adds it)."""

        model_config = ConfigDict(extra="forbid", json_schema_extra={
            "anyOf": [{"required": ["helpful"]}, {"required": ["corrected_intent"]},
                      {"required": ["new_intent"]}],
            "not": {"required": ["corrected_intent", "new_intent"]}})
        turn_id: int = Field(..., ge=1, le=2**63 - 1)
        helpful: bool = Field(None, description="whether the reply helped")
        corrected_intent: Intent = Field(None, description="the right intent, one the bot knows")
        new_intent: str = Field(None, min_length=1, max_length=200, pattern=TEXT_PATTERN,
                                description="the right intent, one the bot does not know yet")

    return FeedbackRequest


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

    ReplyRequest = reply_request(config)

    @router.post("/v1/reply", response_model=ReplyResponse,
                 summary="answer one message of a conversation")
    async def reply(request: ReplyRequest) -> dict[str, Any]:
        text = request.text  # an empty message is answered (asking for one), not refused
        cid = request.conversation_id
        model_text = bot.model_text(text)
        analysis = await batcher.submit(model_text) if model_text else None
        answer = await call(bot.reply, cid, text, analysis=analysis)
        return reply_json(answer)

    FeedbackRequest = feedback_request(list(bot.intents))

    @router.post("/v1/feedback", response_model=FeedbackResponse,
                 responses={404: error_response("No such turn (`unknown_turn`)")},
                 summary="record whether a reply helped, or its right intent")
    async def feedback(request: FeedbackRequest) -> dict[str, Any]:
        given = request.model_fields_set
        if not given & {"helpful", "corrected_intent", "new_intent"}:
            raise ApiError(422, "missing_feedback", "expected helpful (true/false), "
                           "corrected_intent or new_intent, found none of them")
        if {"corrected_intent", "new_intent"} <= given:
            raise ApiError(422, "invalid_feedback", "expected corrected_intent (an intent the "
                           "bot knows) or new_intent (a new one), found both")
        intent = request.corrected_intent if "corrected_intent" in given else request.new_intent
        # the only input error left is an unknown turn (the schema checked the rest)
        await call(bot.feedback, request.turn_id, helpful=request.helpful,
                   corrected_intent=intent, allow_new_intent="new_intent" in given,
                   status=404, code="unknown_turn")
        return {"turn_id": request.turn_id, "recorded": True}

    def info() -> dict[str, Any]:
        return {"task": "support-bot", "version": bot.version, "intents": bot.intents,
                "oos_classes": bot.oos_classes, "faq_entries": len(bot.kb)}

    return Routes(name="support_bot", router=router, info=info, batchers=[batcher],
                  close=bot.close)

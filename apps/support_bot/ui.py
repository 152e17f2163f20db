"""Gradio demo of a support bot (thin: every decision is made by ``SupportBot``).

Shows the conversation with a handoff banner beside it, what the bot made of the last message
(the intent and the calibrated confidence it acted on, or "out of scope" with the detector's
score), the top FAQ answers with their scores, feedback controls (helpful / not helpful,
correct intent) that land in the bot's log, and the handoff queue. Every event has an
``api_name``, so the demo is also an API. The functions that shape what is shown
(:func:`describe`, :func:`top_answers_rows`, :func:`chat_turn`, :func:`handoff_rows`) are
plain Python, tested without a browser.

Example:
    >>> demo = build_demo(SupportBot.load("models/demo-bot"))  # doctest: +SKIP
    >>> demo.launch()  # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .dialogue import mark_slots
from .policy import Outcome

if TYPE_CHECKING:  # gradio and the models are imported where they are used
    from .service import Reply, SupportBot

EXAMPLES = ["My card hasn't arrived yet", "How do I dispute a payment?",
            "and how long will that take?", "Can I talk to a real person?",
            "What's the weather like tomorrow?"]
ANSWER_HEADERS = ["FAQ id", "score", "answer"]
QUEUE_HEADERS = ["conversation", "turn", "reason", "since"]
USED = "✓ "  # marks the answer the bot gave in the top answers table


def describe(reply: Reply) -> str:
    """Markdown lines with what the bot made of a message: the intent and the calibrated
    confidence the decision used, or "out of scope" (with the detector's score) when the bot
    treated it as such, the outcome and the reason."""
    if reply.outcome == Outcome.EMPTY or reply.intent is None:
        return f"_{reply.reason}_"
    if not reply.in_scope:
        line = "**Intent:** out of scope"
        if reply.in_scope_score is not None and reply.in_scope_threshold is not None:
            line += (f" · in-scope score {reply.in_scope_score:.2f} (needs "
                     f"{reply.in_scope_threshold:.2f})")
    else:
        line = f"**Intent:** `{reply.intent}` · **confidence** {reply.confidence:.0%}"
    line += f" · **outcome:** `{reply.outcome.value}` · best FAQ similarity {reply.similarity:.2f}"
    if reply.missing_slots:
        line += f" · waiting for `{'`, `'.join(reply.missing_slots)}`"
    if reply.reason:
        line += f"  \n_{reply.reason}_ (turn {reply.turn_id})"
    return line


def top_answers_rows(reply: Reply) -> list[list[Any]]:
    """Rows (id, score, answer) of the top retrieved answers, by the score shown (two
    decimals), best first; the answer the bot gave is marked ✓, slots it lacks show as
    ``[slot name]``."""
    rows = [(round(float(score), 2), entry_id, mark_slots(text))
            for entry_id, score, text in reply.top_answers]
    rows.sort(key=lambda r: -r[0])  # stable: equal scores keep the bot's order
    return [[(USED if entry_id == reply.answer_id else "") + entry_id, f"{score:.2f}", text]
            for score, entry_id, text in rows]


def banner_text(reply: Reply) -> str:
    """The handoff banner's Markdown."""
    return (f"### 🧑‍💼 Handed off to an agent\n{reply.reason}. The conversation "
            f"`{reply.conversation_id}` is in the agent queue.")


def handoff_rows(bot: SupportBot, limit: int = 50) -> list[list[Any]]:
    """The open handoff queue, oldest first (at most ``limit`` rows)."""
    if bot.directory is None:
        return []
    return [[q["conversation_id"], q.get("turn_id"), q.get("reason") or "",
             str(q.get("created_at") or "")] for q in bot.log.handoff_queue()[:limit]]


@dataclass
class TurnView:
    """What the tab shows after a message (``None`` fields: leave that part as it is)."""

    history: list[dict[str, Any]]
    conversation_id: str
    last_turn: int | None
    details: str | None
    answers: list[list[Any]] | None
    banner: str | None
    status: str


def chat_turn(bot: SupportBot, text: str | None, history: list[dict[str, Any]] | None,
              conversation_id: str | None, last_turn: int | None) -> TurnView:
    """One message of the demo: the bot's reply added to the history. An empty message changes
    nothing (no bubble, the last turn keeps its feedback buttons) and says why; the handoff
    banner is set on a handoff and left as it is otherwise (it stays until the conversation
    changes)."""
    cid = conversation_id or f"demo-{uuid.uuid4().hex[:12]}"
    history = list(history or [])
    reply = bot.reply(cid, text or "")
    if reply.turn_id is None:  # empty: nothing logged, nothing added
        return TurnView(history, cid, last_turn, None, None, None, f"_{reply.text}_")
    history += [{"role": "user", "content": text},
                {"role": "assistant", "content": reply.text}]
    return TurnView(history, cid, reply.turn_id, describe(reply), top_answers_rows(reply),
                    banner_text(reply) if reply.handoff else None, "")


def support_bot_tab(bot: SupportBot, *, examples: list[str] | None = None) -> None:
    """Add the support-bot chat to the current ``gr.Blocks`` context."""
    import gradio as gr

    conversation = gr.State(None)
    last_turn = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            banner = gr.Markdown(visible=False, elem_id="handoff-banner")
            chatbot = gr.Chatbot(label="Conversation", height=380)
            with gr.Row():
                message = gr.Textbox(label="Message", placeholder="Ask the bank assistant...",
                                     scale=4, lines=1)
                send = gr.Button("Send", variant="primary", scale=1)
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[message])
            new_chat = gr.Button("New conversation", size="sm")
        with gr.Column(scale=2):
            details = gr.Markdown("Send a message to see the intent, confidence and answers.")
            answers = gr.Dataframe(headers=ANSWER_HEADERS, label="Top answers",
                                   interactive=False, wrap=True,
                                   column_widths=["110px", "64px", "auto"])
            gr.Markdown("**Was the last reply helpful?**")
            with gr.Row():
                helpful = gr.Button("👍 Helpful", elem_id="feedback-helpful")
                unhelpful = gr.Button("👎 Not helpful", elem_id="feedback-not-helpful")
            with gr.Row():
                corrected = gr.Dropdown(choices=bot.intents, value=None, label="Correct intent",
                                        scale=3)
                correct = gr.Button("Save correction", scale=1)
            status = gr.Markdown(elem_id="feedback-status")
            with gr.Accordion("Handoff queue", open=False):
                queue = gr.Dataframe(value=handoff_rows(bot), headers=QUEUE_HEADERS,
                                     interactive=False, wrap=True, elem_id="handoff-queue")
                refresh = gr.Button("Refresh", size="sm")

    def respond(text: str, history: list[dict[str, Any]] | None, cid: str | None,
                turn: int | None):
        view = chat_turn(bot, text, history, cid, turn)
        keep = gr.update()
        return ("", view.history, view.conversation_id, view.last_turn,
                keep if view.details is None else view.details,
                keep if view.answers is None else view.answers,
                keep if view.banner is None else gr.update(visible=True, value=view.banner),
                view.status, handoff_rows(bot))

    outputs = [message, chatbot, conversation, last_turn, details, answers, banner, status, queue]
    inputs = [message, chatbot, conversation, last_turn]
    send.click(respond, inputs, outputs, api_name="reply")
    message.submit(respond, inputs, outputs, api_name=False)

    def give_feedback(turn_id: int | None, value: str) -> str:
        if turn_id is None:
            return "Send a message first."
        bot.feedback(int(turn_id), helpful=value == "helpful")
        return f"Thanks! Saved **{value.replace('_', ' ')}** for turn {turn_id}."

    helpful.click(lambda t: give_feedback(t, "helpful"), [last_turn], [status],
                  api_name="feedback_helpful")
    unhelpful.click(lambda t: give_feedback(t, "not_helpful"), [last_turn], [status],
                    api_name="feedback_not_helpful")

    def save_correction(turn_id: int | None, intent: str | None) -> str:
        if turn_id is None:
            return "Send a message first."
        if not intent:
            return "Choose the correct intent first."
        bot.feedback(int(turn_id), corrected_intent=intent)
        return f"Thanks! Saved the intent **{intent}** for turn {turn_id}."

    correct.click(save_correction, [last_turn, corrected], [status], api_name="correct_intent")
    refresh.click(lambda: handoff_rows(bot), None, [queue], api_name="handoff_queue")

    def reset():
        return (None, [], None, None, "New conversation.", [], gr.update(visible=False, value=""),
                "", gr.update(value=None))

    new_chat.click(reset, None, [message, chatbot, conversation, last_turn, details, answers,
                                 banner, status, corrected], api_name="new_conversation")


def demo_tab(bot: SupportBot) -> None:
    """The app's tab in the ``make demo`` launcher (``AppSpec.tab``): a short description and
    the chat, with example messages of the sample bank."""
    import gradio as gr

    where = bot.directory if bot.directory is not None else "memory"
    gr.Markdown("Customer-service bot for the fictional Northwind Bank: intent classifier (`frozen` "
                "MiniLM), FAQ retrieval (MiniLM + FAISS), out-of-scope detection tuned on "
                "`data/support/oos.csv`, handoff, slot filling and a SQLite log "
                f"(`{where}/{bot.config.log.file}`). Feedback lands in the log; `support-bot "
                f"retrain {where} --output {where}-v2` learns from it.")
    support_bot_tab(bot, examples=EXAMPLES)


def build_demo(bot: SupportBot, *, title: str = "Support bot"):
    """A ``gr.Blocks`` demo around ``bot``.

    Example:
        >>> build_demo(SupportBot.load("models/demo-bot")).launch()  # doctest: +SKIP
    """
    import gradio as gr

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nBot version {bot.version}: {len(bot.intents)} intents, "
                    f"{len(bot.kb)} FAQ entries. Replies, feedback and handoffs are logged in "
                    f"`{bot.directory / bot.config.log.file if bot.directory else 'memory'}`.")
        support_bot_tab(bot, examples=EXAMPLES)
    return demo


if __name__ == "__main__":
    import sys

    from .service import SupportBot

    demo = build_demo(SupportBot.load(sys.argv[1] if len(sys.argv) > 1 else "models/demo-bot"))
    demo.launch()

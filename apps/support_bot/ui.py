"""Gradio demo of a support bot (thin: every decision is made by ``SupportBot``).

Shows the conversation, the intent and confidence of the last reply, the top FAQ answers with
their scores, a handoff banner, and feedback controls (helpful / not helpful, correct intent)
that land in the bot's log. Every event has an ``api_name``, so the demo is also an API.

Example:
    >>> demo = build_demo(SupportBot.load("models/demo-bot"))  # doctest: +SKIP
    >>> demo.launch()  # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # gradio and the models are imported where they are used
    from .service import Reply, SupportBot

EXAMPLES = ["My card hasn't arrived yet", "How do I dispute a payment?",
            "and how long will that take?", "Can I talk to a real person?",
            "What's the weather like tomorrow?"]


def describe(reply: Reply) -> str:
    """Markdown line with the intent, confidence and outcome of a reply."""
    if reply.intent is None:
        return f"_{reply.reason}_"
    line = (f"**Intent:** `{reply.intent}` · **confidence** {reply.confidence:.0%} · "
            f"**outcome:** `{reply.outcome.value}` · best FAQ similarity {reply.similarity:.2f}")
    if reply.missing_slots:
        line += f" · waiting for `{'`, `'.join(reply.missing_slots)}`"
    if reply.reason:
        line += f"  \n_{reply.reason}_ (turn {reply.turn_id})"
    return line


def top_answers_rows(reply: Reply) -> list[list[Any]]:
    """Rows (id, score, answer) of the top retrieved answers."""
    return [[entry_id, round(score, 3), text] for entry_id, score, text in reply.top_answers]


def support_bot_tab(bot: SupportBot, *, examples: list[str] | None = None) -> None:
    """Add the support-bot chat to the current ``gr.Blocks`` context."""
    import gradio as gr

    conversation = gr.State(None)
    last_turn = gr.State(None)
    banner = gr.Markdown(visible=False, elem_id="handoff-banner")
    with gr.Row():
        with gr.Column(scale=3):
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
            answers = gr.Dataframe(headers=["FAQ id", "score", "answer"], label="Top answers",
                                   interactive=False, wrap=True,
                                   column_widths=["18%", "12%", "70%"])
            gr.Markdown("**Was the last reply helpful?**")
            with gr.Row():
                helpful = gr.Button("👍 Helpful", elem_id="feedback-helpful")
                unhelpful = gr.Button("👎 Not helpful", elem_id="feedback-not-helpful")
            with gr.Row():
                corrected = gr.Dropdown(choices=bot.intents, value=None, label="Correct intent",
                                        scale=3)
                correct = gr.Button("Save correction", scale=1)
            status = gr.Markdown(elem_id="feedback-status")

    def respond(text: str, history: list[dict[str, Any]] | None, cid: str | None):
        cid = cid or f"demo-{uuid.uuid4().hex[:12]}"
        reply = bot.reply(cid, text or "")
        history = list(history or [])
        if reply.turn_id is not None:
            history += [{"role": "user", "content": text},
                        {"role": "assistant", "content": reply.text}]
        else:
            history += [{"role": "assistant", "content": reply.text}]
        shown = gr.update(visible=reply.handoff, value=(
            f"### 🧑‍💼 Handed off to an agent\n{reply.reason}. The conversation `{cid}` is in "
            "the agent queue." if reply.handoff else ""))
        turn = reply.turn_id if reply.turn_id is not None else None
        return ("", history, cid, turn, describe(reply), top_answers_rows(reply), shown, "")

    outputs = [message, chatbot, conversation, last_turn, details, answers, banner, status]
    send.click(respond, [message, chatbot, conversation], outputs, api_name="reply")
    message.submit(respond, [message, chatbot, conversation], outputs, api_name=False)

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

    def reset():
        return (None, [], None, None, "New conversation.", [], gr.update(visible=False, value=""), "")

    new_chat.click(reset, None, [message, chatbot, conversation, last_turn, details, answers,
                                 banner, status], api_name="new_conversation")


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

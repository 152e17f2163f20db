"""The Gradio tab of the recommender (thin: every action calls the :class:`Recommender`).

Pick a user and see their history and recommendations side by side as cards (title, score,
"because you watched ..."); type a free-text taste for a new user; slide the diversity λ (MMR)
and watch the list change.
"""

from __future__ import annotations

import html
from typing import Any

HISTORY_CARDS = 12
_CSS = ("<style>.rec-grid{display:flex;flex-wrap:wrap;gap:8px}.rec-card{border:1px solid #ccc;"
        "border-radius:8px;padding:8px;width:210px;font-size:13px}.rec-card b{font-size:14px}"
        ".rec-why{color:#555;margin-top:4px}</style>")


def _card(title: str, lines: list[str], css_class: str = "rec-card") -> str:
    body = "".join(f"<div class='rec-why'>{html.escape(line)}</div>" for line in lines if line)
    return f"<div class='{css_class}'><b>{html.escape(title)}</b>{body}</div>"


def history_html(rec, user: str | None) -> str:
    if not user:
        return "<p>Pick a user.</p>"
    rows = rec.history(user)
    if not rows:
        return f"<p>{html.escape(str(user))} has no history yet.</p>"
    recent = rows[-HISTORY_CARDS:][::-1]
    cards = [_card(r["title"], [r["category"] or "", f"rated {r['rating']:g}"]) for r in recent]
    more = f"<p>{len(rows)} items in all; the {len(recent)} most recent:</p>"
    return _CSS + more + "<div class='rec-grid' id='rec-history-cards'>" + "".join(cards) + "</div>"


def recommendations_html(recs: list[Any]) -> str:
    if not recs:
        return "<p>No item left to recommend.</p>"
    cards = [_card(f"{r.rank}. {r.title}", [r.category or "", f"score {r.score:.3f}",
                                            r.explanation]) for r in recs]
    return _CSS + "<div class='rec-grid' id='rec-cards'>" + "".join(cards) + "</div>"


def for_user(rec, user: str | None, diversity: float, k: int = 10) -> tuple[str, str]:
    if not user:
        return history_html(rec, None), "<p>Pick a user, or describe a taste below.</p>"
    return (history_html(rec, user),
            recommendations_html(rec.recommend(user, k=int(k), diversity=float(diversity))))


def for_query(rec, text: str, diversity: float, k: int = 10) -> str:
    if not (text or "").strip():
        return "<p>Describe what you like, e.g. 'haunted houses and slow-burning dread'.</p>"
    return recommendations_html(rec.recommend_for_query(text, k=int(k),
                                                        diversity=float(diversity)))


def demo_tab(rec) -> None:
    """Add the recommender's components to the open Gradio tab/Blocks."""
    import gradio as gr

    users = rec.users()
    first = users[0] if users else None
    gr.Markdown(f"**{len(rec.catalog)} items, {len(users)} users.** Recommendations rank "
                "candidates from the text model, EASE, co-engagement and popularity with a "
                "LightGBM ranker; the diversity slider is MMR's λ.")
    with gr.Row():
        user = gr.Dropdown(choices=users, value=first, label="User", elem_id="rec-user")
        diversity = gr.Slider(0.0, 1.0, value=0.3, step=0.05, label="Diversity (MMR λ)",
                              elem_id="rec-diversity")
        k = gr.Slider(1, 20, value=10, step=1, label="How many", elem_id="rec-k")
    with gr.Row():
        with gr.Column():
            gr.Markdown("### History")
            history = gr.HTML(history_html(rec, first), elem_id="rec-history")
        with gr.Column():
            gr.Markdown("### Recommended")
            results = gr.HTML(for_user(rec, first, 0.3)[1], elem_id="rec-results")
    with gr.Row():
        query = gr.Textbox(label="Or describe a taste (a new user)", elem_id="rec-query",
                           placeholder="space adventures and alien worlds")
        ask = gr.Button("Recommend for this taste", elem_id="rec-query-button")

    def show(u, lam, n):
        return for_user(rec, u, lam, n)

    user.change(show, [user, diversity, k], [history, results])
    diversity.release(show, [user, diversity, k], [history, results])
    k.release(show, [user, diversity, k], [history, results])
    ask.click(lambda q, lam, n: for_query(rec, q, lam, n), [query, diversity, k], [results])
    query.submit(lambda q, lam, n: for_query(rec, q, lam, n), [query, diversity, k], [results])

"""Drive the recommender's Gradio tab in real headless Chromium (Playwright): pick a user and
see their history and recommendation cards, move the diversity slider and see the list change,
type a taste and get matching items."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _titles(page) -> list[str]:
    return [t.split(". ", 1)[1] for t in page.locator("#rec-cards .rec-card b").all_inner_texts()]


def test_demo_tab_in_chromium(rec):
    playwright = pytest.importorskip("playwright.sync_api")
    import gradio as gr

    from text_recommender.ui import demo_tab

    user = "u07"
    history = [h["title"] for h in rec.history(user)]
    expected = [r.title for r in rec.recommend(user, k=10, diversity=0.3)]
    diverse = [r.title for r in rec.recommend(user, k=10, diversity=1.0)]
    assert expected != diverse
    with gr.Blocks(title="Browser test") as demo:
        with gr.Tab("Recommender"):
            demo_tab(rec)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(demo.local_url, wait_until="load")
            page.locator("#rec-cards").wait_for(timeout=30000)
            # pick a user: their history and their recommendations appear as cards
            page.locator("#rec-user input").click()
            page.get_by_role("option", name=user, exact=True).click()
            page.wait_for_function(
                "t => document.querySelector('#rec-history-cards') && "
                "document.querySelector('#rec-history-cards').innerText.includes(t)",
                arg=history[-1], timeout=20000)
            page.wait_for_function(
                "t => document.querySelector('#rec-cards b') && "
                "document.querySelector('#rec-cards b').innerText.endsWith(t)",
                arg=expected[0], timeout=20000)
            assert _titles(page) == expected
            assert "Because you watched" in page.locator("#rec-cards").inner_text() or \
                "Because you liked" in page.locator("#rec-cards").inner_text()
            # move the diversity slider to 1: the list is MMR's at λ = 1
            slider = page.locator("#rec-diversity input[type=number]")
            slider.fill("1")
            slider.press("Enter")
            page.locator("#rec-diversity input[type=range]").dispatch_event("pointerup")
            page.wait_for_function(
                "t => [...document.querySelectorAll('#rec-cards b')].map(b => b.innerText)"
                ".join('|').includes(t)", arg=diverse[-1], timeout=20000)
            assert _titles(page) == diverse
            # a free-text taste
            query = [r.title for r in rec.recommend_for_query("haunted cottage ghosts", k=10,
                                                              diversity=1.0)]
            page.locator("#rec-query textarea").fill("haunted cottage ghosts")
            page.locator("#rec-query-button").click()
            page.wait_for_function(
                "t => document.querySelector('#rec-cards') && "
                "document.querySelector('#rec-cards').innerText.includes('Matches your query') && "
                "document.querySelector('#rec-cards b').innerText.endsWith(t)",
                arg=query[0], timeout=20000)
            assert _titles(page) == query
            browser.close()
    finally:
        demo.close()

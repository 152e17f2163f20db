"""Drive the support-bot Gradio demo in real headless Chromium (Playwright): an answer, the intent,
the top answers and the feedback buttons appear, and a thumbs-up lands in the bot's log."""

from __future__ import annotations

import shutil

import pytest
from test_support_bot import toy_config, toy_files  # noqa: F401 - toy_files is a fixture

from support_bot import SupportBot
from support_bot.ui import build_demo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_support_bot_demo_in_chromium(tiny_model, toy_files, tmp_path):  # noqa: F811
    playwright = pytest.importorskip("playwright.sync_api")
    bot = SupportBot.train(toy_config(tiny_model, toy_files, oos_file=None), tmp_path / "bot")
    demo = build_demo(bot, title="Browser test")
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(demo.local_url, wait_until="load")  # the chat UI never goes network-idle
            page.get_by_role("button", name="Send").wait_for(timeout=30000)
            page.get_by_label("Message").fill("how do i reset my password")
            page.get_by_role("button", name="Send").click()
            page.get_by_text("Tap 'forgot password'").first.wait_for(timeout=20000)
            page.get_by_text("Intent:").wait_for(timeout=10000)
            assert "login" in page.locator("body").inner_text()
            page.get_by_text("faq-4").filter(visible=True).first.wait_for()  # top answers table
            helpful = page.get_by_role("button", name="👍 Helpful")
            assert helpful.is_visible()
            assert page.get_by_role("button", name="👎 Not helpful").is_visible()
            helpful.click()
            page.get_by_text("Saved helpful").wait_for(timeout=10000)
            page.screenshot(path=str(tmp_path / "demo.png"))
            browser.close()
    finally:
        demo.close()
    turns = bot.log.turns()
    assert len(turns) == 1 and turns[0]["feedback"] == "helpful"
    assert turns[0]["intent"] == "login"
    bot.close()
    assert (tmp_path / "demo.png").stat().st_size > 5000

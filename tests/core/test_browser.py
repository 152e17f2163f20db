"""Drive the `make demo` launcher's classifier tab in real headless Chromium (Playwright)."""

from __future__ import annotations

import shutil

import pytest

from domaintune import TextClassifier, TrainingConfig
from domaintune.ui import build_demo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_classifier_demo_in_chromium(tiny_model, three_rows, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.labels)
    clf.fit(three_rows, three_rows, TrainingConfig(method="frozen", head_c=100.0, progress=False))
    demo = build_demo(clf, title="Browser test")
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(demo.local_url, wait_until="networkidle")
            page.get_by_label("Message").fill("my card was stolen")
            page.get_by_role("button", name="Classify").click()
            page.get_by_text("with calibrated probability").wait_for(timeout=20000)
            verdict = page.get_by_text("with calibrated probability").inner_text()
            assert verdict.startswith("card with calibrated probability"), verdict
            page.screenshot(path=str(tmp_path / "demo.png"))
            browser.close()
    finally:
        demo.close()
    assert (tmp_path / "demo.png").stat().st_size > 5000

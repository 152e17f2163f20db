"""Drive the finance monitor's Gradio tab in real headless Chromium (Playwright): the per-ticker
plot is drawn, the planted FBRK alert is in the alert table with its documents, a pasted text is
scored, and an uploaded file is scored row by row."""

from __future__ import annotations

import shutil

import pytest
from fm_helpers import make_monitor

from finance_monitor.batch import score_inputs
from finance_monitor.samples import write_samples

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_dashboard_in_chromium(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    import gradio as gr

    from finance_monitor.ui import demo_tab

    samples = write_samples(tmp_path / "data")
    monitor = make_monitor(f"sqlite:///{tmp_path / 'm.db'}", watchlist=samples["watchlist"])
    score_inputs(monitor, [samples["stream"]], final=True, progress=False)
    assert "FBRK" in {a.series_key for a in monitor.alerts()}
    upload = tmp_path / "few.csv"
    upload.write_text("text\n$CNTS beats earnings expectations\nContoso shares plunge\n")
    with gr.Blocks(title="Browser test") as demo:
        with gr.Tab("Finance monitor"):
            demo_tab(monitor)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(demo.local_url, wait_until="load")
            plot = page.locator("#fm-series-plot")
            plot.locator("img").first.wait_for(timeout=30000)  # the matplotlib figure
            box = plot.locator("img").first.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 200
            table = page.locator("#fm-alerts")
            table.get_by_text("ticker FBRK").filter(visible=True).first.wait_for(timeout=10000)
            text = table.inner_text()
            assert "2026-03-11T1" in text  # the planted episode's afternoon
            assert "Fabrikam" in text or "FBRK" in text.split("ticker FBRK", 1)[1]
            page.get_by_label("Headline or post").fill("$NWND shares plunge after profit warning")
            page.get_by_role("button", name="Score", exact=True).click()
            page.get_by_text("tickers: NWND").wait_for(timeout=20000)
            assert "negative (score" in page.locator("body").inner_text()
            page.locator("#fm-upload input[type=file]").set_input_files(str(upload))
            page.get_by_text("Scored 2 rows").wait_for(timeout=20000)
            body = page.locator("body").inner_text()
            assert "CNTS" in body and "positive" in body
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            browser.close()
    finally:
        demo.close()
        monitor.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 20000

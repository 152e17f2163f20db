"""The Gradio dashboard of the finance monitor (thin: every action calls the service).

- **Score a text**: sentiment, score, tickers and topic of a pasted text (nothing stored);
- **Ticker**: a time-series plot of one ticker (mean score, negative share, volume per window)
  with its alerts marked;
- **Alerts**: the alert table with the contributing documents;
- **Score a file**: upload a small CSV/JSONL/Parquet file (at most ``MAX_UPLOAD_ROWS`` rows) and
  see each row scored (nothing stored).
"""

from __future__ import annotations

from typing import Any

MAX_UPLOAD_ROWS = 1000
ALERT_COLUMNS = ["window start (UTC)", "series", "severity", "negative share", "documents",
                 "z (share)", "top documents"]


def score_text(monitor, text: str) -> tuple[str, dict[str, Any]]:
    text = (text or "").strip()
    if not text:
        return "Type or paste a headline or post.", {}
    row = monitor.score_texts([text])[0]
    tickers = ", ".join(row["tickers"]) or "none found"
    summary = (f"**{row['label']}** (score {row['score']:+.2f}) · tickers: {tickers}"
               + (f" · topic: {row['topic']}" if row.get("topic") else ""))
    return summary, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}


def alert_rows(monitor, limit: int = 100) -> list[list[Any]]:
    rows = []
    for a in monitor.alerts(limit=limit):
        docs = " | ".join(f"{d['text'][:90]} ({d['score']:+.2f})" for d in a.documents[:3])
        rows.append([a.window_start, f"{a.series_kind} {a.series_key}", a.severity,
                     f"{a.metrics.get('negative_share', 0.0):.0%}",
                     int(a.metrics.get("count", 0)), round(a.metrics.get("z_share", 0.0), 2),
                     docs])
    return rows


def series_figure(monitor, ticker: str | None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
    if not ticker:
        axes[0].set_title("no ticker selected")
        return fig
    frame = monitor.series(ticker)
    axes[0].set_title(f"{ticker}: {monitor.window.value} windows (UTC)")
    if frame.empty:
        axes[0].text(0.5, 0.5, "no documents", ha="center", transform=axes[0].transAxes)
        return fig
    x = frame["window_start"].dt.tz_localize(None)
    axes[0].plot(x, frame["mean_score"], color="tab:blue", lw=1)
    axes[0].set_ylabel("mean score")
    axes[0].axhline(0, color="grey", lw=0.5)
    axes[1].plot(x, frame["negative_share"], color="tab:red", lw=1)
    axes[1].set_ylabel("negative share")
    axes[2].bar(x, frame["count"], width=monitor.window.seconds / 86400 * 0.9, color="tab:grey")
    axes[2].set_ylabel("documents")
    alerted = frame[frame["alert"] != ""]
    for _, row in alerted.iterrows():
        for ax in axes:
            ax.axvline(row["window_start"].tz_localize(None), color="tab:orange", lw=2, alpha=0.7)
    if not alerted.empty:
        axes[1].scatter(alerted["window_start"].dt.tz_localize(None), alerted["negative_share"],
                        color="tab:orange", zorder=3, label="alert")
        axes[1].legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def score_file(monitor, file: Any) -> tuple[str, list[list[Any]]]:
    if file is None:
        return "Upload a CSV, JSONL or Parquet file with a text column.", []
    from domaintune.stream import read_chunks

    path = getattr(file, "name", file)
    column = monitor.config.input.text_column
    try:
        chunk = next(iter(read_chunks(path, chunk_size=MAX_UPLOAD_ROWS)), None)
    except Exception as exc:  # show the reader's message in the page
        return f"Cannot read the file: {exc}", []
    if chunk is None or chunk.frame.empty:
        return "The file has no rows.", []
    if column not in chunk.frame.columns:
        return (f"The file has no {column!r} column (found {list(chunk.frame.columns)[:10]}); "
                f"rename the text column to {column!r}."), []
    texts = [str(t) for t in chunk.frame[column].tolist() if str(t).strip()]
    rows = monitor.score_texts(texts)
    table = [[t[:120], r["label"], round(r["score"], 3), ", ".join(r["tickers"]), r["topic"] or ""]
             for t, r in zip(texts, rows, strict=True)]
    return f"Scored {len(table)} rows (first {MAX_UPLOAD_ROWS} at most; nothing stored).", table


def demo_tab(monitor) -> None:
    """Add the monitor's components to the open Gradio Blocks/Tab (AppSpec ``tab`` hook)."""
    import gradio as gr

    tickers = monitor.tickers()
    alerts = alert_rows(monitor)
    first = alerts[0][1].split(" ", 1)[1] if alerts and alerts[0][1].startswith("ticker") else (
        tickers[0] if tickers else None)
    gr.Markdown("Sentiment, tickers and surge alerts over a stream of financial posts "
                f"(database: `{monitor.store.location}`).")
    with gr.Row():
        text = gr.Textbox(label="Headline or post", lines=2, scale=4,
                          value="$FBRK shares plunge after profit warning")
        button = gr.Button("Score", variant="primary", scale=1)
    verdict = gr.Markdown()
    details = gr.JSON(label="scores")
    button.click(lambda t: score_text(monitor, t), text, [verdict, details])
    text.submit(lambda t: score_text(monitor, t), text, [verdict, details])
    with gr.Row():
        choice = gr.Dropdown(choices=tickers, value=first, label="Ticker", scale=1)
    plot = gr.Plot(value=series_figure(monitor, first), label="per-window series",
                   elem_id="fm-series-plot")
    choice.change(lambda t: series_figure(monitor, t), choice, plot)
    gr.Markdown("### Alerts")
    table = gr.Dataframe(value=alerts, headers=ALERT_COLUMNS, interactive=False, wrap=True,
                         elem_id="fm-alerts")
    refresh = gr.Button("Refresh alerts")
    refresh.click(lambda: alert_rows(monitor), None, table)
    gr.Markdown("### Score a small file")
    upload = gr.File(label=f"CSV / JSONL / Parquet with a text column (first {MAX_UPLOAD_ROWS} "
                           "rows)", file_types=[".csv", ".jsonl", ".parquet", ".gz"],
                     elem_id="fm-upload")
    status = gr.Markdown()
    scored = gr.Dataframe(headers=["text", "label", "score", "tickers", "topic"],
                          interactive=False, wrap=True)
    upload.change(lambda f: score_file(monitor, f), upload, [status, scored])

"""The ``finance-monitor`` command line: score, deliver, watch, evaluate, alerts, demo.

Examples:
    finance-monitor score news.jsonl.gz posts.csv --model models/sentiment \\
        --db sqlite:///monitor.db --output scored.parquet --alerts alerts.jsonl \\
        --webhook http://127.0.0.1:9000/hook --config monitor.yaml
    finance-monitor deliver --db sqlite:///monitor.db
    finance-monitor watch incoming/ --model models/sentiment --config monitor.yaml
    tail -f posts.jsonl | finance-monitor watch - --model models/sentiment
    finance-monitor evaluate models/sentiment --data data/phrasebank/test.csv
    finance-monitor alerts --db sqlite:///monitor.db --ticker FBRK
    finance-monitor demo --db sqlite:///monitor.db --model models/sentiment

Every command prints a readable summary on stderr and exactly one JSON object on stdout
(``--json``: only the JSON).
"""

from __future__ import annotations

# Only the standard library at module level: `finance-monitor --help` must not import torch.
import argparse
import json
import sys
from pathlib import Path
from typing import Any

_CONFIG_OPTIONS = {  # --option -> (section, key)
    "text_column": ("input", "text_column"),
    "id_column": ("input", "id_column"),
    "time_column": ("input", "time_column"),
    "assume_tz": ("input", "assume_tz"),
    "chunk_size": ("input", "chunk_size"),
    "webhook": ("alerts", "webhook"),
    "watchlist": ("entities", "watchlist"),
}


def _emit(result: dict[str, Any], lines: list[str], args: argparse.Namespace) -> None:
    print(json.dumps(result, ensure_ascii=False, default=str))
    sys.stdout.flush()
    if not args.json:
        print("\n".join(lines), file=sys.stderr)


def _config(args: argparse.Namespace):
    from domaintune.config import apply_overrides

    from .config import MonitorConfig

    base = MonitorConfig.from_yaml(args.config).to_dict() if getattr(args, "config", None) else {}
    for option, (section, key) in _CONFIG_OPTIONS.items():
        value = getattr(args, option, None)
        if value is not None:
            base[section] = {**base.get(section, {}), key: value}
    if getattr(args, "db", None):
        base["store"] = {**base.get("store", {}), "url": args.db}
    if getattr(args, "model", None):
        base["sentiment"] = {**base.get("sentiment", {}), "model": args.model}
    return MonitorConfig.from_dict(apply_overrides(base, getattr(args, "set", None) or []))


def _monitor(args: argparse.Namespace):
    from .service import Monitor

    return Monitor.from_config(_config(args))


def _serve(args: argparse.Namespace) -> int:
    from domaintune import ConfigError
    from domaintune.serving.config import serve_config_from_args
    from domaintune.serving.server import serve

    from .api import routes
    from .service import Monitor

    config = serve_config_from_args(args)
    if config.workers != 1:
        raise ConfigError(f"finance-monitor serve runs one server process (the detector's state "
                          f"is written by one writer), found --workers {config.workers}; pass "
                          "--workers 1")
    monitor_config = _config(args)
    serve(lambda: routes(Monitor.from_config(monitor_config), config), config)
    return 0


def _store(args: argparse.Namespace):
    from .store import MonitorStore

    return MonitorStore(_config(args).store.url)


def _score(args: argparse.Namespace) -> int:
    from .batch import score_inputs

    monitor = _monitor(args)
    with monitor:
        summary = score_inputs(monitor, args.inputs, output=args.output, alerts_jsonl=args.alerts,
                               final=args.final, progress=not args.no_progress)
    result = summary.to_dict()
    result["database"] = monitor.store.location
    skipped = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in summary.skipped.items()) or "none"
    lines = [
        f"read {result['read']} rows from {len(args.inputs)} file(s): {summary.counts['scored']} "
        f"documents scored in {summary.seconds:.1f} s ({summary.documents_per_s:.0f} docs/s)",
        f"  skipped: {skipped}",
        f"  duplicates: {summary.counts['duplicates']}, already stored by an earlier run: "
        f"{summary.counts['already_stored']}, late (after their window closed, stored but not "
        f"aggregated): {summary.counts['late']}",
        f"  time-zone-less timestamps taken as {monitor.config.input.assume_tz}: "
        f"{summary.naive_timestamps}",
        f"  alerts raised: {summary.alerts_new}"
        + (f" ({summary.alerts_jsonl} new lines in {args.alerts or monitor.config.alerts.jsonl})"
           if (args.alerts or monitor.config.alerts.jsonl) else ""),
        *[f"  {info['path']}: {info['status']}" for info in summary.inputs
          if info["status"] != "scored"],
        *[f"  e.g. {e}" for e in summary.examples[:5]],
    ]
    if summary.deliveries:
        d = summary.deliveries
        lines.append(f"  webhook: {d['delivered']} delivered, {d['pending']} pending (retried by "
                     f"the next run or `finance-monitor deliver`), {d['failed']} refused")
    if summary.open_windows_from:
        lines.append(f"  windows from {summary.open_windows_from} stay open for later documents "
                     "(--final closes them)")
    if args.output:
        lines.append(f"  wrote {summary.output_rows} rows to {args.output}")
    lines.append(f"  database: {monitor.store.location}")
    _emit(result, lines, args)
    return 0


def _deliver(args: argparse.Namespace) -> int:
    from .delivery import deliver_pending, retry_failed

    config = _config(args)
    store = _store(args)
    with store:
        requeued = retry_failed(store) if args.retry_failed else 0
        queued = store.queue_all(config.alerts.webhook) if config.alerts.webhook else 0
        report = deliver_pending(store, config.alerts)
    result = {**report.to_dict(), "requeued": requeued, "queued": queued,
              "database": store.location}
    lines = [f"delivered {report.delivered}; still pending {report.pending}"
             + (" (run `finance-monitor deliver` again once the receiver is up)"
                if report.pending else "")
             + f"; refused {report.failed}"
             + (" (fix the receiver, then `finance-monitor deliver --retry-failed`)"
                if report.failed else ""),
             *[f"  {e}" for e in report.errors[:5]]]
    _emit(result, lines, args)
    return 0 if report.pending == 0 and report.failed == 0 else 1


def _watch(args: argparse.Namespace) -> int:
    from .watch import run_watch

    monitor = _monitor(args)
    with monitor:
        totals = run_watch(monitor, args.target, interval_s=args.interval, once=args.once)
    _emit(totals, [f"stopped: {totals}"], args)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_model

    config = _config(args)
    png = Path(args.confusion) if args.confusion else Path(args.model_dir) / "evaluation_confusion_matrix.png"
    if not Path(args.model_dir).is_dir():
        png = Path(args.confusion or "evaluation_confusion_matrix.png")
    metrics = evaluate_model(args.model_dir, args.data, text_column=args.text_column or "text",
                             label_column=args.label_column or "label",
                             labels=config.sentiment.labels, confusion_png=png)
    per = metrics.get("per_class", {})
    lines = [f"{args.data} ({metrics['n_examples']} examples): accuracy {metrics['accuracy']:.3f} "
             f"· macro-F1 {metrics['macro_f1']:.3f}",
             *[f"  {name}: F1 {v.get('f1', float('nan')):.3f}" for name, v in per.items()
               if isinstance(v, dict)],
             f"  confusion matrix written to {png}"]
    _emit(metrics, lines, args)
    return 0


def _alerts(args: argparse.Namespace) -> int:
    store = _store(args)
    with store:
        alerts = store.alerts(series_key=args.ticker.upper() if args.ticker else None,
                              limit=args.limit)
    lines = [f"{len(alerts)} alert(s) in {store.location}"] + [
        f"  {a['window_start']} {a['severity']:>6} {a['series_kind']} {a['series_key']}: "
        f"negative share {a['metrics'].get('negative_share', 0):.0%} of "
        f"{int(a['metrics'].get('count', 0))} ({a['alert_id']})" for a in alerts[:20]]
    _emit({"alerts": alerts}, lines, args)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import gradio as gr

    from .ui import demo_tab

    if args.model:
        monitor = _monitor(args)
    else:
        from .samples import write_samples
        from .training import demo_monitor

        samples = write_samples(Path(args.data_dir))
        monitor = demo_monitor(samples, Path(args.models_dir), db=args.db)
    with gr.Blocks(title="Finance monitor") as app:
        demo_tab(monitor)
    print(f"finance monitor demo on http://{args.host}:{args.port} (database "
          f"{monitor.store.location})", file=sys.stderr)
    app.launch(server_name=args.host, server_port=args.port)
    return 0


def _add_config_options(p: argparse.ArgumentParser, *, model: bool = True) -> None:
    p.add_argument("--config", help="monitor YAML config (thresholds, windows, watchlist ...)")
    p.add_argument("--db", help="database URL (default sqlite:///finance-monitor.db; "
                                "postgresql+psycopg://user:pw@host/db)")
    if model:
        p.add_argument("--model", help="sentiment model: a directory from `domaintune train` or "
                                       "`domaintune export` (faster), or a registered name")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set detection.z_threshold=4")
    p.add_argument("--json", action="store_true", help="print only the JSON object on stdout")
    p.add_argument("-v", "--verbose", action="store_true")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", help="text column (default text)")
    p.add_argument("--id-column", help="id column (default id; rows without one get a content "
                                       "hash)")
    p.add_argument("--time-column", help="timestamp column (default timestamp)")
    p.add_argument("--assume-tz", help="time zone of timestamps without one (default UTC); each "
                                       "is counted in the summary")
    p.add_argument("--chunk-size", type=int, help="documents per chunk (default 2000)")
    p.add_argument("--watchlist", help="watchlist file: ticker,name,aliases")
    p.add_argument("--webhook", help="POST each alert here (Idempotency-Key: alert_id)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finance-monitor",
        description="Score financial news and posts for sentiment, aggregate per ticker and "
                    "topic, and raise surge alerts.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("score", help="score input files (resumable; idempotent)")
    p.add_argument("inputs", nargs="+", help="CSV/TSV/JSONL/Parquet files, gzip allowed")
    p.add_argument("--output", help="one row per document: .csv, .parquet or .jsonl")
    p.add_argument("--alerts", help="append new alerts to this JSON-lines file")
    p.add_argument("--final", action="store_true",
                   help="close every open window at the end (the end of the stream)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_options(p)
    _add_input_options(p)
    p.set_defaults(func=_score)

    p = sub.add_parser("deliver", help="retry pending webhook deliveries")
    p.add_argument("--retry-failed", action="store_true",
                   help="also retry deliveries the receiver refused (HTTP 4xx)")
    p.add_argument("--webhook", help="also deliver every stored alert not yet queued for this URL "
                                     "(e.g. a receiver added after the alerts were raised)")
    _add_config_options(p, model=False)
    p.set_defaults(func=_deliver)

    p = sub.add_parser("watch", help="score files dropped into a folder, or JSON lines on stdin")
    p.add_argument("target", help="a folder, or - for standard input")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between folder scans")
    p.add_argument("--once", action="store_true", help="score the files there now, then exit")
    _add_config_options(p)
    _add_input_options(p)
    p.set_defaults(func=_watch)

    p = sub.add_parser("evaluate", help="accuracy, macro-F1, per-class scores of a sentiment model")
    p.add_argument("model_dir")
    p.add_argument("--data", required=True, help="labelled file (CSV/JSONL/Parquet)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--confusion", help="where to write the confusion matrix PNG (default "
                                       "MODEL_DIR/evaluation_confusion_matrix.png)")
    p.add_argument("--config")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--json", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("alerts", help="list stored alerts")
    p.add_argument("--ticker")
    p.add_argument("--limit", type=int, default=50)
    _add_config_options(p, model=False)
    p.set_defaults(func=_alerts)

    p = sub.add_parser("serve", help="serve the monitor over REST: POST /v1/score, "
                                     "/v1/documents, GET /v1/alerts (FastAPI + uvicorn)")
    _add_config_options(p)
    from domaintune.serving.config import add_serve_options

    add_serve_options(p)
    p.set_defaults(func=_serve)

    p = sub.add_parser("demo", help="the Gradio dashboard of --db (without --model: the demo's "
                                    "sentiment model; without --db: the sample stream scored "
                                    "into MODELS_DIR/demo-finance/monitor.db)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7862)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--models-dir", default="models")
    _add_config_options(p)
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``finance-monitor`` console script."""
    from domaintune.cli import run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

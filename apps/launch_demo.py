"""`make demo`: train on the project's sample data in seconds and open the Gradio demo.

The first tab is the core's text classifier; then one tab per registered app
(``domaintune.apps``, entry point group ``domaintune.apps``): for each, the launcher writes the
app's sample data into ``data/``, loads (or trains on first use) its service under
``models/``, and lets the app build its tab. An app that fails to load gets a tab saying why;
the others still run. Run ``python apps/launch_demo.py --help``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
MODELS = ROOT / "models"
logger = logging.getLogger("domaintune.demo")

def progress(message: str) -> None:
    """A line on stderr at once, so that ``make demo`` is never silent while it trains."""
    print(f"[demo] {message}", file=sys.stderr, flush=True)


CLASSIFIER_EXAMPLES = ["I think someone stole my card", "where is my refund?",
                       "can I talk to a real person", "what's the weather tomorrow?"]


def intent_classifier(data_dir: Path = DATA, models_dir: Path = MODELS,
                      retrain: bool = False) -> tuple[Any, Path]:
    """Train (frozen method, seconds) or reuse the core's sample intent classifier."""
    from domaintune import TextClassifier, TrainingConfig, load_dataset, plot_confusion_matrix
    from domaintune import samples as core_samples

    paths = core_samples.write_samples(data_dir)
    out = models_dir / "demo-intents"
    if out.is_dir() and not retrain:
        progress(f"loading the sample intent classifier from {out}")
        return TextClassifier.load(out), out / "confusion_matrix.png"
    start = time.perf_counter()
    progress(f"training the sample intent classifier (frozen MiniLM, a few seconds to a minute "
             f"on a CPU) into {out} ...")
    train, val = load_dataset(paths["intents"], text="text", label="intent", split=0.15, seed=0)
    test = load_dataset(paths["intents_test"], text="text", label="intent")
    clf = TextClassifier.from_pretrained("default", labels=train.label_names)
    clf.fit(train, val, TrainingConfig(method="frozen"))
    metrics = clf.evaluate(test)
    clf.metrics["test"] = {k: metrics[k] for k in ("accuracy", "macro_f1", "ece")}
    clf.save(out, overwrite=True)  # --retrain replaces the demo's own model directory
    plot_confusion_matrix(metrics["confusion_matrix"], clf.labels, out / "confusion_matrix.png")
    progress(f"sample intent classifier ready in {time.perf_counter() - start:.0f} s: test "
             f"accuracy {metrics['accuracy']:.1%}, saved to {out}")
    return clf, out / "confusion_matrix.png"


def offered_classifier(clf: Any, data_dir: Path = DATA,
                       models_dir: Path = MODELS) -> tuple[Any, Path | None]:
    """An app's classifier for the core's tab, with a confusion matrix on the core's held-out
    sample intents when the classifier knows their labels (nothing is trained)."""
    from domaintune import load_dataset, plot_confusion_matrix
    from domaintune import samples as core_samples

    paths = core_samples.write_samples(data_dir)
    test = load_dataset(paths["intents_test"], text="text", label="intent")
    if not set(test.label_names) <= set(clf.labels):
        return clf, None
    metrics = clf.evaluate(test)
    png = models_dir / "demo-classifier-confusion.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    plot_confusion_matrix(metrics["confusion_matrix"], clf.labels, png)
    progress(f"text-classifier tab: the app's intent classifier (not trained again), test "
             f"accuracy {metrics['accuracy']:.1%}")
    return clf, png


def classifier_demo_tab(data_dir: Path = DATA, models_dir: Path = MODELS,
                        retrain: bool = False, offered: Any = None) -> None:
    """The core's "Text classifier" tab: an app's classifier when one is ``offered`` (the demo
    then trains one intent classifier, not two), else the core's own sample classifier."""
    import gradio as gr

    from domaintune.ui import classifier_tab

    if offered is not None:
        clf, png = offered_classifier(offered, data_dir, models_dir)
        where = "the support bot's intent classifier"
    else:
        clf, png = intent_classifier(data_dir, models_dir, retrain)
        where = "an intent classifier"
    gr.Markdown(f"Text classification with {where} for a fictional bank, trained in seconds with "
                "the `frozen` method (MiniLM embeddings + logistic regression) on "
                "`data/support/intents.csv`.")
    classifier_tab(clf, examples=CLASSIFIER_EXAMPLES, confusion_png=png)


def prepare_app(app: Any, data_dir: Path = DATA, models_dir: Path = MODELS,
                retrain: bool = False) -> Any:
    """One registered app's samples and demo service (loaded, or trained on first use)."""
    start = time.perf_counter()
    progress(f"preparing the {app.title!r} tab (its sample data, and its model, trained on "
             f"first use under {models_dir}) ...")
    samples = app.write_samples(data_dir)
    service = app.demo_service(samples, models_dir, retrain=retrain)
    progress(f"{app.title!r} tab ready in {time.perf_counter() - start:.0f} s")
    return service


def app_tab(app: Any, data_dir: Path = DATA, models_dir: Path = MODELS,
            retrain: bool = False) -> Any:
    """One registered app's tab content: its samples, its demo service, its tab. Returns the
    service."""
    service = prepare_app(app, data_dir, models_dir, retrain)
    app.build_tab(service)
    return service


def build_demo(retrain: bool = False, *, apps: list[str] | None = None, data_dir: Path = DATA,
               models_dir: Path = MODELS, classifier: bool = True):
    """The demo: the core's classifier tab (unless ``classifier=False``) and one tab per
    registered app (``apps``: only these names). The apps' services are prepared first, so
    that an app offering its text classifier (``AppSpec.classifier``) spares the core's tab
    a second training."""
    import gradio as gr

    from domaintune.apps import discover

    found, errors = discover(apps)
    services = {app.name: prepare_app(app, data_dir, models_dir, retrain) for app in found}
    offered = next((clf for app in found
                    if (clf := app.text_classifier(services[app.name])) is not None), None)
    with gr.Blocks(title="domaintune demo") as demo:
        gr.Markdown("# domaintune\nDomain applications on a shared fine-tuning core.")
        if classifier:
            with gr.Tab("Text classifier"):
                classifier_demo_tab(data_dir, models_dir, retrain, offered=offered)
        for app in found:
            with gr.Tab(app.title):
                app.build_tab(services[app.name])
        for exc in errors:
            with gr.Tab("App not loaded"):
                gr.Markdown(f"**{exc}**")
    return demo


TRAINING_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>domaintune demo: training</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>domaintune demo</h1>
<p>Training the sample models&hellip; (about half a minute on a first run). This page reloads
every 5 seconds and shows the demo once it is ready; progress is printed in the terminal.</p>
</body></html>"""


class TrainingPage:
    """A placeholder page on the demo's address while the first run trains (standard library
    HTTP server in a thread); ``stop()`` frees the port for the demo itself."""

    def __init__(self, host: str, port: int) -> None:
        import http.server
        import threading

        body = TRAINING_PAGE.encode("utf-8")

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep the terminal for progress lines
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--retrain", action="store_true", help="retrain the sample models")
    parser.add_argument("--app", action="append", dest="apps", metavar="NAME",
                        help="only this registered app (repeatable; default: all)")
    parser.add_argument("--build-only", action="store_true", help="build and exit (no server)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    progress("building the demo (the first run trains the sample models)")
    page = None
    if not args.build_only:
        try:  # open the address at once: a "training..." page until the demo is ready
            page = TrainingPage(args.host, args.port)
            progress(f"{page.url} shows a 'training...' page until the demo is ready")
        except OSError as exc:  # the port is taken: the demo's own launch will say so
            progress(f"no 'training...' page ({exc})")
    try:
        demo = build_demo(args.retrain, apps=args.apps)
    finally:
        if page is not None:
            page.stop()
    if not args.build_only:
        progress(f"serving on http://{args.host}:{args.port}")
        demo.launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()

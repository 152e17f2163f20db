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
    clf.save(out, **_overwrite(clf))
    plot_confusion_matrix(metrics["confusion_matrix"], clf.labels, out / "confusion_matrix.png")
    progress(f"sample intent classifier ready in {time.perf_counter() - start:.0f} s: test "
             f"accuracy {metrics['accuracy']:.1%}, saved to {out}")
    return clf, out / "confusion_matrix.png"


def _overwrite(clf: Any) -> dict[str, bool]:
    """``{"overwrite": True}`` where ``TextClassifier.save`` takes it (``--retrain`` replaces
    the demo's own model directory)."""
    import inspect

    return {"overwrite": True} if "overwrite" in inspect.signature(clf.save).parameters else {}


def classifier_demo_tab(data_dir: Path = DATA, models_dir: Path = MODELS,
                        retrain: bool = False) -> None:
    """The core's "Text classifier" tab."""
    import gradio as gr

    from domaintune.ui import classifier_tab

    clf, png = intent_classifier(data_dir, models_dir, retrain)
    gr.Markdown("Intent classifier for a fictional bank, trained in seconds with the `frozen` "
                "method (MiniLM embeddings + logistic regression) on `data/support/intents.csv`.")
    classifier_tab(clf, examples=CLASSIFIER_EXAMPLES, confusion_png=png)


def app_tab(app: Any, data_dir: Path = DATA, models_dir: Path = MODELS,
            retrain: bool = False) -> Any:
    """One registered app's tab content: its samples, its demo service, its tab. Returns the
    service."""
    start = time.perf_counter()
    progress(f"preparing the {app.title!r} tab (its sample data, and its model, trained on "
             f"first use under {models_dir}) ...")
    samples = app.write_samples(data_dir)
    service = app.demo_service(samples, models_dir, retrain=retrain)
    app.build_tab(service)
    progress(f"{app.title!r} tab ready in {time.perf_counter() - start:.0f} s")
    return service


def build_demo(retrain: bool = False, *, apps: list[str] | None = None, data_dir: Path = DATA,
               models_dir: Path = MODELS, classifier: bool = True):
    """The demo: the core's classifier tab (unless ``classifier=False``) and one tab per
    registered app (``apps``: only these names)."""
    import gradio as gr

    from domaintune.apps import discover

    found, errors = discover(apps)
    with gr.Blocks(title="domaintune demo") as demo:
        gr.Markdown("# domaintune\nDomain applications on a shared fine-tuning core.")
        if classifier:
            with gr.Tab("Text classifier"):
                classifier_demo_tab(data_dir, models_dir, retrain)
        for app in found:
            with gr.Tab(app.title):
                app_tab(app, data_dir, models_dir, retrain)
        for exc in errors:
            with gr.Tab("App not loaded"):
                gr.Markdown(f"**{exc}**")
    return demo


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
    demo = build_demo(args.retrain, apps=args.apps)
    if not args.build_only:
        progress(f"serving on http://{args.host}:{args.port}")
        demo.launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()

"""`make demo`: train on the project's sample data in seconds and open the Gradio demo.

Each application adds its tab to ``TABS``. Run ``python apps/launch_demo.py --help``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from pathlib import Path

import gradio as gr

from domaintune import TextClassifier, TrainingConfig, load_dataset, plot_confusion_matrix
from domaintune.ui import classifier_tab

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
MODELS = ROOT / "models"
logger = logging.getLogger("domaintune.demo")


def make_samples() -> dict[str, Path]:
    """Write the sample data in data/ (idempotent) and return its paths."""
    spec = importlib.util.spec_from_file_location("make_samples", DATA / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_samples(DATA)


def intent_classifier(retrain: bool = False) -> tuple[TextClassifier, Path]:
    """Train (frozen method, seconds) or reuse the sample intent classifier."""
    paths = make_samples()
    out = MODELS / "demo-intents"
    if out.is_dir() and not retrain:
        return TextClassifier.load(out), out / "confusion_matrix.png"
    train, val = load_dataset(paths["intents"], text="text", label="intent", split=0.15, seed=0)
    test = load_dataset(paths["intents_test"], text="text", label="intent")
    clf = TextClassifier.from_pretrained("default", labels=train.label_names)
    clf.fit(train, val, TrainingConfig(method="frozen"))
    metrics = clf.evaluate(test)
    clf.metrics["test"] = {k: metrics[k] for k in ("accuracy", "macro_f1", "ece")}
    clf.save(out)
    plot_confusion_matrix(metrics["confusion_matrix"], clf.labels, out / "confusion_matrix.png")
    logger.info("sample intent classifier: test accuracy %.3f, saved to %s", metrics["accuracy"], out)
    return clf, out / "confusion_matrix.png"


def classifier_demo_tab(retrain: bool = False) -> None:
    clf, png = intent_classifier(retrain)
    gr.Markdown("Intent classifier for a fictional bank, trained in seconds with the `frozen` "
                "method (MiniLM embeddings + logistic regression) on `data/support/intents.csv`.")
    classifier_tab(clf, examples=["I think someone stole my card", "where is my refund?",
                                  "can I talk to a real person", "what's the weather tomorrow?"],
                   confusion_png=png)


def support_bot_demo_tab(retrain: bool = False) -> None:
    """The support bot on the sample data: trained on first use into models/demo-bot (seconds)."""
    from support_bot import sample_bot
    from support_bot.app import EXAMPLES, support_bot_tab

    bot = sample_bot(make_samples(), MODELS / "demo-bot", retrain=retrain)
    gr.Markdown("Customer-service bot for the fictional Northwind Bank: intent classifier (`frozen` "
                "MiniLM), FAQ retrieval (MiniLM + FAISS), out-of-scope detection tuned on "
                "`data/support/oos.csv`, handoff, slot filling and a SQLite log "
                "(`models/demo-bot/log.db`). Feedback lands in the log; `support-bot retrain "
                "models/demo-bot --output models/demo-bot-v2` learns from it.")
    support_bot_tab(bot, examples=EXAMPLES)


TABS = {"Text classifier": classifier_demo_tab, "Support bot": support_bot_demo_tab}


def build_demo(retrain: bool = False) -> gr.Blocks:
    with gr.Blocks(title="domaintune demo") as demo:
        gr.Markdown("# domaintune\nDomain applications on a shared fine-tuning core.")
        for name, build in TABS.items():
            with gr.Tab(name):
                build(retrain)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--retrain", action="store_true", help="retrain the sample models")
    parser.add_argument("--build-only", action="store_true", help="build and exit (no server)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    demo = build_demo(args.retrain)
    if not args.build_only:
        demo.launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()

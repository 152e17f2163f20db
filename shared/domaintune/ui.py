"""Gradio building blocks for a text classifier (thin: all logic lives in TextClassifier).

Example:
    >>> demo = build_demo(TextClassifier.load("models/tickets"))  # doctest: +SKIP
    >>> demo.launch()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .classifier import TextClassifier


def classify(clf: TextClassifier, text: str, top_k: int = 5) -> tuple[dict[str, float], str]:
    """Label probabilities (top ``top_k``) and a one-line summary for one text."""
    if not text or not text.strip():
        return {}, "Type a message to classify."
    probs = clf.predict_proba(text)
    ranked = sorted(zip(clf.labels, probs.tolist(), strict=True), key=lambda x: -x[1])[:top_k]
    best, score = ranked[0]
    return dict(ranked), f"**{best}** with calibrated probability {score:.1%}"


def model_summary(clf: TextClassifier) -> str:
    """Markdown description of a trained classifier and its validation metrics."""
    val = clf.metrics.get("validation", {})
    test = clf.metrics.get("test", {})
    cal = clf.metrics.get("calibration", {})
    lines = [
        f"- base model: `{clf.base_model}`, method: `{clf.method.value if clf.method else '?'}`",
        f"- {len(clf.labels)} labels; trained on {clf.metrics.get('n_train', '?')} examples in "
        f"{clf.metrics.get('train_seconds', '?')} s",
    ]
    if val:
        lines.append(f"- validation accuracy {val['accuracy']:.1%}, macro-F1 {val['macro_f1']:.3f}")
    if test:
        lines.append(f"- test accuracy {test['accuracy']:.1%}, macro-F1 {test['macro_f1']:.3f}")
    if cal:
        lines.append(f"- calibrated: temperature {cal['temperature']:.2f}, ECE "
                     f"{cal['ece_before']:.3f} → {cal['ece_after']:.3f}")
    return "\n".join(lines)


def classifier_tab(clf: TextClassifier, *, examples: list[str] | None = None,
                   confusion_png: str | Path | None = None, api_prefix: str = "") -> None:
    """Add a 'classify a text' panel to the current ``gr.Blocks`` context."""
    import gradio as gr

    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Message", lines=3, placeholder="Type a customer message...")
            button = gr.Button("Classify", variant="primary")
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[text])
        with gr.Column(scale=2):
            verdict = gr.Markdown()
            label = gr.Label(label="Top labels", num_top_classes=5)
    with gr.Accordion("About this model", open=False):
        gr.Markdown(model_summary(clf))
        if confusion_png and Path(confusion_png).is_file():
            gr.Image(str(confusion_png), label="Confusion matrix on held-out data", show_label=True)

    def run(message: str) -> tuple[dict[str, float], str]:
        scores, summary = classify(clf, message)
        return scores, summary

    button.click(run, inputs=[text], outputs=[label, verdict], api_name=f"{api_prefix}classify")
    text.submit(run, inputs=[text], outputs=[label, verdict], api_name=False)


def build_demo(clf: TextClassifier, *, title: str = "domaintune classifier", **kwargs: Any):
    """A one-tab ``gr.Blocks`` demo around ``clf``."""
    import gradio as gr

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}")
        classifier_tab(clf, **kwargs)
    return demo

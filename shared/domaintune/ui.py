"""Gradio building blocks for a text classifier (thin: all logic lives in TextClassifier).

Example:
    >>> demo = build_demo(TextClassifier.load("models/tickets"))  # doctest: +SKIP
    >>> demo.launch()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .classifier import TextClassifier

LOW_CONFIDENCE_QUANTILE = 0.05  # of the correctly classified validation messages


def backbone_name(clf: TextClassifier) -> str:
    """The encoder a classifier was fine-tuned from, by name (``default`` is the packaged
    all-MiniLM-L6-v2)."""
    from .hub import DEFAULT_MODEL

    base = str(clf.base_model or "?")
    if base == DEFAULT_MODEL:
        return "sentence-transformers/all-MiniLM-L6-v2 (packaged)"
    return base


def confidence_threshold(clf: TextClassifier,
                         quantile: float = LOW_CONFIDENCE_QUANTILE) -> float | None:
    """The confidence below which a prediction is flagged: the ``quantile`` of the calibrated
    top probabilities of the validation messages the classifier got right (95% of them are
    above it). Read from ``clf.metrics["confidence_threshold"]`` when training stored one, else
    computed from the validation data kept with the model (``clf.holdout``); ``None`` without
    either (or with fewer than 10 correct validation messages)."""
    import numpy as np

    stored = clf.metrics.get("confidence_threshold")
    if isinstance(stored, (int, float)):
        return float(stored)
    holdout = getattr(clf, "holdout", None)
    if holdout is None or not len(holdout) or holdout.labels is None:
        return None
    probs = np.atleast_2d(clf.predict_proba(list(holdout.texts)))
    labels = list(clf.labels)
    best = probs.argmax(axis=1)
    right = np.array([labels[j] == y for j, y in zip(best, holdout.labels, strict=True)])
    if right.sum() < 10:
        return None
    return float(np.quantile(probs.max(axis=1)[right], quantile))


def classify(clf: TextClassifier, text: str, top_k: int = 5,
             threshold: float | None = None) -> tuple[dict[str, float], str]:
    """Label probabilities (top ``top_k``) and a one-line summary for one text; below
    ``threshold`` (see :func:`confidence_threshold`) the summary warns that the text may be
    out of scope."""
    if not text or not text.strip():
        return {}, "Type a message to classify."
    probs = clf.predict_proba(text)
    ranked = sorted(zip(clf.labels, probs.tolist(), strict=True), key=lambda x: -x[1])[:top_k]
    best, score = ranked[0]
    summary = f"**{best}** with calibrated probability {score:.1%}"
    if threshold is not None and score < threshold:
        summary += (f"  \n⚠️ **Low confidence**: below {threshold:.1%}, the confidence of 95% of "
                    "the validation messages it classified correctly. The message may be out of "
                    "scope (none of these labels); do not trust this label.")
    return dict(ranked), summary


def model_summary(clf: TextClassifier, threshold: float | None = None) -> str:
    """Markdown description of a trained classifier and its validation metrics."""
    val = clf.metrics.get("validation", {})
    test = clf.metrics.get("test", {})
    cal = clf.metrics.get("calibration", {})
    lines = [
        f"- backbone: `{backbone_name(clf)}`, method: "
        f"`{clf.method.value if clf.method else '?'}`",
        f"- {len(clf.labels)} labels; trained on {clf.metrics.get('n_train', '?')} examples in "
        f"{clf.metrics.get('train_seconds', '?')} s",
    ]
    if val:
        lines.append(f"- validation accuracy {val['accuracy']:.1%}, macro-F1 {val['macro_f1']:.3f}")
    if test:
        lines.append(f"- test accuracy {test['accuracy']:.1%}, macro-F1 {test['macro_f1']:.3f}")
    if cal.get("temperature") is not None and cal.get("ece_before") is not None:
        lines.append(f"- calibrated: temperature {cal['temperature']:.2f}, ECE "
                     f"{cal['ece_before']:.3f} → {cal['ece_after']:.3f}")
    if threshold is not None:
        lines.append(f"- low-confidence warning below {threshold:.1%} (95% of the correctly "
                     "classified validation messages are above it)")
    return "\n".join(lines)


def classifier_tab(clf: TextClassifier, *, examples: list[str] | None = None,
                   confusion_png: str | Path | None = None, api_prefix: str = "") -> None:
    """Add a 'classify a text' panel to the current ``gr.Blocks`` context."""
    import gradio as gr

    threshold = confidence_threshold(clf)
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
        gr.Markdown(model_summary(clf, threshold))
        if confusion_png and Path(confusion_png).is_file():
            gr.Image(str(confusion_png), label="Confusion matrix on held-out data", show_label=True)

    def run(message: str) -> tuple[dict[str, float], str]:
        scores, summary = classify(clf, message, threshold=threshold)
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

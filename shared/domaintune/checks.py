"""Data checks before training: duplicates, label conflicts, imbalance, length outliers and
suspected label errors.

:func:`check_data` embeds every distinct text once with a domaintune encoder (or a function you
pass) and reports:

- **exact duplicates**: texts equal after Unicode (NFKC), case and whitespace normalisation,
  and those whose copies carry different labels;
- **near-duplicates with conflicting labels**: pairs of different texts whose embeddings have a
  cosine similarity of at least ``near_duplicate_threshold`` (exact search with a faiss
  ``IndexFlatIP`` range search) but whose labels differ;
- **label distribution**: counts per label and the imbalance ratio (largest / smallest);
- **length outliers**: texts far longer than the rest in tokens (words without a tokenizer) or
  characters, texts shorter than ``min_chars`` characters, and texts the model would truncate.
  Lengths are right-skewed, so Tukey's fence is taken on log lengths: long means
  ``n > Q3 * (Q3 / Q1) ** iqr_factor`` (``log n > log Q3 + iqr_factor * IQR(log n)``). On
  BANKING77 the plain ``Q3 + 3 * IQR`` flags 4-5% of the rows; the log fence flags 7 of 10,003;
- **suspected label errors**, in the manner of confident learning (Northcutt et al., 2021;
  cleanlab): out-of-fold probabilities ``p`` from a k-fold, stratified cross-validation of the
  ``frozen`` method (logistic regression on the embeddings). ``t_j`` is the mean probability
  that rows labelled ``j`` get for ``j`` (the class's mean self-confidence). A row labelled
  ``y`` is suspect when another label is predicted (``argmax p != y``) and either
  ``p_y < t_y`` (``below_class_threshold``) or the predicted label has ``p >= high_p``
  (``predicted_other_label``); or when another label ``k`` reaches its own threshold
  ``p_k >= t_k`` and is the most probable of the labels that do (``confident_other_label``:
  cleanlab's off-diagonal of the confident joint). Suspects are ranked by ``score = 1 - p_y``
  (cleanlab's self-confidence ranking), so the most useful rows come first whatever the rule.

Example:
    >>> from domaintune import load_dataset
    >>> from domaintune.checks import check_data
    >>> data = load_dataset("tickets.csv", text="body", label="queue")  # doctest: +SKIP
    >>> report = check_data(data, model="default")  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    >>> report.write("reports/tickets-data")  # suspects.csv + report.json  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import TextDataset
from .errors import ConfigError, DataError
from .persistence import write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]
"""Maps a list of texts to an array of shape ``(len(texts), dim)``."""

_MAX_NEAR_PAIRS = 10_000
_EMBED_CHUNK = 1024
_SUMMARY_ROWS = 5


@dataclass
class Suspect:
    """A row whose label looks wrong.

    Attributes:
        row: 1-based row number in the source file (``TextDataset.rows``).
        index: 0-based position in the dataset.
        text: the text.
        label: the label given in the data.
        suggested_label: the label the out-of-fold model prefers.
        p_given: out-of-fold probability of the given label.
        p_suggested: out-of-fold probability of the suggested label.
        score: ``1 - p_given``; higher is more suspicious.
        reason: comma-joined: ``below_class_threshold`` (another label is predicted and
            ``p_given`` is below the label's mean self-confidence), ``predicted_other_label``
            (another label is predicted with probability >= ``high_p``) and/or
            ``confident_other_label`` (another label reaches its own class threshold).
    """

    row: int
    index: int
    text: str
    label: str
    suggested_label: str
    p_given: float
    p_suggested: float
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("p_given", "p_suggested", "score"):
            out[key] = round(float(out[key]), 6)
        return out


@dataclass
class DataReport:
    """What :func:`check_data` found. ``to_dict()`` is JSON-ready; ``summary()`` is text.

    Attributes:
        source: where the data came from.
        n_examples: number of rows checked.
        label_counts: examples per label (empty for unlabelled data).
        imbalance_ratio: largest / smallest label count (None without labels).
        exact_duplicates: groups of rows with the same normalised text: ``rows``, ``text``,
            ``labels`` (distinct labels), ``count``, ``conflicting``. Conflicting groups first.
        near_duplicates: pairs of different texts with cosine similarity >= the threshold and
            different labels: ``row_a``, ``row_b``, ``text_a``, ``text_b``, ``label_a``,
            ``label_b``, ``similarity``; most similar first.
        length_outliers: ``row``, ``text``, ``n_chars``, ``n_tokens``, ``reason`` (``long``,
            ``short``, ``truncated``, comma-joined).
        length_stats: quartiles and the thresholds used (``length_unit``: tokens or words;
            ``long_threshold`` in that unit, ``long_threshold_chars`` in characters).
        suspects: suspected label errors, most suspicious first (see :class:`Suspect`).
        class_thresholds: per-label mean self-confidence ``t_j`` used to flag suspects.
        settings: the arguments of the check.
        notes: what was skipped and why.
        timings: seconds spent per step.
        self_confidence: out-of-fold probability of the given label for every row (NaN where
            not checked); a full ranking for benchmarks. Not part of ``to_dict()``.
    """

    source: str
    n_examples: int
    label_counts: dict[str, int] = field(default_factory=dict)
    imbalance_ratio: float | None = None
    exact_duplicates: list[dict[str, Any]] = field(default_factory=list)
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)
    length_outliers: list[dict[str, Any]] = field(default_factory=list)
    length_stats: dict[str, Any] = field(default_factory=dict)
    suspects: list[Suspect] = field(default_factory=list)
    class_thresholds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    self_confidence: np.ndarray | None = field(default=None, repr=False)

    @property
    def conflicting_duplicates(self) -> list[dict[str, Any]]:
        """Exact-duplicate groups whose copies carry different labels."""
        return [g for g in self.exact_duplicates if g["conflicting"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole report (suspects as dicts)."""
        return {
            "source": self.source,
            "n_examples": self.n_examples,
            "label_counts": self.label_counts,
            "imbalance_ratio": self.imbalance_ratio,
            "counts": {
                "exact_duplicate_groups": len(self.exact_duplicates),
                "conflicting_duplicate_groups": len(self.conflicting_duplicates),
                "near_duplicate_conflicts": len(self.near_duplicates),
                "length_outliers": len(self.length_outliers),
                "suspects": len(self.suspects),
            },
            "exact_duplicates": self.exact_duplicates,
            "near_duplicates": self.near_duplicates,
            "length_outliers": self.length_outliers,
            "length_stats": self.length_stats,
            "suspects": [s.to_dict() for s in self.suspects],
            "class_thresholds": {k: round(v, 6) for k, v in self.class_thresholds.items()},
            "settings": self.settings,
            "notes": self.notes,
            "timings": self.timings,
        }

    def summary(self) -> str:
        """A short human-readable report (counts, the worst rows, notes, timings)."""
        lines = [f"Data check of {self.source}: {self.n_examples:,} rows"
                 + (f", {len(self.label_counts)} labels" if self.label_counts else ", no labels")]
        if self.label_counts:
            big = max(self.label_counts, key=self.label_counts.get)
            small = min(self.label_counts, key=self.label_counts.get)
            lines.append(f"- labels: largest {big!r} ({self.label_counts[big]}), smallest "
                         f"{small!r} ({self.label_counts[small]}); imbalance ratio "
                         f"{self.imbalance_ratio:.1f}")
        dup_rows = sum(g["count"] for g in self.exact_duplicates)
        lines.append(f"- exact duplicates: {len(self.exact_duplicates)} groups ({dup_rows} rows), "
                     f"{len(self.conflicting_duplicates)} with conflicting labels")
        for g in self.conflicting_duplicates[:_SUMMARY_ROWS]:
            lines.append(f"    rows {_short_list(g['rows'])}: {_clip(g['text'])!r} labelled "
                         f"{' / '.join(g['labels'])}")
        threshold = self.settings.get("near_duplicate_threshold")
        lines.append(f"- near-duplicates with conflicting labels (cosine >= {threshold}): "
                     f"{len(self.near_duplicates)} pairs")
        for p in self.near_duplicates[:_SUMMARY_ROWS]:
            lines.append(f"    rows {p['row_a']} / {p['row_b']} ({p['similarity']:.3f}): "
                         f"{_clip(p['text_a'])!r} [{p['label_a']}] vs {_clip(p['text_b'])!r} "
                         f"[{p['label_b']}]")
        reasons = Counter(r for o in self.length_outliers for r in o["reason"].split(","))
        if self.length_stats:
            unit = self.length_stats.get("length_unit", "tokens")
            lines.append(
                f"- length outliers: {reasons.get('long', 0)} long (> "
                f"{self.length_stats['long_threshold']:.0f} {unit} or > "
                f"{self.length_stats['long_threshold_chars']:.0f} characters), "
                f"{reasons.get('short', 0)} short (< {self.length_stats['min_chars']} characters)"
                + (f", {reasons['truncated']} truncated at {self.length_stats['max_length']} tokens"
                   if reasons.get("truncated") else ""))
        if self.self_confidence is not None:
            checked = int(np.isfinite(self.self_confidence).sum())
            lines.append(f"- suspected label errors: {len(self.suspects)} of {checked:,} rows "
                         f"checked ({self.settings.get('folds')}-fold out-of-fold logistic "
                         f"regression on {self.settings.get('embeddings')} embeddings)")
            for s in self.suspects[:_SUMMARY_ROWS]:
                lines.append(f"    row {s.row}: {_clip(s.text)!r} labelled {s.label!r}, "
                             f"suggested {s.suggested_label!r} (p {s.p_given:.2f} vs "
                             f"{s.p_suggested:.2f})")
        for note in self.notes:
            lines.append(f"- note: {note}")
        if self.timings:
            parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items() if k != "total")
            lines.append(f"Took {self.timings.get('total', 0):.1f}s ({parts}).")
        return "\n".join(lines)

    def write(self, directory: str | Path) -> Path:
        """Write ``suspects.csv`` and ``report.json`` into ``directory`` (each atomically).

        Args:
            directory: created when missing.

        Returns:
            The directory.

        Example:
            >>> report.write("reports/data-check")  # doctest: +SKIP
            PosixPath('reports/data-check')
        """
        import pandas as pd

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        columns = ["row", "text", "label", "suggested_label", "score", "p_given", "p_suggested",
                   "reason", "index"]
        frame = pd.DataFrame([s.to_dict() for s in self.suspects], columns=columns)
        write_text_atomic(out / "suspects.csv", frame.to_csv(index=False))
        write_json_atomic(out / "report.json", self.to_dict())
        return out


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _short_list(values: Sequence[int], n: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:n])
    return shown + (f" and {len(values) - n} more" if len(values) > n else "")


def normalize_text(text: str) -> str:
    """The key exact duplicates are found by: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _label_key(label: Any) -> str:
    return "|".join(sorted(str(x) for x in label)) if isinstance(label, (list, tuple)) else str(label)


def _validate(dataset: Any, folds: Any, threshold: Any, top_k: Any, high_p: Any) -> None:
    if not isinstance(dataset, TextDataset):
        raise DataError(f"expected a TextDataset, found {type(dataset).__name__}; load the data "
                        "with domaintune.load_dataset(path, text=..., label=...)")
    if len(dataset) == 0:
        raise DataError(f"{dataset.source}: the data has no rows; nothing to check")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"check_data: expected folds to be an integer >= 2, found {folds!r}; "
                          "use e.g. folds=5")
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ConfigError(f"check_data: expected near_duplicate_threshold in (0, 1], found "
                          f"{threshold!r}; use e.g. 0.95 (cosine similarity)")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"check_data: expected top_k to be a positive integer or None, found "
                          f"{top_k!r}")
    if not isinstance(high_p, (int, float)) or not 0 < high_p <= 1:
        raise ConfigError(f"check_data: expected high_p in (0, 1], found {high_p!r}")


def _embed_with_model(clf: Any, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
    from tqdm.auto import tqdm

    chunks = []
    starts = range(0, len(texts), _EMBED_CHUNK)
    for start in tqdm(starts, desc="embedding", unit="chunk", disable=not progress or len(starts) < 2):
        chunks.append(np.asarray(clf.embed(texts[start:start + _EMBED_CHUNK], batch_size=batch_size)))
    return np.concatenate(chunks).astype(np.float32)


def _check_embeddings(vectors: Any, n: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != n:
        raise ValueError(f"embed_fn must return an array of shape (n_texts, dim) = ({n}, dim), "
                         f"found shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("embed_fn returned NaN or infinite values; check the embedding function")
    return array


def _length_outliers(
    dataset: TextDataset, n_tokens: np.ndarray, unit: str, *, iqr_factor: float,
    min_chars: int, max_length: int | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    n_chars = np.array([len(t) for t in dataset.texts])

    def fence(values: np.ndarray) -> tuple[float, float, float]:
        q1, q3 = np.percentile(np.maximum(values, 1), [25, 75])
        # Tukey on log lengths; a ratio of at least 1.25 keeps equal lengths from flagging any
        # slightly longer text
        return float(q1), float(q3), float(q3 * max(q3 / q1, 1.25) ** iqr_factor)

    q1, q3, long_tokens = fence(n_tokens)
    _, _, long_chars = fence(n_chars)
    outliers = []
    for i in range(len(dataset)):
        reasons = []
        if n_tokens[i] > long_tokens or n_chars[i] > long_chars:
            reasons.append("long")
        if len(dataset.texts[i].strip()) < min_chars:
            reasons.append("short")
        if max_length is not None and n_tokens[i] > max_length:
            reasons.append("truncated")
        if reasons:
            outliers.append({"row": dataset.rows[i], "text": dataset.texts[i],
                             "n_chars": int(n_chars[i]), "n_tokens": int(n_tokens[i]),
                             "reason": ",".join(reasons)})
    outliers.sort(key=lambda o: (-o["n_tokens"], o["row"]))
    stats = {"length_unit": unit, "median": float(np.median(n_tokens)), "q1": q1, "q3": q3,
             "long_threshold": long_tokens, "long_threshold_chars": long_chars,
             "median_chars": float(np.median(n_chars)), "min_chars": min_chars,
             "iqr_factor": iqr_factor, "max_length": max_length}
    return outliers, stats


def _near_duplicates(
    vectors: np.ndarray, groups: list[list[int]], dataset: TextDataset, labels: list[str],
    threshold: float, notes: list[str],
) -> list[dict[str, Any]]:
    import faiss

    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    x = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    lims, sims, ids = index.range_search(x, float(threshold) - 1e-6)  # exact search
    # first row of each label within each group of exact duplicates
    firsts = [{} for _ in groups]
    for g, members in enumerate(groups):
        for i in members:
            firsts[g].setdefault(labels[i], i)
    pairs = []
    for g in range(len(groups)):
        for pos in range(lims[g], lims[g + 1]):
            h = int(ids[pos])
            if h <= g:
                continue
            for label_a, i in firsts[g].items():
                for label_b, j in firsts[h].items():
                    if label_a != label_b:
                        pairs.append({"row_a": dataset.rows[i], "row_b": dataset.rows[j],
                                      "text_a": dataset.texts[i], "text_b": dataset.texts[j],
                                      "label_a": label_a, "label_b": label_b,
                                      "similarity": round(min(float(sims[pos]), 1.0), 6)})
    pairs.sort(key=lambda p: (-p["similarity"], p["row_a"], p["row_b"]))
    if len(pairs) > _MAX_NEAR_PAIRS:
        notes.append(f"{len(pairs)} near-duplicate conflicts found; only the "
                     f"{_MAX_NEAR_PAIRS} most similar are listed (raise near_duplicate_threshold)")
        pairs = pairs[:_MAX_NEAR_PAIRS]
    return pairs


def _label_suspects(
    x: np.ndarray, labels: list[str], dataset: TextDataset, *, folds: int, seed: int, c: float,
    high_p: float, notes: list[str],
) -> tuple[list[Suspect], dict[str, float], np.ndarray]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n = len(labels)
    self_conf = np.full(n, np.nan)
    counts = Counter(labels)
    small = sorted(lab for lab, k in counts.items() if k < 2)
    kept_labels = sorted(lab for lab, k in counts.items() if k >= 2)
    if small:
        notes.append(f"label check skipped {len(small)} label(s) with a single example "
                     f"({', '.join(map(repr, small[:10]))}{' ...' if len(small) > 10 else ''}): "
                     "out-of-fold probabilities need at least 2 examples per label")
    if len(kept_labels) < 2:
        notes.append("label check skipped: it needs at least 2 labels with 2 or more examples")
        return [], {}, self_conf
    rows = np.array([i for i in range(n) if counts[labels[i]] >= 2])
    code = {lab: j for j, lab in enumerate(kept_labels)}
    y = np.array([code[labels[i]] for i in rows])
    n_splits = min(folds, max(counts[lab] for lab in kept_labels))
    if n_splits < folds:
        notes.append(f"label check used {n_splits} folds instead of {folds}: no label has "
                     f"{folds} examples")
    elif min(counts[lab] for lab in kept_labels) < folds:
        few = sum(counts[lab] < folds for lab in kept_labels)
        notes.append(f"{few} label(s) have fewer than {folds} examples; they are still checked "
                     "(each fold trains on the others) but their estimates are noisier")
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        probs = cross_val_predict(model, x[rows], y, cv=cv, method="predict_proba", n_jobs=1)
    p_given = probs[np.arange(len(y)), y]
    thresholds = np.array([p_given[y == j].mean() for j in range(len(kept_labels))])
    self_conf[rows] = p_given
    suspects = []
    for r, i in enumerate(rows):
        p, given = probs[r], y[r]
        above = np.flatnonzero(p >= thresholds)
        confident = int(above[np.argmax(p[above])]) if len(above) else None
        predicted = int(np.argmax(p))
        reasons = []
        if predicted != given and p[given] < thresholds[given]:
            reasons.append("below_class_threshold")
        if predicted != given and p[predicted] >= high_p:
            reasons.append("predicted_other_label")
        if confident is not None and confident != given:
            reasons.append("confident_other_label")
        if not reasons:
            continue
        suggested = predicted if predicted != given else confident
        suspects.append(Suspect(
            row=dataset.rows[i], index=int(i), text=dataset.texts[i], label=labels[i],
            suggested_label=kept_labels[suggested], p_given=float(p[given]),
            p_suggested=float(p[suggested]), score=float(1.0 - p[given]),
            reason=",".join(reasons)))
    suspects.sort(key=lambda s: (-s.score, -s.p_suggested, s.index))
    return suspects, {lab: float(t) for lab, t in zip(kept_labels, thresholds, strict=True)}, self_conf


def check_data(
    dataset: TextDataset,
    *,
    model: str = "default",
    folds: int = 5,
    seed: int = 42,
    near_duplicate_threshold: float = 0.95,
    top_k: int | None = None,
    embed_fn: EmbedFn | None = None,
    c: float = 10.0,
    high_p: float = 0.5,
    iqr_factor: float = 3.0,
    min_chars: int = 3,
    max_length: int = 128,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = True,
) -> DataReport:
    """Check labelled texts for duplicates, conflicts, imbalance, odd lengths and label errors.

    Args:
        dataset: the data (see :func:`domaintune.load_dataset`); labels optional (without
            them only duplicates and lengths are checked).
        model: encoder for the embeddings: ``"default"`` (packaged MiniLM), a local directory
            or a hub id. Ignored when ``embed_fn`` is given.
        folds: cross-validation folds for the out-of-fold probabilities.
        seed: seed of the folds and the logistic regression.
        near_duplicate_threshold: cosine similarity from which two different texts count as
            near-duplicates.
        top_k: return only the ``top_k`` most suspicious rows (None = every suspect).
        embed_fn: optional function from a list of texts to an ``(n, dim)`` array, used instead
            of ``model`` (e.g. precomputed or synthetic embeddings). Each distinct normalised
            text is embedded once.
        c: inverse L2 strength of the logistic regression (as ``TrainingConfig.head_c``).
        high_p: a row is also suspect when another label is predicted with at least this
            probability (even if the given label is above its class threshold).
        iqr_factor: Tukey factor on log lengths: texts longer than
            ``Q3 * (Q3 / Q1) ** iqr_factor`` tokens or characters are length outliers.
        min_chars: texts shorter than this many characters are flagged as short.
        max_length: the model's token limit; longer texts are flagged as truncated.
        batch_size: texts per forward pass when embedding.
        device: ``auto``, ``cpu``, ``cuda`` ... for the encoder.
        progress: show a progress bar while embedding.

    Returns:
        A :class:`DataReport`.

    Raises:
        DataError: the data is not a non-empty ``TextDataset``.
        ConfigError: an argument is out of range.

    Example:
        >>> from domaintune import TextDataset
        >>> from domaintune.checks import check_data
        >>> data = TextDataset(["where is my refund", "Where is my  refund"], ["refund", "card"])
        >>> report = check_data(data, embed_fn=lambda texts: [[1.0, 0.0]] * len(texts))
        >>> report.conflicting_duplicates[0]["rows"]
        [1, 2]
    """
    _validate(dataset, folds, near_duplicate_threshold, top_k, high_p)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []
    labelled = dataset.labels is not None
    labels = [_label_key(lab) for lab in dataset.labels] if labelled else []

    # exact duplicates: group rows by normalised text (first appearance order)
    by_key: dict[str, list[int]] = {}
    for i, text in enumerate(dataset.texts):
        by_key.setdefault(normalize_text(text), []).append(i)
    groups = list(by_key.values())
    exact = []
    for members in groups:
        if len(members) < 2:
            continue
        distinct = sorted({labels[i] for i in members}) if labelled else []
        exact.append({"rows": [dataset.rows[i] for i in members], "text": dataset.texts[members[0]],
                      "labels": distinct, "count": len(members), "conflicting": len(distinct) > 1})
    exact.sort(key=lambda g: (not g["conflicting"], -g["count"], g["rows"][0]))

    label_counts = dict(sorted(Counter(labels).items())) if labelled else {}
    if dataset.multi_label and labelled:
        label_counts = dataset.label_counts()
    imbalance = (max(label_counts.values()) / min(label_counts.values())) if label_counts else None

    # embeddings of each distinct text, once
    clf = None
    vectors = None
    if labelled:
        t0 = time.perf_counter()
        representatives = [dataset.texts[members[0]] for members in groups]
        if embed_fn is not None:
            vectors = _check_embeddings(embed_fn(representatives), len(representatives))
            embeddings_name = "embed_fn"
        else:
            from .classifier import TextClassifier

            clf = TextClassifier.from_pretrained(model, dataset.label_names, max_length=max_length,
                                                 device=device)
            vectors = _embed_with_model(clf, representatives, batch_size, progress)
            embeddings_name = repr(model)
        timings["embed"] = round(time.perf_counter() - t0, 2)
    else:
        notes.append("the data has no labels: only exact duplicates and lengths were checked")
        embeddings_name = None

    # lengths: tokens with the model's tokenizer, else whitespace-separated words
    if clf is not None:
        unit, tok_max = "tokens", max_length
        n_tokens = np.array([len(ids) for ids in clf.tokenizer(list(dataset.texts),
                                                               truncation=False)["input_ids"]])
    else:
        unit, tok_max = "words", None
        n_tokens = np.array([len(t.split()) for t in dataset.texts])
    outliers, length_stats = _length_outliers(dataset, n_tokens, unit, iqr_factor=iqr_factor,
                                              min_chars=min_chars, max_length=tok_max)

    near: list[dict[str, Any]] = []
    suspects: list[Suspect] = []
    thresholds: dict[str, float] = {}
    self_conf = None
    if vectors is not None:
        t0 = time.perf_counter()
        near = _near_duplicates(vectors, groups, dataset, labels, near_duplicate_threshold, notes)
        timings["near_duplicates"] = round(time.perf_counter() - t0, 2)
        if dataset.multi_label:
            notes.append("label check skipped: it supports single-label data only")
        else:
            t0 = time.perf_counter()
            group_of = np.empty(len(dataset), dtype=np.int64)
            for g, members in enumerate(groups):
                group_of[members] = g
            suspects, thresholds, self_conf = _label_suspects(
                vectors[group_of], labels, dataset, folds=folds, seed=seed, c=c, high_p=high_p,
                notes=notes)
            timings["cross_validation"] = round(time.perf_counter() - t0, 2)
            if top_k is not None:
                suspects = suspects[:top_k]
    timings["total"] = round(time.perf_counter() - start, 2)

    report = DataReport(
        source=dataset.source, n_examples=len(dataset), label_counts=label_counts,
        imbalance_ratio=None if imbalance is None else round(float(imbalance), 4),
        exact_duplicates=exact, near_duplicates=near, length_outliers=outliers,
        length_stats=length_stats, suspects=suspects, class_thresholds=thresholds,
        settings={"model": None if embed_fn is not None else str(model), "embeddings": embeddings_name,
                  "folds": folds, "seed": seed, "near_duplicate_threshold": near_duplicate_threshold,
                  "top_k": top_k, "c": c, "high_p": high_p, "iqr_factor": iqr_factor,
                  "min_chars": min_chars, "max_length": max_length},
        notes=notes, timings=timings, self_confidence=self_conf,
    )
    logger.info(
        "checked %d rows of %s in %.1fs: %d duplicate groups (%d conflicting), %d near-duplicate "
        "conflicts, %d length outliers, %d suspected label errors%s",
        len(dataset), dataset.source, timings["total"], len(exact), len(report.conflicting_duplicates),
        len(near), len(outliers), len(suspects), f"; notes: {'; '.join(notes)}" if notes else "")
    return report

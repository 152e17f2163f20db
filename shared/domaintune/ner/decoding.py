"""From per-token logits to entity spans: the decoding every NER backend shares.

:class:`~domaintune.ner.TokenClassifier` (PyTorch) and
:class:`~domaintune.export.OnnxNerModel` (ONNX Runtime) both split texts into words here,
window them with :func:`~domaintune.ner.alignment.encode_windows`, run their model on the
windows and hand the per-token logits back to :func:`word_scores`, :func:`decode_tags` and
:func:`entities`, so the two backends cannot drift apart in how they align, repair and
report entities. Nothing here imports PyTorch.

Example:
    >>> spans, words = split_words(["Ann  flew"])
    >>> spans, words
    ([[(0, 3), (5, 9)]], [['Ann', 'flew']])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from ..numeric import softmax
from .alignment import Window, merge_windows
from .data import bio_chunks, repair_bio
from .features import SHAPE_INPUT

WORD_RE = re.compile(r"\S+")


def split_words(texts: Sequence[str]) -> tuple[list[list[tuple[int, int]]], list[list[str]]]:
    """The whitespace-separated words of each text and their ``(start, end)`` offsets."""
    spans = [[m.span() for m in WORD_RE.finditer(t)] for t in texts]
    words = [[t[a:b] for a, b in sp] for t, sp in zip(texts, spans, strict=True)]
    return spans, words


def word_lists(tokens: Sequence[str] | Sequence[Sequence[str]]) -> tuple[list[list[str]], bool]:
    """``(sentences, single)`` for one word list or a list of word lists, checked (each word a
    non-empty string without whitespace)."""
    single = len(tokens) > 0 and all(isinstance(t, str) for t in tokens)
    sentences = [list(tokens)] if single else [list(s) for s in tokens]  # type: ignore[arg-type]
    for i, sent in enumerate(sentences):
        if any(not isinstance(w, str) or WORD_RE.fullmatch(w) is None for w in sent):
            raise DataError(f"sentence {i}: expected non-empty words without whitespace")
    return sentences, single


def word_scores(windows: Sequence[Window], token_logits: Sequence[np.ndarray],
                n_words: Sequence[int], n_tags: int) -> list[np.ndarray]:
    """Per-word logits ``(n_words, n_tags)`` of each sentence, from each word's owning window;
    a word the model never saw (no sub-token, no unknown token) is scored as ``O``."""
    scores, filled = merge_windows(windows, token_logits, n_words, n_tags)
    for arr, mask in zip(scores, filled, strict=True):
        arr[~mask] = -1e4
        arr[~mask, 0] = 0.0
    return scores


DECODINGS = ("argmax", "viterbi")


def bio_transitions(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(start, transition)``: 0 where IOB2 allows a tag (first word / after another tag),
    ``-inf`` where it does not (no ``I-X`` first or after ``O``, no ``I-X`` after ``B-Y``/``I-Y``
    with ``Y != X``).

    Example:
        >>> start, trans = bio_transitions(["O", "B-PER", "I-PER"])
        >>> start.tolist(), trans[0].tolist(), trans[1].tolist()
        ([0.0, 0.0, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0])
    """
    n = len(tags)
    start = np.zeros(n)
    trans = np.zeros((n, n))
    for j, tag in enumerate(tags):
        if not tag.startswith("I-"):
            continue
        start[j] = -np.inf
        for i, prev in enumerate(tags):
            if prev[2:] != tag[2:] or prev == "O":
                trans[i, j] = -np.inf
    return start, trans


def viterbi_bio(logits: np.ndarray, tags: Sequence[str]) -> np.ndarray:
    """The valid IOB2 tag path (indices) with the highest sum of per-word log-softmax scores.

    Constrained decoding: unlike the argmax (then repaired), an entity's tags are chosen
    together, so ``B-PER I-ORG`` can never appear and a weak ``B-X`` is weighed against the
    ``I-X`` words that follow it.

    Example:
        >>> tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
        >>> logits = np.log(np.array([[.1, .6, .1, .1, .1], [.1, .1, .3, .1, .4]]))
        >>> [tags[j] for j in viterbi_bio(logits, tags)]
        ['B-PER', 'I-PER']
    """
    n_words = len(logits)
    if not n_words:
        return np.zeros(0, dtype=np.int64)
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    start, trans = bio_transitions(tags)
    score = start + logp[0]
    back = np.zeros((n_words, len(tags)), dtype=np.int64)
    for t in range(1, n_words):
        cand = score[:, None] + trans  # (previous, current)
        back[t] = cand.argmax(axis=0)
        score = cand.max(axis=0) + logp[t]
    path = np.zeros(n_words, dtype=np.int64)
    path[-1] = int(score.argmax())
    for t in range(n_words - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def check_decoding(value: str) -> str:
    """``value`` if it names a decoding (``argmax`` or ``viterbi``), else a ConfigError."""
    from ..errors import ConfigError

    if value not in DECODINGS:
        raise ConfigError(f"decoding expects one of {list(DECODINGS)}, found {value!r}; "
                          "'viterbi' = constrained IOB2 decoding, 'argmax' = per-word argmax "
                          "then repair")
    return value


def decode_tags(logits: np.ndarray, tags: Sequence[str],
                decoding: str = "argmax") -> tuple[list[str], np.ndarray]:
    """Valid IOB2 tags and the probability of each word's chosen tag.

    ``decoding="argmax"``: each word's most probable tag, then an ``I-X`` that cannot continue
    an entity becomes ``B-X``; ``"viterbi"``: the best valid tag sequence
    (:func:`viterbi_bio`).
    """
    probs = softmax(logits)
    if not len(probs):
        return [], np.zeros(0)
    if decoding == "viterbi":
        best = viterbi_bio(logits, tags)
        out = [tags[j] for j in best]
    else:
        best = probs.argmax(axis=-1)
        out = repair_bio([tags[j] for j in best])[0]
    return out, probs[np.arange(len(best)), best]


def entities(text: str, offsets: Sequence[tuple[int, int]], logits: np.ndarray,
             tags: Sequence[str], decoding: str = "argmax") -> list[dict[str, Any]]:
    """``[{"type", "text", "start", "end", "score"}, ...]`` of one text from its word logits."""
    found, conf = decode_tags(logits, tags, decoding)
    return [{"type": kind, "text": text[offsets[a][0] : offsets[b - 1][1]],
             "start": offsets[a][0], "end": offsets[b - 1][1], "score": float(conf[a:b].mean())}
            for kind, a, b in bio_chunks(found)]


def pad_windows(windows: Sequence[Window], pad_id: int,
                names: Sequence[str]) -> dict[str, np.ndarray]:
    """One right-padded int64 batch of ``windows`` (the inputs in ``names``), as
    :func:`domaintune.ner.training.collate` pads them for PyTorch."""
    width = max(len(w) for w in windows)
    ids = np.full((len(windows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    types = np.zeros((len(windows), width), dtype=np.int64)
    shapes = np.zeros((len(windows), width), dtype=np.int64)  # PAD_SHAPE
    for row, win in enumerate(windows):
        n = len(win)
        ids[row, :n] = win.input_ids
        mask[row, :n] = 1
        if win.token_type_ids is not None:
            types[row, :n] = win.token_type_ids
        if win.shape_ids is not None:
            shapes[row, :n] = win.shape_ids
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
             SHAPE_INPUT: shapes}
    return {n: batch[n] for n in names}


def run_windows(windows: Sequence[Window], run: Callable[[dict[str, np.ndarray]], np.ndarray],
                *, pad_id: int, names: Sequence[str], batch_size: int = 64) -> list[np.ndarray]:
    """Per-token logits ``(len(window), n_tags)`` of each window, in order.

    Args:
        windows: from :func:`~domaintune.ner.alignment.encode_windows`.
        run: ``run(feeds) -> (batch, tokens, n_tags)`` logits of one padded batch.
        pad_id: the tokenizer's padding id.
        names: the model's inputs (``input_ids``, ``attention_mask`` [, ``token_type_ids``]
            [, ``shape_ids``]).
        batch_size: windows per call of ``run`` (longest first, so padding stays small).
    """
    out: list[np.ndarray | None] = [None] * len(windows)
    order = np.argsort([-len(w) for w in windows], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        logits = run(pad_windows([windows[i] for i in idx], pad_id, names))
        for row, i in enumerate(idx):
            out[i] = np.asarray(logits[row, : len(windows[i])], dtype=np.float32)
    return out  # type: ignore[return-value]

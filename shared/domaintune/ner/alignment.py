"""Word-level tags to sub-word tokens and back, with sliding windows for long texts.

Labels. Words are tokenized with ``is_split_into_words=True`` and aligned through the fast
tokenizer's ``word_ids()``: the first sub-token of a word carries the word's tag, the other
sub-tokens and the special tokens get ``-100`` (ignored by the loss). A word the tokenizer
turns into no sub-token at all (e.g. a zero-width space) is fed to the model as the unknown
token, so every word gets exactly one prediction.

Long texts. A sentence longer than ``max_length`` sub-tokens is never truncated: it is cut
into windows that start and end at word boundaries, hold at most ``max_length`` sub-tokens
(special tokens included), and overlap by at most ``stride`` sub-tokens. A word appears in one
or two windows (more only when ``stride`` is large). Each word is *owned* by exactly one
window: the one where its first sub-token is most central, i.e. where ``min(sub-tokens
before it, sub-tokens after it)`` inside the window is largest (ties go to the earlier
window). The owning window alone supplies the word's label during training and its
prediction at inference, so every word is counted once and predicted with context on both
sides. A single word longer than the window is truncated inside its own window (its first
sub-token, which carries the label, is always kept).

Document context (FLERT). With ``documents`` and ``context > 0``, a sentence that fits in one
window also gets the sub-tokens of its neighbouring sentences in the same document: whole words
of the sentences before it (nearest first) as left context and of those after it as right
context, at most ``context`` sub-tokens each side and within ``max_length``. Context tokens have
no word id and no label: only the centre sentence's words are labelled and scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelLoadError

IGNORE_INDEX = -100


def stored_context(value: Any, record: Any, fix: str) -> int:
    """A saved ``context`` record (sub-tokens of document context each side, an ``int >= 0``,
    as :class:`~domaintune.ner.TokenClassifier` writes it; callers pass 0 when it is absent).

    Raises:
        ModelLoadError: ``value`` is not an integer >= 0 (a bool, a float or a string is
            refused: the record was changed by hand or damaged).
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ModelLoadError(f"{record} is corrupted ('context' is {value!r}, expected an "
                             f"integer >= 0); {fix}")
    return value


@dataclass
class Window:
    """One model input: a slice of a sentence's words, tokenized.

    Attributes:
        sentence: index of the sentence in the batch of sentences.
        word_start, word_end: the words ``[word_start, word_end)`` of the sentence it holds.
        input_ids: token ids, special tokens included.
        token_type_ids: segment ids when the model uses them, else ``None``.
        word_ids: the sentence-level word index of each token (``None`` for special tokens).
        label_positions: token position -> word index, for the first sub-token of each word
            this window owns (see the module docstring).
        labels: per-token label ids (``-100`` = ignored), set by :func:`attach_labels`.
        shape_ids: per-token word-shape ids (:mod:`domaintune.ner.features`) when asked for.
        n_context: sub-tokens of document context (left + right) in this window.
    """

    sentence: int
    word_start: int
    word_end: int
    input_ids: list[int]
    token_type_ids: list[int] | None
    word_ids: list[int | None]
    label_positions: dict[int, int] = field(default_factory=dict)
    labels: list[int] | None = None
    shape_ids: list[int] | None = None
    n_context: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


def first_subtoken_labels(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> list[int]:
    """Per-token labels: the word's label on its first sub-token, ``-100`` elsewhere.

    Args:
        word_ids: ``encoding.word_ids()`` of a fast tokenizer (``None`` = special token).
        word_labels: one label id per word.

    Example:
        >>> first_subtoken_labels([None, 0, 1, 1, 1, 2, None], [3, 1, 0])
        [-100, 3, 1, -100, -100, 0, -100]
    """
    out: list[int] = []
    prev: int | None = None
    for wid in word_ids:
        if wid is None:
            out.append(IGNORE_INDEX)
        elif wid != prev:
            out.append(int(word_labels[wid]))
        else:
            out.append(IGNORE_INDEX)
        if wid is not None:
            prev = wid
    return out


def plan_windows(counts: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` covering all words, each with at most ``budget``
    sub-tokens (a lone word longer than ``budget`` gets its own window), consecutive
    windows overlapping by at most ``stride`` sub-tokens.

    Example:
        >>> plan_windows([1, 1, 1, 1, 1, 1], budget=4, stride=2)
        [(0, 4), (2, 6)]
    """
    if budget < 1:
        raise ValueError(f"window budget must be at least 1 sub-token, found {budget}")
    if not 0 <= stride < budget:
        raise ValueError(f"stride must be in [0, {budget}) sub-tokens, found {stride}")
    n = len(counts)
    windows: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end, total = start, 0
        while end < n and (end == start or total + counts[end] <= budget):
            total += counts[end]
            end += 1
        windows.append((start, end))
        if end >= n:
            break
        nxt, overlap = end, 0
        while (nxt - 1 > start and overlap + counts[nxt - 1] <= stride
               and overlap + counts[nxt - 1] + counts[end] <= budget):
            nxt -= 1
            overlap += counts[nxt]
        start = nxt
    return windows


def assign_owners(counts: Sequence[int], windows: Sequence[tuple[int, int]]) -> list[int]:
    """For each word, the index of the window where it is most central (ties: earlier).

    Example:
        >>> assign_owners([1, 1, 1, 1, 1, 1], [(0, 4), (2, 6)])
        [0, 0, 0, 1, 1, 1]
    """
    prefix = np.concatenate([[0], np.cumsum(counts)])
    owners = [-1] * len(counts)
    best = [-1] * len(counts)
    for k, (start, end) in enumerate(windows):
        for w in range(start, end):
            before = prefix[w] - prefix[start]
            after = prefix[end] - prefix[w + 1]
            score = int(min(before, after))
            if score > best[w]:
                best[w], owners[w] = score, k
    return owners


def encode_windows(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    *,
    max_length: int,
    stride: int,
    shapes: bool = False,
    documents: Sequence[int] | None = None,
    context: int = 0,
) -> list[Window]:
    """Tokenize word lists into model windows of at most ``max_length`` tokens.

    Args:
        tokenizer: a fast (``tokenizers``-backed) Hugging Face tokenizer.
        sentences: the words of each sentence.
        max_length: tokens per window, special tokens included.
        stride: most sub-tokens shared by two consecutive windows of one sentence.
        shapes: also compute ``shape_ids`` (word shapes, :mod:`domaintune.ner.features`).
        documents: the document index of each sentence (for ``context``).
        context: sub-tokens of neighbouring sentences of the same document each side (module
            docstring); 0 or ``documents=None``: none.

    Returns:
        The windows of all sentences, in order (a short sentence is one window).

    Example:
        >>> windows = encode_windows(tok, [["Ann", "lives", "in", "Oslo"]], max_length=16,
        ...                          stride=4)  # doctest: +SKIP
    """
    from .features import token_shapes

    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    budget = max_length - n_special
    if budget < 1:
        raise ValueError(f"max_length={max_length} leaves no room next to {n_special} special tokens")
    sentences = [list(s) for s in sentences]
    if documents is not None and len(documents) != len(sentences):
        raise ValueError(f"expected one document index per sentence, found {len(documents)} for "
                         f"{len(sentences)} sentences")
    plans: list[tuple[int, list[str], list[tuple[int, int]], list[int]]] = []
    nonempty = [i for i, s in enumerate(sentences) if s]
    if not nonempty:
        return []
    enc = tokenizer([sentences[i] for i in nonempty], is_split_into_words=True,
                    add_special_tokens=False)
    unk = tokenizer.unk_token
    prepared: dict[int, tuple[list[str], list[int]]] = {}
    for row, i in enumerate(nonempty):
        words = sentences[i]
        counts = [0] * len(words)
        for wid in enc.word_ids(row):
            if wid is not None:
                counts[wid] += 1
        if unk is not None and 0 in counts:
            unk_len = max(1, len(tokenizer.tokenize(unk)))
            words = [w if c else unk for w, c in zip(words, counts, strict=True)]
            counts = [c if c else unk_len for c in counts]
        prepared[i] = (words, counts)
        ranges = plan_windows(counts, budget, stride)
        plans.append((i, words, ranges, assign_owners(counts, ranges)))
    # each document's (non-empty) sentences in order, built once: a sentence's neighbours are
    # then read outward from its own place, so building all windows is linear in the corpus
    members: dict[int, list[int]] = {}
    place: dict[int, int] = {}
    if documents is not None and context > 0:
        for i in nonempty:
            group = members.setdefault(documents[i], [])
            place[i] = len(group)
            group.append(i)
    pieces: list[list[str]] = []
    offsets: list[int] = []  # context words before the sentence's words, per window
    for i, words, ranges, _ in plans:
        for a, b in ranges:
            left: list[str] = []
            right: list[str] = []
            if members and len(ranges) == 1:
                room = budget - sum(prepared[i][1])
                group, k = members[documents[i]], place[i]  # type: ignore[index]
                left, used = _outward(prepared, (group[m] for m in range(k - 1, -1, -1)),
                                      min(context, room // 2), reverse=True)
                right, _ = _outward(prepared, (group[m] for m in range(k + 1, len(group))),
                                    min(context, room - used), reverse=False)
            pieces.append(left + words[a:b] + right)
            offsets.append(len(left))
    win_enc = tokenizer(pieces, is_split_into_words=True, truncation=True, max_length=max_length)
    use_types = "token_type_ids" in win_enc
    windows: list[Window] = []
    row = 0
    for i, _, ranges, owners in plans:
        for k, (a, b) in enumerate(ranges):
            n_left, n_mid = offsets[row], b - a
            raw = win_enc.word_ids(row)
            wids = [None if w is None or not n_left <= w < n_left + n_mid else w - n_left + a
                    for w in raw]
            positions: dict[int, int] = {}
            prev: int | None = None
            for p, w in enumerate(wids):
                if w is not None and w != prev and owners[w] == k:
                    positions[p] = w
                if w is not None:
                    prev = w
            windows.append(Window(
                sentence=i, word_start=a, word_end=b,
                input_ids=list(win_enc["input_ids"][row]),
                token_type_ids=list(win_enc["token_type_ids"][row]) if use_types else None,
                word_ids=wids, label_positions=positions,
                shape_ids=token_shapes(pieces[row], raw) if shapes else None,
                n_context=sum(1 for w, x in zip(raw, wids, strict=True) if w is not None and x is None),
            ))
            row += 1
    return windows


def _outward(prepared: dict[int, tuple[list[str], list[int]]], order: Iterable[int],
             budget: int, *, reverse: bool) -> tuple[list[str], int]:
    """Whole words of the neighbouring sentences ``order`` (nearest first), taken outward from
    the centre sentence while they fit in ``budget`` sub-tokens: ``(words in reading order,
    sub-tokens used)``. Stops at the first word that does not fit, so it reads only as many
    sentences as the budget reaches."""
    out: list[str] = []
    used = 0
    for j in order:
        words, counts = prepared[j]
        for w in (range(len(words) - 1, -1, -1) if reverse else range(len(words))):
            if used + counts[w] > budget:
                return (out[::-1] if reverse else out), used
            out.append(words[w])
            used += counts[w]
    return (out[::-1] if reverse else out), used


def attach_labels(windows: Sequence[Window], tag_ids: Sequence[Sequence[int]]) -> None:
    """Set ``window.labels``: the word's tag id on the first sub-token of each word the
    window owns, ``-100`` on every other token."""
    for win in windows:
        labels = [IGNORE_INDEX] * len(win.input_ids)
        for pos, word in win.label_positions.items():
            labels[pos] = int(tag_ids[win.sentence][word])
        win.labels = labels


def merge_windows(
    windows: Sequence[Window],
    token_scores: Sequence[np.ndarray],
    n_words: Sequence[int],
    n_tags: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Collect per-token scores back into per-word scores, one row per word.

    Args:
        windows: the windows from :func:`encode_windows`.
        token_scores: for each window, an array ``(len(window), n_tags)``.
        n_words: words per sentence.
        n_tags: size of the tag set.

    Returns:
        ``(scores, filled)``: per sentence a ``(n_words, n_tags)`` array taken from each word's
        owning window, and a boolean mask of the words that received a score (all of them,
        unless the tokenizer has no unknown token and drops a word entirely).
    """
    scores = [np.zeros((n, n_tags), dtype=np.float32) for n in n_words]
    filled = [np.zeros(n, dtype=bool) for n in n_words]
    for win, arr in zip(windows, token_scores, strict=True):
        for pos, word in win.label_positions.items():
            scores[win.sentence][word] = arr[pos]
            filled[win.sentence][word] = True
    return scores, filled

"""Word-shape features: the case (and digit / punctuation) class of each word, per sub-token.

An uncased encoder (the default all-MiniLM-L6-v2) lower-cases its input, so ``Apple`` and
``apple`` reach it as the same tokens, while CoNLL-style entities depend on case. With
``TrainingConfig.ner_word_shapes`` each word gets one shape class (:data:`SHAPES`), every
sub-token of the word gets its word's class id and the special tokens the pad id 0; a small
learned embedding of these ids is added to the encoder's input embeddings
(:class:`domaintune.ner.training.ShapeTagger`). The PyTorch tagger and the ONNX export compute
the ids here, so they cannot differ. Nothing here imports PyTorch.

Example:
    >>> [SHAPES[word_shape(w)] for w in ["Paris", "NASA", "iPhone", "1999", "A4", "-", "ok"]]
    ['Title', 'UPPER', 'mixed', 'digits', 'has-digit', 'punctuation', 'lower']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ModelLoadError

SHAPES = ("pad", "lower", "Title", "UPPER", "mixed", "digits", "has-digit", "punctuation", "other")
PAD_SHAPE = 0
SHAPE_INPUT = "shape_ids"


def word_shape(word: str) -> int:
    """The shape class of one word (an index into :data:`SHAPES`, never the pad id).

    ``digits``: only digits; ``has-digit``: some digits and other characters; ``punctuation``:
    no letter or digit; ``lower`` / ``UPPER`` (two or more cased letters, all upper) / ``Title``
    (the first cased letter is the only upper-case one) / ``mixed``; ``other``: letters without
    case (e.g. CJK scripts).
    """
    if not any(c.isalnum() for c in word):
        return 7
    if word.isdigit():
        return 5
    if any(c.isdigit() for c in word):
        return 6
    upper = sum(c.isupper() for c in word)
    lower = sum(c.islower() for c in word)
    if upper == 0 and lower == 0:
        return 8
    if upper == 0:
        return 1
    if lower == 0:
        return 3 if upper >= 2 else 2
    first = next(c for c in word if c.isupper() or c.islower())
    return 2 if upper == 1 and first.isupper() else 4


def token_shapes(words: Sequence[str], word_ids: Sequence[int | None]) -> list[int]:
    """One shape id per token: the shape of the token's word (``word_ids`` index ``words``),
    :data:`PAD_SHAPE` for special tokens (``None``).

    Example:
        >>> token_shapes(["Ann", "flew"], [None, 0, 1, 1, None])
        [0, 2, 1, 1, 0]
    """
    cache: dict[int, int] = {}
    out = []
    for wid in word_ids:
        if wid is None:
            out.append(PAD_SHAPE)
        else:
            if wid not in cache:
                cache[wid] = word_shape(words[wid])
            out.append(cache[wid])
    return out


def check_shape_classes(classes: Any, n_rows: int | None, record: Any, fix: str) -> None:
    """Refuse a saved word-shape record that this version would read wrongly.

    Args:
        classes: the shape classes the record lists (must be :data:`SHAPES`, in order: the ids
            computed here index the embedding).
        n_rows: the rows of the saved embedding (one per class), ``None`` if none was found.
        record: the file that holds the record (for the message).
        fix: how to repair it, e.g. ``"re-save or retrain the model"``.

    Raises:
        ModelLoadError: saying what was expected and what was found.
    """
    if classes != list(SHAPES):
        raise ModelLoadError(f"{record} is corrupted or from another version (its word-shape "
                             f"classes are {classes!r}, expected {list(SHAPES)}); {fix}")
    if n_rows != len(SHAPES):
        found = "no shape embedding" if n_rows is None else f"a shape embedding of {n_rows} rows"
        raise ModelLoadError(f"{record} lists {len(SHAPES)} word-shape classes but the model has "
                             f"{found} (expected one row per class); {fix}")

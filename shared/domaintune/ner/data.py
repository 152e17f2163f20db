"""Token-classification (NER) data: CoNLL files, JSONL character spans, and conversions.

Two input formats:

* **CoNLL**: one ``token<TAB>tag`` (or ``token tag``) per line, a blank (or whitespace-only)
  line between sentences, ``-DOCSTART-`` lines start a new document (``documents``). With more
  than two columns (CoNLL-2003: ``token POS chunk tag``) the first column is the token and
  the last the tag.
  Several blank lines in a row are one boundary.
* **JSONL spans**: one JSON object per line, ``{"text": "...", "entities": [{"start": 0,
  "end": 5, "label": "person"}]}`` with character offsets (``end`` exclusive). The text is split
  into words at whitespace, and additionally at entity boundaries, so ``"Paris."`` with the
  entity ``Paris`` becomes the words ``Paris`` and ``.``. Objects with ``"tokens"`` and
  ``"tags"`` lists are read as already tokenized sentences.

Tags are BIO (= IOB2): ``O``, ``B-<type>`` starts an entity, ``I-<type>`` continues one.

Repair policy. An ``I-X`` that follows ``O``, the start of the sentence or a tag of another
type cannot continue an entity, so it is invalid IOB2. With ``repair="warn"`` (the default) it
is converted to ``B-X`` and a warning names the file and line (the first few, then a summary
count); every repair is kept in ``TokenDataset.repairs``. With ``repair="error"`` the first one
raises a :class:`~domaintune.errors.DataError` naming the file, line and tag. Files in the older
IOB1 scheme (where ``I-X`` normally starts an entity and ``B-X`` only separates two adjacent
entities of one type) are read with ``scheme="IOB1"``: they are converted to IOB2 without
warnings, because that ``I-X`` is valid there.
"""

from __future__ import annotations

import bisect
import enum
import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..config import Repair, TagScheme
from ..data import decode_file
from ..errors import DataError, closest
from ..persistence import write_text_atomic

logger = logging.getLogger(__name__)

CONLL_SUFFIXES = (".conll", ".iob", ".bio", ".txt", ".tsv")
JSONL_SUFFIXES = (".jsonl", ".json")
_TAG_RE = re.compile(r"^(O|[BI]-\S+)$")
_WORD_RE = re.compile(r"\S+")
_MAX_LINES_NAMED = 5
_MAX_REPAIRS_LOGGED = 5


class TagRepair(NamedTuple):
    """One repaired tag: where it was and what it became."""

    line: int
    sentence: int
    position: int
    found: str
    replaced: str


def _enum(kind: type[enum.Enum], value: Any, name: str) -> Any:
    if isinstance(value, kind):
        return value
    valid = [m.value for m in kind]
    for member in kind:
        if str(value).lower() == member.value.lower():
            return member
    if kind is TagScheme and str(value).upper() == "BIO":
        return TagScheme.IOB2
    raise DataError(f"{name} expects one of {valid}, found {value!r}{closest(str(value), valid)}")


def _lines_phrase(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:_MAX_LINES_NAMED])
    more = f" and {len(lines) - _MAX_LINES_NAMED} more" if len(lines) > _MAX_LINES_NAMED else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


# ---------------------------------------------------------------------------------- BIO helpers
def bio_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities of one tag sequence as ``(type, first_word, end_word)`` (end exclusive).

    ``B-X`` starts an entity, ``I-X`` continues an entity of type X; an ``I-X`` that cannot
    continue one starts a new entity (as conlleval reads it).

    Example:
        >>> bio_chunks(["B-PER", "I-PER", "O", "B-LOC"])
        [('PER', 0, 2), ('LOC', 3, 4)]
    """
    chunks: list[tuple[str, int, int]] = []
    current: str | None = None
    start = 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = (tag[:1], tag[2:]) if tag != "O" else ("O", "")
        if current is not None and (prefix != "I" or kind != current):
            chunks.append((current, start, i))
            current = None
        if prefix == "B" or (prefix == "I" and current is None):
            current, start = kind, i
    return chunks


def repair_bio(tags: Sequence[str]) -> tuple[list[str], list[int]]:
    """Return IOB2-valid tags (an ``I-X`` that cannot continue an entity becomes ``B-X``) and
    the positions that were changed.

    Example:
        >>> repair_bio(["O", "I-PER", "I-LOC"])
        (['O', 'B-PER', 'B-LOC'], [1, 2])
    """
    out = list(tags)
    changed = []
    prev = "O"
    for i, tag in enumerate(out):
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            out[i] = "B-" + tag[2:]
            changed.append(i)
        prev = out[i]
    return out, changed


def tags_for_types(types: Iterable[str]) -> list[str]:
    """The tag set ``O, B-T1, I-T1, B-T2, ...`` for entity types (order kept)."""
    tags = ["O"]
    for kind in dict.fromkeys(types):
        tags += [f"B-{kind}", f"I-{kind}"]
    return tags


# ---------------------------------------------------------------------------------- conversions
def split_words(text: str, boundaries: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of the words of ``text``: split at whitespace and, in
    addition, at every character offset in ``boundaries`` that falls inside a word.

    Example:
        >>> split_words("in Paris.", boundaries=[3, 8])
        [(0, 2), (3, 8), (8, 9)]
    """
    cuts = sorted(set(boundaries))
    spans: list[tuple[int, int]] = []
    for match in _WORD_RE.finditer(text):
        start, end = match.span()
        prev = start
        for cut in cuts[bisect.bisect_right(cuts, start) : bisect.bisect_left(cuts, end)]:
            spans.append((prev, cut))
            prev = cut
        spans.append((prev, end))
    return spans


def conll_to_spans(
    tokens: Sequence[str],
    tags: Sequence[str],
    *,
    text: str | None = None,
    offsets: Sequence[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Turn one tagged sentence into ``{"text", "entities": [{"start", "end", "label"}]}``.

    Args:
        tokens: the words of the sentence.
        tags: one BIO tag per word.
        text: the original text; default = the words joined by single spaces.
        offsets: character ``(start, end)`` of each word in ``text`` (needed with ``text``).

    Example:
        >>> conll_to_spans(["Alice", "visits", "New", "York"], ["B-PER", "O", "B-LOC", "I-LOC"])
        {'text': 'Alice visits New York', 'entities': [{'start': 0, 'end': 5, 'label': 'PER'}, {'start': 13, 'end': 21, 'label': 'LOC'}]}
    """
    if len(tokens) != len(tags):
        raise DataError(f"expected one tag per token, found {len(tokens)} tokens and {len(tags)} tags")
    if text is None:
        text, pos, offsets = " ".join(tokens), 0, []
        for token in tokens:
            offsets.append((pos, pos + len(token)))
            pos += len(token) + 1
    elif offsets is None or len(offsets) != len(tokens):
        raise DataError("conll_to_spans: pass offsets=[(start, end), ...] (one per token) with text=")
    entities = [
        {"start": offsets[a][0], "end": offsets[b - 1][1], "label": kind}
        for kind, a, b in bio_chunks(tags)
    ]
    return {"text": text, "entities": entities}


def spans_to_conll(
    text: str, entities: Sequence[dict[str, Any]], *, where: str = "<text>"
) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """Split ``text`` into words and give each a BIO tag from character-offset entities.

    Words are split at whitespace and at entity boundaries (see :func:`split_words`).
    Whitespace at the edges of an entity span is ignored.

    Args:
        text: the sentence or document.
        entities: ``{"start": int, "end": int, "label": str}`` dicts, ``end`` exclusive.
        where: names the input in error messages (e.g. ``"data.jsonl line 3"``).

    Returns:
        ``(tokens, tags, offsets)``: the words, their tags, and their character offsets.

    Raises:
        DataError: an entity is malformed, out of range, empty or overlaps another one.

    Example:
        >>> spans_to_conll("Hi Ann!", [{"start": 3, "end": 6, "label": "PER"}])
        (['Hi', 'Ann', '!'], ['O', 'B-PER', 'O'], [(0, 2), (3, 6), (6, 7)])
    """
    spans = []
    for k, ent in enumerate(entities):
        if not isinstance(ent, dict) or not {"start", "end", "label"} <= set(ent):
            found = sorted(ent) if isinstance(ent, dict) else type(ent).__name__
            raise DataError(f"{where}: entity {k} must be an object with keys 'start', 'end', "
                            f"'label', found {found}")
        start, end, label = ent["start"], ent["end"], ent["label"]
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
            raise DataError(f"{where}: entity {k} needs integer character offsets, found "
                            f"start={start!r}, end={end!r}")
        if not isinstance(label, str) or not label.strip() or re.search(r"\s", label):
            raise DataError(f"{where}: entity {k} needs a label without spaces, found {label!r}")
        if not 0 <= start < end <= len(text):
            raise DataError(f"{where}: entity {k} ({label}) has offsets [{start}, {end}) outside "
                            f"the text of {len(text)} characters (expected 0 <= start < end <= "
                            f"{len(text)}, end exclusive)")
        piece = text[start:end]
        if not piece.strip():
            raise DataError(f"{where}: entity {k} ({label}) covers only whitespace [{start}, {end})")
        start += len(piece) - len(piece.lstrip())
        end -= len(piece) - len(piece.rstrip())
        spans.append((start, end, label.strip()))
    spans.sort()
    for (s1, e1, l1), (s2, e2, l2) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            raise DataError(f"{where}: entities {l1} [{s1}, {e1}) and {l2} [{s2}, {e2}) overlap; "
                            "nested or overlapping entities are not supported, keep one of them")
    offsets = split_words(text, [b for s, e, _ in spans for b in (s, e)])
    starts = [s for s, _ in offsets]
    tags = ["O"] * len(offsets)
    for start, end, label in spans:
        first = bisect.bisect_left(starts, start)
        for i in range(first, len(offsets)):
            if offsets[i][0] >= end:
                break
            tags[i] = ("B-" if i == first else "I-") + label
    return [text[s:e] for s, e in offsets], tags, offsets


# ---------------------------------------------------------------------------------- dataset
@dataclass
class TokenDataset:
    """Sentences of words with (optional) BIO tags, ready for a :class:`TokenClassifier`.

    Attributes:
        tokens: the words of each sentence.
        tags: one BIO (IOB2) tag per word, or ``None`` for unlabelled data.
        source: where the data came from, used in error messages.
        lines: the 1-based line where each sentence starts in ``source``.
        repairs: tags changed from ``I-X`` to ``B-X`` when loading (see the module docstring).
        texts: original texts when read from JSONL spans (``None``: words joined by spaces).
        offsets: character ``(start, end)`` of each word in ``texts`` (with ``texts``).
        documents: the document index of each sentence (CoNLL files with ``-DOCSTART-`` lines:
            0 for the sentences before the second document starts, and so on), or ``None``
            when the data has no document boundaries. Used for document context (FLERT,
            ``TrainingConfig.ner_context``) and for document-level splits.

    Example:
        >>> data = TokenDataset([["Ann", "lives", "in", "Oslo"]], [["B-PER", "O", "O", "B-LOC"]])
        >>> data.entity_types
        ['LOC', 'PER']
    """

    tokens: list[list[str]]
    tags: list[list[str]] | None = None
    source: str = "<data>"
    lines: list[int] = field(default_factory=list)
    repairs: list[TagRepair] = field(default_factory=list)
    texts: list[str] | None = None
    offsets: list[list[tuple[int, int]]] | None = None
    documents: list[int] | None = None

    def __post_init__(self) -> None:
        self.tokens = [list(sentence) for sentence in self.tokens]
        if not self.lines:
            self.lines = list(range(1, len(self.tokens) + 1))
        if self.documents is not None:
            self.documents = [int(d) for d in self.documents]
            if len(self.documents) != len(self.tokens):
                raise DataError(f"{self.source}: expected one document index per sentence, found "
                                f"{len(self.tokens)} sentences and {len(self.documents)} document "
                                "indices")
        if len(self.lines) != len(self.tokens):
            raise DataError(f"{self.source}: expected one line number per sentence, found "
                            f"{len(self.tokens)} sentences and {len(self.lines)} line numbers")
        empty = [self.lines[i] for i, s in enumerate(self.tokens) if not s]
        if empty:
            raise DataError(f"{self.source}: the sentence{'s' if len(empty) > 1 else ''} at "
                            f"{_lines_phrase(empty)} ha{'ve' if len(empty) > 1 else 's'} zero "
                            "tokens; every sentence needs at least one token, remove the empty ones")
        bad = [self.lines[i] for i, s in enumerate(self.tokens)
               if any(not isinstance(t, str) or not t or _WORD_RE.fullmatch(t) is None for t in s)]
        if bad:
            raise DataError(f"{self.source}: the sentence{'s' if len(bad) > 1 else ''} at "
                            f"{_lines_phrase(bad)} contain{'' if len(bad) > 1 else 's'} an empty "
                            "token or a token with whitespace; tokens must be non-empty strings "
                            "without spaces")
        if self.tags is None:
            return
        self.tags = [list(t) for t in self.tags]
        if len(self.tags) != len(self.tokens):
            raise DataError(f"{self.source}: expected one tag sequence per sentence, found "
                            f"{len(self.tokens)} sentences and {len(self.tags)} tag sequences")
        lengths = [self.lines[i] for i, (s, t) in enumerate(zip(self.tokens, self.tags, strict=True))
                   if len(s) != len(t)]
        if lengths:
            raise DataError(f"{self.source}: the sentence{'s' if len(lengths) > 1 else ''} at "
                            f"{_lines_phrase(lengths)} ha{'ve' if len(lengths) > 1 else 's'} a "
                            "different number of tokens and tags; give exactly one tag per token")
        invalid = [(self.lines[i], tag) for i, seq in enumerate(self.tags) for tag in seq
                   if not isinstance(tag, str) or not _TAG_RE.match(tag)]
        if invalid:
            raise DataError(_bad_tag_message(self.source, invalid, "sentence at line"))
        found = _repair_all(self.tags, [[line] * len(s) for line, s in zip(self.lines, self.tags, strict=True)],
                            self.source, Repair.WARN, announce=True)
        self.repairs.extend(found)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def n_tokens(self) -> int:
        """Number of words over all sentences."""
        return sum(len(s) for s in self.tokens)

    @property
    def entity_types(self) -> list[str]:
        """Sorted entity types found in the tags."""
        if self.tags is None:
            raise DataError(f"{self.source} has no tags; load labelled data to train or evaluate")
        return sorted({t[2:] for seq in self.tags for t in seq if t != "O"})

    @property
    def tag_names(self) -> list[str]:
        """The full BIO tag set of the data: ``O``, then ``B-``/``I-`` for each entity type."""
        return tags_for_types(self.entity_types)

    def entity_counts(self) -> dict[str, int]:
        """Number of entities per type."""
        if self.tags is None:
            return {}
        return dict(sorted(Counter(k for seq in self.tags for k, _, _ in bio_chunks(seq)).items()))

    def to_spans(self) -> list[dict[str, Any]]:
        """The sentences as ``{"text", "entities"}`` records (see :func:`conll_to_spans`)."""
        if self.tags is None:
            raise DataError(f"{self.source} has no tags to convert to spans")
        out = []
        for i, (tokens, tags) in enumerate(zip(self.tokens, self.tags, strict=True)):
            if self.texts is not None and self.offsets is not None:
                out.append(conll_to_spans(tokens, tags, text=self.texts[i], offsets=self.offsets[i]))
            else:
                out.append(conll_to_spans(tokens, tags))
        return out

    def subset(self, indices: Sequence[int]) -> TokenDataset:
        """The sentences at ``indices`` as a new dataset (keeping line numbers)."""
        pick = list(indices)
        return TokenDataset(
            tokens=[self.tokens[i] for i in pick],
            tags=None if self.tags is None else [self.tags[i] for i in pick],
            source=self.source,
            lines=[self.lines[i] for i in pick],
            texts=None if self.texts is None else [self.texts[i] for i in pick],
            offsets=None if self.offsets is None else [self.offsets[i] for i in pick],
            documents=None if self.documents is None else [self.documents[i] for i in pick],
        )

    def split_documents(self, fractions: Sequence[float], *,
                        seed: int = 42) -> tuple[TokenDataset, ...]:
        """Seeded document-level split: whole documents go to one part each.

        Args:
            fractions: the share of documents of every part but the last (the last gets the
                rest), e.g. ``(0.7, 0.1)`` for train/dev/test 70/10/20.
            seed: seed of the shuffle of the documents.

        Returns:
            One dataset per part (``len(fractions) + 1``), sentences in their original order.

        Example:
            >>> data = TokenDataset([["a"], ["b"], ["c"]], documents=[0, 1, 2])
            >>> [len(p) for p in data.split_documents([0.34, 0.33], seed=1)]
            [1, 1, 1]
        """
        if self.documents is None:
            raise DataError(f"{self.source} has no document boundaries (-DOCSTART- lines); use "
                            "split() for a sentence-level split")
        docs = sorted(set(self.documents))
        if any(f <= 0 for f in fractions) or sum(fractions) >= 1.0:
            raise DataError(f"expected positive fractions that sum to less than 1, found "
                            f"{list(fractions)}")
        if len(docs) < len(fractions) + 1:
            raise DataError(f"{self.source}: {len(docs)} document(s) cannot be split into "
                            f"{len(fractions) + 1} parts; use split() for a sentence-level split")
        random.Random(seed).shuffle(docs)
        parts, start = [], 0
        for f in fractions:
            n = max(1, round(f * len(docs)))
            parts.append(set(docs[start : start + n]))
            start += n
        parts.append(set(docs[start:]))
        if not parts[-1]:
            raise DataError(f"{self.source}: no document left for the last part of {list(fractions)}")
        return tuple(self.subset([i for i, d in enumerate(self.documents) if d in part])
                     for part in parts)

    def split(self, fraction: float, *, seed: int = 42) -> tuple[TokenDataset, TokenDataset]:
        """Random sentence-level ``(train, validation)`` split, reproducible with ``seed``."""
        if not 0.0 < fraction < 1.0:
            raise DataError(f"expected a validation fraction between 0 and 1, found {fraction}")
        n_val = max(1, round(fraction * len(self)))
        if n_val >= len(self):
            raise DataError(f"{self.source}: {len(self)} sentence(s) cannot be split into train "
                            f"and a {fraction:.0%} validation part; add data or pass an eval file")
        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        return self.subset(sorted(order[n_val:])), self.subset(sorted(order[:n_val]))

    def summary(self) -> str:
        """One line: sentences, tokens, entities per type and repaired tags."""
        counts = self.entity_counts()
        ents = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no entities"
        return (f"{self.source}: {len(self)} sentences, {self.n_tokens} tokens, "
                f"{sum(counts.values())} entities ({ents}); {len(self.repairs)} tags repaired")


def _bad_tag_message(source: str, invalid: list[tuple[int, Any]], what: str = "line") -> str:
    lines = [line for line, _ in invalid]
    tags = list(dict.fromkeys(repr(t) for _, t in invalid))[:_MAX_LINES_NAMED]
    where = _lines_phrase(lines) if what == "line" else f"{what} {lines[0]}"
    return (f"{source}: {where}: tag{'s' if len(tags) > 1 else ''} {', '.join(tags)} "
            f"{'are' if len(tags) > 1 else 'is'} not BIO; expected 'O', 'B-<type>' or "
            "'I-<type>' (e.g. 'B-person'). Convert BIOES/BILOU files to BIO first")


def _repair_all(
    tags: list[list[str]],
    lines: list[list[int]],
    source: str,
    policy: Repair,
    *,
    announce: bool,
) -> list[TagRepair]:
    """Repair invalid ``I-X`` tags in place; raise, warn or stay silent (IOB1) as asked."""
    repairs: list[TagRepair] = []
    for i, seq in enumerate(tags):
        fixed, changed = repair_bio(seq)
        for pos in changed:
            line = lines[i][pos]
            if policy == Repair.ERROR:
                prev = seq[pos - 1] if pos else "the start of the sentence"
                raise DataError(
                    f"{source}: line {line}: tag {seq[pos]!r} follows {prev!r}, which is invalid "
                    f"BIO (an I- tag must continue an entity of the same type); change it to "
                    f"{fixed[pos]!r}, or load with repair='warn' to convert such tags "
                    "automatically (scheme='IOB1' if the file is IOB1)")
            repairs.append(TagRepair(line, i, pos, seq[pos], fixed[pos]))
        tags[i] = fixed
    if repairs and announce:
        for rep in repairs[:_MAX_REPAIRS_LOGGED]:
            logger.warning("%s: line %d: invalid BIO tag %r converted to %r", source, rep.line,
                           rep.found, rep.replaced)
        logger.warning(
            "%s: repaired %d invalid BIO tag%s (I-X not continuing an entity -> B-X) at %s; "
            "pass repair='error' to stop instead, or scheme='IOB1' if the file is IOB1",
            source, len(repairs), "s" if len(repairs) > 1 else "",
            _lines_phrase([r.line for r in repairs]))
    return repairs


# ---------------------------------------------------------------------------------- readers
def _read_text(path: Path, encoding: str, what: str) -> str:
    if not path.exists():
        raise DataError(f"data file {path} does not exist; check the path")
    if path.is_dir():
        raise DataError(f"expected a data file, found the directory {path}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: expected {what}")
    text = decode_file(path, encoding)
    if not text.strip():
        raise DataError(f"{path} is empty: expected {what}")
    return text


def read_conll(
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    scheme: TagScheme | str = TagScheme.IOB2,
    repair: Repair | str = Repair.WARN,
) -> TokenDataset:
    """Read a CoNLL-style file (``token<TAB>tag`` or ``token tag`` per line).

    Args:
        path: the file. Blank or whitespace-only lines separate sentences; ``-DOCSTART-``
            lines start a new document (kept in ``TokenDataset.documents``); with more than
            two columns the first is the token and the last the tag.
        encoding: text encoding (e.g. ``"latin-1"``).
        scheme: ``"IOB2"`` (= BIO, default) or ``"IOB1"``; both are returned as IOB2.
        repair: ``"warn"`` (convert an invalid ``I-X`` to ``B-X`` and log it) or
            ``"error"`` (raise); see the module docstring.

    Raises:
        DataError: missing or empty file, undecodable bytes, lines without a tag column,
            tags that are not BIO, invalid ``I-`` tags with ``repair="error"``.

    Example:
        >>> train = read_conll("wnut17train.conll")  # doctest: +SKIP
        >>> train.summary()  # doctest: +SKIP
    """
    path = Path(path)
    scheme = _enum(TagScheme, scheme, "scheme")
    policy = _enum(Repair, repair, "repair")
    text = _read_text(path, encoding, "token<TAB>tag lines with a blank line between sentences")
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    tag_lines: list[list[int]] = []
    documents: list[int] = []
    document, has_docstart = 0, False
    malformed: list[int] = []
    spaced: list[int] = []
    invalid: list[tuple[int, str]] = []
    current: tuple[list[str], list[str], list[int]] = ([], [], [])

    def flush() -> None:
        nonlocal current
        if current[0]:
            tokens.append(current[0])
            tags.append(current[1])
            tag_lines.append(current[2])
            documents.append(document)
        current = ([], [], [])

    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            flush()
            continue
        if line.lstrip().startswith("-DOCSTART-"):
            flush()
            has_docstart = True
            if documents and documents[-1] == document:
                document += 1
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        token, tag = parts[0].strip(), parts[-1].strip() if len(parts) > 1 else ""
        if not token or not tag:
            malformed.append(lineno)
            continue
        if _WORD_RE.fullmatch(token) is None:
            spaced.append(lineno)
            continue
        if not _TAG_RE.match(tag):
            invalid.append((lineno, tag))
        current[0].append(token)
        current[1].append(tag)
        current[2].append(lineno)
    flush()
    if malformed:
        raise DataError(
            f"{path}: {_lines_phrase(malformed)} ha{'ve' if len(malformed) > 1 else 's'} no tag "
            "column (or an empty token); expected 'token<TAB>tag' (or 'token tag') on every "
            "non-blank line, and a blank line between sentences"
        )
    if spaced:
        raise DataError(
            f"{path}: {_lines_phrase(spaced)} ha{'ve' if len(spaced) > 1 else 's'} a token with "
            "whitespace inside; expected one word per line (split multi-word tokens into one "
            "line per word, B- on the first and I- on the rest)"
        )
    if invalid:
        raise DataError(_bad_tag_message(str(path), invalid))
    if not tokens:
        raise DataError(f"{path}: no sentences found (only blank or -DOCSTART- lines); expected "
                        "token<TAB>tag lines")
    repairs = _repair_all(tags, tag_lines, str(path), Repair.WARN if scheme == TagScheme.IOB1
                          else policy, announce=scheme == TagScheme.IOB2)
    return TokenDataset(tokens=tokens, tags=tags, source=str(path),
                        lines=[ls[0] for ls in tag_lines],
                        repairs=[] if scheme == TagScheme.IOB1 else repairs,
                        documents=documents if has_docstart else None)


def _from_records(
    records: Sequence[tuple[int, Any]],
    source: str,
    *,
    text_key: str,
    entities_key: str,
    scheme: TagScheme,
    policy: Repair,
    unit: str = "line",
) -> TokenDataset:
    tokens, tags, lines, texts, offsets = [], [], [], [], []
    token_style = False
    for lineno, obj in records:
        where = f"{source}: {unit} {lineno}"
        if not isinstance(obj, dict):
            raise DataError(f"{where} must be a JSON object, found {type(obj).__name__}")
        if "tokens" in obj and text_key not in obj:
            token_style = True
            words, seq = obj["tokens"], obj.get("tags")
            if not isinstance(words, list) or not isinstance(seq, list):
                raise DataError(f"{where}: expected 'tokens' and 'tags' lists, found keys {sorted(obj)}")
            if not words:
                raise DataError(f"{where}: the sentence has zero tokens; remove the line or add tokens")
            tokens.append([str(w) for w in words])
            tags.append([str(t) for t in seq])
            lines.append(lineno)
            continue
        if text_key not in obj or entities_key not in obj:
            missing = text_key if text_key not in obj else entities_key
            guess = closest(missing, sorted(obj)).removeprefix("; did you mean ").rstrip("?")
            hint = (f"; pass {'text_key' if missing == text_key else 'entities_key'}={guess}"
                    if guess else "")
            raise DataError(
                f"{where}: expected keys [{text_key!r}, {entities_key!r}] (character-offset "
                f"spans; use [] for a text without entities) or ['tokens', 'tags'], found "
                f"{sorted(obj)}{hint}"
            )
        text, ents = obj[text_key], obj[entities_key]
        if not isinstance(text, str):
            raise DataError(f"{where}: {text_key!r} must be a string, found {type(text).__name__}")
        if not text.strip():
            raise DataError(f"{where}: the text is empty, a sentence with zero tokens; remove the "
                            "line or fill the text in")
        if not isinstance(ents, list):
            raise DataError(f"{where}: {entities_key!r} must be a list of "
                            "{'start', 'end', 'label'} objects, found " + type(ents).__name__)
        words, seq, offs = spans_to_conll(text, ents, where=where)
        tokens.append(words)
        tags.append(seq)
        lines.append(lineno)
        texts.append(text)
        offsets.append(offs)
    if not tokens:
        raise DataError(f"{source} is empty: expected JSON lines with {text_key!r} and {entities_key!r}")
    invalid = [(lines[i], t) for i, seq in enumerate(tags) for t in seq if not _TAG_RE.match(t)]
    if invalid:
        raise DataError(_bad_tag_message(source, invalid))
    repairs = _repair_all(tags, [[line] * len(s) for line, s in zip(lines, tags, strict=True)],
                          source, Repair.WARN if scheme == TagScheme.IOB1 else policy,
                          announce=scheme == TagScheme.IOB2)
    mixed = token_style and texts
    return TokenDataset(tokens=tokens, tags=tags, source=source, lines=lines,
                        repairs=[] if scheme == TagScheme.IOB1 else repairs,
                        texts=None if (mixed or not texts) else texts,
                        offsets=None if (mixed or not texts) else offsets)


def read_spans_jsonl(
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    text_key: str = "text",
    entities_key: str = "entities",
    scheme: TagScheme | str = TagScheme.IOB2,
    repair: Repair | str = Repair.WARN,
) -> TokenDataset:
    """Read JSONL with character-offset entities (or ``tokens``/``tags`` lists) per line.

    Args:
        path: the ``.jsonl`` file (a ``.json`` array of the same objects also works).
        encoding: text encoding.
        text_key, entities_key: names of the text and entity-list keys.
        scheme, repair: as in :func:`read_conll` (only used for ``tokens``/``tags`` lines;
            character spans are always valid).

    Example:
        >>> data = read_spans_jsonl("tickets_ner.jsonl")  # doctest: +SKIP
    """
    path = Path(path)
    text = _read_text(path, encoding, "JSON lines like {\"text\": ..., \"entities\": [...]}")
    records: list[tuple[int, Any]] = []
    unit = "line"
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            array = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
        if not isinstance(array, list):
            raise DataError(f"{path}: expected a JSON array of objects, found {type(array).__name__}")
        records, unit = list(enumerate(array, start=1)), "record"
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {lineno} is not valid JSON ({exc.msg}); each line "
                                "must be one JSON object") from None
    return _from_records(records, str(path), text_key=text_key, entities_key=entities_key,
                         scheme=_enum(TagScheme, scheme, "scheme"),
                         policy=_enum(Repair, repair, "repair"), unit=unit)


def load_ner_dataset(
    source: Any,
    *,
    file_format: str | None = None,
    encoding: str = "utf-8",
    scheme: TagScheme | str = TagScheme.IOB2,
    repair: Repair | str = Repair.WARN,
    text_key: str = "text",
    entities_key: str = "entities",
    split: float | None = None,
    seed: int = 42,
) -> TokenDataset | tuple[TokenDataset, TokenDataset]:
    """Load NER data from a CoNLL file, a JSONL span file, or a list of records.

    Args:
        source: a path (``.jsonl``/``.json`` = spans; any other suffix = CoNLL), a
            :class:`TokenDataset`, or a list of ``{"text", "entities"}`` or
            ``{"tokens", "tags"}`` dicts.
        file_format: ``"conll"`` or ``"jsonl"`` to override the suffix.
        encoding: text encoding of the file.
        scheme: ``"IOB2"`` (= BIO) or ``"IOB1"``.
        repair: ``"warn"`` or ``"error"`` for invalid ``I-`` tags (module docstring).
        text_key, entities_key: keys of span records.
        split: fraction of sentences held out for validation; returns ``(train, validation)``.
        seed: seed of the split.

    Returns:
        A :class:`TokenDataset`, or ``(train, validation)`` when ``split`` is given.

    Example:
        >>> train, val = load_ner_dataset("train.conll", split=0.1)  # doctest: +SKIP
        >>> test = load_ner_dataset("test.jsonl")  # doctest: +SKIP
    """
    if isinstance(source, TokenDataset):
        dataset = source
    elif isinstance(source, list):
        dataset = _from_records(list(enumerate(source, start=1)), "<records>", text_key=text_key,
                                entities_key=entities_key, scheme=_enum(TagScheme, scheme, "scheme"),
                                policy=_enum(Repair, repair, "repair"), unit="record")
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        fmt = (file_format or "").lower().lstrip(".")
        if fmt not in ("", "conll", "jsonl", "json"):
            raise DataError(f"file_format expects 'conll' or 'jsonl', found {file_format!r}")
        is_jsonl = fmt in ("jsonl", "json") or (not fmt and path.suffix.lower() in JSONL_SUFFIXES)
        if is_jsonl:
            dataset = read_spans_jsonl(path, encoding=encoding, text_key=text_key,
                                       entities_key=entities_key, scheme=scheme, repair=repair)
        else:
            dataset = read_conll(path, encoding=encoding, scheme=scheme, repair=repair)
    else:
        raise DataError(f"expected a CoNLL/JSONL path, a TokenDataset or a list of dicts, found "
                        f"{type(source).__name__}")
    if split is None:
        return dataset
    return dataset.split(split, seed=seed)


# ---------------------------------------------------------------------------------- writers
def write_conll(dataset: TokenDataset, path: str | os.PathLike[str]) -> Path:
    """Write ``token<TAB>tag`` lines with a blank line between sentences (atomically)."""
    if dataset.tags is None:
        raise DataError(f"{dataset.source} has no tags to write")
    body = "\n\n".join(
        "\n".join(f"{tok}\t{tag}" for tok, tag in zip(toks, tags, strict=True))
        for toks, tags in zip(dataset.tokens, dataset.tags, strict=True)
    )
    return write_text_atomic(path, body + "\n")


def write_spans_jsonl(dataset: TokenDataset, path: str | os.PathLike[str]) -> Path:
    """Write one ``{"text", "entities"}`` JSON object per sentence (atomically)."""
    lines = [json.dumps(rec, ensure_ascii=False) for rec in dataset.to_spans()]
    return write_text_atomic(path, "\n".join(lines) + "\n")

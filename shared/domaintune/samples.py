"""Sample data from small template files: the core's intent sample, and the tools apps use for
theirs.

The core's sample is a labelled text-classification set, messages to the fictional Northwind
Bank with their intent (``data/support/intents.csv`` and ``intents_test.csv``), composed from
``sample_data/intents.yaml`` (templates, slot fillers, prefixes, suffixes, typos; see that
file), and a small NER set in CoNLL form (``data/ner/train.conll`` and ``test.conll``: a few
dozen sentences with PER / ORG / LOC entities, from ``sample_data/ner.yaml``). It is what ``make demo``'s "Text classifier" tab and the README's ``domaintune train``
example train on; the support bot's sample (``support_bot.samples``) adds its FAQ and
out-of-scope messages beside it. Generation is seeded and stdlib-only (plus PyYAML to read the
templates): the output is byte-for-byte the same on every run and takes well under a second.

For apps: :func:`write_csv_atomic`, :func:`normalise` (the key used to de-duplicate texts)
and :func:`read_sample_file`.

Example:
    >>> paths = write_samples("data")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['intents', 'intents_test']
    >>> sorted(write_ner_samples("data"))  # doctest: +SKIP
    ['ner_test', 'ner_train']
"""

from __future__ import annotations

import csv
import io
import logging
import random
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .persistence import write_text_atomic

logger = logging.getLogger(__name__)

SAMPLE_DATA = Path(__file__).with_name("sample_data")
INTENTS_FILE = SAMPLE_DATA / "intents.yaml"
NER_FILE = SAMPLE_DATA / "ner.yaml"

# name -> (path relative to the data folder, header)
FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "intents": ("support/intents.csv", ("text", "intent")),
    "intents_test": ("support/intents_test.csv", ("text", "intent")),
}
# name -> path relative to the data folder (CoNLL: token<TAB>tag, a blank line between sentences)
NER_FILES: dict[str, str] = {"ner_train": "ner/train.conll", "ner_test": "ner/test.conll"}
SOCIAL_INTENTS = ("greeting", "thanks", "goodbye")

Rows = list[tuple[str, ...]]


# ------------------------------------------------------------------------------ helpers for apps
def read_sample_file(path: str | Path) -> dict[str, Any]:
    """The mapping of a YAML template file (a clear ``ConfigError`` if it is not one)."""
    from .config import read_yaml_mapping

    return read_yaml_mapping(path)


def normalise(text: str) -> str:
    """Normalised form used for de-duplication (case, punctuation and spacing ignored)."""
    return " ".join(re.sub(r"[^\w£€$]+", " ", text.lower()).split())


def write_csv_atomic(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Write a CSV (``\\n`` line ends, UTF-8, mode 0644) through a temporary file in the same
    folder renamed into place, so a reader never sees half a file."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def missing_files(data_dir: str | Path, files: dict[str, tuple[str, tuple[str, ...]]],
                  force: bool = False) -> tuple[dict[str, Path], list[str]]:
    """``({name: path}, names to write)`` for a table of sample files under ``data_dir``."""
    paths = {name: Path(data_dir) / rel for name, (rel, _) in files.items()}
    return paths, [name for name, p in paths.items() if force or not p.exists()]


# ------------------------------------------------------------------------------ the intent sample
@lru_cache(maxsize=1)
def _spec() -> dict[str, Any]:
    return read_sample_file(INTENTS_FILE)


def intent_labels() -> list[str]:
    """The intents of the core's sample, in file order (templated ones, then the social ones)."""
    return [*_spec()["templates"], *SOCIAL_INTENTS]


class _Composer:
    """Composes messages from the template file (the rules are code, the words are data)."""

    _SLOT = re.compile(r"\{(\w+)\}")

    def __init__(self, spec: dict[str, Any], rng: random.Random) -> None:
        self.s, self.rng = spec, rng
        self.not_repeated = frozenset(spec["not_repeated"])
        self.social: dict[str, Callable[[], str]] = {
            "greeting": self.greeting, "thanks": self.thanks, "goodbye": self.goodbye}

    def fill(self, template: str) -> str:
        """Replace ``{slot}`` markers; a slot used twice gets two different values."""
        used: dict[str, list[str]] = {}

        def pick(m: re.Match[str]) -> str:
            taken = used.setdefault(m.group(1), [])
            value = self.rng.choice([v for v in self.s["slots"][m.group(1)] if v not in taken])
            taken.append(value)
            return value

        return self._SLOT.sub(pick, template)

    @staticmethod
    def _decap(text: str) -> str:
        """Lower-case the first letter when it follows a prefix (keeps "I", "PIN", ...)."""
        first = text.split(" ", 1)[0]
        starts_with_i = re.match(r"I(\b|')", text) is not None
        if starts_with_i or (len(first) > 1 and first.isupper()) or not first[:1].isupper():
            return text
        return text[0].lower() + text[1:]

    def typo(self, text: str) -> str:
        """Introduce one realistic typo (known misspelling or swapped letters)."""
        rng, misspellings = self.rng, self.s["misspellings"]
        words = list(re.finditer(r"[A-Za-z]+", text))
        known = [m for m in words if m.group().lower() in misspellings]
        if known and rng.random() < 0.6:
            m = rng.choice(known)
            repl = misspellings[m.group().lower()]
            if m.group()[0].isupper():
                repl = repl[0].upper() + repl[1:]
            return text[: m.start()] + repl + text[m.end():]
        long_words = [m for m in words if len(m.group()) >= 5]
        if not long_words:
            return text
        m = rng.choice(long_words)
        w = m.group()
        i = rng.randrange(1, len(w) - 2)
        return text[: m.start()] + w[:i] + w[i + 1] + w[i] + w[i + 2:] + text[m.end():]

    def vary_surface(self, text: str, typo_p: float = 0.08) -> str:
        """Casing, trailing punctuation and typo noise shared by all intents."""
        rng = self.rng
        if rng.random() < typo_p:
            text = self.typo(text)
        r = rng.random()
        if r < 0.18:
            text = text.rstrip("?.!")
        elif r < 0.22 and text.endswith("?"):
            text += "??"
        if rng.random() < 0.25:
            text = text.lower()
        elif text[:1].islower():
            text = text[0].upper() + text[1:]
        return text

    def templated(self, template: str) -> str:
        s, rng = self.s, self.rng
        if template.startswith("^"):
            return self.vary_surface(template[1:], typo_p=0.0)
        core = self.fill(template)
        prefix = self.fill(rng.choice(s["prefixes"])) if rng.random() < s["prefix_p"] else ""
        if self.not_repeated & set(normalise(prefix).split()) & set(normalise(core).split()):
            prefix = ""
        suffix = ""
        if rng.random() < s["suffix_p"]:
            pool = s["suffixes"] + s["question_suffixes"] if core.endswith("?") else s["suffixes"]
            suffix = rng.choice(pool)
            if self.not_repeated & set(normalise(prefix + core).split()) & set(normalise(suffix).split()):
                suffix = ""
        if prefix and not prefix.endswith(". ") and not template.startswith("{"):
            core = self._decap(core)
        if suffix and core[-1] not in "?.!":
            core += "."
        return self.vary_surface(prefix + core + suffix)

    def greeting(self) -> str:
        g, rng = self.s["greeting"], self.rng
        text = f"{rng.choice(g['bases'])} {rng.choice(g['targets'])}".strip()
        return self.vary_surface(text + rng.choice(g["tails"]), typo_p=0.0)

    def thanks(self) -> str:
        t, rng = self.s["thanks"], self.rng
        core, takes_object = rng.choice(t["cores"])
        opener = rng.choice(t["openers"])
        obj = rng.choice(t["objects"]) if takes_object else ""
        text = ", ".join(p for p in (opener, " ".join(p for p in (core, obj) if p)) if p)
        return self.vary_surface(text + rng.choice(t["tails"]), typo_p=0.04)

    def goodbye(self) -> str:
        g, rng = self.s["goodbye"], self.rng
        core, takes_opener = rng.choice(g["cores"])
        opener = rng.choice(g["openers"]) if takes_opener else ""
        text = f"{opener}, {core}" if opener else core
        return self.vary_surface(text + rng.choice(g["tails"]), typo_p=0.0)

    def utterances(self, intent: str, n: int, seen: set[str]) -> list[str]:
        """``n`` messages whose normalised keys are new to ``seen`` (updated)."""
        templates = self.s["templates"].get(intent, [])
        out: list[str] = []
        for attempt in range(200 * n):
            if intent in self.social:
                text = self.social[intent]()
            else:  # round-robin over templates so every phrasing is represented
                text = self.templated(templates[attempt % len(templates)])
            k = normalise(text)
            if k and k not in seen:
                seen.add(k)
                out.append(text)
                if len(out) == n:
                    return out
        raise ValueError(f"{INTENTS_FILE}: could not generate {n} unique messages for intent "
                         f"{intent!r}; add templates or slot values for it")


def build_samples(seed: int | None = None) -> dict[str, Rows]:
    """The intent sample in memory: ``{"intents": rows, "intents_test": rows}`` (no headers)."""
    spec = _spec()
    rng = random.Random(spec["seed"] if seed is None else seed)
    composer = _Composer(spec, rng)
    seen = {normalise(t) for t in spec.get("reserved", [])}
    n_train, n_test = spec["train_per_intent"], spec["test_per_intent"]
    train: Rows = []
    test: Rows = []
    for intent in intent_labels():
        texts = composer.utterances(intent, n_train + n_test, seen)
        rng.shuffle(texts)
        train += [(t, intent) for t in texts[:n_train]]
        test += [(t, intent) for t in texts[n_train:]]
    rng.shuffle(train)
    rng.shuffle(test)
    return {"intents": train, "intents_test": test}


Sentence = list[tuple[str, str]]  # (token, IOB2 tag)


def build_ner_samples(seed: int | None = None) -> dict[str, list[Sentence]]:
    """The NER sample in memory: ``{"ner_train": sentences, "ner_test": sentences}``."""
    spec = read_sample_file(NER_FILE)
    rng = random.Random(spec["seed"] if seed is None else seed)
    templates, slots = spec["templates"], spec["slots"]
    wanted = {"ner_train": int(spec["train_sentences"]), "ner_test": int(spec["test_sentences"])}
    seen: set[str] = set()
    sentences: list[Sentence] = []
    total = sum(wanted.values())
    for attempt in range(200 * total):
        sentence: Sentence = []
        used: set[str] = set()
        for token in templates[attempt % len(templates)].split():
            slot = re.fullmatch(r"\{(\w+)\}", token)
            if slot is None:
                sentence.append((token, "O"))
                continue
            kind = slot.group(1)
            value = rng.choice([v for v in slots[kind] if v not in used])
            used.add(value)
            sentence += [(word, f"{'B' if i == 0 else 'I'}-{kind}")
                         for i, word in enumerate(value.split())]
        key = " ".join(t for t, _ in sentence)
        if key not in seen:
            seen.add(key)
            sentences.append(sentence)
            if len(sentences) == total:
                break
    else:
        raise ValueError(f"{NER_FILE}: could not compose {total} different sentences; add "
                         "templates or slot values")
    rng.shuffle(sentences)
    return {"ner_train": sentences[: wanted["ner_train"]],
            "ner_test": sentences[wanted["ner_train"]:]}


def write_samples(data_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write the core's intent sample CSVs under ``data_dir`` (only missing files unless
    ``force``). The NER sample has its own writer, :func:`write_ner_samples`.

    Returns:
        ``{"intents": path, "intents_test": path}``.
    """
    paths, todo = missing_files(data_dir, FILES, force)
    if todo:
        tables = build_samples()
        for name in todo:
            write_csv_atomic(paths[name], FILES[name][1], tables[name])
        logger.info("wrote the intent sample: %s", ", ".join(str(paths[n]) for n in todo))
    return paths


def write_ner_samples(data_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write the core's NER sample (CoNLL) under ``data_dir`` (only missing files unless
    ``force``).

    Returns:
        ``{"ner_train": path, "ner_test": path}`` (``ner/train.conll``, ``ner/test.conll``).

    Example:
        >>> write_ner_samples("data")["ner_train"]  # doctest: +SKIP
        PosixPath('data/ner/train.conll')
    """
    paths = {name: Path(data_dir) / rel for name, rel in NER_FILES.items()}
    todo = [name for name, p in paths.items() if force or not p.exists()]
    if todo:
        corpus = build_ner_samples()
        for name in todo:
            write_text_atomic(paths[name], "\n\n".join(
                "\n".join(f"{token}\t{tag}" for token, tag in sentence)
                for sentence in corpus[name]) + "\n")
        logger.info("wrote the NER sample: %s", ", ".join(str(paths[n]) for n in todo))
    return paths

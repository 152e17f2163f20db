"""The support bot's sample data: an FAQ and out-of-scope messages for the fictional Northwind
Bank, beside the core's intent sample (``domaintune.samples``), all under ``data/support/``.

The texts live in ``sample_data/faq.yaml`` and ``sample_data/oos.yaml`` (see their headers);
this module turns them into CSV files (atomic writes; only missing files unless ``force``)::

    support/intents.csv       text,intent                    (the core's sample, training)
    support/intents_test.csv  text,intent                    (the core's sample, held out)
    support/faq.csv           id,question,answer,intent,tags (FAQ knowledge base)
    support/oos.csv           text                           (out-of-scope messages)
    support/faq_queries.csv   query,faq_id                   (held-out FAQ queries)

Every text is checked to occur once across all five files, so that no FAQ question or OOS
message is also a training message.

Example:
    >>> paths = write_samples("data")  # doctest: +SKIP
    >>> paths["faq"]  # doctest: +SKIP
    PosixPath('data/support/faq.csv')
"""

from __future__ import annotations

import logging
from pathlib import Path

from domaintune import samples as core_samples

logger = logging.getLogger(__name__)

SAMPLE_DATA = Path(__file__).with_name("sample_data")
FAQ_FILE = SAMPLE_DATA / "faq.yaml"
OOS_FILE = SAMPLE_DATA / "oos.yaml"

FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "faq": ("support/faq.csv", ("id", "question", "answer", "intent", "tags")),
    "oos": ("support/oos.csv", ("text",)),
    "faq_queries": ("support/faq_queries.csv", ("query", "faq_id")),
}
FAQ_QUESTION_SEP = " || "  # the bot's default faq.question_separator
FAQ_TAG_SEP = ";"  # and faq.tag_separator

Rows = core_samples.Rows


def build_samples() -> dict[str, Rows]:
    """The FAQ, its held-out queries and the OOS messages in memory (rows without headers)."""
    entries = core_samples.read_sample_file(FAQ_FILE)["entries"]
    faq: Rows = []
    queries: Rows = []
    for i, entry in enumerate(entries, start=1):
        faq_id = f"faq-{i:03d}"
        faq.append((faq_id, FAQ_QUESTION_SEP.join(entry["questions"]), entry["answer"],
                    entry["intent"], FAQ_TAG_SEP.join(entry["tags"])))
        queries += [(q, faq_id) for q in entry["queries"]]
    topics = core_samples.read_sample_file(OOS_FILE)["topics"]
    oos: Rows = [(text,) for texts in topics.values() for text in texts]
    return {"faq": faq, "oos": oos, "faq_queries": queries}


def validate(tables: dict[str, Rows], intents: list[str]) -> None:
    """Every text once across the intent sample, the FAQ questions, its queries and the OOS
    messages; FAQ intents known; query ids known.

    Raises:
        ValueError: listing every problem (text, where it is, and where it is too).
    """
    problems: list[str] = []
    keys: dict[str, str] = {}

    def claim(text: str, where: str) -> None:
        k = core_samples.normalise(text)
        if k in keys:
            problems.append(f"duplicate text {text!r} ({where} vs {keys[k]})")
        keys[k] = where

    for name in ("intents", "intents_test"):
        for text, intent in tables[name]:
            claim(text, name)
            if intent not in intents:
                problems.append(f"unknown intent {intent!r}")
    for (text,) in tables["oos"]:
        claim(text, "oos")
    faq_ids = [row[0] for row in tables["faq"]]
    if len(set(faq_ids)) != len(faq_ids):
        problems.append("duplicate FAQ ids")
    for _, question, _, intent, _ in tables["faq"]:
        if intent not in intents:
            problems.append(f"FAQ has unknown intent {intent!r}")
        for q in question.split(FAQ_QUESTION_SEP):
            claim(q, "faq question")
    for query, faq_id in tables["faq_queries"]:
        claim(query, "faq query")
        if faq_id not in faq_ids:
            problems.append(f"faq query refers to unknown id {faq_id!r}")
    if problems:
        raise ValueError(f"invalid sample data in {FAQ_FILE}, {OOS_FILE} or "
                         f"{core_samples.INTENTS_FILE} (a text the intent sample must not contain "
                         "goes under `reserved` in the latter):\n  " + "\n  ".join(problems))


def write_samples(data_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write the bot's sample CSVs under ``data_dir`` (and the core's intent sample it trains
    on); only missing files unless ``force`` (``AppSpec.samples``).

    Returns:
        ``{name: path}`` for ``intents``, ``intents_test``, ``faq``, ``oos``, ``faq_queries``.
    """
    paths = core_samples.write_samples(data_dir, force=force)
    own, todo = core_samples.missing_files(data_dir, FILES, force)
    if todo:
        tables = {**core_samples.build_samples(), **build_samples()}
        validate(tables, core_samples.intent_labels())
        for name in todo:
            core_samples.write_csv_atomic(own[name], FILES[name][1], tables[name])
        logger.info("wrote the support bot's samples: %s", ", ".join(str(own[n]) for n in todo))
    return {**paths, **own}

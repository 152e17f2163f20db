"""Tickers mentioned in a document: cashtags, a watchlist of companies, an optional NER model.

Rules (each text is scanned once by one compiled regular expression built from the config and
the watchlist):

- **Cashtags** (``entities.cashtags``): ``$`` then 1 to 6 letters, then optionally a share-class
  suffix ``.X`` / ``-X`` of 1 or 2 letters: ``$AAPL``, ``$aapl`` (upper-cased to ``AAPL``),
  ``$BRK.B``, ``$RDS-B``. The ``$`` must start the text or follow a space, an opening bracket
  or quote, or one of ``, ; ! ? / * < >``; the tag must end at a non-word character, so
  trailing punctuation and possessives are fine (``$TSLA!``, ``$AAPL's``). Not cashtags:
  amounts (``$5``, ``$5.2bn``, ``$100k``, ``$ 100``), a ``$`` inside a word (``US$``,
  ``foo$ABC``), 7 letters or more, and anything inside a URL (``https://...``, ``www...``).
  With a watchlist and ``entities.cashtags_on_watchlist_only``, only its tickers are kept.
- **Watchlist names and aliases**: whole words (not preceded or followed by a letter, digit,
  ``_`` or ``&``, so ``AT&T`` and ``Johnson & Johnson`` are single names, and ``Apple's`` or
  ``Apple,`` mention Apple but ``Apples`` and ``Pineapple`` do not), case-insensitively
  (``APPLE``, ``apple``). Spaces in a name match any run of whitespace; ``'`` also matches
  ``’``. A name or alias written entirely in capitals with at most 4 letters (``GM``, ``IBM``,
  ``AT&T``, ``3M``) matches only in capitals, so ``gm`` or ``Gm`` do not. Note that
  case-insensitive names also match common nouns (``apple pie``): prefer specific aliases.
  When names overlap the longest wins (``Johnson & Johnson`` over ``Johnson``).
- **Bare tickers** (``entities.bare_tickers``, needs a watchlist): the watchlist's tickers
  written in capitals as whole words (``AAPL beats``; ``aapl`` does not count), except
  one-letter tickers and tickers in :data:`COMMON_WORDS` (``A``, ``IT``, ``ALL``, ``ON``,
  ``CEO``, ``EPS`` ...), which are found only as cashtags or by name. The stop list does not
  apply to cashtags or to the watchlist's names and aliases.
- **NER** (``entities.ner_model``, optional): entities of type ``ORG`` (also ``organization``,
  ``company``) found by a domaintune token classifier are looked up among the watchlist's
  names, aliases and tickers, ignoring case, punctuation, a possessive ``'s`` and company
  suffixes (``Inc``, ``Corp.``, ``plc`` ...); an entity not on the watchlist adds nothing.

A document's tickers are upper-case, unique and sorted; a text that is not a string (a missing
value) has none.

Example:
    >>> from finance_monitor.config import EntityConfig
    >>> wl = [WatchEntry("GM", "General Motors", ("GM",)), WatchEntry("T", "AT&T", ())]
    >>> ex = TickerExtractor(EntityConfig(), wl)
    >>> ex.extract("General Motors' truck recall hits AT&T? $brk.b up, $5.2bn deal, gm flat")
    ['BRK.B', 'GM', 'T']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domaintune import DataError, read_table
from finance_monitor.config import EntityConfig

#: capitalised words and abbreviations that are not taken as bare tickers
COMMON_WORDS = frozenset("""
A I AM AN AND ANY ARE AS AT BE BIG BY CAN DO FOR GO GOOD HAS HE HER HIS IF IN IS IT ITS ME MY
NEW NO NOT NOW OF OK ON ONE OR OUR OUT SEE SO THE TO TOP TWO UP US WAS WE WHO WHY YES YOU ALL
BEST BUY CAR CASH EVER FAST FUN HOLD HUGE LOVE LOW HIGH MOVE NEXT PLAY REAL RUN SELL WELL
CEO CFO COO CTO CIO CEOS IPO IPOS ETF ETFS EPS PE EV EVS AI API IT TV PR HR IR PC PM AM EST EDT
PST UTC GMT ET PT USA UK EU UN US USD EUR GBP JPY CNY GDP CPI PPI PMI FED FOMC ECB BOE SEC FDA
FTC DOJ IRS FBI NYSE OTC LLC INC LTD PLC CO CORP YOY QOQ YTD MOM ATH ATL DD IMO FYI TBH LOL
OMG WSJ CNBC FT NEWS Q1 Q2 Q3 Q4 H1 H2 FY ESG EBIT EBITDA ROI ROE NAV AUM M&A OPEC OIL GAS
""".split())

_CASHTAG_BEFORE = "\\s(\\[{\"'“‘,;!?/*<>"  # characters a cashtag's $ may follow
_CASHTAG = (rf"(?<![^{_CASHTAG_BEFORE}])\$"
            r"(?P<cash>[A-Za-z]{1,6}(?:[.\-][A-Za-z]{1,2})?)(?![\w$])")
_URL = r"(?P<url>(?:https?://|www\.)\S+)"
_TICKER = re.compile(r"[A-Z0-9]{1,10}(?:[.\-][A-Z0-9]{1,4})?")
_ORG_TYPES = frozenset({"org", "organization", "organisation", "company", "corporation"})
_SUFFIXES = frozenset("inc incorporated corp corporation co company ltd limited plc llc ag sa se "
                      "nv group holdings holding".split())
_NER_PUNCT = re.compile(r"[^\w&\s]+")


@dataclass(frozen=True)
class WatchEntry:
    """A company on the watchlist: its ticker (upper case), name and aliases."""

    ticker: str
    name: str
    aliases: tuple[str, ...] = ()


def _is_caps_short(phrase: str) -> bool:
    """Written entirely in capitals with at most 4 letters (``GM``, ``AT&T``, ``3M``)."""
    letters = [c for c in phrase if c.isalpha()]
    return 0 < len(letters) <= 4 and not any(c.islower() for c in phrase)


def _normalize(phrase: str) -> str:
    return " ".join(phrase.replace("’", "'").split())


def _trie_regex(phrases: Iterable[str]) -> str:
    """One regex matching any of ``phrases``, as a trie (shared prefixes are tested once, the
    longest phrase wins); a space matches any whitespace, ``'`` also ``’``."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = True

    def emit(node: dict[str, Any]) -> str:
        alternatives = []
        for ch in sorted(k for k in node if k):
            atom = r"\s+" if ch == " " else "['’]" if ch == "'" else re.escape(ch)
            alternatives.append(atom + emit(node[ch]))
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


def _ner_key(text: str) -> str:
    """An organisation's name reduced for lookup: lower case, no punctuation, no possessive,
    no company suffix (``"Apple Inc.'s"`` -> ``"apple"``)."""
    text = text.replace("’", "'").lower().strip()
    text = re.sub(r"'s?$", "", text)
    words = _NER_PUNCT.sub(" ", text).split()
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words)


class TickerExtractor:
    """Finds the tickers a text mentions (rules in the module docstring).

    Args:
        config: the ``entities`` section of the monitor config.
        watchlist: the companies to look for by name, alias and bare ticker.
        ner: a token classifier (anything with ``predict(list[str]) -> list[list[dict]]``,
            such as ``domaintune.TokenClassifier``) whose ORG entities are matched to the
            watchlist; by default the one at ``config.ner_model``, loaded on first use with
            ``domaintune.load``.

    Example:
        >>> ex = TickerExtractor(EntityConfig(), [WatchEntry("AAPL", "Apple Inc.", ("Apple",))])
        >>> ex.extract("Apple's iPhone sales beat; AAPL and $MSFT up, $5 fee")
        ['AAPL', 'MSFT']
        >>> ex.extract_many(["nothing here", "$aapl"])
        [[], ['AAPL']]
    """

    def __init__(self, config: EntityConfig, watchlist: Sequence[WatchEntry] = (), *,
                 ner: Any = None) -> None:
        self.config = config
        self.watchlist = tuple(watchlist)
        self._ner = ner
        self._tickers = frozenset(e.ticker for e in self.watchlist)
        insensitive: dict[str, set[str]] = {}  # lower-cased phrase -> tickers
        sensitive: dict[str, set[str]] = {}  # exact phrase -> tickers
        self._ner_index: dict[str, set[str]] = {}
        for entry in self.watchlist:
            for phrase in (entry.name, *entry.aliases):
                phrase = _normalize(phrase)
                if not phrase:
                    continue
                if _is_caps_short(phrase):
                    sensitive.setdefault(phrase, set()).add(entry.ticker)
                else:
                    insensitive.setdefault(phrase.lower(), set()).add(entry.ticker)
            for phrase in (entry.name, *entry.aliases, entry.ticker):
                key = _ner_key(phrase)
                if key:
                    self._ner_index.setdefault(key, set()).add(entry.ticker)
            if (config.bare_tickers and entry.ticker not in COMMON_WORDS
                    and sum(c.isalpha() for c in entry.ticker) >= 2):
                sensitive.setdefault(entry.ticker, set()).add(entry.ticker)
        self._insensitive = {k: frozenset(v) for k, v in insensitive.items()}
        self._sensitive = {k: frozenset(v) for k, v in sensitive.items()}
        branches = [_URL]
        if config.cashtags:
            branches.append(_CASHTAG)
        names = []
        if insensitive:
            names.append(f"(?P<ci>(?i:{_trie_regex(sorted(insensitive))}))")
        if sensitive:
            names.append(f"(?P<cs>{_trie_regex(sorted(sensitive))})")
        if names:
            branches.append(rf"(?<![\w&$])(?:{'|'.join(names)})(?![\w&])")
        self._pattern = re.compile("|".join(branches))
        self._filter_cashtags = bool(config.cashtags_on_watchlist_only and self._tickers)

    @classmethod
    def from_config(cls, config: EntityConfig) -> TickerExtractor:
        """An extractor with the watchlist file of ``config.watchlist`` (if any).

        Example:
            >>> ex = TickerExtractor.from_config(EntityConfig(watchlist="watchlist.csv"))  # doctest: +SKIP
        """
        return cls(config, load_watchlist(config.watchlist) if config.watchlist else ())

    @property
    def tickers(self) -> frozenset[str]:
        """The watchlist's tickers."""
        return self._tickers

    def _scan(self, text: str) -> set[str]:
        found: set[str] = set()
        for match in self._pattern.finditer(text):
            group = match.lastgroup
            if group == "cash":
                ticker = match.group("cash").upper()
                if not self._filter_cashtags or ticker in self._tickers:
                    found.add(ticker)
            elif group == "ci":
                found |= self._insensitive[_normalize(match.group("ci")).lower()]
            elif group == "cs":
                found |= self._sensitive[_normalize(match.group("cs"))]
        return found

    def extract(self, text: Any) -> list[str]:
        """The sorted unique tickers ``text`` mentions (``[]`` for a missing value)."""
        return self.extract_many([text])[0]

    def extract_many(self, texts: Sequence[Any]) -> list[list[str]]:
        """The tickers of each text: one regex pass per text (and one NER call for them all)."""
        found = [self._scan(t) if isinstance(t, str) and t else set() for t in texts]
        if self._ner is not None or self.config.ner_model:
            for tickers, more in zip(found, self._ner_tickers(texts), strict=True):
                tickers |= more
        return [sorted(tickers) for tickers in found]

    # ------------------------------------------------------------------ NER
    def _load_ner(self) -> Any:
        if self._ner is None:
            import domaintune

            self._ner = domaintune.load(self.config.ner_model)
            if not hasattr(self._ner, "predict"):
                raise DataError(f"entities.ner_model: expected a token classifier (NER model), "
                                f"found a {type(self._ner).__name__} in {self.config.ner_model}; "
                                "train one with `domaintune ner train` or remove ner_model")
        return self._ner

    def _ner_tickers(self, texts: Sequence[Any]) -> list[set[str]]:
        out: list[set[str]] = [set() for _ in texts]
        todo = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        if not todo or not self._ner_index:
            return out
        predictions = self._load_ner().predict([texts[i] for i in todo])
        for i, entities in zip(todo, predictions, strict=True):
            for entity in entities:
                if str(entity.get("type", "")).lower() in _ORG_TYPES:
                    out[i] |= self._ner_index.get(_ner_key(str(entity.get("text", ""))), set())
        return out


# ---------------------------------------------------------------------- watchlist files


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _aliases(value: Any, where: str) -> tuple[str, ...]:
    if _missing(value):
        return ()
    if isinstance(value, str):
        items: Iterable[Any] = value.split(";")
    elif hasattr(value, "__iter__") and not isinstance(value, (bytes, dict)):
        items = list(value)  # a JSON or Parquet list
    else:
        raise DataError(f"{where}, field 'aliases': expected ';'-separated names or a list of "
                        f"names, found {value!r}")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise DataError(f"{where}, field 'aliases': expected names (strings), found "
                            f"{item!r}")
        if _normalize(item) and _normalize(item) not in out:
            out.append(_normalize(item))
    return tuple(out)


def load_watchlist(path: str | Path) -> list[WatchEntry]:
    """The companies of a watchlist file: CSV, TSV, JSONL or Parquet with the columns
    ``ticker`` and ``name`` and optionally ``aliases`` (``;``-separated in CSV, a string or a
    list in JSONL/Parquet); other columns are ignored. Tickers are upper-cased (a leading ``$``
    is dropped) and must look like ``AAPL``, ``BRK.B`` or ``7203``.

    Raises:
        DataError: a missing, empty or unreadable file, missing columns, an empty or invalid
            ticker or name, a ticker listed twice (naming the file, row and field).

    Example:
        ``watchlist.csv``::

            ticker,name,aliases
            AAPL,Apple Inc.,Apple;iPhone maker
            GM,General Motors,GM

        >>> load_watchlist("watchlist.csv")[0]  # doctest: +SKIP
        WatchEntry(ticker='AAPL', name='Apple Inc.', aliases=('Apple', 'iPhone maker'))
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"watchlist {path} is empty: expected a header 'ticker,name,aliases' "
                        "and one row per company")
    frame, name = read_table(path)
    found = [str(c) for c in frame.columns]
    missing = [c for c in ("ticker", "name") if c not in found]
    if missing:
        raise DataError(f"expected columns ['ticker', 'name'] (and optionally 'aliases') in the "
                        f"watchlist {name}, found {found}; rename the columns (missing: "
                        f"{missing})")
    aliases = frame["aliases"].tolist() if "aliases" in frame.columns else [None] * len(frame)
    entries: list[WatchEntry] = []
    first_row: dict[str, int] = {}
    for row, (ticker, company, alias) in enumerate(
            zip(frame["ticker"].tolist(), frame["name"].tolist(), aliases, strict=True), start=1):
        where = f"watchlist {name}: row {row}"
        if not isinstance(ticker, str) or not _TICKER.fullmatch(ticker.strip().lstrip("$").upper()):
            raise DataError(f"{where}, field 'ticker': expected a ticker such as 'AAPL' or "
                            f"'BRK.B', found {ticker!r}; fix the ticker or remove the row")
        ticker = ticker.strip().lstrip("$").upper()
        if not isinstance(company, str) or not _normalize(company):
            raise DataError(f"{where}, field 'name': expected the company's name for {ticker}, "
                            f"found {company!r}; fill the name in")
        if ticker in first_row:
            raise DataError(f"{where}, field 'ticker': {ticker} is already on row "
                            f"{first_row[ticker]}; merge the two rows (put the other names in "
                            "'aliases')")
        first_row[ticker] = row
        entries.append(WatchEntry(ticker, _normalize(company), _aliases(alias, where)))
    if not entries:
        raise DataError(f"watchlist {name} has no rows: expected one row per company")
    return entries

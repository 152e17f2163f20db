"""Ticker extraction: cashtags, watchlist names/aliases and their case rules, bare tickers,
the stop list, NER hook, and clear errors for bad watchlist files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from domaintune import DataError
from finance_monitor.config import EntityConfig
from finance_monitor.entities import COMMON_WORDS, TickerExtractor, WatchEntry, load_watchlist

WATCHLIST = [
    WatchEntry("AAPL", "Apple Inc.", ("Apple",)),
    WatchEntry("JNJ", "Johnson & Johnson", ("J&J",)),
    WatchEntry("JCI", "Johnson Controls", ("Johnson",)),
    WatchEntry("T", "AT&T", ()),
    WatchEntry("GM", "General Motors", ("GM",)),
    WatchEntry("IBM", "International Business Machines", ("IBM",)),
    WatchEntry("IT", "Gartner", ()),
    WatchEntry("ALL", "Allstate", ()),
    WatchEntry("BRK.B", "Berkshire Hathaway", ("Berkshire",)),
    WatchEntry("MCD", "McDonald's", ()),
    WatchEntry("NVDA", "NVIDIA", ()),
]


@pytest.fixture
def ex():
    return TickerExtractor(EntityConfig(), WATCHLIST)


@pytest.fixture
def cashtags_only():
    return TickerExtractor(EntityConfig())


@pytest.mark.parametrize("text,expected", [
    ("$AAPL beats", ["AAPL"]),
    ("$aapl beats", ["AAPL"]),
    ("Buying $BRK.B and $brk.a", ["BRK.A", "BRK.B"]),
    ("$RDS-B slides", ["RDS-B"]),
    ("$TSLA! $AAPL, $MSFT. ($GOOG) \"$AMZN\" $META?", ["AAPL", "AMZN", "GOOG", "META", "MSFT",
                                                     "TSLA"]),
    ("$AAPL's new phone", ["AAPL"]),
    ("pair trade $AAPL/$MSFT", ["AAPL", "MSFT"]),
    ("$A and $ABCDEF", ["A", "ABCDEF"]),
    ("$TSLA.", ["TSLA"]),
])
def test_cashtags(cashtags_only, text, expected):
    assert cashtags_only.extract(text) == expected


@pytest.mark.parametrize("text", [
    "costs $5 a share", "a $5.2bn deal", "$100k salary", "raised $ 100 million", "$5.",
    "foo$ABC", "US$5 and HK$ABC", "$ABCDEFG is too long", "see https://x.com/$NVDA now",
    "www.example.com/q?s=$AMD", "$1B buyback", "$", "price: $$$",
])
def test_amounts_words_and_urls_are_not_cashtags(cashtags_only, text):
    assert cashtags_only.extract(text) == []


def test_without_a_watchlist_names_and_bare_tickers_find_nothing(cashtags_only):
    assert cashtags_only.extract("Apple and AAPL rally") == []


@pytest.mark.parametrize("text,expected", [
    ("Apple Inc. shares rise", ["AAPL"]),
    ("APPLE and apple", ["AAPL"]),  # names ignore case
    ("Apple's results beat", ["AAPL"]),  # possessive
    ("Apple’s results beat", ["AAPL"]),  # curly apostrophe
    ("Apples and pineapple prices", []),  # whole words only
    ("Apple-branded chips", ["AAPL"]),
    ("Johnson & Johnson recalls talc", ["JNJ"]),  # longest name wins over 'Johnson'
    ("Johnson  &\nJohnson", ["JNJ"]),  # any whitespace
    ("Johnson beats", ["JCI"]),
    ("J&J and AT&T", ["JNJ", "T"]),  # '&' inside names
    ("McDonald’s fries", ["MCD"]),
    ("Nvidia and NVIDIA", ["NVDA"]),  # 6 capitals: case-insensitive
    ("Berkshire Hathaway's letter", ["BRK.B"]),
])
def test_watchlist_names_and_aliases(ex, text, expected):
    assert ex.extract(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("GM recalls trucks", ["GM"]),
    ("gm recalls trucks", []),  # an alias in capitals of <= 4 letters only matches in capitals
    ("Gm recalls trucks", []),
    ("general motors recalls trucks", ["GM"]),
    ("IBM and ibm", ["IBM"]),
    ("AT&T and at&t", ["T"]),
    ("GMC and IBMers", []),  # whole words
])
def test_short_capital_aliases_match_only_in_capitals(ex, text, expected):
    assert ex.extract(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("AAPL beats, NVDA up", ["AAPL", "NVDA"]),
    ("(AAPL) and BRK.B", ["AAPL", "BRK.B"]),
    ("aapl lowercase is not a ticker", []),
    ("IT spending at ALL time high", []),  # stop-listed tickers are not bare tickers
    ("Gartner and $IT and $ALL", ["ALL", "IT"]),  # ... but their names and cashtags count
    ("T-Mobile and AT&T", ["T"]),  # one-letter bare tickers never count; the name does
    ("XAAPL AAPLX", []),
])
def test_bare_tickers(ex, text, expected):
    assert ex.extract(text) == expected


def test_bare_tickers_can_be_switched_off():
    ex = TickerExtractor(EntityConfig(bare_tickers=False), WATCHLIST)
    assert ex.extract("AAPL and NVDA up, GM too") == ["GM"]  # GM is an alias


def test_stop_list_holds_the_usual_suspects():
    assert {"A", "I", "IT", "ALL", "ON", "ARE", "CEO", "USA", "EPS"} <= COMMON_WORDS


def test_cashtags_on_watchlist_only_and_cashtags_off():
    ex = TickerExtractor(EntityConfig(cashtags_on_watchlist_only=True), WATCHLIST)
    assert ex.extract("$AAPL $TSLA $brk.b") == ["AAPL", "BRK.B"]
    off = TickerExtractor(EntityConfig(cashtags=False), WATCHLIST)
    assert off.extract("$TSLA and Apple") == ["AAPL"]
    # the filter needs a watchlist: without one every cashtag is kept
    alone = TickerExtractor(EntityConfig(cashtags_on_watchlist_only=True))
    assert alone.extract("$TSLA") == ["TSLA"]


def test_results_are_sorted_unique_and_missing_values_have_none(ex):
    assert ex.extract("$NVDA Apple $AAPL AAPL apple NVIDIA $aapl") == ["AAPL", "NVDA"]
    assert ex.extract_many(["GM up", None, float("nan"), "", "$ibm"]) == [
        ["GM"], [], [], [], ["IBM"]]
    assert ex.extract(None) == []
    assert ex.tickers == {e.ticker for e in WATCHLIST}


def test_the_watchlist_is_one_compiled_pattern(ex):
    assert ex._pattern.pattern.count("(?P<") == 4  # url, cashtag, names, capitals


class FakeNER:
    """Stands in for domaintune.TokenClassifier: the same predict output format."""

    def __init__(self):
        self.calls = []

    def predict(self, texts):
        assert isinstance(texts, list)
        self.calls.append(list(texts))
        out = []
        for text in texts:
            ents = []
            for name, kind in (("Alphabet Inc.", "ORG"), ("Apple Inc's", "org"),
                               ("Tim Cook", "PER"), ("Unknown Corp", "ORG"), ("Gartner", "PER")):
                start = text.find(name)
                if start >= 0:
                    ents.append({"type": kind, "text": name, "start": start,
                                 "end": start + len(name), "score": 0.9})
            out.append(ents)
        return out


def test_ner_org_entities_are_matched_to_the_watchlist():
    wl = [*WATCHLIST, WatchEntry("GOOGL", "Alphabet", ("Google",))]
    ner = FakeNER()
    ex = TickerExtractor(EntityConfig(), wl, ner=ner)
    texts = ["Alphabet Inc. and Unknown Corp", "", None, "Tim Cook of Apple Inc's board",
             "Gartner says"]
    assert ex.extract_many(texts) == [["GOOGL"], [], [], ["AAPL"], ["IT"]]
    # one call for the whole batch, only real texts; 'Gartner' typed PER adds nothing, the
    # name itself still matches
    assert ner.calls == [["Alphabet Inc. and Unknown Corp", "Tim Cook of Apple Inc's board",
                          "Gartner says"]]


def test_ner_model_is_loaded_from_the_config_on_first_use(monkeypatch):
    import domaintune

    loaded = []

    def fake_load(path):
        loaded.append(path)
        return FakeNER()

    monkeypatch.setattr(domaintune, "load", fake_load)
    ex = TickerExtractor(EntityConfig(ner_model="models/ner"),
                         [WatchEntry("GOOGL", "Alphabet", ())])
    assert loaded == []
    assert ex.extract("Alphabet Inc. results") == ["GOOGL"]
    assert ex.extract("Alphabet Inc. again") == ["GOOGL"]
    assert loaded == ["models/ner"]


def test_ner_model_that_is_not_a_tagger_is_a_clear_error(monkeypatch):
    import domaintune

    monkeypatch.setattr(domaintune, "load", lambda path: object())
    ex = TickerExtractor(EntityConfig(ner_model="models/clf"), [WatchEntry("A", "Agilent", ())])
    with pytest.raises(DataError, match="expected a token classifier"):
        ex.extract("Agilent")


# ---------------------------------------------------------------- watchlist files


def test_load_watchlist_csv_and_from_config(tmp_path):
    path = tmp_path / "watchlist.csv"
    path.write_text("ticker,name,aliases,sector\n$aapl , Apple  Inc.,Apple; iPhone maker;;Apple,"
                    "tech\nBRK.B,Berkshire Hathaway,,fin\nGM,General Motors,GM,auto\n",
                    encoding="utf-8")
    entries = load_watchlist(path)
    assert entries == [WatchEntry("AAPL", "Apple Inc.", ("Apple", "iPhone maker")),
                       WatchEntry("BRK.B", "Berkshire Hathaway", ()),
                       WatchEntry("GM", "General Motors", ("GM",))]
    ex = TickerExtractor.from_config(EntityConfig(watchlist=str(path)))
    assert ex.extract("the iPhone maker and gm, GM") == ["AAPL", "GM"]


def test_load_watchlist_jsonl_and_parquet_lists(tmp_path):
    rows = [{"ticker": "AAPL", "name": "Apple Inc.", "aliases": ["Apple", "iPhone maker"]},
            {"ticker": "MSFT", "name": "Microsoft", "aliases": "Redmond giant"},
            {"ticker": "NVDA", "name": "NVIDIA"}]
    jsonl = tmp_path / "wl.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    expected = [WatchEntry("AAPL", "Apple Inc.", ("Apple", "iPhone maker")),
                WatchEntry("MSFT", "Microsoft", ("Redmond giant",)),
                WatchEntry("NVDA", "NVIDIA", ())]
    assert load_watchlist(jsonl) == expected
    parquet = tmp_path / "wl.parquet"  # a Parquet list column (numpy arrays when read)
    pd.DataFrame({"ticker": ["AAPL", "MSFT", "NVDA"], "name": ["Apple Inc.", "Microsoft", "NVIDIA"],
                  "aliases": [["Apple", "iPhone maker"], ["Redmond giant"], None]}).to_parquet(parquet)
    assert load_watchlist(parquet) == expected


def test_no_watchlist_in_config_gives_cashtags_only():
    assert TickerExtractor.from_config(EntityConfig()).watchlist == ()


@pytest.mark.parametrize("content,match", [
    ("symbol,company\nAAPL,Apple\n",
     r"expected columns \['ticker', 'name'\].*found \['symbol', 'company'\]"),
    ("ticker,name\nAAPL,Apple\n,Nameless\n", r"row 2, field 'ticker': expected a ticker.*found ''"),
    ("ticker,name\nAAPL,Apple\nBRK B,Berkshire\n", r"row 2, field 'ticker'.*'BRK B'"),
    ("ticker,name\nAAPL,Apple\nMSFT,\n", r"row 2, field 'name': expected the company's name for MSFT"),
    ("ticker,name\nAAPL,Apple\nMSFT,Microsoft\naapl,Apple again\n",
     r"row 3, field 'ticker': AAPL is already on row 1; merge"),
    ("ticker,name\n", r"has no rows"),
    ("", r"is empty"),
])
def test_bad_watchlist_files_name_the_file_row_and_field(tmp_path, content, match):
    path = tmp_path / "wl.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match) as info:
        load_watchlist(path)
    assert "wl.csv" in str(info.value)


def test_bad_aliases_and_missing_or_malformed_files(tmp_path):
    path = tmp_path / "wl.jsonl"
    path.write_text('{"ticker": "AAPL", "name": "Apple", "aliases": [1, 2]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"row 1, field 'aliases': expected names"):
        load_watchlist(path)
    path.write_text('{"ticker": "AAPL", "name": "Apple"}\n{"ticker": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2 is not valid JSON"):
        load_watchlist(path)
    with pytest.raises(DataError, match="does not exist"):
        load_watchlist(tmp_path / "missing.csv")

"""Convert the StockNet tweets into an input file for ``finance-monitor score``.

Input: ``stocknet_tweets_prices/tweets_preprocessed.jsonl.gz`` under the datasets folder
(``--datasets``, else the environment variable ``DOMAINTUNE_DATASETS``, else
``../shared/datasets`` next to the repository; see
``../shared/datasets/stocknet_tweets_prices/README.md``): 106,338 tweets of 2014-2015, one JSON
object a line with ``ticker`` (the stock the tweet was collected for: 87 tickers), ``date``,
``created_at`` (``Wed Jan 01 03:59:03 +0000 2014``), ``user_id_str`` and ``tokens`` (lower-cased
tokens; ``$ aapl`` for a cashtag, ``AT_USER`` and ``URL`` for mentions and links).

Output (``--output``; the format follows the extension: ``.csv``, ``.jsonl``, ``.parquet``,
``.csv.gz``, ``.jsonl.gz``), one row per tweet, sorted by time (then id): the source is grouped
by ticker, and a stream in that order would make most documents *late* for the monitor's
windows (``--order file`` keeps the source order):

| column | what |
|---|---|
| ``id`` | ``sn-<line number>`` (1-based line of the source file: stable across runs) |
| ``timestamp`` | ``created_at`` as ISO 8601 UTC, ``2014-01-01T03:59:03Z`` |
| ``text`` | the tokens joined by spaces; with ``--rejoin-cashtags`` (default) ``$ aapl`` becomes ``$AAPL`` so the monitor's cashtag rule finds it |
| ``ticker`` | the StockNet ticker tag (upper case, e.g. ``BRK-A``) |

Lines that are not JSON or lack ``tokens``/``created_at``/``ticker`` are skipped and counted by
reason (with the first line numbers) in the summary.

Usage:
    python data/prepare_stocknet.py --output data/prepared/stocknet/stream.jsonl
        [--datasets ../shared/datasets] [--tickers AAPL,FB] [--limit N] [--order time|file]
        [--no-rejoin-cashtags]
    finance-monitor score data/prepared/stocknet/stream.jsonl --model MODEL_DIR
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELATIVE = Path("stocknet_tweets_prices") / "tweets_preprocessed.jsonl.gz"
FORMATS = (".csv", ".jsonl", ".parquet", ".csv.gz", ".jsonl.gz")
_CASHTAG = re.compile(r"\$ ([a-z]{1,6}(?:[.-][a-z])?)\b")


class PrepareError(ValueError):
    """The source file is missing or the output path has an unknown format."""


def default_datasets() -> Path:
    """``$DOMAINTUNE_DATASETS``, else ``../shared/datasets`` next to the repository."""
    return Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))


def source_path(datasets: Path | None = None) -> Path:
    path = (datasets or default_datasets()) / RELATIVE
    if not path.is_file():
        raise PrepareError(f"expected the StockNet tweets at {path}, found no such file; pass "
                           "--datasets (the folder holding stocknet_tweets_prices/) or set "
                           "DOMAINTUNE_DATASETS")
    return path


def parse_created_at(value: str) -> datetime:
    """``Wed Jan 01 03:59:03 +0000 2014`` as an aware UTC datetime."""
    return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").astimezone(timezone.utc)


def tweet_text(tokens: list[str], rejoin_cashtags: bool = True) -> str:
    """The tokens joined by spaces (``$ aapl`` -> ``$AAPL`` when ``rejoin_cashtags``)."""
    text = " ".join(str(t) for t in tokens)
    if rejoin_cashtags:
        text = _CASHTAG.sub(lambda m: "$" + m.group(1).upper(), text)
    return text


def read_tweets(path: Path, skipped: Counter | None = None, rejoin_cashtags: bool = True,
                tickers: set[str] | None = None) -> Iterator[dict]:
    """Yield ``{"id", "timestamp" (aware datetime), "text", "ticker", "tokens"}`` per valid line
    of the StockNet file; invalid lines are counted in ``skipped`` by reason."""
    skipped = skipped if skipped is not None else Counter()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                record = json.loads(line)
                tokens, created, ticker = record["tokens"], record["created_at"], record["ticker"]
            except (json.JSONDecodeError, KeyError, TypeError):
                skipped["malformed lines"] += 1
                continue
            ticker = str(ticker).upper()
            if tickers is not None and ticker not in tickers:
                continue
            try:
                ts = parse_created_at(str(created))
            except ValueError:
                skipped["unparseable created_at"] += 1  # not in the 2018 release
                continue
            yield {"id": f"sn-{number:06d}", "timestamp": ts,
                   "text": tweet_text(tokens, rejoin_cashtags), "ticker": ticker,
                   "tokens": tokens}


def output_format(path: Path) -> str:
    name = path.name.lower()
    for ext in FORMATS:
        if name.endswith(ext):
            return ext
    raise PrepareError(f"expected --output ending in one of {list(FORMATS)}, found {path.name}; "
                       "e.g. --output data/prepared/stocknet/stream.jsonl")


def write_rows(rows: list[dict], path: Path) -> None:
    """Write ``rows`` (id, timestamp ISO string, text, ticker) atomically in the format of
    ``path``'s extension."""
    import pandas as pd

    ext = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["id", "timestamp", "text", "ticker"])
    tmp = path.with_name(path.name + ".tmp")
    if ext == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif ext.startswith(".csv"):
        frame.to_csv(tmp, index=False, compression="gzip" if ext.endswith(".gz") else None)
    else:
        frame.to_json(tmp, orient="records", lines=True, force_ascii=False,
                      compression="gzip" if ext.endswith(".gz") else None)
    os.replace(tmp, path)


def prepare(output: Path, datasets: Path | None = None, tickers: set[str] | None = None,
            limit: int | None = None, rejoin_cashtags: bool = True,
            order: str = "time") -> tuple[int, Counter]:
    """Write the monitor input file; returns (rows written, skipped lines by reason).
    ``limit`` keeps the first N valid lines of the source; ``order`` is ``time`` or ``file``."""
    if order not in ("time", "file"):
        raise PrepareError(f"expected order 'time' or 'file', found {order!r}")
    output_format(output)
    skipped: Counter = Counter()
    rows = []
    for tweet in read_tweets(source_path(datasets), skipped, rejoin_cashtags, tickers):
        rows.append({"id": tweet["id"],
                     "timestamp": tweet["timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "text": tweet["text"], "ticker": tweet["ticker"]})
        if limit is not None and len(rows) >= limit:
            break
    if order == "time":
        rows.sort(key=lambda row: (row["timestamp"], row["id"]))
    write_rows(rows, output)
    return len(rows), +skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True,
                        help="the file to write (.csv, .jsonl, .parquet, .csv.gz, .jsonl.gz)")
    parser.add_argument("--datasets", type=Path, default=None,
                        help="folder holding stocknet_tweets_prices/ (default: "
                             "$DOMAINTUNE_DATASETS or ../shared/datasets)")
    parser.add_argument("--tickers", default=None, help="comma-separated tickers to keep")
    parser.add_argument("--limit", type=int, default=None, help="write at most N rows")
    parser.add_argument("--order", choices=("time", "file"), default="time",
                        help="sort the rows by timestamp (default) or keep the source order")
    parser.add_argument("--no-rejoin-cashtags", dest="rejoin", action="store_false",
                        help="keep '$ aapl' as two tokens")
    args = parser.parse_args(argv)
    tickers = ({t.strip().upper() for t in args.tickers.split(",") if t.strip()}
               if args.tickers else None)
    try:
        count, skipped = prepare(args.output, args.datasets, tickers, args.limit, args.rejoin,
                                 args.order)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} tweets to {args.output}; skipped "
          + (", ".join(f"{n} {reason}" for reason, n in skipped.items()) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

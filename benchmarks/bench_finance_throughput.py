"""Throughput of ``finance-monitor score`` end to end: read -> score -> aggregate -> store.

Usage:
    python benchmarks/bench_finance_throughput.py [--rows 100000 1000000] [--model DIR]
        [--precision int8|fp32|torch] [--chunk-size 2000] [--scratch /tmp/fm-throughput]

The input is the real StockNet tweet stream (``data/prepare_stocknet.py``: 106,338 tweets, time
ordered) repeated as often as needed for ``--rows``: copy *k* of *K* is shifted by (*k* - *K* + 1) x 731
days (the copies precede the real 2014-2015 stream, none lies in the future) and its ids get a
``-k`` suffix, so every row is a new document of a time-ordered stream (the texts
repeat, and the monitor does not cache texts, so every row costs one model inference). Written
as JSON lines (not compressed) in the scratch folder; the watchlist is StockNet's 87 companies
(``StockTable``).

The model is ``--model`` (a PyTorch model directory; default: the PhraseBank model of
``bench_finance_sentiment.py`` when ``models/phrasebank-sentiment`` exists, else the demo's
frozen sentiment model trained here: the same MiniLM encoder, so the same speed), exported with
``domaintune export`` (``--int8`` for ``--precision int8``). ``--pipeline-only`` swaps the model for a 1-layer, 32-dimension random encoder with MiniLM's
tokenizer (trained ``frozen`` on the sample headlines and exported the same way): everything
but the transformer's arithmetic (tokenizing, reading, ids, tickers, windows, detection,
SQLite) at its real cost, so that 1,000,000 rows run in minutes and show whether memory stays
flat with the input's size. Each size runs once as a fresh
``finance-monitor score`` process on a new SQLite database; measured: wall time of the process
(start-up included), the job's own documents/s, and the peak RSS of the process
(``ru_maxrss`` of the child). Appends a JSON line per run to ``benchmarks/out/finance_throughput.jsonl``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
BIN = Path(sys.executable).parent


def _prepare_module():
    spec = importlib.util.spec_from_file_location("prepare_stocknet",
                                                  ROOT / "data" / "prepare_stocknet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_input(rows: int, path: Path) -> Path:
    """``rows`` documents of the StockNet stream (repeated and shifted), as JSON lines."""
    if path.exists():
        return path
    prep = _prepare_module()
    tweets = sorted(prep.read_tweets(prep.source_path()), key=lambda r: (r["timestamp"], r["id"]))
    tmp = path.with_suffix(".tmp")
    written = 0
    copies = -(-rows // len(tweets))
    with open(tmp, "w", encoding="utf-8") as out:
        copy = 0
        while written < rows:
            # copies go back in time (the last one is the real 2014-2015 stream), so that no
            # document lies in the future (the monitor skips those) and the stream stays ordered
            shift = timedelta(days=731 * (copy - copies + 1))
            for t in tweets:
                ts = (t["timestamp"] + shift).astimezone(timezone.utc)
                out.write(json.dumps({"id": f"{t['id']}-{copy}",
                                      "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "text": t["text"]}) + "\n")
                written += 1
                if written >= rows:
                    break
            copy += 1
    tmp.rename(path)
    return path


def build_watchlist(path: Path) -> Path:
    prep = _prepare_module()
    table = prep.source_path().parent / "StockTable"
    lines = ["ticker,name,aliases"]
    for line in table.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 3:
            name = parts[2].strip().replace('"', "")
            lines.append(f"{parts[1].strip().lstrip('$')},\"{name}\",")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_model(scratch: Path) -> Path:
    """A 1-layer, 32-dim random BERT with the packaged MiniLM's tokenizer, trained frozen."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from domaintune import TextClassifier, TrainingConfig, load_dataset
    from domaintune.hub import resolve_model
    from finance_monitor.samples import write_samples

    out = scratch / "tiny-sentiment"
    if out.is_dir():
        return out
    encoder = scratch / "tiny-encoder"
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("default")))
    tokenizer.save_pretrained(str(encoder))
    import torch

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=512)).save_pretrained(str(encoder))
    samples = write_samples(scratch / "data")
    train = load_dataset(samples["sentiment_train"], text="text", label="label")
    clf = TextClassifier.from_pretrained(str(encoder), labels=train.label_names)
    clf.fit(train, None, TrainingConfig(method="frozen", progress=False))
    clf.save(out)
    return out


def model_dir(scratch: Path, given: str | None, pipeline_only: bool = False) -> Path:
    if pipeline_only:
        return tiny_model(scratch)
    if given:
        return Path(given)
    phrasebank = ROOT / "models" / "phrasebank-sentiment"
    if phrasebank.is_dir():
        return phrasebank
    from finance_monitor.samples import write_samples
    from finance_monitor.training import train_demo_model

    samples = write_samples(scratch / "data")
    return train_demo_model(samples, scratch / "demo-sentiment")


def export(model: Path, scratch: Path, precision: str) -> Path:
    if precision == "torch":
        return model
    target = scratch / f"export-{model.name}-{precision}"
    if not target.is_dir():
        args = [str(BIN / "domaintune"), "export", str(model), "--output", str(target), "--json"]
        if precision == "int8":
            args += ["--int8", "--max-int8-drop", "100"]
        subprocess.run(args, check=True, capture_output=True)
    return target


def run_once(input_path: Path, model: Path, scratch: Path, watchlist: Path,
             chunk_size: int) -> dict:
    db = scratch / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    config = scratch / "monitor.yaml"
    config.write_text(f"entities:\n  watchlist: {watchlist}\nwindows:\n  size: hour\n")
    args = [str(BIN / "finance-monitor"), "score", str(input_path), "--model", str(model),
            "--db", f"sqlite:///{db}", "--config", str(config), "--chunk-size", str(chunk_size),
            "--no-progress", "--json"]
    start = time.perf_counter()
    log = scratch / "stderr.txt"
    with open(log, "w") as err:  # a file, not a pipe: a full pipe would block the child
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        stdout = proc.stdout.read()  # one JSON line, at the end
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = log.read_text()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"finance-monitor score failed ({proc.returncode}): {stderr[-2000:]}")
    result = json.loads(stdout)
    return {"rows": result["read"], "scored": result["scored"], "wall_s": round(wall, 1),
            "job_s": result["seconds"], "documents_per_s_wall": round(result["scored"] / wall, 1),
            "documents_per_s_job": result["documents_per_s"],
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "alerts": result["alerts_raised"], "late": result["late"],
            "db_mb": round(db.stat().st_size / 2**20, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--model")
    parser.add_argument("--precision", choices=["int8", "fp32", "torch"], default="int8")
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--scratch", default="/tmp/fm-throughput")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="a tiny random encoder instead of MiniLM (see the module doc)")
    args = parser.parse_args(argv)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    model = model_dir(scratch, args.model, args.pipeline_only)
    served = export(model, scratch, args.precision)
    watchlist = build_watchlist(scratch / "watchlist.csv")
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        for rows in args.rows:
            path = build_input(rows, scratch / f"stream-{rows}.jsonl")
            load_before = os.getloadavg()
            figures = run_once(path, served, scratch, watchlist, args.chunk_size)
            record = {"benchmark": "finance_throughput", "date": datetime.now(timezone.utc)
                      .isoformat(timespec="seconds"), "machine": f"{platform.machine()}, "
                      f"{os.cpu_count()} CPU cores, {platform.python_version()}",
                      "model": "tiny random encoder (--pipeline-only)" if args.pipeline_only
                      else str(model), "precision": args.precision,
                      "chunk_size": args.chunk_size, "input_mb": round(path.stat().st_size / 2**20, 1),
                      "load_before": [round(x, 2) for x in load_before],
                      "load_after": [round(x, 2) for x in os.getloadavg()], **figures}
            print(json.dumps(record), flush=True)
            with open(OUT / "finance_throughput.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

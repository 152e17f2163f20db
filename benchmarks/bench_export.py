"""ONNX export benchmark: PyTorch vs ONNX Runtime fp32 vs ONNX Runtime int8.

Usage:
    python benchmarks/bench_export.py [--model-dir benchmarks/out/banking77-full] [--n-single 500]
    python benchmarks/bench_export.py --tasks ner --ner-model-dir benchmarks/out/wnut17-ner \
        [--ner-data wnut17|wikigold] [--limit 500]
    # a smoke run on 50 sentences with any saved NER model (e.g. bench_wnut17.py --save-dir):
    python benchmarks/bench_export.py --tasks ner --ner-model-dir MODEL --limit 50 --n-single 20

For a trained BANKING77 classifier (default: the one ``bench_banking77.py full`` saves) and for
the packaged MiniLM bi-encoder, it exports fp32 and int8 ONNX graphs and measures, per runtime:
test accuracy and agreement with the PyTorch predictions, single-message latency (p50/p99 over
``--n-single`` test messages, one at a time, after a warm-up), batch throughput (the whole test
set, batches of 64, median of 3), load time and file size; for the bi-encoder, the largest
difference and the lowest cosine to the PyTorch embeddings. Appends one JSON line to
``benchmarks/out/export.jsonl``; RESULTS.md quotes it.

``--tasks ner`` measures a saved NER tagger (``--ner-model-dir``, e.g. the one
``bench_wnut17.py --save-dir`` writes) on the WNUT-17 test sentences (or WikiGold's, IOB1;
WikiGold has no official split, so all of it is used): sentences/s batched (batches of 64,
median of 3) and single-sentence p50/p99 for PyTorch, ONNX Runtime fp32 and int8, plus entity
F1 (seqeval) and the share of sentences whose entities are exactly PyTorch's. Sentences are
the CoNLL tokens joined by spaces, so the tagger's whitespace words are the dataset's tokens.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_banking77 import OUT, load, record  # noqa: E402

from domaintune import TextClassifier  # noqa: E402
from domaintune.export import OnnxBiEncoder, OnnxNerModel, OnnxTextClassifier  # noqa: E402
from domaintune.pairs import BiEncoder  # noqa: E402

NER_FILES = {"wnut17": ("wnut17/emerging.test.annotated", "iob2"),
             "wikigold": ("wikigold/wikigold.conll.txt", "iob1")}


def timings(fn, texts: list[str], n_single: int) -> dict[str, float]:
    fn(texts[:64])  # warm-up
    batch = []
    for _ in range(3):
        start = time.perf_counter()
        fn(texts)
        batch.append(time.perf_counter() - start)
    single = []
    for text in texts[:n_single]:
        start = time.perf_counter()
        fn([text])
        single.append((time.perf_counter() - start) * 1000)
    return {"single_ms_p50": round(float(np.percentile(single, 50)), 2),
            "single_ms_p99": round(float(np.percentile(single, 99)), 2),
            "batch_texts_per_s": round(len(texts) / statistics.median(batch), 1)}


def size_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def ner_sentences(name: str, limit: int | None):
    from bench_wnut17 import DATA

    from domaintune.ner import read_conll

    relative, scheme = NER_FILES[name]
    path = DATA.parent / relative
    if not path.is_file():
        sys.exit(f"{name} not found at {path}; set DOMAINTUNE_DATASETS to the datasets folder")
    data = read_conll(path, scheme=scheme)
    return data.subset(range(min(limit, len(data)))) if limit else data


def bench_ner(args) -> None:
    """PyTorch vs ONNX fp32 vs ONNX int8 sentences/s (and entity F1) for a saved NER tagger."""
    from domaintune.ner import TokenClassifier

    if not (args.ner_model_dir / "domaintune.json").is_file():
        sys.exit(f"{args.ner_model_dir} is not a saved NER model; train one, e.g. `python "
                 "benchmarks/bench_wnut17.py --save-dir benchmarks/out/wnut17-ner`")
    data = ner_sentences(args.ner_data, args.limit)
    texts = [" ".join(tokens) for tokens in data.tokens]
    work = OUT / "export"
    result: dict = {"benchmark": "onnx-export-ner", "model_dir": str(args.ner_model_dir),
                    "data": args.ner_data, "n_sentences": len(texts), "n_single": args.n_single,
                    "n_tokens": data.n_tokens}
    start = time.perf_counter()
    ner = TokenClassifier.load(args.ner_model_dir, device="cpu")
    runs = {"torch": (ner, time.perf_counter() - start, size_mb(args.ner_model_dir))}
    known = set(ner.tags)
    tagged = data.tags is not None and all(t in known for seq in data.tags for t in seq)
    for precision in ("fp32", "int8"):
        start = time.perf_counter()
        directory = ner.export_onnx(work / f"ner-{precision}", quantize=precision == "int8",
                                    overwrite=True, validation=data if tagged else None)
        result[f"ner_export_seconds_{precision}"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        served = OnnxNerModel.load(directory)
        runs[f"onnx-{precision}"] = (served, time.perf_counter() - start, size_mb(directory))
        if precision == "int8":
            result["ner_int8_check"] = served.model.manifest.get("int8_check")
    reference = [[(e["type"], e["start"], e["end"]) for e in ents] for ents in ner.predict(texts)]
    for name, (model, load_s, mb) in runs.items():
        got = [[(e["type"], e["start"], e["end"]) for e in ents] for ents in model.predict(texts)]
        speed = timings(model.predict, texts, args.n_single)
        entry = {"entities_equal_to_torch": round(float(np.mean(
                     [a == b for a, b in zip(got, reference, strict=True)])), 4),
                 "size_mb": mb, "load_seconds": round(load_s, 2),
                 "single_ms_p50": speed["single_ms_p50"], "single_ms_p99": speed["single_ms_p99"],
                 "batch_sentences_per_s": speed["batch_texts_per_s"]}
        if tagged:
            entry["entity_f1"] = round(float(model.evaluate(data)["entity_f1"]), 4)
        result[f"ner_{name}"] = entry
    if not tagged:
        result["note"] = "entity F1 not measured: the data has entity types the model does not know"
    record(result, "export")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=OUT / "banking77-full")
    parser.add_argument("--n-single", type=int, default=500)
    parser.add_argument("--tasks", nargs="+", choices=["classifier", "ner"],
                        default=["classifier"],
                        help="classifier: the BANKING77 classifier and the MiniLM encoder; "
                             "ner: the tagger of --ner-model-dir")
    parser.add_argument("--ner-model-dir", type=Path, default=OUT / "wnut17-ner")
    parser.add_argument("--ner-data", choices=sorted(NER_FILES), default="wnut17")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N test texts / sentences (smoke runs)")
    args = parser.parse_args()
    if "ner" in args.tasks:
        bench_ner(args)
    if "classifier" not in args.tasks:
        return
    if not (args.model_dir / "domaintune.json").is_file():
        sys.exit(f"{args.model_dir} is not a saved classifier; run "
                 "`python benchmarks/bench_banking77.py full --epochs 3 --lr 5e-5 --val 0` first")
    _, test = load()
    texts, truth = test.texts[: args.limit], np.array(test.labels[: args.limit])
    work = OUT / "export"
    result: dict = {"benchmark": "onnx-export", "model_dir": str(args.model_dir),
                    "n_test": len(texts), "n_single": args.n_single}

    start = time.perf_counter()
    clf = TextClassifier.load(args.model_dir, device="cpu")
    runs = {"torch": (clf, time.perf_counter() - start, size_mb(args.model_dir))}
    reference = np.array(clf.predict(texts))
    for precision in ("fp32", "int8"):
        start = time.perf_counter()
        directory = clf.export_onnx(work / f"classifier-{precision}", quantize=precision == "int8")
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        served = OnnxTextClassifier.load(directory)
        runs[f"onnx-{precision}"] = (served, time.perf_counter() - start, size_mb(directory))
        result[f"classifier_export_seconds_{precision}"] = round(export_s, 1)
    for name, (model, load_s, mb) in runs.items():
        pred = np.array(model.predict(texts))
        result[f"classifier_{name}"] = {
            "accuracy": round(float(np.mean(pred == truth)), 4),
            "agreement_with_torch": round(float(np.mean(pred == reference)), 4),
            "size_mb": mb, "load_seconds": round(load_s, 2),
            **timings(model.predict_proba, texts, args.n_single)}

    encoder = BiEncoder.from_pretrained("default", device="cpu")
    vectors = encoder.encode(texts)
    encoders = {"torch": encoder}
    for precision in ("fp32", "int8"):
        encoders[f"onnx-{precision}"] = OnnxBiEncoder.load(
            encoder.export_onnx(work / f"encoder-{precision}", quantize=precision == "int8"))
    for name, enc in encoders.items():
        got = enc.encode(texts)
        result[f"encoder_{name}"] = {
            "max_abs_diff": float(np.abs(got - vectors).max()),
            "min_cosine": round(float(np.min(np.sum(got * vectors, axis=1))), 4),
            **timings(enc.encode, texts, args.n_single)}
    record(result, "export")


if __name__ == "__main__":
    main()

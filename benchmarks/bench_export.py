"""ONNX export benchmark: PyTorch vs ONNX Runtime fp32 vs ONNX Runtime int8.

Usage:
    python benchmarks/bench_export.py [--model-dir benchmarks/out/banking77-full] [--n-single 500]

For a trained BANKING77 classifier (default: the one ``bench_banking77.py full`` saves) and for
the packaged MiniLM bi-encoder, it exports fp32 and int8 ONNX graphs and measures, per runtime:
test accuracy and agreement with the PyTorch predictions, single-message latency (p50/p99 over
``--n-single`` test messages, one at a time, after a warm-up), batch throughput (the whole test
set, batches of 64, median of 3), load time and file size; for the bi-encoder, the largest
difference and the lowest cosine to the PyTorch embeddings. Appends one JSON line to
``benchmarks/out/export.jsonl``; RESULTS.md quotes it.
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
from domaintune.export import OnnxBiEncoder, OnnxTextClassifier  # noqa: E402
from domaintune.pairs import BiEncoder  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=OUT / "banking77-full")
    parser.add_argument("--n-single", type=int, default=500)
    args = parser.parse_args()
    if not (args.model_dir / "domaintune.json").is_file():
        sys.exit(f"{args.model_dir} is not a saved classifier; run "
                 "`python benchmarks/bench_banking77.py full --epochs 3 --lr 5e-5 --val 0` first")
    _, test = load()
    texts, truth = test.texts, np.array(test.labels)
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

"""The text recommender on MovieLens latest-small: the hybrid ranker against its baselines, what
fine-tuning the text model buys, an ablation (one feature group dropped at a time) and the
cold-start split. Results go to benchmarks/out/rec/ (JSON + a markdown snippet for RESULTS.md).

Protocol (the app's default, ``text-recommender split``): each user's last item rated >= 4 is the
test item, training is what came strictly before it; every method ranks all items the user has
not interacted with in training; HR@10 / NDCG@10 / MRR@10 / coverage@10. Cold start: 10% of the
items (seeded) lose every training interaction; HR@10 on the test users whose test item is one
of them, ranked among all items and among the cold items only.

Usage::

    python benchmarks/bench_recommender.py [--datasets ../shared/datasets] [--out benchmarks/out/rec]
        [--set section.key=value ...] [--skip-ablation] [--skip-cold] [--skip-frozen] [--reuse]

``--reuse`` loads REC_DIRs this script wrote before (same --set) instead of fitting them again.
Takes ~30-40 min on 2 CPU cores (three fits with fine-tuning on CPU dominate).
"""

from __future__ import annotations

import argparse
import json
import platform
import runpy
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
K = 10


def _machine() -> str:
    import faiss
    import lightgbm
    import torch

    cores = len(__import__("os").sched_getaffinity(0))
    return (f"{platform.machine()}, {cores} CPU cores, no GPU, Python {platform.python_version()}, "
            f"torch {torch.__version__}, faiss {faiss.__version__}, lightgbm {lightgbm.__version__}")


def _prepare(datasets: Path, out: Path) -> dict[str, Path]:
    files = {n: out / "data" / f"{n}.csv" for n in ("items", "interactions", "train", "test")}
    if not all(p.is_file() for p in files.values()):
        prepare = runpy.run_path(str(ROOT / "data" / "prepare_movielens.py"))
        code = prepare["main"](["--datasets", str(datasets), "--out", str(out / "data")])
        if code:
            raise SystemExit(f"prepare_movielens failed ({code})")
    return files


def _cold_split(files: dict[str, Path], out: Path, seed: int = 0) -> dict[str, Path]:
    cold_dir = out / "data-cold"
    if not (cold_dir / "train.csv").is_file():
        cmd = [sys.executable, "-m", "text_recommender.cli", "split", "--interactions",
               str(files["interactions"]), "--output", str(cold_dir), "--cold-fraction", "0.1",
               "--seed", str(seed), "--overwrite", "--json"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return {"train": cold_dir / "train.csv", "test": cold_dir / "test.csv",
            "cold": cold_dir / "cold_items.txt"}


def _fit(items: Path, train: Path, rec_dir: Path, overrides: list[str], reuse: bool):
    from text_recommender.config import RecConfig
    from text_recommender.service import Recommender

    if reuse and (rec_dir / "recommender.json").is_file():
        return Recommender.load(rec_dir), None
    cfg = RecConfig.load(None, overrides)
    start = time.perf_counter()
    rec = Recommender.fit(items, train, cfg, text_fields=["title", "year", "genres", "tags"],
                          progress=False)
    seconds = round(time.perf_counter() - start, 1)
    rec.save(rec_dir, overwrite=True)
    return rec, seconds


class _Masked:
    """A ranker trained on a subset of the feature columns, used like the full one."""

    def __init__(self, ranker, keep):
        self.ranker, self.keep = ranker, keep

    def predict(self, X):
        return self.ranker.predict(X[:, self.keep])


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _row(name: str, m: dict) -> str:
    cold = m.get(f"cold_start_hr@{K}")
    among = m.get(f"cold_start_hr@{K}_among_cold")
    return (f"| {name} | {m[f'hr@{K}']:.4f} | {m[f'ndcg@{K}']:.4f} | {m[f'mrr@{K}']:.4f} | "
            f"{m[f'coverage@{K}']:.4f} | {fmt(cold)} | {fmt(among)} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--out", default=str(HERE / "out" / "rec"))
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--skip-ablation", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-frozen", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    from text_recommender.evaluation import evaluate
    from text_recommender.features import FEATURE_GROUPS
    from text_recommender.service import fit_ranker_ablation

    hf_logging.disable_progress_bar()
    out = Path(args.out)
    datasets = Path(args.datasets) / "movielens_latest_small"
    if not datasets.is_dir():
        print(f"skipped: {datasets} is not there", file=sys.stderr)
        return 0
    files = _prepare(Path(args.datasets), out)
    results: dict = {"machine": _machine(), "date": datetime.now(timezone.utc).isoformat(
        timespec="minutes"), "overrides": args.set, "command": " ".join(
        ["python", "benchmarks/bench_recommender.py", *(argv or sys.argv[1:])])}

    rec, fit_s = _fit(files["items"], files["train"], out / "rec-main", args.set, args.reuse)
    results["fit_seconds"] = fit_s
    results["fit_report"] = rec.report
    start = time.perf_counter()
    main_eval = evaluate(rec, files["test"], k=K, baselines=True)
    results["main"] = main_eval
    results["evaluate_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps({"hybrid": {k: main_eval[k] for k in (f"hr@{K}", f"ndcg@{K}")},
                      "ease": {k: main_eval["baselines"]["ease"][k] for k in (f"hr@{K}", f"ndcg@{K}")}}),
          flush=True)

    if not args.skip_ablation and rec.ranker_rows is not None:
        ablation = {}
        full = rec.ranker
        rows = rec.ranker_rows
        from text_recommender.features import feature_mask

        for group in FEATURE_GROUPS:
            ranker = fit_ranker_ablation(rows["X"], rows["y"], rows["groups"], rec.config, group)
            rec.ranker = _Masked(ranker, feature_mask(group))
            m = evaluate(rec, files["test"], k=K, baselines=False)
            ablation[group] = {k: m[k] for k in (f"hr@{K}", f"ndcg@{K}", f"mrr@{K}",
                                                 f"coverage@{K}")}
            print(json.dumps({"without": group, **ablation[group]}), flush=True)
        rec.ranker = full
        results["ablation"] = ablation

    if not args.skip_frozen:
        frozen_rec, frozen_s = _fit(files["items"], files["train"], out / "rec-frozen",
                                    [*args.set, "finetune.enabled=false"], args.reuse)
        m = evaluate(frozen_rec, files["test"], k=K, baselines=False)
        results["hybrid_frozen"] = m
        results["hybrid_frozen_fit_seconds"] = frozen_s

    if not args.skip_cold:
        cold = _cold_split(files, out)
        cold_rec, cold_s = _fit(files["items"], cold["train"], out / "rec-cold", args.set,
                                args.reuse)
        results["cold"] = evaluate(cold_rec, cold["test"], k=K, baselines=True)
        results["cold"]["n_cold_items"] = len(cold["cold"].read_text().split())
        results["cold_fit_seconds"] = cold_s

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    lines = [f"Command: `{results['command']}`; machine: {results['machine']}; "
             f"{results['date']}.", "",
             "| method | HR@10 | NDCG@10 | MRR@10 | coverage@10 | cold HR@10 (all items) | "
             "cold HR@10 (among cold) |", "|---|---|---|---|---|---|---|"]
    lines.append(_row("**hybrid** (LightGBM lambdarank, fine-tuned text)", main_eval))
    if "hybrid_frozen" in results:
        lines.append(_row("hybrid, frozen text model", results["hybrid_frozen"]))
    for name, m in main_eval["baselines"].items():
        if m is not None:
            lines.append(_row(name, m))
    ease = main_eval["baselines"]["ease"][f"ndcg@{K}"]
    lines += ["", f"Hybrid / EASE NDCG@10: **{main_eval[f'ndcg@{K}'] / ease:.3f}×** "
              f"(target ≥ 1.15×). {main_eval['n_users']} test users."]
    if "ablation" in results:
        lines += ["", "| ablation: without | HR@10 | NDCG@10 | Δ NDCG@10 |", "|---|---|---|---|"]
        for group, m in results["ablation"].items():
            lines.append(f"| {group} ({', '.join(FEATURE_GROUPS[group])}) | {m[f'hr@{K}']:.4f} | "
                         f"{m[f'ndcg@{K}']:.4f} | {m[f'ndcg@{K}'] - main_eval[f'ndcg@{K}']:+.4f} |")
    if "cold" in results:
        c = results["cold"]
        lines += ["", f"Cold split: {c['n_cold_items']} cold items, {c['n_cold_users']} test "
                  "users whose test item is cold.", "",
                  "| method (cold split) | HR@10 all users | cold HR@10 (all items) | "
                  "cold HR@10 (among cold) |", "|---|---|---|---|"]
        lines.append(f"| hybrid | {c[f'hr@{K}']:.4f} | {fmt(c[f'cold_start_hr@{K}'])} | "
                     f"{fmt(c[f'cold_start_hr@{K}_among_cold'])} |")
        for name, m in c["baselines"].items():
            if m is not None:
                lines.append(f"| {name} | {m[f'hr@{K}']:.4f} | {fmt(m[f'cold_start_hr@{K}'])} | "
                             f"{fmt(m[f'cold_start_hr@{K}_among_cold'])} |")
    imp = rec.report.get("feature_importance", {})
    lines += ["", "Feature importance (gain share): " + ", ".join(
        f"{k} {v:.3f}" for k, v in list(imp.items())[:8])]
    lines += ["", f"Fit seconds: main {fit_s}, frozen {results.get('hybrid_frozen_fit_seconds')}, "
              f"cold {results.get('cold_fit_seconds')} (stages: "
              f"{json.dumps(rec.report.get('seconds'))}); evaluate {results['evaluate_seconds']} s."]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

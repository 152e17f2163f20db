"""Text recommender serving cost (issue 11's latency item): latency per request (p50/p90/p99,
explanations on), build times and memory, on the real MovieLens REC_DIR and on synthetic
catalogues of 100k / 1M items, so that the cost curve is known. Target: p99 <= 50 ms per user
at 10k items.

Usage::

    python benchmarks/bench_rec_latency.py real --rec-dir /tmp/ml/rec-default [--users 300]
    python benchmarks/bench_rec_latency.py synthetic --items 1000000 --index ivf [--nlist 1000]
        [--ranker-dir /tmp/ml/rec-default/ranker] [--users 300] [--profile]
    python benchmarks/bench_rec_latency.py report

* ``real``: ``Recommender.load(REC_DIR)`` (timed), warm-up, then ``recommend(user, k=10)``
  (explanations on, default diversity), the same with ``diversity=0.3``, and
  ``recommend_for_query`` (a rotating list of taste texts) for ``--users`` users sampled with
  ``--seed``; peak RSS (``getrusage``) and the REC_DIR size on disk; the fit time comes from the
  REC_DIR's own report.
* ``synthetic``: a ``Recommender`` built directly, without fitting a text model: random unit
  float32 embeddings (dim 384; one array serves as frozen and tuned, and the packaged MiniLM is
  both encoders, so each request still encodes the user's history text once), synthetic implicit
  interactions (``--sim-users`` users x ~``--per-user`` interactions, Zipf-like popularity over
  ``--active`` items, increasing timestamps), ``Behaviour.fit`` on the active items followed by
  ``Behaviour.grow(n_items)`` (the same models as a fit over the whole catalogue: never-seen
  items have no counts, EASE rows or neighbours; a direct fit at 1M is out of reach because
  ItemKNN.fit is quadratic in n_items, see ``knn_full_fit_estimate_s``), a core ``FaissIndex``
  of ``--index`` kind over all vectors, and the LightGBM ranker of a real REC_DIR (same
  FEATURES; its scores are meaningless on random data, its cost is real). EASE uses
  ``--ease-max-items`` (default 2000, not the app's 20000: the app's dense Gram matrix makes a
  20k-item EASE fit take tens of minutes on 2 cores; EASE's serving cost does not depend on it,
  rows are pruned to ``cf.ease_neighbors``). ``--profile`` writes a cProfile of 20 requests.
* ``report``: the latest record of each run (``benchmarks/out/rec_latency.jsonl``) as
  ``benchmarks/out/rec_latency.json`` and the markdown snippet ``rec_latency.md``.

Each run appends one JSON line (command, machine, date, results) to
``benchmarks/out/rec_latency.jsonl`` and rewrites the json/md from all records. Synthetic
behaviour fits are cached in ``benchmarks/out/rec_latency/`` (``--refit`` to redo them).
``--contended`` marks a run that shared the cores with another job (times are pessimistic).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import re
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
WORK = OUT / "rec_latency"
RESULTS_FILE = OUT / "rec_latency.jsonl"
DIM = 384
GENRES = ("Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
          "Western", "Children", "Film-Noir", "IMAX", "Biography")
QUERIES = ("space adventures with a twist", "haunted houses and slow-burning dread",
           "feel-good romantic comedy in Paris", "gritty crime drama about a heist",
           "animated film for the whole family", "epic war movie with great battles",
           "a mind-bending science fiction mystery", "documentary about music legends",
           "classic western with a lone gunslinger", "dark thriller with an unreliable narrator",
           "musical with catchy songs and dancing", "coming-of-age story set in the eighties")


# ---------------------------------------------------------------------------- helpers
def machine() -> str:
    import faiss
    import lightgbm
    import torch

    cores = len(os.sched_getaffinity(0))
    return (f"{platform.machine()}, {cores} CPU cores, no GPU, Python {platform.python_version()}, "
            f"torch {torch.__version__}, faiss "
            f"{faiss.__version__}, lightgbm {lightgbm.__version__}, numpy {np.__version__}")


def rss_mb() -> float:
    """Current resident set size (MB)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def dir_size_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


class Steps:
    """Wall time, RSS after and peak RSS after of each build step."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, float]] = {}

    def __call__(self, name: str):
        steps = self

        class _Step:
            def __enter__(self):
                self.start = time.perf_counter()
                return self

            def __exit__(self, *exc):
                steps.items[name] = {"s": round(time.perf_counter() - self.start, 2),
                                     "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}
                print(f"[step] {name}: {steps.items[name]}", file=sys.stderr, flush=True)
        return _Step()


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p90_ms": round(float(np.percentile(a, 90)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "mean_ms": round(float(a.mean()), 2), "max_ms": round(float(a.max()), 2)}


def time_requests(rec: Any, users: list[str], warmup: int = 10) -> dict[str, Any]:
    """p50/p90/p99 of the three request kinds over ``users`` (after a warm-up)."""
    for u in users[:warmup]:
        rec.recommend(u, k=10)
        rec.recommend(u, k=10, diversity=0.3)
    for q in QUERIES[:3]:
        rec.recommend_for_query(q, k=10)
    out: dict[str, Any] = {}
    runs = {
        "recommend": lambda u, i: rec.recommend(u, k=10),
        "recommend_div0.3": lambda u, i: rec.recommend(u, k=10, diversity=0.3),
        "recommend_no_expl": lambda u, i: rec.recommend(u, k=10, explanations=False),
        "recommend_for_query": lambda u, i: rec.recommend_for_query(
            f"{QUERIES[i % len(QUERIES)]} ({i})", k=10),
    }
    for name, call in runs.items():
        sample = users if name != "recommend_no_expl" else users[:100]
        ms = []
        lengths = []
        for i, u in enumerate(sample):
            t = time.perf_counter()
            recs = call(u, i)
            ms.append((time.perf_counter() - t) * 1000)
            lengths.append(len(recs))
        out[name] = {**percentiles(ms), "min_list_len": int(min(lengths))}
        print(f"[latency] {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def profile_requests(rec: Any, users: list[str], path: Path, n: int = 20) -> list[dict[str, Any]]:
    """cProfile of ``n`` recommend() calls: the top functions by cumulative time (ms/request)."""
    prof = cProfile.Profile()
    prof.enable()
    for u in users[:n]:
        rec.recommend(u, k=10)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).sort_stats("cumulative")
    stats.print_stats(45)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
    rows = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        rows.append({"function": f"{Path(file).name}:{line}({func})", "calls_per_request":
                     round(ncalls / n, 1), "own_ms": round(tottime / n * 1000, 2),
                     "cum_ms": round(cumtime / n * 1000, 2)})
    rows.sort(key=lambda r: -r["cum_ms"])
    return rows[:40]


def set_threads(rec: Any, threads: int | None) -> int:
    """Threads of torch, faiss and the ranker's LightGBM for the requests (None = defaults)."""
    import faiss
    import torch

    if threads:
        torch.set_num_threads(threads)
        faiss.omp_set_num_threads(threads)
        rec.ranker.n_jobs = threads
    return torch.get_num_threads()


def sample_users(rec: Any, n: int, seed: int) -> list[str]:
    users = rec.users()
    rng = np.random.default_rng(seed)
    return [users[i] for i in rng.choice(len(users), size=min(n, len(users)), replace=False)]


# ---------------------------------------------------------------------------- real REC_DIR
def run_real(args: argparse.Namespace) -> dict[str, Any]:
    from text_recommender.service import Recommender

    rec_dir = Path(args.rec_dir)
    steps = Steps()
    base = rss_mb()
    with steps("load"):
        rec = Recommender.load(rec_dir)
    threads = set_threads(rec, args.threads)
    users = sample_users(rec, args.users, args.seed)
    hist = [len(rec._hist[u][0]) for u in users]
    latency = time_requests(rec, users)
    profile = profile_requests(rec, users, WORK / "profile_real.txt") if args.profile else None
    record_ = json.loads((rec_dir / "recommender.json").read_text(encoding="utf-8"))
    return {
        "run": "real" + (f"-{args.tag}" if args.tag else ""), "rec_dir": str(rec_dir), "items": len(rec.catalog),
        "users_total": len(rec._hist), "index": rec.index.kind_.value,
        "fine_tuned": rec.tuned is not rec.frozen,
        "sampled_users": len(users), "history_len_median": float(np.median(hist)),
        "request_threads": threads,
        "latency": latency, "steps": steps.items,
        "rss_before_load_mb": base, "peak_rss_mb": peak_rss_mb(),
        "rec_dir_mb": dir_size_mb(rec_dir),
        "fit_seconds": (record_.get("report") or {}).get("seconds"),
        "profile_top": profile,
    }


# ---------------------------------------------------------------------------- synthetic
def synthetic_interactions(n_users: int, per_user: int, active: int, seed: int):
    """Implicit interactions (app frame + coded frame) over items ``0..active-1``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(2, per_user // 2), per_user * 3 // 2 + 1, size=n_users)
    user = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    ranks = np.arange(active, dtype=np.float64)
    p = 1.0 / (ranks + 10.0) ** 1.05  # Zipf-like, flattened at the head
    p /= p.sum()
    by_rank = rng.permutation(active).astype(np.int64)
    item = by_rank[rng.choice(active, size=user.size, p=p)]
    span = 2 * 365 * 86400
    ts = 1_600_000_000 + rng.integers(0, span, size=user.size).astype(np.int64)
    coded = pd.DataFrame({"user": user, "item": item, "ts": ts})
    coded = coded.drop_duplicates(["user", "item"]).sort_values("ts", kind="stable")
    coded = coded.reset_index(drop=True)
    frame = pd.DataFrame({"user": coded["user"].map(lambda u: f"u{u}"),
                          "item": coded["item"].astype(str), "rating": 1.0,
                          "ts": coded["ts"].to_numpy(np.int64)})
    return frame, coded


def behaviour_state_path(args: argparse.Namespace) -> Path:
    return WORK / (f"behaviour_u{args.sim_users}_p{args.per_user}_a{args.active}"
                   f"_e{args.ease_max_items}_s{args.seed}.npz")


def fit_behaviour(coded: Any, n_users: int, cfg: Any, args: argparse.Namespace,
                  steps: Steps) -> tuple[Any, dict[str, Any]]:
    """Behaviour over the active items (cached), with each model's fit time."""
    from text_recommender import cf
    from text_recommender.cf import EASE, CoEngagement, ItemKNN, Popularity, user_item_matrix
    from text_recommender.features import Behaviour

    path = behaviour_state_path(args)
    info: dict[str, Any] = {"cache": str(path)}
    if path.is_file() and not args.refit:
        with steps("behaviour_load_cached"):
            with np.load(path, allow_pickle=False) as npz:
                state = {k: npz[k] for k in npz.files}
            parts = {}
            for name, kind in (("popularity", "Popularity"), ("ease", "EASE"),
                               ("knn", "ItemKNN"), ("coeng", "CoEngagement")):
                sub = {k.split(".", 1)[1]: v for k, v in state.items()
                       if k.startswith(name + ".")}
                parts[name] = getattr(cf, kind).from_state(sub)
            behaviour = Behaviour(**parts)
        meta = path.with_suffix(".json")
        if meta.is_file():
            info.update(json.loads(meta.read_text(encoding="utf-8")))
        info["from_cache"] = True
        return behaviour, info
    users = coded["user"].to_numpy(np.int64)
    items = coded["item"].to_numpy(np.int64)
    ts = coded["ts"].to_numpy(np.int64)
    n = args.active
    fit_s: dict[str, float] = {}
    t0 = time.perf_counter()
    matrix = user_item_matrix(users, items, n_users, n)
    fit_s["matrix"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pop = Popularity(trend_window_days=cfg.cf.trend_window_days).fit(items, ts, n)
    fit_s["popularity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ease = EASE(l2=cfg.cf.ease_l2, max_items=args.ease_max_items,
                neighbors=cfg.cf.ease_neighbors).fit(matrix)
    fit_s["ease"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    knn = ItemKNN(neighbors=cfg.cf.knn_neighbors, shrink=cfg.cf.knn_shrink).fit(matrix)
    fit_s["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    coeng = CoEngagement(window=cfg.cf.coeng_window).fit(users, items, ts, n)
    fit_s["coeng"] = time.perf_counter() - t0
    behaviour = Behaviour(pop, ease, knn, coeng)
    steps.items["behaviour_fit"] = {"s": round(sum(fit_s.values()), 2), "rss_mb": rss_mb(),
                                    "peak_rss_mb": peak_rss_mb()}
    info["fit_s"] = {k: round(v, 2) for k, v in fit_s.items()}
    info["ease_active_items"] = int(ease.active_.size)
    info["active_items_seen"] = int((pop.count_ > 0).sum())
    print(f"[step] behaviour_fit: {info['fit_s']}", file=sys.stderr, flush=True)
    state: dict[str, np.ndarray] = {}
    for name in ("popularity", "ease", "knn", "coeng"):
        for key, value in getattr(behaviour, name).to_state().items():
            state[f"{name}.{key}"] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **state)
    path.with_suffix(".json").write_text(json.dumps({k: v for k, v in info.items()
                                                     if k != "cache"}), encoding="utf-8")
    info["from_cache"] = False
    return behaviour, info


def knn_full_fit_estimate(coded: Any, n_users: int, n_items: int, cfg: Any,
                          blocks: int = 3) -> dict[str, Any]:
    """ItemKNN.fit's cost if it ran over the whole catalogue: the per-block arithmetic of
    ``cf.ItemKNN.fit`` (co-counts, cosine with shrinkage, top-N per row) timed on ``blocks``
    blocks of ``n_items`` columns, times the number of blocks."""
    from text_recommender.cf import _BLOCK_FLOATS, _dense_top, user_item_matrix

    X = user_item_matrix(coded["user"].to_numpy(np.int64), coded["item"].to_numpy(np.int64),
                         n_users, n_items)
    X.data[:] = 1.0
    norms = np.sqrt(np.bincount(X.indices, minlength=n_items).astype(np.float64))
    XT = X.T.tocsr()
    step = max(1, _BLOCK_FLOATS // n_items)
    t0 = time.perf_counter()
    for b in range(blocks):
        start = b * step
        co = (XT[start:start + step] @ X).toarray().astype(np.float64)
        sim = co / (norms[start:start + step, None] * norms[None, :] + cfg.cf.knn_shrink + 1e-12)
        _dense_top(sim, cfg.cf.knn_neighbors)
    per_block = (time.perf_counter() - t0) / blocks
    n_blocks = -(-n_items // step)
    return {"rows_per_block": step, "blocks": n_blocks, "s_per_block": round(per_block, 4),
            "estimate_s": round(per_block * n_blocks, 0)}


def run_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    from domaintune.pairs import BiEncoder, FaissIndex
    from text_recommender.config import RecConfig
    from text_recommender.data import Catalog
    from text_recommender.features import FEATURES
    from text_recommender.ranker import LearnedRanker
    from text_recommender.service import Recommender

    n_items = int(args.items)
    if args.active > n_items:
        raise SystemExit(f"expected --active <= --items, found {args.active} > {n_items}")
    steps = Steps()
    base = rss_mb()
    rec_json = Path(args.ranker_dir).parent / "recommender.json"
    cfg = RecConfig.from_dict(json.loads(rec_json.read_text(encoding="utf-8"))["config"],
                              unknown="warn")
    with steps("encoder_load"):
        encoder = BiEncoder.from_pretrained(cfg.text.encoder, max_length=cfg.text.max_length)
    with steps("ranker_load"):
        ranker = LearnedRanker.load(args.ranker_dir, feature_names=list(FEATURES))
    with steps("embeddings"):
        rng = np.random.default_rng(args.seed)
        E = np.empty((n_items, DIM), dtype=np.float32)
        chunk = 100_000
        for start in range(0, n_items, chunk):
            block = rng.standard_normal((min(chunk, n_items - start), DIM), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            E[start:start + len(block)] = block
    with steps("catalog"):
        cats = [GENRES[i] for i in rng.integers(0, len(GENRES), size=n_items)]
        catalog = Catalog(ids=[str(i) for i in range(n_items)],
                          titles=[f"Synthetic title {i}" for i in range(n_items)],
                          texts=[f"title: Synthetic title {i}. genres: {c}"
                                 for i, c in enumerate(cats)],
                          categories=cats, in_stock=np.ones(n_items, dtype=bool),
                          fields=["title", "genres"])
    with steps("interactions"):
        frame, coded = synthetic_interactions(args.sim_users, args.per_user, args.active,
                                              args.seed)
    behaviour, binfo = fit_behaviour(coded, args.sim_users, cfg, args, steps)
    with steps("behaviour_grow"):
        behaviour.grow(n_items)
    knn_estimate = (knn_full_fit_estimate(coded, args.sim_users, n_items, cfg)
                    if args.knn_estimate else None)
    index_kw: dict[str, Any] = {}
    if args.index == "ivf" and args.nlist:
        index_kw["nlist"] = args.nlist
    if args.index == "ivf" and args.nprobe:
        index_kw["nprobe"] = args.nprobe
    with steps(f"index_{args.index}"):
        index = FaissIndex(kind=args.index, **index_kw).fit(E, ids=list(range(n_items)),
                                                             encoder=encoder)
    with steps("recommender_init"):
        rec = Recommender(cfg, catalog, frame, encoder, encoder, E, E, behaviour, ranker, index,
                          implicit=True)
    threads = set_threads(rec, args.threads)
    users = sample_users(rec, args.users, args.seed)
    latency = time_requests(rec, users)
    profile = (profile_requests(rec, users, WORK / f"profile_{n_items}_{args.index}.txt")
               if args.profile else None)
    return {
        "run": f"synthetic-{n_items}-{args.index}" + (f"-{args.tag}" if args.tag else ""), "items": n_items, "index": args.index,
        "index_params": index.params_, "sim_users": args.sim_users,
        "interactions": int(len(frame)), "active_items": args.active,
        "ease_max_items": args.ease_max_items, "behaviour": binfo,
        "knn_full_fit_estimate": knn_estimate, "sampled_users": len(users),
        "request_threads": threads,
        "history_len_median": float(np.median([len(rec._hist[u][0]) for u in users])),
        "latency": latency, "steps": steps.items, "rss_before_mb": base,
        "peak_rss_mb": peak_rss_mb(), "profile_top": profile,
    }


# ---------------------------------------------------------------------------- records / report
def append_record(result: dict[str, Any], args: argparse.Namespace) -> None:
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python"] + sys.argv), "machine": machine(),
              "contended": bool(args.contended), "nice": os.nice(0), **result}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(RESULTS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "profile_top"}, indent=2))


def latest_records() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if RESULTS_FILE.is_file():
        for line in RESULTS_FILE.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                out[rec["run"]] = rec
    return out


def _order(rec: dict[str, Any]) -> tuple[int, str]:
    return (int(rec.get("items", 0)), rec["run"])


def write_report() -> str:
    records = sorted(latest_records().values(), key=_order)
    (OUT / "rec_latency.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
    lines = ["### Serving latency, build cost and memory (issue 11)", ""]
    if records:
        lines += [f"Machine: {re.sub(r' [(][0-9]+ threads[)]', '', records[0]['machine'])}. "
                  "`threads` = torch/faiss/LightGBM threads during the requests (builds used the "
                  "defaults, 2)."]
        if any(r.get("contended") for r in records):
            lines += ["**Contended**: another job (the lead's MovieLens benchmark) was running on "
                      "the same 2 cores, and these runs were niced — medians are pessimistic."]
        lines += [""]
    lines += ["| catalogue | index | threads | request | p50 ms | p90 ms | p99 ms | peak RSS |",
              "|---|---|---|---|---|---|---|---|"]
    for r in records:
        name = ("MovieLens (real REC_DIR)" if r["run"].startswith("real")
                else "synthetic (random embeddings)")
        idx = r["index"] + (f" {r['index_params']}" if r.get("index_params") else "")
        for kind, lat in r["latency"].items():
            lines.append(f"| {r['items']:,} {name} | {idx} | {r.get('request_threads')} | "
                         f"`{kind}` (n={lat['n']}) | {lat['p50_ms']} | "
                         f"{lat['p90_ms']} | {lat['p99_ms']} | {r['peak_rss_mb']:.0f} MB |")
    lines += ["", "`recommend` = `recommend(user, k=10)` with explanations and the default "
              "diversity (0); `recommend_div0.3` = MMR λ=0.3; `recommend_no_expl` = "
              "`explanations=False` (100 users); `recommend_for_query` = a free-text taste. "
              "Users sampled with seed 0 (n per row), after a warm-up of 10.", ""]
    for r in records:
        steps = ", ".join(f"{k} {v['s']} s" for k, v in r["steps"].items())
        lines.append(f"* `{r['run']}` ({r['date']}): `{r['command']}` — steps: {steps}; "
                     f"peak RSS {r['peak_rss_mb']:.0f} MB")
        if r.get("partial"):
            lines.append(f"  **partial**: {r['partial']}")
        if r["run"].startswith("real"):
            lines.append(f"  REC_DIR {r.get('rec_dir_mb')} MB on disk; fit seconds (from its "
                         f"report) {r.get('fit_seconds')}; median history "
                         f"{r.get('history_len_median')} items.")
        else:
            b = r["behaviour"]
            lines.append(f"  {r['interactions']:,} interactions of {r['sim_users']:,} users over "
                         f"{r['active_items']:,} active items (EASE on "
                         f"{b.get('ease_active_items')}); behaviour fit {b.get('fit_s')} s"
                         + (f"; ItemKNN.fit over the whole catalogue would take ~"
                            f"{r['knn_full_fit_estimate']['estimate_s']:.0f} s (estimated)"
                            if r.get("knn_full_fit_estimate") else ""))
    hnsw = [r for r in records if r.get("index") == "hnsw" and "index_hnsw" in r["steps"]]
    if hnsw:
        r = max(hnsw, key=lambda r: r["items"])
        per = r["steps"]["index_hnsw"]["s"] / r["items"]
        lines += ["", f"HNSW build at {r['items']:,} items took {r['steps']['index_hnsw']['s']} s; "
                  f"linear extrapolation to 1,000,000 items: ~{per * 1e6 / 60:.0f} min (more: the "
                  "graph search per insert grows with log n), so 1M items were timed with IVF "
                  "(and exact flat search as the upper bound) instead."]
    text = "\n".join(lines) + "\n"
    (OUT / "rec_latency.md").write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--users", type=int, default=300, help="users timed")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--profile", action="store_true", help="cProfile 20 requests")
    common.add_argument("--threads", type=int, default=None,
                        help="torch/faiss/LightGBM threads while timing requests (default: "
                             "theirs, 2 here); builds keep the defaults")
    common.add_argument("--tag", default="", help="suffix of the run's name (e.g. t2)")
    common.add_argument("--contended", action="store_true",
                        help="mark the run as sharing the cores with another job")
    real = sub.add_parser("real", parents=[common])
    real.add_argument("--rec-dir", required=True)
    syn = sub.add_parser("synthetic", parents=[common])
    syn.add_argument("--items", type=int, default=1_000_000)
    syn.add_argument("--index", choices=["flat", "hnsw", "ivf"], default="hnsw")
    syn.add_argument("--nlist", type=int, default=None, help="IVF cells (default: the core's)")
    syn.add_argument("--nprobe", type=int, default=None)
    syn.add_argument("--ranker-dir", default="/tmp/ml/rec-default/ranker")
    syn.add_argument("--sim-users", type=int, default=20_000)
    syn.add_argument("--per-user", type=int, default=50)
    syn.add_argument("--active", type=int, default=20_000,
                     help="items that receive interactions (codes 0..active-1)")
    syn.add_argument("--ease-max-items", type=int, default=2000)
    syn.add_argument("--knn-estimate", action="store_true",
                     help="estimate ItemKNN.fit over the whole catalogue (3 blocks timed)")
    syn.add_argument("--refit", action="store_true", help="ignore the cached behaviour fit")
    sub.add_parser("report")
    args = parser.parse_args(argv)
    if args.cmd == "report":
        print(write_report())
        return 0
    sys.path.insert(0, str(ROOT / "apps"))
    result = run_real(args) if args.cmd == "real" else run_synthetic(args)
    append_record(result, args)
    print(write_report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

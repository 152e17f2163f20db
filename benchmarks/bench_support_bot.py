"""Support-bot benchmarks: out-of-scope detection, FAQ retrieval, reply latency.

Usage:
    python benchmarks/bench_support_bot.py oos [--method frozen|full] [--oos-train none|single|topics]
        [--faq-questions 8] [--objective balanced_accuracy|in_scope_accuracy]
        [--min-oos-recall R] [--reference] [--smoke]
    python benchmarks/bench_support_bot.py retrieval [--dataset bitext|banking77] [--per-intent 3]
        [--fine-tune auto|true|false] [--epochs 1] [--max-pairs N] [--smoke]
    python benchmarks/bench_support_bot.py latency [--faq-size 100000] [--replies 500]
        [--runtime auto|onnx|torch] [--reuse] [--smoke]

* ``oos``: BANKING77-OOS (``data/prepare_banking77_oos.py``). The bot trains on the 50 in-scope
  intents (``train``), calibrates and tunes its OOS detector on ``valid`` + the ID-OOS and
  OOD-OOS validation sets, and is tested on ``test``: in-scope accuracy of the classifier alone
  (no OOS option) vs the bot (accepted **and** right), OOS recall on ID-OOS and OOD-OOS test
  separately, OOS precision over all test messages; plus the same detector fitted on the
  classifier's confidence alone (ablation). ``--oos-train`` also trains the classifier on the
  ID-OOS *training* split (never the validation or test ones): as one out-of-scope class, or one
  class per original intent (``oos.topic_column``). ``--reference`` trains the same classifier
  without any OOS data, the other "no-OOS classifier" to compare with.
* ``retrieval``: the bot's FAQ ranking of held-out queries (Recall@1/5, MRR@10): ``--dataset
  bitext`` (``data/prepare_bitext.py``: 27 entries, one per intent, held-out paraphrases as
  queries) or ``banking77`` (77 entries, one per intent, ``--per-intent`` training messages as
  each entry's questions and as the intent examples; the test set as queries). The bot is
  trained with ``faq.fine_tune`` (``--fine-tune``, default forced on) and ``faq.fusion`` forced
  on; rows: the frozen and the fine-tuned retriever, the classifier alone (its intents' entries
  by probability), the intent-restricted rankings, and the learned fusion over the fine-tuned
  and over the frozen retriever.
* ``latency``: one ``bot.reply`` (intent + retrieval + SQLite logging) against a FAQ of
  ``--faq-size`` synthetic entries (HNSW above 50k vectors): p50/p99 ms over ``--replies`` replies,
  the time to build the bot (training + index + ONNX export), and the RSS memory of a fresh
  process that loaded the bot and answered one message. ``--runtime`` picks how the loaded bot
  runs its two encoders (``auto`` = ONNX Runtime on a CPU); ``--reuse`` skips rebuilding.

``--smoke`` runs a few seconds on small subsets (a check that the script works, not a result).
Data is read from ``../shared/datasets`` (or ``DOMAINTUNE_DATASETS``); prepared files and bots go
to ``benchmarks/out/support_bot/``. Each run appends one JSON line (command, machine, date,
results) to ``benchmarks/out/support_bot.jsonl``; RESULTS.md is written by hand from them.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import os
import platform
import random
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))
OUT = ROOT / "benchmarks" / "out"
WORK = OUT / "support_bot"
RESULTS_FILE = OUT / "support_bot.jsonl"

logger = logging.getLogger("bench_support_bot")


def machine() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, "
            f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}, "
            f"python {platform.python_version()}")


def record(result: dict[str, Any]) -> None:
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python"] + sys.argv), "machine": machine(), **result}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(RESULTS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


def load_script(name: str):
    """Import a data/ script by path (they are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "data" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def subsample(rows: list[dict[str, str]], n: int | None, seed: int = 0, key: str | None = None):
    """``n`` rows (per ``key`` value when given), seeded; all rows when ``n`` is None."""
    if n is None:
        return rows
    rng = random.Random(seed)
    if key is None:
        return rng.sample(rows, min(n, len(rows)))
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    return [r for g in groups.values() for r in rng.sample(g, min(n, len(g)))]


# ---------------------------------------------------------------------- oos
def run_oos(args: argparse.Namespace) -> None:
    from support_bot import BotConfig, OOSDetector, SupportBot

    prepared = WORK / "banking77_oos"
    counts = load_script("prepare_banking77_oos").prepare(
        Path(args.source) if args.source else load_script("prepare_banking77_oos").DEFAULT_SOURCE,
        prepared, args.faq_questions)
    logger.info("prepared BANKING77-OOS: %s", counts)
    per_class = 6 if args.smoke else None
    small = 40 if args.smoke else None
    files = {}
    for name, key in (("train", "intent"), ("valid", "intent"), ("test", "intent"),
                      ("oos_valid", None), ("id_oos_train", None), ("id_oos_test", None),
                      ("ood_oos_test", None)):
        rows = subsample(read_csv(prepared / f"{name}.csv"),
                         per_class if key else small, seed=args.seed, key=key)
        if args.smoke and name in ("valid", "test"):
            rows = subsample(rows, 2, seed=args.seed, key=key)
        files[name] = write_csv(WORK / f"b77_{name}.csv", rows)
    oos_cfg: dict[str, Any] = {"objective": args.objective, "min_oos_recall": args.min_oos_recall}
    if args.oos_train == "topics":
        oos_cfg["topic_column"] = "original_intent"
    config = BotConfig.from_dict({
        "intents_file": str(files["train"]), "validation_file": str(files["valid"]),
        "faq_file": str(prepared / "faq.csv"), "oos_file": str(files["oos_valid"]),
        "oos_train_file": str(files["id_oos_train"]) if args.oos_train != "none" else None,
        "intent": {"model": args.model, "method": args.method, "seed": args.seed,
                   "training": {"epochs": args.epochs} if args.method != "frozen" else {}},
        "faq": {"encoder": args.model}, "dialogue": {"handoff_intents": []}, "oos": oos_cfg,
    })
    out = WORK / f"b77-bot-{args.method}-{args.oos_train}{'-smoke' if args.smoke else ''}"
    start = time.perf_counter()
    bot = SupportBot.train(config, out, overwrite=True)
    train_s = time.perf_counter() - start
    test = read_csv(files["test"])
    ins = bot.analyze([r["text"] for r in test])
    truth = np.array([r["intent"] for r in test])
    pred = np.array([a.intent for a in ins])
    accepted = np.array([a.in_scope for a in ins])
    results: dict[str, Any] = {
        "n_test_in_scope": len(test),
        "classifier_accuracy_no_oos": float(np.mean(pred == truth)),
        "bot_in_scope_accuracy": float(np.mean(accepted & (pred == truth))),
        "bot_in_scope_acceptance": float(np.mean(accepted)),
    }
    rejected_total = int((~accepted).sum())
    rejected_oos = 0
    oos_sets = {}
    for name in ("id_oos_test", "ood_oos_test"):
        res = bot.analyze([r["text"] for r in read_csv(files[name])])
        oos_sets[name] = res
        rejected = np.array([not a.in_scope for a in res])
        results[f"oos_recall_{name.replace('_test', '')}"] = float(rejected.mean())
        results[f"n_{name}"] = len(res)
        rejected_total += int(rejected.sum())
        rejected_oos += int(rejected.sum())
    results["oos_precision"] = rejected_oos / rejected_total if rejected_total else None
    # ablation: the same tuning on the classifier's confidence alone
    val = read_csv(files["valid"])
    val_res = bot.analyze([r["text"] for r in val])
    oos_val = bot.analyze([r["text"] for r in read_csv(files["oos_valid"])])
    conf_only = OOSDetector().fit([a.confidence for a in val_res], np.zeros(len(val_res)),
                                  [a.intent == r["intent"] for a, r in zip(val_res, val, strict=True)],
                                  [a.confidence for a in oos_val], np.zeros(len(oos_val)))
    ok = conf_only.accept([a.confidence for a in ins], np.zeros(len(ins)))
    results["confidence_only"] = {
        "bot_in_scope_accuracy": float(np.mean(ok & (pred == truth))),
        **{f"oos_recall_{n.replace('_test', '')}": float(np.mean(~conf_only.accept(
            [a.confidence for a in r], np.zeros(len(r))))) for n, r in oos_sets.items()},
    }
    results.update(detector=bot.detector.to_dict(), train_seconds=round(train_s, 1),
                   method=args.method, model=args.model, smoke=args.smoke,
                   oos_train=args.oos_train, faq_questions=args.faq_questions,
                   n_oos_train=bot.meta["summary"]["n_oos_train"],
                   faq_vectors=len(bot.retriever.index))
    bot.close()
    if args.reference:  # the same classifier trained on the in-scope intents only
        from domaintune import TextClassifier, load_dataset

        train = load_dataset(files["train"], text="text", label="intent")
        val = load_dataset(files["valid"], text="text", label="intent")
        ref = TextClassifier.from_pretrained(args.model, labels=train.label_names)
        ref.fit(train, val, config.intent.training_config())
        results["reference_classifier_accuracy"] = float(
            np.mean(np.array(ref.predict([r["text"] for r in test])) == truth))
    record({"benchmark": "support_bot_oos", **results})


# ---------------------------------------------------------------------- retrieval
def prepare_banking77_faq(out: Path, per_intent: int, seed: int) -> dict[str, Any]:
    """BANKING77 as an FAQ: one entry per intent whose questions are ``per_intent`` seeded
    training messages (also the bot's intent examples); the test set is the queries. The data
    set has no answers: an entry's answer says which intent it is."""
    source = DATASETS / "banking77"
    train = read_csv(source / "train.csv")
    test = read_csv(source / "test.csv")
    picked = subsample([r for r in train if "||" not in r["text"]], per_intent, seed=seed,
                       key="category")
    by_intent: dict[str, list[str]] = {}
    for r in picked:
        by_intent.setdefault(r["category"], []).append(r["text"].strip())
    ids = {label: f"b77-{i + 1:03d}" for i, label in enumerate(sorted(by_intent))}
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "faq.csv", [{"id": ids[label], "question": " || ".join(texts),
                                 "answer": f"This is about {label.replace('_', ' ')}.",
                                 "intent": label} for label, texts in sorted(by_intent.items())])
    write_csv(out / "intents.csv", [{"text": t, "intent": label}
                                    for label, texts in sorted(by_intent.items()) for t in texts])
    write_csv(out / "faq_queries.csv", [{"query": r["text"], "faq_id": ids[r["category"]]}
                                        for r in test])
    return {"faq_entries": len(ids), "intent_examples": len(picked), "queries": len(test),
            "per_intent": per_intent}


def _scores(rankings: list[list[str]], relevant: list[str]) -> dict[str, float]:
    from domaintune.pairs import retrieval_metrics

    m = retrieval_metrics([r[:10] for r in rankings], relevant, ks=(1, 5, 10))
    return {"recall@1": round(m["recall@1"], 4), "recall@5": round(m["recall@5"], 4),
            "mrr@10": round(m["mrr@10"], 4)}


def by_probability(entries: list[str], intent_of: dict[str, str | None],
                   probability: dict[str, float]) -> list[str]:
    """Entries ranked by the classifier's probability of their intent (the classifier alone)."""
    return sorted(entries, key=lambda e: -probability.get(intent_of.get(e) or "", 0.0))


def run_retrieval(args: argparse.Namespace) -> None:
    """The bot's FAQ ranking on held-out queries: frozen vs fine-tuned retriever, the
    classifier alone, and the learned fusion (both settings forced on, to measure them)."""
    from domaintune import load_dataset, train_validation_split
    from support_bot import BotConfig, FaqRetriever, SupportBot
    from support_bot.retrieval import load_encoder
    from support_bot.training import fit_fusion

    if args.dataset == "bitext":
        prep = load_script("prepare_bitext")
        prepared = WORK / f"bitext-k{args.answers_per_intent}"
        counts = prep.prepare(Path(args.source) if args.source else prep.DEFAULT_SOURCE, prepared,
                              heldout=0.2, answers_per_intent=args.answers_per_intent,
                              max_questions=5 if args.smoke else args.max_questions,
                              seed=args.seed)
    else:
        prepared = WORK / f"banking77-faq-{args.per_intent}"
        counts = prepare_banking77_faq(prepared, args.per_intent, args.seed)
    logger.info("prepared %s: %s", args.dataset, counts)
    intents_file = prepared / "intents.csv"
    queries = [(r["query"], r["faq_id"]) for r in read_csv(prepared / "faq_queries.csv")]
    if args.smoke:
        queries = subsample(queries, 40, seed=args.seed)
        intents_file = write_csv(WORK / f"{args.dataset}_intents_smoke.csv",
                                 subsample(read_csv(intents_file), 8, seed=args.seed, key="intent"))
    faq: dict[str, Any] = {"encoder": args.model, "fine_tune": args.fine_tune, "fusion": "true",
                           "fine_tune_training": {"epochs": args.epochs,
                                                  "max_steps": 3 if args.smoke else None}}
    if args.max_pairs:
        faq["fine_tune_max_pairs"] = args.max_pairs
    intent: dict[str, Any] = {"model": args.model, "seed": args.seed}
    if args.dataset == "banking77":  # one of each intent's few messages validates (stratified)
        intent["validation_split"] = round(1.0 / args.per_intent + 1e-3, 4)
    config = BotConfig.from_dict({
        "intents_file": str(intents_file), "faq_file": str(prepared / "faq.csv"),
        "runtime": "torch",  # no ONNX export: the same answers (tested), fewer seconds
        "intent": intent, "faq": faq,
        "dialogue": {"handoff_intents": []},
    })
    out = WORK / f"retrieval-bot-{args.dataset}{'-smoke' if args.smoke else ''}"
    start = time.perf_counter()
    bot = SupportBot.train(config, out, overwrite=True)
    train_s = time.perf_counter() - start
    summary = bot.meta["summary"]
    texts = [q for q, _ in queries]
    relevant = [f for _, f in queries]
    t0 = time.perf_counter()
    probs = np.atleast_2d(bot.classifier.predict_proba(texts))
    labels = bot.classifier.labels
    intents = [labels[j] for j in probs.argmax(axis=1)]
    classifier_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tuned_vectors = bot.retriever.encode(texts)
    tuned_s = time.perf_counter() - t0
    frozen = FaqRetriever.build(bot.kb, bot.config.faq, encoder=load_encoder(args.model))
    t0 = time.perf_counter()
    frozen_vectors = frozen.encode(texts)
    frozen_s = time.perf_counter() - t0
    intent_of = bot.retriever.intent_of
    entries = [e.id for e in bot.kb]
    rows: dict[str, list[list[str]]] = {
        "frozen_retriever": [r.ids for r in frozen.search(texts, vectors=frozen_vectors)],
        "fine_tuned_retriever": [r.ids for r in bot.retriever.search(texts, vectors=tuned_vectors)],
        "classifier": [by_probability(entries, intent_of, dict(zip(labels, row.tolist(),
                                                                    strict=True)))
                       for row in probs],
        "restricted_frozen (the bot before)": [r.ids for r in frozen.search(
            texts, intents, vectors=frozen_vectors)],
        "restricted_fine_tuned": [r.ids for r in bot.retriever.search(texts, intents,
                                                                      vectors=tuned_vectors)],
    }
    if bot.fusion is not None:
        rows["fusion_fine_tuned"] = [r.ids for r in bot.fused_rankings(tuned_vectors, probs,
                                                                       intents)]
    # the same fusion learned over the frozen retriever: what the fusion buys alone
    data = load_dataset(intents_file, text="text", label="intent")
    _, val = train_validation_split(data, config.intent.validation_split, seed=args.seed)
    frozen_bot = SupportBot(bot.config, bot.classifier, frozen, meta=dict(bot.meta))
    frozen_bot.fusion, frozen_report = fit_fusion(frozen_bot, val)
    if frozen_bot.fusion is not None:
        rows["fusion_frozen"] = [r.ids for r in frozen_bot.fused_rankings(frozen_vectors, probs,
                                                                          intents)]
    results: dict[str, Any] = {
        "dataset": args.dataset, "n_queries": len(queries), "faq_entries": len(bot.kb),
        **counts, "rankings": {name: _scores(r, relevant) for name, r in rows.items()},
        "classifier_accuracy_as_entry": round(float(np.mean(
            [r[0] == g for r, g in zip(rows["classifier"], relevant, strict=True)])), 4),
        "fine_tune": summary["faq_fine_tune"], "fusion": summary["faq_fusion"],
        "fusion_frozen": frozen_report, "train_seconds": round(train_s, 1),
        "queries_per_s": {"classifier": round(len(texts) / classifier_s, 1),
                          "fine_tuned_encoder": round(len(texts) / tuned_s, 1),
                          "frozen_encoder": round(len(texts) / frozen_s, 1)},
        "n_train": summary["n_train"], "n_validation": summary["n_validation"],
        "model": args.model, "smoke": args.smoke,
    }
    bot.close()
    record({"benchmark": "support_bot_retrieval", **results})


# ---------------------------------------------------------------------- latency
_TOPICS = ["card", "transfer", "refund", "loan", "overdraft", "savings", "mortgage", "pension",
           "insurance", "statement", "direct debit", "standing order", "cheque", "PIN", "app"]
_ACTIONS = ["cancel", "change", "track", "report", "open", "close", "update", "pay", "dispute",
            "renew", "block", "activate", "check", "move", "split"]
_PLACES = ["abroad", "online", "in a branch", "by phone", "in the app", "at an ATM", "at weekends",
           "for my child", "for my business", "after moving house"]


def synthetic_faq(n: int, path: Path, seed: int = 0) -> Path:
    """``n`` distinct FAQ entries from templates (question + answer), written as CSV."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic, action, place = rng.choice(_TOPICS), rng.choice(_ACTIONS), rng.choice(_PLACES)
        rows.append({"id": f"syn-{i:06d}",
                     "question": f"How do I {action} my {topic} {place}? (case {i})",
                     "answer": f"To {action} your {topic} {place}, open Settings > {topic.title()} "
                               f"and follow step {i % 97 + 1}. Reference {i:06d}.",
                     "intent": ""})
    return write_csv(path, rows)


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loaded_rss_mb(bot_dir: Path, runtime: str) -> float:
    """RSS (MiB) of a fresh Python process that loaded the bot and answered one message."""
    import subprocess

    here, target = str(Path(__file__).parent), str(bot_dir)
    code = (f"import sys; sys.path.insert(0, {here!r}); from bench_support_bot import rss_mb; "
            f"from support_bot import SupportBot; bot = SupportBot.load({target!r}, "
            f"runtime={runtime!r}); "
            "bot.reply('rss', 'hello'); print(rss_mb())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run_latency(args: argparse.Namespace) -> None:
    from support_bot import BotConfig, SupportBot

    paths = load_script("make_samples").make_samples(ROOT / "data")
    size = 500 if args.smoke else args.faq_size
    replies = 20 if args.smoke else args.replies
    faq = synthetic_faq(size, WORK / f"synthetic_faq_{size}.csv", seed=args.seed)
    intents = paths["intents"]
    if args.smoke:  # 10 messages per intent
        intents = write_csv(WORK / "latency_intents_smoke.csv",
                            subsample(read_csv(intents), 10, seed=args.seed, key="intent"))
    out = WORK / f"latency-bot-{size}"
    rss_before = rss_mb()
    config = BotConfig.from_dict({
        "intents_file": str(intents), "faq_file": str(faq), "oos_file": str(paths["oos"]),
        "intent": {"model": args.model}, "faq": {"encoder": args.model, "index_answers": False},
    })
    build_s = None
    if args.reuse and (out / "onnx").is_dir():
        logger.info("reusing the bot in %s (--reuse)", out)
    else:
        start = time.perf_counter()
        SupportBot.train(config, out, overwrite=True).close()
        build_s = round(time.perf_counter() - start, 1)
    messages = [r["text"] for r in read_csv(paths["intents_test"])]
    rng = random.Random(args.seed)
    rss_loaded = loaded_rss_mb(out, args.runtime)  # a fresh process: the bot alone, no training
    with SupportBot.load(out, runtime=args.runtime) as bot:
        bot.reply("warm-up", "hello")
        times, analyze_times = [], []
        for i in range(replies):
            text = rng.choice(messages)
            t0 = time.perf_counter()
            bot.analyze([text])
            analyze_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            bot.reply(f"bench-{i % 50}", text)
            times.append(time.perf_counter() - t0)
        kind = bot.retriever.index.kind_.value
        logged = bot.log.count_turns()
        served = type(bot.classifier).__name__
    ms = np.array(times) * 1000
    results = {
        "faq_entries": size, "index_vectors": size, "index_kind": kind, "replies": replies,
        "reply_ms_p50": round(float(np.percentile(ms, 50)), 2),
        "reply_ms_p99": round(float(np.percentile(ms, 99)), 2),
        "reply_ms_mean": round(float(ms.mean()), 2),
        "models_ms_p50": round(float(np.percentile(np.array(analyze_times) * 1000, 50)), 2),
        "build_seconds": build_s, "rss_mb_loaded_bot": round(rss_loaded, 1),
        "runtime": args.runtime, "classifier_served_by": served,
        "rss_mb_benchmark_process_start": round(rss_before, 1), "turns_logged": logged,
        "model": args.model,
        "smoke": args.smoke, "torch_threads": __import__("torch").get_num_threads(),
    }
    shutil.rmtree(out / "reports", ignore_errors=True)
    record({"benchmark": "support_bot_latency", **results})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", default="default", help="encoder of classifier and retrieval")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--smoke", action="store_true", help="tiny subsets: checks the script only")
    common.add_argument("--source", help="dataset path (default: ../shared/datasets/...)")
    p = sub.add_parser("oos", parents=[common], help="BANKING77-OOS out-of-scope detection")
    p.add_argument("--method", default="frozen", choices=["frozen", "full", "lora"])
    p.add_argument("--epochs", type=float, default=3.0, help="full/lora epochs")
    p.add_argument("--faq-questions", type=int, default=8,
                   help="training utterances per intent in the FAQ (the similarity signal)")
    p.add_argument("--oos-train", default="none", choices=["none", "single", "topics"],
                   help="train the classifier on the ID-OOS training split: no, as one "
                        "out-of-scope class, or one class per original intent (topic)")
    p.add_argument("--objective", default="balanced_accuracy",
                   choices=["balanced_accuracy", "in_scope_accuracy"])
    p.add_argument("--min-oos-recall", type=float, default=None)
    p.add_argument("--reference", action="store_true",
                   help="also train the classifier without any OOS data and report its accuracy")
    p.set_defaults(func=run_oos)
    p = sub.add_parser("retrieval", parents=[common],
                       help="FAQ retrieval on held-out queries: frozen / fine-tuned / classifier / "
                            "fusion")
    p.add_argument("--dataset", default="bitext", choices=["bitext", "banking77"])
    p.add_argument("--fine-tune", default="true", choices=["auto", "true", "false"],
                   help="faq.fine_tune of the trained bot (true: measure it whatever the size)")
    p.add_argument("--epochs", type=float, default=1.0, help="faq.fine_tune_training.epochs")
    p.add_argument("--max-pairs", type=int, default=None, help="faq.fine_tune_max_pairs")
    p.add_argument("--per-intent", type=int, default=3,
                   help="banking77: training messages per intent (FAQ questions and intents)")
    p.add_argument("--answers-per-intent", type=int, default=1)
    p.add_argument("--max-questions", type=int, default=60)
    p.set_defaults(func=run_retrieval)
    p = sub.add_parser("latency", parents=[common], help="reply latency with a large FAQ index")
    p.add_argument("--faq-size", type=int, default=100_000)
    p.add_argument("--replies", type=int, default=500)
    p.add_argument("--runtime", default="auto", choices=["auto", "onnx", "torch"])
    p.add_argument("--reuse", action="store_true", help="reuse the bot built by an earlier run")
    p.set_defaults(func=run_latency)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "faiss", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    WORK.mkdir(parents=True, exist_ok=True)
    args.func(args)


if __name__ == "__main__":
    main()

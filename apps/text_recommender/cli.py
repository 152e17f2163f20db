"""The ``text-recommender`` command line: fit, evaluate, split, recommend, update, demo.

Examples:
    text-recommender split --interactions ratings.csv --output data/split
    text-recommender fit --items movies.csv --interactions data/split/train.csv \\
        --output models/rec --text-fields title,genres,tags
    text-recommender evaluate models/rec --interactions data/split/test.csv
    text-recommender recommend models/rec --user 42 -k 10 --diversity 0.3
    text-recommender recommend models/rec --query "slow-burning haunted house stories"
    text-recommender update models/rec --add-items new.csv --record today.csv
    text-recommender demo models/rec

``fit``, ``evaluate``, ``split`` and ``update`` print a readable summary on stderr and exactly
one JSON object on stdout (``--json``: only the JSON); ``recommend`` prints one JSON line per
recommended item.
"""

from __future__ import annotations

# Only the standard library at module level: `text-recommender --help` must not import torch.
import argparse
import json
import sys
from pathlib import Path
from typing import Any

_COLUMN_OPTIONS = {  # --option -> data.<key>
    "item_id_column": "item_id_column",
    "user_id_column": "user_id_column",
    "rating_column": "rating_column",
    "time_column": "time_column",
}


def _emit(result: dict[str, Any], lines: list[str], args: argparse.Namespace) -> None:
    print(json.dumps(result, ensure_ascii=False, default=str))
    sys.stdout.flush()
    if not getattr(args, "json", False):
        print("\n".join(lines), file=sys.stderr)


def _config(args: argparse.Namespace):
    from domaintune.config import apply_overrides

    from .config import RecConfig

    base = RecConfig.from_yaml(args.config).to_dict() if getattr(args, "config", None) else {}
    data = dict(base.get("data", {}))
    for option, key in _COLUMN_OPTIONS.items():
        value = getattr(args, option, None)
        if value is not None:
            data[key] = value
    if data:
        base["data"] = data
    return RecConfig.from_dict(apply_overrides(base, getattr(args, "set", None) or []))


def _quiet_loading() -> None:
    """No "Loading weights" bars from transformers on stderr (they say nothing here)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _text_fields(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [f.strip() for f in value.split(",") if f.strip()]


def _fit(args: argparse.Namespace) -> int:
    _quiet_loading()
    from domaintune.artifacts import check_target

    from .service import Recommender, summary_lines

    check_target(args.output, overwrite=args.overwrite, what="recommender",
                 meta_file="recommender.json")
    cfg = _config(args)
    rec = Recommender.fit(args.items, args.interactions, cfg,
                          text_fields=_text_fields(args.text_fields),
                          progress=not args.no_progress)
    rec.save(args.output, overwrite=args.overwrite)
    result = {"output": str(args.output), **rec.report}
    _emit(result, summary_lines(rec.report) + [f"saved to {args.output}"], args)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    _quiet_loading()
    from .evaluation import evaluate
    from .service import Recommender

    rec = Recommender.load(args.rec_dir)
    result = evaluate(rec, args.interactions, k=args.k, baselines=not args.no_baselines,
                      progress=not args.no_progress, diversity=args.diversity)
    k = args.k
    rows = [("hybrid", result)] + [(name, m) for name, m in (result.get("baselines") or {}).items()
                                   if m is not None]
    lines = [f"{result['n_users']} test users ({result['n_cold_users']} with a cold test item); "
             f"counts {json.dumps(result['counts'])}",
             f"{'method':<16} {'HR@' + str(k):>8} {'NDCG@' + str(k):>8} {'MRR@' + str(k):>8} "
             f"{'cov@' + str(k):>8} {'coldHR':>8}"]
    for name, m in rows:
        cold = m.get(f"cold_start_hr@{k}")
        lines.append(f"{name:<16} {m[f'hr@{k}']:>8.4f} {m[f'ndcg@{k}']:>8.4f} "
                     f"{m[f'mrr@{k}']:>8.4f} {m[f'coverage@{k}']:>8.4f} "
                     f"{'-' if cold is None else f'{cold:.4f}':>8}")
    _emit(result, lines, args)
    return 0


def _split(args: argparse.Namespace) -> int:
    from domaintune.errors import ArtifactExistsError

    from .data import load_interactions
    from .split import cold_item_split, leave_last_out

    cfg = _config(args).data
    out = Path(args.output)
    files = {"train": out / "train.csv", "test": out / "test.csv"}
    if args.cold_fraction:
        files["cold"] = out / "cold_items.txt"
    existing = [str(p) for p in files.values() if p.exists()]
    if existing and not args.overwrite:
        raise ArtifactExistsError(f"{existing[0]} already exists; choose another --output, or "
                                  "replace the split files with --overwrite")
    stale = out / "cold_items.txt"
    if args.overwrite and not args.cold_fraction and stale.is_file():
        stale.unlink()  # an earlier cold split's list, which these files no longer match
    frame, report = load_interactions(args.interactions, cfg)
    implicit = report.implicit
    train, test, split_report = leave_last_out(
        frame, min_rating=None if implicit else args.min_rating, implicit=implicit)
    cold: list[str] = []
    if args.cold_fraction:
        train, test, cold = cold_item_split(train, test, fraction=args.cold_fraction,
                                            seed=args.seed)
    _write_split(train, files["train"], cfg, implicit)
    _write_split(test, files["test"], cfg, implicit)
    if cold:
        from domaintune.persistence import write_text_atomic

        write_text_atomic(files["cold"], "\n".join(cold) + "\n")
    result = {"files": {k: str(v) for k, v in files.items()}, "read": report.to_dict(),
              "split": split_report.to_dict(), "cold_items": len(cold)}
    dropped = {k: v for k, v in report.dropped.items() if v}
    lines = [f"read {report.rows} interactions, kept {report.kept}"
             + (f", dropped {json.dumps(dropped)}" if dropped else ""),
             f"train {len(train)} rows, test {len(test)} rows ({split_report.users_with_test} "
             f"users with a test item, {split_report.users_without_test} without; "
             f"{split_report.dropped_same_or_later} at or after a test time left out)"]
    if cold:
        lines.append(f"{len(cold)} cold items lost their training interactions "
                     f"({files['cold']})")
    lines.append(f"wrote {files['train']} and {files['test']}")
    _emit(result, lines, args)
    return 0


def _write_split(frame, path: Path, cfg, implicit: bool) -> None:
    import io

    from domaintune.persistence import write_text_atomic

    columns = {"user": cfg.user_id_column, "item": cfg.item_id_column, "ts": cfg.time_column}
    if not implicit:
        columns["rating"] = cfg.rating_column
    out = frame[list(columns)].rename(columns=columns)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, buffer.getvalue())


def _recommend(args: argparse.Namespace) -> int:
    _quiet_loading()
    from domaintune.errors import DataError

    from .service import Recommender

    chosen = [x for x in (args.user, args.query, args.items) if x is not None]
    if len(chosen) != 1:
        raise DataError("expected exactly one of --user ID, --query TEXT or --items ID,ID, found "
                        f"{len(chosen)}; e.g. text-recommender recommend {args.rec_dir} --user 42")
    rec = Recommender.load(args.rec_dir)
    exclude = _text_fields(args.exclude) or []
    if args.user is not None:
        if args.user not in rec._hist:
            print(f"note: user {args.user!r} has no history in {args.rec_dir}: showing popular "
                  "items; give --query or --items for a new user", file=sys.stderr)
        out = rec.recommend(args.user, k=args.k, diversity=args.diversity, exclude=exclude)
    elif args.query is not None:
        out = rec.recommend_for_query(args.query, k=args.k, diversity=args.diversity,
                                      exclude=exclude)
    else:
        out = rec.recommend_for_items(_text_fields(args.items) or [], k=args.k,
                                      diversity=args.diversity, exclude=exclude)
    for r in out:
        print(json.dumps({"item_id": r.item_id, "title": r.title, "score": r.score,
                          "rank": r.rank, "explanation": r.explanation, "because": r.because,
                          "category": r.category}, ensure_ascii=False))
    if len(out) < args.k:
        print(f"note: {len(out)} recommendations (fewer than -k {args.k}: the items left after "
              "the filters and the per-category cap)", file=sys.stderr)
    return 0


def _update(args: argparse.Namespace) -> int:
    _quiet_loading()
    from domaintune.errors import DataError

    from .service import Recommender

    if not (args.add_items or args.remove_items or args.record):
        raise DataError("expected at least one of --add-items FILE, --remove-items ID,ID or "
                        "--record FILE, found none")
    rec = Recommender.load(args.rec_dir)
    result: dict[str, Any] = {"rec_dir": str(args.rec_dir)}
    lines = []
    if args.remove_items:
        result["removed"] = rec.remove_items(_text_fields(args.remove_items) or [])
        lines.append(f"removed {result['removed']} items")
    if args.add_items:
        result["added"] = rec.add_items(args.add_items)
        items_report = rec.last_items_report
        result["add_items_report"] = items_report.to_dict()
        lines.append(f"added {result['added']} items (recommendable from their text)"
                     + (f"; dropped {items_report.duplicate_ids} repeated ids and "
                        f"{items_report.missing_ids} rows without an id"
                        if items_report.duplicate_ids or items_report.missing_ids else ""))
    if args.record:
        report = rec.record(args.record)
        result["recorded"] = report.to_dict()
        dropped = {k: v for k, v in report.dropped.items() if v}
        lines.append(f"recorded {report.kept} of {report.rows} interactions"
                     + (f", dropped {json.dumps(dropped)}" if dropped else "")
                     + (f"; {report.out_of_order} older than the user's last one (kept in time "
                        "order)" if report.out_of_order else ""))
    rec.save(args.rec_dir, overwrite=True)
    lines.append(f"saved {args.rec_dir}")
    _emit(result, lines, args)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import gradio as gr

    from .ui import demo_tab

    if args.rec_dir:
        from .service import Recommender

        rec = Recommender.load(args.rec_dir)
    else:
        from .samples import write_samples
        from .training import demo_recommender

        rec = demo_recommender(write_samples(Path(args.data_dir)), Path(args.models_dir))
    with gr.Blocks(title="Recommender") as app:
        demo_tab(rec)
    print(f"recommender demo on http://{args.host}:{args.port}", file=sys.stderr)
    app.launch(server_name=args.host, server_port=args.port)
    return 0


def _add_common(p: argparse.ArgumentParser, *, config: bool = True) -> None:
    if config:
        p.add_argument("--config", help="recommender YAML config (see the app README)")
        p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value, e.g. --set finetune.enabled=false")
    p.add_argument("--json", action="store_true", help="print only the JSON object on stdout")
    p.add_argument("-v", "--verbose", action="store_true")


def _add_columns(p: argparse.ArgumentParser) -> None:
    p.add_argument("--item-id-column", help="item id column (default item_id)")
    p.add_argument("--user-id-column", help="user id column (default user_id)")
    p.add_argument("--rating-column", help="rating column (default rating; absent = implicit)")
    p.add_argument("--time-column", help="timestamp column (default timestamp; epoch seconds "
                                         "or ISO dates)")


def _serve(args: argparse.Namespace) -> int:
    from domaintune.serving.config import serve_config_from_args
    from domaintune.serving.server import serve_app

    serve_app("text_recommender", args.rec_dir, serve_config_from_args(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="text-recommender",
        description="Recommend items from their text and users' behaviour: a fine-tuned text "
                    "model, collaborative filtering, a learned ranker, diversity, explanations.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit a recommender into REC_DIR")
    p.add_argument("--items", required=True, help="items file (CSV/JSONL/Parquet)")
    p.add_argument("--interactions", required=True, help="interactions file (CSV/JSONL/Parquet)")
    p.add_argument("--output", required=True, help="the REC_DIR to write")
    p.add_argument("--text-fields", help="comma-separated item columns that make its text "
                                         "(default: every non-id text column)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier REC_DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_columns(p)
    _add_common(p)
    p.set_defaults(func=_fit)

    p = sub.add_parser("evaluate", help="HR/NDCG/MRR/coverage@k vs the built-in baselines")
    p.add_argument("rec_dir")
    p.add_argument("--interactions", required=True, help="test interactions (text-recommender "
                                                         "split writes them)")
    p.add_argument("-k", type=int, default=10, help="list length (default 10)")
    p.add_argument("--diversity", type=float, help="MMR λ (default: the REC_DIR's config)")
    p.add_argument("--no-baselines", action="store_true", help="only the recommender")
    p.add_argument("--no-progress", action="store_true")
    _add_common(p, config=False)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("split", help="write the default protocol's train/test files")
    p.add_argument("--interactions", required=True)
    p.add_argument("--output", required=True, help="folder for train.csv and test.csv")
    p.add_argument("--min-rating", type=float, default=4.0,
                   help="a test item is the user's last one rated at least this (default 4; "
                        "without a rating column every interaction counts, so the last one)")
    p.add_argument("--cold-fraction", type=float, default=0.0,
                   help="also make this share of items cold (their training interactions "
                        "removed; listed in cold_items.txt)")
    p.add_argument("--seed", type=int, default=0, help="seed of --cold-fraction")
    p.add_argument("--overwrite", action="store_true", help="replace existing split files")
    _add_columns(p)
    _add_common(p)
    p.set_defaults(func=_split)

    p = sub.add_parser("recommend", help="recommendations as JSON lines")
    p.add_argument("rec_dir")
    p.add_argument("--user", help="a user id")
    p.add_argument("--query", help="a free-text taste (a new user)")
    p.add_argument("--items", help="comma-separated item ids a new user liked")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--diversity", type=float, help="MMR λ in [0, 1] (default: the config's)")
    p.add_argument("--exclude", help="comma-separated item ids not to recommend")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_recommend)

    p = sub.add_parser("update", help="add/remove items and record interactions in REC_DIR")
    p.add_argument("rec_dir")
    p.add_argument("--add-items", help="a file of new items (the catalogue's columns)")
    p.add_argument("--remove-items", help="comma-separated item ids to stop recommending")
    p.add_argument("--record", help="a file of new interactions")
    _add_common(p, config=False)
    p.set_defaults(func=_update)

    p = sub.add_parser("serve", help="serve REC_DIR over REST: GET/POST /v1/recommend "
                                     "(FastAPI + uvicorn; loopback by default)")
    p.add_argument("rec_dir")
    from domaintune.serving.config import add_serve_options

    add_serve_options(p)
    p.set_defaults(func=_serve)

    p = sub.add_parser("demo", help="the Gradio demo (without REC_DIR: fitted on the sample "
                                    "data into MODELS_DIR/demo-recommender)")
    p.add_argument("rec_dir", nargs="?")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7863)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--models-dir", default="models")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``text-recommender`` console script."""
    from domaintune.cli import run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

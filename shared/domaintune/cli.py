"""The ``domaintune`` command line: train, evaluate and predict.

Examples:
    domaintune train --config train.yaml --set training.epochs=2 --set training.method=frozen
    domaintune evaluate models/tickets --data test.csv --label-column queue
    domaintune predict models/tickets --input new.csv --output predictions.csv
    domaintune predict models/tickets "where is my refund?"
    domaintune predict models/tickets-onnx "where is my refund?"   # an ONNX export: no PyTorch
    domaintune update models/tickets --data new.csv --output models/tickets-v2
    domaintune export models/tickets --output models/tickets-onnx [--int8]
    domaintune check-data tickets.csv --label-column queue --output reports/checks
    domaintune models list | show NAME | promote NAME VERSION | rollback NAME
"""

from __future__ import annotations

# Only the standard library and light core modules at module level: ``--help`` and a parse
# error answer in well under a second. Each command imports what it needs (PyTorch,
# transformers, pandas, SQLAlchemy) when it runs; ``predict`` on an ONNX export never imports
# PyTorch.
import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .errors import DataError, DomaintuneError

logger = logging.getLogger(__name__)

# = domaintune.registry.DEFAULT_REGISTRY_URL (a test keeps them equal); not imported from there
# because that module loads SQLAlchemy and pandas, which --help does not need
DEFAULT_REGISTRY_URL = "sqlite:///models/registry.db"
ONNX_MANIFEST = "onnx.json"  # = domaintune.export.MANIFEST_FILE


def _registered_at(registry_url: str, path: str | Path) -> Any:
    """The registered version whose directory is ``path`` (None if none is). A SQLite registry
    file that does not exist yet registers nothing, and is not created by asking."""
    try:
        from sqlalchemy.engine import make_url

        url = make_url(registry_url)
        database = url.database if url.get_backend_name() == "sqlite" else None
    except Exception:  # an invalid URL: ModelRegistry below reports it
        database = None
    if database and database != ":memory:" and not Path(database).exists():
        return None
    from .registry import ModelRegistry

    with ModelRegistry(registry_url) as registry:
        return registry.find_path(path)


def _free_sibling(path: Path) -> Path:
    """``path`` with the first ``-vN`` suffix (N >= 2) that names nothing yet."""
    n = 2
    while (path.parent / f"{path.name}-v{n}").exists():
        n += 1
    return path.parent / f"{path.name}-v{n}"


def _check_output(path: str | Path, *, overwrite: bool, registry_url: str, option: str) -> Path:
    """Refuse, before any training, an output directory that training could not write.

    A registered version's directory is refused even with ``--overwrite`` (its files never
    change under the registry); a non-empty directory is refused without ``--overwrite`` (the
    model's ``save`` decides what ``--overwrite`` may replace: only an earlier domaintune model,
    never a folder of other files).
    """
    out = Path(path)
    registered = _registered_at(registry_url, out)
    if registered is not None:
        raise DomaintuneError(
            f"{out} holds {registered}, a registered model version (registry {registry_url}); "
            "a registered version's files never change, so nothing is written there, even with "
            f"--overwrite; write the new model to another directory: {option}"
            f"{_free_sibling(out.resolve())}")
    from .artifacts import check_target
    from .errors import ArtifactExistsError

    try:  # the same rules as the save at the end: fail before minutes of training
        check_target(out, overwrite=overwrite)
    except ArtifactExistsError as exc:
        raise ArtifactExistsError(f"{exc} (a new directory: {option}"
                                  f"{_free_sibling(out.resolve())})") from None
    return out


def _train(args: argparse.Namespace) -> int:
    from .config import RunConfig

    run = RunConfig.from_yaml(args.config, args.set)
    registry_url = run.registry or _default_registry()
    if not run.train_file:
        raise DomaintuneError("train config: 'train_file' is required; set it in the YAML or "
                              "pass --set train_file=PATH")
    _check_output(run.output_dir, overwrite=args.overwrite, registry_url=registry_url,
                  option="--set output_dir=")
    if run.task.value == "token-classification":
        from .ner import commands as ner_commands

        _, summary, message = ner_commands.train_from_config(run, overwrite=args.overwrite)
        print(json.dumps(summary, indent=2))
        print(message, file=sys.stderr)
        return 0
    from .artifacts import attach_file
    from .classifier import TextClassifier
    from .data import load_dataset, train_validation_split
    from .evaluation import plot_confusion_matrix
    from .registry import ModelRegistry, fingerprint_dataset

    opts = {"text": run.text_column, "label": run.label_column, "multi_label": run.multi_label,
            "label_separator": run.label_separator, "encoding": run.encoding}
    train = load_dataset(run.train_file, **opts)
    val = None
    if run.eval_file:
        val = load_dataset(run.eval_file, **opts)
    elif run.validation_split > 0:
        train, val = train_validation_split(train, run.validation_split, seed=run.training.seed)
    test = load_dataset(run.test_file, **opts) if run.test_file else None
    labels = run.labels or train.label_names
    clf = TextClassifier.from_pretrained(run.model, labels, multi_label=run.multi_label,
                                         max_length=run.training.max_length,
                                         device=run.training.device)
    clf.fit(train, val, run.training)
    out = Path(run.output_dir)
    test_metrics = clf.evaluate(test) if test is not None else None
    if test_metrics is not None:
        clf.metrics["test"] = {k: v for k, v in test_metrics.items() if k != "confusion_matrix"}
    clf.metrics["run_config"] = run.to_dict()
    clf.save(out, overwrite=args.overwrite)
    if test_metrics is not None and not clf.multi_label:
        attach_file(out, "confusion_matrix.png", lambda path: plot_confusion_matrix(
            test_metrics["confusion_matrix"], clf.labels, path))
    summary = {k: clf.metrics[k] for k in ("validation", "calibration", "test") if k in clf.metrics}
    with ModelRegistry(registry_url) as registry:
        version = registry.register(run.name or out.resolve().name, out.resolve(),
                                    config=run.to_dict(), metrics=summary,
                                    data_fingerprint=fingerprint_dataset(train))
    summary["registered"] = str(version)
    print(json.dumps(summary, indent=2))
    print(f"trained {run.training.method.value} on {len(train)} examples ({len(clf.labels)} labels), "
          f"validated on {len(val) if val else 0}, tested on {len(test) if test else 0} "
          f"in {clf.metrics['train_seconds']}s; model and metrics.json written to {out}",
          file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .classifier import TextClassifier
    from .data import load_dataset
    from .evaluation import plot_confusion_matrix
    from .ner import commands as ner_commands
    from .persistence import write_json_atomic

    if ner_commands.is_token_classification_dir(args.model_dir):
        metrics = ner_commands.evaluate_dir(args.model_dir, args.data, encoding=args.encoding,
                                            output=args.output)
        print(json.dumps(metrics))  # entity_f1, entity_precision, entity_recall, macro_f1, ...
        return 0
    clf = TextClassifier.load(args.model_dir)
    data = load_dataset(args.data, text=args.text_column, label=args.label_column,
                        multi_label=clf.multi_label, encoding=args.encoding)
    report_dir = Path(args.output).parent if args.output else None
    metrics = clf.evaluate(data)
    if report_dir is not None and not clf.multi_label:
        plot_confusion_matrix(metrics["confusion_matrix"], clf.labels,
                              report_dir / (Path(args.output).stem + "_confusion_matrix.png"))
    printable = {k: v for k, v in metrics.items() if k != "confusion_matrix"}
    if args.output:
        write_json_atomic(args.output, metrics)
    print(json.dumps(printable))
    return 0


def _load_predictor(model_dir: str) -> tuple[bool, Any]:
    """``(is_ner, classifier)`` for ``predict``: an ONNX export is served by ONNX Runtime
    (:class:`~domaintune.export.OnnxTextClassifier`, no PyTorch), a model directory by PyTorch."""
    if (Path(model_dir) / ONNX_MANIFEST).is_file():
        from .export import OnnxTextClassifier

        return False, OnnxTextClassifier.load(model_dir)
    from .ner import commands as ner_commands

    if ner_commands.is_token_classification_dir(model_dir):
        return True, None
    from .classifier import TextClassifier

    return False, TextClassifier.load(model_dir)


def _predict(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .persistence import write_text_atomic

    if args.input and args.texts:
        raise DomaintuneError("pass texts on the command line or --input FILE, not both")
    is_ner, clf = _load_predictor(args.model_dir)
    if args.input:
        data = load_dataset(args.input, text=args.text_column, label=None, encoding=args.encoding)
        texts = data.texts
    elif args.texts:
        texts = list(args.texts)
    else:
        raise DomaintuneError("nothing to predict: pass texts or --input FILE")
    if is_ner:
        from .ner import commands as ner_commands

        lines = [json.dumps(row, ensure_ascii=False)
                 for row in ner_commands.predict_rows(args.model_dir, texts)]
        if args.output:
            write_text_atomic(args.output, "\n".join(lines) + "\n")
            print(f"wrote {len(lines)} predictions (JSON lines) to {args.output}", file=sys.stderr)
        else:
            print("\n".join(lines))
        return 0
    probs = clf.predict_proba(texts)
    labels = clf.predict(texts)
    rows = []
    for text, label, p in zip(texts, labels, probs, strict=True):
        row = {"text": text, "label": "|".join(label) if clf.multi_label else label,
               "score": float(p.max()) if not clf.multi_label else
               float(min((p[clf.labels.index(x)] for x in label), default=0.0))}
        rows.append(row)
    if args.output:
        import pandas as pd

        out = Path(args.output)
        frame = pd.DataFrame(rows)
        if out.suffix.lower() == ".jsonl":
            write_text_atomic(out, frame.to_json(orient="records", lines=True, force_ascii=False))
        else:
            write_text_atomic(out, frame.to_csv(index=False))
        print(f"wrote {len(rows)} predictions to {out}", file=sys.stderr)
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    return 0


def _update(args: argparse.Namespace) -> int:
    import dataclasses

    from .classifier import TextClassifier
    from .config import RunConfig, TrainingConfig
    from .continual import update
    from .data import load_dataset
    from .registry import ModelRegistry, fingerprint_dataset

    if Path(args.output).resolve() == Path(args.model_dir).resolve():
        raise DomaintuneError("--output must differ from MODEL_DIR: an update never overwrites "
                              "the version it came from")
    _check_output(args.output, overwrite=args.overwrite, registry_url=args.registry,
                  option="--output ")
    clf = TextClassifier.load(args.model_dir)
    trained_with = clf.metrics.get("run_config", {})
    text = args.text_column or trained_with.get("text_column", "text")
    label = args.label_column or trained_with.get("label_column", "label")
    new = load_dataset(args.data, text=text, label=label, multi_label=clf.multi_label,
                       encoding=args.encoding)
    base = clf.training_config or TrainingConfig()
    overrides = RunConfig.training_overrides(args.set)  # epochs=1 or training.epochs=1
    cfg = TrainingConfig.from_dict({**base.to_dict(), "progress": True, **overrides},
                                   where="--set training")
    report = update(clf, new, dataclasses.replace(cfg), replay_ratio=args.replay_ratio,
                    validation_split=args.validation_split)
    out = clf.save(args.output, overwrite=args.overwrite).resolve()
    with ModelRegistry(args.registry) as registry:
        parent = registry.find_path(args.model_dir)
        name = args.name or (parent.name if parent else out.name)
        version = registry.register(
            name, out, config=cfg.to_dict(), metrics={"update": report.to_dict()},
            data_fingerprint=fingerprint_dataset(new),
            parent_version=parent.version if parent and parent.name == name else None)
    print(json.dumps({**report.to_dict(), "registered": str(version)}))
    print(f"updated {args.model_dir} with {report.n_new} new examples + {report.n_replay} replayed "
          f"({len(report.new_labels)} new labels) in {report.seconds}s; old-holdout accuracy "
          f"{report.before.get('accuracy', float('nan')):.4f} -> "
          f"{report.after.get('accuracy', float('nan')):.4f}; written to {args.output}",
          file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from .ner import commands as ner_commands

    task = ner_commands.model_task(args.model_dir)
    if task == "bi-encoder":
        from .pairs import BiEncoder

        model = BiEncoder.load(args.model_dir, device="cpu")
    elif task == "text-classification":
        from .classifier import TextClassifier

        model = TextClassifier.load(args.model_dir, device="cpu")
    else:
        raise DataError(f"{args.model_dir} holds a {task} model; ONNX export covers text "
                        "classifiers and bi-encoders: pass one of those")
    out = model.export_onnx(args.output, quantize=args.int8, overwrite=args.overwrite)
    manifest = json.loads((out / ONNX_MANIFEST).read_text(encoding="utf-8"))
    print(json.dumps({"output": str(out), "kind": manifest["kind"],
                      "precision": manifest["precision"], "parity": manifest["parity"]}))
    return 0


def _default_registry() -> str:
    return os.environ.get("DOMAINTUNE_REGISTRY", DEFAULT_REGISTRY_URL)


def _check_data(args: argparse.Namespace) -> int:
    from .checks import check_data
    from .data import load_dataset

    data = load_dataset(args.file, text=args.text_column, label=args.label_column,
                        encoding=args.encoding)
    report = check_data(data, model=args.model, folds=args.folds, seed=args.seed,
                        near_duplicate_threshold=args.near_duplicate_threshold, top_k=args.top_k)
    print(report.summary())
    if args.output:
        out = report.write(args.output)
        print(f"wrote {len(report.suspects)} suspects to {out / 'suspects.csv'} and the full "
              f"report to {out / 'report.json'}", file=sys.stderr)
    return 0


def _models(args: argparse.Namespace) -> int:
    from .registry import ModelRegistry

    with ModelRegistry(args.registry) as registry:
        if args.models_command == "list":
            for v in registry.list(args.name):
                print(f"{v.name}\tv{v.version}\t{v.stage.value}\t"
                      f"{v.created_at:%Y-%m-%d %H:%M}\t{v.path}")
        elif args.models_command == "show":
            v = registry.get(args.name, args.version)
            print(json.dumps({**v.to_dict(), "history": registry.history(args.name)}, indent=2))
        elif args.models_command == "promote":
            print(f"{registry.promote(args.name, args.version)} is now in production")
        else:
            print(f"rolled back: {registry.rollback(args.name)} is now in production")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="domaintune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model from a YAML config")
    train.add_argument("--config", required=True, help="YAML file of train config keys")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (repeatable): output_dir=models/x, "
                            "training.epochs=2 (or epochs=2)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an earlier domaintune model in output_dir (never a folder "
                            "of other files, nor a registered version)")
    train.set_defaults(func=_train)

    evaluate = sub.add_parser("evaluate", help="evaluate a saved model on labelled data")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--text-column", default="text")
    evaluate.add_argument("--label-column", default="label")
    evaluate.add_argument("--encoding", default="utf-8")
    evaluate.add_argument("--output", help="also write the full metrics JSON (and a confusion "
                                           "matrix PNG beside it)")
    evaluate.set_defaults(func=_evaluate)

    predict = sub.add_parser("predict", help="predict labels for texts or a file")
    predict.add_argument("model_dir")
    predict.add_argument("texts", nargs="*", help="texts to classify")
    predict.add_argument("--input", help="CSV/JSONL/Parquet file of texts")
    predict.add_argument("--output", help="CSV or JSONL file for the predictions")
    predict.add_argument("--text-column", default="text")
    predict.add_argument("--encoding", default="utf-8")
    predict.set_defaults(func=_predict)

    exp = sub.add_parser("export", help="export a text classifier to ONNX for fast CPU serving")
    exp.add_argument("model_dir")
    exp.add_argument("--output", required=True, help="directory to write (new or empty)")
    exp.add_argument("--overwrite", action="store_true",
                     help="replace an earlier ONNX export in --output")
    exp.add_argument("--int8", action="store_true",
                     help="int8 weights: faster and smaller, slightly different outputs")
    exp.set_defaults(func=_export)

    upd = sub.add_parser("update", help="update a model with new data (replay, new labels)")
    upd.add_argument("model_dir")
    upd.add_argument("--data", required=True, help="new labelled examples")
    upd.add_argument("--output", required=True, help="directory of the updated model")
    upd.add_argument("--overwrite", action="store_true",
                     help="replace an earlier domaintune model in --output (never a folder of "
                          "other files, nor a registered version)")
    upd.add_argument("--text-column", help="default: the column the model was trained with")
    upd.add_argument("--label-column", help="default: the column the model was trained with")
    upd.add_argument("--encoding", default="utf-8")
    upd.add_argument("--replay-ratio", type=float, default=1.0,
                     help="replayed old examples per new example")
    upd.add_argument("--validation-split", type=float, default=0.1)
    upd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a training key (repeatable): epochs=1 or training.epochs=1")
    upd.add_argument("--name", help="registry name (default: the source model's name)")
    upd.add_argument("--registry", default=_default_registry(), help="SQLAlchemy URL of the "
                     f"model registry (env DOMAINTUNE_REGISTRY; default {DEFAULT_REGISTRY_URL})")
    upd.set_defaults(func=_update)

    check = sub.add_parser("check-data", help="find duplicates, conflicting and suspect labels, "
                                              "length outliers in a labelled file")
    check.add_argument("file")
    check.add_argument("--text-column", default="text")
    check.add_argument("--label-column", default="label")
    check.add_argument("--encoding", default="utf-8")
    check.add_argument("--model", default="default", help="encoder for the embeddings")
    check.add_argument("--folds", type=int, default=5)
    check.add_argument("--seed", type=int, default=42)
    check.add_argument("--near-duplicate-threshold", type=float, default=0.95)
    check.add_argument("--top-k", type=int, default=None, help="list only the K worst suspects")
    check.add_argument("--output", help="directory for suspects.csv and report.json")
    check.set_defaults(func=_check_data)

    registry = argparse.ArgumentParser(add_help=False)
    registry.add_argument("--registry", default=_default_registry(),
                          help="SQLAlchemy URL of the model registry (env DOMAINTUNE_REGISTRY; "
                               f"default {DEFAULT_REGISTRY_URL})")
    models = sub.add_parser("models", help="list, show, promote and roll back registered models")
    msub = models.add_subparsers(dest="models_command", required=True)
    p = msub.add_parser("list", parents=[registry], help="list registered versions")
    p.add_argument("name", nargs="?")
    p = msub.add_parser("show", parents=[registry], help="one version as JSON (latest by default)")
    p.add_argument("name")
    p.add_argument("version", type=int, nargs="?")
    p = msub.add_parser("promote", parents=[registry], help="make a version production")
    p.add_argument("name")
    p.add_argument("version", type=int)
    p = msub.add_parser("rollback", parents=[registry], help="re-promote the previous production")
    p.add_argument("name")
    models.set_defaults(func=_models)
    return parser


NOISY_LOGGERS = ("httpx", "urllib3", "matplotlib", "huggingface_hub", "faiss",
                 "sentence_transformers")


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv``, set up logging (``-v``/``--verbose`` = debug) and run ``args.func``.

    The shared entry point of every console script (``domaintune``, the apps): a
    :class:`DomaintuneError` becomes one ``error: ...`` line on stderr and exit status 2.
    """
    args = parser.parse_args(argv)
    level = logging.DEBUG if getattr(args, "verbose", False) else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # the core logs on per-module loggers (domaintune.classifier, domaintune.ner.data, ...):
    # their parent sets the level for all of them
    logging.getLogger("domaintune").setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except DomaintuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``domaintune`` console script."""
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

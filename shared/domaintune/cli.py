"""The ``domaintune`` command line: train, evaluate and predict.

Examples:
    domaintune train --config train.yaml --set training.epochs=2 --set training.method=frozen
    domaintune evaluate models/tickets --data test.csv --label-column queue
    domaintune predict models/tickets --input new.csv --output predictions.csv
    domaintune predict models/tickets "where is my refund?"
    domaintune predict models/tickets-onnx "where is my refund?"   # an ONNX export: no PyTorch
    domaintune update models/tickets --data new.csv --output models/tickets-v2
    domaintune export models/tickets --output models/tickets-onnx [--int8 [RECIPE|auto]]
    domaintune check-data tickets.csv --label-column queue --output reports/checks
    domaintune models list | show NAME | promote NAME VERSION | rollback NAME
    domaintune apps
    domaintune serve models/tickets --port 8000 [--api-key-env DOMAINTUNE_API_KEY]
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

from .errors import ConfigError, DataError, DomaintuneError

logger = logging.getLogger(__name__)

# = domaintune.registry.DEFAULT_REGISTRY_URL (a test keeps them equal); not imported from there
# because that module loads SQLAlchemy and pandas, which --help does not need
DEFAULT_REGISTRY_URL = "sqlite:///models/registry.db"
ONNX_MANIFEST = "onnx.json"  # = domaintune.export.MANIFEST_FILE
DEFAULT_MAX_INT8_DROP = 1.0  # accuracy points, `domaintune export --int8`
METRICS_FILE = "metrics.json"  # = domaintune.classifier.METRICS_FILE

# How the library's arguments are spelled in each command (domaintune.advice): every fix an
# error suggests is an option of the command that was run; None = the command cannot set it,
# so the advice leaves it out rather than suggesting something that does not work there.
TRAIN_SPELLING: dict[str, str | None] = {
    "text": "--set text_column={}", "label": "--set label_column={}",
    "text_key": "--set text_column={}", "encoding": "--set encoding={}",
    "stratify": "--set stratify=false", "file_format": None,
}
FILE_SPELLING: dict[str, str | None] = {  # evaluate, check-data, update
    "text": "--text-column {}", "label": "--label-column {}", "encoding": "--encoding {}",
    "stratify": None, "file_format": None,
}
PREDICT_SPELLING: dict[str, str | None] = {**FILE_SPELLING, "label": None}
EXPORT_SPELLING: dict[str, str | None] = {"max_int8_drop": "--max-int8-drop {}"}


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


def _trained_columns(model_dir: str | Path | None) -> dict[str, str]:
    """The text/label columns a saved model was trained with (``metrics.json`` →
    ``run_config``), ``{}`` when the directory records none (not a model, trained in Python)."""
    if not model_dir:
        return {}
    try:
        metrics = json.loads((Path(model_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    run = metrics.get("run_config") if isinstance(metrics, dict) else None
    if not isinstance(run, dict):
        return {}
    return {k: str(run[k]) for k in ("text_column", "label_column") if isinstance(run.get(k), str)}


def _say(args: argparse.Namespace, lines: list[str]) -> None:
    """The readable summary, on stderr (``--json``: nothing; stdout holds the JSON)."""
    if not getattr(args, "json", False):
        print("\n".join(lines), file=sys.stderr)


def _emit(payload: dict[str, Any]) -> None:
    """The command's one JSON object, on one line of stdout (what scripts parse)."""
    print(json.dumps(payload, ensure_ascii=False, default=str))


def metrics_summary(name: str, metrics: dict[str, Any], *, worst: int = 3) -> list[str]:
    """Readable lines for one evaluation: accuracy, macro-F1, ECE and the worst classes.

    Example:
        >>> metrics_summary("test", {"accuracy": 0.9, "macro_f1": 0.85, "n_examples": 20})
        ['test (20 examples): accuracy 0.900 · macro-F1 0.850']
    """
    parts = []
    for key, shown in (("entity_f1", "entity F1"), ("entity_precision", "precision"),
                       ("entity_recall", "recall"), ("accuracy", "accuracy"),
                       ("macro_f1", "macro-F1"), ("ece", "ECE")):
        if isinstance(metrics.get(key), (int, float)):
            parts.append(f"{shown} {metrics[key]:.3f}")
    n = metrics.get("n_examples", metrics.get("n_sentences"))
    lines = [f"{name}{f' ({n} examples)' if n is not None else ''}: {' · '.join(parts)}"]
    per_class = metrics.get("per_class") or metrics.get("per_type") or {}
    scored = [(c, v) for c, v in per_class.items()
              if isinstance(v, dict) and isinstance(v.get("f1"), (int, float))
              and v.get("support", 1)]
    if len(scored) > 1 and worst:
        scored.sort(key=lambda cv: (cv[1]["f1"], cv[0]))
        lines.append("  worst classes (F1): " + ", ".join(
            f"{c} {v['f1']:.2f} (n={v.get('support', '?')})" for c, v in scored[:worst]))
    return lines


def _calibration_line(cal: dict[str, Any] | None) -> str | None:
    if not cal:
        return None
    if cal.get("skipped"):
        return (f"calibration skipped: {cal['skipped']}; temperature stays "
                f"{cal.get('temperature', 1.0):.3g}")
    return (f"calibration: temperature {cal.get('temperature', 1.0):.3g} fitted on "
            f"{cal.get('n', '?')} validation examples (ECE {cal.get('ece_before', 0):.3f} -> "
            f"{cal.get('ece_after', 0):.3f})")


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
        _emit({"output": str(run.output_dir), **summary})
        _say(args, [message] + [line for key in ("validation", "test") if key in summary
                                for line in metrics_summary(key, summary[key])])
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
        train, val = train_validation_split(train, run.validation_split, seed=run.training.seed,
                                            stratify=run.stratify)
    test = load_dataset(run.test_file, **opts) if run.test_file else None
    notes = list(dict.fromkeys(n for d in (train, val, test) if d is not None for n in d.notes))
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
    if notes:
        clf.metrics["data_notes"] = notes
    # again: a version may have been registered there while this one trained
    _check_output(out, overwrite=args.overwrite, registry_url=registry_url,
                  option="--set output_dir=")
    clf.save(out, overwrite=args.overwrite)
    if test_metrics is not None and not clf.multi_label:
        attach_file(out, "confusion_matrix.png", lambda path: plot_confusion_matrix(
            test_metrics["confusion_matrix"], clf.labels, path))
    summary = {k: clf.metrics[k] for k in ("validation", "calibration", "test") if k in clf.metrics}
    with ModelRegistry(registry_url) as registry:
        version = registry.register(run.name or out.resolve().name, out.resolve(),
                                    config=run.to_dict(), metrics=summary,
                                    data_fingerprint=fingerprint_dataset(train))
        location = registry.location
    _emit({"output": str(out), **summary, "notes": notes, "registered": str(version),
           "registry": location})
    lines = [f"trained {run.training.method.value} on {len(train)} examples "
             f"({len(clf.labels)} labels), validated on {len(val) if val else 0}, tested on "
             f"{len(test) if test else 0} in {clf.metrics['train_seconds']}s"]
    sizes = {"validation": len(val) if val else 0, "test": len(test) if test else 0}
    for key in ("validation", "test"):
        if key in summary:
            lines += metrics_summary(key, {"n_examples": sizes[key], **summary[key]},
                                     worst=3 if key == "test" or "test" not in summary else 0)
    cal = _calibration_line(summary.get("calibration"))
    lines += [cal] if cal else ["calibration: none (no validation data)"]
    lines += [f"note: {n}" for n in notes]
    lines += [f"model, metrics.json{' and confusion_matrix.png' if test_metrics is not None and not clf.multi_label else ''} written to {out}",
              f"registered as {version} in {location}"]
    _say(args, lines)
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
        _emit(metrics)  # entity_f1, entity_precision, entity_recall, macro_f1, ...
        _say(args, metrics_summary(f"{args.data}", metrics)
             + ([f"full metrics written to {args.output}"] if args.output else []))
        return 0
    clf = TextClassifier.load(args.model_dir)
    trained = _trained_columns(args.model_dir)
    data = load_dataset(args.data, text=args.text_column or trained.get("text_column", "text"),
                        label=args.label_column or trained.get("label_column", "label"),
                        multi_label=clf.multi_label, encoding=args.encoding)
    report_dir = Path(args.output).parent if args.output else None
    metrics = clf.evaluate(data)
    if report_dir is not None and not clf.multi_label:
        plot_confusion_matrix(metrics["confusion_matrix"], clf.labels,
                              report_dir / (Path(args.output).stem + "_confusion_matrix.png"))
    printable = {k: v for k, v in metrics.items() if k != "confusion_matrix"}
    if args.output:
        write_json_atomic(args.output, metrics)
    _emit({**printable, "notes": data.notes} if data.notes else printable)
    lines = metrics_summary(str(args.data), metrics)
    confused = [p for p in metrics.get("most_confused", []) if p.get("count")][:3]
    if confused:
        lines.append("  most confused: " + ", ".join(
            f"{p['true']} -> {p['predicted']} ({p['count']})" for p in confused))
    lines += [f"note: {n}" for n in data.notes]
    if args.output:
        lines.append(f"full metrics written to {args.output}" + (
            f", confusion matrix to {report_dir / (Path(args.output).stem + '_confusion_matrix.png')}"
            if report_dir is not None and not clf.multi_label else ""))
    _say(args, lines)
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


def _predict_backend(args: argparse.Namespace, is_ner: bool, clf: Any) -> dict[str, str]:
    """``predict_proba``'s keyword arguments for ``--backend`` (a PyTorch classifier picks per
    call, see :mod:`domaintune.backend`; an ONNX export is ONNX already; NER runs on PyTorch)."""
    backend = args.backend
    if is_ner:
        if backend == "onnx":
            raise DomaintuneError(f"--backend onnx: {args.model_dir} is a token-classification "
                                  "(NER) model, which predict runs on PyTorch; pass --backend "
                                  "auto or torch")
        return {}
    if (Path(args.model_dir) / ONNX_MANIFEST).is_file():
        if backend == "torch":
            raise DomaintuneError(f"--backend torch: {args.model_dir} is an ONNX export, which "
                                  "runs on ONNX Runtime; pass the model directory it was "
                                  "exported from, or --backend auto")
        return {}
    return {"backend": backend}


def _predict(args: argparse.Namespace) -> int:
    from .data import load_dataset, read_table
    from .persistence import write_text_atomic

    if args.input and args.texts:
        raise DomaintuneError("pass texts on the command line or --input FILE, not both")
    is_ner, clf = _load_predictor(args.model_dir)
    options = _predict_backend(args, is_ner, clf)
    if args.input:
        text = args.text_column or _trained_columns(args.model_dir).get("text_column", "text")
        data = load_dataset(args.input, text=text, label=None, encoding=args.encoding)
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
    import numpy as np

    from .calibration import decide

    probs = np.atleast_2d(clf.predict_proba(texts, **options))
    labels = decide(probs, clf.labels, clf.multi_label, clf.threshold)  # one model pass, not two
    rows = []
    for text, label, p in zip(texts, labels, probs, strict=True):
        row = {"text": text, "label": "|".join(label) if clf.multi_label else label,
               "score": float(p.max()) if not clf.multi_label else
               float(min((p[clf.labels.index(x)] for x in label), default=0.0))}
        rows.append(row)
    if args.output:
        import pandas as pd

        out = Path(args.output)
        if args.input:
            # the input's rows with every column kept (ids, to join back), label/score appended
            frame, _ = read_table(args.input, encoding=args.encoding)
            frame = frame.copy()
            names = ("label", "score")
            if any(n in frame.columns for n in names):
                names = ("predicted_label", "predicted_score")
                logger.info("%s already has a label or score column; the predictions are in "
                            "%s and %s", args.input, *names)
            frame[names[0]] = [r["label"] for r in rows]
            frame[names[1]] = [r["score"] for r in rows]
        else:
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
    trained_with = _trained_columns(args.model_dir)
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
    _check_output(args.output, overwrite=args.overwrite, registry_url=args.registry,
                  option="--output ")  # again: something may have been registered meanwhile
    out = clf.save(args.output, overwrite=args.overwrite).resolve()
    with ModelRegistry(args.registry) as registry:
        parent = registry.find_path(args.model_dir)
        name = args.name or (parent.name if parent else out.name)
        version = registry.register(
            name, out, config=cfg.to_dict(), metrics={"update": report.to_dict()},
            data_fingerprint=fingerprint_dataset(new),
            parent_version=parent.version if parent and parent.name == name else None)
        location = registry.location
    _emit({**report.to_dict(), "output": str(out), "registered": str(version),
           "registry": location})
    _say(args, [
        f"updated {args.model_dir} with {report.n_new} new examples + {report.n_replay} replayed "
        f"({len(report.new_labels)} new labels) in {report.seconds}s",
        f"old-holdout accuracy {report.before.get('accuracy', float('nan')):.3f} -> "
        f"{report.after.get('accuracy', float('nan')):.3f}",
        *[f"note: {n}" for n in new.notes],
        f"written to {args.output}", f"registered as {version} in {location}"])
    return 0


def _export(args: argparse.Namespace) -> int:
    from .ner import commands as ner_commands

    task = ner_commands.model_task(args.model_dir)
    # task -> (module, class) of the saved model; each has export_onnx
    exporters = {"text-classification": ("domaintune.classifier", "TextClassifier"),
                 "bi-encoder": ("domaintune.pairs", "BiEncoder"),
                 "token-classification": ("domaintune.ner", "TokenClassifier"),
                 "cross-encoder": ("domaintune.pairs", "CrossEncoderModel")}
    if (Path(args.model_dir) / ONNX_MANIFEST).is_file():
        raise DataError(f"{args.model_dir} is already an ONNX export; pass the directory of the "
                        "saved model it was exported from")
    if task not in exporters:
        raise DataError(f"{args.model_dir} holds a {task} model; ONNX export covers "
                        f"{', '.join(sorted(exporters))} models: pass one of those")
    import importlib

    module, name = exporters[task]
    model = getattr(importlib.import_module(module), name).load(args.model_dir, device="cpu")
    # the int8 refusal limit applies where the export measures accuracy on stored data
    extra = {"max_int8_drop": args.max_int8_drop} if task == "text-classification" else {}
    if not extra and args.max_int8_drop != DEFAULT_MAX_INT8_DROP:
        raise ConfigError(f"--max-int8-drop applies to text classifiers (their stored validation "
                          f"texts), found a {task} model, whose int8 check compares the outputs on "
                          "probe texts and records them in onnx.json; leave out --max-int8-drop")
    out = model.export_onnx(args.output, quantize=args.int8, overwrite=args.overwrite, **extra)
    manifest = json.loads((out / ONNX_MANIFEST).read_text(encoding="utf-8"))
    payload = {"output": str(out), "kind": manifest["kind"], "precision": manifest["precision"],
               "parity": manifest["parity"]}
    if "int8_check" in manifest:
        payload["int8_check"] = manifest["int8_check"]
    _emit(payload)
    parity = manifest["parity"]
    lines = [f"exported the {manifest['kind']} to {out} ({manifest['precision']}); probe texts: "
             f"max |ONNX - PyTorch| {parity['max_abs_diff']:.2g}, min cosine "
             f"{parity['min_cosine']:.4f}"]
    check = manifest.get("int8_check")
    if check:
        from .export import int8_check_summary

        lines.append(int8_check_summary(check))
    _say(args, lines)
    return 0


def _default_registry() -> str:
    return os.environ.get("DOMAINTUNE_REGISTRY", DEFAULT_REGISTRY_URL)


def _check_data(args: argparse.Namespace) -> int:
    from .checks import check_data
    from .data import load_dataset

    trained = _trained_columns(args.model)  # --model MODEL_DIR: that model's columns
    data = load_dataset(args.file, text=args.text_column or trained.get("text_column", "text"),
                        label=args.label_column or trained.get("label_column", "label"),
                        encoding=args.encoding)
    report = check_data(data, model=args.model, folds=args.folds, seed=args.seed,
                        near_duplicate_threshold=args.near_duplicate_threshold, top_k=args.top_k)
    out = report.write(args.output) if args.output else None
    _emit({"source": report.source, "n_examples": report.n_examples,
           "label_counts": report.label_counts, "imbalance_ratio": report.imbalance_ratio,
           "exact_duplicates": len(report.exact_duplicates),
           "near_duplicates": len(report.near_duplicates),
           "length_outliers": len(report.length_outliers), "suspects": len(report.suspects),
           "notes": [*data.notes, *report.notes], "output": str(out) if out else None})
    lines = [report.summary(), *[f"note: {n}" for n in data.notes]]
    if out is not None:
        lines.append(f"wrote {len(report.suspects)} suspects to {out / 'suspects.csv'} and the "
                     f"full report to {out / 'report.json'}")
    _say(args, lines)
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
    train.add_argument("--json", action="store_true",
                     help="print only the JSON object on stdout (no summary on stderr)")
    train.set_defaults(func=_train, spelling=TRAIN_SPELLING)

    evaluate = sub.add_parser("evaluate", help="evaluate a saved model on labelled data")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--text-column", help="default: the column the model was trained "
                                                "with (else 'text')")
    evaluate.add_argument("--label-column", help="default: the column the model was trained "
                                                 "with (else 'label')")
    evaluate.add_argument("--encoding", default="utf-8")
    evaluate.add_argument("--output", help="also write the full metrics JSON (and a confusion "
                                           "matrix PNG beside it)")
    evaluate.add_argument("--json", action="store_true",
                     help="print only the JSON object on stdout (no summary on stderr)")
    evaluate.set_defaults(func=_evaluate, spelling=FILE_SPELLING)

    predict = sub.add_parser("predict", help="predict labels for texts or a file")
    predict.add_argument("model_dir")
    predict.add_argument("texts", nargs="*", help="texts to classify")
    predict.add_argument("--input", help="CSV/JSONL/Parquet file of texts")
    predict.add_argument("--output", help="CSV or JSONL file: the input's rows and columns "
                                          "with label and score appended")
    predict.add_argument("--text-column", help="default: the column the model was trained "
                                               "with (else 'text')")
    predict.add_argument("--encoding", default="utf-8")
    predict.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                         help="auto (default): PyTorch, or the model's fp32 ONNX twin when it is "
                              "cached or the input is large (same outputs, faster on a CPU); "
                              "onnx: the twin, exported into $DOMAINTUNE_CACHE (default "
                              "~/.cache/domaintune) on first use; torch: PyTorch")
    predict.set_defaults(func=_predict, spelling=PREDICT_SPELLING)

    exp = sub.add_parser("export", help="export a model (text classifier, NER tagger, bi-encoder, "
                                        "cross-encoder) to ONNX for fast CPU serving")
    exp.add_argument("model_dir")
    exp.add_argument("--output", required=True, help="directory to write (new or empty)")
    exp.add_argument("--overwrite", action="store_true",
                     help="replace an earlier ONNX export in --output")
    exp.add_argument("--int8", nargs="?", const=True, default=False, metavar="RECIPE|auto",
                     help="int8: faster and smaller, slightly different outputs (checked on the "
                          "model's stored validation texts). Alone: the default recipe "
                          "(dynamic-per-channel); a recipe name (dynamic, "
                          "dynamic-per-channel, static-qdq, ... see domaintune.quantize.RECIPES); "
                          "or auto: measure the candidate recipes on the stored validation texts "
                          "and keep the fastest within --max-int8-drop")
    exp.add_argument("--max-int8-drop", type=float, default=DEFAULT_MAX_INT8_DROP,
                     metavar="POINTS",
                     help="refuse an int8 export that loses more accuracy points than this on "
                          f"the stored validation texts (default {DEFAULT_MAX_INT8_DROP:g}; "
                          "100 accepts any loss)")
    exp.add_argument("--json", action="store_true",
                     help="print only the JSON object on stdout (no summary on stderr)")
    exp.set_defaults(func=_export, spelling=EXPORT_SPELLING)

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
    upd.add_argument("--json", action="store_true",
                     help="print only the JSON object on stdout (no summary on stderr)")
    upd.set_defaults(func=_update, spelling=FILE_SPELLING)

    check = sub.add_parser("check-data", help="find duplicates, conflicting and suspect labels, "
                                              "length outliers in a labelled file")
    check.add_argument("file")
    check.add_argument("--text-column", help="default: the column --model was trained with "
                                             "(else 'text')")
    check.add_argument("--label-column", help="default: the column --model was trained with "
                                              "(else 'label')")
    check.add_argument("--encoding", default="utf-8")
    check.add_argument("--model", default="default",
                       help="encoder for the embeddings: 'default', a hub id or a directory "
                            "(a trained domaintune model: its text/label columns are the "
                            "defaults)")
    check.add_argument("--folds", type=int, default=5)
    check.add_argument("--seed", type=int, default=42)
    check.add_argument("--near-duplicate-threshold", type=float, default=0.95)
    check.add_argument("--top-k", type=int, default=None, help="list only the K worst suspects")
    check.add_argument("--output", help="directory for suspects.csv and report.json")
    check.add_argument("--json", action="store_true",
                       help="print only the JSON object on stdout (no summary on stderr)")
    check.set_defaults(func=_check_data, spelling=FILE_SPELLING)

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
    apps = sub.add_parser("apps", help="list the registered applications (domaintune.apps "
                                       "entry points); imports no app's models")
    apps.set_defaults(func=_apps)
    _add_serve_parser(sub)
    return parser


def _apps(args: argparse.Namespace) -> int:
    from .apps import main as list_apps

    return list_apps([])


def _add_serve_parser(sub: Any) -> None:
    # domaintune.serving.config is standard library only: --help imports no FastAPI
    from .serving.config import add_serve_options

    srv = sub.add_parser(
        "serve", help="serve a model or ONNX export over REST (FastAPI + uvicorn)",
        description="Serve DIR over HTTP: POST /v1/predict (text classifier, NER) or POST "
                    "/v1/embed (bi-encoder), GET /health, /ready, /v1/model, /metrics, "
                    "/openapi.json. Binds to 127.0.0.1 unless --host says otherwise; SIGTERM "
                    "finishes the requests in flight, then exits.")
    srv.add_argument("model_dir", metavar="DIR", help="a model directory (served with PyTorch) "
                     "or an ONNX export directory (ONNX Runtime)")
    add_serve_options(srv)
    srv.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from .serving.config import serve_config_from_args
    from .serving.server import serve_model

    result = serve_model(args.model_dir, serve_config_from_args(args))
    _emit({"model": args.model_dir, **result})
    return 0


NOISY_LOGGERS = ("httpx", "urllib3", "matplotlib", "huggingface_hub", "faiss",
                 "sentence_transformers")


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv``, set up logging (``-v``/``--verbose`` = debug) and run ``args.func``.

    The shared entry point of every console script (``domaintune``, the apps): a
    :class:`DomaintuneError` becomes one ``error: ...`` line on stderr and exit status 2. A
    sub-command that sets ``spelling`` (``set_defaults(spelling={...})``, see
    :func:`domaintune.advice.spelled_as`) runs with its errors' advice spelled in its options.
    """
    args = parser.parse_args(argv)
    level = logging.DEBUG if getattr(args, "verbose", False) else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # the core logs on per-module loggers (domaintune.classifier, domaintune.ner.data, ...):
    # their parent sets the level for all of them
    logging.getLogger("domaintune").setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from .advice import spelled_as

    spelling = getattr(args, "spelling", None)
    try:
        if spelling is None:  # Python spelling (name='value')
            return args.func(args)
        with spelled_as(spelling):  # the advice of errors names this command's own options
            return args.func(args)
    except DomaintuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``domaintune`` console script."""
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

"""The ``domaintune`` command line, end to end on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from domaintune.cli import main


@pytest.fixture
def config_file(tmp_path, tiny_model, toy_csv):
    path = tmp_path / "train.yaml"
    path.write_text(
        f"task: text-classification\nmodel: {tiny_model}\nmethod: frozen\n"
        f"train_file: {toy_csv}\ntest_file: {toy_csv}\nvalidation_split: 0.25\n"
        f"text_column: body\nlabel_column: queue\noutput_dir: {tmp_path / 'out'}\n"
        "epochs: 1\nbatch_size: 8\nlearning_rate: 0.001\nseed: 1\nprogress: false\n"
    )
    return path


def test_train_evaluate_predict(config_file, tmp_path, toy_csv, capsys):
    assert main(["train", "--config", str(config_file), "--set", "head_c=50"]) == 0
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"validation", "test", "calibration", "run_config"} <= set(metrics)
    assert metrics["run_config"]["training"]["head_c"] == 50  # the nested form, as documented
    assert (out / "confusion_matrix.png").is_file()
    capsys.readouterr()

    assert main(["evaluate", str(out), "--data", str(toy_csv), "--text-column", "body",
                 "--label-column", "queue", "--output", str(tmp_path / "eval.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert 0.0 <= printed["accuracy"] <= 1.0 and "macro_f1" in printed
    assert json.loads((tmp_path / "eval.json").read_text())["accuracy"] == printed["accuracy"]

    assert main(["predict", str(out), "--input", str(toy_csv), "--text-column", "body",
                 "--output", str(tmp_path / "pred.csv")]) == 0
    import pandas as pd

    pred = pd.read_csv(tmp_path / "pred.csv", dtype={"body": str, "queue": str})
    source = pd.read_csv(toy_csv, dtype=str)
    # the input's columns and rows as they were (ids join back), label and score appended
    assert list(pred.columns) == ["body", "queue", "label", "score"] and len(pred) == 32
    assert pred["body"].tolist() == source["body"].tolist()
    assert pred["queue"].tolist() == source["queue"].tolist()
    capsys.readouterr()
    assert main(["predict", str(out), "where is my refund", "card lost"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["where is my refund", "card lost"]

    assert main(["export", str(out), "--output", str(tmp_path / "onnx")]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["precision"] == "fp32" and exported["parity"]["max_abs_diff"] < 1e-4
    from domaintune import TextClassifier
    from domaintune.export import OnnxTextClassifier

    texts = ["where is my refund", "card lost", "hello"]
    np.testing.assert_allclose(OnnxTextClassifier.load(tmp_path / "onnx").predict_proba(texts),
                               TextClassifier.load(out).predict_proba(texts), atol=1e-5)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epoch=3", r"unknown train config key 'epoch'; did you mean 'epochs'"),
        ("batch_size=many", r"'batch_size' expects an integer, found 'many'"),
        ("method=fast", r"'method' expects one of \['full', 'lora', 'frozen', 'zero-shot'\]"),
        ("validation_split=2", r"'validation_split' expects a number in \[0, 1\)"),
        ("novalue", r"--set expects key=value"),
    ],
)
def test_train_rejects_bad_keys_and_types(config_file, capsys, override, message):
    assert main(["train", "--config", str(config_file), "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    import re

    assert re.search(message, err), err


def test_bad_data_in_cli_is_one_clear_error(config_file, tmp_path, capsys):
    assert main(["train", "--config", str(config_file), "--set", "label_column=category"]) == 2
    err = capsys.readouterr().err
    assert "expected columns ['body', 'category']" in err and "found ['body', 'queue']" in err
    assert not (tmp_path / "out").exists()


def test_update_command_adds_labels_and_never_overwrites(config_file, tmp_path, capsys):
    assert main(["train", "--config", str(config_file)]) == 0
    new = tmp_path / "new.csv"
    new.write_text("body,queue\n" + "".join(f"exchange rate {i},fx\nwhat rate today {i},fx\n"
                                            for i in range(6)))
    out = tmp_path / "out"
    assert main(["update", str(out), "--data", str(new), "--output", str(out)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["update", str(out), "--data", str(new), "--output", str(tmp_path / "v2"),
                 "--set", "epochs=1"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["new_labels"] == ["fx"] and report["forgetting"] is not None
    from domaintune import TextClassifier

    assert "fx" in TextClassifier.load(tmp_path / "v2").labels
    assert "fx" not in TextClassifier.load(out).labels
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,greeting\n")
    assert main(["update", str(out), "--data", str(bad), "--output", str(tmp_path / "v3")]) == 2
    assert "expected columns ['body', 'queue']" in capsys.readouterr().err


def test_train_and_update_are_registered_with_lineage(config_file, tmp_path, capsys):
    assert main(["train", "--config", str(config_file), "--set", "name=tickets"]) == 0
    new = tmp_path / "new.csv"
    new.write_text("body,queue\n" + "".join(f"card lost again {i},card\n" for i in range(10)))
    assert main(["update", str(tmp_path / "out"), "--data", str(new),
                 "--output", str(tmp_path / "v2"), "--set", "epochs=1"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "tickets"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(r[0], r[1], r[2]) for r in rows] == [("tickets", "v1", "candidate"),
                                                  ("tickets", "v2", "candidate")]
    assert main(["models", "show", "tickets", "2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["parent_version"] == 1 and shown["path"].endswith("v2")
    assert main(["models", "promote", "tickets", "1"]) == 0
    assert main(["models", "promote", "tickets", "2"]) == 0
    assert main(["models", "rollback", "tickets"]) == 0
    assert "v1" in capsys.readouterr().out.splitlines()[-1]
    assert main(["models", "promote", "tickets", "7"]) == 2
    assert "tickets" in capsys.readouterr().err


def test_check_data_command_writes_suspects(tmp_path, toy_csv, tiny_model, capsys):
    assert main(["check-data", str(toy_csv), "--text-column", "body", "--label-column", "queue",
                 "--model", tiny_model, "--folds", "2", "--output", str(tmp_path / "checks")]) == 0
    assert (tmp_path / "checks" / "suspects.csv").is_file()
    report = json.loads((tmp_path / "checks" / "report.json").read_text())
    assert report["n_examples"] == 32
    assert report["label_counts"] == {"card": 8, "greeting": 8, "login": 8, "refund": 8}
    assert "label" in capsys.readouterr().out.lower()


def test_token_classification_through_the_cli(tmp_path, tiny_model, capsys):
    conll = tmp_path / "train.conll"
    conll.write_text("Ann\tB-PER\nflew\tO\nto\tO\nOslo\tB-LOC\n\nBob\tB-PER\nlikes\tO\nRome\tB-LOC\n")
    config = tmp_path / "ner.yaml"
    config.write_text(f"task: token-classification\nmodel: {tiny_model}\ntrain_file: {conll}\n"
                      f"validation_split: 0\noutput_dir: {tmp_path / 'ner'}\nmax_steps: 2\n"
                      "progress: false\n")
    assert main(["train", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "ner"), "--data", str(conll)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"entity_f1", "entity_precision", "entity_recall", "per_type"} <= set(metrics)
    assert main(["predict", str(tmp_path / "ner"), "Ann flew to Rome"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["text"] == "Ann flew to Rome" and isinstance(row["entities"], list)


@pytest.fixture
def nested_config(tmp_path, tiny_model, toy_csv):
    """The documented form: a nested training: section, paths relative to the config file."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "tickets.csv").write_text(toy_csv.read_text())
    path = folder / "train.yaml"
    path.write_text(
        f"model: {tiny_model}\ntrain_file: tickets.csv\ntest_file: tickets.csv\n"
        "validation_split: 0.25\ntext_column: body\nlabel_column: queue\noutput_dir: out\n"
        "training:\n  method: frozen\n  seed: 1\n  progress: false\n")
    return path


def test_train_with_a_nested_config_from_another_directory(nested_config, tmp_path, monkeypatch,
                                                           capsys):
    monkeypatch.chdir(tmp_path)  # not the config's folder: its paths still resolve beside it
    assert main(["train", "--config", str(nested_config), "--set", "training.head_c=50",
                 "--set", "seed=2"]) == 0
    out = nested_config.parent / "out"
    saved = json.loads((out / "metrics.json").read_text())["run_config"]
    assert saved["training"]["head_c"] == 50 and saved["training"]["seed"] == 2
    assert saved["train_file"] == str(nested_config.parent / "tickets.csv")
    assert not (tmp_path / "out").exists()
    assert str(out) in capsys.readouterr().err


def test_train_refuses_a_folder_of_other_files_before_training(config_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["train", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert f"cannot save the model to {out}: the directory is not empty (1 entry: notes.txt)" in err
    assert f"--set output_dir={tmp_path / 'out-v2'}" in err and "even with overwrite" in err
    assert main(["train", "--config", str(config_file), "--overwrite"]) == 2  # still refused
    assert "never replaces it" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine" and sorted(out.iterdir()) == [out / "notes.txt"]


def test_a_registered_version_is_never_written_again(config_file, tmp_path, capsys):
    assert main(["train", "--config", str(config_file)]) == 0
    out = tmp_path / "out"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    for extra in ([], ["--overwrite"]):
        assert main(["train", "--config", str(config_file), *extra]) == 2
        err = capsys.readouterr().err
        assert f"{out} holds out v1 (candidate), a registered model version" in err
        assert "files never change" in err and "even with --overwrite" in err
        assert f"--set output_dir={tmp_path / 'out-v2'}" in err
    new = tmp_path / "new.csv"
    new.write_text("body,queue\n" + "".join(f"exchange rate {i},fx\n" for i in range(6)))
    (tmp_path / "v2").mkdir()
    assert main(["update", str(out), "--data", str(new), "--output", str(tmp_path / "v2"),
                 "--set", "training.epochs=1"]) == 0  # an empty directory is fine
    capsys.readouterr()
    assert main(["update", str(out), "--data", str(new), "--output", str(tmp_path / "v2"),
                 "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "a registered model version" in err and f"--output {tmp_path / 'v2-v2'}" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # the suggested alternative works
    assert main(["train", "--config", str(config_file), "--set",
                 f"output_dir={tmp_path / 'out-v2'}"]) == 0


def test_overwrite_reaches_every_save(config_file, tmp_path, capsys, monkeypatch):
    """--overwrite is passed as overwrite= to TextClassifier.save and export_onnx (the library
    decides what it may replace). Needs the library's overwrite= parameter (issue 8 §1)."""
    from domaintune import TextClassifier

    seen = []
    for name in ("save", "export_onnx"):
        original = getattr(TextClassifier, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            seen.append((_name, kwargs.get("overwrite")))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TextClassifier, name, spy)
    monkeypatch.setenv("DOMAINTUNE_REGISTRY", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert main(["train", "--config", str(config_file), "--set",
                 f"registry=sqlite:///{tmp_path / 'r1.db'}"]) == 0
    # the same directory, not registered in this registry: replaced with --overwrite only
    assert main(["train", "--config", str(config_file), "--set",
                 f"registry=sqlite:///{tmp_path / 'r2.db'}"]) == 2
    assert main(["train", "--config", str(config_file), "--overwrite", "--set",
                 f"registry=sqlite:///{tmp_path / 'r2.db'}"]) == 0
    assert main(["export", str(tmp_path / "out"), "--output", str(tmp_path / "onnx")]) == 0
    assert main(["export", str(tmp_path / "out"), "--output", str(tmp_path / "onnx"),
                 "--overwrite"]) == 0
    assert seen == [("save", False), ("save", True), ("export_onnx", False),
                    ("export_onnx", True)]
    capsys.readouterr()

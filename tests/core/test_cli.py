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
    captured = capsys.readouterr()
    printed = _one_json_object(captured.out)
    assert printed["n_examples"] == 32 and printed["label_counts"] == report["label_counts"]
    assert printed["output"] == str(tmp_path / "checks")
    assert "label" in captured.err.lower() and "suspects.csv" in captured.err


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


# ---------------------------------------------------------------- issue 9: output people read
def _one_json_object(out: str) -> dict:
    """stdout holds exactly one JSON object (and nothing else)."""
    decoder = json.JSONDecoder()
    obj, end = decoder.raw_decode(out.strip())
    assert out.strip()[end:].strip() == "", f"more than one JSON object on stdout: {out[:500]}"
    assert isinstance(obj, dict)
    return obj


def test_train_and_evaluate_print_one_json_object_and_a_readable_summary(config_file, tmp_path,
                                                                          toy_csv, capsys):
    assert main(["train", "--config", str(config_file)]) == 0
    captured = capsys.readouterr()
    printed = _one_json_object(captured.out)
    assert len(captured.out.strip().splitlines()) == 1
    assert {"validation", "calibration", "test", "registered", "registry"} <= set(printed)
    assert printed["output"] == str(tmp_path / "out")
    err = captured.err
    assert "trained frozen on 24 examples (4 labels)" in err
    assert "validation (8 examples): accuracy " in err
    assert "test (32 examples): accuracy " in err and "macro-F1 " in err and "ECE " in err
    assert "worst classes (F1): " in err
    assert "calibration skipped: only 8 validation examples" in err  # metrics["calibration"]
    assert f"written to {tmp_path / 'out'}" in err
    assert f"registered as out v1 (candidate) in {tmp_path / 'registry.db'}" in err
    assert len(err.splitlines()) < 15

    assert main(["evaluate", str(tmp_path / "out"), "--data", str(toy_csv)]) == 0
    captured = capsys.readouterr()
    printed = _one_json_object(captured.out)
    assert printed["n_examples"] == 32 and "confusion_matrix" not in printed
    assert f"{toy_csv} (32 examples): accuracy {printed['accuracy']:.3f}" in captured.err

    assert main(["evaluate", str(tmp_path / "out"), "--data", str(toy_csv), "--json"]) == 0
    captured = capsys.readouterr()
    assert _one_json_object(captured.out)["accuracy"] == printed["accuracy"]
    assert "accuracy" not in captured.err  # --json: only the JSON


def test_train_notes_numeric_labels_and_control_characters(tmp_path, tiny_model, capsys):
    data = tmp_path / "numbers.jsonl"  # JSON numbers as labels, NUL characters in the texts
    data.write_text("".join(json.dumps({"body": f"refund please {i}\x00", "queue": 10 if i % 2
                                        else 2}) + "\n" for i in range(16)))
    config = tmp_path / "n.yaml"
    config.write_text(f"model: {tiny_model}\ntrain_file: {data}\nvalidation_split: 0\n"
                      f"text_column: body\nlabel_column: queue\noutput_dir: {tmp_path / 'n'}\n"
                      "training:\n  method: frozen\n  progress: false\n")
    assert main(["train", "--config", str(config), "--json"]) == 0
    captured = capsys.readouterr()
    notes = _one_json_object(captured.out)["notes"]
    assert any("are numbers" in n for n in notes) and any("control characters" in n for n in notes)
    assert "note:" not in captured.err
    assert main(["train", "--config", str(config), "--overwrite",
                 "--set", f"registry=sqlite:///{tmp_path / 'other.db'}"]) == 0
    err = capsys.readouterr().err
    assert "note: " in err and "are numbers" in err and "control characters" in err
    assert "calibration: none (no validation data)" in err
    saved = json.loads((tmp_path / "n" / "metrics.json").read_text())
    assert saved["data_notes"] == notes


def test_evaluate_and_check_data_default_to_the_models_columns(config_file, tmp_path, toy_csv,
                                                               capsys):
    """The model was trained on body/queue: no --text-column/--label-column needed."""
    assert main(["train", "--config", str(config_file)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["evaluate", str(out), "--data", str(toy_csv), "--json"]) == 0
    assert _one_json_object(capsys.readouterr().out)["n_examples"] == 32
    assert main(["check-data", str(toy_csv), "--model", str(out), "--folds", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert _one_json_object(captured.out)["label_counts"]["card"] == 8
    assert "suspect" not in captured.err.lower()
    # without a model that records its columns, the defaults stay text/label
    assert main(["evaluate", str(out), "--data", str(toy_csv), "--label-column", "body",
                 "--text-column", "text"]) == 2
    assert "expected columns ['text', 'body']" in capsys.readouterr().err


# ---------------------------------------------------------------- issue 9: advice per command
@pytest.fixture
def other_columns(tmp_path, toy_csv):
    """The toy data with its text column called 'message'."""
    path = tmp_path / "message.csv"
    path.write_text(toy_csv.read_text().replace("body,queue", "message,queue", 1))
    return path


@pytest.fixture
def latin1(tmp_path, toy_csv):
    path = tmp_path / "latin1.csv"
    path.write_bytes((toy_csv.read_text() + "caf\u00e9 ferm\u00e9,greeting\n").encode("latin-1"))
    return path


def test_train_advice_uses_set_keys(config_file, tmp_path, latin1, capsys):
    # a missing text column: the free column is suggested, never the label's
    assert main(["train", "--config", str(config_file), "--set", "text_column=text"]) == 2
    err = capsys.readouterr().err
    assert "found ['body', 'queue']; pass `--set text_column=body`" in err
    assert "queue'" not in err.split("pass")[-1] and "text=" not in err
    # undecodable: the encoding key, and the suggestion works
    assert main(["train", "--config", str(config_file), "--set", f"train_file={latin1}",
                 "--set", f"test_file={latin1}"]) == 2
    err = capsys.readouterr().err
    assert "cannot decode line 34 as utf-8" in err and "pass `--set encoding=latin-1`" in err
    assert "encoding=" not in err.replace("--set encoding=latin-1", "")
    assert main(["train", "--config", str(config_file), "--set", f"train_file={latin1}",
                 "--set", f"test_file={latin1}", "--set", "encoding=latin-1"]) == 0


def test_train_unstratifiable_split_suggests_a_key_that_works(config_file, tmp_path, toy_csv,
                                                              capsys):
    single = tmp_path / "single.csv"
    single.write_text(toy_csv.read_text() + "exchange rate today,fx\n")
    args = ["train", "--config", str(config_file), "--set", f"train_file={single}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cannot stratify the validation split: class ['fx'] has a single example" in err
    assert "or pass `--set stratify=false`" in err and "stratify=False" not in err
    assert main([*args, "--set", "stratify=false"]) == 0
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["run_config"]["stratify"] is False


def test_file_commands_advise_their_own_flags(config_file, tmp_path, other_columns, latin1,
                                              tiny_model, capsys):
    assert main(["train", "--config", str(config_file)]) == 0
    out = str(tmp_path / "out")
    capsys.readouterr()
    cases = [
        (["evaluate", out, "--data", str(other_columns)], "pass `--text-column message`"),
        (["evaluate", out, "--data", str(latin1)], "pass `--encoding latin-1`"),
        # predict reads no label, so both columns are candidates: the advice names the flag
        (["predict", out, "--input", str(other_columns)], "pass `--text-column <column>`"),
        (["update", out, "--data", str(other_columns), "--output", str(tmp_path / "v2")],
         "pass `--text-column message`"),
        (["check-data", str(other_columns), "--model", tiny_model, "--label-column", "queue"],
         "pass `--text-column message`"),
        (["check-data", str(other_columns), "--model", tiny_model, "--text-column", "message",
          "--label-column", "category"], "pass `--label-column queue`"),
    ]
    for argv, advice in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert advice in err, (argv, err)
        assert "--set" not in err and "text=" not in err and "label=" not in err, err
        assert "--text-column queue" not in err, err  # queue is the label column
    # each suggestion works
    assert main(["evaluate", out, "--data", str(other_columns), "--text-column", "message"]) == 0
    assert main(["evaluate", out, "--data", str(latin1), "--encoding", "latin-1"]) == 0


# ---------------------------------------------------------------- issue 9: export --int8
def test_export_int8_states_its_agreement_and_refuses_a_loss(tmp_path, tiny_model, capsys,
                                                             caplog):
    import logging

    data = tmp_path / "big.csv"
    words = {"refund": "refund money back", "card": "card lost stolen", "login": "password login"}
    data.write_text("body,queue\n" + "".join(f"{w} {i},{lab}\n" for lab, w in words.items()
                                             for i in range(60)))
    config = tmp_path / "b.yaml"
    config.write_text(f"model: {tiny_model}\ntrain_file: {data}\nvalidation_split: 0.3\n"
                      f"text_column: body\nlabel_column: queue\noutput_dir: {tmp_path / 'm'}\n"
                      "training:\n  method: frozen\n  progress: false\n")
    assert main(["train", "--config", str(config)]) == 0
    capsys.readouterr()
    model = str(tmp_path / "m")
    with caplog.at_level(logging.INFO):
        assert main(["export", model, "--output", str(tmp_path / "q"), "--int8"]) == 0
    for note in ("Quantization parameters for tensor", "pre-processing before quantization",
                 "Ignore MatMul due to non constant B"):  # ONNX Runtime's ~40 lines
        assert note not in caplog.text
    assert "int8 vs fp32 on 54 stored validation texts" in caplog.text  # ours stay
    # ... which ONNX Runtime does log on this model when called directly
    from onnxruntime.quantization import QuantType, quantize_dynamic

    assert main(["export", model, "--output", str(tmp_path / "fp")]) == 0
    caplog.clear()
    with caplog.at_level(logging.INFO):
        quantize_dynamic(str(tmp_path / "fp" / "model.onnx"), str(tmp_path / "raw.onnx"),
                         weight_type=QuantType.QInt8)
    assert "Quantization parameters for tensor" in caplog.text
    assert "Ignore MatMul due to non constant B" in caplog.text
    captured = capsys.readouterr()
    check = _one_json_object(captured.out.splitlines()[0])["int8_check"]
    assert check["n_texts"] == 54 and 0 <= check["top1_agreement"] <= 1
    assert check["max_drop_points"] == 1.0 and check["acceptable"] is (
        check["accuracy_drop_points"] <= 1.0)
    assert "int8 vs fp32 on 54 stored validation texts: top-1 agreement" in captured.err
    manifest = json.loads((tmp_path / "q" / "onnx.json").read_text())
    assert manifest["int8_check"] == check
    # a limit the export cannot meet (it loses at least 0 points): refused, nothing written
    assert main(["export", model, "--output", str(tmp_path / "q2"), "--int8",
                 "--max-int8-drop", "-1"]) == 2
    err = capsys.readouterr().err
    assert "accuracy points on the model's 54 stored validation texts" in err
    assert f"nothing was written to {tmp_path / 'q2'}" in err
    assert not (tmp_path / "q2").exists()
    suggested = err.split("accept the loss with `")[1].split("`")[0]
    assert suggested.startswith("--max-int8-drop ")
    assert main(["export", model, "--output", str(tmp_path / "q2"), "--int8",
                 *suggested.split()]) == 0


@pytest.mark.parametrize("progress", [False, True])
def test_library_training_prints_nothing_to_stdout(tiny_model_dir, capfd, progress):
    """The sentence-transformers trainer printed {'loss': ...} dicts (PrinterCallback without a
    progress bar, tqdm.write with one) into the stdout a command's JSON goes to."""
    from domaintune.pairs import BiEncoder, PairDataset, PairTrainingConfig

    enc = BiEncoder.from_pretrained(str(tiny_model_dir), device="cpu")
    cfg = PairTrainingConfig(epochs=2, batch_size=2, warmup_ratio=0.0, seed=0, progress=progress)
    enc.fit(PairDataset(["where is my refund", "card stolen", "hello"],
                        ["refund money back", "card lost", "hi"]), config=cfg)
    assert len(enc.history) == 2  # the per-epoch log is still kept
    assert capfd.readouterr().out == ""


def test_apps_command_lists_the_registered_apps(capsys):
    assert main(["apps"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert names == ["finance_monitor", "support_bot", "text_recommender"] and "Support bot" in out

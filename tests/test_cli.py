"""The ``domaintune`` command line, end to end on the tiny model."""

from __future__ import annotations

import json

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
    assert metrics["run_config"]["head_c"] == 50
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

    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["text", "label", "score"] and len(pred) == 32
    capsys.readouterr()
    assert main(["predict", str(out), "where is my refund", "card lost"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["where is my refund", "card lost"]


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

"""No tool writes temporary or stray files into the directory it is run from.

Every command below is run with the working directory set to an empty scratch folder and
every input/output path pointing elsewhere; the folder must still be empty afterwards (ONNX
Runtime's quantization, for one, can drop ``sym_shape_infer_temp.onnx`` into the cwd).
"""

from __future__ import annotations

import json

import pytest

from domaintune.cli import main


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def _assert_empty(folder, after: str) -> None:
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert left == [], f"{after} left {left} in the working directory"


def test_every_domaintune_command_leaves_the_working_directory_empty(scratch, tmp_path, tiny_model,
                                                                      toy_csv, capsys):
    work = tmp_path / "work"
    config = tmp_path / "train.yaml"
    config.write_text(
        f"model: {tiny_model}\nmethod: frozen\ntrain_file: {toy_csv}\ntest_file: {toy_csv}\n"
        f"validation_split: 0.25\ntext_column: body\nlabel_column: queue\n"
        f"output_dir: {work / 'model'}\nprogress: false\n")
    model = str(work / "model")
    commands = [
        ["train", "--config", str(config)],
        ["evaluate", model, "--data", str(toy_csv), "--text-column", "body", "--label-column",
         "queue", "--output", str(work / "eval.json")],
        ["predict", model, "--input", str(toy_csv), "--text-column", "body", "--output",
         str(work / "pred.csv")],
        ["predict", model, "where is my refund"],
        ["export", model, "--output", str(work / "onnx")],
        ["export", model, "--output", str(work / "onnx-int8"), "--int8"],
        ["predict", str(work / "onnx-int8"), "card lost"],
        ["update", model, "--data", str(toy_csv), "--text-column", "body", "--label-column",
         "queue", "--output", str(work / "model-v2"), "--set", "progress=false"],
        ["check-data", str(toy_csv), "--text-column", "body", "--label-column", "queue",
         "--output", str(work / "checks")],
        ["models", "list"],
    ]
    for command in commands:
        assert main(command) == 0, command
        _assert_empty(scratch, " ".join(command[:2]))
    capsys.readouterr()
    assert json.loads((work / "onnx-int8" / "onnx.json").read_text())["precision"] == "int8"

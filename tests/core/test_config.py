"""One config pattern: the nested ``training:`` section, ``--set``, paths relative to the config
file, the shared training base, and forward-compatible loads of saved configs."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from domaintune import ConfigError, RunConfig, TrainingConfig
from domaintune.config import BaseTrainingConfig, apply_overrides
from domaintune.pairs import PairTrainingConfig


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_nested_training_section_is_read_and_written(tmp_path, caplog):
    config = write(tmp_path / "train.yaml", "train_file: t.csv\ntraining:\n  epochs: 2\n"
                                            "  method: frozen\n  head_c: 5\n")
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        run = RunConfig.from_yaml(config)
    assert not caplog.records  # the documented form: no warning
    assert run.training == TrainingConfig(epochs=2, method="frozen", head_c=5)
    saved = run.to_dict()
    assert saved["training"]["epochs"] == 2 and "epochs" not in saved  # nested when saved
    assert RunConfig.from_dict(saved) == run
    assert RunConfig.from_dict(json.loads(json.dumps(saved))) == run


def test_flat_training_keys_still_work_and_a_yaml_file_is_told_to_nest_them(tmp_path, caplog):
    config = write(tmp_path / "train.yaml", "train_file: t.csv\nepochs: 2\nmethod: frozen\n")
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        run = RunConfig.from_yaml(config)
    assert run.training.epochs == 2 and run.training.method.value == "frozen"
    assert "training keys at the top level (epochs, method)" in caplog.text
    assert "training: section" in caplog.text and str(config) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="domaintune"):  # Python and --set: no warning
        assert RunConfig.from_dict({"epochs": 2, "method": "frozen"}).training == run.training
        RunConfig.from_yaml(write(tmp_path / "n.yaml", "training: {epochs: 3}\n"), ["epochs=1"])
    assert not caplog.records


def test_a_key_set_both_ways_is_an_error(tmp_path):
    config = write(tmp_path / "train.yaml", "epochs: 2\ntraining:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"sets 'epochs' twice: 2 at the top level and 3 "
                                          r"under training:; keep one \(training.epochs\)"):
        RunConfig.from_yaml(config)
    with pytest.raises(ConfigError, match="'training' expects a mapping of training keys"):
        RunConfig.from_dict({"training": 3})


@pytest.mark.parametrize("override", ["epochs=1", "training.epochs=1"])
def test_set_reaches_the_training_section_both_ways(tmp_path, override):
    nested = write(tmp_path / "nested.yaml", "training:\n  epochs: 3\n  batch_size: 4\n")
    flat = write(tmp_path / "flat.yaml", "epochs: 3\nbatch_size: 4\n")
    for config in (nested, flat):
        run = RunConfig.from_yaml(config, [override, "name=tickets"])
        assert (run.training.epochs, run.training.batch_size, run.name) == (1, 4, "tickets")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"epoch": 3}, r"unknown train config key 'epoch'; did you mean 'epochs'"),
        ({"trainng": {}}, r"unknown train config key 'trainng'; did you mean 'training'"),
        ({"training": {"epoch": 3}},
         r"unknown key 'epoch' in train config section 'training'; did you mean 'epochs'"),
        ({"training": {"batch_size": "many"}}, r"'batch_size' expects an integer, found 'many'"),
        ({"validation_split": 2}, r"'validation_split' expects a number in \[0, 1\)"),
    ],
)
def test_person_written_unknown_keys_and_bad_values_are_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(data)


def test_set_errors_name_the_item():
    with pytest.raises(ConfigError, match=r"--set expects key=value, found 'novalue'"):
        RunConfig.from_yaml_overrides(["novalue"])
    with pytest.raises(ConfigError, match=r"--set name.x: 'name' is not a section"):
        apply_overrides({"name": "a"}, ["name.x=1"])
    assert RunConfig.training_overrides(["epochs=1", "training.seed=3"]) == {"epochs": 1, "seed": 3}
    with pytest.raises(ConfigError, match=r"--set epoch: not a training key; did you mean 'epochs'"):
        RunConfig.training_overrides(["epoch=1"])


def test_paths_are_relative_to_the_config_file(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "configs"
    write(folder / "data" / "train.csv", "text,label\na,b\n")
    write(folder / "data" / "test.csv", "text,label\na,b\n")
    (folder / "base-model").mkdir()
    config = write(folder / "train.yaml",
                   "model: base-model\ntrain_file: data/train.csv\ntest_file: data/test.csv\n"
                   f"eval_file: {folder / 'data' / 'test.csv'}\noutput_dir: ../models/x\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        run = RunConfig.from_yaml(config, ["test_file=given.csv"])
    assert not caplog.records
    assert run.train_file == str(folder / "data" / "train.csv")
    assert run.eval_file == str(folder / "data" / "test.csv")  # absolute: as written
    assert run.output_dir == str(tmp_path / "models" / "x")
    assert run.model == str(folder / "base-model")  # a local directory beside the config
    assert run.test_file == "given.csv"  # --set: relative to where the command runs
    for model in ("default", "sentence-transformers/all-MiniLM-L6-v2"):  # not local: unchanged
        assert RunConfig.from_yaml(config, [f"model={model}"]).model == model
        write(folder / "hub.yaml", f"model: {model}\n")
        assert RunConfig.from_yaml(folder / "hub.yaml").model == model


def test_a_config_written_relative_to_the_cwd_keeps_working_with_a_warning(tmp_path, monkeypatch,
                                                                            caplog):
    write(tmp_path / "data" / "train.csv", "text,label\na,b\n")
    config = write(tmp_path / "configs" / "train.yaml",
                   "train_file: data/train.csv\noutput_dir: models/x\n")
    monkeypatch.chdir(tmp_path)  # today's behaviour: paths relative to the current directory
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        run = RunConfig.from_yaml(config)
    assert run.train_file == str(tmp_path / "data" / "train.csv")
    assert run.output_dir == str(tmp_path / "models" / "x")  # the whole config, as before
    assert "train_file 'data/train.csv' is not found relative to the config file's folder" in (
        caplog.text)
    assert "train_file: ../data/train.csv" in caplog.text  # the fix, spelled out
    write(tmp_path / "configs" / "fixed.yaml", "train_file: ../data/train.csv\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        assert RunConfig.from_yaml(tmp_path / "configs" / "fixed.yaml").train_file == run.train_file
    assert not caplog.records


def test_pair_config_shares_the_training_base_and_keeps_its_keys():
    assert issubclass(TrainingConfig, BaseTrainingConfig)
    assert issubclass(PairTrainingConfig, BaseTrainingConfig)
    assert set(PairTrainingConfig.keys()) == {
        "epochs", "max_steps", "batch_size", "learning_rate", "weight_decay", "warmup_ratio",
        "max_length", "seed", "loss", "scale", "mini_batch_size", "device", "progress"}
    shared = {f.name for f in dataclasses.fields(BaseTrainingConfig)}
    assert shared <= set(TrainingConfig.keys()) and shared <= set(PairTrainingConfig.keys())
    assert (PairTrainingConfig().epochs, TrainingConfig().epochs) == (1.0, 3.0)
    assert (PairTrainingConfig().learning_rate, TrainingConfig().learning_rate) == (2e-5, None)
    assert (PairTrainingConfig().max_length, TrainingConfig().max_length) == (None, 128)
    for cls in (PairTrainingConfig, TrainingConfig):
        with pytest.raises(ConfigError, match=rf"{cls.__name__} key 'batch_size' expects a "
                                              "positive integer, found 0"):
            cls(batch_size=0)
        with pytest.raises(ConfigError, match=rf"{cls.__name__} key 'warmup_ratio' expects a "
                                              r"number in \[0, 1\)"):
            cls(warmup_ratio=1.5)
        with pytest.raises(ConfigError, match=r"unknown .*'epoch'; did you mean 'epochs'"):
            cls.from_dict({"epoch": 1})


def test_saved_configs_with_unknown_keys_load_with_a_warning(caplog):
    saved = {**TrainingConfig(epochs=2).to_dict(), "future_key": 1}
    with pytest.raises(ConfigError, match="unknown TrainingConfig key 'future_key'"):
        TrainingConfig.from_dict(saved)  # what a person writes: an error
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        cfg = TrainingConfig.from_dict(saved, unknown="warn")
    assert cfg == TrainingConfig(epochs=2)
    assert "ignoring key ['future_key']" in caplog.text and "TrainingConfig" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        run = RunConfig.from_dict({"name": "x", "new_top": 1, "training": {"new_inner": 2}},
                                  unknown="warn")
    assert run.name == "x" and "new_top" in caplog.text and "new_inner" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        pair = PairTrainingConfig.from_dict({"epochs": 2, "new": 1}, unknown="warn")
    assert pair.epochs == 2 and "['new']" in caplog.text
    with pytest.raises(ValueError, match="unknown= expects 'error' or 'warn'"):
        TrainingConfig.from_dict({}, unknown="ignore")


def test_a_saved_model_with_an_unknown_config_key_loads(tiny_model, tmp_path, three_rows, caplog):
    from domaintune import TextClassifier

    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.label_names, max_length=16)
    clf.fit(three_rows, None, TrainingConfig(method="frozen", progress=False))
    out = clf.save(tmp_path / "model")
    cfg_file = out / "training_config.json"
    cfg_file.write_text(json.dumps({**json.loads(cfg_file.read_text()), "added_later": True}))
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        loaded = TextClassifier.load(out)
    assert "added_later" in caplog.text
    assert loaded.training_config.method.value == "frozen"
    assert loaded.predict(three_rows.texts) == clf.predict(three_rows.texts)


def test_overrides_read_exponent_numbers_as_numbers():
    """YAML 1.1 reads `1e-4` as a string; `--set training.learning_rate=1e-4` means a number."""
    from domaintune.config import apply_overrides

    out = apply_overrides({}, ["training.learning_rate=1e-4", "a=2E5", "b=e5", "c=1.5e-3"])
    assert out == {"training": {"learning_rate": 0.0001}, "a": 200000.0, "b": "e5", "c": 0.0015}

"""TextClassifier on a tiny random BERT: training methods, inference, save/load, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from domaintune import (
    ConfigError,
    DataError,
    ModelLoadError,
    NotFittedError,
    TextClassifier,
    TextDataset,
    TrainingConfig,
    load_dataset,
)


def fast(method: str, **kw) -> TrainingConfig:
    base = {"method": method, "progress": False, "seed": 0}
    if method in ("full", "lora"):
        base.update(epochs=30, batch_size=3, learning_rate=5e-3, head_init="random",
                    early_stopping_patience=None, warmup_ratio=0.0)
    if method == "lora":  # only adapters + head move: 5e-3 leaves 3 rows at loss ~0.85 after
        base["learning_rate"] = 2e-2  # 30 epochs on 2 of 6 seeds; 2e-2 fits all 6 (loss <= 0.23)
    base.update(kw)
    return TrainingConfig(**base)


@pytest.mark.parametrize("method", ["full", "lora", "frozen"])
def test_three_rows_reach_accuracy_one(tiny_model, three_rows, method):
    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.labels)
    clf.fit(three_rows, None, fast(method, head_c=100.0))
    assert clf.predict(three_rows.texts) == three_rows.labels
    assert clf.evaluate(three_rows)["accuracy"] == 1.0


def test_full_training_logs_epochs_and_respects_max_steps(tiny_model, toy_csv):
    train, val = load_dataset(toy_csv, text="body", label="queue", split=0.25, seed=0)
    clf = TextClassifier.from_pretrained(tiny_model, labels=train.label_names)
    clf.fit(train, val, fast("full", max_steps=5, batch_size=4, gradient_accumulation_steps=2,
                            head_init="linear_probe"))
    epochs = [h for h in clf.history if "train_loss" in h]
    assert epochs and epochs[-1]["step"] == 5
    assert {"val_loss", "val_accuracy", "val_macro_f1"} <= set(epochs[0])
    assert clf.history[0]["stage"] == "linear_probe"
    assert "calibration" in clf.metrics and clf.metrics["calibration"]["temperature"] > 0


def test_early_stopping_restores_best_epoch(tiny_model, toy_csv):
    train, val = load_dataset(toy_csv, text="body", label="queue", split=0.25, seed=0)
    clf = TextClassifier.from_pretrained(tiny_model, labels=train.label_names)
    # a learning rate this high makes validation loss get worse, so training stops early
    clf.fit(train, val, fast("full", epochs=30, learning_rate=0.5, early_stopping_patience=1,
                            metric_for_best_model="loss", batch_size=8))
    epochs = [h for h in clf.history if "train_loss" in h]
    assert len(epochs) < 30 and epochs[-1].get("early_stopped")
    best = clf.history[-1]["best_epoch"]
    best_loss = next(h["val_loss"] for h in epochs if h["epoch"] == best)
    assert clf.metrics["validation"]["loss"] == pytest.approx(best_loss, rel=1e-4)


def test_class_weights_balanced_runs(tiny_model, toy_csv):
    data = load_dataset(toy_csv, text="body", label="queue")
    imbalanced = data.subset([i for i, lab in enumerate(data.labels) if lab != "card" or i % 4 == 0])
    clf = TextClassifier.from_pretrained(tiny_model, labels=data.label_names)
    clf.fit(imbalanced, None, fast("full", epochs=2, class_weights="balanced"))
    assert clf.predict_proba(imbalanced.texts).shape == (len(imbalanced), 4)


def test_predict_shapes_and_probabilities(tiny_model, three_rows):
    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.labels)
    clf.fit(three_rows, None, fast("frozen"))
    assert isinstance(clf.predict("hello"), str)
    assert clf.predict_proba("hello").shape == (3,)
    probs = clf.predict_proba(["hello", "where is my refund"])
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    # batching by length must not reorder results
    texts = ["hi", "where is my refund money back please", "card", "hello there my friend"]
    np.testing.assert_allclose(clf.predict_proba(texts, batch_size=1),
                               clf.predict_proba(texts, batch_size=3), atol=1e-5)
    with pytest.raises(DataError, match="expected strings"):
        clf.predict(["ok", 3])


@pytest.mark.parametrize("method", ["full", "lora", "frozen"])
def test_save_load_round_trip_is_identical(tiny_model, toy_csv, tmp_path, method):
    train, val = load_dataset(toy_csv, text="body", label="queue", split=0.25, seed=0)
    clf = TextClassifier.from_pretrained(tiny_model, labels=train.label_names)
    clf.fit(train, val, fast(method, epochs=2, batch_size=8))
    out = clf.save(tmp_path / "model")
    files = {p.name for p in out.iterdir()}
    assert {"domaintune.json", "head.safetensors", "training_config.json", "metrics.json",
            "README.md", "tokenizer.json"} <= files
    assert ("adapter" in files) if method == "lora" else ("model.safetensors" in files)
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pkl"))
    loaded = TextClassifier.load(out)
    np.testing.assert_allclose(loaded.predict_proba(val.texts), clf.predict_proba(val.texts), atol=1e-5)
    assert loaded.predict(val.texts) == clf.predict(val.texts)
    assert loaded.labels == clf.labels and loaded.temperature == clf.temperature
    assert loaded.training_config.method.value == method


def test_save_is_atomic_and_needs_training(tiny_model, three_rows, tmp_path, monkeypatch):
    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.labels)
    with pytest.raises(NotFittedError, match="not been trained"):
        clf.save(tmp_path / "m")
    clf.fit(three_rows, None, fast("frozen"))
    clf.save(tmp_path / "m")
    before = sorted(p.name for p in (tmp_path / "m").iterdir())

    def boom(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(TextClassifier, "_model_card", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        clf.save(tmp_path / "m", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "tiny-bert"]  # no temp dirs left


def test_corrupted_or_incomplete_directory_errors(tiny_model, three_rows, tmp_path):
    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.labels)
    clf.fit(three_rows, None, fast("frozen"))
    good = clf.save(tmp_path / "good")
    with pytest.raises(ModelLoadError, match="does not exist"):
        TextClassifier.load(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="domaintune.json is missing"):
        TextClassifier.load(tiny_model)
    broken = shutil.copytree(good, tmp_path / "no-head")
    (broken / "head.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"incomplete: missing \['head.safetensors'\]"):
        TextClassifier.load(broken)
    garbled = shutil.copytree(good, tmp_path / "garbled")
    (garbled / "head.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="head.safetensors is corrupted"):
        TextClassifier.load(garbled)
    bad_meta = shutil.copytree(good, tmp_path / "bad-meta")
    (bad_meta / "domaintune.json").write_text("{")
    with pytest.raises(ModelLoadError, match="domaintune.json is corrupted"):
        TextClassifier.load(bad_meta)
    bad_weights = shutil.copytree(good, tmp_path / "bad-weights")
    (bad_weights / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="model.safetensors is corrupted"):
        TextClassifier.load(bad_weights)


def test_unknown_label_in_evaluation_data(tiny_model, three_rows):
    clf = TextClassifier.from_pretrained(tiny_model, labels=three_rows.labels)
    clf.fit(three_rows, None, fast("frozen"))
    test = TextDataset(texts=["a", "b"], labels=["refund", "mortgage"], source="test.csv")
    with pytest.raises(DataError, match=r"test.csv: evaluation data has label \['mortgage'\] "
                                        r"\(row 2\) that the model never saw"):
        clf.evaluate(test)


def test_evaluate_writes_report_and_calibration(tiny_model, toy_csv, tmp_path):
    train, val = load_dataset(toy_csv, text="body", label="queue", split=0.25, seed=0)
    clf = TextClassifier.from_pretrained(tiny_model, labels=train.label_names)
    clf.fit(train, val, fast("frozen"))
    metrics = clf.evaluate(val, output_dir=tmp_path / "report")
    assert (tmp_path / "report" / "confusion_matrix.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert saved["accuracy"] == metrics["accuracy"]
    assert set(metrics["per_class"]) == set(train.label_names)
    assert {"ece", "ece_uncalibrated", "most_confused", "macro_f1"} <= set(metrics)
    cal = clf.metrics["calibration"]
    assert cal["ece_after"] <= cal["ece_before"] + 1e-9


def test_multi_label_training_and_round_trip(tiny_model, tmp_path):
    data = TextDataset(texts=["card lost", "refund please", "card lost refund please", "hello"],
                       labels=[["card"], ["refund"], ["card", "refund"], ["greeting"]],
                       multi_label=True)
    clf = TextClassifier.from_pretrained(tiny_model, labels=data.labels, multi_label=True)
    assert clf.labels == ["card", "refund", "greeting"]
    clf.fit(data, None, fast("frozen", head_c=1000.0))
    preds = clf.predict(data.texts)
    assert preds == [["card"], ["refund"], ["card", "refund"], ["greeting"]]
    loaded = TextClassifier.load(clf.save(tmp_path / "ml"))
    assert loaded.predict(data.texts) == preds
    assert loaded.evaluate(data)["accuracy"] == 1.0


def test_zero_shot_uses_label_descriptions(tiny_model):
    clf = TextClassifier.zero_shot(["refund", "card"], {"refund": "where is my refund",
                                                       "card": "my card was stolen"},
                                   model=tiny_model)
    # the texts are the descriptions themselves: cosine similarity 1 with their own label
    assert clf.predict(["where is my refund", "my card was stolen"]) == ["refund", "card"]
    with pytest.raises(DataError, match="no description for labels"):
        TextClassifier.zero_shot(["a", "b"], {"a": "x"}, model=tiny_model)


def test_config_validation():
    with pytest.raises(ConfigError, match=r"unknown TrainingConfig key 'epoch'; did you mean 'epochs'"):
        TrainingConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match=r"'method' expects one of \['full', 'lora', 'frozen', "
                                          r"'zero-shot'\], found 'ful'; did you mean 'full'"):
        TrainingConfig(method="ful")
    with pytest.raises(ConfigError, match=r"'batch_size' expects an integer, found 'big'"):
        TrainingConfig(batch_size="big")
    with pytest.raises(ConfigError, match=r"'epochs' expects a positive number, found 0"):
        TrainingConfig(epochs=0)
    cfg = TrainingConfig(method="lora", epochs=2)
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.resolved_learning_rate == 1e-3


def test_contrastive_stage_pulls_same_label_texts_together(tiny_model, toy_csv):
    data = load_dataset(toy_csv, text="body", label="queue")
    clf = TextClassifier.from_pretrained(tiny_model, labels=data.label_names)

    def margin(c):
        emb = c.embed(data.texts)
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        sim = emb @ emb.T
        same = np.equal.outer(np.array(data.labels), np.array(data.labels))
        np.fill_diagonal(same, False)
        other = ~np.equal.outer(np.array(data.labels), np.array(data.labels))
        return sim[same].mean() - sim[other].mean()

    before = margin(clf)
    clf.fit(data, None, fast("frozen", contrastive_epochs=8, contrastive_learning_rate=1e-3,
                            batch_size=4))
    assert [h["stage"] for h in clf.history].count("contrastive") >= 1
    assert margin(clf) > before + 0.05

"""ONNX export: parity with PyTorch, manifests, int8, LoRA merge, index compatibility, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import train_tiny_classifier

from domaintune import (
    ArtifactExistsError,
    DataError,
    ModelLoadError,
    TextClassifier,
    TextDataset,
    TrainingConfig,
)
from domaintune.export import MANIFEST_FILE, ONNX_FILE, OnnxBiEncoder, OnnxTextClassifier
from domaintune.pairs import BiEncoder, FaissIndex

TEXTS = ["where is my refund", "card lost", "hello", "how do i reset my pin please",
         "transfer failed and the fee was not what i was told " * 3, "🙂 ünïcode 海外"]


@pytest.fixture(scope="module")
def trained(tiny_model_dir):
    return train_tiny_classifier(tiny_model_dir, max_length=32, temperature=1.7)  # exported with the model


def test_classifier_export_matches_pytorch(trained, tmp_path):
    out = trained.export_onnx(tmp_path / "onnx")
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["kind"] == "text-classifier" and manifest["precision"] == "fp32"
    assert manifest["labels"] == ["card", "greet", "refund"] and manifest["temperature"] == 1.7
    assert manifest["parity"]["max_abs_diff"] < 1e-4
    fast = OnnxTextClassifier.load(out)
    np.testing.assert_allclose(fast.predict_proba(TEXTS), trained.predict_proba(TEXTS), atol=1e-5)
    assert fast.predict(TEXTS) == trained.predict(TEXTS)
    assert fast.predict("card lost") == trained.predict("card lost")
    assert fast.predict_proba("hello").shape == (3,) and fast.predict_proba([]).shape == (0, 3)


def test_int8_export_is_marked_and_close(trained, tmp_path):
    out = trained.export_onnx(tmp_path / "int8", quantize=True)
    fast = OnnxTextClassifier.load(out)
    assert fast.model.precision == "int8"
    assert (out / ONNX_FILE).stat().st_size < (trained.export_onnx(tmp_path / "fp32") / ONNX_FILE).stat().st_size
    # int8 moves the outputs a little; on this tiny model probabilities stay close
    assert np.abs(fast.predict_proba(TEXTS) - trained.predict_proba(TEXTS)).max() < 0.2


def test_lora_classifier_exports_with_merged_adapters(tiny_model_dir, tmp_path):
    data = TextDataset(texts=["card lost", "where is my refund"] * 6, labels=["card", "refund"] * 6)
    clf = TextClassifier.from_pretrained(str(tiny_model_dir), labels=["card", "refund"], max_length=16)
    clf.fit(data, None, TrainingConfig(method="lora", epochs=2, batch_size=4, progress=False))
    fast = OnnxTextClassifier.load(clf.export_onnx(tmp_path / "lora"))
    np.testing.assert_allclose(fast.predict_proba(TEXTS), clf.predict_proba(TEXTS), atol=1e-4)
    assert hasattr(clf.model.encoder, "merge_and_unload")  # the live model keeps its adapters


def test_biencoder_export_keeps_fingerprint_and_index_compatibility(tiny_model_dir, tmp_path):
    enc = BiEncoder.from_pretrained(str(tiny_model_dir), device="cpu")
    fast = OnnxBiEncoder.load(enc.export_onnx(tmp_path / "enc"))
    np.testing.assert_allclose(fast.encode(TEXTS), enc.encode(TEXTS), atol=1e-5)
    assert fast.encode("hello").shape == (enc.dim,) and fast.encode([]).shape == (0, enc.dim)
    assert fast.encoder_info == enc.encoder_info
    index = FaissIndex().fit(enc.encode(TEXTS), ids=[str(i) for i in range(len(TEXTS))], encoder=enc)
    index.save(tmp_path / "index")
    loaded = FaissIndex.load(tmp_path / "index", encoder=fast)  # same fingerprint: accepted
    assert loaded.search(fast.encode(["card lost"]), 1)[1][0][0] == "1"
    int8 = OnnxBiEncoder.load(enc.export_onnx(tmp_path / "enc8", quantize=True))
    assert "int8_check" not in int8.model.manifest  # a text-classifier check only
    assert int8.fingerprint != enc.fingerprint
    with pytest.raises(ModelLoadError, match="fingerprint|different encoder"):
        FaissIndex.load(tmp_path / "index", encoder=int8)


def test_loading_errors_name_the_directory_and_fix(trained, tmp_path):
    with pytest.raises(ModelLoadError, match=r"nothing does not exist; pass a directory written by export_onnx"):
        OnnxTextClassifier.load(tmp_path / "nothing")
    out = trained.export_onnx(tmp_path / "clf")
    with pytest.raises(ModelLoadError, match="export of a text-classifier, expected a bi-encoder"):
        OnnxBiEncoder.load(out)
    (out / ONNX_FILE).write_bytes(b"not an onnx graph")
    with pytest.raises(ModelLoadError, match="model.onnx is corrupted.*export the model again"):
        OnnxTextClassifier.load(out)
    fast = OnnxTextClassifier.load(trained.export_onnx(tmp_path / "ok"))
    with pytest.raises(DataError, match="expected strings"):
        fast.predict_proba(["fine", 3])


def test_export_that_does_not_match_pytorch_is_refused_and_targets_are_guarded(trained, tmp_path):
    from domaintune.export import OnnxTextClassifier as Kind
    from domaintune.export import export_module

    def broken(module, inputs):  # a Python number the tracer freezes at the probe batch's value
        return module(**inputs) * float(inputs["attention_mask"].sum())

    with pytest.raises(ModelLoadError, match="does not reproduce the PyTorch outputs"):
        export_module(trained.model, broken, trained.tokenizer, tmp_path / "bad", max_length=32,
                      kind=Kind.KIND, info={"labels": trained.labels})
    assert not (tmp_path / "bad").exists()
    model_dir = trained.save(tmp_path / "model")
    with pytest.raises(ArtifactExistsError, match="not an ONNX export.*even with overwrite"):
        trained.export_onnx(model_dir, overwrite=True)  # never over a model (or any other) directory
    assert (model_dir / "domaintune.json").is_file()
    again = trained.export_onnx(tmp_path / "onnx")
    with pytest.raises(ArtifactExistsError, match="already holds.*overwrite=True"):
        trained.export_onnx(again)
    assert trained.export_onnx(again, overwrite=True) == again  # an earlier export, on request


def test_multi_label_export(tiny_model_dir, tmp_path):
    data = TextDataset(texts=["card lost", "refund money", "card refund", "hello"] * 4,
                       labels=[["card"], ["refund"], ["card", "refund"], []] * 4, multi_label=True)
    clf = TextClassifier.from_pretrained(str(tiny_model_dir), labels=["card", "refund"],
                                         multi_label=True, max_length=16)
    clf.fit(data, None, TrainingConfig(method="full", epochs=2, batch_size=8, progress=False))
    fast = OnnxTextClassifier.load(clf.export_onnx(tmp_path / "ml"))
    assert fast.multi_label
    np.testing.assert_allclose(fast.predict_proba(TEXTS), clf.predict_proba(TEXTS), atol=1e-5)
    assert fast.predict(TEXTS) == clf.predict(TEXTS)


def test_failed_export_leaves_no_directory(trained, tmp_path, monkeypatch):
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("tracing failed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="tracing failed"):
        trained.export_onnx(tmp_path / "half")
    assert not (tmp_path / "half").exists()


def test_cli_exports_a_saved_biencoder(tiny_model_dir, tmp_path, capsys):
    from domaintune.cli import main

    enc = BiEncoder.from_pretrained(str(tiny_model_dir), device="cpu")
    enc.save(tmp_path / "enc")
    assert main(["export", str(tmp_path / "enc"), "--output", str(tmp_path / "onnx")]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "bi-encoder"
    np.testing.assert_allclose(OnnxBiEncoder.load(tmp_path / "onnx").encode(TEXTS),
                               enc.encode(TEXTS), atol=1e-5)
    assert main(["export", str(tmp_path / "enc"), "--output", str(tmp_path / "enc")]) == 2
    assert "is not an ONNX export" in capsys.readouterr().err


def test_int8_export_checks_agreement_on_the_stored_validation_texts(trained, tmp_path):
    import copy

    from domaintune.export import Int8AccuracyError

    # trained without validation data: nothing to compare on, said so in the manifest
    out = trained.export_onnx(tmp_path / "plain", quantize=True)
    check = json.loads((out / MANIFEST_FILE).read_text())["int8_check"]
    assert "no stored validation texts" in check["skipped"]
    assert "int8_check" not in json.loads(
        (trained.export_onnx(tmp_path / "fp32") / MANIFEST_FILE).read_text())

    clf = copy.copy(trained)  # the module's model keeps its (absent) holdout
    clf.holdout = TextDataset(texts=["where is my refund", "card lost", "hello", "card stolen"],
                              labels=["refund", "card", "greet", "card"])
    out = clf.export_onnx(tmp_path / "int8", quantize=True, max_int8_drop=100)
    check = json.loads((out / MANIFEST_FILE).read_text())["int8_check"]
    fast = OnnxTextClassifier.load(out)
    texts, labels = clf.holdout.texts, clf.holdout.labels
    agreement = np.mean([a == b for a, b in zip(fast.predict(texts), clf.predict(texts), strict=True)])
    acc32 = np.mean([p == y for p, y in zip(clf.predict(texts), labels, strict=True)])
    acc8 = np.mean([p == y for p, y in zip(fast.predict(texts), labels, strict=True)])
    assert check["n_texts"] == 4 and check["top1_agreement"] == pytest.approx(agreement)
    assert check["accuracy_fp32"] == pytest.approx(acc32)
    assert check["accuracy_int8"] == pytest.approx(acc8)
    assert check["accuracy_drop_points"] == pytest.approx((acc32 - acc8) * 100)
    assert check["acceptable"] is True and check["max_drop_points"] == 100

    # more loss than allowed (here: any, even none): refused, nothing written, a fix that works
    with pytest.raises(Int8AccuracyError, match=r"stored validation texts .* more than the -1 "
                                                r"allowed; nothing was written") as err:
        clf.export_onnx(tmp_path / "refused", quantize=True, max_int8_drop=-1)
    assert not (tmp_path / "refused").exists()
    fix = str(err.value).split("accept the loss with ")[1]
    assert fix.startswith("max_int8_drop=")
    clf.export_onnx(tmp_path / "refused", quantize=True, max_int8_drop=float(fix.split("=")[1]))

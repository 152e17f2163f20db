"""int8 recipes (domaintune.quantize) and their measured choice in the ONNX export (``auto``)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from conftest import train_tiny_classifier

from domaintune import ConfigError, TextDataset
from domaintune.export import MANIFEST_FILE, Int8AccuracyError, OnnxTextClassifier
from domaintune.quantize import (
    AUTO_CANDIDATES,
    DEFAULT_RECIPE,
    RECIPES,
    get_recipe,
    pad_to_common_length,
    quantize_onnx,
    runtime_ops,
    select_recipe,
    session,
)

TEXTS = ["where is my refund", "card lost", "hello", "card stolen", "hi thanks",
         "refund money back", "my card was stolen please help", "thank you bye"]
HOLDOUT = TextDataset(texts=["where is my refund", "card lost", "hello", "card stolen", "hi thanks",
                             "refund money back", "lost my card", "hi"],
                      labels=["refund", "card", "greet", "card", "greet", "refund", "card", "greet"])


@pytest.fixture(scope="module")
def clf(tiny_model_dir):
    model = copy.copy(train_tiny_classifier(tiny_model_dir, max_length=32))
    model.holdout = HOLDOUT  # stored validation texts: the int8 check and calibration use them
    return model


@pytest.fixture(scope="module")
def fp32_export(clf, tmp_path_factory):
    return clf.export_onnx(tmp_path_factory.mktemp("fp32") / "onnx")


def _feeds(directory, texts, size=4):
    fast = OnnxTextClassifier.load(directory)
    return [{n: v for n, v in fast.model.tokenizer(texts[i : i + size]).items()
             if n in fast.model.inputs} for i in range(0, len(texts), size)]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_gives_a_loadable_int8_graph_that_agrees(clf, name, tmp_path):
    out = clf.export_onnx(tmp_path / name, quantize=name, max_int8_drop=100)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["precision"] == "int8" and manifest["int8_recipe"]["name"] == name
    assert manifest["int8_check"]["recipe"] == name and manifest["int8_check"]["n_texts"] == 8
    fast = OnnxTextClassifier.load(out)
    agreement = np.mean([a == b for a, b in zip(fast.predict(TEXTS), clf.predict(TEXTS), strict=True)])
    assert agreement >= 0.75
    assert np.abs(fast.predict_proba(TEXTS) - clf.predict_proba(TEXTS)).max() < 0.25


def test_true_means_the_default_recipe_and_embeddings_stay_fp32(clf, fp32_export, tmp_path):
    out = clf.export_onnx(tmp_path / "int8", quantize=True)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["int8_recipe"]["name"] == DEFAULT_RECIPE
    ops = runtime_ops(out / "model.onnx")
    assert ops.get("DynamicQuantizeMatMul", 0) + ops.get("MatMulIntegerToFloat", 0) > 0
    assert "DequantizeLinear" not in ops  # the word embeddings were not quantized
    assert "DequantizeLinear" in runtime_ops(quantize_onnx_to(fp32_export, tmp_path, "dynamic-all"))


def quantize_onnx_to(export, tmp_path, recipe, **kwargs):
    path = tmp_path / f"{recipe}.onnx"
    quantize_onnx(export / "model.onnx", path, recipe=recipe, **kwargs)
    return path


def test_the_head_and_attention_products_stay_fp32(fp32_export, tmp_path):
    info = quantize_onnx(fp32_export / "model.onnx", tmp_path / "s.onnx", recipe="static-qdq",
                         calibration_feeds=_feeds(fp32_export, TEXTS))
    assert "/module/head/Gemm" in info["kept_fp32"]
    assert sum("attention/self/MatMul" in n for n in info["kept_fp32"]) == 4  # 2 layers x QK, PV
    with_attention = quantize_onnx(fp32_export / "model.onnx", tmp_path / "a.onnx",
                                   recipe="static-qdq-attention",
                                   calibration_feeds=_feeds(fp32_export, TEXTS))
    assert with_attention["kept_fp32"] == ["/module/head/Gemm"]
    assert (runtime_ops(tmp_path / "a.onnx")["QLinearMatMul"]
            > runtime_ops(tmp_path / "s.onnx")["QLinearMatMul"])


def test_auto_keeps_the_fastest_acceptable_recipe_and_records_every_candidate(clf, tmp_path):
    out = clf.export_onnx(tmp_path / "auto", quantize="auto", max_int8_drop=100)
    check = json.loads((out / MANIFEST_FILE).read_text())["int8_check"]
    rows = check["candidates"]
    assert [r["recipe"] for r in rows] == list(AUTO_CANDIDATES)
    for row in rows:
        assert row["texts_per_s"] > 0 and 0 <= row["top1_agreement"] <= 1
        assert row["acceptable"] is True and "accuracy_drop_points" in row
    chosen = next(r for r in rows if r["recipe"] == check["recipe"])
    assert chosen["texts_per_s"] >= 0.9 * max(r["texts_per_s"] for r in rows)
    assert check["acceptable"] is True and check["n_texts"] == len(HOLDOUT)
    assert json.loads((out / MANIFEST_FILE).read_text())["int8_recipe"]["name"] == check["recipe"]
    assert sorted(p.name for p in out.glob("*.onnx")) == ["model.onnx"]  # candidates removed


def test_auto_refuses_when_no_candidate_is_within_the_limit(clf, tmp_path):
    with pytest.raises(Int8AccuracyError, match=r"more than the -1 allowed; nothing was written"
                                                r".*the most accurate of the \d+ that auto tried"):
        clf.export_onnx(tmp_path / "refused", quantize="auto", max_int8_drop=-1)
    assert not (tmp_path / "refused").exists()


def test_auto_without_validation_texts_uses_the_default_recipe(tiny_model_dir, tmp_path):
    plain = train_tiny_classifier(tiny_model_dir, max_length=32)  # trained without validation
    check = json.loads((plain.export_onnx(tmp_path / "a", quantize="auto") / MANIFEST_FILE)
                       .read_text())["int8_check"]
    assert "no stored validation texts" in check["skipped"] and check["recipe"] == DEFAULT_RECIPE
    with pytest.raises(ConfigError, match="calibrates on the model's stored validation texts"):
        plain.export_onnx(tmp_path / "s", quantize="static-qdq")


def test_select_recipe_prefers_accuracy_among_equally_fast(fp32_export, tmp_path):
    batches = _feeds(fp32_export, HOLDOUT.texts)
    targets = [["card", "greet", "refund"].index(y) for y in HOLDOUT.labels]
    result = select_recipe(fp32_export / "model.onnx", tmp_path / "best.onnx", batches=batches,
                           targets=targets, max_drop=None, candidates=("dynamic", "dynamic-u8u8"),
                           speed_tie=10.0)  # every candidate counts as equally fast
    best = min(result["candidates"], key=lambda r: (r["accuracy_drop_points"], -r["top1_agreement"],
                                                    -r["texts_per_s"]))
    assert result["recipe"] == best["recipe"] and (tmp_path / "best.onnx").is_file()
    assert result["acceptable"] is None  # no limit given: nothing refused
    skipped = select_recipe(fp32_export / "model.onnx", tmp_path / "s.onnx", batches=batches,
                            targets=None, max_drop=1, candidates=("static-qdq", "dynamic"))
    assert skipped["candidates"][0] == {"recipe": "static-qdq", "skipped": "no calibration texts"}
    assert skipped["recipe"] == "dynamic"


def test_bad_recipes_say_what_to_do(fp32_export, tmp_path):
    with pytest.raises(ConfigError, match="int8 recipe expects one of .*did you mean 'dynamic'"):
        get_recipe("dynamc")
    with pytest.raises(ConfigError, match="needs calibration_feeds"):
        quantize_onnx(fp32_export / "model.onnx", tmp_path / "x.onnx", recipe="static-qdq")


def test_histogram_calibration_feeds_share_one_shape():
    feeds = [{"input_ids": np.ones((2, 3), np.int64)}, {"input_ids": np.ones((2, 5), np.int64)}]
    padded = pad_to_common_length(feeds)
    assert [f["input_ids"].shape for f in padded] == [(2, 5), (2, 5)]
    assert padded[0]["input_ids"][0].tolist() == [1, 1, 1, 0, 0]


def test_sessions_and_the_cli_option(clf, tmp_path, capsys):
    from domaintune.cli import main

    model_dir = clf.save(tmp_path / "model")
    assert main(["export", str(model_dir), "--output", str(tmp_path / "d"), "--int8"]) == 0
    assert json.loads(capsys.readouterr().out)["int8_check"]["recipe"] == DEFAULT_RECIPE
    assert main(["export", str(model_dir), "--output", str(tmp_path / "a"), "--int8", "auto",
                 "--max-int8-drop", "100"]) == 0
    assert len(json.loads(capsys.readouterr().out)["int8_check"]["candidates"]) == len(AUTO_CANDIDATES)
    assert main(["export", str(model_dir), "--output", str(tmp_path / "b"), "--int8", "dynamc"]) == 2
    assert "did you mean 'dynamic'" in capsys.readouterr().err
    assert session(tmp_path / "a" / "model.onnx", threads=1, spinning=True).get_inputs()

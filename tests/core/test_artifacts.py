"""One contract for every saved model type (as scikit-learn's estimator checks do for
estimators): save -> load round trip with identical predictions, domaintune.load picks the
class, overwrite refusal, permissions, and every corruption named by one ModelLoadError."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import domaintune
from domaintune import (
    ArtifactExistsError,
    ModelLoadError,
    TextClassifier,
    TextDataset,
    TrainingConfig,
)
from domaintune.artifacts import check_target, read_artifact, write_artifact
from domaintune.ner import TokenClassifier, TokenDataset
from domaintune.pairs import BiEncoder, CrossEncoderModel, FaissIndex

TEXTS = ["where is my refund", "my card was stolen", "hello there", "bob went to paris"]
PAIRS = [("where is my refund", "refund money back"), ("my card was stolen", "card lost blocked")]


@dataclass
class Case:
    """How to build, save, load and query one model type."""

    name: str
    build: Callable[[str], Any]  # tiny model dir -> a saveable object
    predict: Callable[[Any], np.ndarray]
    cls: type
    weights: str  # the main weight/index file
    meta_file: str = "domaintune.json"
    save: Callable[..., Path] | None = None  # default: obj.save(path, overwrite=...)

    def do_save(self, obj: Any, path: Path, **kw: Any) -> Path:
        return self.save(obj, path, **kw) if self.save else obj.save(path, **kw)


def _classifier(tiny: str) -> TextClassifier:
    data = TextDataset(TEXTS[:3], ["refund", "card", "greeting"])
    clf = TextClassifier.from_pretrained(tiny, labels=data.labels, device="cpu")
    clf.fit(data, data, TrainingConfig(method="frozen", head_c=100.0, progress=False, seed=0))
    clf.temperature = 1.5  # calibration on 3 rows is skipped or unstable; pin a known value
    return clf


def _ner(tiny: str) -> TokenClassifier:
    data = TokenDataset([["alice", "lost", "her", "card", "in", "paris"], ["hello", "from", "london"]],
                        [["B-PER", "O", "O", "O", "O", "B-LOC"], ["O", "O", "B-LOC"]])
    ner = TokenClassifier.from_pretrained(tiny, labels=data.entity_types, device="cpu")
    return ner.fit(data, None, TrainingConfig(method="frozen", progress=False, seed=0))


def _index(tiny: str) -> FaissIndex:
    enc = BiEncoder.from_pretrained(tiny, device="cpu")
    return FaissIndex().fit(enc.encode(TEXTS), ids=[f"d{i}" for i in range(len(TEXTS))], encoder=enc)


def _ner_scores(ner: TokenClassifier) -> np.ndarray:
    scores, _, _ = ner._word_logits([t.split() for t in TEXTS])
    return np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores])


def _onnx_classifier(tiny: str):
    return _classifier(tiny)


CASES = [
    Case("text-classifier", _classifier, lambda m: m.predict_proba(TEXTS), TextClassifier,
         "head.safetensors"),
    Case("ner", _ner, _ner_scores, TokenClassifier, "model.safetensors"),
    Case("bi-encoder", lambda tiny: BiEncoder.from_pretrained(tiny, device="cpu"),
         lambda m: m.encode(TEXTS), BiEncoder, "model.safetensors"),
    Case("cross-encoder",
         lambda tiny: CrossEncoderModel.from_pretrained(tiny, labels=["yes", "no"], device="cpu"),
         lambda m: m.predict_proba(PAIRS), CrossEncoderModel, "model.safetensors"),
    Case("faiss-index", _index, lambda m: m.search(m.index_.reconstruct_n(0, 4), k=2)[0],
         FaissIndex, "index.faiss", meta_file="index.json"),
]


def _onnx_case() -> Case | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    from domaintune.export import OnnxTextClassifier

    return Case("onnx-export", _classifier, lambda m: m.predict_proba(TEXTS), OnnxTextClassifier,
                "model.onnx", meta_file="onnx.json",
                save=lambda obj, path, **kw: obj.export_onnx(path, **kw))


CASES += [c for c in [_onnx_case()] if c is not None]


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request) -> Case:
    return request.param


@pytest.fixture
def saved(case, tiny_model, tmp_path) -> tuple[Case, Any, Path]:
    obj = case.build(tiny_model)
    path = case.do_save(obj, tmp_path / "saved")
    return case, obj, path


def _load(case: Case, path: Path) -> Any:
    loader = case.cls.load
    return loader(path) if case.cls is FaissIndex or case.meta_file == "onnx.json" else loader(path, device="cpu")


def _predictions_of_saved(case: Case, obj: Any) -> np.ndarray:
    if case.meta_file == "onnx.json":  # compare the export with the PyTorch model it came from
        return case.predict(obj)
    return case.predict(obj)


# ----------------------------------------------------------------------------------- round trip
def test_round_trip_gives_identical_predictions_and_domaintune_load_picks_the_class(saved):
    case, obj, path = saved
    loaded = _load(case, path)
    generic = domaintune.load(path, **({} if case.cls is FaissIndex or case.meta_file == "onnx.json"
                                        else {"device": "cpu"}))
    assert type(loaded) is case.cls and type(generic) is case.cls
    before = _predictions_of_saved(case, obj)
    atol = 1e-5 if case.meta_file == "onnx.json" else 0.0
    np.testing.assert_allclose(case.predict(loaded), before, atol=atol, rtol=0)
    np.testing.assert_allclose(case.predict(generic), before, atol=atol, rtol=0)


def test_record_lists_files_and_hashes_weights(saved):
    case, _, path = saved
    record = json.loads((path / case.meta_file).read_text())
    assert record["format_version"] == 2
    on_disk = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert sorted([*record["contents"], case.meta_file]) == on_disk
    assert case.weights in record["files"] and len(record["files"][case.weights]["sha256"]) == 64


def test_saved_files_get_normal_permissions(saved):
    case, _, path = saved
    umask = os.umask(0)
    os.umask(umask)
    for p in [path, *path.rglob("*")]:
        expected = (0o777 if p.is_dir() else 0o666) & ~umask
        assert p.stat().st_mode & 0o777 == expected, p


# ------------------------------------------------------------------------------------ overwrite
def test_never_replaces_a_folder_of_other_files(case, tiny_model, tmp_path):
    obj = case.build(tiny_model)
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\nhi,greeting\n")
    for overwrite in (False, True):
        with pytest.raises(ArtifactExistsError, match=r"not empty \(1 entry: train.csv\).*never "
                                                      "replaces it, even with overwrite"):
            case.do_save(obj, folder, overwrite=overwrite)
    assert [p.name for p in folder.iterdir()] == ["train.csv"]
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ArtifactExistsError, match="is a file"):
        case.do_save(obj, target)


def test_replaces_its_own_directory_only_with_overwrite(saved, tmp_path):
    case, obj, path = saved
    with pytest.raises(ArtifactExistsError, match=r"already holds a domaintune directory.*"
                                                  r"overwrite=True \(command line: --overwrite\)"):
        case.do_save(obj, path)
    assert case.do_save(obj, path, overwrite=True) == path
    _load(case, path)
    (path / "notes.txt").write_text("mine")  # a user's file inside: replacing would delete it
    with pytest.raises(ArtifactExistsError, match=r"1 other file \(notes.txt\)"):
        case.do_save(obj, path, overwrite=True)
    assert (path / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    case.do_save(obj, empty)  # an empty directory is fine
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


# ---------------------------------------------------------------------------------- corruptions
def test_overwritten_bytes_inside_the_weights_are_detected(saved, tmp_path):
    case, _, path = saved
    weights = path / case.weights
    blob = bytearray(weights.read_bytes())
    middle = len(blob) // 2
    blob[middle:middle + 64] = bytes(255 - b for b in blob[middle:middle + 64])  # same size
    weights.write_bytes(bytes(blob))
    with pytest.raises(ModelLoadError, match=f"{case.weights} is corrupted: its SHA-256 differs"):
        _load(case, path)


def test_truncated_or_missing_weights_name_the_file(saved):
    case, _, path = saved
    weights = path / case.weights
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match=f"{case.weights} is corrupted: 100 bytes"):
        _load(case, path)
    weights.unlink()
    with pytest.raises(ModelLoadError, match=f"incomplete: missing.*{case.weights}"):
        _load(case, path)


def test_corrupted_or_newer_record(saved):
    case, _, path = saved
    record_file = path / case.meta_file
    record = json.loads(record_file.read_text())
    record_file.write_text(json.dumps({**record, "format_version": 99}))
    with pytest.raises(ModelLoadError, match="written by a newer domaintune.*upgrade"):
        _load(case, path)
    record_file.write_text("{broken")
    with pytest.raises(ModelLoadError, match=f"{case.meta_file} is corrupted"):
        _load(case, path)
    record_file.unlink()
    with pytest.raises(ModelLoadError, match=f"{case.meta_file} is missing"):
        _load(case, path)


def test_corrupted_side_files_are_one_model_load_error(saved):
    case, _, path = saved
    side = [n for n in ("metrics.json", "training_config.json", "ids.json") if (path / n).is_file()]
    if not side:
        pytest.skip(f"{case.name} saves no side files")
    for name in side:
        broken = path.parent / f"broken-{name}"
        shutil.copytree(path, broken)
        (broken / name).write_text("{not json")
        with pytest.raises(ModelLoadError, match=f"{name} is corrupted"):
            _load(case, broken)


def test_unknown_training_config_keys_load_with_a_warning(saved, caplog):
    case, obj, path = saved
    cfg = path / "training_config.json"
    if not cfg.is_file():
        if case.cls not in (BiEncoder, CrossEncoderModel):
            pytest.skip(f"{case.name} reads no training config")
        from domaintune.pairs import PairTrainingConfig  # an untrained pair model saves none

        cfg.write_text(json.dumps(PairTrainingConfig().to_dict()))
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "future_option": 3}))
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        loaded = _load(case, path)
    assert "future_option" in caplog.text and "newer version" in caplog.text
    np.testing.assert_allclose(case.predict(loaded), _predictions_of_saved(case, obj), atol=1e-5)


def _edit(path: Path, **fields: Any) -> None:
    record = json.loads((path / "domaintune.json").read_text())
    record.update(fields)
    (path / "domaintune.json").write_text(json.dumps(record))


def test_classifier_record_is_checked_against_the_weights(tiny_model, tmp_path):
    clf = _classifier(tiny_model)
    good = clf.save(tmp_path / "good")
    labels = json.loads((good / "domaintune.json").read_text())["labels"]
    edits = {
        "negative-temperature": ({"temperature": -0.5}, r"'temperature' must be a finite number > 0"),
        "swapped": ({"labels": [labels[1], labels[0], labels[2]]}, "differ from those stored with "
                                                                    "the weights in head.safetensors"),
        "duplicated": ({"labels": [labels[0], labels[0], labels[2]]}, "more than once"),
        "too-few": ({"labels": labels[:2]}, "lists 2 labels but the weights have 3 outputs"),
        "method": ({"method": "magic"}, "'method' is 'magic', expected one of"),
        "task": ({"task": "summarization"}, "holds a 'summarization' model"),
    }
    for name, (fields, message) in edits.items():
        copy = shutil.copytree(good, tmp_path / name)
        _edit(copy, **fields)
        with pytest.raises(ModelLoadError, match=message):
            TextClassifier.load(copy, device="cpu")
    unknown_task = shutil.copytree(good, tmp_path / "unknown-task")
    _edit(unknown_task, task="summarization")
    with pytest.raises(ModelLoadError, match="names the task 'summarization', which this domaintune"):
        domaintune.load(unknown_task)


def test_ner_tags_are_checked_against_the_weights(tiny_model, tmp_path):
    ner = _ner(tiny_model)
    good = ner.save(tmp_path / "good")
    tags = json.loads((good / "domaintune.json").read_text())["tags"]
    for name, edit, message in (
        ("swapped", [tags[0], *reversed(tags[1:])], "differ from those stored with the weights"),
        ("duplicated", [tags[0], tags[1], tags[1], *tags[3:]], "more than once"),
    ):
        copy = shutil.copytree(good, tmp_path / name)
        _edit(copy, tags=edit)
        with pytest.raises(ModelLoadError, match=message):
            TokenClassifier.load(copy, device="cpu")


def test_crossencoder_labels_are_checked(tiny_model, tmp_path):
    ce = CrossEncoderModel.from_pretrained(tiny_model, labels=["yes", "no"], device="cpu")
    good = ce.save(tmp_path / "good")
    _edit(good, labels=["yes", "yes"])
    with pytest.raises(ModelLoadError, match="more than once"):
        CrossEncoderModel.load(good, device="cpu")


# ------------------------------------------------------------------------- the layer on its own
def test_write_artifact_leaves_nothing_on_failure_and_keeps_the_old_directory(tmp_path):
    with write_artifact(tmp_path / "m", task="text-classification") as art:
        (art.dir / "a.safetensors").write_bytes(b"1")
    with pytest.raises(RuntimeError), write_artifact(tmp_path / "m", task="text-classification",
                                                     overwrite=True) as art:
        (art.dir / "a.safetensors").write_bytes(b"2")
        raise RuntimeError("disk full")
    assert (tmp_path / "m" / "a.safetensors").read_bytes() == b"1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    meta = read_artifact(tmp_path / "m", task="text-classification", loader="test")
    assert meta["contents"] == ["a.safetensors"]


def test_check_target_refuses_other_kinds_of_our_directories(tmp_path):
    with write_artifact(tmp_path / "index", task=None, meta_file="index.json") as art:
        (art.dir / "index.faiss").write_bytes(b"x")
    with pytest.raises(ArtifactExistsError, match=r"holds a domaintune FAISS index \(index.json\), "
                                                  "so it is not a model"):
        check_target(tmp_path / "index", overwrite=True)


def test_load_by_registered_name(tiny_model, tmp_path, monkeypatch):
    from domaintune import ModelRegistry

    url = f"sqlite:///{tmp_path / 'reg.db'}"
    clf = _classifier(tiny_model)
    path = clf.save(tmp_path / "intents-v1")
    with ModelRegistry(url) as reg:
        reg.register("intents", path, config={}, metrics={}, data_fingerprint="test")
        reg.promote("intents", 1)
    monkeypatch.setenv("DOMAINTUNE_REGISTRY", url)
    for name in ("intents", "intents@1"):
        loaded = domaintune.load(name, device="cpu")
        np.testing.assert_array_equal(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    with pytest.raises(ModelLoadError, match="'nothing' is neither a directory nor a loadable "
                                             "registered model"):
        domaintune.load("nothing")


def test_a_format_1_directory_is_never_replaced(tiny_model, tmp_path):
    clf = _classifier(tiny_model)
    old = clf.save(tmp_path / "old")
    record = json.loads((old / "domaintune.json").read_text())
    for key in ("contents", "files"):  # as written before file lists existed
        record.pop(key)
    (old / "domaintune.json").write_text(json.dumps({**record, "format_version": 1}))
    (old / "my_notes.txt").write_text("mine")
    TextClassifier.load(old, device="cpu")  # still loads
    with pytest.raises(ArtifactExistsError, match="older domaintune that recorded no file list"):
        clf.save(old, overwrite=True)
    assert (old / "my_notes.txt").read_text() == "mine"


def test_runtime_files_are_exact_names(tmp_path):
    from domaintune.artifacts import foreign_files

    with write_artifact(tmp_path / "bot", task="support-bot", meta_file="bot.json") as art:
        (art.dir / "config.yaml").write_text("x")
        art.meta["runtime_files"] = ["log.db", "log.db-wal"]
    for name in ("log.db", "log.db-wal", "log.db.backup", "logo.png"):
        (tmp_path / "bot" / name).write_text("x")
    assert foreign_files(tmp_path / "bot") == ["log.db.backup", "logo.png"]


def test_onnx_serving_takes_text_like_pytorch(tiny_model, tmp_path):
    pytest.importorskip("onnxruntime")
    from domaintune import DataError
    from domaintune.export import OnnxTextClassifier

    clf = _classifier(tiny_model)
    fast = OnnxTextClassifier.load(clf.export_onnx(tmp_path / "onnx"))
    for bad in (None, 3, [""]):
        with pytest.raises(DataError):
            fast.predict_proba(bad)
    np.testing.assert_allclose(fast.predict_proba("where is my\x00 refund"),
                               clf.predict_proba("where is my\x00 refund"), atol=1e-5)

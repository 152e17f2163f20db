"""The support bot as an app: its spec, a CLI that starts without the models, its sample data
and its typed config."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import textwrap

import pytest
import yaml

from domaintune import ConfigError, TrainingConfig
from domaintune.config import Method
from support_bot import APP, BotConfig, IntentConfig
from support_bot import samples as bot_samples

HEAVY = ("torch", "transformers", "gradio", "sentence_transformers", "onnxruntime", "fastapi",
         "pydantic", "uvicorn", "numpy")

# sha256 of the sample files: the same bytes as the former data/make_samples.py wrote
SAMPLE_SHA256 = {
    "intents": "46db4e233df38df638a7018d2b209c3c89fa0e8df47531a5fe681a9fff9e1d69",
    "intents_test": "7746c5064fa688035d95520f4045a821f55136d5dafe9416a27b65fdff2c7370",
    "faq": "411e41f8543323384b2c44d035dca5b438a331da6ce288273f6907c8dcaa71e6",
    "oos": "8c120bc1e22c4dd358f0a0f626fdac6922b077c6119906a0e677929bad038796",
    "faq_queries": "802332d83bbda4aa2e42f8b486801b47914e08159c36b7af3c132e9b03b34e16",
}


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_the_spec_names_the_apps_modules():
    assert APP.name == "support_bot" and APP.title == "Support bot"
    assert APP.config_class is BotConfig
    assert APP.hook("samples") is bot_samples.write_samples
    from support_bot.service import SupportBot, load
    from support_bot.training import demo_bot
    from support_bot.ui import demo_tab

    assert (APP.hook("load"), APP.hook("demo"), APP.hook("tab")) == (load, demo_bot,
                                                                             demo_tab)
    assert load.__doc__ and SupportBot.load.__doc__


def test_the_cli_module_imports_only_the_standard_library():
    """Beyond what `import support_bot` needs, building the parser (`--help`) imports nothing
    but the standard library and the core's stdlib-only server options
    (``domaintune.serving.config``, for ``serve``; the heavy modules are checked below)."""
    new = _python("""
        import sys
        import support_bot
        before = set(sys.modules)
        import support_bot.cli
        support_bot.cli.build_parser().format_help()
        print(sorted({m.split(".")[0] for m in set(sys.modules) - before}
                     - set(sys.stdlib_module_names) - {"support_bot", "domaintune"}))
        print(sorted(m for m in set(sys.modules) - before if m.startswith("domaintune")
                     and not m.startswith("domaintune.serving")))
    """)
    assert new == "[]\n[]"


def test_support_bot_help_imports_neither_torch_nor_gradio():
    baseline = _python(f"""
        import sys
        import domaintune.cli
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    if baseline != "[]":
        pytest.skip(f"`import domaintune.cli` alone imports {baseline} (the core's lazy imports, "
                    "issue 8 part 5, are not in this tree yet)")
    loaded = _python(f"""
        import sys
        from support_bot.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert loaded.splitlines()[-1] == "[]"


def test_samples_are_the_same_bytes_as_before_and_written_once(tmp_path):
    paths = bot_samples.write_samples(tmp_path)
    assert sorted(paths) == sorted(SAMPLE_SHA256)
    assert paths["faq"] == tmp_path / "support" / "faq.csv"
    for name, path in paths.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == SAMPLE_SHA256[name], name
    mtimes = {name: path.stat().st_mtime_ns for name, path in paths.items()}
    paths["oos"].write_text("text\nmine\n", encoding="utf-8")
    bot_samples.write_samples(tmp_path)  # existing files are kept
    assert paths["oos"].read_text(encoding="utf-8") == "text\nmine\n"
    assert paths["faq"].stat().st_mtime_ns == mtimes["faq"]
    bot_samples.write_samples(tmp_path, force=True)
    assert hashlib.sha256(paths["oos"].read_bytes()).hexdigest() == SAMPLE_SHA256["oos"]


def test_a_sample_text_in_two_files_is_one_clear_error(tmp_path, monkeypatch):
    from domaintune import samples as core_samples

    intent_text = core_samples.build_samples()["intents"][0][0]
    own = bot_samples.build_samples()
    monkeypatch.setattr(bot_samples, "build_samples",
                        lambda: {**own, "oos": [*own["oos"], (intent_text,)]})
    with pytest.raises(ValueError, match=re.escape(f"duplicate text {intent_text!r} (oos vs "
                                                   "intents)")):
        bot_samples.write_samples(tmp_path)
    assert not (tmp_path / "support" / "oos.csv").exists()


def test_make_samples_calls_the_core_and_every_registered_app(tmp_path):
    from conftest import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "data" / "make_samples.py"), "--out",
                          str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "support").iterdir()) == [
        "faq.csv", "faq_queries.csv", "intents.csv", "intents_test.csv", "oos.csv"]
    assert sorted(p.name for p in (tmp_path / "ner").iterdir()) == ["test.conll", "train.conll"]
    assert sorted(p.name for p in (tmp_path / "finance").iterdir()) == [
        "monitor.yaml", "sentiment.yaml", "sentiment_test.csv", "sentiment_train.csv",
        "stream.jsonl", "watchlist.csv"]
    assert sorted(p.name for p in (tmp_path / "recommender").iterdir()) == [
        "interactions.csv", "items.csv", "users.csv"]
    # the core's NER sample too (issue 9), the monitor's, the recommender's
    assert out.stdout.count("wrote") == 16


def test_intent_training_is_the_cores_typed_section():
    cfg = BotConfig.from_dict({"intent": {"method": "full", "max_length": 64,
                                          "training": {"epochs": 2, "head_c": 5}}})
    training = cfg.intent.training
    assert isinstance(training, TrainingConfig)
    assert (training.epochs, training.head_c, training.progress) == (2.0, 5.0, False)
    assert (training.method, training.max_length, training.seed) == (Method.FULL, 64, 42)
    assert cfg.intent.training_config() == training
    assert BotConfig().intent.training.method == Method.FROZEN
    saved = cfg.to_dict()["intent"]["training"]
    assert "method" not in saved and saved["epochs"] == 2.0
    assert BotConfig.from_dict(cfg.to_dict()) == cfg
    assert BotConfig.from_dict({"intent": {"training": {}}}).intent == IntentConfig()


@pytest.mark.parametrize(("training", "message"), [
    ({"method": "full"}, r"intent.training sets \['method'\], which are intent.method itself; "
                         "set intent.method instead"),
    ({"epoch": 2}, "unknown key 'epoch' in intent.training; did you mean 'epochs'"),
    ({"epochs": -1}, "intent.training: TrainingConfig key 'epochs' expects a positive number"),
    ({"batch_size": "big"}, "intent.training.*batch_size.*expects an integer"),
])
def test_intent_training_errors_name_the_key(training, message):
    with pytest.raises(ConfigError, match=message):
        BotConfig.from_dict({"intent": {"training": training}})


def test_a_training_config_from_python_may_not_contradict_the_intent_section():
    assert IntentConfig(training=TrainingConfig(epochs=1)).training.method == Method.FROZEN
    with pytest.raises(ConfigError, match="intent.training.method is 'lora' but intent.method "
                                          "is 'frozen'; set intent.method only"):
        IntentConfig(training=TrainingConfig(method="lora"))


def test_yaml_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    (folder / "encoders" / "mine").mkdir(parents=True)
    (folder / "bot.yaml").write_text(yaml.safe_dump({
        "intents_file": "data/intents.csv", "output_dir": "../bots/b1",
        "intent": {"model": "encoders/mine"},
        "faq": {"encoder": "sentence-transformers/all-MiniLM-L6-v2", "cross_encoder": None}}),
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = BotConfig.from_yaml(folder / "bot.yaml", ["faq.top_k=4"])
    assert cfg.intents_file == str(folder / "data" / "intents.csv")
    assert cfg.output_dir == str(tmp_path / "bots" / "b1")
    assert cfg.intent.model == str(folder / "encoders" / "mine")
    assert cfg.faq.encoder == "sentence-transformers/all-MiniLM-L6-v2"  # a hub id stays
    assert cfg.faq.top_k == 4

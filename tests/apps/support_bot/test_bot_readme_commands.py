"""Every ``support-bot`` command in README.md and apps/support_bot/README.md runs as written on
the project's sample data (offline: the packaged MiniLM, ``frozen`` training).

Each README's bash blocks run in order in a fresh directory holding the sample data, so that
the relative paths (``data/support/...``, ``models/bot``) mean what they say. ``chat`` reads
a few messages and feedback commands from stdin (what ``retrain`` then learns from), ``demo``
builds the Gradio app without serving it.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from conftest import packaged_model_available
from conftest import readme_commands as conftest_readme_commands

ROOT = Path(__file__).resolve().parents[3]
READMES = ["README.md", "apps/support_bot/README.md"]
CHAT_INPUT = "my card hasn't arrived\n/helpful\nhow do I reset my password?\n/intent reset_password\nquit\n"

needs_minilm = pytest.mark.skipif(not packaged_model_available(),
                                  reason="needs the packaged MiniLM")


def readme_commands(path: Path) -> list[list[str]]:
    return conftest_readme_commands(path, "support-bot")


def test_the_readmes_have_the_bot_commands():
    for name in READMES:
        commands = readme_commands(ROOT / name)
        programs = {c[0] + " " + c[1] for c in commands}
        assert {"support-bot train", "support-bot chat", "support-bot evaluate",
                "support-bot retrain", "support-bot demo", "support-bot handoffs", "support-bot serve"} <= programs, name


@pytest.mark.slow  # trainings with the packaged MiniLM: about a minute each on 2 cores
@needs_minilm
@pytest.mark.parametrize("readme", READMES)
def test_readme_support_bot_commands_run_as_written(readme, tmp_path, monkeypatch, capsys, fake_serve):
    import gradio as gr

    from domaintune.cli import main as domaintune_main
    from support_bot.cli import main as bot_main
    from support_bot.samples import write_samples

    commands = readme_commands(ROOT / readme)
    first = readme_commands(ROOT / READMES[0])
    if readme != READMES[0] and commands == first[:len(commands)]:
        # the same commands in the same order on the same sample data: the README.md case
        # has run them already (a minute of training each); a README that differs runs here
        pytest.skip(f"{readme}'s commands are the first {len(commands)} of {READMES[0]}'s")
    monkeypatch.chdir(tmp_path)
    launched = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.append(kw))
    ran = []
    for argv in commands:
        if argv[:2] == ["python", "data/make_samples.py"]:
            write_samples(tmp_path / "data")
            continue
        program, args = argv[0], argv[1:]
        if program == "support-bot" and args[0] == "chat":
            monkeypatch.setattr(sys, "stdin", io.StringIO(CHAT_INPUT))
        assert program in ("support-bot", "domaintune"), argv
        code = (bot_main if program == "support-bot" else domaintune_main)(args)
        out = capsys.readouterr()
        assert code == 0, f"{shlex.join(argv)} failed:\n{out.err[-3000:]}"
        ran.append((args[0], out))
    by_command = {name: out for name, out in ran}
    train = json.loads(by_command["train"].out)  # one JSON object on stdout
    assert train["intents"] == 20 and "validation (" in by_command["train"].err
    assert "saved: turn 1 was helpful" in by_command["chat"].out
    assert re.search(r"\[(answered|asked_slot) card_not_arrived", by_command["chat"].out)
    metrics = json.loads(by_command["evaluate"].out)
    assert metrics["accuracy"] > 0.8 and "worst intents" in by_command["evaluate"].err
    retrain = json.loads(by_command["retrain"].out)
    assert retrain["version"] == 2 and retrain["n_examples"] == 2
    assert launched and (tmp_path / "models" / "bot-v2" / "bot.json").is_file()
    # `serve` ran as written, in process: its routes loaded and answered
    assert [(c['config'].port, c['ready']) for c in fake_serve] == [(8001, 200)]
    assert set(['/v1/reply', '/v1/feedback']) <= set(fake_serve[0]['paths'])

"""Every ``finance-monitor`` command in README.md and apps/finance_monitor/README.md runs as
written on the sample data (offline: the packaged MiniLM, ``frozen`` training).

Each README's bash blocks that use ``finance-monitor`` run in order in a fresh directory with
the sample data. ``watch`` gets ``--once`` (it would otherwise run until Ctrl-C) and a file in
its folder; ``demo`` builds the Gradio app without serving it.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import packaged_model_available
from conftest import readme_commands as conftest_readme_commands

ROOT = Path(__file__).resolve().parents[3]
READMES = ["README.md", "apps/finance_monitor/README.md"]


def readme_commands(path: Path) -> list[list[str]]:
    return conftest_readme_commands(path, "finance-monitor")


def test_the_readmes_have_the_monitor_commands():
    for name in READMES:
        programs = {" ".join(c[:2]) for c in readme_commands(ROOT / name)}
        assert {"finance-monitor score", "finance-monitor alerts", "finance-monitor evaluate",
                "finance-monitor deliver", "finance-monitor watch",
                "finance-monitor demo", "finance-monitor serve"} <= programs, name


@pytest.mark.slow
@pytest.mark.skipif(not packaged_model_available(), reason="needs the packaged MiniLM")
@pytest.mark.parametrize("readme", READMES)
def test_readme_monitor_commands_run_as_written(readme, tmp_path, monkeypatch, capsys, fake_serve):
    import gradio as gr

    from domaintune.cli import main as domaintune_main
    from domaintune.samples import write_samples as core_samples
    from finance_monitor.cli import main as monitor_main
    from finance_monitor.samples import write_samples

    monkeypatch.chdir(tmp_path)
    launched = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.append(kw))
    ran = {}
    for argv in readme_commands(ROOT / readme):
        if argv[:2] == ["python", "data/make_samples.py"]:
            core_samples(tmp_path / "data")
            write_samples(tmp_path / "data")
            continue
        program, args = argv[0], argv[1:]
        assert program in ("finance-monitor", "domaintune"), argv
        if program == "finance-monitor" and args[0] == "watch":
            folder = tmp_path / args[1]
            folder.mkdir(exist_ok=True)
            lines = (tmp_path / "data/finance/stream.jsonl").read_text().splitlines()
            (folder / "late-news.jsonl").write_text(
                "\n".join(line.replace('"post-', '"extra-') for line in lines[:20]) + "\n")
            args = [*args, "--once"]
        code = (monitor_main if program == "finance-monitor" else domaintune_main)(args)
        out = capsys.readouterr()
        assert code == 0, f"{shlex.join(argv)} failed:\n{out.err[-3000:]}"
        ran[args[0]] = out
    score = json.loads(ran["score"].out)
    assert score["scored"] > 1000 and score["alerts_raised"] >= 1
    alerts = json.loads(ran["alerts"].out)["alerts"]
    assert "FBRK" in {a["series_key"] for a in alerts}
    assert json.loads(ran["evaluate"].out)["accuracy"] > 0.6
    assert json.loads(ran["watch"].out)["documents"] == 20
    assert launched
    # `serve` ran as written, in process: its routes loaded and answered
    assert [(c['config'].port, c['ready']) for c in fake_serve] == [(8002, 200)]
    assert set(['/v1/score', '/v1/documents', '/v1/alerts']) <= set(fake_serve[0]['paths'])

"""Every ``text-recommender`` command in README.md and apps/text_recommender/README.md runs as
written on the sample data (offline: the packaged MiniLM), in order, in a fresh directory;
``demo`` builds the Gradio app without serving it. The Python block of the app README runs too.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import packaged_model_available
from conftest import readme_commands as conftest_readme_commands

ROOT = Path(__file__).resolve().parents[3]
READMES = ["README.md", "apps/text_recommender/README.md"]


def readme_commands(path: Path) -> list[list[str]]:
    return conftest_readme_commands(path, "text-recommender")


def test_the_readmes_have_the_recommender_commands():
    for name in READMES:
        programs = {" ".join(c[:2]) for c in readme_commands(ROOT / name)}
        assert {"text-recommender split", "text-recommender fit", "text-recommender evaluate",
                "text-recommender recommend", "text-recommender demo", "text-recommender serve"} <= programs, name


@pytest.mark.slow
@pytest.mark.skipif(not packaged_model_available(), reason="needs the packaged MiniLM")
@pytest.mark.parametrize("readme", READMES)
def test_readme_recommender_commands_run_as_written(readme, tmp_path, monkeypatch, capsys, fake_serve):
    import gradio as gr

    from text_recommender.cli import main
    from text_recommender.samples import write_samples

    monkeypatch.chdir(tmp_path)
    launched = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.append(kw))
    ran: dict[str, list] = {}
    for argv in readme_commands(ROOT / readme):
        if argv[:2] == ["python", "data/make_samples.py"]:
            write_samples(tmp_path / "data")
            continue
        assert argv[0] == "text-recommender", argv
        code = main(argv[1:])
        out = capsys.readouterr()
        assert code == 0, f"{shlex.join(argv)} failed:\n{out.err[-3000:]}"
        ran.setdefault(argv[1], []).append(out)
    evaluation = json.loads(ran["evaluate"][0].out)
    assert evaluation["hr@10"] > evaluation["baselines"]["popularity"]["hr@10"]
    first = [json.loads(line) for line in ran["recommend"][0].out.splitlines()]
    assert len(first) == 5 and all(r["explanation"] for r in first)
    assert launched
    # `serve` ran as written, in process: its routes loaded and answered
    assert [(c['config'].port, c['ready']) for c in fake_serve] == [(8003, 200)]
    assert set(['/v1/recommend']) <= set(fake_serve[0]['paths'])
    if readme.startswith("apps/"):
        block = re.search(r"```python\n(.*?)```", (ROOT / readme).read_text(), flags=re.S)
        exec(compile(block.group(1), readme, "exec"), {})
        from text_recommender import Recommender

        rec = Recommender.load(tmp_path / "models/rec")
        assert rec.history("u01")[-1]["item_id"] == "m200"
        assert "m003" not in {r.item_id for r in rec.recommend("u02", k=200)}

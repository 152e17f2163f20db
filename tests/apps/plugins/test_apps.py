"""Apps as plug-ins: entry point -> AppSpec -> hooks, broken apps reported, the demo launcher
looping over whatever is registered.

(In tests/apps/plugins, not tests/apps: a test module in tests/apps would put that folder on
sys.path, where tests/apps/support_bot would shadow the support_bot package.)
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT

from domaintune import apps as apps_module
from domaintune.apps import ENTRY_POINT_GROUP, AppLoadError, AppSpec, discover, get_app, resolve

FAKE_APP = '''
from pathlib import Path

from domaintune.apps import AppSpec

CALLS = []


class Service:
    def __init__(self, samples, directory):
        self.samples, self.directory = samples, directory

    @classmethod
    def load(cls, path):
        return cls({}, Path(path))


def write_samples(data_dir, *, force=False):
    path = data_dir / "fake" / "rows.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if force or not path.exists():
        path.write_text("text\\nhello\\n", encoding="utf-8")
    CALLS.append(("samples", data_dir))
    return {"rows": path}


def demo_service(samples, models_dir, *, retrain=False):
    CALLS.append(("service", models_dir, retrain))
    return Service(samples, models_dir / "demo-fake")


def tab(service):
    import gradio as gr

    CALLS.append(("tab", service))
    box = gr.Textbox(label="Echo")
    out = gr.Textbox(label="Out")
    box.submit(lambda t: t.upper(), box, out, api_name="fake_echo")


APP = AppSpec(name="fake_app", title="Fake app", config="fake_app_mod:Service",
              load="fake_app_mod:Service.load", samples="fake_app_mod:write_samples",
              demo=demo_service, tab="fake_app_mod:tab", description="a test app")
WRONG_NAME = AppSpec(name="other", title="Other", config=Service, load=Service.load,
                     samples=write_samples, demo=demo_service, tab=tab)
NOT_A_SPEC = {"name": "fake"}
'''


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """Register entry points {name: value} (the installed ones stay)."""
    (tmp_path / "fake_app_mod.py").write_text(FAKE_APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_app_mod", raising=False)
    installed = apps_module.entry_points()

    def register(**values: str) -> None:
        extra = [metadata.EntryPoint(name, value, ENTRY_POINT_GROUP)
                 for name, value in values.items()]
        monkeypatch.setattr(apps_module, "entry_points", lambda: [*installed, *extra])

    return register


def test_the_support_bot_is_registered_and_its_hooks_resolve():
    names = [ep.name for ep in apps_module.entry_points()]
    assert "support_bot" in names
    app = get_app("support_bot")
    assert isinstance(app, AppSpec) and app.title == "Support bot"
    for hook in ("load", "samples", "demo", "tab", "routes"):
        assert callable(app.hook(hook)), hook
    assert app.config_class.__name__ == "BotConfig"


def test_discovery_loads_specs_and_reports_a_broken_app_without_hiding_the_others(registered):
    registered(fake_app="fake_app_mod:APP", broken="no_such_module_xyz:APP",
               wrong="fake_app_mod:WRONG_NAME", notspec="fake_app_mod:NOT_A_SPEC")
    found, errors = discover()
    assert {"fake_app", "support_bot"} <= {a.name for a in found}
    messages = {str(e).split(" ")[1]: str(e) for e in errors}
    assert set(messages) == {"'broken'", "'wrong'", "'notspec'"}
    assert ("app 'broken' (entry point 'no_such_module_xyz:APP' in group 'domaintune.apps') "
            "cannot be loaded: ModuleNotFoundError: No module named 'no_such_module_xyz'") \
        in messages["'broken'"]
    assert "Reinstall the package that declares it (pip install -e ." in messages["'broken'"]
    assert "names the app 'other'; the entry point and AppSpec.name must be the same" \
        in messages["'wrong'"]
    assert "names a dict, expected a domaintune.apps.AppSpec" in messages["'notspec'"]
    with pytest.raises(AppLoadError, match="app 'broken'"):
        get_app("broken")
    with pytest.raises(AppLoadError, match="no app named 'nope' is registered"):
        get_app("nope")
    fake = get_app("fake_app")
    assert fake.description == "a test app"
    assert fake.load_service("/tmp/x").directory == Path("/tmp/x")


def test_a_spec_is_checked_and_a_bad_hook_reference_is_one_clear_error():
    with pytest.raises(ValueError, match="expected a lower-case identifier"):
        AppSpec(name="My App", title="x", config=dict, load=dict, samples=dict,
                demo=dict, tab=dict)
    with pytest.raises(ValueError, match="'x' tab: expected a callable or 'package.module:attr"):
        AppSpec(name="x", title="x", config=dict, load=dict, samples=dict,
                demo=dict, tab="no colon here")
    spec = AppSpec(name="x", title="x", config=dict, load=dict, samples=dict,
                   demo=dict, tab="json:no_such_function")
    with pytest.raises(AppLoadError, match=r"app 'x': its tab 'json:no_such_function' cannot be "
                                           r"loaded \(AttributeError"):
        spec.build_tab(None)
    assert spec.build_routes("service") is None  # no REST routes yet
    with_routes = AppSpec(name="x", title="x", config=dict, load=dict, samples=dict,
                          demo=dict, tab=dict,
                          routes=lambda service, config: ["GET /x", service, config])
    assert with_routes.build_routes("service") == ["GET /x", "service", None]
    assert with_routes.build_routes("service", "limits") == ["GET /x", "service", "limits"]
    assert resolve("json:dumps") is json.dumps
    assert resolve("pathlib:Path.cwd") == Path.cwd


def test_listing_apps_imports_neither_torch_nor_gradio():
    code = textwrap.dedent("""
        import sys
        from domaintune.apps import discover
        apps, errors = discover()
        assert [a.name for a in apps] == ["finance_monitor", "support_bot", "text_recommender"] and not errors, (apps, errors)
        print(sorted(m for m in ("torch", "gradio", "transformers") if m in sys.modules))
    """)
    baseline = subprocess.run([sys.executable, "-c", "import sys, domaintune; print(sorted(m for m "
                               "in ('torch', 'gradio', 'transformers') if m in sys.modules))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    if baseline != "[]":
        pytest.skip(f"`import domaintune` alone imports {baseline} (the core's lazy imports, "
                    "issue 8 part 5, are not in this tree yet)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_m_domaintune_apps_lists_the_apps():
    out = subprocess.run([sys.executable, "-m", "domaintune.apps"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["finance_monitor", "support_bot", "text_recommender"]
    assert lines[1].split()[1:3] == ["Support", "bot"]


def _launcher():
    spec = importlib.util.spec_from_file_location("launch_demo", ROOT / "apps" / "launch_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_launcher_loops_over_registered_apps_and_serves_their_tabs(registered, tmp_path):
    registered(fake_app="fake_app_mod:APP", broken="no_such_module_xyz:APP")
    launcher = _launcher()
    data, models = tmp_path / "data", tmp_path / "models"
    demo = launcher.build_demo(apps=["fake_app", "broken"], classifier=False, data_dir=data,
                               models_dir=models)
    fake = sys.modules["fake_app_mod"]
    assert [c[0] for c in fake.CALLS] == ["samples", "service", "tab"]
    assert fake.CALLS[1] == ("service", models, False)
    service = fake.CALLS[2][1]
    assert service.samples == {"rows": data / "fake" / "rows.csv"}
    assert (data / "fake" / "rows.csv").is_file()
    config = demo.get_config_file()
    labels = [c.get("props", {}).get("label") for c in config["components"]]
    assert "Fake app" in labels and "App not loaded" in labels
    markdown = " ".join(str(c.get("props", {}).get("value")) for c in config["components"])
    assert "app &#x27;broken&#x27;" in markdown or "app 'broken'" in markdown
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        from gradio_client import Client

        assert urllib.request.urlopen(demo.local_url, timeout=30).status == 200
        assert Client(demo.local_url, verbose=False).predict(
            "hello", api_name="/fake_echo") == "HELLO"
    finally:
        demo.close()


@pytest.mark.slow
def test_the_real_demo_builds_every_tab(tmp_path):
    """The `make demo` launcher on scratch folders: the packaged MiniLM, every registered app."""
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(f"""
        import runpy
        from pathlib import Path

        launcher = runpy.run_path({str(ROOT / "apps" / "launch_demo.py")!r})
        demo = launcher["build_demo"](data_dir=Path("data"), models_dir=Path("models"))
        print(sorted(c["props"].get("label") for c in demo.get_config_file()["components"]
                     if c.get("type") == "tabitem"))
    """), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "['Finance monitor', 'Recommender', 'Support bot', 'Text classifier']"
    assert (tmp_path / "models" / "demo-bot" / "bot.json").is_file()
    # one intent classifier is trained: the text-classifier tab shows the bot's (issue 9)
    assert not (tmp_path / "models" / "demo-intents").exists()
    assert (tmp_path / "models" / "demo-classifier-confusion.png").is_file()
    assert "the app's intent classifier (not trained again)" in out.stderr
    assert "training the sample intent classifier" not in out.stderr
    assert (tmp_path / "data" / "support" / "faq.csv").is_file()

"""The container image (Dockerfile): build it, serve a tiny model from it, stop it.

Gated: runs only with ``DOMAINTUNE_CONTAINER_TESTS=1`` (``make test-container`` sets it), since a
first build takes about 12 minutes on 2 cores (seconds once its layers are cached), and skips
with the reason where no container runtime can run here or no base image is here. The image is
built by ``scripts/container-image.sh``, as ``make container-image`` does, from this checkout.
Environment: ``DOMAINTUNE_CONTAINER_RUNTIME`` (podman|docker; default the first found),
``DOMAINTUNE_CONTAINER_BASE`` (default ``localhost/domaintune-base`` when present, from
``make container-base``, else ``python:3.11-slim``), ``DOMAINTUNE_CONTAINER_IMAGE`` (the tag built,
default ``localhost/domaintune:test``; kept afterwards so that the next run is quick).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, train_tiny_classifier

pytestmark = pytest.mark.container

BUILD_TIMEOUT_S = 3600
START_TIMEOUT_S = 180  # model load in a fresh container on 2 busy cores
STOP_GRACE_S = 30  # `stop -t`: the runtime sends SIGKILL only after this
API_KEY = "container-test-key"


def _run(cmd: list[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _runtime() -> str:
    if os.environ.get("DOMAINTUNE_CONTAINER_TESTS") != "1":
        pytest.skip("container tests are opt-in (an image build takes minutes): set "
                    "DOMAINTUNE_CONTAINER_TESTS=1 or run `make test-container`")
    name = os.environ.get("DOMAINTUNE_CONTAINER_RUNTIME")
    found = shutil.which(name) if name else (shutil.which("podman") or shutil.which("docker"))
    if not found:
        pytest.skip(f"no container runtime: expected {name or 'podman or docker'} on PATH; "
                    "install one (Debian: apt-get install podman)")
    info = _run([found, "info"], timeout=60)
    if info.returncode != 0:
        pytest.skip(f"container runtime {found} is not usable here (`info` failed): "
                    f"{_tail(info.stderr, 5)}")
    return found


def _image_here(runtime: str, image: str) -> bool:
    return _run([runtime, "image", "inspect", image], timeout=60).returncode == 0


@pytest.fixture(scope="module")
def runtime() -> str:
    return _runtime()


@pytest.fixture(scope="module")
def base(runtime) -> str:
    name = os.environ.get("DOMAINTUNE_CONTAINER_BASE")
    if not name:
        name = ("localhost/domaintune-base" if _image_here(runtime, "localhost/domaintune-base")
                else "python:3.11-slim")
    if not _image_here(runtime, name):
        pulled = _run([runtime, "pull", name], timeout=600)
        if pulled.returncode != 0:
            pytest.skip(f"base image {name} is not here and cannot be pulled "
                        f"({_tail(pulled.stderr, 2)}); build a local one from Debian packages: "
                        "`make container-base` (scripts/container-base.sh)")
    tried = _run([runtime, "run", "--rm", name, "true"], timeout=120)
    if tried.returncode != 0:
        pytest.skip(f"{runtime} cannot run a container here ({_tail(tried.stderr, 3)}); "
                    "on our Debian VMs scripts/container-host.sh configures podman for them")
    return name


@pytest.fixture(scope="module")
def image(runtime, base) -> str:
    """The image, built from this checkout (layers cached between runs)."""
    if not (ROOT / "shared" / "domaintune" / "serving" / "server.py").is_file():
        pytest.skip("the REST server (domaintune.serving.server) is not in this checkout: the "
                    "image would have no `domaintune serve`")
    tag = os.environ.get("DOMAINTUNE_CONTAINER_IMAGE", "localhost/domaintune:test")
    env = {**os.environ, "RUNTIME": runtime, "BASE": base, "PIP": f"{sys.executable} -m pip"}
    start = time.monotonic()
    built = _run([str(ROOT / "scripts" / "container-image.sh"), tag], timeout=BUILD_TIMEOUT_S,
                 env=env, cwd=ROOT)
    if built.returncode != 0:
        pytest.fail(f"image build failed after {time.monotonic() - start:.0f} s:\n"
                    f"{_tail(built.stdout)}\n{_tail(built.stderr)}")
    return tag


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A trained tiny 3-label classifier, readable by the image's non-root user."""
    path = train_tiny_classifier(tiny_model_dir).save(tmp_path_factory.mktemp("served") / "model")
    for item in [path, *path.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(url: str, body: dict | None = None, key: str | None = None,
          timeout: float = 10) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _state(runtime: str, name: str) -> dict:
    out = _run([runtime, "inspect", "--format", "{{json .State}}", name], timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def _logs(runtime: str, name: str) -> str:
    out = _run([runtime, "logs", name], timeout=60)
    return _tail(out.stdout + out.stderr, 60)


@pytest.fixture
def served(runtime, image, model_dir):
    """A container serving the tiny model on a free loopback port, with an API key;
    removed afterwards whatever happens."""
    name = f"domaintune-test-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    started = _run([runtime, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000",
                    "-v", f"{model_dir}:/model:ro", "-e", f"DOMAINTUNE_API_KEY={API_KEY}",
                    image, "--api-key-env", "DOMAINTUNE_API_KEY"], timeout=120)
    try:
        assert started.returncode == 0, f"`{runtime} run` failed: {started.stderr}"
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if not _state(runtime, name).get("Running"):
                pytest.fail(f"the container exited while starting:\n{_logs(runtime, name)}")
            try:
                if _http(f"{url}/ready", key=API_KEY, timeout=2)[0] == 200:
                    break
            except (OSError, ValueError):  # not listening yet / reset while starting
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"not ready after {START_TIMEOUT_S} s:\n{_logs(runtime, name)}")
            time.sleep(1)
        yield {"name": name, "url": url, "started": time.monotonic()}
    finally:
        _run([runtime, "rm", "-f", name], timeout=120)


def test_container_serves_the_mounted_model_and_stops_on_sigterm(runtime, served):
    url, name = served["url"], served["name"]
    assert _http(f"{url}/health") == (200, {"status": "ok"})  # liveness: no key needed
    assert _http(f"{url}/ready", key=API_KEY) == (200, {"status": "ready"})

    status, body = _http(f"{url}/v1/predict", {"texts": ["where is my refund", "card stolen"]})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = _http(f"{url}/v1/predict", {"texts": ["where is my refund", "card stolen"]},
                         key=API_KEY)
    assert status == 200, body
    assert len(body["predictions"]) == 2
    assert {p["label"] for p in body["predictions"]} <= {"card", "greet", "refund"}

    # the image's own HEALTHCHECK (podman runs it on demand; docker only on its schedule)
    if Path(runtime).name.startswith("podman"):
        check = _run([runtime, "healthcheck", "run", name], timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
    # non-root, and the model mount is read-only
    assert _run([runtime, "exec", name, "id", "-u"]).stdout.strip() == "10001"
    assert _run([runtime, "exec", name, "touch", "/model/x"]).returncode != 0

    # SIGTERM reaches the server (PID 1), which drains and exits 0, well before SIGKILL
    start = time.monotonic()
    stopped = _run([runtime, "stop", "-t", str(STOP_GRACE_S), name], timeout=STOP_GRACE_S + 60)
    took = time.monotonic() - start
    assert stopped.returncode == 0, stopped.stderr
    state = _state(runtime, name)
    assert state.get("ExitCode") == 0, f"exit code {state.get('ExitCode')}:\n{_logs(runtime, name)}"
    assert took < STOP_GRACE_S / 2, f"stop took {took:.1f} s: SIGTERM was not handled"
    assert "Traceback" not in _logs(runtime, name)


@pytest.mark.parametrize("program", ["domaintune", "support-bot", "finance-monitor",
                                     "text-recommender"])
def test_every_console_script_can_serve_from_the_image(runtime, image, program):
    out = _run([runtime, "run", "--rm", "--entrypoint", program, image, "serve", "--help"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "--host" in out.stdout and "--api-key-env" in out.stdout

"""`domaintune serve DIR` as a real uvicorn process on a free loopback port: it starts, answers
like the model, and on SIGTERM finishes the request in flight before it exits with status 0.

The process serves an ONNX export of the tiny classifier (ONNX Runtime: the server process
starts without importing PyTorch, in seconds); tests/core/test_serving.py serves PyTorch models
in-process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import train_tiny_classifier

STARTUP_S = 40  # bounded: a busy 2-core machine can take a while to import the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, log, headers: dict | None = None) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=1, headers=headers).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"the server was not ready within {STARTUP_S}s:\n{log.read_text()[-3000:]}")


def inflight(base: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith("domaintune_inflight_requests "):
            return float(line.split()[1])
    return 0.0


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir, tmp_path_factory):
    clf = train_tiny_classifier(tiny_model_dir, max_length=32)
    return clf, clf.export_onnx(tmp_path_factory.mktemp("served") / "clf-onnx")


def test_served_process_answers_and_drains_on_sigterm(model_dir, tmp_path):
    clf, path = model_dir
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    # a batch of 4 texts runs at once; a single text waits up to 3 s for others to join its
    # batch (--max-wait-ms): an honest slow request, in flight when SIGTERM comes
    cmd = [sys.executable, "-m", "domaintune.cli", "serve", str(path), "--port", str(port),
           "--max-batch-size", "4", "--max-wait-ms", "3000", "--graceful-timeout", "20"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    try:
        wait_ready(base, proc, log)
        texts = ["where is my refund", "card lost", "hello", "card stolen"]
        reply = httpx.post(f"{base}/v1/predict", json={"texts": texts}, timeout=10)
        assert reply.status_code == 200, reply.text
        assert [p["label"] for p in reply.json()["predictions"]] == clf.predict(texts)
        assert httpx.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
        info = httpx.get(f"{base}/v1/model", timeout=5).json()
        assert info["labels"] == clf.labels and info["backend"] == "onnx"
        bad = httpx.post(f"{base}/v1/predict", content=b"{", timeout=5,
                         headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"

        slow: dict[str, object] = {}

        def slow_request() -> None:
            start = time.monotonic()
            try:
                r = httpx.post(f"{base}/v1/predict", json={"text": "card lost"}, timeout=30)
                slow.update(status=r.status_code, body=r.json())
            except Exception as exc:  # reported by the assertions below
                slow["error"] = repr(exc)
            slow["seconds"] = time.monotonic() - start

        thread = threading.Thread(target=slow_request)
        thread.start()
        deadline = time.monotonic() + 5
        while inflight(base) < 2 and time.monotonic() < deadline:  # it and this /metrics
            time.sleep(0.05)
        assert inflight(base) >= 2, "the slow request never reached the server"
        proc.send_signal(signal.SIGTERM)
        thread.join(30)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    stderr = log.read_text()
    assert slow.get("status") == 200, (slow, stderr[-3000:])
    assert slow["body"]["predictions"][0]["label"] == clf.predict("card lost")
    assert 1.0 < slow["seconds"] < 25  # it waited for its batch window, then was answered
    assert proc.returncode == 0, stderr[-3000:]
    assert f"serving on {base} (loopback only: pass --host 0.0.0.0" in stderr
    assert json.loads(out.strip().splitlines()[-1]) == {"model": str(path), "url": base,
                                                         "stopped_by": "SIGTERM"}
    with pytest.raises(httpx.TransportError):  # and it is gone
        httpx.get(f"{base}/health", timeout=2)


def test_serve_help_imports_no_server_or_model_library():
    code = ("import sys, domaintune.cli as c\n"
            "try:\n    c.main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'fastapi', 'uvicorn', 'pydantic', "
            "'prometheus_client', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout and "--api-key-env VAR" in result.stdout


def test_two_workers_serve_and_stop_on_sigterm(model_dir, tmp_path):
    clf, path = model_dir
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "workers.log"
    cmd = [sys.executable, "-m", "domaintune.cli", "serve", str(path), "--port", str(port),
           "--workers", "2", "--max-texts", "3"]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        wait_ready(base, proc, log)
        for _ in range(4):  # whichever worker answers, it loaded the model and the config
            reply = httpx.post(f"{base}/v1/predict", json={"texts": ["card lost"]}, timeout=10)
            assert reply.json()["predictions"][0]["label"] == clf.predict("card lost")
            too_many = httpx.post(f"{base}/v1/predict", json={"texts": ["a"] * 4}, timeout=10)
            assert too_many.json()["error"]["code"] == "too_many_texts"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert log.read_text().count("Application startup complete") == 2


def test_a_port_in_use_is_a_clear_error(model_dir):
    _, path = model_dir
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "domaintune.cli", "serve", str(path),
                                 "--port", str(port)], capture_output=True, text=True,
                                timeout=60, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert (f"error: the server could not start on http://127.0.0.1:{port} (see uvicorn's error "
            "above): is the port in use? pass another --port") in result.stderr


def _readme_serving_blocks() -> tuple[list[str], list[str], str]:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Serving (REST)\n", 1)[1].split("\n## ", 1)[0]
    bash = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    python = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]

    def lines(block: str) -> list[str]:
        joined = re.sub(r"\\\n\s*", " ", block)
        return [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines()
                if line.strip() and not line.strip().startswith("#")]

    return lines(bash[0]), lines(bash[1]), python


def test_the_readme_serving_section_runs_as_written(model_dir, tmp_path):
    """The README's serve commands (its model path and port swapped for the tiny export and a
    free port; the public --host for loopback), its curl lines and its Python client."""
    import shlex

    clf, path = model_dir
    servers, curls, client_code = _readme_serving_blocks()
    assert len(servers) == 2 and len(curls) == 2
    for n, line in enumerate(servers):
        port = free_port()
        argv = shlex.split(line)
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        while "=" in argv[0]:  # VAR=value prefixes
            name, value = argv.pop(0).split("=", 1)
            env[name] = value
        assert argv[:3] == ["domaintune", "serve", "models/intents-onnx"], line
        argv = [sys.executable, "-m", "domaintune.cli", "serve", str(path),
                *(a if a not in ("0.0.0.0",) else "127.0.0.1" for a in argv[3:])]
        argv[argv.index("--port") + 1] = str(port)
        log = tmp_path / f"server{n}.log"
        with log.open("w") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            key = env.get("DOMAINTUNE_API_KEY") if n else None
            wait_ready(base, proc, log, headers={"X-API-Key": key} if key else None)
            curl = shlex.split(curls[n].replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
            out = subprocess.run(curl, capture_output=True, text=True, timeout=30, check=True).stdout
            labels = [p["label"] for p in json.loads(out)["predictions"]]
            texts = json.loads(curl[curl.index("-d") + 1])
            assert labels == clf.predict(texts.get("texts") or [texts["text"]])
            if n == 0:  # the Python client, as written
                code = client_code.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
                script = tmp_path / "client.py"
                script.write_text(code)
                printed = subprocess.run([sys.executable, str(script)], capture_output=True,
                                         text=True, timeout=60, check=True).stdout.split()
                assert printed[0] == clf.predict(["where is my refund?"])[0]
            else:  # the key is required
                assert httpx.post(f"{base}/v1/predict", json={"text": "hi"},
                                  timeout=10).status_code == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        assert proc.returncode == 0, log.read_text()[-2000:]

"""A throw-away PostgreSQL server for the tests marked ``postgres`` (fixtures used from conftest).

The session starts Debian's PostgreSQL (``/usr/lib/postgresql/<version>/bin``, 15 preferred)
itself: ``initdb`` into a temporary data directory, ``pg_ctl start`` listening on 127.0.0.1
only, on a free port, with its socket in that directory; it is stopped (``pg_ctl stop -m
fast``) and the directory removed at the end of the session. As root, both run as the
``postgres`` user (``runuser -u postgres --``): the server refuses to run as root.

Each test gets its own database (created and dropped around it). Set ``DOMAINTUNE_TEST_POSTGRES_URL``
(``postgresql+psycopg://user@host:port/db``) to use a running server instead. Tests skip, with
the reason, only when the server truly cannot run here (PostgreSQL or psycopg not installed:
``make system-deps`` installs PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
PREFERRED_VERSION = "15"
START_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 120


def find_pg_bin() -> Path | None:
    """The ``bin`` folder of the installed PostgreSQL (15 preferred, else the newest)."""
    preferred = PG_ROOT / PREFERRED_VERSION / "bin"
    if (preferred / "pg_ctl").is_file():
        return preferred
    found = sorted((p for p in PG_ROOT.glob("*/bin") if (p / "pg_ctl").is_file()),
                   key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if found:
        return found[-1]
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, on 127.0.0.1 (start / stop)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else (os.environ.get("USER") or "postgres")
        self.root = Path(tempfile.mkdtemp(prefix="domaintune-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.started = False

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", "postgres", "--"] if self.as_root else []) + list(args)

    def _call(self, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> None:
        done = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout,
                              cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}\n{log}")

    def start(self) -> str:
        """initdb + pg_ctl start; returns the URL of the ``postgres`` database."""
        if self.as_root:
            shutil.chown(self.root, user="postgres", group="postgres")
        self.root.chmod(0o700)
        self._call(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user,
                   "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=200")
        self._call(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                   "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start",
                   timeout=START_TIMEOUT_S + 30)
        self.started = True
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """pg_ctl stop (fast) and remove the temporary directory."""
        try:
            if self.started:
                self._call(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                           "-w", "-t", "30", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL maintenance database (``postgres``) for this session."""
    url = os.environ.get("DOMAINTUNE_TEST_POSTGRES_URL")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'psycopg[binary]' (make install)")
    if url:
        yield url
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL is not installed (no pg_ctl under {PG_ROOT} or on PATH): "
                    "run `make system-deps` (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL refuses to run as root")
    server = PostgresServer(bin_dir)
    try:
        url = server.start()
    except (RuntimeError, OSError, LookupError, subprocess.TimeoutExpired) as exc:
        server.stop()
        pytest.skip(f"PostgreSQL ({bin_dir}) could not start here: {exc}")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    import sqlalchemy as sa

    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(postgres_server).set(database=name)
        yield url.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A database URL for one test: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'store.db'}"
    return request.getfixturevalue("pg_url")

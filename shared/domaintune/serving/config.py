"""The server's settings: one frozen :class:`ServeConfig`, validated where it is made.

Standard library only (the command line builds its parser from it before it imports FastAPI).
The command-line options of ``domaintune serve`` and of the apps' ``serve`` commands come from
:func:`add_serve_options`, and :func:`serve_config_from_args` turns the parsed options back into
a :class:`ServeConfig`, so every server is configured the same way.

Example:
    >>> cfg = ServeConfig(port=8080, max_texts=16)
    >>> cfg.host, cfg.max_batch_size
    ('127.0.0.1', 32)
    >>> ServeConfig(max_texts=0)
    Traceback (most recent call last):
    ...
    domaintune.errors.ConfigError: ServeConfig max_texts (--max-texts): expected an integer >= 1, found 0; pass a positive number of texts per request
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, closest

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: the options of the fields (what the command line calls them, for messages)
OPTIONS = {
    "host": "--host", "port": "--port", "workers": "--workers", "api_key_env": "--api-key-env",
    "max_texts": "--max-texts", "max_chars": "--max-chars", "max_body_bytes": "--max-body-bytes",
    "max_batch_size": "--max-batch-size", "max_wait_ms": "--max-wait-ms",
    "cors_origins": "--cors-origin", "log_texts": "--log-texts",
    "graceful_timeout_s": "--graceful-timeout", "threads": "--threads",
}


@dataclass(frozen=True)
class ServeConfig:
    """How a model or an app is served (``domaintune serve``, ``<app> serve``).

    Args:
        host: the address to bind; the default accepts connections from this machine only
            (``0.0.0.0``: every interface, then set an API key).
        port: the TCP port.
        workers: server processes; each loads its own copy of the model (> 1 for more
            throughput on many cores; on a small CPU one worker with micro-batching is best).
        api_key_env: the NAME of an environment variable that holds the API key (read at
            start; never the key itself, which would show in ``ps`` and shell history).
            ``None``: no key.
        max_texts: most texts in one request (more: 422 ``too_many_texts``).
        max_chars: most characters in one text (more: 422 ``text_too_long``).
        max_body_bytes: largest request body (more: 413 ``body_too_large``).
        max_batch_size: most texts the model runs at once (micro-batching across requests).
        max_wait_ms: how long the first queued text waits for others to join its batch
            (0, the default: no waiting; batches form from what queued while the model was busy,
            which measured best on 2 cores: a 5 ms wait cost a single client 40% of its
            requests/s and bought nothing under load, see benchmarks/RESULTS.md).
        cors_origins: origins allowed by CORS (``()``: CORS off, browsers on other origins
            cannot call the API; ``("*",)``: any origin).
        log_texts: log the texts of each request (off: texts never reach the log).
        graceful_timeout_s: on SIGTERM, how long in-flight requests may take to finish.
        threads: CPU threads of the model (PyTorch / ONNX Runtime); ``None``: the runtime's
            default (the physical cores).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    api_key_env: str | None = None
    max_texts: int = 64
    max_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    max_batch_size: int = 32
    max_wait_ms: float = 0.0
    cors_origins: tuple[str, ...] = ()
    log_texts: bool = False
    graceful_timeout_s: float = 30.0
    threads: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip() or any(c.isspace() for c in self.host):
            self._fail("host", "a host name or IP address such as 127.0.0.1 or 0.0.0.0",
                       self.host, "pass --host 127.0.0.1 (this machine) or --host 0.0.0.0 (every "
                       "interface)")
        self._int("port", 1, 65535, "pass a free TCP port, e.g. 8000")
        self._int("workers", 1, 64, "pass 1 (micro-batching in one process) or a few processes")
        if self.api_key_env is not None:
            if not isinstance(self.api_key_env, str) or not _ENV_NAME.fullmatch(self.api_key_env):
                # the value may be the key itself: never repeat it
                raise ConfigError(
                    f"ServeConfig api_key_env ({OPTIONS['api_key_env']}): expected the NAME of an "
                    "environment variable that holds the key, such as DOMAINTUNE_API_KEY, found "
                    "a value that is not a variable name (not shown: it may be the key itself); "
                    "export DOMAINTUNE_API_KEY=<key> and pass --api-key-env DOMAINTUNE_API_KEY")
        self._int("max_texts", 1, None, "pass a positive number of texts per request")
        self._int("max_chars", 1, None, "pass a positive number of characters per text")
        self._int("max_body_bytes", 64, None, "pass a body size in bytes, e.g. 1000000")
        self._int("max_batch_size", 1, None, "pass a positive number of texts per model batch")
        self._number("max_wait_ms", 0.0, 60_000.0, "pass a few milliseconds, e.g. 5 (0: no "
                                                    "waiting, batches form only under load)")
        self._number("graceful_timeout_s", 0.0, 3600.0, "pass a number of seconds, e.g. 30",
                     open_low=True)
        if self.threads is not None:
            self._int("threads", 1, 1024, "pass a positive number of threads, or leave it unset")
        if not isinstance(self.log_texts, bool):
            self._fail("log_texts", "true or false", self.log_texts, "pass log_texts=True or False")
        origins = self.cors_origins
        if isinstance(origins, str) or not isinstance(origins, (list, tuple)) or \
                not all(isinstance(o, str) and o.strip() for o in origins):
            self._fail("cors_origins", "a list of origins such as ['https://app.example.com']",
                       origins, "pass --cors-origin ORIGIN once per origin (or '*')")
        object.__setattr__(self, "cors_origins", tuple(o.strip() for o in origins))

    # ------------------------------------------------------------------ validation helpers
    def _fail(self, name: str, expected: str, found: Any, fix: str) -> None:
        raise ConfigError(f"ServeConfig {name} ({OPTIONS[name]}): expected {expected}, found "
                          f"{found!r}; {fix}")

    def _int(self, name: str, low: int, high: int | None, fix: str) -> None:
        value = getattr(self, name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
            object.__setattr__(self, name, value)
        bound = f">= {low}" if high is None else f"from {low} to {high}"
        if isinstance(value, bool) or not isinstance(value, int) or value < low or \
                (high is not None and value > high):
            self._fail(name, f"an integer {bound}", value, fix)

    def _number(self, name: str, low: float, high: float, fix: str, open_low: bool = False) -> None:
        value = getattr(self, name)
        ok = (not isinstance(value, bool) and isinstance(value, (int, float))
              and math.isfinite(value) and (value > low if open_low else value >= low)
              and value <= high)
        if not ok:
            self._fail(name, f"a number {'>' if open_low else '>='} {low:g} and <= {high:g}",
                       value, fix)
        object.__setattr__(self, name, float(value))

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready mapping (``from_dict`` reads it back)."""
        out = dataclasses.asdict(self)
        out["cors_origins"] = list(self.cors_origins)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServeConfig:
        """A config from a mapping; an unknown key is an error naming the closest one.

        Example:
            >>> ServeConfig.from_dict({"max_text": 3})
            Traceback (most recent call last):
            ...
            domaintune.errors.ConfigError: ServeConfig has no key 'max_text'; did you mean 'max_texts'?
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"ServeConfig: expected a mapping of settings, found "
                              f"{type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise ConfigError(f"ServeConfig has no key {key!r}{closest(str(key), names)}")
        values = dict(data)
        if isinstance(values.get("cors_origins"), list):
            values["cors_origins"] = tuple(values["cors_origins"])
        return cls(**values)

    @property
    def is_loopback(self) -> bool:
        """True when ``host`` accepts connections from this machine only."""
        return is_loopback(self.host)

    @property
    def url(self) -> str:
        """``http://host:port`` (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
        (True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_api_key(config: ServeConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The API key: the value of ``config.api_key_env`` (None when no key is configured).

    Raises:
        ConfigError: the variable is not set, or empty (the server never starts open by
            accident when a key was asked for).
    """
    if config.api_key_env is None:
        return None
    env = os.environ if environ is None else environ
    key = env.get(config.api_key_env)
    if key is None or not key.strip():
        state = "is not set" if key is None else "is empty"
        raise ConfigError(
            f"--api-key-env {config.api_key_env}: the environment variable {config.api_key_env} "
            f"{state}, so there is no API key to require; export {config.api_key_env}=<a long "
            "random key> (e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            " before starting the server, or leave out --api-key-env to serve without a key")
    return key.strip()


_DEFAULTS = ServeConfig()


def add_serve_options(parser: argparse.ArgumentParser, *, port: int = _DEFAULTS.port) -> None:
    """Add the server options (``--host``, ``--port``, ``--workers``, ``--api-key-env``, the
    limits and batching) to an ``argparse`` parser; read them with :func:`serve_config_from_args`.

    Args:
        parser: the ``serve`` sub-command's parser.
        port: the default port (an app may use its own).
    """
    d = _DEFAULTS
    g = parser.add_argument_group("server")
    g.add_argument("--host", default=d.host,
                   help=f"address to bind (default {d.host}: this machine only; 0.0.0.0 accepts "
                        "other machines: set an API key then)")
    g.add_argument("--port", type=int, default=port, help=f"TCP port (default {port})")
    g.add_argument("--workers", type=int, default=d.workers,
                   help="server processes, each with its own copy of the model (default 1)")
    g.add_argument("--api-key-env", metavar="VAR", default=d.api_key_env,
                   help="name of the environment variable holding the API key; when set, every "
                        "route but /health needs 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    g.add_argument("--cors-origin", dest="cors_origins", action="append", default=[],
                   metavar="ORIGIN", help="allow browser calls from ORIGIN (repeatable; '*' any; "
                                          "default: CORS off)")
    g.add_argument("--log-texts", action="store_true",
                   help="log the texts of each request (default: texts are never logged)")
    g.add_argument("--graceful-timeout", dest="graceful_timeout_s", type=float,
                   default=d.graceful_timeout_s, metavar="SECONDS",
                   help="on SIGTERM, how long in-flight requests may take to finish "
                        f"(default {d.graceful_timeout_s:g})")
    g.add_argument("--threads", type=int, default=d.threads,
                   help="CPU threads of the model (default: the runtime's, the physical cores)")
    lim = parser.add_argument_group("limits and batching")
    lim.add_argument("--max-texts", type=int, default=d.max_texts,
                     help=f"most texts per request (default {d.max_texts})")
    lim.add_argument("--max-chars", type=int, default=d.max_chars,
                     help=f"most characters per text (default {d.max_chars})")
    lim.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes,
                     help=f"largest request body in bytes (default {d.max_body_bytes})")
    lim.add_argument("--max-batch-size", type=int, default=d.max_batch_size,
                     help="most texts per model call, gathered across concurrent requests "
                          f"(default {d.max_batch_size})")
    lim.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms,
                     help="how long a text waits for others to join its batch (default "
                          f"{d.max_wait_ms:g} ms)")


def serve_config_from_args(args: argparse.Namespace) -> ServeConfig:
    """The :class:`ServeConfig` of options added by :func:`add_serve_options`.

    Raises:
        ConfigError: a value out of range (naming the option).
    """
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServeConfig)
              if hasattr(args, f.name)}
    values["cors_origins"] = tuple(values.get("cors_origins") or ())
    return ServeConfig(**values)

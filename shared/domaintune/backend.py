"""Run ``predict`` / ``predict_proba`` / ``encode`` on PyTorch or on an fp32 ONNX twin of the model.

``backend="auto"`` (the default of :meth:`TextClassifier.predict_proba
<domaintune.TextClassifier.predict_proba>`, ``predict`` and :meth:`BiEncoder.encode
<domaintune.pairs.BiEncoder.encode>`) picks the faster one; the outputs and the API are the
same whichever runs (labels identical, probabilities / vectors equal to ~1e-6: every export
checks its own parity, see :func:`domaintune.export.export_module`).

- ``"torch"``: the PyTorch model, as before.
- ``"onnx"``: the model's **twin**, an fp32 ONNX export (never int8: int8 changes outputs)
  written by the model's own ``export_onnx`` into the cache and run with ONNX Runtime. It is
  built on the first call, held in memory by the model object, and reused by later processes
  from the cache. It is rebuilt when the weights (or anything else that changes outputs:
  labels, temperature, threshold, max_length, pooling, tokenizer) change, e.g. after ``fit``
  or ``domaintune.update``.
- ``"auto"``: the twin when the model is on a CPU, ONNX Runtime is installed and either the
  twin is already there (in memory or in the cache) or the call has at least
  :data:`AUTO_EXPORT_MIN_TEXTS` texts; PyTorch otherwise (and always on a GPU). An export that
  fails under ``auto`` (e.g. an unwritable cache) logs one warning and PyTorch runs; under
  ``"onnx"`` it is an error saying how to fix it.

The cache is ``$DOMAINTUNE_CACHE/onnx/<key>/`` (default ``$XDG_CACHE_HOME/domaintune`` or
``~/.cache/domaintune``); ``<key>`` is a hash of the weights and those settings, so a twin is
never used for weights it was not exported from. Entries are ordinary export directories
(``model.onnx``, tokenizer, ``onnx.json``), written atomically; delete the folder to free the
space (an entry is about the size of the weights: 87 MB for MiniLM; nothing is evicted
automatically). A twin in memory holds a second copy of the weights. Choosing costs ~0.1 ms a
call; the key (a hash of the weights, ~0.03-0.3 s for MiniLM) is computed once per weight state.

Why :data:`AUTO_EXPORT_MIN_TEXTS` is 1,000: see the constant (measured with
``benchmarks/bench_backend.py``).

Example:
    >>> clf.predict(["where is my card?"], backend="onnx")  # doctest: +SKIP
    ['card_arrival']
    >>> from domaintune.backend import onnx_twin
    >>> onnx_twin(clf)  # build (or load) the twin now, e.g. when a service starts  # doctest: +SKIP
    OnnxTextClassifier(labels=77, precision='fp32', directory='~/.cache/domaintune/onnx/...')
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Runtime
from .errors import ArtifactExistsError, ConfigError, DomaintuneError, closest

logger = logging.getLogger(__name__)

CACHE_ENV = "DOMAINTUNE_CACHE"
#: Under ``backend="auto"``, a model without a twin gets one (exported into the cache) when one
#: call has at least this many texts; smaller calls run on PyTorch (until a twin exists).
#: ``benchmarks/bench_backend.py``, packaged MiniLM classifier (77 labels), BANKING77 texts,
#: ``batch_size=64``, 2 shared CPU cores (load average 4-7, 2026-12-01): building the twin
#: (key + export + parity check + load) takes 11-19 s; the twin then saves 1.6 s on a 256-text
#: call (PyTorch 7.4 s, ONNX 5.7 s: 11 such calls repay it) and 14.3 s on a 1,000-text call
#: (37.4 s vs 23.1 s: the call repays the export by itself), and 0.58 s on one text (PyTorch's
#: threads suffer most on a busy CPU). On a quiet machine (RESULTS.md, ONNX export) the export
#: takes ~1.6 s and the twin is 1.8x faster for one text but no faster in batches of 64, so a
#: 1,000-text call (~1.7 s on PyTorch) pays at most about as much again once, and later calls
#: and processes reuse the twin. Below 1,000 texts the first call could cost several times a
#: PyTorch call; build the twin up front with :func:`onnx_twin` where every call counts (a
#: service), or pass ``backend="onnx"``.
AUTO_EXPORT_MIN_TEXTS = 1000
CACHE_FORMAT = 1  # part of every key: bump it when the twin's layout or meaning changes
BACKENDS = tuple(r.value for r in Runtime)


class BackendError(DomaintuneError, RuntimeError):
    """``backend="onnx"`` was asked for but the ONNX twin cannot be built or loaded."""


@dataclass(frozen=True)
class TwinSpec:
    """What a model class tells this module about itself (see ``_backend_spec`` of
    :class:`~domaintune.TextClassifier` and :class:`~domaintune.pairs.BiEncoder`).

    Args:
        kind: what the export computes (``text-classifier``, ``bi-encoder``); part of the key.
        module: the PyTorch module whose weights the twin reproduces.
        device: where that module runs (``auto`` uses the twin on a CPU only).
        tokenizer: the tokenizer (its vocabulary and rules are part of the key).
        settings: everything else that changes the outputs (JSON-serialisable).
        export: ``export(directory) -> directory``: an fp32, parity-checked ONNX export.
        load: ``load(directory) -> twin`` with the model's prediction API.
    """

    kind: str
    module: Any
    device: Any
    tokenizer: Any
    settings: dict[str, Any]
    export: Callable[[Path], Path]
    load: Callable[[Path], Any]


@dataclass
class _Snapshot:
    """The weights as they were when the key was computed, to tell cheaply (~0.1 ms for
    MiniLM) whether they changed: each tensor (weakly held), its storage and its in-place
    version counter (bumped by optimizer steps, ``copy_``, ``load_state_dict``), the module and
    tokenizer objects, the settings, and the process's count of module / parameter / buffer
    registrations (a replaced submodule or parameter bumps it; then the module is walked again).
    Not seen: writes through ``tensor.data``, which bypass the version counter."""

    registrations: int
    module: weakref.ref
    tokenizer: weakref.ref
    settings: str
    tensors: list[tuple[weakref.ref, int, int]]


@dataclass
class _State:
    """What one model object holds: the snapshot of its weights, their key, the twin, a failure."""

    lock: threading.Lock = field(default_factory=threading.Lock)  # guards the fields
    build_lock: threading.Lock = field(default_factory=threading.Lock)  # one export at a time
    snapshot: _Snapshot | None = None
    key: str | None = None
    twin: Any = None
    failed: str | None = None


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()
_OVERRIDE = threading.local()


# ---------------------------------------------------------------------------------- options
def check_backend(backend: str | Runtime) -> Runtime:
    """The :class:`~domaintune.config.Runtime` named by ``backend`` or a ConfigError.

    Example:
        >>> check_backend("onnx")
        <Runtime.ONNX: 'onnx'>
    """
    try:
        return Runtime(backend)
    except ValueError:
        raise ConfigError(f"backend expects one of {list(BACKENDS)}, found {backend!r}"
                          f"{closest(str(backend), BACKENDS)}") from None


@contextlib.contextmanager
def use_backend(backend: str | Runtime) -> Iterator[None]:
    """Within the block (this thread), calls that leave ``backend="auto"`` use ``backend``.

    An explicit ``backend=`` argument still wins. The core uses it to keep evaluation inside
    training on PyTorch (the weights are about to change, so a twin would be wasted).

    Example:
        >>> with use_backend("torch"):
        ...     pass
    """
    chosen = check_backend(backend)
    previous = getattr(_OVERRIDE, "backend", None)
    _OVERRIDE.backend = chosen
    try:
        yield
    finally:
        _OVERRIDE.backend = previous


def cache_root() -> Path:
    """``$DOMAINTUNE_CACHE``, else ``$XDG_CACHE_HOME/domaintune``, else ``~/.cache/domaintune``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "domaintune"


def twin_directory(model: Any) -> Path:
    """Where the ONNX twin of ``model`` (as its weights are now) lives in the cache."""
    spec = model._backend_spec()
    state = _state(model)
    with state.lock:
        _refresh(state, spec)
        return _directory(state, spec)


# ---------------------------------------------------------------------------------- keys
_REGISTRATIONS = [0]  # module / parameter / buffer registrations in this process (torch hooks)
_HOOKS: list[Any] = []


def _count_registration(*_: Any) -> None:
    _REGISTRATIONS[0] += 1


def _install_hooks() -> None:
    """Count every submodule / parameter / buffer assignment of any module (``clf.model.head =
    ...``, LoRA wrapping, ``load_state_dict(assign=True)``); the hooks change nothing."""
    if _HOOKS:
        return
    from torch.nn.modules import module

    with _STATES_LOCK:
        if not _HOOKS:
            _HOOKS.extend(register(_count_registration) for register in (
                module.register_module_module_registration_hook,
                module.register_module_parameter_registration_hook,
                module.register_module_buffer_registration_hook))


def _tensors(spec: TwinSpec) -> list[tuple[weakref.ref, int, int]] | None:
    """``(tensor, storage, version)`` of every parameter and buffer; ``None`` when one has no
    version counter (inference tensors): the full key is then compared on every call."""
    try:
        return [(weakref.ref(t), t.data_ptr(), t._version)
                for t in spec.module.state_dict(keep_vars=True).values()]
    except (RuntimeError, AttributeError, TypeError):
        return None


def _same_tensors(old: list[tuple[weakref.ref, int, int]], new: list | None = None) -> bool:
    if new is not None:
        return len(old) == len(new) and all(
            a() is not None and a() is b() and pa == pb and va == vb
            for (a, pa, va), (b, pb, vb) in zip(old, new, strict=True))
    for ref, ptr, version in old:
        t = ref()
        if t is None or t.data_ptr() != ptr or t._version != version:
            return False
    return True


def _unchanged(state: _State, spec: TwinSpec, settings: str) -> bool:
    """Whether the weights and settings are those of ``state.snapshot`` (see :class:`_Snapshot`)."""
    snap = state.snapshot
    if (snap is None or snap.module() is not spec.module or snap.tokenizer() is not spec.tokenizer
            or snap.settings != settings or not _same_tensors(snap.tensors)):
        return False
    if snap.registrations != _REGISTRATIONS[0]:  # something somewhere was (re)assigned: walk
        fresh = _tensors(spec)
        if fresh is None or not _same_tensors(snap.tensors, fresh):
            return False
        snap.registrations = _REGISTRATIONS[0]
    return True


def _hasher():
    try:  # ~10x faster than SHA-256 (13 ms vs 120 ms for MiniLM's 91 MB); datasets needs it
        import xxhash

        return "x", xxhash.xxh3_128()
    except ImportError:  # pragma: no cover - a dependency of datasets
        return "s", hashlib.sha256()


def _tokenizer_digest(tokenizer: Any) -> str:
    """Hash of the tokenizer's vocabulary and rules (not its per-call truncation/padding)."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        digest.update(json.dumps(state, sort_keys=True).encode())
    else:
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    for attr in ("padding_side", "truncation_side", "pad_token", "model_max_length"):
        digest.update(f"|{attr}={getattr(tokenizer, attr, None)}".encode())
    return digest.hexdigest()[:16]


def model_key(spec: TwinSpec) -> str:
    """The cache key of a model: ``<kind>-<hash>`` of its weights (names, dtypes, shapes,
    bytes), settings, tokenizer and :data:`CACHE_FORMAT`."""
    import torch

    algo, digest = _hasher()
    for name, tensor in sorted(spec.module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    extra = {"format": CACHE_FORMAT, "kind": spec.kind, "precision": "fp32",
             "settings": spec.settings, "tokenizer": _tokenizer_digest(spec.tokenizer)}
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return f"{spec.kind}-{algo}{digest.hexdigest()[:31]}"


# ---------------------------------------------------------------------------------- state
def _state(model: Any) -> _State:
    with _STATES_LOCK:
        state = _STATES.get(model)
        if state is None:
            state = _STATES[model] = _State()
        return state


def _refresh(state: _State, spec: TwinSpec) -> None:
    """Forget the twin, key and failure when the weights (or settings) changed."""
    _install_hooks()
    settings = json.dumps(spec.settings, sort_keys=True, default=str)
    if _unchanged(state, spec, settings):
        return
    tensors = _tensors(spec)
    if tensors is None:  # no cheap check possible: compare the full key
        key = model_key(spec)
        if key != state.key or state.snapshot is not None:
            state.snapshot, state.key, state.twin, state.failed = None, key, None, None
        return
    state.snapshot = _Snapshot(_REGISTRATIONS[0], weakref.ref(spec.module),
                               weakref.ref(spec.tokenizer), settings, tensors)
    state.key, state.twin, state.failed = None, None, None


def _directory(state: _State, spec: TwinSpec) -> Path:
    if state.key is None:
        state.key = model_key(spec)
    return cache_root() / "onnx" / state.key


@functools.lru_cache(maxsize=1)
def _have_onnxruntime() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def _on_cpu(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "cpu"


def _load_twin(spec: TwinSpec, directory: Path) -> Any:
    twin = spec.load(directory)
    logger.debug("loaded the ONNX twin of this %s from %s", spec.kind, directory)
    return twin


def _build(spec: TwinSpec, directory: Path) -> Any:
    """Load the cached twin, or export it (atomically) and load it."""
    from .export import MANIFEST_FILE

    if (directory / MANIFEST_FILE).is_file():
        try:
            return _load_twin(spec, directory)
        except DomaintuneError as exc:
            logger.warning("the cached ONNX twin in %s cannot be loaded (%s); exporting it again",
                           directory, exc)
            spec.export(_replaceable(directory))
            return _load_twin(spec, directory)
    logger.info("exporting an fp32 ONNX twin of this %s to %s (once for these weights; "
                "backend='torch' skips it)", spec.kind, directory)
    try:
        spec.export(directory)
    except ArtifactExistsError:
        if not (directory / MANIFEST_FILE).is_file():
            raise
        # another process wrote the same twin meanwhile: same key, same weights
    return _load_twin(spec, directory)


def _replaceable(directory: Path) -> Path:
    """Clear a broken cache entry (only files an export writes) so it can be exported again."""
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
    return directory


def select(model: Any, n_texts: int, backend: str | Runtime = "auto") -> Any:
    """The ONNX twin to run this call on, or ``None`` for PyTorch (see the module doc).

    Args:
        model: a model with ``_backend_spec()`` (TextClassifier, BiEncoder).
        n_texts: texts in this call (``auto`` exports a missing twin from
            :data:`AUTO_EXPORT_MIN_TEXTS` on).
        backend: ``auto``, ``torch`` or ``onnx``.

    Raises:
        ConfigError: an unknown ``backend``.
        BackendError: ``backend="onnx"`` and the twin cannot be built or loaded.
    """
    chosen = check_backend(backend)
    if chosen == Runtime.AUTO:
        chosen = getattr(_OVERRIDE, "backend", None) or Runtime.AUTO
    if chosen == Runtime.TORCH:
        return None
    auto = chosen == Runtime.AUTO
    if auto and not _have_onnxruntime():
        return None
    spec = model._backend_spec()
    if auto and not _on_cpu(spec.device):
        return None  # on a GPU PyTorch is the fast path
    if not auto and not _have_onnxruntime():
        raise BackendError("backend='onnx' needs onnxruntime, which is not installed; pip "
                           "install onnxruntime, or pass backend='torch'")
    from .export import MANIFEST_FILE

    state = _state(model)
    with state.lock:  # short: checks only
        _refresh(state, spec)
        if state.twin is not None:
            return state.twin
        if auto and state.failed:
            return None
        directory = _directory(state, spec)
        if auto and n_texts < AUTO_EXPORT_MIN_TEXTS and not (directory / MANIFEST_FILE).is_file():
            return None
    # building takes seconds: other threads meanwhile run on PyTorch under auto (same
    # outputs) and wait for this build under onnx
    if not state.build_lock.acquire(blocking=not auto):
        return None
    try:
        with state.lock:
            _refresh(state, spec)
            if state.twin is not None:  # built by the thread this one waited for
                return state.twin
            if auto and state.failed:
                return None
            directory = _directory(state, spec)
            key = state.key
        try:
            twin = _build(spec, directory)
        except Exception as exc:  # tracing, ONNX Runtime and the file system raise many types
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
            if not auto:
                raise BackendError(
                    f"backend='onnx': cannot build the ONNX twin of this {spec.kind} in "
                    f"{directory} ({reason}); set {CACHE_ENV} to a writable directory, or pass "
                    "backend='torch' (or 'auto', which falls back to PyTorch)") from exc
            with state.lock:
                if state.key == key:
                    state.failed = reason
            logger.warning("backend='auto': cannot build the ONNX twin of this %s in %s (%s); "
                           "running on PyTorch (same outputs). Set %s to a writable directory, "
                           "or pass backend='torch' to skip the attempt", spec.kind, directory,
                           reason, CACHE_ENV)
            return None
        with state.lock:
            if state.key == key:  # the weights did not change while it was built
                state.twin = twin
        return twin
    finally:
        state.build_lock.release()


def forget(model: Any) -> None:
    """Drop ``model``'s ONNX twin and key: every ``fit`` calls this when it has changed the
    weights, since a trainer may update them in ways the tensor version check cannot see
    (optimizers that replace storage, sentence-transformers' Trainer); the next ``onnx`` call
    builds (or finds in the cache) the twin of the new weights."""
    with _STATES_LOCK:
        _STATES.pop(model, None)


def onnx_twin(model: Any) -> Any:
    """Build (or load from the cache) the fp32 ONNX twin of ``model`` now and return it.

    Same as the first ``backend="onnx"`` call would do; use it where the export must not land
    on a request (a service warming up).

    Raises:
        BackendError: the twin cannot be built or loaded (says how to fix it).
    """
    return select(model, 0, Runtime.ONNX)


def current_backend(model: Any) -> str:
    """``onnx`` when ``model`` holds a twin for its current weights, else ``torch``."""
    state = _STATES.get(model)
    if state is None or state.twin is None:
        return Runtime.TORCH.value
    with state.lock:
        _refresh(state, model._backend_spec())
        return Runtime.ONNX.value if state.twin is not None else Runtime.TORCH.value

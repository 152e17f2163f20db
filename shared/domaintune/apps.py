"""Applications as plug-ins: an :class:`AppSpec` per app, found through Python entry points.

An app (``apps/<name>/``) describes itself with one :class:`AppSpec` in its package
``__init__`` and declares it in ``pyproject.toml``::

    [project.entry-points."domaintune.apps"]
    support_bot = "support_bot:APP"

The demo launcher, the CLI and the REST server loop over :func:`discover` instead of importing
an app. The core never imports an app, and apps never import each other.

Listing is cheap: :func:`entry_points` only reads package metadata, loading a spec imports only
the app's package ``__init__``, and every hook of a spec is an import reference
(``"support_bot.service:SupportBot.load"``) resolved on first use, so that torch or gradio are
imported only by the hook that needs them. An app whose entry point fails to load is reported
(:class:`AppLoadError`, naming it and saying what to do) without hiding the others.

Example:
    >>> from domaintune.apps import discover
    >>> apps, errors = discover()  # doctest: +SKIP
    >>> [app.name for app in apps]  # doctest: +SKIP
    ['support_bot']
    >>> bot = apps[0].demo_service(apps[0].write_samples("data"), "models")  # doctest: +SKIP

Run ``python -m domaintune.apps`` to list the registered apps.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import DomaintuneError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "domaintune.apps"

Ref = str | Callable[..., Any]
"""A hook: a callable, or an import reference ``"package.module:attribute[.attribute]"``
(resolved on first use, so that listing apps imports nothing heavy)."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class AppLoadError(DomaintuneError):
    """An app's entry point or one of its hooks cannot be loaded."""


def resolve(ref: Ref, *, app: str = "?", hook: str = "hook") -> Any:
    """The object an import reference names (a callable is returned as it is).

    Raises:
        AppLoadError: the module cannot be imported or has no such attribute (names the app,
            the hook and the reference).
    """
    if not isinstance(ref, str):
        return ref
    module_name, _, attrs = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for attr in attrs.split("."):
            obj = getattr(obj, attr)
    except Exception as exc:  # an app's import can raise anything
        raise AppLoadError(
            f"app {app!r}: its {hook} {ref!r} cannot be loaded ({type(exc).__name__}: {exc}); "
            f"install the app's dependencies (pip install -e .) or fix the reference in its "
            f"AppSpec") from exc
    return obj


@dataclass(frozen=True)
class AppSpec:
    """What the core needs to know about an application.

    Each hook is a callable or an import reference ``"module:attribute"`` (see :data:`Ref`);
    call it through the methods of the same meaning below, which resolve it on first use.

    Args:
        name: identifier of the app (``support_bot``): the entry point's name, lower case.
        title: what people see (the demo tab's title).
        description: one line about the app.
        config: its typed config class (a ``domaintune.ConfigBase`` dataclass with
            ``from_yaml``).
        load: ``load(path) -> service``: a trained service from its directory (what the CLI
            and the REST server serve).
        samples: ``samples(data_dir: Path, *, force: bool = False) -> dict[str, Path]``: write
            the app's sample data under ``data_dir`` (idempotent) and return its paths.
        demo: ``demo(samples: dict[str, Path], models_dir: Path, *,
            retrain: bool = False) -> service``: load, or train on the sample data, the service
            the demo shows (under ``models_dir``).
        tab: ``tab(service) -> None``: add the app's Gradio components to the current
            ``gr.Blocks`` context (the launcher opens a ``gr.Tab(title)`` around it).
        routes: ``routes(service, config) -> domaintune.serving.Routes`` for the REST server
            (``config``: its :class:`~domaintune.serving.ServeConfig`); ``None`` = no API.
        classifier: optional ``classifier(service) -> TextClassifier | None``: the text
            classifier the app's demo service is built on, which the launcher shows in the
            core's "Text classifier" tab instead of training a second one on the same data.

    Example:
        >>> APP = AppSpec(name="my_app", title="My app", config="my_app.config:MyConfig",
        ...               load="my_app.service:MyService.load", samples="my_app.samples:write",
        ...               demo="my_app.service:demo_service",
        ...               tab="my_app.ui:demo_tab")
    """

    name: str
    title: str
    config: Ref
    load: Ref
    samples: Ref
    demo: Ref
    tab: Ref
    routes: Ref | None = None
    description: str = ""
    classifier: Ref | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"AppSpec name: expected a lower-case identifier such as "
                             f"'support_bot', found {self.name!r}")
        for hook in ("config", "load", "samples", "demo", "tab", "routes", "classifier"):
            ref = getattr(self, hook)
            if ref is None and hook in ("routes", "classifier"):
                continue
            if isinstance(ref, str):
                if not _REF.fullmatch(ref):
                    raise ValueError(f"AppSpec {self.name!r} {hook}: expected a callable or "
                                     f"'package.module:attribute', found {ref!r}")
            elif not callable(ref):
                raise ValueError(f"AppSpec {self.name!r} {hook}: expected a callable or "
                                 f"'package.module:attribute', found {ref!r}")

    def hook(self, name: str) -> Any:
        """The resolved hook ``name`` (``None`` for an absent optional hook)."""
        ref = getattr(self, name)
        return None if ref is None else resolve(ref, app=self.name, hook=name)

    @property
    def config_class(self) -> type:
        """The app's config class."""
        return self.hook("config")

    def load_service(self, path: str | Path, **kwargs: Any) -> Any:
        """A trained service loaded from ``path``."""
        return self.hook("load")(path, **kwargs)

    def write_samples(self, data_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
        """Write the app's sample data under ``data_dir``; returns ``{name: path}``."""
        return dict(self.hook("samples")(Path(data_dir), force=force))

    def demo_service(self, samples: Mapping[str, Path], models_dir: str | Path, *,
                     retrain: bool = False) -> Any:
        """The service of the demo: loaded, or trained on ``samples`` under ``models_dir``."""
        return self.hook("demo")(dict(samples), Path(models_dir), retrain=retrain)

    def build_tab(self, service: Any) -> None:
        """Add the app's Gradio tab content to the current ``gr.Blocks`` context."""
        self.hook("tab")(service)

    def text_classifier(self, service: Any) -> Any:
        """The text classifier the demo service offers for the core's tab, or ``None``."""
        hook = self.hook("classifier")
        return None if hook is None else hook(service)

    def build_routes(self, service: Any, config: Any = None) -> Any:
        """The app's REST routes around ``service`` (a :class:`domaintune.serving.Routes`,
        with the limits of ``config``, a :class:`domaintune.serving.ServeConfig`); ``None``
        when it has none."""
        routes = self.hook("routes")
        return None if routes is None else routes(service, config)


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for an app package whose public names are imported from
    their modules on first use (PEP 562), so that importing the package (app discovery,
    ``--help``) imports no model code.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the submodule (of ``package``) that defines it.
        namespace: the package's ``globals()`` (a resolved name is cached there).

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"Monitor": "service"}, globals())  # doctest: +SKIP
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__


def entry_points() -> list[metadata.EntryPoint]:
    """The installed ``domaintune.apps`` entry points, sorted by name (nothing is imported)."""
    found = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return [found[name] for name in sorted(found)]


def load_app(entry_point: metadata.EntryPoint) -> AppSpec:
    """The :class:`AppSpec` an entry point names.

    Raises:
        AppLoadError: the entry point cannot be imported, or does not name an ``AppSpec`` of
            the same name.
    """
    where = f"app {entry_point.name!r} (entry point {entry_point.value!r} in group " \
            f"{ENTRY_POINT_GROUP!r})"
    try:
        spec = entry_point.load()
    except Exception as exc:  # an app's import can raise anything
        raise AppLoadError(
            f"{where} cannot be loaded: {type(exc).__name__}: {exc}. Reinstall the package that "
            "declares it (pip install -e . in its repository), or remove the entry point from its "
            "pyproject.toml") from exc
    if not isinstance(spec, AppSpec):
        raise AppLoadError(f"{where} names a {type(spec).__name__}, expected a "
                           "domaintune.apps.AppSpec; point the entry point at the app's spec")
    if spec.name != entry_point.name:
        raise AppLoadError(f"{where} names the app {spec.name!r}; the entry point and "
                           "AppSpec.name must be the same")
    return spec


def discover(names: list[str] | None = None) -> tuple[list[AppSpec], list[AppLoadError]]:
    """The registered apps, each loaded on its own: one broken app does not hide the others.

    Args:
        names: only these apps (in this order); ``None`` = every registered app. A name that
            is not registered is an error in the returned list.

    Returns:
        ``(apps, errors)``: the specs that loaded, and an :class:`AppLoadError` per app that
        did not (also logged as a warning).
    """
    eps = {ep.name: ep for ep in entry_points()}
    apps: list[AppSpec] = []
    errors: list[AppLoadError] = []
    for name in names if names is not None else list(eps):
        if name not in eps:
            errors.append(AppLoadError(
                f"no app named {name!r} is registered (registered: {sorted(eps) or 'none'}); "
                f"install it (pip install -e .) so that it declares a {ENTRY_POINT_GROUP!r} "
                "entry point"))
            continue
        try:
            apps.append(load_app(eps[name]))
        except AppLoadError as exc:
            errors.append(exc)
    for exc in errors:
        logger.warning("%s", exc)
    return apps, errors


def get_app(name: str) -> AppSpec:
    """The registered app ``name``.

    Raises:
        AppLoadError: not registered, or its entry point fails to load.
    """
    apps, errors = discover([name])
    if errors:
        raise errors[0]
    return apps[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m domaintune.apps``: list the registered apps (imports no app's models)."""
    apps, errors = discover()
    for app in apps:
        print(f"{app.name:20} {app.title}" + (f" - {app.description}" if app.description else ""))
    for exc in errors:
        print(f"error: {exc}", file=sys.stderr)
    if not apps and not errors:
        print(f"no apps registered (entry point group {ENTRY_POINT_GROUP!r})")
    return 1 if errors else 0


if __name__ == "__main__":  # run the imported module's main: its AppSpec is the apps' one
    from domaintune.apps import main as _main

    sys.exit(_main())

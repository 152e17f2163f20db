"""domaintune: take a pretrained language model into real domain applications.

Example:
    >>> from domaintune import TextClassifier, TrainingConfig, load_dataset
    >>> train, val = load_dataset("tickets.csv", text="body", label="queue", split=0.1)  # doctest: +SKIP
    >>> clf = TextClassifier.from_pretrained("default", labels=train.label_names)  # doctest: +SKIP
    >>> clf.fit(train, val, TrainingConfig(epochs=3, method="full"))  # doctest: +SKIP

The public names below are imported on first use (PEP 562), so ``import domaintune`` and the
command line's ``--help`` do not load PyTorch, transformers or pandas; ``from domaintune import
TextClassifier`` works as usual and imports what that class needs.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__

# FAISS reports at INFO which of its builds it loaded, including the normal fallback
# `ModuleNotFoundError("No module named 'faiss.swigfaiss_avx2'")`; keep that chatter out of
# consoles configured at INFO. Its warnings and errors still show.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)

# public name -> the submodule that defines it ("" = the name is the submodule itself)
_LAZY: dict[str, str] = {
    "pairs": "",  # text pairs: BiEncoder, CrossEncoderModel, FaissIndex, load_pairs, metrics
    "BackTranslation": "augment",
    "EmbeddingSynonyms": "augment",
    "ParaphraseMining": "augment",
    "RandomDeletion": "augment",
    "RandomSwap": "augment",
    "augment": "augment",
    "expected_calibration_error": "calibration",
    "fit_temperature": "calibration",
    "DataReport": "checks",
    "Suspect": "checks",
    "check_data": "checks",
    "TextClassifier": "classifier",
    "ClassWeights": "config",
    "ConfigBase": "config",
    "HeadInit": "config",
    "Method": "config",
    "Metric": "config",
    "RunConfig": "config",
    "Runtime": "config",
    "Task": "config",
    "TrainingConfig": "config",
    "UpdateReport": "continual",
    "grow_labels": "continual",
    "update": "continual",
    "TextDataset": "data",
    "load_dataset": "data",
    "read_table": "data",
    "sample_per_class": "data",
    "train_validation_split": "data",
    "resolve_device": "device",
    "ArtifactExistsError": "errors",
    "load": "artifacts",
    "ConfigError": "errors",
    "DataError": "errors",
    "DomaintuneError": "errors",
    "ModelLoadError": "errors",
    "NotFittedError": "errors",
    "classification_metrics": "evaluation",
    "plot_confusion_matrix": "evaluation",
    "DEFAULT_MODEL": "hub",
    "resolve_model": "hub",
    "TokenClassifier": "ner",
    "TokenDataset": "ner",
    "entity_metrics": "ner",
    "load_ner_dataset": "ner",
    "ModelRegistry": "registry",
    "ModelVersion": "registry",
    "RegistryError": "registry",
    "Stage": "registry",
    "fingerprint_dataset": "registry",
    "Chunk": "stream",
    "ReadReport": "stream",
    "file_fingerprint": "stream",
    "read_chunks": "stream",
}

__all__ = [
    "__version__",
    "DEFAULT_MODEL",
    "BackTranslation",
    "DataReport",
    "EmbeddingSynonyms",
    "ModelRegistry",
    "ModelVersion",
    "ParaphraseMining",
    "RandomDeletion",
    "RandomSwap",
    "RegistryError",
    "Stage",
    "Suspect",
    "UpdateReport",
    "augment",
    "check_data",
    "fingerprint_dataset",
    "grow_labels",
    "update",
    "pairs",
    "TokenClassifier",
    "TokenDataset",
    "entity_metrics",
    "load_ner_dataset",
    "ClassWeights",
    "ConfigBase",
    "Runtime",
    "ConfigError",
    "DataError",
    "DomaintuneError",
    "HeadInit",
    "Method",
    "Metric",
    "ModelLoadError",
    "NotFittedError",
    "ArtifactExistsError",
    "load",
    "RunConfig",
    "Task",
    "TextClassifier",
    "TextDataset",
    "TrainingConfig",
    "classification_metrics",
    "expected_calibration_error",
    "fit_temperature",
    "load_dataset",
    "read_table",
    "plot_confusion_matrix",
    "resolve_device",
    "resolve_model",
    "sample_per_class",
    "train_validation_split",
    "Chunk",
    "ReadReport",
    "file_fingerprint",
    "read_chunks",
]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access (PEP 562)."""
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = importlib.import_module(f".{module_name or name}", __name__)
    value = module if not module_name else getattr(module, name)
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps a function that shares its submodule's name (``augment``) bound to the function.

    Importing ``domaintune.augment`` (e.g. ``from domaintune.augment import RandomSwap``) sets
    the package attribute ``augment`` to the submodule; with eager imports the package's own
    ``from .augment import augment`` overrode it, and here this does.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # what static checkers and IDEs see
    from . import pairs
    from .artifacts import load
    from .augment import (
        BackTranslation,
        EmbeddingSynonyms,
        ParaphraseMining,
        RandomDeletion,
        RandomSwap,
        augment,
    )
    from .calibration import expected_calibration_error, fit_temperature
    from .checks import DataReport, Suspect, check_data
    from .classifier import TextClassifier
    from .config import (
        ClassWeights,
        ConfigBase,
        HeadInit,
        Method,
        Metric,
        RunConfig,
        Runtime,
        Task,
        TrainingConfig,
    )
    from .continual import UpdateReport, grow_labels, update
    from .data import (
        TextDataset,
        load_dataset,
        read_table,
        sample_per_class,
        train_validation_split,
    )
    from .device import resolve_device
    from .errors import (
        ArtifactExistsError,
        ConfigError,
        DataError,
        DomaintuneError,
        ModelLoadError,
        NotFittedError,
    )
    from .evaluation import classification_metrics, plot_confusion_matrix
    from .hub import DEFAULT_MODEL, resolve_model
    from .ner import TokenClassifier, TokenDataset, entity_metrics, load_ner_dataset
    from .registry import ModelRegistry, ModelVersion, RegistryError, Stage, fingerprint_dataset
    from .stream import Chunk, ReadReport, file_fingerprint, read_chunks

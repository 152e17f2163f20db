"""domaintune: take a pretrained language model into real domain applications.

Example:
    >>> from domaintune import TextClassifier, TrainingConfig, load_dataset
    >>> train, val = load_dataset("tickets.csv", text="body", label="queue", split=0.1)  # doctest: +SKIP
    >>> clf = TextClassifier.from_pretrained("default", labels=train.label_names)  # doctest: +SKIP
    >>> clf.fit(train, val, TrainingConfig(epochs=3, method="full"))  # doctest: +SKIP
"""

from __future__ import annotations

from . import pairs  # text pairs: BiEncoder, CrossEncoderModel, FaissIndex, load_pairs, metrics
from ._version import __version__
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
from .data import TextDataset, load_dataset, read_table, sample_per_class, train_validation_split
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

__all__ = [
    "__version__",
    "ArtifactExistsError",
    "load",
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
]

"""Settings of the text recommender: one dataclass per concern, validated on construction.

``RecConfig`` holds the sections ``data`` (columns and item text), ``text`` (the bi-encoder and
the user's text profile), ``finetune`` (fine-tuning the text model on behaviour), ``cf``
(EASE, item-kNN, co-engagement, popularity), ``candidates`` (how many each source proposes),
``ranker`` (LightGBM lambdarank), ``rerank`` (diversity, filters, business rules) and
``explain``. Every setting has a documented default; unknown keys are errors with the closest
valid key suggested; ``from_yaml`` reads a file and ``--set section.key=value`` overrides.

Example:
    >>> cfg = RecConfig.from_dict({"rerank": {"diversity": 0.3}, "finetune": {"enabled": False}})
    >>> cfg.rerank.diversity, cfg.finetune.enabled
    (0.3, False)
    >>> RecConfig.from_dict({"reranker": {}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    domaintune.errors.ConfigError: unknown key 'reranker' in the recommender config; did you mean 'rerank'? ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from domaintune import ConfigBase, ConfigError
from domaintune.config import apply_overrides, read_yaml_mapping, resolve_relative_paths


class _Section(ConfigBase):
    """A section of the recommender config: errors name keys as ``<section>.<key>``."""

    def _validate(self) -> None:
        self._validate_types()


@dataclass
class DataConfig(_Section):
    """Columns of the items and interactions files, and how an item's text is built.

    Args:
        item_id_column, user_id_column, rating_column, time_column: the columns. A missing
            rating column makes the data implicit (every interaction counts as 1).
            Timestamps may be epoch seconds (or milliseconds, told apart by size), ISO dates
            or date-times; times without a zone are UTC.
        text_fields: the item columns that make its text, in order, each written
            ``field: value`` and joined with ``". "``; empty = every column of the items file
            except the id, ``in_stock_field`` and numeric-only columns.
        title_field: the column shown as the item's title (default ``title`` or ``name`` when
            present, else the id).
        category_field: the column business rules and the per-category cap use (default
            ``category``, ``genres`` or ``genre`` when present; a ``|``- or ``;``-separated
            value has several labels, and each of them counts).
        in_stock_field: a boolean column; items where it is false are never recommended
            (default ``in_stock`` when present).
        positive_rating: an interaction rated at least this is a *positive* (the ranker's
            labels, the fine-tuning targets, the default split); implicit data: every one.
    """

    _where = "data"

    item_id_column: str = "item_id"
    user_id_column: str = "user_id"
    rating_column: str = "rating"
    time_column: str = "timestamp"
    text_fields: list[str] = field(default_factory=list)
    title_field: str | None = None
    category_field: str | None = None
    in_stock_field: str | None = None
    positive_rating: float = 4.0

    def __post_init__(self) -> None:
        self._validate()
        for key in ("item_id_column", "user_id_column", "rating_column", "time_column"):
            if not getattr(self, key).strip():
                raise ConfigError(f"data.{key} expects a column name, found an empty string")


@dataclass
class TextConfig(_Section):
    """The text model of the items and of a user's taste.

    Args:
        encoder: the bi-encoder (``default`` = the packaged all-MiniLM-L6-v2, a local
            sentence-transformers / transformers directory, or a Hub id).
        max_length: tokens per item text and per history text (64 keeps fine-tuning on a
            CPU to minutes: on MovieLens, title + year + genres + the first tags fit).
        batch_size: texts per forward pass when embedding the catalogue.
        history_items: a user's most recent items written into their text profile (the query
            of fine-tuning and of the text-match feature).
        recency_halflife: the user's embedding is the mean of their items' embeddings weighted
            by ``0.5 ** (age / halflife)``, age counted in interactions (most recent = 0).
        index: the FAISS index kind of the item embeddings (``auto``: exact up to 100,000
            items, HNSW above; ``flat``, ``hnsw``, ``ivf``).
    """

    _where = "text"

    encoder: str = "default"
    max_length: int = 64
    batch_size: int = 64
    history_items: int = 5
    recency_halflife: float = 10.0
    index: str = "auto"

    def __post_init__(self) -> None:
        self._validate()
        self.check_ranges([
            ("max_length", 8 <= self.max_length <= 8192, "an integer in [8, 8192]"),
            ("batch_size", self.batch_size >= 1, "an integer of 1 or more"),
            ("history_items", self.history_items >= 1, "an integer of 1 or more"),
            ("recency_halflife", self.recency_halflife > 0, "a number above 0"),
            ("index", self.index in ("auto", "flat", "hnsw", "ivf"),
             "one of auto, flat, hnsw, ivf"),
        ])


@dataclass
class FineTuneConfig(_Section):
    """Fine-tuning the text model on behaviour: (a user's recent items as text -> the next
    item they rated positively) pairs, contrastive loss with in-batch negatives (the core's
    ``BiEncoder.fit``).

    Args:
        enabled: fine-tune (``false`` = the frozen encoder only).
        epochs, batch_size, learning_rate: the pair training (``PairTrainingConfig``). On
            MovieLens, 2 epochs at 1e-4 beat 1 epoch at 5e-5: text-only NDCG@10 0.0191 vs
            0.0126 (frozen 0.0124; benchmarks/RESULTS.md).
        max_pairs: at most this many pairs (the most recent of each user first, evenly over
            users), to bound the training time.
        pairs_per_user: at most this many pairs from one user, so that heavy users do not
            dominate.
        seed: seed of the sampling and of the training.
    """

    _where = "finetune"

    enabled: bool = True
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 1e-4
    max_pairs: int = 4000
    pairs_per_user: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        self._validate()
        self.check_ranges([
            ("epochs", self.epochs > 0, "a number above 0"),
            ("batch_size", self.batch_size >= 2, "an integer of 2 or more (in-batch negatives)"),
            ("learning_rate", self.learning_rate > 0, "a number above 0"),
            ("max_pairs", self.max_pairs >= 2, "an integer of 2 or more"),
            ("pairs_per_user", self.pairs_per_user >= 1, "an integer of 1 or more"),
        ])


@dataclass
class CFConfig(_Section):
    """The behaviour models (``text_recommender.cf``).

    Args:
        ease_l2: L2 regularisation of EASE.
        ease_max_items: EASE covers at most this many items (the most frequent); the rest
            score 0 from it.
        ease_neighbors: entries kept per item row of EASE's weight matrix when saved (the
            largest); the evaluation's EASE baseline is the dense one.
        knn_neighbors, knn_shrink: item-kNN (cosine, shrunk by ``n / (n + shrink)``).
        coeng_window: an item j counts as co-engaged after item i when the same user engages
            with it within the next ``coeng_window`` interactions.
        coeng_last: the user's last items whose co-engaged items are candidates.
        trend_window_days: popularity trend = interactions in the last window vs the average.
    """

    _where = "cf"

    ease_l2: float = 200.0
    ease_max_items: int = 20000
    ease_neighbors: int = 200
    knn_neighbors: int = 100
    knn_shrink: float = 10.0
    coeng_window: int = 3
    coeng_last: int = 3
    trend_window_days: float = 30.0

    def __post_init__(self) -> None:
        self._validate()
        self.check_ranges([
            ("ease_l2", self.ease_l2 > 0, "a number above 0"),
            ("ease_max_items", self.ease_max_items >= 2, "an integer of 2 or more"),
            ("ease_neighbors", self.ease_neighbors >= 1, "an integer of 1 or more"),
            ("knn_neighbors", self.knn_neighbors >= 1, "an integer of 1 or more"),
            ("knn_shrink", self.knn_shrink >= 0, "a number of 0 or more"),
            ("coeng_window", self.coeng_window >= 1, "an integer of 1 or more"),
            ("coeng_last", self.coeng_last >= 1, "an integer of 1 or more"),
            ("trend_window_days", self.trend_window_days > 0, "a number above 0"),
        ])


@dataclass
class CandidateConfig(_Section):
    """How many candidates each source proposes per user (their union is ranked).

    Args:
        text: nearest items to the user's text profile (FAISS over the item embeddings).
        cf: best EASE scores.
        coeng: items co-engaged after the user's last items.
        popular: most popular items.
    """

    _where = "candidates"

    text: int = 100
    cf: int = 100
    coeng: int = 50
    popular: int = 30

    def __post_init__(self) -> None:
        self._validate()
        self.check_ranges([(k, getattr(self, k) >= 0, "an integer of 0 or more")
                           for k in ("text", "cf", "coeng", "popular")])
        if not (self.text or self.cf or self.coeng or self.popular):
            raise ConfigError("candidates: expected at least one source with a count above 0, "
                              "found all 0; e.g. candidates.text=100")


@dataclass
class RankerConfig(_Section):
    """The learned ranker (LightGBM ``LGBMRanker``, lambdarank), trained on a held-out slice
    of the training interactions: each user's last positive interaction is the label, the
    features are computed from everything before it.

    Args:
        n_estimators, learning_rate, num_leaves, min_child_samples: LightGBM's.
        validation_fraction: users held out for early stopping.
        early_stopping_rounds: stop after this many rounds without a better validation NDCG@10.
        seed: seed of the user split and of LightGBM.
    """

    _where = "ranker"

    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    validation_fraction: float = 0.2
    early_stopping_rounds: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        self._validate()
        self.check_ranges([
            ("n_estimators", self.n_estimators >= 1, "an integer of 1 or more"),
            ("learning_rate", self.learning_rate > 0, "a number above 0"),
            ("num_leaves", self.num_leaves >= 2, "an integer of 2 or more"),
            ("min_child_samples", self.min_child_samples >= 1, "an integer of 1 or more"),
            ("validation_fraction", 0 <= self.validation_fraction < 1, "a number in [0, 1)"),
            ("early_stopping_rounds", self.early_stopping_rounds >= 1, "an integer of 1 or more"),
        ])


@dataclass
class RerankConfig(_Section):
    """What happens after the ranker: diversity, filters and business rules.

    Args:
        diversity: MMR's λ in [0, 1] on the item embeddings (0 = the ranker's order).
        exclude_seen: never recommend an item the user already engaged with.
        exclude: item ids never recommended.
        boost: category -> amount added to the ranker's score (e.g. ``{documentary: 0.5}``).
        bury: category -> amount subtracted.
        max_per_category: at most this many items of one category in a list (null = no cap).
    """

    _where = "rerank"

    diversity: float = 0.0
    exclude_seen: bool = True
    exclude: list[str] = field(default_factory=list)
    boost: dict[str, float] = field(default_factory=dict)
    bury: dict[str, float] = field(default_factory=dict)
    max_per_category: int | None = None

    def __post_init__(self) -> None:
        self._validate()
        self.check_ranges([
            ("diversity", 0.0 <= self.diversity <= 1.0, "a number in [0, 1]"),
            ("max_per_category", self.max_per_category is None or self.max_per_category >= 1,
             "an integer of 1 or more, or null"),
        ])
        self.exclude = [str(i) for i in self.exclude]


@dataclass
class ExplainConfig(_Section):
    """Explanations.

    Args:
        max_items: history items named per recommendation ("because you liked X and Y").
        max_reasons: strongest features named.
        verb: the verb of the explanation ("liked", "watched", "bought").
    """

    _where = "explain"

    max_items: int = 2
    max_reasons: int = 2
    verb: str = "liked"

    def __post_init__(self) -> None:
        self._validate()
        self.check_ranges([("max_items", self.max_items >= 1, "an integer of 1 or more"),
                           ("max_reasons", self.max_reasons >= 0, "an integer of 0 or more")])


_PATH_KEYS = (("text", "encoder"),)


@dataclass
class RecConfig(ConfigBase):
    """Everything the recommender needs; every section has defaults."""

    _where = "the recommender config"

    @classmethod
    def _key_where(cls, key: str) -> str:
        return key

    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    cf: CFConfig = field(default_factory=CFConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)

    def __post_init__(self) -> None:
        self._validate_types()

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> RecConfig:
        """Read a YAML file, then apply ``section.key=value`` overrides (values parsed as YAML).

        A relative ``text.encoder`` path that exists next to the YAML file is taken relative to
        the file's folder.
        """
        path = Path(path)
        data = read_yaml_mapping(path)
        resolve_relative_paths(data, path.parent, _PATH_KEYS)
        return cls.from_dict(apply_overrides(data, overrides or []))

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: list[str] | None = None) -> RecConfig:
        """``from_yaml(path)``, or the defaults with ``overrides`` when ``path`` is None."""
        if path is None:
            return cls.from_dict(apply_overrides({}, overrides or []))
        return cls.from_yaml(path, overrides)

"""text_recommender: a text-based recommendation ranker on the domaintune core.

Item text (configurable fields) is embedded with a bi-encoder from the core, which is also
fine-tuned on behaviour (a user's recent items as text -> the next item they liked);
candidates come from a FAISS index of the item embeddings, EASE, co-engagement with the last
items and popularity; LightGBM's lambdarank ranks them over text, behaviour, popularity and user
features; MMR diversity, filters and business rules re-rank; every recommendation says which
history items drove it. New items are recommendable from their text, new users from a few items
or a free-text taste; items can be added/removed and interactions recorded without refitting.

The package registers itself with the core as the app ``text_recommender`` (:data:`APP`, entry
point group ``domaintune.apps``). Importing it is cheap: the public names below are imported
from their modules on first use.

Layout: ``config.py`` (typed settings), ``data.py`` (items and interactions: columns,
timestamps, counted drops), ``text.py`` (history text, profile, behaviour pairs),
``cf.py`` (popularity, EASE, item-kNN, co-engagement), ``features.py`` (candidates and ranker
features), ``ranker.py`` (LGBMRanker), ``rerank.py`` (MMR, filters, rules), ``explain.py``,
``service.py`` (:class:`Recommender`), ``split.py`` + ``metrics.py`` + ``evaluation.py`` (the
offline protocol and baselines), ``training.py`` (the demo's recommender), ``samples.py``,
``ui.py`` (the Gradio tab), ``cli.py`` (``text-recommender``).

Example:
    >>> from text_recommender import Recommender
    >>> rec = Recommender.load("models/rec")  # doctest: +SKIP
    >>> [r.title for r in rec.recommend("42", k=5)]  # doctest: +SKIP
    >>> rec.recommend_for_query("haunted houses and slow dread", k=5)  # doctest: +SKIP
"""

from __future__ import annotations

from domaintune.apps import AppSpec, lazy_exports

__version__ = "0.1.0"

APP = AppSpec(
    name="text_recommender",
    title="Recommender",
    description="item text + behaviour: fine-tuned text model, EASE, LightGBM ranker, MMR, "
                "explanations, cold start",
    config="text_recommender.config:RecConfig",
    load="text_recommender.service:Recommender.load",
    samples="text_recommender.samples:write_samples",
    demo="text_recommender.training:demo_recommender",
    tab="text_recommender.ui:demo_tab",
    routes="text_recommender.api:routes",
)

# public name -> module that defines it (imported on first use)
_EXPORTS = {
    "RecConfig": "config", "DataConfig": "config", "TextConfig": "config",
    "FineTuneConfig": "config", "CFConfig": "config", "CandidateConfig": "config",
    "RankerConfig": "config", "RerankConfig": "config", "ExplainConfig": "config",
    "Recommender": "service", "Recommendation": "service", "UnknownItemError": "service",
    "Catalog": "data", "load_items": "data", "load_interactions": "data",
    "parse_timestamps": "data",
    "Popularity": "cf", "EASE": "cf", "ItemKNN": "cf", "CoEngagement": "cf",
    "LearnedRanker": "ranker", "mmr": "rerank", "RuleSet": "rerank", "explain": "explain",
    "leave_last_out": "split", "cold_item_split": "split", "ranking_metrics": "metrics",
    "evaluate": "evaluation", "FEATURES": "features", "FEATURE_GROUPS": "features",
}

__all__ = ["APP", "__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

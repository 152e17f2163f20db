"""text_recommender: a text-based recommendation ranker on the domaintune core (issue 11, in progress)."""

from __future__ import annotations

__version__ = "0.1.0"

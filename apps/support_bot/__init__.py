"""support_bot: a customer-service bot on the domaintune core.

Intent classification, FAQ retrieval (bi-encoder + FAISS, optional cross-encoder re-ranking),
out-of-scope detection with automatically tuned thresholds, handoff to agents, slot filling,
a SQLite conversation log with feedback, and retraining from that feedback.

The package registers itself with the core as the app ``support_bot`` (:data:`APP`, entry
point group ``domaintune.apps``). Importing it is cheap: the public names below are imported
from their modules on first use, so ``support-bot --help`` and app discovery do not load torch
or gradio.

Layout: ``config.py`` (typed settings), ``service.py`` (:class:`SupportBot`: load / analyze /
reply / feedback), ``policy.py`` (the pure dialogue policy), ``training.py``, ``evaluation.py``,
``samples.py`` (the sample data), ``ui.py`` (the Gradio tab), ``cli.py`` (``support-bot``).

Example:
    >>> from support_bot import BotConfig, SupportBot
    >>> bot = SupportBot.train(BotConfig(intents_file="data/support/intents.csv",
    ...                                  faq_file="data/support/faq.csv"), "models/bot")  # doctest: +SKIP
    >>> bot.reply("conversation-1", "I lost my card").text  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domaintune.apps import AppSpec, lazy_exports

__version__ = "0.1.0"

APP = AppSpec(
    name="support_bot",
    title="Support bot",
    description="intent classifier + FAQ retrieval + out-of-scope detection + handoff + log",
    config="support_bot.config:BotConfig",
    load="support_bot.service:load",
    samples="support_bot.samples:write_samples",
    demo="support_bot.training:demo_bot",
    tab="support_bot.ui:demo_tab",
    routes="support_bot.api:routes",
    classifier="support_bot.training:demo_classifier",
)

# public name -> module that defines it (imported on first use)
_EXPORTS = {
    "BotConfig": "config", "DialogueConfig": "config", "IntentConfig": "config",
    "KnowledgeBaseConfig": "config", "LogConfig": "config", "OOSConfig": "config",
    "OOSObjective": "config", "SlotConfig": "config", "SlotScope": "config",
    "ConversationContext": "dialogue", "extract_slots": "dialogue", "fill_template": "dialogue",
    "is_followup": "dialogue",
    "FaqEntry": "knowledge", "KnowledgeBase": "knowledge", "load_knowledge_base": "knowledge",
    "SCHEMA_VERSION": "store", "Feedback": "store", "LogError": "store",
    "LogStore": "store", "Outcome": "policy", "migrate": "store",
    "OOSDetector": "oos",
    "Decision": "policy", "MessageAnalysis": "policy", "PolicyConfig": "policy",
    "decide": "policy",
    "Analysis": "service", "Reply": "service", "SupportBot": "service",
    "sample_bot": "training",
    "FaqRetriever": "retrieval", "Ranking": "retrieval",
}

__all__ = [
    "APP",
    "__version__",
    "Analysis",
    "BotConfig",
    "ConversationContext",
    "Decision",
    "DialogueConfig",
    "FaqEntry",
    "FaqRetriever",
    "Feedback",
    "IntentConfig",
    "KnowledgeBase",
    "KnowledgeBaseConfig",
    "LogConfig",
    "LogError",
    "LogStore",
    "MessageAnalysis",
    "OOSConfig",
    "OOSDetector",
    "OOSObjective",
    "Outcome",
    "PolicyConfig",
    "Ranking",
    "Reply",
    "SCHEMA_VERSION",
    "SlotConfig",
    "SlotScope",
    "SupportBot",
    "decide",
    "extract_slots",
    "fill_template",
    "is_followup",
    "load_knowledge_base",
    "migrate",
    "sample_bot",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from .config import (
        BotConfig,
        DialogueConfig,
        IntentConfig,
        KnowledgeBaseConfig,
        LogConfig,
        OOSConfig,
        OOSObjective,
        SlotConfig,
        SlotScope,
    )
    from .dialogue import ConversationContext, extract_slots, fill_template, is_followup
    from .knowledge import FaqEntry, KnowledgeBase, load_knowledge_base
    from .oos import OOSDetector
    from .policy import Decision, MessageAnalysis, Outcome, PolicyConfig, decide
    from .retrieval import FaqRetriever, Ranking
    from .service import Analysis, Reply, SupportBot
    from .store import SCHEMA_VERSION, Feedback, LogError, LogStore, migrate
    from .training import sample_bot

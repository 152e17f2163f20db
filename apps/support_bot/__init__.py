"""support_bot: a customer-service bot on the domaintune core.

Intent classification, FAQ retrieval (bi-encoder + FAISS, optional cross-encoder re-ranking),
out-of-scope detection with automatically tuned thresholds, handoff to agents, slot filling,
a SQLite conversation log with feedback, and retraining from that feedback.

Example:
    >>> from support_bot import BotConfig, SupportBot
    >>> bot = SupportBot.train(BotConfig(intents_file="data/support/intents.csv",
    ...                                  faq_file="data/support/faq.csv"), "models/bot")  # doctest: +SKIP
    >>> bot.reply("conversation-1", "I lost my card").text  # doctest: +SKIP
"""

from __future__ import annotations

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
from .logstore import SCHEMA_VERSION, Feedback, LogError, LogStore, Outcome, migrate
from .oos import OOSDetector
from .pipeline import Analysis, Reply, SupportBot, sample_bot
from .retrieval import FaqRetriever, Ranking

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "Analysis",
    "BotConfig",
    "ConversationContext",
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
    "OOSConfig",
    "OOSDetector",
    "OOSObjective",
    "Outcome",
    "Ranking",
    "Reply",
    "SlotConfig",
    "SlotScope",
    "SupportBot",
    "__version__",
    "extract_slots",
    "fill_template",
    "is_followup",
    "load_knowledge_base",
    "migrate",
    "sample_bot",
]

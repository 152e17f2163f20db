"""The ``support-bot`` command line: train, evaluate, chat, handoffs, demo, retrain.

Examples:
    support-bot train --intents data/support/intents.csv --faq data/support/faq.csv \\
        --oos data/support/oos.csv --output models/bot [--validation valid.csv]
    support-bot train --config apps/support_bot/sample_bot.yaml --output models/bot \\
        --set dialogue.low_confidence_limit=3
    support-bot evaluate models/bot --data data/support/intents_test.csv \\
        --oos-data more_oos.csv --faq-queries data/support/faq_queries.csv
    support-bot chat models/bot     # /helpful, /unhelpful, /intent NAME give feedback
    support-bot handoffs models/bot
    support-bot demo models/bot --port 7861
    support-bot retrain models/bot --output models/bot-v2
    support-bot chat northwind      # the production version of a registered bot (domaintune models promote)
"""

from __future__ import annotations

# Only the standard library at module level: `support-bot --help` must not import torch,
# transformers or gradio. Each command imports what it needs.
import argparse
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .config import BotConfig

logger = logging.getLogger(__name__)

# --option -> (config section, key)
_COLUMN_OPTIONS = {
    "text_column": ("intent", "text_column"),
    "intent_column": ("intent", "label_column"),
    "intents_encoding": ("intent", "encoding"),
    "model": ("intent", "model"),
    "method": ("intent", "method"),
    "faq_id_column": ("faq", "id_column"),
    "faq_question_column": ("faq", "question_column"),
    "faq_answer_column": ("faq", "answer_column"),
    "faq_intent_column": ("faq", "intent_column"),
    "faq_tags_column": ("faq", "tags_column"),
    "faq_separator": ("faq", "question_separator"),
    "faq_encoding": ("faq", "encoding"),
    "encoder": ("faq", "encoder"),
    "cross_encoder": ("faq", "cross_encoder"),
    "oos_text_column": ("oos", "text_column"),
    "oos_encoding": ("oos", "encoding"),
    "oos_topic_column": ("oos", "topic_column"),
}


def _train_config(args: argparse.Namespace) -> BotConfig:
    from domaintune.config import apply_overrides

    from .config import BotConfig

    base = BotConfig.from_yaml(args.config).to_dict() if args.config else {}
    for key, attr in (("intents_file", "intents"), ("validation_file", "validation"),
                      ("faq_file", "faq"), ("oos_file", "oos"), ("oos_train_file", "oos_train"),
                      ("output_dir", "output")):
        value = getattr(args, attr)
        if value:
            base[key] = str(value)
    for option, (section, key) in _COLUMN_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            base.setdefault(section, {})
            base[section] = {**base[section], key: None if value in ("", "none") else value}
    return BotConfig.from_dict(apply_overrides(base, args.set))


def _registry_url(args: argparse.Namespace) -> str:
    """``--registry``, else env ``DOMAINTUNE_REGISTRY``, else the core's default."""
    if args.registry:
        return args.registry
    from domaintune.registry import DEFAULT_REGISTRY_URL

    return os.environ.get("DOMAINTUNE_REGISTRY", DEFAULT_REGISTRY_URL)


def _file_fingerprint(paths: list[str | None]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        if path and Path(path).is_file():
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _bot_dir(args: argparse.Namespace) -> Path:
    """``bot_dir`` as given, or the production version of a registered bot of that name."""
    from domaintune import DomaintuneError, ModelRegistry, RegistryError

    path = Path(args.bot_dir)
    if path.is_dir():
        return path
    with ModelRegistry(_registry_url(args)) as registry:
        try:
            return registry.load_production(args.bot_dir)
        except RegistryError as exc:
            raise DomaintuneError(f"{args.bot_dir!r} is neither a bot directory nor a registered "
                                  f"bot with a production version ({exc}); pass a directory "
                                  "written by `support-bot train`, or promote a version with "
                                  "`domaintune models promote NAME VERSION`") from None


def _register(args: argparse.Namespace, bot, fingerprint: str, parent: Path | None = None) -> str:
    """Record a trained/retrained bot directory in the model registry; returns 'name vN'."""
    from domaintune import ModelRegistry

    with ModelRegistry(_registry_url(args)) as registry:
        parent_version = None
        name = args.name
        if parent is not None:
            source = registry.find_path(parent)
            if source is not None:
                name = name or source.name
                parent_version = source.version if source.name == name else None
        version = registry.register(name or Path(bot.directory).name, Path(bot.directory),
                                    config={"bot": str(bot.directory)},
                                    metrics=bot.meta.get("summary") or bot.meta.get("retrain"),
                                    data_fingerprint=fingerprint, parent_version=parent_version)
    return str(version)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _emit(result: dict, summary: list[str], args: argparse.Namespace) -> None:
    """Exactly one JSON object on stdout (for scripts); the readable summary on stderr
    unless ``--json``."""
    print(json.dumps(result, default=str))
    sys.stdout.flush()
    if not args.json:
        print("\n".join(summary), file=sys.stderr)


def train_summary(result: dict) -> list[str]:
    """The readable lines ``support-bot train`` prints on stderr."""
    val, oos = result.get("validation") or {}, result.get("oos") or {}
    lines = [f"trained support bot v{result['version']} on {result['n_intent_train']} messages "
             f"({result['intents']} intents) in {result['seconds']} s",
             f"  validation ({result['n_validation']} messages): accuracy "
             f"{_percent(val.get('accuracy'))}, macro-F1 {val.get('macro_f1', float('nan')):.3f}",
             f"  out of scope ({oos.get('mode', '-')}, {result['n_oos_examples']} OOS examples): "
             f"in-scope accuracy {_percent(oos.get('in_scope_accuracy'))}, OOS recall "
             f"{_percent(oos.get('oos_recall'))}",
             f"  FAQ: {result['faq']['entries']} entries, {result['faq']['vectors']} vectors",
             *(["  worst intents on validation (F1): "
                + ", ".join(f"{name} {f1:.2f}" for name, f1 in result["worst_intents"])]
               if result.get("worst_intents") else []),
             f"  saved to {result['bot_dir']} (registered as {result.get('registered')})"]
    return lines


def _train(args: argparse.Namespace) -> int:
    from domaintune import DomaintuneError

    from .advice import command_line
    from .service import SupportBot

    with command_line("train"):
        config = _train_config(args)
        if not config.output_dir:
            raise DomaintuneError("pass --output BOT_DIR (or set output_dir in the --config file)")
        bot = SupportBot.train(config, config.output_dir, overwrite=args.overwrite)
    summary = {"bot_dir": str(bot.directory), "version": bot.version, **bot.meta["summary"]}
    summary["registered"] = _register(args, bot, _file_fingerprint(
        [config.intents_file, config.validation_file, config.faq_file, config.oos_file,
         config.oos_train_file]))
    bot.close()
    _emit(summary, train_summary(summary), args)
    return 0


def _faq_queries(path: str, query_column: str, id_column: str,
                 encoding: str = "utf-8") -> list[tuple[str, str]]:
    from domaintune import load_dataset

    frame = load_dataset(path, text=query_column, label=id_column, encoding=encoding)
    return list(zip(frame.texts, frame.labels, strict=True))


def evaluate_summary(metrics: dict) -> list[str]:
    """The readable lines ``support-bot evaluate`` prints on stderr."""
    worst = ", ".join(f"{name} {f1:.2f}" for name, f1 in metrics.get("worst_intents", []))
    lines = [f"evaluated {metrics['n_in_scope']} in-scope messages: accuracy "
             f"{_percent(metrics['accuracy'])}, macro-F1 {metrics['macro_f1']:.3f}, accepted "
             f"and right {_percent(metrics['in_scope_accuracy'])}"]
    if metrics.get("n_oos"):
        lines.append(f"  {metrics['n_oos']} OOS messages: OOS recall "
                     f"{_percent(metrics['oos_recall'])}, precision "
                     f"{_percent(metrics['oos_precision'])}")
    if metrics.get("n_queries"):
        lines.append(f"  {metrics['n_queries']} FAQ queries: recall@1 "
                     f"{_percent(metrics['retrieval_recall1'])}, MRR@10 "
                     f"{metrics['retrieval_mrr10']:.3f}")
    if worst:
        lines.append(f"  worst intents (F1): {worst}")
    lines.append(f"  report (confusion_matrix.png, report.md, metrics.json) in "
                 f"{metrics['report_dir']}")
    return lines


def _evaluate(args: argparse.Namespace) -> int:
    from domaintune import load_dataset

    from .advice import command_line, reading
    from .service import SupportBot

    with command_line("evaluate"), SupportBot.load(_bot_dir(args)) as bot:
        ic = bot.config.intent
        with reading("test_data"):
            data = load_dataset(args.data, text=args.text_column or ic.text_column,
                                label=args.intent_column or ic.label_column,
                                encoding=args.encoding or ic.encoding)
        oos = None
        if args.oos_data:
            with reading("test_oos"):
                oos = load_dataset(args.oos_data,
                                   text=args.oos_text_column or bot.config.oos.text_column,
                                   label=None, encoding=args.encoding or "utf-8").texts
        queries = None
        if args.faq_queries:
            with reading("faq_queries"):
                queries = _faq_queries(args.faq_queries, args.query_column, args.faq_id_column,
                                       args.encoding or "utf-8")
        metrics = bot.evaluate(data, oos, queries, output_dir=args.output)
    _emit(metrics, evaluate_summary(metrics), args)
    return 0


def _handoffs(args: argparse.Namespace) -> int:
    from .service import SupportBot

    with SupportBot.load(_bot_dir(args)) as bot:
        queue = bot.log.handoff_queue(None if args.all else "open")
    if args.json:
        print(json.dumps(queue, default=str))
        return 0
    if not queue:
        print("no conversations waiting for an agent" if not args.all else "no handoffs yet")
        return 0
    for q in queue:
        print(f"{str(q['created_at'])[:19]}  {q['status']:<4}  {q['conversation_id']}  turn {q['turn_id']}"
              f"  {q['reason'] or ''}")
    return 0


def chat(bot, *, conversation_id: str | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None) -> int:
    """A terminal conversation with ``bot``; ends on EOF, ``quit`` or ``exit``.

    Args:
        bot: a :class:`~support_bot.SupportBot`.
        conversation_id: the conversation to continue (default: a new one).
        stdin, stdout: streams (default: the terminal).

    Returns:
        The number of messages answered.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    cid = conversation_id or f"cli-{uuid.uuid4().hex[:12]}"
    interactive = stdin.isatty()
    print(f"Support bot v{bot.version} - conversation {cid}. Type /help for the commands, "
          "'quit' to leave.", file=stdout)
    answered = 0
    last_turn: int | None = None
    while True:
        if interactive:
            print("you> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        message = line.rstrip("\n")
        if message.strip().lower() in ("quit", "exit", "/quit"):
            break
        if message.strip().startswith("/"):
            print(f"bot> {chat_command(bot, message.strip(), last_turn)}", file=stdout)
            stdout.flush()
            continue
        reply = bot.reply(cid, message)
        tag = f"[{reply.outcome.value}"
        if reply.intent and reply.in_scope:  # out of scope: the guess is not shown
            tag += f" {reply.intent} {reply.confidence:.0%}"
        tag += "]"
        print(f"bot> {reply.text}  {tag}", file=stdout)
        if reply.handoff:
            print(f"bot> (handed off to an agent: {reply.reason})", file=stdout)
        stdout.flush()
        if reply.turn_id is not None:
            answered += 1
            last_turn = reply.turn_id
    print(f"bye ({answered} messages logged in {bot.log.path if bot.directory else 'memory'})",
          file=stdout)
    return answered


CHAT_HELP = ("commands: /helpful (the last reply helped), /unhelpful (it did not), /intent NAME "
             "(the intent it should have had; add --new for a new intent), /intents (the intents "
             "the bot knows), /help, quit. Feedback is what `support-bot retrain` learns from.")


def chat_command(bot, command: str, last_turn: int | None) -> str:
    """Run one ``/command`` of :func:`chat` on the last turn; returns what to print."""
    from domaintune import DomaintuneError
    from domaintune.errors import closest

    name, _, arg = command.partition(" ")
    name, arg = name.lower(), arg.strip()
    if name == "/help":
        return CHAT_HELP
    if name == "/intents":
        return ", ".join(bot.intents)
    if name not in ("/helpful", "/unhelpful", "/intent"):
        return f"unknown command {name!r}; {CHAT_HELP}"
    if last_turn is None:
        return "send a message first: feedback is about the bot's last reply"
    try:
        if name == "/intent":
            intent, _, flag = arg.partition(" ")
            new = flag.strip() == "--new"
            if not intent or (flag.strip() and not new):
                return "usage: /intent NAME (see /intents), or /intent NAME --new for a new intent"
            if intent not in bot.intents and not new:
                return (f"not saved: unknown intent {intent!r}{closest(intent, bot.intents)}; "
                        f"see /intents, or type /intent {intent} --new to add a new intent "
                        "(retrain learns it)")
            bot.feedback(last_turn, corrected_intent=intent, allow_new_intent=new)
            return f"saved: turn {last_turn} should have been {intent!r}"
        bot.feedback(last_turn, helpful=name == "/helpful")
    except DomaintuneError as exc:
        return f"not saved: {exc}"
    return f"saved: turn {last_turn} was {'helpful' if name == '/helpful' else 'not helpful'}"


def _chat(args: argparse.Namespace) -> int:
    from .service import SupportBot

    with SupportBot.load(_bot_dir(args)) as bot:
        chat(bot, conversation_id=args.conversation)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .service import SupportBot
    from .ui import build_demo

    bot = SupportBot.load(_bot_dir(args))
    demo = build_demo(bot)
    demo.launch(server_name=args.host, server_port=args.port)
    return 0


def _add_serve_options(p: argparse.ArgumentParser) -> None:
    from domaintune.serving.config import add_serve_options

    add_serve_options(p)


def _serve(args: argparse.Namespace) -> int:
    from domaintune import ConfigError
    from domaintune.serving.config import serve_config_from_args
    from domaintune.serving.server import serve

    from .api import routes
    from .service import SupportBot

    config = serve_config_from_args(args)
    if config.workers != 1:
        # the conversations' state and locks live in the process (the micro-batcher already
        # shares each forward pass between concurrent conversations)
        raise ConfigError(f"support-bot serve runs one server process (the conversations' state "
                          f"lives in it), found --workers {config.workers}; pass --workers 1")
    bot_dir = _bot_dir(args)
    serve(lambda: routes(SupportBot.load(bot_dir), config), config)
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from .service import SupportBot

    with SupportBot.load(_bot_dir(args)) as bot:
        new = bot.retrain(args.output, replay_ratio=args.replay_ratio)
        source = Path(bot.directory)
        info = {"bot_dir": str(new.directory), "version": new.version,
                "parent": str(source.resolve()), **new.meta["retrain"]}
        info["registered"] = _register(args, new, _file_fingerprint(
            [str(source / "log.db")]), parent=source)
        new.close()
    oos = info.get("oos") or {}
    _emit(info, [f"retrained v{bot.version} -> v{info['version']} on {info['n_examples']} logged "
                 f"turns ({info['n_corrected']} corrected, {info['n_helpful']} helpful); OOS "
                 f"recall {_percent(oos.get('oos_recall'))}, in-scope accuracy "
                 f"{_percent(oos.get('in_scope_accuracy'))}",
                 f"  saved to {info['bot_dir']} (registered as {info['registered']})"], args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="support-bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a bot from intents, an FAQ and OOS examples")
    t.add_argument("--config", help="bot YAML (see apps/support_bot/sample_bot.yaml)")
    t.add_argument("--intents", help="labelled messages (CSV/TSV/JSONL/Parquet)")
    t.add_argument("--validation", help="held-out labelled messages for calibration and OOS "
                                        "tuning (default: a split of --intents)")
    t.add_argument("--faq", help="knowledge base (CSV/TSV/JSONL)")
    t.add_argument("--oos", help="out-of-scope messages for tuning the OOS detector")
    t.add_argument("--oos-train", help="out-of-scope messages the classifier learns as an extra "
                                       "class (other messages than --oos)")
    t.add_argument("--output", help="bot directory to write")
    t.add_argument("--overwrite", action="store_true", help="replace an existing bot directory")
    t.add_argument("--text-column", help="text column of --intents (default text)")
    t.add_argument("--intent-column", help="intent column of --intents (default intent)")
    t.add_argument("--intents-encoding")
    t.add_argument("--model", help="classifier encoder (default: packaged MiniLM)")
    t.add_argument("--method", help="frozen (default), full or lora")
    t.add_argument("--faq-id-column")
    t.add_argument("--faq-question-column")
    t.add_argument("--faq-answer-column")
    t.add_argument("--faq-intent-column", help="'none' = no intent column")
    t.add_argument("--faq-tags-column", help="'none' = no tags column")
    t.add_argument("--faq-separator", help="separator of question paraphrases (default ' || ')")
    t.add_argument("--faq-encoding")
    t.add_argument("--encoder", help="bi-encoder of the FAQ (default: packaged MiniLM)")
    t.add_argument("--cross-encoder", help="CrossEncoderModel directory to re-rank answers")
    t.add_argument("--oos-text-column", help="text column of --oos and --oos-train (default text)")
    t.add_argument("--oos-encoding", help="text encoding of --oos and --oos-train")
    t.add_argument("--oos-topic-column", help="topic column of --oos-train: one out-of-scope "
                                              "class per topic")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key, e.g. --set oos.target_acceptance=0.9 (repeatable)")
    t.add_argument("--name", help="registry name (default: the output directory's name)")
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="accuracy, OOS recall/precision, retrieval MRR; writes a report")
    e.add_argument("bot_dir")
    e.add_argument("--data", required=True, help="labelled in-scope test messages")
    e.add_argument("--oos-data", help="out-of-scope test messages")
    e.add_argument("--faq-queries", help="CSV of (query, faq_id) pairs")
    e.add_argument("--text-column", help="default: the bot's intent.text_column")
    e.add_argument("--intent-column", help="default: the bot's intent.label_column")
    e.add_argument("--oos-text-column", help="default: the bot's oos.text_column")
    e.add_argument("--query-column", default="query")
    e.add_argument("--faq-id-column", default="faq_id")
    e.add_argument("--encoding", help="text encoding of the data files")
    e.add_argument("--output", help="report directory (default BOT_DIR/reports/evaluate)")
    e.set_defaults(func=_evaluate)

    h = sub.add_parser("handoffs", help="list the conversations handed off to an agent")
    h.add_argument("bot_dir")
    h.add_argument("--all", action="store_true", help="also the handled ones (status done)")
    h.add_argument("--json", action="store_true", help="print the queue as JSON")
    h.set_defaults(func=_handoffs)

    c = sub.add_parser("chat", help="talk to a bot in the terminal (/help for the feedback "
                                    "commands, quit/EOF to leave)")
    c.add_argument("bot_dir")
    c.add_argument("--conversation", help="continue this conversation id")
    c.set_defaults(func=_chat)

    d = sub.add_parser("demo", help="the Gradio demo of a bot")
    d.add_argument("bot_dir")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=7860)
    d.set_defaults(func=_demo)

    r = sub.add_parser("retrain", help="learn from corrected/helpful logged turns into a new version")
    r.add_argument("bot_dir")
    r.add_argument("--output", required=True, help="new bot directory (must not exist)")
    r.add_argument("--replay-ratio", type=float, default=None,
                   help="replayed old examples per new example (default: the whole replay buffer)")
    r.add_argument("--name", help="registry name (default: the source bot's name)")
    r.set_defaults(func=_retrain)
    sv = sub.add_parser("serve", help="serve the bot over REST: POST /v1/reply, /v1/feedback "
                                      "(FastAPI + uvicorn; loopback by default)")
    sv.add_argument("bot_dir")
    _add_serve_options(sv)
    sv.set_defaults(func=_serve)
    for command in (t, e, r):
        command.add_argument("--json", action="store_true",
                             help="print only the JSON result (no summary on stderr)")
    for command in (t, e, c, d, r, h, sv):
        command.add_argument("--registry", default=None,
                             help="SQLAlchemy URL of the model registry (default: env "
                                  "DOMAINTUNE_REGISTRY, else the domaintune default, "
                                  "models/registry.db under the working directory)")
    for command in (e, c, d, r, h, sv):
        command.description = ("BOT_DIR is a bot directory or the name of a registered bot "
                               "(its production version is used)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``support-bot`` console script."""
    from domaintune.cli import run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

"""The ``support-bot`` command's own behaviour: advice in errors names its flags, chat's
feedback commands, the handoff queue, readable summaries. No model is trained here: every error
comes from the data, before training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_csv

from domaintune import DataError
from support_bot import BotConfig, SupportBot
from support_bot.cli import chat_command, evaluate_summary, main, train_summary

INTENT_ROWS = [(f"message {i} about {intent}", intent)
               for intent in ("refund", "card", "login") for i in range(6)]
FAQ_ROWS = [("faq-1", "Where is my refund?", "In 5 days.", "refund"),
            ("faq-2", "Lost card?", "Freeze it.", "card")]


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    return {
        "intents": write_csv(tmp_path / "intents.csv", ["text", "intent"], INTENT_ROWS),
        "faq": write_csv(tmp_path / "faq.csv", ["id", "question", "answer", "intent"], FAQ_ROWS),
        "oos": write_csv(tmp_path / "oos.csv", ["text"], [("weather",), ("football",)]),
    }


def train_error(capsys, tmp_path, files, *extra: str, **replace: Path) -> str:
    paths = {**files, **replace}
    code = main(["train", "--intents", str(paths["intents"]), "--faq", str(paths["faq"]),
                 "--oos", str(paths["oos"]), "--output", str(tmp_path / "bot"), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    return err


def test_train_missing_text_column_suggests_the_flag_and_never_the_intent_column(
        capsys, tmp_path, files):
    body = write_csv(tmp_path / "body.csv", ["body", "intent"], INTENT_ROWS)
    err = train_error(capsys, tmp_path, files, intents=body)
    assert "found ['body', 'intent']; pass `--text-column body`" in err
    assert "text='" not in err and "--text-column intent" not in err


def test_train_missing_intent_column_suggests_intent_column(capsys, tmp_path, files):
    labelled = write_csv(tmp_path / "labelled.csv", ["text", "label"], INTENT_ROWS)
    err = train_error(capsys, tmp_path, files, intents=labelled)
    assert "pass `--intent-column label`" in err and "label=" not in err
    # and the suggestion works: the same file is read with the flag (fails later, on the FAQ)
    bad_faq = write_csv(tmp_path / "faq2.csv", ["id", "q", "answer", "intent"], FAQ_ROWS)
    err = train_error(capsys, tmp_path, files, "--intent-column", "label", intents=labelled,
                      faq=bad_faq)
    assert "expected FAQ columns" in err


def test_train_wrong_encoding_suggests_intents_encoding(capsys, tmp_path, files):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"text,intent\n" + "café refund,refund\n".encode("latin-1") * 3)
    err = train_error(capsys, tmp_path, files, intents=latin)
    assert "`--intents-encoding latin-1`" in err and "encoding=" not in err
    assert "--encoding " not in err  # train has no --encoding


def test_train_oos_file_advice_names_the_oos_flags(capsys, tmp_path, files):
    oos = write_csv(tmp_path / "oos2.csv", ["message"], [("weather",)])
    err = train_error(capsys, tmp_path, files, oos=oos)
    assert "pass `--oos-text-column message`" in err


def test_train_faq_advice_names_the_faq_flags_and_not_taken_columns(capsys, tmp_path, files):
    faq = write_csv(tmp_path / "faq3.csv", ["id", "q", "answer", "intent"], FAQ_ROWS)
    err = train_error(capsys, tmp_path, files, faq=faq)
    assert "pass `--faq-question-column q`" in err
    faq = write_csv(tmp_path / "faq4.csv", ["key", "question", "answer", "intent"], FAQ_ROWS)
    err = train_error(capsys, tmp_path, files, faq=faq)
    assert "`--faq-id-column key`" in err and "--faq-id-column question" not in err


def test_train_split_error_does_not_suggest_an_option_train_lacks(capsys, tmp_path, files):
    rows = INTENT_ROWS + [("a lonely message", "rare")]
    lonely = write_csv(tmp_path / "lonely.csv", ["text", "intent"], rows)
    err = train_error(capsys, tmp_path, files, intents=lonely)
    assert "['rare'] has a single example" in err and "stratify=" not in err
    assert err.rstrip().endswith("add examples, remove the class")


def test_python_api_advice_names_the_config_keys(tmp_path, files):
    labelled = write_csv(tmp_path / "labelled.csv", ["text", "label"], INTENT_ROWS)
    cfg = BotConfig(intents_file=str(labelled), faq_file=str(files["faq"]))
    with pytest.raises(DataError, match=r"pass `intent.label_column='label'`"):
        SupportBot.train(cfg, tmp_path / "bot")


class FakeBot:
    intents = ["refund", "card_lost"]

    def __init__(self):
        self.calls = []

    def feedback(self, turn_id, **kw):
        self.calls.append((turn_id, kw))


def test_chat_commands_give_feedback_on_the_last_turn():
    bot = FakeBot()
    assert "send a message first" in chat_command(bot, "/helpful", None)
    assert chat_command(bot, "/helpful", 4) == "saved: turn 4 was helpful"
    assert chat_command(bot, "/unhelpful", 4) == "saved: turn 4 was not helpful"
    assert chat_command(bot, "/intent card_lost", 4) == "saved: turn 4 should have been 'card_lost'"
    assert bot.calls == [(4, {"helpful": True}), (4, {"helpful": False}),
                         (4, {"corrected_intent": "card_lost", "allow_new_intent": False})]
    unknown = chat_command(bot, "/intent card_lots", 4)
    assert "did you mean 'card_lost'" in unknown and "/intent card_lots --new" in unknown
    assert chat_command(bot, "/intent card_lots --new", 4).startswith("saved")
    assert bot.calls[-1] == (4, {"corrected_intent": "card_lots", "allow_new_intent": True})
    assert "usage: /intent NAME" in chat_command(bot, "/intent", 4)
    assert "/helpful" in chat_command(bot, "/help", None)
    assert chat_command(bot, "/intents", None) == "refund, card_lost"
    assert "unknown command '/foo'" in chat_command(bot, "/foo", 4)


def test_summaries_are_short_and_name_the_files():
    train = train_summary({
        "version": 1, "n_intent_train": 680, "intents": 20, "seconds": 12.5, "n_validation": 120,
        "validation": {"accuracy": 0.992, "macro_f1": 0.991},
        "oos": {"mode": "combiner", "in_scope_accuracy": 0.908, "oos_recall": 0.902},
        "n_oos_examples": 61, "faq": {"entries": 36, "vectors": 109}, "bot_dir": "models/bot",
        "registered": "bot v1 (candidate)", "worst_intents": [["refund", 0.8], ["card", 0.9]]})
    text = "\n".join(train)
    assert len(train) <= 7 and "worst intents on validation (F1): refund 0.80, card 0.90" in text and "accuracy 99.2%" in text and "OOS recall 90.2%" in text
    assert "saved to models/bot" in text
    ev = "\n".join(evaluate_summary({
        "n_in_scope": 100, "accuracy": 0.9, "macro_f1": 0.88, "in_scope_accuracy": 0.85,
        "n_oos": 20, "oos_recall": 0.8, "oos_precision": 0.7, "n_queries": 0,
        "worst_intents": [["refund", 0.5], ["card", 0.6]], "report_dir": "r"}))
    assert "macro-F1 0.880" in ev and "OOS recall 80.0%" in ev
    assert "worst intents (F1): refund 0.50, card 0.60" in ev and "in r" in ev

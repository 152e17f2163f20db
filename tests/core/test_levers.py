"""Training levers set where a run ignores them: one warning each, none where they are used."""

from __future__ import annotations

import logging

import pytest

from domaintune import TextClassifier, TrainingConfig
from domaintune.config import Method, Task
from domaintune.levers import ignored_levers
from domaintune.ner import TokenClassifier, TokenDataset

TEXT, TOKEN = Task.TEXT_CLASSIFICATION, Task.TOKEN_CLASSIFICATION
FULL, LORA, FROZEN, ZERO = Method.FULL, Method.LORA, Method.FROZEN, Method.ZERO_SHOT

# (lever settings, task, method, multi_label, continual, the key warned about, words of why)
IGNORED = [
    ({"rdrop_alpha": 0.5}, TEXT, FROZEN, False, False, "rdrop_alpha", "logistic regression"),
    ({"rdrop_alpha": 0.5}, TEXT, ZERO, False, False, "rdrop_alpha", "trains nothing"),
    ({"rdrop_alpha": 0.5}, TOKEN, FULL, False, False, "rdrop_alpha", "token classification"),
    ({"rdrop_alpha": 0.5}, TEXT, FULL, True, False, "rdrop_alpha", "multi-label"),
    ({"rdrop_alpha": 0.5}, TEXT, FROZEN, False, True, "rdrop_alpha", "logistic regression"),
    ({"average_checkpoints": 2}, TEXT, FROZEN, False, False, "average_checkpoints", "no epochs"),
    ({"average_checkpoints": 2}, TEXT, ZERO, False, False, "average_checkpoints", "no epochs"),
    ({"layer_decay": 0.8}, TEXT, FROZEN, False, False, "layer_decay", "frozen embeddings"),
    ({"layer_decay": 0.8}, TOKEN, FROZEN, False, False, "layer_decay", "only the tagging head"),
    ({"distill_weight": 1.0}, TEXT, FULL, False, False, "distill_weight", "continual updates only"),
    ({"distill_weight": 1.0}, TOKEN, FULL, False, False, "distill_weight", "continual updates only"),
    ({"distill_weight": 1.0}, TEXT, FROZEN, False, True, "distill_weight", "frozen method"),
    ({"distill_temperature": 3.0, "distill_weight": 0}, TEXT, FULL, False, True, "distill_temperature", "distill_weight=0"),
    ({"distill_temperature": 3.0}, TEXT, LORA, False, True, "distill_temperature", "auto outside"),
    ({"distill_temperature": 3.0}, TEXT, FULL, False, False, "distill_temperature", "distill_weight=0"),
    ({"replay_balance": "class"}, TEXT, FULL, False, False, "replay_balance", "continual update"),
    ({"replay_balance": "class"}, TOKEN, FULL, False, False, "replay_balance", "continual update"),
    ({"ner_context": 8}, TEXT, FROZEN, False, False, "ner_context", "text classification"),
    ({"ner_context": 8}, TEXT, FULL, False, True, "ner_context", "text classification"),
    ({"contrastive_epochs": 1.0}, TOKEN, FULL, False, False, "contrastive_epochs", "text classification only"),
    ({"contrastive_epochs": 1.0}, TEXT, ZERO, False, False, "contrastive_epochs", "trains nothing"),
    ({"contrastive_epochs": 1.0}, TEXT, FULL, False, True, "contrastive_epochs", "by an update"),
]

# (lever settings, task, method, multi_label, continual): every lever is read there
USED = [
    ({"rdrop_alpha": 0.5}, TEXT, FULL, False, False),
    ({"rdrop_alpha": 0.5}, TEXT, LORA, False, True),
    ({"average_checkpoints": 2}, TEXT, FULL, True, False),
    ({"average_checkpoints": 2}, TEXT, LORA, False, True),
    ({"average_checkpoints": 2}, TOKEN, FROZEN, False, False),  # NER's frozen trains its head
    ({"layer_decay": 0.8}, TEXT, FULL, False, False),
    ({"layer_decay": 0.8}, TEXT, LORA, False, True),
    ({"layer_decay": 0.8}, TOKEN, FULL, False, False),
    ({"layer_decay": 0.8}, TOKEN, LORA, False, False),
    ({"distill_weight": 1.0, "distill_temperature": 3.0}, TEXT, FULL, False, True),
    ({"distill_weight": 1.0}, TEXT, LORA, True, True),
    ({"distill_temperature": 3.0}, TEXT, FULL, False, True),  # auto distillation in a full update
    ({"replay_balance": "class"}, TEXT, FULL, False, True),
    ({"replay_balance": "class"}, TEXT, FROZEN, False, True),  # balanced class weights
    ({"ner_word_shapes": True, "ner_context": 8}, TOKEN, FULL, False, False),
    ({"ner_word_shapes": True, "ner_context": 8}, TOKEN, FROZEN, False, False),
    ({"contrastive_epochs": 1.0}, TEXT, FROZEN, False, False),
    ({"contrastive_epochs": 1.0}, TEXT, FULL, True, False),
]


@pytest.mark.parametrize(("levers", "task", "method", "multi", "continual", "key", "why"), IGNORED)
def test_a_lever_set_where_it_is_ignored_is_named_with_why(levers, task, method, multi,
                                                           continual, key, why):
    found = ignored_levers(TrainingConfig(**levers), task=task, method=method,
                           multi_label=multi, continual=continual)
    assert [k for k, _ in found] == [key]
    message = found[0][1]
    assert message.startswith(f"{key} is ignored") and why in message
    assert f"this config sets {key}=" in message
    assert "remove it" in message or "use method" in message or "instead" in message


@pytest.mark.parametrize(("levers", "task", "method", "multi", "continual"), USED)
def test_a_lever_set_where_it_is_used_is_not_warned_about(levers, task, method, multi,
                                                          continual):
    assert ignored_levers(TrainingConfig(**levers), task=task, method=method, multi_label=multi,
                          continual=continual) == []


@pytest.mark.parametrize("task", [TEXT, TOKEN])
@pytest.mark.parametrize("method", [FULL, LORA, FROZEN, ZERO])
@pytest.mark.parametrize("continual", [False, True])
def test_the_default_config_warns_nowhere(task, method, continual):
    assert ignored_levers(TrainingConfig(), task=task, method=method, continual=continual) == []


@pytest.mark.parametrize("levers", [{"distill_weight": 1.0}, {"distill_temperature": 3.0},
                                    {"replay_balance": "class"}])
def test_update_only_levers_on_ner_say_there_is_no_update(levers):
    # NER has no continual update: "set it in the update's config" would be advice that
    # cannot be followed
    [(key, message)] = ignored_levers(TrainingConfig(**levers), task=TOKEN, method=FULL)
    assert "token classification has no continual update; remove it" in message
    assert "instead" not in message and "continual update (" not in message


def test_the_warning_shows_the_plain_value_and_layer_decay_one_is_off():
    [(_, message)] = ignored_levers(TrainingConfig(replay_balance="class"), task=TEXT, method=FULL)
    assert message.endswith("(this config sets replay_balance='class')")
    assert ignored_levers(TrainingConfig(layer_decay=1.0), task=TEXT, method=FROZEN) == []


def test_skip_leaves_a_key_out():
    cfg = TrainingConfig(contrastive_epochs=1.0, distill_weight=1.0)
    found = ignored_levers(cfg, task=TEXT, method=FULL, skip=["contrastive_epochs"])
    assert [k for k, _ in found] == ["distill_weight"]


def lever_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "domaintune.levers" and r.levelno == logging.WARNING]


def test_text_fit_warns_once_per_ignored_lever(tiny_model, tickets, caplog):
    cfg = TrainingConfig(method="frozen", progress=False, rdrop_alpha=1.0, ner_context=4,
                         replay_balance="class", distill_weight=1.0)
    clf = TextClassifier.from_pretrained(tiny_model, labels=tickets.label_names)
    clf.fit(tickets, None, cfg)
    warned = lever_warnings(caplog)
    assert len(warned) == 4
    for key in ("rdrop_alpha", "ner_context", "replay_balance", "distill_weight"):
        assert sum(m.startswith(f"{key} is ignored") for m in warned) == 1
    assert clf.predict(tickets.texts[:2])  # training went on
    caplog.clear()
    TextClassifier.from_pretrained(tiny_model, labels=tickets.label_names).fit(
        tickets, None, TrainingConfig(method="frozen", progress=False, contrastive_epochs=0.5,
                                      batch_size=8))
    assert lever_warnings(caplog) == []


def test_ner_fit_warns_about_text_only_levers(tiny_model_dir, caplog):
    data = TokenDataset([["Alice", "lost", "her", "card", "in", "Paris"]],
                        [["B-PER", "O", "O", "O", "O", "B-LOC"]])
    ner = TokenClassifier.from_pretrained(str(tiny_model_dir), labels=data.entity_types,
                                          device="cpu")
    ner.fit(data, None, TrainingConfig(method="frozen", epochs=1, progress=False, device="cpu",
                                       rdrop_alpha=1.0, contrastive_epochs=1.0,
                                       ner_context=4, average_checkpoints=2))
    warned = lever_warnings(caplog)
    assert sorted(m.split(" ", 1)[0] for m in warned) == ["contrastive_epochs", "rdrop_alpha"]

"""Continual-learning levers: learning-without-forgetting distillation, class-balanced replay."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import quick_config

from domaintune import ConfigError, TextClassifier, TextDataset, TrainingConfig
from domaintune.continual import update
from domaintune.training import class_balanced_sampler, distillation_loss, encode

# fixtures (tests/conftest.py): old_classifier (frozen, 3 labels of the toy tickets; replay
# buffer 3 per label, holdout 6) and greetings (8 rows of a 4th label, the update's data)


def update_config(**levers) -> TrainingConfig:
    return quick_config(**{"epochs": 4, "batch_size": 4, "learning_rate": 3e-3, **levers})


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("distill_weight", -0.1, "a number >= 0"),
    ("distill_temperature", 0.0, "a positive number"),
    ("replay_balance", "oversample", "'none', 'class'"),
])
def test_levers_are_validated(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        TrainingConfig(**{key: value})


def test_levers_default_to_auto_and_round_trip():
    cfg = TrainingConfig()
    assert (cfg.distill_weight, cfg.replay_balance) == (None, None)  # auto
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    saved = TrainingConfig(distill_weight=1.0, distill_temperature=3.0, replay_balance="class")
    assert TrainingConfig.from_dict(saved.to_dict()) == saved
    off = TrainingConfig.from_dict({"distill_weight": 0, "replay_balance": "none"})
    assert (off.distill_weight, off.replay_balance.value) == (0.0, "none")


@pytest.mark.parametrize(("method", "weight", "balance"), [
    ("full", 1.0, "class"), ("lora", 0.0, "none"), ("frozen", 0.0, "none")])
def test_auto_levers_are_on_for_full_updates_only(old_classifier, greetings, method, weight,
                                                  balance, caplog):
    """The default config's auto levers: LwF (1.0) and a class-balanced buffer in a `full`
    update (issue 13's measured gain), off for `lora` (not measured) and `frozen`."""
    cfg = (TrainingConfig(method="frozen", head_c=100.0, progress=False) if method == "frozen"
           else update_config(method=method, epochs=1))
    assert (cfg.distill_weight, cfg.replay_balance) == (None, None)
    report = update(old_classifier, greetings, cfg, validation_split=0, replay_ratio=0.5)
    assert (report.distill_weight, report.replay_balance) == (weight, balance)
    # balancing replays the whole buffer (9); otherwise replay_ratio 0.5 x 8 new = 4
    assert report.n_replay == (9 if balance == "class" else 4 if method != "frozen" else 9)
    assert "is ignored" not in caplog.text  # the defaults warn about nothing


def test_explicit_off_turns_the_auto_levers_off(old_classifier, greetings):
    report = update(old_classifier, greetings,
                    update_config(epochs=1, distill_weight=0, replay_balance="none"),
                    validation_split=0, replay_ratio=0.5)
    assert (report.distill_weight, report.replay_balance, report.n_replay) == (0.0, "none", 4)


def test_class_balanced_sampler_draws_every_class_equally():
    groups = np.array([0] * 10 + [1] * 2 + [2] * 6)  # 18 items, 3 groups: 6 per group
    draw = class_balanced_sampler(groups)
    rng = np.random.default_rng(0)
    seen_big = set()
    for _ in range(5):
        items = draw(rng)
        assert len(items) == 18
        assert np.bincount(groups[items]).tolist() == [6, 6, 6]
        big = items[groups[items] == 0]
        assert len(set(big.tolist())) == 6  # subsampled without repeats
        assert set(items[groups[items] == 1].tolist()) == {10, 11}  # all small-group items
        seen_big |= set(big.tolist())
    assert len(seen_big) > 6  # a fresh subset each epoch


def test_distillation_loss_is_zero_only_at_the_teacher():
    teacher = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    student = torch.cat([teacher, torch.randn(2, 2)], dim=1)  # two new labels: not distilled
    for multi in (False, True):
        assert distillation_loss(student, teacher, 2.0, multi).item() == pytest.approx(0, abs=1e-6)
        moved = student.clone()
        moved[:, 0] += 1.0
        assert distillation_loss(moved, teacher, 2.0, multi).item() > 1e-3


def test_distillation_keeps_old_logits_closer(old_classifier, greetings, tmp_path):
    """The same update with and without LwF: the distilled model's old-label predictions on the
    replay buffer stay closer to the model's before the update."""
    drift = {}
    for weight in (0.0, 5.0):
        clf = TextClassifier.load(old_classifier.save(tmp_path / f"m{weight:g}"))
        texts = clf.replay.texts
        before = torch.softmax(torch.as_tensor(clf._logits(texts)), -1)
        report = update(clf, greetings, update_config(distill_weight=weight), validation_split=0)
        after = torch.softmax(torch.as_tensor(clf._logits(texts))[:, :3], -1)
        drift[weight] = (after - before).abs().sum(1).mean().item()
        assert report.distill_weight == weight
        assert clf.metrics["updates"][-1]["distill_weight"] == weight
    assert drift[5.0] < drift[0.0]


def test_distillation_computes_old_logits_once(old_classifier, greetings, monkeypatch):
    clf = old_classifier
    calls = []
    original = clf._logits
    monkeypatch.setattr(clf, "_logits", lambda texts, *a, **k: calls.append(len(texts)) or original(texts, *a, **k))
    report = update(clf, greetings, update_config(distill_weight=1.0, epochs=1,
                                                  replay_balance="none"), validation_split=0)
    # one teacher pass over the 16 training examples (8 new + 8 replayed); the other calls
    # score the 6 holdout examples (before and after the update)
    assert report.n_new + report.n_replay == 16 and calls.count(16) == 1


def test_class_balanced_update_replays_the_whole_buffer(old_classifier, greetings):
    clf = old_classifier  # buffer: 3 per old label (9); new: 8 greetings
    report = update(clf, greetings, update_config(replay_balance="class"), validation_split=0,
                    replay_ratio=0.5)
    assert report.n_replay == 9  # replay_ratio is not applied when balancing
    assert report.n_trained == 4 * round(17 / 4)  # 4 labels x the mean count per label
    assert report.replay_balance == "class"
    assert "greeting" in clf.labels
    # the schedule is as long as the balanced epochs (16 items: 4 steps of 4, not the 5 steps
    # of the 17 unbalanced ones): the learning rate has decayed to 0 at the last step
    epochs = [h for h in clf.history if h.get("epoch", 0) >= 1]
    assert [h["step"] for h in epochs] == [4, 8, 12, 16]
    assert epochs[-1]["learning_rate"] == pytest.approx(0.0, abs=1e-12)


def test_teacher_scores_the_inputs_the_student_trains_on(old_classifier, tmp_path, monkeypatch):
    """LwF's old logits come from the update's max_length (what the student reads), not the
    model's own (128 here): for texts longer than 8 tokens the two differ."""
    import domaintune.continual as continual

    clf = old_classifier
    long = TextDataset(texts=[f"hello hi thanks thank you bye goodbye {w} hello hi thanks"
                              for w in ("a", "the", "my", "me", "please", "help", "how", "new")],
                       labels=["greeting"] * 8)
    old = TextClassifier.load(clf.save(tmp_path / "old"))
    seen = {}
    real = continual.train_loop

    def spy(model, tokenizer, texts, targets, cfg, **kwargs):
        seen.update(texts=list(texts), teacher=kwargs["teacher_logits"], max_length=cfg.max_length)
        return real(model, tokenizer, texts, targets, cfg, **kwargs)

    monkeypatch.setattr(continual, "train_loop", spy)
    update(clf, long, update_config(distill_weight=1.0, epochs=1, max_length=8), validation_split=0)
    assert old.max_length == 128 and seen["max_length"] == 8
    at_update = encode(old.model, old.tokenizer, seen["texts"], max_length=8, device=old.device,
                       head=True)
    at_model = old._logits(seen["texts"])
    assert not np.allclose(at_update, at_model, atol=1e-3)  # the length matters for these texts
    np.testing.assert_allclose(seen["teacher"], at_update, atol=1e-5)


def test_update_warns_about_a_contrastive_stage_it_does_not_run(old_classifier, greetings, caplog):
    clf = old_classifier
    saved = clf.training_config
    cfg = dataclasses.replace(saved, contrastive_epochs=1.0)
    update(clf, greetings, cfg, validation_split=0)
    assert caplog.text.count("contrastive_epochs is ignored by an update") == 1
    caplog.clear()
    # inherited from the model's own config (domaintune update starts from it): no warning
    clf.training_config = cfg
    update(clf, greetings, dataclasses.replace(cfg), validation_split=0)
    assert "contrastive_epochs" not in caplog.text


def test_frozen_update_ignores_distillation_with_a_warning(old_classifier, greetings, caplog):
    clf = old_classifier
    cfg = TrainingConfig(method="frozen", head_c=100.0, progress=False, distill_weight=1.0)
    report = update(clf, greetings, cfg, validation_split=0)
    assert "distill_weight is ignored by the frozen method" in caplog.text
    assert report.distill_weight == 0.0

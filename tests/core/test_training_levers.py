"""Fine-tuning levers of the text classifier: R-Drop and checkpoint averaging."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import quick_config

import domaintune.training as training
from domaintune import ConfigError, TextClassifier, TrainingConfig
from domaintune.training import average_state_dicts, run_epochs, symmetric_kl

# fixtures (tests/conftest.py): tickets (the toy CSV: 4 labels x 8 rows)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("rdrop_alpha", -1.0, "a number >= 0"),
    ("average_checkpoints", 1, "0 \\(off\\) or an integer >= 2"),
    ("average_checkpoints", -2, "0 \\(off\\) or an integer >= 2"),
])
def test_levers_are_validated(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        TrainingConfig(**{key: value})


def test_levers_are_off_by_default():
    assert (TrainingConfig().rdrop_alpha, TrainingConfig().average_checkpoints) == (0.0, 0)


def test_symmetric_kl():
    a = torch.tensor([[1.0, 0.0, -1.0]])
    assert symmetric_kl(a, a).item() == pytest.approx(0.0, abs=1e-7)
    b = torch.tensor([[0.0, 1.0, 0.0]])
    assert symmetric_kl(a, b).item() == pytest.approx(symmetric_kl(b, a).item()) and symmetric_kl(a, b) > 0


def count_forwards(clf) -> list[int]:
    calls: list[int] = []
    clf.model.head.register_forward_hook(lambda mod, inp, out: calls.append(int(mod.training)))
    return calls


def test_rdrop_runs_two_dropout_passes(tiny_model, tickets, caplog):
    data = tickets  # 32 rows: 4 batches of 8
    plain = TextClassifier.from_pretrained(tiny_model, labels=data.label_names)
    calls = count_forwards(plain)
    plain.fit(data, None, quick_config())
    rdrop = TextClassifier.from_pretrained(tiny_model, labels=data.label_names)
    calls_rdrop = count_forwards(rdrop)
    rdrop.fit(data, None, quick_config(rdrop_alpha=1.0))
    assert sum(calls) == 8 and sum(calls_rdrop) == 16  # training-mode head passes
    assert rdrop.history[-1]["train_loss"] != plain.history[-1]["train_loss"]
    assert rdrop.predict_proba(data.texts).shape == (32, 4)
    assert "rdrop_alpha" not in caplog.text  # used here: no "ignored" warning


def linear_run(cfg, validate=None, scores=None, device="cpu", **loop):
    """A 1-parameter regression trained by run_epochs; returns (model, weights after each epoch)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1, bias=False).to(device)
    x = torch.linspace(-1, 1, 16, device=device).unsqueeze(1)
    y = 3 * x
    seen: list[float] = []

    def batch_loss(batch):
        return torch.nn.functional.mse_loss(model(x[batch]), y[batch]), len(batch)

    def record():
        seen.append(model.weight.item())
        return {"loss": float(scores.pop(0)) if scores else 0.0}

    history = run_epochs(model, cfg, lengths=[1] * 16, batch_loss=batch_loss,
                         is_head=lambda name: False,
                         validate=record if validate else None, **loop)
    return model, seen, history


def test_average_checkpoints_without_validation_averages_the_last_epochs():
    cfg = quick_config(epochs=4, batch_size=4, learning_rate=0.05, warmup_ratio=0.0,
                       metric_for_best_model="loss")
    model, _, _ = linear_run(cfg)
    final_plain = model.weight.item()
    # the same run with an epoch-end log: the average of epochs 3 and 4
    _, seen, _ = linear_run(cfg, validate=True, scores=[0.0] * 5)
    assert seen[3] == pytest.approx(final_plain)
    averaged, _, history = linear_run(quick_config(epochs=4, batch_size=4, learning_rate=0.05,
                                                   warmup_ratio=0.0, average_checkpoints=2))
    assert averaged.weight.item() == pytest.approx((seen[2] + seen[3]) / 2, rel=1e-6)
    assert history[-1] == {"averaged_epochs": 2}


def test_average_checkpoints_kept_only_when_validation_is_not_worse():
    cfg = quick_config(epochs=3, batch_size=4, learning_rate=0.05, warmup_ratio=0.0,
                       average_checkpoints=3, metric_for_best_model="loss")
    # val losses: epochs 0.5, 0.4, 0.3, the average 0.35 -> worse than epoch 3: epoch 3 is kept
    model, seen, history = linear_run(cfg, validate=True, scores=[0.5, 0.4, 0.3, 0.35])
    assert history[-2]["averaged_kept"] is False and history[-1] == {"best_epoch": 3}
    assert model.weight.item() == pytest.approx(seen[2])
    # the average 0.2 -> better: it is kept
    model, seen, history = linear_run(cfg, validate=True, scores=[0.5, 0.4, 0.3, 0.2])
    assert history[-1]["averaged_kept"] is True
    assert model.weight.item() == pytest.approx(np.mean(seen[:3]), rel=1e-6)


def test_average_state_dicts_keeps_integer_buffers():
    states = [{"w": torch.tensor([1.0, 3.0]), "ids": torch.tensor([1, 2])},
              {"w": torch.tensor([3.0, 5.0]), "ids": torch.tensor([1, 2])}]
    out = average_state_dicts(states)
    assert out["w"].tolist() == [2.0, 4.0] and out["ids"].dtype == torch.int64


def test_fit_with_average_checkpoints_and_validation(tiny_model, tickets):
    data = tickets
    clf = TextClassifier.from_pretrained(tiny_model, labels=data.label_names)
    clf.fit(data, data, quick_config(epochs=3, average_checkpoints=2))
    averaged = [h for h in clf.history if "averaged_epochs" in h]
    assert averaged and averaged[0]["averaged_epochs"] == 2 and "val_macro_f1" in averaged[0]


def snapshots_seen(monkeypatch) -> list:
    """The weight snapshots run_epochs hands to average_state_dicts."""
    seen: list = []
    real = training.average_state_dicts
    monkeypatch.setattr(training, "average_state_dicts",
                        lambda states: seen.extend(states) or real(states))
    return seen


def test_average_checkpoints_snapshots_are_cpu_copies(monkeypatch):
    seen = snapshots_seen(monkeypatch)
    model, _, _ = linear_run(quick_config(epochs=3, batch_size=4, learning_rate=0.05,
                                          warmup_ratio=0.0, average_checkpoints=3))
    assert len(seen) == 3 and all(t.device.type == "cpu" for s in seen for t in s.values())
    assert seen[-1]["weight"].data_ptr() != model.weight.data_ptr()  # copies, not the weights
    assert model.weight.item() == pytest.approx(np.mean([s["weight"].item() for s in seen]), rel=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_average_checkpoints_keep_snapshots_off_the_gpu(monkeypatch):
    seen = snapshots_seen(monkeypatch)
    cfg = quick_config(epochs=3, batch_size=4, learning_rate=0.05, warmup_ratio=0.0,
                       average_checkpoints=3)
    model, _, _ = linear_run(cfg, device="cuda")
    assert all(t.device.type == "cpu" for s in seen for t in s.values())
    assert model.weight.device.type == "cuda"  # the average is loaded back onto the device
    assert model.weight.item() == pytest.approx(np.mean([s["weight"].item() for s in seen]), rel=1e-6)


def test_sampler_epoch_size_sets_the_schedule_length():
    """A sampler drawing 12 of the 16 items: 3 steps per epoch of 4, and the linear decay ends
    (learning rate 0) at the last of the 6 steps of 2 epochs, not 2 steps before the 8 that
    16 items would give."""
    def sampler(rng):
        return rng.permutation(16)[:12]

    cfg = quick_config(epochs=2, batch_size=4, learning_rate=0.05, warmup_ratio=0.0)
    _, _, history = linear_run(cfg, sampler=sampler, epoch_size=12)
    assert [h["step"] for h in history] == [3, 6]
    assert history[-1]["learning_rate"] == pytest.approx(0.0, abs=1e-12)
    _, _, unsized = linear_run(cfg, sampler=sampler)  # epoch_size left out: counted as 16 items
    assert unsized[-1]["learning_rate"] > 0

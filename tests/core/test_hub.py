"""Model resolution is offline-first and fails fast with one clear sentence."""

from __future__ import annotations

import pytest

from domaintune import ModelLoadError, resolve_model
from domaintune.hub import packaged_model_dir


def test_default_resolves_to_packaged_minilm():
    path = resolve_model("default")
    assert path == packaged_model_dir()
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_local_directory_is_used(tiny_model):
    assert str(resolve_model(tiny_model)) == tiny_model


def test_missing_local_path(tmp_path):
    with pytest.raises(ModelLoadError, match=r"does not exist; pass an existing local directory"):
        resolve_model(str(tmp_path / "nothing-here"))


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match=r"expected a model directory with config.json"):
        resolve_model(str(tmp_path))


def test_uncached_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"cannot load 'some-org/not-cached-model': it is not "
                                             r"in the local Hugging Face cache.*model='default'"):
        resolve_model("some-org/not-cached-model")


def test_uncached_hub_id_unreachable_network_fails_fast(monkeypatch):
    import domaintune.hub as hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_hub_reachable", lambda endpoint: False)
    with pytest.raises(ModelLoadError, match="unreachable"):
        resolve_model("bert-base-uncased-not-cached")

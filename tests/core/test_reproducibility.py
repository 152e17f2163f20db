"""A fit at a fixed seed ends at the same weights whatever the torch generator held before.

torch seeds its default generator differently in every process, and a fresh head is drawn when
the model is built, before ``fit`` seeds anything. Each test builds two models with the global
generator in two different states (what two processes see) and fits both at the same seed.
"""

from __future__ import annotations

import torch
from conftest import ner_sentences, quick_config

from domaintune import TextClassifier, TrainingConfig
from domaintune.ner import TokenClassifier, TokenDataset
from domaintune.ner import model as ner_model


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_text_classifier_fit_is_reproducible_across_generator_states(tiny_model, tickets):
    fitted = []
    for state in (1, 2):
        torch.manual_seed(state)  # another process: another generator state at construction
        clf = TextClassifier.from_pretrained(tiny_model, labels=tickets.label_names)
        fitted.append(clf.fit(tickets, None, quick_config(seed=7)))
    assert_same(weights(fitted[0].model), weights(fitted[1].model))
    # and the seed matters: another seed gives another model
    torch.manual_seed(1)
    other = TextClassifier.from_pretrained(tiny_model, labels=tickets.label_names)
    other.fit(tickets, None, quick_config(seed=8))
    assert not torch.equal(weights(other.model)["head.weight"], weights(fitted[0].model)["head.weight"])


def test_token_classifier_fit_is_reproducible_across_generator_states(tiny_model):
    sentences = ner_sentences(cased=False)
    data = TokenDataset([words for words, _ in sentences], [tags for _, tags in sentences])
    cfg = TrainingConfig(method="full", epochs=3, batch_size=3, learning_rate=5e-3,
                         early_stopping_patience=None, progress=False, seed=0)
    fitted = []
    for state in (1, 2):
        torch.manual_seed(state)
        ner = TokenClassifier.from_pretrained(tiny_model, labels=data.entity_types)
        fitted.append(ner.fit(data, None, cfg))
    assert_same(weights(fitted[0].model), weights(fitted[1].model))


def test_a_loaded_tag_layer_is_fine_tuned_from_not_redrawn(tiny_model, tmp_path, monkeypatch):
    """A base checkpoint that already carries a token-classification head for these tags, in
    this order (a hub NER model), keeps that head; a layer transformers drew anew, or one
    trained for other tags (another count, names or order), is redrawn."""
    from transformers import AutoModelForTokenClassification

    sentences = ner_sentences(cased=False)
    data = TokenDataset([words for words, _ in sentences], [tags for _, tags in sentences])
    fresh = TokenClassifier.from_pretrained(tiny_model, labels=data.entity_types)
    assert fresh.fresh_head  # the tiny encoder has no tag layer: transformers drew one
    tags = fresh.tags
    hub = AutoModelForTokenClassification.from_pretrained(
        tiny_model, num_labels=len(tags), id2label=dict(enumerate(tags)),
        label2id={t: i for i, t in enumerate(tags)})
    with torch.no_grad():
        hub.classifier.weight.fill_(0.25)  # a recognisable "trained" head
        hub.classifier.bias.fill_(-0.5)
    hub.save_pretrained(tmp_path / "hub-ner")
    fresh.tokenizer.save_pretrained(tmp_path / "hub-ner")

    ner = TokenClassifier.from_pretrained(str(tmp_path / "hub-ner"), labels=data.entity_types)
    assert not ner.fresh_head
    assert torch.all(ner._hf().classifier.weight == 0.25)  # the checkpoint's head was loaded
    assert torch.all(ner._hf().classifier.bias == -0.5)
    redrawn = []
    monkeypatch.setattr(ner_model, "redraw_linear_head", lambda head, **kw: redrawn.append(head))
    cfg = TrainingConfig(method="full", epochs=1, batch_size=3, learning_rate=1e-3,
                         early_stopping_patience=None, progress=False, seed=0)
    ner.fit(data, None, cfg)
    assert redrawn == [], "the loaded tag layer was redrawn at fit"
    assert not ner.fresh_head  # trained now
    # the untrained one is redrawn (the reproducible-fit path)
    fresh.fit(data, None, cfg)
    assert len(redrawn) == 1
    # a checkpoint whose tag layer has another tag count loads, with a new (fresh) layer
    other = TokenClassifier.from_pretrained(str(tmp_path / "hub-ner"), labels=["person"])
    assert other.fresh_head and other._hf().classifier.out_features == 3
    # same count, other order: the rows mean other tags, so the layer is fresh too
    reordered = TokenClassifier.from_pretrained(str(tmp_path / "hub-ner"),
                                                labels=list(reversed(data.entity_types)))
    assert len(reordered.tags) == len(tags) and reordered.tags != tags
    assert reordered.fresh_head

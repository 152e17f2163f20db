"""Token classification (NER) on the tiny random BERT: data, alignment, windows, metrics,
training, save/load and bad input."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import ner_sentences

from domaintune import ConfigError, DataError, ModelLoadError, NotFittedError, TrainingConfig
from domaintune.ner import (
    TokenClassifier,
    TokenDataset,
    bio_chunks,
    conll_to_spans,
    encode_windows,
    entity_metrics,
    first_subtoken_labels,
    load_ner_dataset,
    merge_windows,
    read_conll,
    repair_bio,
    spans_to_conll,
    write_conll,
    write_spans_jsonl,
)
from domaintune.ner.alignment import assign_owners, attach_labels, plan_windows

SENTENCES = ner_sentences(cased=False)  # tests/conftest.py, shared with test_ner_levers.py


def fast(method: str = "full", **kw) -> TrainingConfig:
    base = {"method": method, "epochs": 40, "batch_size": 3, "learning_rate": 5e-3,
            "warmup_ratio": 0.0, "early_stopping_patience": None, "progress": False, "seed": 0}
    base.update(kw)
    return TrainingConfig(**base)


@pytest.fixture(scope="module")
def three_sentences() -> TokenDataset:
    return TokenDataset([s for s, _ in SENTENCES], [t for _, t in SENTENCES])


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer):
    return tiny_tokenizer


@pytest.fixture(scope="module")
def fitted(tiny_model_dir, three_sentences) -> TokenClassifier:
    ner = TokenClassifier.from_pretrained(str(tiny_model_dir), labels=three_sentences.entity_types)
    return ner.fit(three_sentences, None, fast())


# ------------------------------------------------------------------------------ alignment
def test_first_subtoken_gets_the_label_split_word_and_specials_get_minus_100(tokenizer):
    words = ["refund", "xyzzy", "card"]  # 'xyzzy' is not in the tiny vocab: 5 character pieces
    enc = tokenizer(words, is_split_into_words=True)
    assert enc.tokens() == ["[CLS]", "refund", "x", "##y", "##z", "##z", "##y", "card", "[SEP]"]
    expected = [-100, 1, 2, -100, -100, -100, -100, 0, -100]
    assert first_subtoken_labels(enc.word_ids(), [1, 2, 0]) == expected
    (window,) = encode_windows(tokenizer, [words], max_length=32, stride=4)
    attach_labels([window], [[1, 2, 0]])
    assert window.input_ids == enc["input_ids"]
    assert window.labels == expected
    assert window.label_positions == {1: 0, 2: 1, 7: 2}


def test_word_without_subtokens_is_fed_as_unknown_and_still_predicted(tokenizer):
    (window,) = encode_windows(tokenizer, [["refund", "\u200b", "card"]], max_length=32, stride=4)
    assert tokenizer.convert_ids_to_tokens(window.input_ids) == ["[CLS]", "refund", "[UNK]", "card", "[SEP]"]
    assert sorted(window.label_positions.values()) == [0, 1, 2]


def test_plan_windows_overlap_and_a_word_longer_than_the_window():
    assert plan_windows([1, 1, 1, 1, 1, 1], budget=4, stride=2) == [(0, 4), (2, 6)]
    assert assign_owners([1, 1, 1, 1, 1, 1], [(0, 4), (2, 6)]) == [0, 0, 0, 1, 1, 1]
    # word 1 alone exceeds the budget: it gets its own window, and windows never cut a word
    assert plan_windows([2, 9, 2, 2], budget=5, stride=2) == [(0, 1), (1, 2), (2, 4)]
    with pytest.raises(ValueError, match="stride"):
        plan_windows([1, 1], budget=4, stride=4)


def test_long_text_is_windowed_not_truncated_and_every_word_predicted_once(tokenizer):
    vocab = ["refund", "xyzzy", "card", "paris", "money", "qq", "the", "abcdefg"]
    words = [vocab[i % len(vocab)] for i in range(70)]
    max_length, stride = 16, 4
    windows = encode_windows(tokenizer, [["hello"], words], max_length=max_length, stride=stride)
    long = [w for w in windows if w.sentence == 1]
    assert len(long) > 5 and all(len(w) <= max_length for w in windows)
    owned: list[int] = []
    for prev, win in zip(long, long[1:], strict=False):
        assert win.word_start < prev.word_end <= win.word_end  # consecutive windows overlap
        shared = sum(1 for w in win.word_ids if w is not None and w < prev.word_end)
        assert shared <= stride
    for win in long:
        inside = {w for w in win.word_ids if w is not None}
        assert inside == set(range(win.word_start, win.word_end))  # whole words only
        for pos, word in win.label_positions.items():
            assert win.word_ids[pos] == word and win.word_ids[pos - 1] != word  # first piece
        owned += win.label_positions.values()
    assert sorted(owned) == list(range(len(words)))  # every word exactly once
    # merging: each token scores its own word index, so each word must get back its own row
    n_tags = len(words)
    scores = []
    for win in windows:
        arr = np.zeros((len(win), n_tags), dtype=np.float32)
        for p, w in enumerate(win.word_ids):
            if w is not None and win.sentence == 1:
                arr[p, w] = 1.0 + win.word_start  # differs per window: reveals which one was used
        scores.append(arr)
    merged, filled = merge_windows(windows, scores, [1, len(words)], n_tags)
    assert filled[0].all() and filled[1].all()
    assert (merged[1].argmax(axis=1) == np.arange(len(words))).all()
    owner_start = {w: win.word_start for win in long for w in win.label_positions.values()}
    assert all(merged[1][w, w] == 1.0 + owner_start[w] for w in range(len(words)))


# ------------------------------------------------------------------------------ metrics
def test_entity_metrics_against_hand_computed_values():
    # 2 gold entities: PER right, LOC predicted as ORG -> 1 correct of 2 predicted, 2 gold
    m = entity_metrics([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    assert (m["entity_precision"], m["entity_recall"], m["entity_f1"]) == (0.5, 0.5, 0.5)
    assert m["per_type"]["PER"]["f1"] == 1.0
    assert m["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                                    "predicted": 0}
    assert m["per_type"]["ORG"]["support"] == 0 and m["per_type"]["ORG"]["predicted"] == 1
    assert m["macro_f1"] == pytest.approx(1 / 3)
    assert m["token_level_including_O"]["accuracy"] == 0.75
    assert (m["mode"], m["scheme"]) == ("strict", "IOB2")
    # a boundary error is a wrong entity (strict), though 2 of 3 tokens are right
    m = entity_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    assert m["entity_f1"] == 0.0 and m["token_level_including_O"]["accuracy"] == pytest.approx(2 / 3)
    # 3 gold, 2 predicted, both right: P = 1, R = 2/3, F1 = 0.8
    gold = [["B-LOC", "O", "B-PER"], ["B-LOC", "I-LOC"]]
    pred = [["B-LOC", "O", "O"], ["B-LOC", "I-LOC"]]
    m = entity_metrics(gold, pred)
    assert (m["entity_precision"], m["entity_recall"]) == (1.0, pytest.approx(2 / 3))
    assert m["entity_f1"] == pytest.approx(0.8)
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    assert m["entity_f1"] == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2))
    none = entity_metrics([["O", "O"]], [["O", "O"]])
    assert none["entity_f1"] == 0.0 and none["per_type"] == {}


# ------------------------------------------------------------------------------ data
def test_conll_reader_formats_docstart_columns_and_line_numbers(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\nAnn NNP B-NP B-PER\nlives VBZ B-VP O\n\t\n\n"
                    "Oslo\tB-LOC\nrocks\tO\n", encoding="utf-8")
    data = read_conll(path)
    assert data.tokens == [["Ann", "lives"], ["Oslo", "rocks"]]
    assert data.tags == [["B-PER", "O"], ["B-LOC", "O"]]
    assert data.lines == [3, 7] and data.entity_types == ["LOC", "PER"]
    assert data.tag_names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_bio_repair_warns_with_file_and_line_or_raises(tmp_path, caplog):
    path = tmp_path / "bad.conll"
    path.write_text("Ann\tB-PER\nin\tO\nNew\tI-LOC\nYork\tI-LOC\n\nOslo\tI-PER\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        data = read_conll(path)
    assert data.tags == [["B-PER", "O", "B-LOC", "I-LOC"], ["B-PER"]]
    assert [(r.line, r.found, r.replaced) for r in data.repairs] == [(3, "I-LOC", "B-LOC"),
                                                                     (6, "I-PER", "B-PER")]
    assert f"{path}: line 3: invalid BIO tag 'I-LOC'" in caplog.text
    assert "repaired 2 invalid BIO tags" in caplog.text and "2 tags repaired" in data.summary()
    with pytest.raises(DataError, match=r"bad\.conll: line 3: tag 'I-LOC' follows 'O'.*repair='warn'"):
        read_conll(path, repair="error")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="domaintune"):
        iob1 = read_conll(path, scheme="IOB1")  # valid IOB1: converted without warnings
    assert iob1.tags == data.tags and not iob1.repairs and not caplog.text
    assert repair_bio(["B-PER", "I-LOC"]) == (["B-PER", "B-LOC"], [1])


def test_spans_and_conll_convert_both_ways(tmp_path):
    text = "Ann moved to Paris.  Nice!"
    tokens, tags, offsets = spans_to_conll(text, [{"start": 0, "end": 3, "label": "PER"},
                                                  {"start": 13, "end": 18, "label": "LOC"}])
    assert tokens == ["Ann", "moved", "to", "Paris", ".", "Nice!"]
    assert tags == ["B-PER", "O", "O", "B-LOC", "O", "O"]
    assert conll_to_spans(tokens, tags, text=text, offsets=offsets)["entities"] == [
        {"start": 0, "end": 3, "label": "PER"}, {"start": 13, "end": 18, "label": "LOC"}]
    plain = conll_to_spans(["New", "York", "rocks"], ["B-LOC", "I-LOC", "O"])
    assert plain == {"text": "New York rocks", "entities": [{"start": 0, "end": 8, "label": "LOC"}]}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": text, "entities": [{"start": 13, "end": 18, "label": "LOC"}]})
                   + "\n", encoding="utf-8")
    data = load_ner_dataset(src)
    write_spans_jsonl(data, tmp_path / "out.jsonl")
    assert json.loads((tmp_path / "out.jsonl").read_text())["text"] == text  # original text kept
    write_conll(data, tmp_path / "out.conll")
    again = read_conll(tmp_path / "out.conll")
    assert again.tokens == data.tokens and again.tags == data.tags
    with pytest.raises(DataError, match="overlap"):
        spans_to_conll("New York", [{"start": 0, "end": 8, "label": "LOC"},
                                    {"start": 4, "end": 8, "label": "LOC"}])
    with pytest.raises(DataError, match=r"outside the text of 8 characters"):
        spans_to_conll("New York", [{"start": 4, "end": 20, "label": "LOC"}])


def test_bad_input_errors_name_file_and_line(tmp_path):
    empty = tmp_path / "empty.conll"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.conll is empty"):
        read_conll(empty)
    no_tag = tmp_path / "notag.conll"
    no_tag.write_text("Ann\tB-PER\nlives\n\nOslo\tB-LOC\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"notag\.conll: line 2 has no tag column"):
        read_conll(no_tag)
    spaced = tmp_path / "spaced.conll"
    spaced.write_text("New York\tB-LOC\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1 has a token with whitespace inside"):
        read_conll(spaced)
    bad_tag = tmp_path / "tag.conll"
    bad_tag.write_text("Ann\tPER\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: tag 'PER' is not BIO"):
        read_conll(bad_tag)
    zero = tmp_path / "zero.jsonl"
    zero.write_text('{"text": "Ann", "entities": []}\n{"text": "  ", "entities": []}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"zero\.jsonl: line 2: the text is empty, a sentence with zero tokens"):
        load_ner_dataset(zero)
    with pytest.raises(DataError, match=r"sentence at line 2 has zero tokens"):
        TokenDataset([["Ann"], []], [["B-PER"], []])
    latin = tmp_path / "latin.conll"
    latin.write_bytes("Zürich\tB-LOC\n".encode("latin-1"))
    with pytest.raises(DataError, match="encoding='latin-1'"):
        read_conll(latin)
    assert read_conll(latin, encoding="latin-1").tokens == [["Zürich"]]
    keys = tmp_path / "keys.jsonl"
    keys.write_text('{"text": "Ann", "ents": []}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"expected keys \['text', 'entities'\].*entities_key='ents'"):
        load_ner_dataset(keys)


# ------------------------------------------------------------------------------ model
def test_full_fine_tuning_fits_three_sentences(fitted, three_sentences):
    m = fitted.evaluate(three_sentences)
    assert m["entity_f1"] == 1.0 and m["macro_f1"] == 1.0
    assert m["token_level_including_O"]["accuracy"] == 1.0
    assert fitted.predict_tags(three_sentences.tokens) == three_sentences.tags
    epochs = [h for h in fitted.history if "train_loss" in h]
    assert len(epochs) == 40 and epochs[-1]["train_loss"] < epochs[0]["train_loss"]


def test_predict_returns_spans_with_character_offsets(fitted):
    text = "  alice   lost her card in paris "
    spans = fitted.predict(text)
    assert [(s["type"], s["text"], s["start"], s["end"]) for s in spans] == [
        ("PER", "alice", 2, 7), ("LOC", "paris", 27, 32)]
    assert all(0.0 < s["score"] <= 1.0 for s in spans)
    assert fitted.predict([text]) == [spans]
    with pytest.raises(DataError, match=r"expected non-empty texts to tag.*position 1"):
        fitted.predict([text, " "])  # as in data files: an empty text is an error, not []
    nul = text.replace("lost", "lo\x00t")  # control characters become spaces: offsets hold
    assert [(s["text"], s["start"]) for s in fitted.predict(nul)][0] == ("alice", 2)


def test_long_text_prediction_uses_windows(fitted, three_sentences):
    text = " ".join(" ".join(s) for s in three_sentences.tokens * 6) + " xyzzyxyzzyxyzzy \u200b end"
    words = text.split()
    saved = fitted.max_length, fitted.stride
    try:
        fitted.max_length, fitted.stride = 16, 4
        assert len(fitted._encode([words])) > 5
        tags = fitted.predict_tags(words)
        assert len(tags) == len(words)
        spans = fitted.predict(text)
    finally:
        fitted.max_length, fitted.stride = saved
    assert spans and all(text[s["start"] : s["end"]] == s["text"] for s in spans)
    assert [(s["type"], s["text"]) for s in spans] == [
        (kind, " ".join(words[a:b])) for kind, a, b in bio_chunks(tags)]


def test_save_load_gives_identical_predictions(fitted, three_sentences, tmp_path):
    path = fitted.save(tmp_path / "ner")
    meta = json.loads((path / "domaintune.json").read_text())
    assert meta["task"] == "token-classification" and meta["tags"] == fitted.tags
    assert (path / "model.safetensors").is_file() and (path / "training_config.json").is_file()
    assert not list(path.glob("*.bin")) and not list(path.glob("*.pkl"))
    loaded = TokenClassifier.load(path, device="cpu")
    texts = [" ".join(s) for s in three_sentences.tokens] + ["bob went to paris"]
    assert loaded.predict(texts) == fitted.predict(texts)
    a, _, _ = fitted._word_logits(three_sentences.tokens)
    b, _, _ = loaded._word_logits(three_sentences.tokens)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert loaded.training_config == fitted.training_config


def test_corrupt_or_incomplete_directories_raise_model_load_error(fitted, tmp_path):
    good = fitted.save(tmp_path / "good")
    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="model.safetensors is corrupted"):
        TokenClassifier.load(broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"incomplete: missing \['model.safetensors'\]"):
        TokenClassifier.load(broken)
    (broken / "domaintune.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="domaintune.json is corrupted"):
        TokenClassifier.load(broken)
    (broken / "domaintune.json").write_text(json.dumps({"task": "text-classification"}))
    with pytest.raises(ModelLoadError, match="TextClassifier.load"):
        TokenClassifier.load(broken)
    with pytest.raises(ModelLoadError, match="does not exist"):
        TokenClassifier.load(tmp_path / "nowhere")


def _changed(net, before: dict) -> set[str]:
    after = net.state_dict()
    return {k for k in before if not np.array_equal(before[k].numpy(), after[k].numpy())}


def _parts(name: str) -> list[str]:
    return name.split(".")


@pytest.mark.parametrize("shapes", [None, True], ids=["default", "word-shapes"])
def test_lora_and_frozen_train_save_and_reload(tiny_model, three_sentences, tmp_path, shapes):
    # with word shapes a ShapeTagger wraps the Hugging Face model (net.classifier.*, plus
    # shape_embedding.weight), so the checks read the Hugging Face model's own parameter names
    # (TokenClassifier._hf) and the shape embedding apart: flipping the default keeps them valid
    extra = {} if shapes is None else {"ner_word_shapes": shapes}
    words = three_sentences.tokens

    def check_shapes(ner: TokenClassifier) -> None:
        assert ner.word_shapes == bool(ner.training_config.ner_word_shapes)
        if ner.word_shapes:  # learned from zero with the head
            assert ner.model.shape_embedding.weight.abs().sum() > 0

    lora = TokenClassifier.from_pretrained(tiny_model, labels=["PER", "LOC"])
    before = {k: v.clone() for k, v in lora._hf().state_dict().items()}
    lora.fit(three_sentences, three_sentences, fast("lora", epochs=3, learning_rate=2e-2, **extra))
    assert {"val_entity_f1", "val_loss"} <= set(lora.history[0]) and "best_epoch" in lora.history[-1]
    changed = _changed(lora._hf(), before)
    # the adapters are merged into the attention query/value weights and the head trained;
    # nothing else of the encoder moved
    assert {"query", "value", "classifier"} <= {p for k in changed for p in _parts(k)}
    assert all({"query", "value", "classifier"} & set(_parts(k)) for k in changed), sorted(changed)
    check_shapes(lora)
    reloaded = TokenClassifier.load(lora.save(tmp_path / "lora"))
    assert reloaded.word_shapes == lora.word_shapes
    assert reloaded.predict_tags(words) == lora.predict_tags(words)

    frozen = TokenClassifier.from_pretrained(tiny_model, labels=["PER", "LOC"])
    before = {k: v.clone() for k, v in frozen._hf().state_dict().items()}
    frozen.fit(three_sentences, None, fast("frozen", epochs=2, learning_rate=None, **extra))
    assert _changed(frozen._hf(), before) == {"classifier.weight", "classifier.bias"}
    assert all(p.requires_grad for p in frozen.model.parameters())  # restored after training
    check_shapes(frozen)
    reloaded = TokenClassifier.load(frozen.save(tmp_path / "frozen"))
    assert reloaded.word_shapes == frozen.word_shapes
    assert reloaded.predict_tags(words) == frozen.predict_tags(words)


def test_usage_errors(tiny_model, three_sentences):
    ner = TokenClassifier.from_pretrained(tiny_model, labels=["O", "B-PER", "I-PER"])
    assert ner.tags == ["O", "B-PER", "I-PER"]
    with pytest.raises(NotFittedError, match="call fit"):
        ner.predict("alice")
    with pytest.raises(ConfigError, match="zero-shot"):
        ner.fit(three_sentences, None, fast("zero-shot"))
    with pytest.raises(DataError, match=r"entity type \['LOC'\].*does not know"):
        ner.fit(three_sentences, None, fast())
    with pytest.raises(DataError, match="mix BIO tags and entity types"):
        TokenClassifier.from_pretrained(tiny_model, labels=["B-PER", "LOC"])


def test_train_command_helper_writes_a_loadable_model(tiny_model, tmp_path):
    from domaintune import RunConfig
    from domaintune.ner.commands import evaluate_dir, is_token_classification_dir, train_from_config

    conll = tmp_path / "train.conll"
    data = TokenDataset([s for s, _ in SENTENCES], [t for _, t in SENTENCES])
    write_conll(data, conll)
    run = RunConfig.from_dict({"model": tiny_model, "train_file": str(conll), "test_file": str(conll),
                               "validation_split": 0, "output_dir": str(tmp_path / "out"),
                               "max_steps": 2, "progress": False})
    ner, summary, message = train_from_config(run)
    assert "entity_f1" in summary["test"] and "3 sentences" in message
    assert is_token_classification_dir(tmp_path / "out")
    assert evaluate_dir(tmp_path / "out", conll)["entity_f1"] == summary["test"]["entity_f1"]


def test_a_base_checkpoint_whose_encoder_weights_do_not_fit_its_config_is_refused(tiny_model):
    """ignore_mismatched_sizes lets a hub NER checkpoint's tag layer be redrawn for other tags;
    it must not silently re-initialise encoder weights that do not match config.json."""
    from pathlib import Path

    config_file = Path(tiny_model) / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["intermediate_size"] = 48  # the saved weights are 64 wide
    config_file.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="encoder weights do not match its config.json"):
        TokenClassifier.from_pretrained(tiny_model, labels=["person"])

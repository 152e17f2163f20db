"""NER accuracy levers (issue 13) on the tiny random BERT: constrained BIO decoding, word-shape
embedding (save/load, ONNX parity, old models), document context (FLERT) and layer-wise
learning-rate decay."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import ner_sentences

from domaintune import ConfigError, DataError, ModelLoadError, TrainingConfig
from domaintune.config import Method
from domaintune.export import MANIFEST_FILE, OnnxNerModel
from domaintune.ner import TokenClassifier, TokenDataset, encode_windows, read_conll
from domaintune.ner.decoding import bio_transitions, decode_tags, viterbi_bio
from domaintune.ner.features import PAD_SHAPE, SHAPES, token_shapes, word_shape
from domaintune.training import build_optimizer, layer_scales

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTENCES = ner_sentences()  # tests/conftest.py, shared with test_ner.py (cased here)
TEXTS = ["Alice lost her card in Paris", "BOB smith sent 20 dollars to New York",
         "hello from london and then " * 6 + "Bob Smith in Paris", "  ünïcode 海外 Alice 🙂 "]


def fast(**kw) -> TrainingConfig:
    base = {"method": "full", "epochs": 20, "batch_size": 3, "learning_rate": 5e-3,
            "warmup_ratio": 0.0, "early_stopping_patience": None, "progress": False, "seed": 0,
            "max_length": 16, "device": "cpu"}
    base.update(kw)
    return TrainingConfig(**base)


@pytest.fixture(scope="module")
def data() -> TokenDataset:
    return TokenDataset([s for s, _ in SENTENCES], [t for _, t in SENTENCES], documents=[0, 0, 1])


@pytest.fixture(scope="module")
def shaped(tiny_model_dir, data) -> TokenClassifier:
    ner = TokenClassifier.from_pretrained(str(tiny_model_dir), labels=data.entity_types,
                                          device="cpu")
    return ner.fit(data, data, fast(ner_word_shapes=True, ner_context=8, max_length=64))


# ------------------------------------------------------------------------------ decoding
def test_transitions_forbid_invalid_iob2():
    start, trans = bio_transitions(TAGS)
    assert np.isinf(start[[2, 4]]).all() and np.isfinite(start[[0, 1, 3]]).all()
    assert np.isinf(trans[0, 2]) and np.isinf(trans[1, 4]) and np.isinf(trans[3, 2])
    assert trans[1, 2] == 0 and trans[2, 2] == 0 and trans[4, 1] == 0 and trans[2, 0] == 0


def test_viterbi_returns_the_best_valid_path_and_argmax_repairs():
    rng = np.random.default_rng(0)
    start, trans = bio_transitions(TAGS)
    for _ in range(30):
        logits = rng.normal(size=(4, len(TAGS))) * 3
        path = viterbi_bio(logits, TAGS)
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        # brute force over all 5**4 sequences
        best, best_path = -np.inf, None
        for flat in range(len(TAGS) ** 4):
            seq = [(flat // len(TAGS) ** k) % len(TAGS) for k in range(4)]
            score = start[seq[0]] + sum(trans[a, b] for a, b in zip(seq, seq[1:], strict=False)) + \
                sum(logp[t, j] for t, j in enumerate(seq))
            if score > best:
                best, best_path = score, seq
        assert path.tolist() == best_path
    # argmax says O I-PER I-LOC: repaired to B-PER B-LOC; viterbi picks one consistent entity
    logits = np.log(np.array([[.9, .02, .02, .03, .03], [.1, .3, .4, .1, .1], [.1, .1, .35, .05, .4]]))
    assert decode_tags(logits, TAGS)[0] == ["O", "B-PER", "B-LOC"]
    tags, conf = decode_tags(logits, TAGS, "viterbi")
    assert tags == ["O", "B-PER", "I-PER"] and conf.shape == (3,)
    assert decode_tags(np.zeros((0, 5)), TAGS, "viterbi")[0] == []


def test_decoding_option_is_checked_saved_and_used_by_onnx(tiny_model_dir, data, tmp_path):
    with pytest.raises(ConfigError, match="viterbi"):
        TokenClassifier.from_pretrained(str(tiny_model_dir), labels=["PER"], decoding="crf")
    ner = TokenClassifier.from_pretrained(str(tiny_model_dir), labels=data.entity_types,
                                          device="cpu").fit(data, None, fast(epochs=2))
    assert ner.decoding == "viterbi"  # the default since issue 13
    assert ner.word_shapes  # so are word shapes (ner_word_shapes defaults to true)
    ner.decoding = "argmax"
    ner.save(tmp_path / "m")
    assert TokenClassifier.load(tmp_path / "m").decoding == "argmax"
    meta = json.loads((tmp_path / "m" / "domaintune.json").read_text())
    assert meta["decoding"] == "argmax" and meta["context"] == 0
    assert meta["word_shapes"]["classes"] == list(SHAPES)


# ------------------------------------------------------------------------------ shapes
def test_word_shapes_and_token_shapes():
    names = [SHAPES[word_shape(w)] for w in
             ["paris", "Paris", "NASA", "A", "iPhone", "McDonald", "1999", "A4", "...", "海外", "(Paris"]]
    assert names == ["lower", "Title", "UPPER", "Title", "mixed", "mixed", "digits", "has-digit",
                     "punctuation", "other", "Title"]
    assert token_shapes(["Ann", "NASA"], [None, 0, 1, 1, None]) == [0, 2, 3, 3, 0]
    assert PAD_SHAPE == 0 and all(word_shape(w) != PAD_SHAPE for w in ["x", "-", "1"])


def test_shape_ids_follow_words_through_windows(tiny_tokenizer):
    tok = tiny_tokenizer
    words = [["Hello", "from", "LONDON", "and", "1999"] * 5]
    for win in encode_windows(tok, words, max_length=12, stride=3, shapes=True):
        assert len(win.shape_ids) == len(win)
        for wid, sid in zip(win.word_ids, win.shape_ids, strict=True):
            assert sid == (PAD_SHAPE if wid is None else word_shape(words[0][wid]))
    assert encode_windows(tok, words, max_length=12, stride=3)[0].shape_ids is None


def test_shape_embedding_trains_saves_loads_and_exports(shaped, data, tmp_path):
    assert shaped.word_shapes and shaped.context == 8
    weight = shaped.model.shape_embedding.weight
    assert weight.abs().sum() > 0  # learned from zero
    path = shaped.save(tmp_path / "m")
    meta = json.loads((path / "domaintune.json").read_text())
    assert meta["word_shapes"]["classes"] == list(SHAPES) and "word_shapes.safetensors" in meta["files"]
    back = TokenClassifier.load(path, device="cpu")
    assert back.word_shapes and back.context == 8 and back.decoding == "viterbi"
    assert torch.equal(back.model.shape_embedding.weight, weight.detach().cpu())
    assert back.predict(TEXTS) == shaped.predict(TEXTS)
    assert back.evaluate(data)["entity_f1"] == shaped.evaluate(data)["entity_f1"]

    onnx = shaped.export_onnx(tmp_path / "onnx")
    manifest = json.loads((onnx / MANIFEST_FILE).read_text())
    assert "shape_ids" in manifest["inputs"] and manifest["decoding"] == "viterbi"
    fast_ner = OnnxNerModel.load(onnx)
    got, want = fast_ner.predict(TEXTS), shaped.predict(TEXTS)
    assert [[(e["type"], e["start"], e["end"]) for e in t] for t in got] == \
        [[(e["type"], e["start"], e["end"]) for e in t] for t in want]
    for g, w in zip(got, want, strict=True):
        assert [e["score"] for e in g] == pytest.approx([e["score"] for e in w], abs=1e-4)
    assert fast_ner.predict_tags(data.tokens) == shaped.predict_tags(data.tokens)
    assert fast_ner.evaluate(data)["entity_f1"] == pytest.approx(shaped.evaluate(data)["entity_f1"])

    # an export made before issue 13 (no decoding / context in its manifest) still loads
    for key in ("decoding", "context"):
        manifest.pop(key)
    (onnx / MANIFEST_FILE).write_text(json.dumps(manifest))
    old = OnnxNerModel.load(onnx)
    assert old.decoding == "argmax" and old.context == 0

    # a corrupted record or a missing embedding file is refused
    (path / "word_shapes.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="word_shapes.safetensors"):
        TokenClassifier.load(path)


def _rehash(directory, record: str, name: str) -> None:
    """Record the new SHA-256 and size of ``name`` (a test that changes a file on purpose)."""
    from domaintune.artifacts import sha256_file

    meta = json.loads((directory / record).read_text())
    meta["files"][name].update(sha256=sha256_file(directory / name),
                               bytes=(directory / name).stat().st_size)
    (directory / record).write_text(json.dumps(meta))


def test_tampered_word_shape_and_context_records_are_refused(shaped, tmp_path):
    import onnx
    from onnx import numpy_helper
    from safetensors.torch import load_file, save_file

    onnx_dir = shaped.export_onnx(tmp_path / "onnx")
    good = json.loads((onnx_dir / MANIFEST_FILE).read_text())

    def load_with(**changes):
        (onnx_dir / MANIFEST_FILE).write_text(json.dumps({**good, **changes}))
        return OnnxNerModel.load(onnx_dir)

    assert load_with().context == 8
    bad = {
        "word_shapes": [(list(SHAPES)[:5], r"word-shape classes are \['pad'.*expected \['pad'"),
                        (list(reversed(SHAPES)), "word-shape classes are"),
                        (None, r"'word_shapes' is None, expected the list of shape classes"),
                        ({"classes": list(SHAPES)}, "expected the list of shape classes")],
        "context": [(True, r"'context' is True, expected an integer >= 0"),
                    ("8", r"'context' is '8', expected an integer >= 0"),
                    (2.5, "'context' is 2.5"), (-1, "'context' is -1")],
    }
    for key, cases in bad.items():
        for value, message in cases:
            with pytest.raises(ModelLoadError, match=message + r".*export the model again"):
                load_with(**{key: value})
    # the graph reads no shape_ids, yet the manifest lists shape classes
    with pytest.raises(ModelLoadError, match=r"no 'shape_ids' input: expected null"):
        load_with(inputs=[n for n in good["inputs"] if n != "shape_ids"])
    # the graph's shape embedding has fewer rows than the classes listed
    (onnx_dir / MANIFEST_FILE).write_text(json.dumps(good))
    proto = onnx.load(str(onnx_dir / "model.onnx"))
    (table,) = [t for t in proto.graph.initializer if t.name.endswith("shape_embedding.weight")]
    table.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(table)[:5], table.name))
    onnx.save(proto, str(onnx_dir / "model.onnx"))
    _rehash(onnx_dir, MANIFEST_FILE, "model.onnx")
    with pytest.raises(ModelLoadError, match=r"lists 9 word-shape classes but the model has a "
                                             r"shape embedding of 5 rows"):
        OnnxNerModel.load(onnx_dir)

    # the PyTorch directory: the same checks, with the same messages
    path = shaped.save(tmp_path / "m")
    meta = json.loads((path / "domaintune.json").read_text())
    for key, value, message in [("context", True, "'context' is True"),
                                ("word_shapes", {**meta["word_shapes"], "classes": ["pad"]},
                                 "word-shape classes are"),
                                ("word_shapes", ["pad"], "'word_shapes' is"),
                                ]:
        (path / "domaintune.json").write_text(json.dumps({**meta, key: value}))
        with pytest.raises(ModelLoadError, match=message + ".*re-save or retrain"):
            TokenClassifier.load(path)
    (path / "domaintune.json").write_text(json.dumps(meta))
    weight = load_file(str(path / "word_shapes.safetensors"))["weight"]
    save_file({"weight": weight[:4].contiguous()}, str(path / "word_shapes.safetensors"))
    _rehash(path, "domaintune.json", "word_shapes.safetensors")
    with pytest.raises(ModelLoadError, match="but the model has a shape embedding of 4 rows"):
        TokenClassifier.load(path)


def test_old_saved_model_without_levers_still_loads(tiny_model_dir, data, tmp_path):
    # a model saved before issue 13 had no word-shape embedding
    ner = TokenClassifier.from_pretrained(str(tiny_model_dir), labels=data.entity_types,
                                          device="cpu").fit(data, None,
                                                            fast(epochs=2, ner_word_shapes=False))
    path = ner.save(tmp_path / "old")
    meta = json.loads((path / "domaintune.json").read_text())
    for key in ("decoding", "word_shapes", "context"):  # as a model saved before issue 13
        meta.pop(key)
    (path / "domaintune.json").write_text(json.dumps(meta))
    old = TokenClassifier.load(path, device="cpu")
    assert old.decoding == "argmax" and not old.word_shapes and old.context == 0
    ner.decoding = "argmax"
    assert old.predict(TEXTS) == ner.predict(TEXTS)


def test_shapes_with_lora_and_frozen(tiny_model_dir, data, tmp_path):
    for method in ("lora", "frozen"):
        ner = TokenClassifier.from_pretrained(str(tiny_model_dir), labels=data.entity_types,
                                              device="cpu")
        ner.fit(data, None, fast(method=method, epochs=2, ner_word_shapes=True))
        assert ner.method == Method(method) and ner.word_shapes
        assert ner.model.shape_embedding.weight.abs().sum() > 0
        back = TokenClassifier.load(ner.save(tmp_path / method), device="cpu")
        assert back.predict(TEXTS) == ner.predict(TEXTS)


# ------------------------------------------------------------------------------ context
def test_docstart_documents_and_document_split(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("-DOCSTART- O\n\na O\nb O\n\nc O\n\n-DOCSTART- O\n\nd B-PER\n\n"
                    "-DOCSTART- O\n\ne O\n\n-DOCSTART- O\n\nf O\n")
    data = read_conll(path)
    assert data.documents == [0, 0, 1, 2, 3]
    assert data.subset([1, 3]).documents == [0, 2]
    parts = data.split_documents([0.5, 0.25], seed=0)
    assert sum(len(p) for p in parts) == len(data)
    docs = [set(p.documents) for p in parts]
    assert all(not (a & b) for i, a in enumerate(docs) for b in docs[i + 1:])
    assert parts == data.split_documents([0.5, 0.25], seed=0)
    (tmp_path / "n.conll").write_text("a O\n\nb O\n")
    assert read_conll(tmp_path / "n.conll").documents is None
    with pytest.raises(DataError, match="document"):
        read_conll(tmp_path / "n.conll").split_documents([0.5])
    with pytest.raises(DataError, match="document index"):
        TokenDataset([["a"]], documents=[0, 1])


def test_context_windows_hold_neighbours_but_label_only_the_centre(tiny_tokenizer):
    tok = tiny_tokenizer
    sents = [["one", "two"], ["three", "four", "five"], ["six"], ["other", "doc"]]
    docs = [0, 0, 0, 1]
    plain = encode_windows(tok, sents, max_length=32, stride=4)
    ctx = encode_windows(tok, sents, max_length=32, stride=4, documents=docs, context=8)
    for p, c in zip(plain, ctx, strict=True):
        assert sorted(c.label_positions.values()) == sorted(p.label_positions.values())
        assert len(c) == len(p) + c.n_context and len(c) <= 32
    mid = ctx[1]
    text = tok.decode(mid.input_ids, skip_special_tokens=True)
    assert text.startswith("one two three") and text.endswith("five six") and "other" not in text
    assert ctx[3].n_context == 0  # alone in its document
    # the budget caps the context and keeps the sentence whole
    tight = encode_windows(tok, sents, max_length=8, stride=2, documents=docs, context=8)
    assert all(len(w) <= 8 for w in tight)
    owned = sorted(w for win in tight if win.sentence == 1 for w in win.label_positions.values())
    assert owned == [0, 1, 2]  # every centre word labelled once, context never


def _reference_context(tok, sentences, documents, *, max_length, context):
    """The document context of each sentence, as the FLERT windows were first specified: all
    same-document sentences before it (nearest first) and after it, whole words taken outward
    while they fit (left: at most ``min(context, room // 2)`` sub-tokens, right: the rest)."""
    budget = max_length - tok.num_special_tokens_to_add(pair=False)
    counts = [[len(tok.tokenize(w)) for w in s] for s in sentences]

    def outward(order, limit, reverse):
        taken, used = [], 0
        for j in order:
            idx = range(len(sentences[j]) - 1, -1, -1) if reverse else range(len(sentences[j]))
            for w in idx:
                if used + counts[j][w] > limit:
                    return (taken[::-1] if reverse else taken), used
                taken.append(sentences[j][w])
                used += counts[j][w]
        return (taken[::-1] if reverse else taken), used

    out = {}
    for i, words in enumerate(sentences):
        if not words or sum(counts[i]) > budget:
            continue  # empty: no window; longer than one window: no context
        room = budget - sum(counts[i])
        before = [j for j in range(i - 1, -1, -1) if documents[j] == documents[i]]
        after = [j for j in range(i + 1, len(sentences)) if documents[j] == documents[i]]
        left, used = outward(before, min(context, room // 2), True)
        right, _ = outward(after, min(context, room - used), False)
        out[i] = (left, right)
    return out


def test_context_windows_match_the_reference_on_interleaved_documents(tiny_tokenizer):
    tok = tiny_tokenizer
    vocab = ["refund", "card", "xyzzy", "paris", "money", "the", "hello", "qq", "lost", "abc"]
    rng = np.random.default_rng(3)
    sentences = [[vocab[k] for k in rng.integers(0, len(vocab), size=int(n))]
                 for n in rng.integers(1, 7, size=40)]
    sentences[5] = []  # skipped: no window, no context
    sentences[11] = ["money"] * 30  # several windows: no context of its own, but it is context
    documents = [int(d) for d in rng.integers(0, 4, size=40)]  # interleaved, not contiguous
    documents[20:24] = [9, 9, 9, 9]
    for max_length, context in [(12, 3), (20, 8), (40, 100), (64, 6)]:
        ref = _reference_context(tok, sentences, documents, max_length=max_length, context=context)
        windows = encode_windows(tok, sentences, max_length=max_length, stride=2,
                                 documents=documents, context=context)
        plain = encode_windows(tok, sentences, max_length=max_length, stride=2)
        assert [(w.sentence, w.word_start, w.word_end) for w in windows] == \
            [(w.sentence, w.word_start, w.word_end) for w in plain]
        with_context = 0
        for win, bare in zip(windows, plain, strict=True):
            assert sorted(win.label_positions.values()) == sorted(bare.label_positions.values())
            if win.sentence not in ref:
                assert win.n_context == 0 and win.input_ids == bare.input_ids
                continue
            left, right = ref[win.sentence]
            want = tok(left + sentences[win.sentence] + right, is_split_into_words=True)
            assert win.input_ids == want["input_ids"], (max_length, context, win.sentence)
            assert win.n_context == sum(len(tok.tokenize(w)) for w in left + right)
            with_context += bool(left or right)
        assert with_context > 10  # the example exercises the context, not only its absence


def test_context_is_used_by_fit_and_evaluate_not_predict(shaped, data):
    windows = shaped._encode(data.tokens, data.documents)
    assert windows[0].n_context > 0 and windows[2].n_context == 0
    assert set(shaped.evaluate(data)) >= {"entity_f1", "per_type"}
    assert shaped._encode(data.tokens)[0].n_context == 0  # predict: each text alone


# ------------------------------------------------------------------------------ schedule
def _deeper_bert(tiny_model_dir, path, layers: int = 8):
    """The tiny BERT's tokenizer with a random encoder of ``layers`` layers (32 wide)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    config = BertConfig.from_pretrained(str(tiny_model_dir), num_hidden_layers=layers)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(path))
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(str(path))
    return path


def test_ner_learning_rate_defaults_depend_on_the_encoder_depth(monkeypatch, tiny_model_dir,
                                                                 tmp_path):
    from transformers import AutoModelForTokenClassification

    from domaintune.ner import training as ner_training

    seen = {}

    def fake_run_epochs(model, cfg, **kw):
        seen.update(lr=cfg.learning_rate, head=cfg.head_learning_rate, decay=cfg.layer_decay,
                    fallback=kw.get("head_learning_rate"))
        return []

    monkeypatch.setattr(ner_training, "run_epochs", fake_run_epochs)
    small = AutoModelForTokenClassification.from_pretrained(str(tiny_model_dir), num_labels=3)
    deep = AutoModelForTokenClassification.from_pretrained(
        str(_deeper_bert(tiny_model_dir, tmp_path / "deep")), num_labels=3)
    assert (small.config.num_hidden_layers, deep.config.num_hidden_layers) == (2, 8)
    # (encoder lr, head lr, layer decay): the decay is never filled in (off unless given)
    cases = [
        (small, TrainingConfig(), (2e-4, 1e-3, None)),  # small encoder: NER's own 2e-4
        (small, TrainingConfig(layer_decay=1.0), (2e-4, 1e-3, 1.0)),  # 1.0: decay off
        (small, TrainingConfig(layer_decay=0.5), (2e-4, 1e-3, 0.5)),
        (deep, TrainingConfig(), (5e-5, 1e-3, None)),  # deeper: the generic rate, no decay
        (torch.nn.Linear(2, 2), TrainingConfig(), (5e-5, 1e-3, None)),  # depth unknown
        (deep, TrainingConfig(head_learning_rate=3e-3), (5e-5, 3e-3, None)),
        (small, TrainingConfig(learning_rate=3e-5), (3e-5, 3e-5, None)),  # explicit: as given
        (small, TrainingConfig(method="frozen"), (None, 1e-3, None)),  # no encoder trained
        (small, TrainingConfig(method="lora"), (1e-3, 1e-3, None)),
    ]
    for net, cfg, want in cases:
        ner_training.train_windows(net, [], cfg, n_tags=3, pad_id=0, device=torch.device("cpu"))
        assert (seen["lr"], seen["head"], seen["decay"]) == want, \
            (net.__class__.__name__, cfg.method, want)
        assert seen["fallback"] is None  # the rates travel in the config, nowhere else


def test_saved_ner_model_records_the_learning_rates_used(tiny_model_dir, data, tmp_path):
    deep_dir = _deeper_bert(tiny_model_dir, tmp_path / "deep")
    for model_dir, want in [(tiny_model_dir, 2e-4), (deep_dir, 5e-5)]:
        ner = TokenClassifier.from_pretrained(str(model_dir), labels=data.entity_types,
                                              device="cpu")
        cfg = fast(learning_rate=None, max_steps=1, epochs=1)
        ner.fit(data, None, cfg)
        assert (ner.training_config.learning_rate, ner.training_config.head_learning_rate) == \
            (want, 1e-3)
        path = ner.save(tmp_path / f"m{want}")
        saved = json.loads((path / "training_config.json").read_text())
        assert (saved["learning_rate"], saved["head_learning_rate"]) == (want, 1e-3)
        assert saved["layer_decay"] is None
        back = TokenClassifier.load(path, device="cpu")
        assert back.training_config.learning_rate == want


def test_layer_scales_and_optimizer_groups(tiny_model_dir):
    from transformers import AutoModelForTokenClassification

    net = AutoModelForTokenClassification.from_pretrained(str(tiny_model_dir), num_labels=3)
    names = [n for n, _ in net.named_parameters()]
    scales = layer_scales(names, 0.5)
    layers = {int(n.split("layer.")[1].split(".")[0]) for n in names if ".layer." in n}
    top = max(layers)
    assert all(scales[n] == 1.0 for n in names if f".layer.{top}." in n)
    assert all(scales[n] == 0.5 ** (top + 1) for n in names if "embeddings" in n)
    cfg = TrainingConfig(layer_decay=0.5, learning_rate=1e-3, head_learning_rate=1e-2)
    opt = build_optimizer(net, cfg, lambda n: n.startswith("classifier"))
    lrs = sorted({g["lr"] for g in opt.param_groups})
    assert max(lrs) == 1e-2 and min(lrs) == pytest.approx(1e-3 * 0.5 ** (top + 1))
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == len(names)
    plain = build_optimizer(net, TrainingConfig(learning_rate=1e-3), lambda n: n.startswith("classifier"))
    assert len(plain.param_groups) == 3
    with pytest.raises(ConfigError, match="layer_decay"):
        TrainingConfig(layer_decay=0)

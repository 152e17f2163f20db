"""Data checks: duplicates, near-duplicate conflicts, lengths and planted label errors.

Most tests pass synthetic, well-separated embeddings through ``embed_fn``; one runs the real
path on the tiny random BERT.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from domaintune import ConfigError, DataError, TextDataset, load_dataset
from domaintune.checks import DataReport, Suspect, check_data, normalize_text


def lookup_embedder(table: dict[str, np.ndarray]):
    """An embed_fn returning the vector stored for each text (fails on unknown texts)."""
    calls = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.stack([table[t] for t in texts])

    embed.calls = calls  # type: ignore[attr-defined]
    return embed


def clusters(n_clusters: int = 4, per_cluster: int = 30, dim: int = 16, noise: float = 0.25,
             seed: int = 0) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    centers = np.eye(dim)[:n_clusters] * 3.0
    texts, labels, table = [], [], {}
    for k in range(n_clusters):
        for i in range(per_cluster):
            text = f"cluster {k} example {i}"
            texts.append(text)
            labels.append(f"class_{k}")
            table[text] = centers[k] + noise * rng.standard_normal(dim)
    return texts, labels, table


def test_planted_label_flips_are_the_top_suspects():
    texts, labels, table = clusters()
    rng = np.random.default_rng(1)
    flipped = sorted(rng.choice(len(texts), size=6, replace=False).tolist())
    noisy = list(labels)
    for i in flipped:
        noisy[i] = f"class_{(int(labels[i][-1]) + 1 + rng.integers(3)) % 4}"
        assert noisy[i] != labels[i]
    data = TextDataset(texts, noisy, source="synthetic")
    embed = lookup_embedder(table)
    report = check_data(data, embed_fn=embed, folds=5, seed=0)
    assert len(embed.calls) == 1  # embedded once
    top = report.suspects[: len(flipped)]
    assert sorted(s.index for s in top) == flipped
    assert sorted(s.row for s in top) == [i + 1 for i in flipped]
    for s in top:
        assert s.suggested_label == labels[s.index]  # the true label is suggested
        assert s.label == noisy[s.index] and s.text == texts[s.index]
        assert s.p_given < 0.2 < s.p_suggested and s.score == pytest.approx(1 - s.p_given)
    scores = [s.score for s in report.suspects]
    assert scores == sorted(scores, reverse=True)
    assert set(report.class_thresholds) == {f"class_{k}" for k in range(4)}
    assert report.self_confidence is not None and np.isfinite(report.self_confidence).all()
    assert sorted(np.argsort(report.self_confidence)[:6].tolist()) == flipped  # full ranking
    assert len(check_data(data, embed_fn=embed, top_k=3).suspects) == 3
    assert report.label_counts == dict(pd.Series(noisy).value_counts().sort_index())
    assert report.imbalance_ratio >= 1.0


def test_exact_and_near_duplicates_with_conflicting_labels():
    rng = np.random.default_rng(0)
    base = {f"filler text number {i}": rng.standard_normal(8) for i in range(12)}
    v = rng.standard_normal(8)
    w = rng.standard_normal(8)
    table = dict(base)
    table.update({
        "Where is my refund?": v,              # exact duplicate of the next, other label
        "card lost": w,                        # near-duplicate of "lost card", other label
        "lost card": w + 1e-3,
        "hello": -v,                           # exact duplicate, same label: not a conflict
    })
    texts = ["Where is my refund?", "  where is my   REFUND?", "card lost", "lost card", "hello",
             "HELLO"] + list(base)
    labels = ["refund", "card", "card", "refund", "greeting", "greeting"] + [
        ["refund", "card", "greeting"][i % 3] for i in range(12)]
    table["  where is my   REFUND?"] = v  # never asked for: duplicates are embedded once
    embed = lookup_embedder(table)
    report = check_data(TextDataset(texts, labels), embed_fn=embed, folds=3)
    assert "  where is my   REFUND?" not in embed.calls[0] and "HELLO" not in embed.calls[0]
    assert normalize_text("  where is my   REFUND?") == normalize_text("Where is my refund?")
    groups = {tuple(g["rows"]): g for g in report.exact_duplicates}
    assert groups[(1, 2)]["conflicting"] and groups[(1, 2)]["labels"] == ["card", "refund"]
    assert not groups[(5, 6)]["conflicting"]
    assert [g["rows"] for g in report.conflicting_duplicates] == [[1, 2]]
    assert [(p["row_a"], p["row_b"], p["label_a"], p["label_b"]) for p in report.near_duplicates] \
        == [(3, 4, "card", "refund")]
    assert report.near_duplicates[0]["similarity"] >= 0.95
    # exact duplicates are not repeated as near-duplicates
    assert all({p["row_a"], p["row_b"]} != {1, 2} for p in report.near_duplicates)


def test_small_classes_do_not_crash_and_are_reported():
    texts, labels, table = clusters(n_clusters=3, per_cluster=6)
    texts.append("lonely")
    labels.append("singleton")
    table["lonely"] = np.ones(16)
    texts += ["pair a", "pair b"]
    labels += ["pair", "pair"]
    table["pair a"], table["pair b"] = -np.ones(16), -np.ones(16) + 0.1
    report = check_data(TextDataset(texts, labels), embed_fn=lookup_embedder(table), folds=10)
    assert any("single example ('singleton')" in n for n in report.notes)
    assert any("used 6 folds instead of 10" in n for n in report.notes)
    assert np.isnan(report.self_confidence[texts.index("lonely")])
    assert np.isfinite(report.self_confidence[texts.index("pair a")])
    assert report.imbalance_ratio == 6.0


def test_length_outliers():
    rng = np.random.default_rng(0)
    texts = [" ".join(["word"] * int(n)) + f" {i}" for i, n in enumerate(rng.integers(3, 7, 40))]
    texts += [" ".join(["long"] * 300), "?"]
    labels = ["a", "b"] * 21
    table = {t: rng.standard_normal(8) for t in texts}
    report = check_data(TextDataset(texts, labels), embed_fn=lookup_embedder(table), folds=3)
    by_row = {o["row"]: o for o in report.length_outliers}
    assert set(by_row) == {41, 42}
    assert by_row[41]["reason"] == "long" and by_row[41]["n_tokens"] == 300
    assert by_row[42]["reason"] == "short"
    assert report.length_stats["length_unit"] == "words"
    assert report.length_stats["long_threshold"] < 300
    same = [f"w{i} x y z" for i in range(40)] + ["a b c d e f"]  # equal lengths, one a bit longer
    flat = check_data(TextDataset(same, ["a", "b"] * 20 + ["a"]),
                      embed_fn=lambda t: np.random.default_rng(0).standard_normal((len(t), 4)))
    assert flat.length_outliers == []


def test_report_write_summary_and_json(tmp_path):
    texts, labels, table = clusters(per_cluster=10)
    labels[0] = "class_1"
    report = check_data(TextDataset(texts, labels, source="toy.csv"),
                        embed_fn=lookup_embedder(table), folds=3)
    assert isinstance(report, DataReport) and isinstance(report.suspects[0], Suspect)
    out = report.write(tmp_path / "check")
    frame = pd.read_csv(out / "suspects.csv")
    assert list(frame.columns[:5]) == ["row", "text", "label", "suggested_label", "score"]
    assert len(frame) == len(report.suspects) and frame.loc[0, "row"] == 1
    assert frame.loc[0, "suggested_label"] == "class_0"
    saved = json.loads((out / "report.json").read_text())
    assert saved["counts"]["suspects"] == len(report.suspects)
    assert saved["suspects"][0]["row"] == 1
    assert saved == json.loads(json.dumps(report.to_dict()))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    text = report.summary()
    assert "Data check of toy.csv: 40 rows, 4 labels" in text
    assert "row 1: 'cluster 0 example 0' labelled 'class_1', suggested 'class_0'" in text


def test_empty_suspects_csv_has_a_header(tmp_path):
    report = check_data(TextDataset(["a b c", "d e f"]), embed_fn=lambda t: np.eye(len(t)))
    assert report.suspects == [] and report.self_confidence is None
    assert any("no labels" in n for n in report.notes)
    report.write(tmp_path)
    assert (tmp_path / "suspects.csv").read_text().startswith("row,text,label,suggested_label,score")


def test_multi_label_data_skips_the_label_check():
    data = TextDataset(["a x", "b y", "a x"], [["a"], ["b", "a"], ["b"]], multi_label=True)
    report = check_data(data, embed_fn=lambda t: np.eye(3)[: len(t)])
    assert report.conflicting_duplicates[0]["rows"] == [1, 3]
    assert any("single-label data only" in n for n in report.notes)


def test_argument_errors():
    data = TextDataset(["a", "b"], ["x", "y"])
    with pytest.raises(ConfigError, match="expected folds to be an integer >= 2, found 1"):
        check_data(data, folds=1)
    with pytest.raises(ConfigError, match=r"near_duplicate_threshold in \(0, 1\], found 1.5"):
        check_data(data, near_duplicate_threshold=1.5)
    with pytest.raises(ConfigError, match="top_k"):
        check_data(data, top_k=0)
    with pytest.raises(DataError, match="the data has no rows"):
        check_data(TextDataset([], []))
    with pytest.raises(DataError, match="expected a TextDataset, found list"):
        check_data(["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"embed_fn must return an array of shape \(n_texts, dim\)"):
        check_data(data, embed_fn=lambda t: np.zeros(3))


def test_real_encoder_on_tiny_bert(tiny_model, toy_csv, tmp_path):
    data = load_dataset(toy_csv, text="body", label="queue")
    report = check_data(data, model=tiny_model, folds=3, progress=False)
    assert report.settings["embeddings"] == repr(tiny_model)
    assert report.length_stats["length_unit"] == "tokens"
    assert report.length_stats["max_length"] == 128
    assert np.isfinite(report.self_confidence).all()
    assert report.label_counts == {"card": 8, "greeting": 8, "login": 8, "refund": 8}
    assert all(s.label != s.suggested_label for s in report.suspects)
    report.write(tmp_path / "out")
    assert (tmp_path / "out" / "suspects.csv").is_file()
    assert "Data check of" in report.summary()

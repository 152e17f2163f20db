"""The Recommender end to end on the sample log with the tiny encoder: fit/save/load,
recommendations with explanations, cold start, incremental updates, bad input and damaged
REC_DIRs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from domaintune.errors import ArtifactExistsError, DataError, ModelLoadError
from text_recommender.service import Recommender, UnknownItemError

COLD = [f"m{i:03d}" for i in range(111, 121)]  # the sample's new arrivals: no interactions


def test_fit_report_counts_and_ranker_slice(rec):
    report = rec.report
    assert report["items"]["kept"] == 120 and report["interactions"]["kept"] == 1552
    assert report["ranker_slice"]["groups"] > 50
    assert 0 < report["ranker_slice"]["candidate_recall"] <= 1
    assert report["finetune_pairs"] > 0 and rec.tuned is not rec.frozen
    importance = report["feature_importance"]
    assert abs(sum(importance.values()) - 1) < 1e-6


def test_recommendations_are_unseen_ranked_and_explained_by_real_history(rec):
    user = "u01"
    seen = {h["item_id"] for h in rec.history(user)}
    out = rec.recommend(user, k=10)
    assert len(out) == 10 and [r.rank for r in out] == list(range(1, 11))
    assert not seen & {r.item_id for r in out}
    assert len({r.item_id for r in out}) == 10
    explained = [r for r in out if r.because]
    assert explained, "some recommendation names the history items that drove it"
    for r in explained:
        assert set(r.because) <= seen
        titles = [rec.item(i)["title"] for i in r.because]
        assert r.because_titles == titles
        assert all(t in r.explanation for t in titles)
        assert r.item_id not in r.because


def test_save_load_round_trip_gives_the_same_list(rec, rec_dir, tmp_path):
    again = Recommender.load(rec.save(tmp_path / "copy"))
    assert [r.item_id for r in again.recommend("u05", k=8)] == \
        [r.item_id for r in rec.recommend("u05", k=8)]
    with pytest.raises(ArtifactExistsError, match="--overwrite"):
        rec.save(rec_dir)


def test_diversity_changes_the_list_and_is_checked(rec):
    plain = [r.item_id for r in rec.recommend("u03", k=10, diversity=0.0)]
    diverse = [r.item_id for r in rec.recommend("u03", k=10, diversity=0.9)]
    assert plain != diverse
    with pytest.raises(DataError, match=r"diversity in \[0, 1\]"):
        rec.recommend("u03", diversity=1.5)


def test_user_without_history_gets_popular_items_said_so(rec):
    out = rec.recommend("nobody", k=5)
    assert len(out) == 5
    assert all("no history" in r.explanation for r in out)
    popular = rec.behaviour.popularity.top(5)
    assert [r.item_id for r in out] == [rec.catalog.ids[i] for i in popular]


def test_k_larger_than_the_catalogue_returns_every_allowed_item(rec):
    seen = {h["item_id"] for h in rec.history("u01")}
    out = rec.recommend("u01", k=10_000)
    assert len(out) == 120 - len(seen)
    with pytest.raises(DataError, match="k >= 1"):
        rec.recommend("u01", k=0)


def test_cold_items_are_recommendable_from_their_text(rec):
    cold = set(COLD)
    assert all(rec.behaviour.popularity.count_[rec.catalog.index[i]] == 0 for i in cold)
    target = rec.item("m115")
    out = rec.recommend_for_query(target["text"], k=3)
    assert out[0].item_id == "m115"
    assert out[0].explanation.startswith("Matches your query")


def test_new_user_with_a_few_items(rec):
    out = rec.recommend_for_items(["m001", "m002"], k=5)
    assert len(out) == 5 and not {"m001", "m002"} & {r.item_id for r in out}
    with pytest.raises(UnknownItemError, match="unknown: \\['zzz'\\]"):
        rec.recommend_for_items(["m001", "zzz"])


def test_empty_query_is_an_error(rec):
    with pytest.raises(DataError, match="non-empty query"):
        rec.recommend_for_query("   ")


def test_add_items_without_rebuild_then_recommended(rec):
    before = len(rec.index)
    n = rec.add_items([{"item_id": "new1", "title": "Quokka Quest",
                        "category": "Nature documentary",
                        "description": "zebra zebra zebra migration across the plains",
                        "tags": "wildlife"}])
    assert n == 1 and len(rec.index) == before + 1 and len(rec.catalog) == 121
    out = rec.recommend_for_query("title: Quokka Quest. category: Nature documentary. "
                                  "description: zebra zebra zebra migration across the plains. "
                                  "tags: wildlife", k=1)
    assert out[0].item_id == "new1"
    assert rec.recommend("u01", k=121)  # every per-item array grew with the catalogue
    with pytest.raises(DataError, match="already in the catalogue"):
        rec.add_items([{"item_id": "new1", "title": "again", "category": "x", "description": "y",
                        "tags": "z"}])
    with pytest.raises(DataError, match="text field 'category'"):  # the catalogue's fields
        rec.add_items([{"item_id": "new2", "title": "no other columns"}])


def test_removed_items_never_come_back_and_survive_save(rec, tmp_path):
    first = [r.item_id for r in rec.recommend("u02", k=5)]
    assert rec.remove_items(first[:2]) == 2
    assert rec.remove_items(first[:1]) == 0  # already removed
    again = [r.item_id for r in rec.recommend("u02", k=200)]
    assert not set(first[:2]) & set(again)
    loaded = Recommender.load(rec.save(tmp_path / "after"))
    assert not set(first[:2]) & {r.item_id for r in loaded.recommend("u02", k=200)}
    with pytest.raises(UnknownItemError):
        rec.remove_items(["zzz"])


def test_recorded_interactions_change_recommendations_at_once(rec):
    before = [r.item_id for r in rec.recommend("u04", k=10)]
    report = rec.record([{"user_id": "u04", "item_id": i, "rating": 5,
                          "timestamp": rec.now_ + 60 * (n + 1)} for n, i in enumerate(before[:3])]
                        + [{"user_id": "u04", "item_id": "ghost", "rating": 5,
                            "timestamp": rec.now_}])
    assert report.kept == 3 and report.dropped["unknown_item"] == 1
    after = [r.item_id for r in rec.recommend("u04", k=10)]
    assert not set(before[:3]) & set(after)  # now seen
    assert after != before[3:10] + after[7:]  or after[:7] != before[3:10]
    assert [h["item_id"] for h in rec.history("u04")][-3:] == before[:3]
    new_user = rec.record([{"user_id": "fresh", "item_id": "m001", "rating": 5,
                            "timestamp": rec.now_}])
    assert new_user.kept == 1
    assert "fresh" in rec.users() and "no history" not in rec.recommend("fresh", k=1)[0].explanation


def test_rules_boost_bury_cap_and_exclusions(rec):
    seen = {h["item_id"] for h in rec.history("u01")}
    unseen = [c for i, c in zip(rec.catalog.ids, rec.catalog.categories, strict=True)
              if i not in seen]
    boosted = max(set(unseen), key=unseen.count)  # the category with the most unseen items
    rec.rules = type(rec.rules)(boost={boosted.upper(): 100.0}, bury={}, max_per_category=None)
    out = rec.recommend("u01", k=5)
    assert all(r.category == boosted for r in out)
    rec.rules = type(rec.rules)(boost={}, bury={}, max_per_category=2)
    out = rec.recommend("u01", k=10)
    counts = {c: sum(r.category == c for r in out) for c in {r.category for r in out}}
    assert max(counts.values()) <= 2
    top = rec.recommend("u01", k=1)[0].item_id
    assert top not in {r.item_id for r in rec.recommend("u01", k=10, exclude=[top])}


def test_corrupted_rec_dir_is_a_clear_error(rec_dir):
    emb = rec_dir / "embeddings_tuned.npy"
    data = bytearray(emb.read_bytes())
    data[-4:] = b"\x00\x00\x80\x7f"
    emb.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="embeddings_tuned.npy is corrupted"):
        Recommender.load(rec_dir)


def test_rec_dir_from_another_version_is_refused(rec_dir):
    record_file = rec_dir / "recommender.json"
    record = json.loads(record_file.read_text())
    record["rec_format"] = 99
    record_file.write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="another version of the recommender"):
        Recommender.load(rec_dir)


def test_embeddings_from_another_encoder_are_refused(rec_dir, tmp_path):
    """The REC_DIR's frozen embeddings were made by the tiny BERT; a config naming another
    encoder (here the same architecture, other weights) is refused, not silently mixed."""
    import shutil

    import torch
    from transformers import BertModel

    record_file = rec_dir / "recommender.json"
    record = json.loads(record_file.read_text())
    other = tmp_path / "other-bert"
    shutil.copytree(record["config"]["text"]["encoder"], other)
    model = BertModel.from_pretrained(str(other))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    model.save_pretrained(str(other))
    record["config"]["text"]["encoder"] = str(other)
    record_file.write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="embeddings were made with the encoder"):
        Recommender.load(rec_dir)


def test_not_a_rec_dir(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Recommender.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="recommender.json is missing"):
        Recommender.load(tmp_path / "empty")


def test_ranker_text_file_is_checked(rec_dir):
    ranker = next((rec_dir / "ranker").glob("*.txt"))
    ranker.write_text(ranker.read_text().replace("tree", "tre", 1))
    with pytest.raises(ModelLoadError):
        Recommender.load(rec_dir)


def test_scores_are_finite(rec):
    out = rec.recommend("u10", k=20)
    assert np.isfinite([r.score for r in out]).all()


def test_record_keeps_time_order_and_drops_repeats(rec):
    hist = rec.history("u02")
    first_ts = hist[0]["timestamp"]
    report = rec.record([{"user_id": "u02", "item_id": "m050", "rating": 4,
                          "timestamp": first_ts - 3600}])
    assert report.kept == 1 and report.out_of_order == 1
    again = rec.history("u02")
    assert again[0]["item_id"] == "m050"  # the older interaction goes first, not last
    assert [h["timestamp"] for h in again] == sorted(h["timestamp"] for h in again)
    repeat = rec.record([{"user_id": "u02", "item_id": "m050", "rating": 4,
                          "timestamp": first_ts - 3600}])
    assert repeat.kept == 0 and repeat.dropped["duplicate"] == 1
    assert len(rec.history("u02")) == len(again)
    nothing = rec.record([{"user_id": "u02", "item_id": "ghost", "rating": 4,
                           "timestamp": first_ts}])
    assert nothing.kept == 0 and nothing.dropped["unknown_item"] == 1  # a report, not an error


def test_cap_never_shortens_the_list_while_items_remain(rec):
    rec.rules = type(rec.rules)(boost={}, bury={}, max_per_category=1)
    out = rec.recommend("u01", k=8)
    cats = [r.category for r in out]
    assert len(out) == 8 and len(set(cats)) == 8  # 8 categories in the catalogue, one each

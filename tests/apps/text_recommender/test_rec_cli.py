"""`text-recommender` commands in-process on the sample log with the tiny encoder: the summary
on stderr, one JSON object (or JSON lines) on stdout, every suggested fix working."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import write_csv

from text_recommender.cli import main


def _tiny_args(encoder) -> list[str]:
    return ["--set", f"text.encoder={encoder}", "--set", "text.max_length=32",
            "--set", "finetune.max_pairs=32", "--set", "finetune.batch_size=16",
            "--set", "ranker.n_estimators=20", "--set", "ranker.min_child_samples=2"]


def _json(capsys) -> tuple[dict, str]:
    out = capsys.readouterr()
    return json.loads(out.out.strip().splitlines()[-1]), out.err


def test_split_fit_evaluate_recommend(rec_samples, tiny_model_dir, tmp_path, capsys):
    split_dir = tmp_path / "split"
    assert main(["split", "--interactions", str(rec_samples["interactions"]),
                 "--output", str(split_dir)]) == 0
    result, err = _json(capsys)
    assert result["split"]["users_with_test"] == 78 and "train 1385 rows" in err
    with (split_dir / "test.csv").open() as f:
        test_rows = list(csv.DictReader(f))
    assert list(test_rows[0]) == ["user_id", "item_id", "timestamp", "rating"]
    assert all(float(r["rating"]) >= 4 for r in test_rows)
    # the split refuses to overwrite; --overwrite (the fix it names) works
    assert main(["split", "--interactions", str(rec_samples["interactions"]),
                 "--output", str(split_dir)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["split", "--interactions", str(rec_samples["interactions"]),
                 "--output", str(split_dir), "--overwrite"]) == 0
    capsys.readouterr()

    rec_dir = tmp_path / "rec"
    assert main(["fit", "--items", str(rec_samples["items"]), "--interactions",
                 str(split_dir / "train.csv"), "--output", str(rec_dir), "--no-progress",
                 *_tiny_args(tiny_model_dir)]) == 0
    result, err = _json(capsys)
    assert result["interactions"]["kept"] == 1385 and result["items"]["kept"] == 120
    assert "interactions: 1385 kept of 1385, none dropped" in err
    assert "candidate recall" in err and (rec_dir / "recommender.json").is_file()

    assert main(["evaluate", str(rec_dir), "--interactions", str(split_dir / "test.csv"),
                 "--no-progress"]) == 0
    result, err = _json(capsys)
    for key in ("hr@10", "ndcg@10", "mrr@10", "coverage@10", "cold_start_hr@10"):
        assert key in result
    assert set(result["baselines"]) == {"popularity", "item_knn", "ease", "text_frozen",
                                        "text_finetuned"}
    assert 0 <= result["hr@10"] <= 1
    assert result["n_users"] + result["counts"]["unknown_user"] == 78  # users with no history
    assert "hybrid" in err and "ease" in err

    assert main(["recommend", str(rec_dir), "--user", "u01", "-k", "4", "--diversity", "0.3"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["rank"] for line in lines] == [1, 2, 3, 4]
    assert set(lines[0]) >= {"item_id", "title", "score", "explanation"}

    assert main(["recommend", str(rec_dir), "--query", "haunted cottage ghosts", "-k", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["recommend", str(rec_dir), "--user", "u01", "--query", "x"]) == 2
    assert "exactly one of --user" in capsys.readouterr().err
    assert main(["recommend", str(rec_dir), "--user", "stranger", "-k", "1"]) == 0
    out = capsys.readouterr()
    assert "no history" in out.err and len(out.out.splitlines()) == 1


def test_fit_refuses_an_existing_rec_dir_and_overwrite_replaces_it(rec_dir, rec_samples,
                                                                   tiny_model_dir, capsys):
    args = ["fit", "--items", str(rec_samples["items"]), "--interactions",
            str(rec_samples["interactions"]), "--output", str(rec_dir), "--no-progress",
            *_tiny_args(tiny_model_dir)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--json"]) == 0
    result, err = _json(capsys)
    assert result["output"] == str(rec_dir) and "saved to" not in err  # --json: no summary


def test_column_options_and_errors_name_the_flag(tmp_path, tiny_model_dir, capsys):
    items = write_csv(tmp_path / "items.csv", ["movieId", "name", "about"],
                      [(str(i), f"film {i}", "space ships" if i % 2 else "ghost houses")
                       for i in range(12)])
    rows = []
    for u in range(6):
        for n, i in enumerate(range(u % 2, 12, 2)):
            rows.append((f"u{u}", str(i), "5", f"2026-01-{n + 1:02d}T10:00:00Z"))
    inter = write_csv(tmp_path / "log.csv", ["who", "movieId", "stars", "when"], rows)
    base = ["fit", "--items", str(items), "--interactions", str(inter), "--output",
            str(tmp_path / "rec"), "--no-progress", *_tiny_args(tiny_model_dir)]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "item id column 'item_id'" in err and "--item-id-column" in err
    assert main([*base, "--item-id-column", "movieId"]) == 2
    assert "--user-id-column" in capsys.readouterr().err
    assert main([*base, "--item-id-column", "movieId", "--user-id-column", "who",
                 "--rating-column", "stars", "--time-column", "when", "--text-fields",
                 "name,about"]) == 0
    result, _ = _json(capsys)
    assert result["items"]["text_fields"] == ["name", "about"]
    assert result["interactions"]["timestamp_formats"] == {"iso": len(rows)}


def test_update_adds_removes_records(rec_dir, tmp_path, capsys):
    new = write_csv(tmp_path / "new.csv", ["item_id", "title", "category", "description", "tags"],
                    [("z1", "Zebra Zone", "Nature documentary", "zebras on the plains", "wild")])
    log = write_csv(tmp_path / "log.csv", ["user_id", "item_id", "rating", "timestamp"],
                    [("u01", "z1", "5", "2026-06-01"), ("u01", "nope", "5", "2026-06-01")])
    assert main(["update", str(rec_dir), "--add-items", str(new), "--remove-items", "m001",
                 "--record", str(log)]) == 0
    result, err = _json(capsys)
    assert result["added"] == 1 and result["removed"] == 1
    assert result["recorded"]["dropped"]["unknown_item"] == 1 and "unknown_item" in err
    from text_recommender.service import Recommender

    rec = Recommender.load(rec_dir)
    assert rec.history("u01")[-1]["item_id"] == "z1"
    assert "m001" not in {r.item_id for r in rec.recommend("u02", k=200)}
    assert main(["update", str(rec_dir)]) == 2
    assert "at least one of --add-items" in capsys.readouterr().err


def test_help_imports_no_model_code():
    import subprocess
    import sys

    code = ("import sys\nfrom text_recommender.cli import build_parser\n"
            "build_parser().format_help()\n"
            "print(sorted(m for m in ('torch', 'gradio', 'lightgbm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("bad", ["data.positive_rating=high", "rerank.diversity=2"])
def test_bad_config_values_are_one_error(bad, rec_samples, tmp_path, capsys):
    assert main(["fit", "--items", str(rec_samples["items"]), "--interactions",
                 str(rec_samples["interactions"]), "--output", str(tmp_path / "r"),
                 "--set", bad]) == 2
    assert capsys.readouterr().err.startswith("error: ")

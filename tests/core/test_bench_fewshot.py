"""benchmarks/bench_fewshot.py: arguments, subset files, peer commands and the peers-skip path.

Light: no MiniLM; the one training test runs the semi-supervised pipeline on the tiny BERT.
"""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        yield importlib.import_module("bench_fewshot")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_defaults(bench):
    args = bench.parse_args([])
    assert args.methods == ["ours", "setfit", "hf-trainer"]
    assert args.seeds == [0, 1, 2] and args.peer_seeds == [0, 1, 2]
    assert args.shots == 10 and args.model == "default" and args.remine
    assert args.peers_python == ROOT.parent / "peers-venv" / "bin" / "python"
    assert args.peer_extra == {}


def test_peer_seeds_and_extra_args(bench):
    args = bench.parse_args(["--seeds", "0", "1", "--peer-seeds", "0", "--no-remine",
                             "--peer-args", "setfit=--num-iterations 5", "--peer-args", "setfit=--epochs 1"])
    assert args.seeds == [0, 1] and args.peer_seeds == [0] and not args.remine
    assert args.peer_extra == {"setfit": ["--num-iterations", "5", "--epochs", "1"]}


@pytest.mark.parametrize("bad", ["setfit", "other=--x 1"])
def test_bad_peer_args_are_refused(bench, bad, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--peer-args", bad])
    assert "expected METHOD=ARGS" in capsys.readouterr().err


def test_unknown_method_is_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--methods", "gpt"])


def test_write_subset_round_trips_through_load_dataset(bench, tmp_path):
    from domaintune import TextDataset, load_dataset

    data = TextDataset(texts=['card "lost", help', "refund\nplease", "hi"], labels=["card", "refund", "greet"])
    path = bench.write_subset(data, tmp_path / "sub" / "subset.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["text", "category"]
    back = load_dataset(path, text="text", label="category")
    assert list(back.texts) == list(data.texts) and list(back.labels) == list(data.labels)
    assert [p.name for p in path.parent.iterdir()] == ["subset.csv"]  # no temporary file left


def test_missing_peers_python_gives_the_setup_hint(bench, tmp_path):
    message = bench.peers_problem(tmp_path / "nowhere" / "python")
    assert message.startswith("peers skipped") and "requirements-peers.txt" in message
    assert bench.peers_problem(Path(sys.executable)) is None


def test_peer_command_passes_subset_seed_model_and_extra(bench, tmp_path):
    args = bench.parse_args(["--peers-python", "/x/python", "--peer-args", "setfit=--num-iterations 5"])
    cmd = bench.peer_command(args, "setfit", tmp_path / "s.csv", tmp_path / "t.csv", 2, tmp_path / "m",
                             tmp_path / "o.json")
    assert cmd[0] == "/x/python" and cmd[1].endswith("peers/run_setfit.py")
    assert cmd[cmd.index("--train") + 1] == str(tmp_path / "s.csv")
    assert cmd[cmd.index("--seed") + 1] == "2" and cmd[-2:] == ["--num-iterations", "5"]
    hf = bench.peer_command(args, "hf-trainer", tmp_path / "s.csv", tmp_path / "t.csv", 0, tmp_path / "m",
                            tmp_path / "o.json")
    assert hf[1].endswith("peers/run_hf_trainer.py") and "--num-iterations" not in hf


def test_failed_peer_run_says_so(bench, tmp_path):
    with pytest.raises(RuntimeError, match="peer run failed"):
        bench.run_peer([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                       tmp_path / "o.json", timeout=60)


def test_peer_runners_parse_their_arguments_without_heavy_imports():
    for runner in ("run_setfit.py", "run_hf_trainer.py"):
        text = (ROOT / "benchmarks" / "peers" / runner).read_text(encoding="utf-8")
        head = text.split("def main", 1)[0]
        assert "import torch" not in head and "import setfit" not in head  # heavy imports inside main


def test_table_and_summary(bench):
    rows = [bench.summary("ours", {0: {"accuracy": 0.88, "train_seconds": 10.0},
                                   1: {"accuracy": 0.86, "train_seconds": 12.0}})]
    assert rows[0]["accuracy_mean"] == pytest.approx(0.87)
    text = bench.table(rows)
    assert "semi-supervised" in text and "88.00 (s0) / 86.00 (s1)" in text and "**87.00%**" in text


def test_ours_pipeline_on_the_tiny_model(bench, tiny_model):
    from domaintune import TextClassifier, TextDataset

    labels = ["card", "greet", "refund"]
    few = TextDataset(texts=["card lost", "card stolen", "hello", "hi thanks", "where is my refund",
                             "refund money back"], labels=["card", "card", "greet", "greet", "refund", "refund"])
    pool = ["my card was lost", "hello there", "refund my money", "thanks bye"]
    train = TextDataset(texts=list(few.texts) + pool, labels=list(few.labels) + ["card", "greet", "refund", "greet"])
    args = bench.parse_args(["--model", tiny_model, "--contrastive-epochs", "1", "--min-similarity", "0.0",
                             "--margin", "0.0", "--remine-min-similarity", "0.0", "--max-length", "16"])
    base = bench.CachedEmbeddings(TextClassifier.from_pretrained(tiny_model, labels=labels), train.texts)
    rows = bench.run_ours(args, train, few, few, base, seed=0)
    assert set(rows) == {"ours", "ours+remine"}
    for row in rows.values():
        assert 0.0 <= row["accuracy"] <= 1.0 and row["n_train"] == 6 + row["n_mined"]
        assert 0 < row["n_mined"] <= len(pool)

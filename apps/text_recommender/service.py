"""The :class:`Recommender`: fit, save/load, recommend, explain, update.

Fitting (``Recommender.fit``):

1. read the items (text from the configured fields) and the interactions (unknown items and bad
   rows dropped and counted);
2. hold out each user's last positive interaction of the *training* data (the protocol of
   :func:`text_recommender.split.leave_last_out`): the ranker learns to find it from what came
   before;
3. embed the catalogue with the frozen encoder; fine-tune a copy on behaviour pairs from the
   data before the held-out slice (so the ranker's text features are not fitted to its labels)
   and embed the catalogue with it;
4. fit the behaviour models (popularity, EASE, item-kNN, co-engagement) on the data before the
   slice, generate each held-out user's candidates and features, and train the LightGBM
   lambdarank ranker on them (validation users for early stopping);
5. refit the behaviour models on all the training data and index the fine-tuned embeddings
   with the core's ``FaissIndex``.

Serving: candidates from the sources, the ranker's score, business rules, the per-category cap
and MMR diversity, then an explanation per item (the history items that drove it, by text and
co-engagement similarity, and the features that pushed its score up the most, from LightGBM's
per-prediction contributions).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from domaintune.artifacts import read_artifact, sha256_file, write_artifact
from domaintune.errors import DataError, ModelLoadError

from . import __version__
from .config import RecConfig
from .data import (
    Catalog,
    InteractionsReport,
    category_labels,
    interactions_frame,
    load_interactions,
    load_items,
    normalize_id,
)
from .explain import QUERY_TEXT, explain
from .features import (
    _COL,
    FEATURES,
    Behaviour,
    Candidates,
    FeatureBuilder,
    Timeline,
    UserContext,
    feature_mask,
)
from .ranker import LearnedRanker
from .rerank import RuleSet, apply_rules, cap_per_category, mmr
from .split import leave_last_out
from .text import behaviour_pairs, fine_tune, history_text

logger = logging.getLogger(__name__)

META_FILE = "recommender.json"
REC_FORMAT = 1  # the REC_DIR layout; a newer one is refused with the version that wrote it
TASK = "recommender"
_EXPLAIN_HISTORY = 20


class UnknownItemError(DataError):
    """Item ids the catalogue does not hold."""


@dataclass(frozen=True)
class Recommendation:
    """One recommended item."""

    item_id: str
    title: str
    score: float
    rank: int
    explanation: str
    because: list[str] = field(default_factory=list)
    because_titles: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coded(frame: pd.DataFrame, catalog: Catalog, users: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"user": frame["user"].map(users).to_numpy(np.int64),
                         "item": frame["item"].map(catalog.index).to_numpy(np.int64),
                         "rating": frame["rating"].to_numpy(np.float64),
                         "ts": frame["ts"].to_numpy(np.int64)})


def _stage_bar(progress: bool, total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fit", unit="stage", disable=not progress, leave=True)


class Recommender:
    """A fitted recommender (see the module docstring for the pipeline).

    Example:
        >>> rec = Recommender.fit("items.csv", "interactions.csv")  # doctest: +SKIP
        >>> rec.save("models/rec")  # doctest: +SKIP
        >>> [r.title for r in Recommender.load("models/rec").recommend("u01", k=3)]  # doctest: +SKIP
    """

    def __init__(self, config: RecConfig, catalog: Catalog, interactions: pd.DataFrame,
                 frozen: Any, tuned: Any, e_frozen: np.ndarray, e_tuned: np.ndarray,
                 behaviour: Behaviour, ranker: LearnedRanker, index: Any,
                 removed: np.ndarray | None = None, report: dict[str, Any] | None = None,
                 implicit: bool = False) -> None:
        self.config = config
        self.catalog = catalog
        self.frozen = frozen
        self.tuned = tuned
        self.e_frozen = e_frozen
        self.e_tuned = e_tuned
        self.behaviour = behaviour
        self.ranker = ranker
        self.index = index
        self.removed = (np.zeros(len(catalog), dtype=bool) if removed is None
                        else np.asarray(removed, dtype=bool))
        self.report = report or {}
        self.implicit = implicit
        self.interactions = interactions.reset_index(drop=True)
        #: the ranker's training rows (features, labels, group sizes), kept for retraining it
        #: (e.g. the benchmark's ablation); saved as ranker_rows.npz
        self.ranker_rows: dict[str, np.ndarray] | None = None
        self._index_histories()
        self.builder = FeatureBuilder(config, behaviour, e_frozen, e_tuned, index, self.timeline)
        self.rules = RuleSet(boost=dict(config.rerank.boost), bury=dict(config.rerank.bury),
                             max_per_category=config.rerank.max_per_category)

    # ------------------------------------------------------------------ histories
    def _index_histories(self) -> None:
        frame = self.interactions
        self._hist: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        codes = frame["item"].map(self.catalog.index).to_numpy(np.int64)
        ts = frame["ts"].to_numpy(np.int64)
        ratings = frame["rating"].to_numpy(np.float64)
        order = np.argsort(frame["user"].to_numpy(), kind="stable")
        users = frame["user"].to_numpy()[order]
        bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            rows = order[a:b]
            self._hist[str(users[a])] = (codes[rows], ts[rows], ratings[rows])
        self.now_ = int(ts.max()) if len(ts) else int(time.time())
        self.timeline = Timeline.build(codes, ts, len(self.catalog))

    def users(self) -> list[str]:
        """The user ids with a history, sorted."""
        return sorted(self._hist)

    def has_history(self, user_id: Any) -> bool:
        """Whether the user has interactions (else :meth:`recommend` falls back to popular items)."""
        return (normalize_id(user_id) or "") in self._hist

    def history(self, user_id: Any, n: int | None = None) -> list[dict[str, Any]]:
        """A user's interactions, oldest first (``n`` = only the last ``n``)."""
        items, ts, ratings = self._hist.get(normalize_id(user_id) or "", (np.zeros(0, int),) * 3)
        rows = range(len(items))[-n:] if n else range(len(items))
        return [{"item_id": self.catalog.ids[items[i]], "title": self.catalog.titles[items[i]],
                 "category": self.catalog.categories[items[i]], "rating": float(ratings[i]),
                 "timestamp": int(ts[i])} for i in rows]

    def item(self, item_id: Any) -> dict[str, Any]:
        """An item's id, title, text, category, stock flag and whether it was removed."""
        pos = self.catalog.position(item_id)
        if pos is None:
            raise UnknownItemError(f"item {item_id!r} is not in the catalogue; pass an id from "
                                   "the items file (or add it with add_items)")
        return {"item_id": self.catalog.ids[pos], "title": self.catalog.titles[pos],
                "text": self.catalog.texts[pos], "category": self.catalog.categories[pos],
                "in_stock": bool(self.catalog.in_stock[pos]), "removed": bool(self.removed[pos])}

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, items: Any, interactions: Any, config: RecConfig | None = None, *,
            text_fields: Sequence[str] | None = None, progress: bool = False) -> Recommender:
        """Fit on an items table and an interactions table (files, DataFrames or records).

        Args:
            items, interactions: CSV/JSONL/Parquet files, DataFrames or lists of dicts, with
                the columns named in ``config.data``.
            config: the settings (default :class:`RecConfig`).
            text_fields: the item columns that make its text (overrides ``data.text_fields``).
            progress: a progress bar per stage (and for embedding and training).

        Returns:
            The fitted recommender; ``report`` holds the counts, timings, candidate recall on
            the ranker's slice and the feature importance.
        """
        from domaintune.pairs import BiEncoder

        cfg = config or RecConfig()
        timings: dict[str, float] = {}
        bar = _stage_bar(progress, 7)

        def stage(name: str) -> None:
            bar.set_postfix_str(name)
            timings[name] = time.perf_counter()

        def done(name: str) -> None:
            timings[name] = round(time.perf_counter() - timings[name], 2)
            bar.update()

        stage("read")
        catalog, items_report = load_items(items, cfg.data, text_fields=text_fields)
        frame, inter_report = load_interactions(interactions, cfg.data, catalog)
        done("read")

        stage("split")
        min_rating = None if inter_report.implicit else cfg.data.positive_rating
        inner_train, inner_test, split_report = leave_last_out(
            frame, min_rating=min_rating, implicit=inter_report.implicit)
        if inner_test.empty:
            raise DataError(
                f"{inter_report.source}: no user has a positive interaction (rating >= "
                f"{cfg.data.positive_rating}) after an earlier one, so the ranker has nothing to "
                "learn from; lower data.positive_rating (--set data.positive_rating=3) or give "
                "more interactions")
        users = {u: i for i, u in enumerate(sorted(frame["user"].unique()))}
        n_users, n_items = len(users), len(catalog)
        coded_inner = _coded(inner_train, catalog, users)
        done("split")

        stage("embed")
        frozen = BiEncoder.from_pretrained(cfg.text.encoder, max_length=cfg.text.max_length)
        e_frozen = frozen.encode(catalog.texts, batch_size=cfg.text.batch_size, progress=progress)
        done("embed")

        stage("fine-tune")
        if cfg.finetune.enabled:
            pairs = behaviour_pairs(coded_inner, catalog, cfg.finetune,
                                    history_items=cfg.text.history_items,
                                    positive_rating=cfg.data.positive_rating,
                                    implicit=inter_report.implicit)
            if len(pairs) < 2:
                raise DataError(f"{inter_report.source}: fine-tuning needs at least 2 behaviour "
                                f"pairs, found {len(pairs)}; give more interactions or set "
                                "finetune.enabled=false (--set finetune.enabled=false)")
            tuned = fine_tune(cfg.text.encoder, pairs, cfg.finetune,
                              max_length=cfg.text.max_length, progress=progress)
            e_tuned = tuned.encode(catalog.texts, batch_size=cfg.text.batch_size,
                                   progress=progress)
            n_pairs = len(pairs)
        else:
            tuned, e_tuned, n_pairs = frozen, e_frozen, 0
        done("fine-tune")

        stage("index")
        index = _build_index(cfg, e_tuned, tuned)
        done("index")

        stage("ranker")
        inner_behaviour = Behaviour.fit(coded_inner, n_users, n_items, cfg)
        timeline = Timeline.build(coded_inner["item"].to_numpy(), coded_inner["ts"].to_numpy(),
                                  n_items)
        builder = FeatureBuilder(cfg, inner_behaviour, e_frozen, e_tuned, index, timeline)
        X, y, groups, recall = _ranker_rows(
            builder, coded_inner, inner_test, catalog, users, frozen, tuned, cfg, progress)
        ranker = _train_ranker(X, y, groups, cfg)
        done("ranker")

        stage("behaviour")
        behaviour = Behaviour.fit(_coded(frame, catalog, users), n_users, n_items, cfg)
        done("behaviour")

        bar.close()
        report = {
            "items": items_report.to_dict(),
            "interactions": inter_report.to_dict(),
            "ranker_slice": {**split_report.to_dict(), "groups": int(len(groups)),
                             "candidate_recall": recall,
                             "rows": int(len(y))},
            "finetune_pairs": n_pairs,
            "feature_importance": ranker.feature_importance(),
            "seconds": timings,
        }
        rec = cls(cfg, catalog, frame, frozen, tuned, e_frozen, e_tuned, behaviour, ranker, index,
                  report=report, implicit=inter_report.implicit)
        rec.ranker_rows = {"X": X, "y": y, "groups": groups}
        return rec

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write REC_DIR atomically: ``recommender.json`` (config, report, encoders'
        fingerprints, format), ``items.parquet``, ``interactions.parquet``, the two embedding
        matrices (``.npy``), ``behaviour.npz``, ``ranker/``, ``index/`` and, when fine-tuned,
        ``encoder/``. A directory holding anything else is never replaced."""
        path = Path(path)
        with write_artifact(path, task=TASK, overwrite=overwrite, meta_file=META_FILE,
                            what="recommender") as art:
            d = art.dir
            items = self.catalog.to_frame()
            items["removed"] = self.removed
            items.to_parquet(d / "items.parquet", index=False)
            self.interactions.to_parquet(d / "interactions.parquet", index=False)
            np.save(d / "embeddings_frozen.npy", self.e_frozen, allow_pickle=False)
            np.save(d / "embeddings_tuned.npy", self.e_tuned, allow_pickle=False)
            state: dict[str, np.ndarray] = {}
            for name in ("popularity", "ease", "knn", "coeng"):
                for key, value in getattr(self.behaviour, name).to_state().items():
                    state[f"{name}.{key}"] = value
            np.savez(d / "behaviour.npz", **state)
            if self.ranker_rows is not None:
                np.savez(d / "ranker_rows.npz", **self.ranker_rows)
            self.ranker.save(d / "ranker")
            self.index.save(d / "index")
            # text and JSON files the core does not hash (it hashes weight suffixes): the
            # ranker's LightGBM text, the index's id list and record
            checked_files = {f"{sub}/{f.name}": sha256_file(f) for sub in ("ranker", "index")
                             for f in sorted((d / sub).iterdir())
                             if f.is_file() and f.suffix in (".txt", ".json")}
            fine_tuned = self.tuned is not self.frozen
            if fine_tuned:
                self.tuned.save(d / "encoder")
            art.meta.update({
                "rec_format": REC_FORMAT, "app_version": __version__,
                "config": self.config.to_dict(), "fields": self.catalog.fields,
                "implicit": self.implicit, "features": list(FEATURES),
                "n_items": len(self.catalog), "n_users": len(self._hist),
                "frozen_encoder": {"name": self.config.text.encoder,
                                   "fingerprint": self.frozen.fingerprint, "dim": self.frozen.dim},
                "fine_tuned": fine_tuned,
                "tuned_fingerprint": self.tuned.fingerprint,
                "report": self.report, "checked_files": checked_files,
            })
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load a REC_DIR written by :meth:`save` / ``text-recommender fit``.

        Raises:
            ModelLoadError: the directory is missing, corrupted (a file changed or missing),
                from a newer version, or its encoder is not the one its embeddings were made
                with.
        """
        from domaintune.pairs import BiEncoder, FaissIndex

        path = Path(path)
        fix = "fit it again with text-recommender fit"
        record = read_artifact(path, task=TASK, loader="text-recommender fit",
                               meta_file=META_FILE, fix=fix,
                               required=("items.parquet", "interactions.parquet",
                                         "embeddings_frozen.npy", "embeddings_tuned.npy",
                                         "behaviour.npz"))
        for name, digest in (record.get("checked_files") or {}).items():
            file = path / name
            if not file.is_file() or sha256_file(file) != digest:
                raise ModelLoadError(f"{file} is corrupted or missing: its SHA-256 differs from "
                                     f"the one recorded in {META_FILE}; {fix}")
        version = record.get("rec_format")
        if not isinstance(version, int) or version > REC_FORMAT:
            raise ModelLoadError(f"{path} was written by another version of the recommender "
                                 f"(format {version!r}, app {record.get('app_version', '?')}); "
                                 f"this is text_recommender {__version__} (format {REC_FORMAT}): "
                                 f"upgrade, or {fix}")
        try:
            cfg = RecConfig.from_dict(record.get("config") or {}, unknown="warn")
            items = pd.read_parquet(path / "items.parquet")
            catalog = Catalog.from_frame(items, record.get("fields") or [])
            interactions = pd.read_parquet(path / "interactions.parquet")
            e_frozen = np.load(path / "embeddings_frozen.npy", allow_pickle=False)
            e_tuned = np.load(path / "embeddings_tuned.npy", allow_pickle=False)
            with np.load(path / "behaviour.npz", allow_pickle=False) as npz:
                state = {k: npz[k] for k in npz.files}
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"{path} is corrupted ({type(exc).__name__}: {exc}); {fix}") from None
        parts = {}
        for name, kind in (("popularity", "Popularity"), ("ease", "EASE"), ("knn", "ItemKNN"),
                           ("coeng", "CoEngagement")):
            from . import cf

            sub = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(name + ".")}
            try:
                parts[name] = getattr(cf, kind).from_state(sub)
            except Exception as exc:
                raise ModelLoadError(f"{path / 'behaviour.npz'} is corrupted ({name}: "
                                     f"{type(exc).__name__}: {exc}); {fix}") from None
        behaviour = Behaviour(**parts)
        n = len(catalog)
        if e_frozen.shape[0] != n or e_tuned.shape[0] != n:
            raise ModelLoadError(f"{path} is corrupted: {n} items but embeddings of "
                                 f"{e_frozen.shape[0]} / {e_tuned.shape[0]} rows; {fix}")
        frozen_info = record.get("frozen_encoder") or {}
        frozen = BiEncoder.from_pretrained(cfg.text.encoder, max_length=cfg.text.max_length)
        if frozen_info.get("fingerprint") and frozen.fingerprint != frozen_info["fingerprint"]:
            raise ModelLoadError(
                f"{path}: its item embeddings were made with the encoder {frozen_info.get('name')!r} "
                f"(fingerprint {frozen_info['fingerprint']}), but {cfg.text.encoder!r} now loads "
                f"a different model (fingerprint {frozen.fingerprint}); install the original "
                f"encoder, or {fix}")
        tuned = BiEncoder.load(path / "encoder") if record.get("fine_tuned") else frozen
        if tuned.fingerprint != record.get("tuned_fingerprint"):
            raise ModelLoadError(f"{path}: the fine-tuned encoder's fingerprint "
                                 f"{tuned.fingerprint} differs from the recorded "
                                 f"{record.get('tuned_fingerprint')}; {fix}")
        index = FaissIndex.load(path / "index", encoder=tuned)
        ranker = LearnedRanker.load(path / "ranker", feature_names=list(FEATURES))
        rec = cls(cfg, catalog, interactions, frozen, tuned, e_frozen, e_tuned, behaviour,
                  ranker, index, removed=np.array(items["removed"], dtype=bool) if "removed" in items
                  else None, report=record.get("report") or {},
                  implicit=bool(record.get("implicit")))
        if (path / "ranker_rows.npz").is_file():
            with np.load(path / "ranker_rows.npz", allow_pickle=False) as rows:
                rec.ranker_rows = {k: rows[k] for k in rows.files}
        return rec

    # ------------------------------------------------------------------ recommending
    def _allowed(self, seen: np.ndarray, exclude: Iterable[Any]) -> np.ndarray:
        allowed = ~self.removed & self.catalog.in_stock
        if self.config.rerank.exclude_seen and len(seen):
            allowed[seen] = False
        for item in list(self.config.rerank.exclude) + list(exclude):
            pos = self.catalog.position(item)
            if pos is not None:
                allowed[pos] = False
        return allowed

    def _context(self, items: np.ndarray, ts: np.ndarray, now: float | None,
                 query: str | None = None) -> UserContext:
        n = self.config.text.history_items
        text = query if query is not None else (
            history_text(self.catalog, items, n) if len(items) else None)
        q_frozen = self.frozen.encode(text) if text else None
        q_tuned = (self.tuned.encode(text) if self.tuned is not self.frozen else q_frozen) if text else None
        # default request time: just after the latest interaction (every one is in the past)
        return UserContext(items, ts, q_frozen, q_tuned,
                           float(self.now_ + 1 if now is None else now),
                           query_only=query is not None and not len(items))

    def _rank(self, ctx: UserContext, allowed: np.ndarray, k: int, diversity: float | None,
              with_explanations: bool) -> list[Recommendation]:
        cfg = self.config
        cands = self.builder.build(ctx, allowed, min_candidates=k)
        if len(cands.items) == 0:
            return []
        if ctx.query_only:  # a taste in words: the text match ranks (no behaviour to learn from)
            scores = 0.5 * (cands.X[:, _COL["text_sim"]] + cands.X[:, _COL["text_sim_tuned"]])
        elif not len(ctx.items):  # no history, no query: the most popular (said so)
            scores = cands.X[:, _COL["pop"]].copy()
        else:
            scores = self.ranker.predict(cands.X)
        cats = [category_labels(self.catalog.categories[i]) for i in cands.items]
        scores = apply_rules(scores, cats, self.rules)
        order = np.argsort(-scores, kind="stable")
        lam = cfg.rerank.diversity if diversity is None else float(diversity)
        if not 0.0 <= lam <= 1.0:
            raise DataError(f"expected diversity in [0, 1], found {lam}; e.g. --diversity 0.3")
        # the MMR pool: the best max(5k, 50) candidates within the per-category cap (taken from
        # the whole order, so a cap never shortens the list while allowed items remain)
        pool = cap_per_category(order, cats, self.rules.max_per_category, max(k * 5, 50))
        if lam > 0 and len(pool) > 1:
            picked = pool[mmr(scores[pool], self.e_tuned[cands.items[pool]], k, lam)]
        else:
            picked = pool[:k]
        return self._explained(ctx, cands, picked, scores, with_explanations)

    def _explained(self, ctx: UserContext, cands: Candidates, picked: np.ndarray,
                   scores: np.ndarray, with_explanations: bool) -> list[Recommendation]:
        cfg = self.config
        out: list[Recommendation] = []
        contrib = (self.ranker.contributions(cands.X[picked])
                   if with_explanations and not ctx.query_only else None)
        hist = np.unique(ctx.items[-_EXPLAIN_HISTORY:]) if len(ctx.items) else ctx.items
        co_all = (self.behaviour.coeng.pair_scores(hist, cands.items[picked])
                  if with_explanations and not ctx.query_only and len(hist) else None)
        for rank, pos in enumerate(picked, start=1):
            item = int(cands.items[pos])
            text, because, reasons = "", [], []
            if with_explanations:
                if ctx.query_only:
                    text = QUERY_TEXT
                elif len(hist):
                    text_sim = self.e_tuned[hist] @ self.e_tuned[item]
                    co_sim = co_all[:, rank - 1]
                    contributions = dict(zip(FEATURES, contrib[rank - 1].tolist(), strict=True))
                    exp = explain(item, hist, text_sim, co_sim, contributions, self.catalog.titles,
                                  max_items=cfg.explain.max_items,
                                  max_reasons=cfg.explain.max_reasons, verb=cfg.explain.verb)
                    text, because, reasons = exp.text, list(exp.because), list(exp.reasons)
                else:
                    text = "Popular right now (no history yet)"
            out.append(Recommendation(
                item_id=self.catalog.ids[item], title=self.catalog.titles[item],
                score=round(float(scores[pos]), 6), rank=rank, explanation=text,
                because=[self.catalog.ids[i] for i in because],
                because_titles=[self.catalog.titles[i] for i in because], reasons=reasons,
                category=self.catalog.categories[item]))
        return out

    def _codes(self, item_ids: Iterable[Any]) -> np.ndarray:
        """The catalogue codes of ``item_ids``; any unknown id raises :class:`UnknownItemError`."""
        codes, unknown = [], []
        for item in item_ids:
            pos = self.catalog.position(item)
            (unknown.append(item) if pos is None else codes.append(pos))
        if unknown:
            raise UnknownItemError(f"expected item ids from the catalogue, found {len(unknown)} "
                                   f"unknown: {unknown[:5]}; check the ids")
        return np.asarray(codes, dtype=np.int64)

    @staticmethod
    def _check_k(k: int) -> int:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise DataError(f"expected k >= 1 recommendations, found {k!r}; e.g. -k 10")
        return int(k)

    def recommend(self, user_id: Any, k: int = 10, *, diversity: float | None = None,
                  exclude: Iterable[Any] = (), now: float | None = None,
                  explanations: bool = True) -> list[Recommendation]:
        """The ``k`` best items for a user (fewer when the catalogue has fewer allowed items).

        A user without a history gets the most popular items (explained as such); give a taste
        with :meth:`recommend_for_query` or a few items with :meth:`recommend_for_items`.

        Args:
            user_id: the user.
            k: list length.
            diversity: MMR's λ in [0, 1] (default ``rerank.diversity``).
            exclude: item ids not to recommend this time.
            now: the request time (epoch seconds; default: the latest interaction's time).
            explanations: compute the explanations (off for bulk evaluation).
        """
        k = self._check_k(k)
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        items, ts, _ = self._hist.get(normalize_id(user_id) or "", empty)
        ctx = self._context(items, ts, now)
        return self._rank(ctx, self._allowed(items, exclude), k, diversity, explanations)

    def recommend_for_items(self, item_ids: Sequence[Any], k: int = 10, *,
                            diversity: float | None = None, exclude: Iterable[Any] = (),
                            ) -> list[Recommendation]:
        """Recommendations for a new user who liked ``item_ids`` (oldest first)."""
        k = self._check_k(k)
        items = self._codes(item_ids)
        ctx = self._context(items, np.full(len(items), self.now_, dtype=np.int64), None)
        return self._rank(ctx, self._allowed(items, exclude), k, diversity, True)

    def recommend_for_query(self, text: str, k: int = 10, *, diversity: float | None = None,
                            exclude: Iterable[Any] = ()) -> list[Recommendation]:
        """Recommendations for a free-text taste ("space adventures with a twist"), ranked by
        how well the items' texts match it (both encoders); no history is needed."""
        k = self._check_k(k)
        if not isinstance(text, str) or not text.strip():
            raise DataError("expected a non-empty query text, found an empty one; describe what "
                            "you like, e.g. --query 'haunted houses and slow-burning dread'")
        items = np.zeros(0, dtype=np.int64)
        ctx = self._context(items, items, None, query=text.strip())
        return self._rank(ctx, self._allowed(items, exclude), k, diversity, True)

    # ------------------------------------------------------------------ updates
    def add_items(self, items: Any) -> int:
        """Add new items (a file, DataFrame or records with the catalogue's columns): embedded
        with both encoders and added to the FAISS index without a rebuild; recommendable at
        once (from their text: they have no interactions yet). Returns how many were added.

        Rows the items file would drop (repeated ids, rows without an id) are counted in
        :attr:`last_items_report` and logged.

        Raises:
            DataError: an id already in the catalogue (ids stay taken after
                :meth:`remove_items`: give a new id).
        """
        new, report = load_items(items, self.config.data,
                                 text_fields=self.catalog.fields or None)
        self.last_items_report = report
        if report.duplicate_ids or report.missing_ids:
            logger.warning("add_items: %d repeated ids and %d rows without an id were dropped",
                           report.duplicate_ids, report.missing_ids)
        start = len(self.catalog)
        self.catalog.extend(new)
        ef = self.frozen.encode(new.texts, batch_size=self.config.text.batch_size)
        et = (self.tuned.encode(new.texts, batch_size=self.config.text.batch_size)
              if self.tuned is not self.frozen else ef)
        self.e_frozen = np.vstack([self.e_frozen, ef])
        self.e_tuned = np.vstack([self.e_tuned, et]) if self.tuned is not self.frozen else self.e_frozen
        self.index.add(et, ids=list(range(start, start + len(new))))
        self.removed = np.concatenate([self.removed, np.zeros(len(new), dtype=bool)])
        self.behaviour.grow(len(self.catalog))
        self.timeline.grow(len(self.catalog))
        self.builder = FeatureBuilder(self.config, self.behaviour, self.e_frozen, self.e_tuned,
                                      self.index, self.timeline)
        return len(new)

    def remove_items(self, item_ids: Iterable[Any]) -> int:
        """Stop recommending items (they stay in histories and explanations). Returns how many
        were removed; unknown ids raise :class:`UnknownItemError`."""
        fresh = sorted({int(c) for c in self._codes(item_ids) if not self.removed[c]})
        if fresh:
            self.index.remove(fresh)
            self.removed[fresh] = True
        return len(fresh)

    def record(self, interactions: Any) -> InteractionsReport:
        """Add interactions (records, a DataFrame or a file with the configured columns, or
        ``user``, ``item``, ``rating``, ``ts``): the users' histories (kept in time order),
        popularity and co-engagement change at once, so their next recommendations do too.

        Unknown items, bad rows and interactions already recorded (same user, item and time)
        are dropped and counted in the returned report (``dropped``); rows older than the
        user's last interaction are kept in the history (in time order) and counted as
        ``out_of_order``: their co-engagement transitions wait for the next ``fit``.
        """
        frame, report = interactions_frame(interactions, self.config.data, self.catalog,
                                           allow_empty=True)
        if len(frame):
            known = set(zip(self.interactions["user"], self.interactions["item"],
                            self.interactions["ts"].astype(np.int64), strict=True))
            fresh = np.array([(u, i, int(t)) not in known for u, i, t in
                              zip(frame["user"], frame["item"], frame["ts"], strict=True)],
                             dtype=bool)
            report.dropped["duplicate"] += int((~fresh).sum())
            frame = frame[fresh].reset_index(drop=True)
        report.dropped.setdefault("out_of_order", 0)
        out_of_order = 0
        for user, group in frame.groupby("user", sort=False):
            codes = group["item"].map(self.catalog.index).to_numpy(np.int64)
            ts = group["ts"].to_numpy(np.int64)
            ratings = group["rating"].to_numpy(np.float64)
            old = self._hist.get(user, (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)))
            last = old[1][-1] if len(old[1]) else np.iinfo(np.int64).min
            in_order = ts >= last
            out_of_order += int((~in_order).sum())
            self.behaviour.coeng.record(old[0], codes[in_order])
            items = np.concatenate([old[0], codes])
            times = np.concatenate([old[1], ts])
            order = np.argsort(times, kind="stable")
            self._hist[user] = (items[order], times[order],
                                np.concatenate([old[2], ratings])[order])
            self.behaviour.popularity.record(codes, ts)
        report.kept = len(frame)
        report.dropped.pop("out_of_order")
        report.out_of_order = out_of_order
        if len(frame):
            self.interactions = pd.concat([self.interactions, frame], ignore_index=True)
            self.now_ = max(self.now_, int(frame["ts"].max()))
            codes = self.interactions["item"].map(self.catalog.index).to_numpy(np.int64)
            self.timeline = Timeline.build(codes, self.interactions["ts"].to_numpy(np.int64),
                                           len(self.catalog))
            self.builder.timeline = self.timeline
            self.builder.invalidate()
        return report

    def __repr__(self) -> str:
        return (f"Recommender(items={len(self.catalog)}, users={len(self._hist)}, "
                f"fine_tuned={self.tuned is not self.frozen})")


# ---------------------------------------------------------------------------- fitting helpers
def _build_index(cfg: RecConfig, embeddings: np.ndarray, encoder: Any) -> Any:
    from domaintune.pairs import FaissIndex

    return FaissIndex(kind=cfg.text.index).fit(embeddings, ids=list(range(len(embeddings))),
                                               encoder=encoder)


def _ranker_rows(builder: FeatureBuilder, coded_inner: pd.DataFrame, inner_test: pd.DataFrame,
                 catalog: Catalog, users: dict[str, int], frozen: Any, tuned: Any,
                 cfg: RecConfig, progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          float]:
    """Candidates + features + labels for each held-out user (a group per user whose
    held-out item is among the candidates)."""
    from tqdm.auto import tqdm

    order = np.argsort(coded_inner["user"].to_numpy(), kind="stable")
    codes_user = coded_inner["user"].to_numpy()[order]
    items_all = coded_inner["item"].to_numpy()[order]
    ts_all = coded_inner["ts"].to_numpy()[order]
    starts = np.searchsorted(codes_user, np.arange(len(users) + 1))
    tests = [(users[u], catalog.index[i], int(t)) for u, i, t in
             zip(inner_test["user"], inner_test["item"], inner_test["ts"], strict=True)]
    texts = []
    for u, _, _ in tests:
        hist = items_all[starts[u]:starts[u + 1]]
        texts.append(history_text(catalog, hist, cfg.text.history_items) if len(hist) else "")
    nonempty = [i for i, t in enumerate(texts) if t]
    qf = np.zeros((len(texts), builder.e_frozen.shape[1]), dtype=np.float32)
    qt = np.zeros_like(qf)
    if nonempty:
        batch = [texts[i] for i in nonempty]
        qf[nonempty] = frozen.encode(batch, batch_size=cfg.text.batch_size)
        qt[nonempty] = tuned.encode(batch, batch_size=cfg.text.batch_size) if tuned is not frozen else qf[nonempty]
    Xs, ys, groups = [], [], []
    hits = 0
    for j, (u, target, ts) in enumerate(tqdm(tests, desc="ranker features", unit="user",
                                             disable=not progress, leave=False)):
        hist = items_all[starts[u]:starts[u + 1]]
        hts = ts_all[starts[u]:starts[u + 1]]
        allowed = np.ones(len(catalog), dtype=bool)
        allowed[hist] = False
        ctx = UserContext(hist, hts, qf[j] if texts[j] else None, qt[j] if texts[j] else None,
                          float(ts))
        cands = builder.build(ctx, allowed)
        label = (cands.items == target).astype(np.int32)
        if label.any():
            hits += 1
            Xs.append(cands.X)
            ys.append(label)
            groups.append(len(label))
    if not groups:
        raise DataError("no held-out positive item was among its user's candidates, so the "
                        "ranker has nothing to learn from; raise candidates.text / candidates.cf")
    recall = round(hits / max(len(tests), 1), 4)
    logger.info("ranker slice: %d users, candidate recall %.3f", len(tests), recall)
    return np.vstack(Xs), np.concatenate(ys), np.asarray(groups, dtype=np.int64), recall


def _train_ranker(X: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: RecConfig,
                  keep: np.ndarray | None = None) -> LearnedRanker:
    rc = cfg.ranker
    rng = np.random.default_rng(rc.seed)
    n_groups = len(groups)
    n_val = int(round(n_groups * rc.validation_fraction)) if n_groups >= 10 else 0
    val = np.zeros(n_groups, dtype=bool)
    if n_val:
        val[rng.choice(n_groups, size=n_val, replace=False)] = True
    row_val = np.repeat(val, groups)
    names = list(FEATURES)
    if keep is not None:
        X = X[:, keep]
        names = [n for n, k in zip(FEATURES, keep, strict=True) if k]
    ranker = LearnedRanker(n_estimators=rc.n_estimators, learning_rate=rc.learning_rate,
                           num_leaves=rc.num_leaves, min_child_samples=rc.min_child_samples,
                           early_stopping_rounds=rc.early_stopping_rounds, seed=rc.seed)
    if n_val:
        ranker.fit(X[~row_val], y[~row_val], groups[~val], names,
                   X_val=X[row_val], y_val=y[row_val], groups_val=groups[val])
    else:
        ranker.fit(X, y, groups, names)
    return ranker


def fit_ranker_ablation(X: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: RecConfig,
                        drop_group: str) -> LearnedRanker:
    """A ranker trained without one feature group (for the benchmark's ablation)."""
    return _train_ranker(X, y, groups, cfg, keep=feature_mask(drop_group))


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The fit report as readable lines (the CLI's summary on stderr)."""
    it, inter, sl = report["items"], report["interactions"], report["ranker_slice"]
    dropped = {k: v for k, v in inter["dropped"].items() if v}
    lines = [
        f"items: {it['kept']} kept of {it['rows']} rows"
        + (f" ({it['duplicate_ids']} duplicate ids dropped)" if it["duplicate_ids"] else "")
        + (f" ({it['missing_ids']} without an id dropped)" if it["missing_ids"] else "")
        + (f"; {it['empty_text']} with empty text (title/id used)" if it["empty_text"] else "")
        + f"; text from {', '.join(it['text_fields'])}",
        f"interactions: {inter['kept']} kept of {inter['rows']}"
        + (f", dropped {json.dumps(dropped)}" if dropped else ", none dropped")
        + f"; {inter['users']} users, {inter['items']} items with interactions"
        + (" (implicit: no rating column)" if inter["implicit"] else ""),
        f"ranker: {sl['groups']} users' held-out items ({sl['rows']} candidate rows); candidate "
        f"recall {sl['candidate_recall']:.3f}; fine-tuning pairs {report['finetune_pairs']}",
        "feature importance: " + ", ".join(f"{k} {v:.2f}" for k, v in
                                           list(report["feature_importance"].items())[:6]),
        "seconds: " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()),
    ]
    return lines

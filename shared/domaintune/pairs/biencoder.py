"""``BiEncoder``: a sentence-transformers embedding model fine-tuned on (query, passage) pairs.

Queries and passages are embedded separately (normalised float32 vectors), so a corpus is
embedded once and searched with :class:`~domaintune.pairs.FaissIndex`. Training uses the
in-batch-negatives contrastive loss (``MultipleNegativesRankingLoss``): every other passage in a
batch is a negative, plus an optional hard negative per pair.

Example:
    >>> from domaintune.pairs import BiEncoder, PairTrainingConfig, load_pairs
    >>> pairs = load_pairs("faq.csv", query="question", passage="answer")  # doctest: +SKIP
    >>> enc = BiEncoder.from_pretrained("default").fit(pairs, config=PairTrainingConfig(epochs=1))  # doctest: +SKIP
    >>> enc.encode(["where is my refund?"]).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import read_artifact, write_artifact
from ..data import check_texts
from ..device import resolve_device
from ..errors import ConfigError, DataError, ModelLoadError, closest
from ..hub import resolve_model
from ..persistence import write_json_atomic
from .config import PairLoss, PairTrainingConfig
from .data import PairDataset
from .io import WEIGHTS_FILE, fingerprint, restore_state, versions
from .training import count_truncated, run_trainer

logger = logging.getLogger(__name__)

TASK = "bi-encoder"
POOLING_MODES = ("mean", "cls", "max")




class BiEncoder:
    """Text embedding model for retrieval and similarity, fine-tuned contrastively on pairs.

    Build one with :meth:`from_pretrained` (then :meth:`fit`) or :meth:`load`. The wrapped
    ``sentence_transformers.SentenceTransformer`` is ``self.model``.
    """

    def __init__(self, model: Any, *, base_model: str = "default") -> None:
        self.model = model
        self.base_model = str(base_model)
        self.training_config: PairTrainingConfig | None = None
        self.history: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        model: str = "default",
        *,
        pooling: str = "mean",
        max_length: int | None = None,
        device: str = "auto",
    ) -> BiEncoder:
        """A bi-encoder on ``model``.

        Args:
            model: ``"default"`` (packaged all-MiniLM-L6-v2), a local directory (a
                sentence-transformers model, or a plain transformers encoder, which gets
                ``pooling`` + L2 normalisation) or a Hugging Face Hub id.
            pooling: ``mean``, ``cls`` or ``max``; used only for plain transformers encoders
                (a sentence-transformers model keeps its own pooling).
            max_length: tokens per text; ``None`` keeps the model's limit.
            device: ``auto`` (CUDA > MPS > CPU), ``cpu``, ``cuda`` ...

        Example:
            >>> enc = BiEncoder.from_pretrained("default")  # doctest: +SKIP
            >>> enc.dim  # doctest: +SKIP
            384
        """
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import (
            Normalize,
            Pooling,
            Transformer,
        )

        if pooling not in POOLING_MODES:
            raise ConfigError(f"pooling expects one of {list(POOLING_MODES)}, found {pooling!r}"
                              f"{closest(pooling, POOLING_MODES)}")
        path = resolve_model(model)
        dev = str(resolve_device(device))
        try:
            if (path / "modules.json").is_file():
                st = SentenceTransformer(str(path), device=dev, local_files_only=True)
            else:
                transformer = Transformer(str(path), max_seq_length=max_length)
                dim = transformer.get_embedding_dimension()
                st = SentenceTransformer(modules=[transformer, Pooling(dim, pooling), Normalize()],
                                         device=dev)
        except Exception as exc:
            raise ModelLoadError(
                f"cannot build a bi-encoder from {path} ({type(exc).__name__}: {exc}); pass a "
                "sentence-transformers or transformers model directory, or model='default'"
            ) from None
        if max_length is not None:
            st.max_seq_length = max_length
        return cls(st, base_model=str(model))

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.model.get_embedding_dimension())

    @property
    def max_length(self) -> int | None:
        """Tokens per text; longer texts are truncated."""
        return self.model.max_seq_length

    @property
    def fingerprint(self) -> str:
        """Short hash of the weights and pooling: equal fingerprints give equal embeddings."""
        if self._fingerprint is None:
            extra = [type(m).__name__ for m in self.model]
            extra += [m.get_config_dict() for m in list(self.model)[1:] if hasattr(m, "get_config_dict")]
            self._fingerprint = fingerprint(self.model, extra)
        return self._fingerprint

    @property
    def encoder_info(self) -> dict[str, Any]:
        """What :class:`~domaintune.pairs.FaissIndex` records about the encoder of its vectors."""
        return {"name": self.base_model, "fingerprint": self.fingerprint, "dim": self.dim}

    # ------------------------------------------------------------------ inference
    def encode(
        self, texts: str | Sequence[str], batch_size: int = 64, progress: bool = False, *,
        backend: str = "auto",
    ) -> np.ndarray:
        """L2-normalised float32 embeddings: ``(dim,)`` for one string, ``(n, dim)`` for a list.

        Args:
            texts: one text or a list of texts (queries and passages alike).
            batch_size: texts per forward pass.
            progress: show a progress bar (PyTorch only).
            backend: ``auto`` (the faster of PyTorch and the encoder's fp32 ONNX twin),
                ``torch`` or ``onnx``; same vectors either way (see :mod:`domaintune.backend`).

        Example:
            >>> enc.encode(["where is my refund?", "card lost"]).shape  # doctest: +SKIP
            (2, 384)
        """
        from ..backend import select

        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        check_texts(batch, "texts to encode")
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        twin = select(self, len(batch), backend)
        if twin is not None:
            out = twin.encode(batch, batch_size)
            return out[0] if single else out
        out = self.model.encode(batch, batch_size=batch_size, show_progress_bar=progress,
                                convert_to_numpy=True, normalize_embeddings=True)
        out = np.asarray(out, dtype=np.float32)
        return out[0] if single else out

    def similarity(self, queries: str | Sequence[str], passages: str | Sequence[str]) -> np.ndarray:
        """Cosine similarity matrix ``(n_queries, n_passages)`` (a scalar for two strings)."""
        q, p = self.encode(queries), self.encode(passages)
        return q @ p.T

    # ------------------------------------------------------------------ training
    @staticmethod
    def _training_pairs(train: PairDataset) -> PairDataset:
        if not isinstance(train, PairDataset):
            raise DataError(f"expected a PairDataset (see domaintune.pairs.load_pairs), found "
                            f"{type(train).__name__}")
        if train.labels is None:
            return train
        if not train.has_scores:
            raise DataError(
                f"{train.source}: a bi-encoder trains on (query, positive passage) pairs, but the "
                f"labels are class names {train.label_names[:5]}; keep the positive pairs "
                "(pairs.subset([...])) or train a CrossEncoderModel on them"
            )
        keep = [i for i, v in enumerate(train.labels) if v > 0]
        if not keep:
            raise DataError(f"{train.source}: no pair has a label > 0, so there are no positives "
                            "to train on; check the label column")
        if len(keep) < len(train):
            logger.info("%s: training on the %d pairs with label > 0; %d pairs with label <= 0 "
                        "are skipped (give hard negatives as a negative column instead)",
                        train.source, len(keep), len(train) - len(keep))
        return train.subset(keep)

    def fit(
        self,
        train: PairDataset,
        validation: PairDataset | None = None,
        config: PairTrainingConfig | None = None,
    ) -> BiEncoder:
        """Fine-tune on (query, positive[, negative]) pairs with in-batch negatives.

        Args:
            train: training pairs (:func:`~domaintune.pairs.load_pairs`,
                :func:`~domaintune.pairs.mine_hard_negatives`). Rows with a numeric label
                <= 0 are skipped; a ``negatives`` column adds one hard negative per pair.
            validation: held-out pairs; retrieval metrics (Recall@k, MRR@10, nDCG@10 over the
                validation passages) are measured before and after training.
            config: a :class:`PairTrainingConfig` (default: 1 epoch, batch 32, lr 2e-5).

        Returns:
            ``self``, trained; ``history`` holds the per-epoch loss, ``metrics`` the summary.

        Example:
            >>> enc.fit(train, val, PairTrainingConfig(epochs=1, batch_size=64))  # doctest: +SKIP
        """
        import datasets
        from sentence_transformers.sentence_transformer.losses import (
            CachedMultipleNegativesRankingLoss,
            MultipleNegativesRankingLoss,
        )

        cfg = config or PairTrainingConfig()
        if not isinstance(cfg, PairTrainingConfig):
            raise TypeError(f"expected a PairTrainingConfig, found {type(cfg).__name__}")
        pairs = self._training_pairs(train)
        if len(pairs) < 2 and pairs.negatives is None:
            raise DataError(f"{pairs.source}: in-batch-negatives training needs at least 2 pairs "
                            f"(or a negative column), found {len(pairs)}")
        if cfg.max_length is not None:
            self.model.max_seq_length = cfg.max_length
        texts = pairs.queries + pairs.passages + (pairs.negatives or [])
        count_truncated(self.model.tokenizer, texts, self.max_length, "texts")
        columns = {"anchor": pairs.queries, "positive": pairs.passages}
        if pairs.negatives is not None:
            columns["negative"] = pairs.negatives
        dataset = datasets.Dataset.from_dict(columns)
        if cfg.loss == PairLoss.CACHED_MNRL:
            loss = CachedMultipleNegativesRankingLoss(
                self.model, scale=cfg.scale, mini_batch_size=cfg.mini_batch_size,
                show_progress_bar=False)
        else:
            loss = MultipleNegativesRankingLoss(self.model, scale=cfg.scale)
        from ..backend import use_backend

        with use_backend("torch"):  # the weights are about to change: no ONNX twin for them
            before = self.evaluate(validation) if validation is not None else None
        start = time.perf_counter()
        run = run_trainer(self.model, dataset, loss, cfg, cross_encoder=False, no_duplicates=True)
        self._fingerprint = None
        from ..backend import forget

        forget(self)  # a twin built before the fit holds the old weights
        self.training_config = cfg
        self.history = run["history"]
        self.metrics = {
            "train_seconds": round(time.perf_counter() - start, 2),
            "n_train": len(pairs),
            "n_skipped": len(train) - len(pairs),
            "hard_negatives": pairs.negatives is not None,
            "steps": run["steps"],
            "train_loss": run["train_loss"],
        }
        if validation is not None:
            self.metrics["validation_before"] = before
            self.metrics["validation"] = self.evaluate(validation)
        logger.info(
            "trained bi-encoder %s on %d pairs%s (%d skipped) for %d steps in %.1fs, final loss "
            "%.4f%s", self.base_model, len(pairs),
            " with hard negatives" if pairs.negatives is not None else "",
            len(train) - len(pairs), run["steps"], self.metrics["train_seconds"], run["train_loss"],
            f"; validation MRR@10 {before['mrr@10']:.4f} -> {self.metrics['validation']['mrr@10']:.4f}"
            if validation is not None else "",
        )
        return self

    def evaluate(
        self,
        pairs: PairDataset,
        corpus: Sequence[str] | None = None,
        ks: Sequence[int] = (1, 5, 10),
    ) -> dict[str, Any]:
        """Retrieval metrics of ``pairs``' queries against their passages (+ ``corpus``).

        Args:
            pairs: (query, relevant passage) pairs; a query's relevant passages are all the
                passages it is paired with (rows with a numeric label <= 0 are not relevant).
            corpus: extra passages (distractors) searched together with the pairs' passages.
            ks: cut-offs of Recall@k; MRR and nDCG are reported at ``max(ks)``.

        Returns:
            ``{"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "n_queries",
            "n_corpus"}``.
        """
        from .retrieval import evaluate_retrieval

        return evaluate_retrieval(self, pairs, corpus=corpus, ks=ks)

    # ------------------------------------------------------------------ export
    def export_onnx(self, directory: str | Path, *, quantize: bool = False,
                    overwrite: bool = False) -> Path:
        """Export the encoder to ONNX; serve it with :class:`domaintune.export.OnnxBiEncoder`.

        An fp32 export is checked to reproduce this encoder's embeddings and keeps its
        fingerprint (a FAISS index built with either one loads with the other); an int8 export
        (``quantize``) gets a fingerprint of its own.

        Example:
            >>> BiEncoder.from_pretrained("default").export_onnx("models/encoder-onnx")  # doctest: +SKIP
        """
        from ..export import OnnxBiEncoder, export_module

        return export_module(
            self.model, lambda st, inputs: st(dict(inputs))["sentence_embedding"],
            self.model.tokenizer, directory, max_length=int(self.max_length or 512),
            kind=OnnxBiEncoder.KIND, quantize=quantize, overwrite=overwrite,
            info={"base_model": self.base_model, "dim": self.dim,
                  "fingerprint": self.fingerprint + ("-int8" if quantize else "")})

    def _backend_spec(self):
        """What :mod:`domaintune.backend` needs to build, key and load this encoder's ONNX twin."""
        from ..backend import TwinSpec
        from ..export import OnnxBiEncoder

        modules = [type(m).__name__ for m in self.model]
        modules += [m.get_config_dict() for m in list(self.model)[1:] if hasattr(m, "get_config_dict")]
        return TwinSpec(
            kind=OnnxBiEncoder.KIND, module=self.model, device=self.model.device,
            tokenizer=self.model.tokenizer,
            settings={"max_length": self.max_length, "modules": modules},
            export=lambda directory: self.export_onnx(directory, quantize=False),
            load=OnnxBiEncoder.load)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model directory atomically (temp dir, then rename) and return its path.

        Contents: the sentence-transformers files (``modules.json``, ``model.safetensors``,
        ``config.json``, pooling/normalize folders, tokenizer), ``domaintune.json`` (base model,
        dimension, fingerprint, versions), ``training_config.json``, ``metrics.json`` and a model
        card ``README.md``.

        Args:
            path: a new or empty directory.
            overwrite: replace an earlier domaintune directory at ``path`` (a directory holding
                anything else is never replaced).
        """
        path = Path(path)
        with write_artifact(path, task=TASK, overwrite=overwrite) as art:
            tmp = art.dir
            self.model.save(str(tmp), create_model_card=False, safe_serialization=True)
            art.meta.update(**versions(), base_model=self.base_model, dim=self.dim,
                       max_length=self.max_length, fingerprint=self.fingerprint,
                       trained=self.training_config is not None)
            if self.training_config is not None:
                write_json_atomic(tmp / "training_config.json", self.training_config.to_dict())
            write_json_atomic(tmp / "metrics.json", {**self.metrics, "history": self.history})
            (tmp / "README.md").write_text(self._model_card(), encoding="utf-8")
        return path

    def _model_card(self) -> str:
        val = self.metrics.get("validation") or {}
        lines = [
            f"# {self.base_model} bi-encoder fine-tuned with domaintune",
            "",
            f"- embeddings: {self.dim} dimensions, L2-normalised; max_length {self.max_length}",
            f"- training pairs: {self.metrics.get('n_train', 0)}"
            f"{' (with hard negatives)' if self.metrics.get('hard_negatives') else ''}; "
            f"steps: {self.metrics.get('steps', 0)}; fingerprint `{self.fingerprint}`",
        ]
        if val:
            lines.append(f"- validation: Recall@1 {val['recall@1']:.4f}, MRR@10 {val['mrr@10']:.4f}, "
                         f"nDCG@10 {val['ndcg@10']:.4f} ({val['n_queries']} queries, "
                         f"{val['n_corpus']} passages)")
        lines += ["", "## Use", "", "```python", "from domaintune.pairs import BiEncoder",
                  "enc = BiEncoder.load('path/to/this/folder')", "enc.encode(['some text'])", "```",
                  "", "It is also a plain sentence-transformers model: "
                  "`SentenceTransformer('path/to/this/folder')`.", ""]
        return "\n".join(lines)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> BiEncoder:
        """Load a directory written by :meth:`save` (safetensors only; no pickles are read).

        Raises:
            ModelLoadError: the directory is missing, incomplete or corrupted, or its weights
                no longer match the fingerprint recorded at save time.
        """
        from sentence_transformers import SentenceTransformer

        path = Path(path)
        meta = read_artifact(path, task=TASK, required=("modules.json", "config.json", WEIGHTS_FILE),
                             loader="BiEncoder.save")
        try:
            st = SentenceTransformer(str(path), device=str(resolve_device(device)),
                                     local_files_only=True)
        except Exception as exc:
            raise ModelLoadError(f"{path} is corrupted: cannot load the bi-encoder "
                                 f"({type(exc).__name__}: {exc}); re-save or retrain the model") from None
        enc = cls(st, base_model=meta.get("base_model", "default"))
        return restore_state(enc, meta, path)

    def __repr__(self) -> str:
        return (f"BiEncoder(base_model={self.base_model!r}, dim={self.dim}, "
                f"max_length={self.max_length}, trained={self.training_config is not None})")

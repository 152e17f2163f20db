"""Dense retrieval over FAISS: an index with a scikit-learn contract, hard-negative mining and
retrieval evaluation.

``FaissIndex(kind="auto")`` searches exactly (``IndexFlatIP``) up to ``exact_max`` vectors
(:data:`EXACT_SEARCH_MAX` = 50,000 by default: a brute-force query over 50k x 384 floats takes a
few milliseconds) and builds an approximate HNSW graph (``IndexHNSWFlat``) above it; ``kind="ivf"``
(``IndexIVFFlat``, k-means cells) and ``kind="hnsw"``/``"flat"`` force a structure. Vectors are
L2-normalised by default, so scores are cosine similarities. :meth:`FaissIndex.add` and
:meth:`FaissIndex.remove` update a fitted index in place, without rebuilding it.

Example:
    >>> from domaintune.pairs import BiEncoder, FaissIndex
    >>> enc = BiEncoder.from_pretrained("default")  # doctest: +SKIP
    >>> index = FaissIndex().fit(enc.encode(passages), ids=passage_ids, encoder=enc)  # doctest: +SKIP
    >>> scores, ids = index.search(enc.encode(["where is my refund?"]), k=5)  # doctest: +SKIP
    >>> index.save("models/faq-index")  # doctest: +SKIP
    >>> FaissIndex.load("models/faq-index", encoder=enc)  # raises if enc is not the same encoder  # doctest: +SKIP
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import read_artifact, read_json_file, sha256_file, write_artifact
from ..errors import ConfigError, DataError, ModelLoadError, NotFittedError, closest
from ..persistence import write_json_atomic
from .data import PairDataset
from .metrics import retrieval_metrics
from .protocols import Encoder

logger = logging.getLogger(__name__)

EXACT_SEARCH_MAX = 50_000
INDEX_FILE = "index.faiss"
SIDECAR_FILE = "index.json"
IDS_FILE = "ids.json"


class IndexKind(str, enum.Enum):
    """Index structure; ``auto`` = ``flat`` up to ``exact_max`` vectors, ``hnsw`` above."""

    AUTO = "auto"
    FLAT = "flat"  # exact inner-product search
    IVF = "ivf"  # inverted lists over k-means cells (IndexIVFFlat); search nprobe cells
    HNSW = "hnsw"  # navigable small-world graph (IndexHNSWFlat); no training


def _encoder_info(encoder: Any) -> dict[str, Any] | None:
    """What an index records about its encoder: a BiEncoder, a mapping or a fingerprint string."""
    if encoder is None:
        return None
    if hasattr(encoder, "encoder_info"):
        return dict(encoder.encoder_info)
    if isinstance(encoder, Mapping):
        return dict(encoder)
    if isinstance(encoder, str):
        return {"fingerprint": encoder}
    raise ConfigError(f"encoder expects a BiEncoder, a dict with 'name'/'fingerprint' or a "
                      f"fingerprint string, found {type(encoder).__name__}")


def _as_matrix(x: Any, what: str, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1 and what == "queries":
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise DataError(f"expected {what} as a non-empty 2-D array (n, dim), found shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"expected {what} with dimension {dim} (the index's), found {arr.shape[1]}; "
                        "encode them with the encoder the index was built with")
    if not np.isfinite(arr).all():
        raise DataError(f"{what} contain NaN or infinite values; check the encoder output")
    return np.ascontiguousarray(arr)


def _relabel_ivf(index: Any, new_label: np.ndarray) -> None:
    """Rewrite the labels stored in an IVF index's inverted lists: ``old -> new_label[old]``."""
    import faiss

    invlists = index.invlists
    code_size = invlists.code_size
    for list_no in range(index.nlist):
        size = invlists.list_size(list_no)
        if size == 0:
            continue
        ids_ptr = invlists.get_ids(list_no)
        old = faiss.rev_swig_ptr(ids_ptr, size).copy()
        invlists.release_ids(list_no, ids_ptr)
        new = np.ascontiguousarray(new_label[old], dtype=np.int64)
        if np.array_equal(old, new):
            continue
        codes_ptr = invlists.get_codes(list_no)
        codes = faiss.rev_swig_ptr(codes_ptr, size * code_size).copy()
        invlists.release_codes(list_no, codes_ptr)
        invlists.update_entries(list_no, 0, size, faiss.swig_ptr(new), faiss.swig_ptr(codes))


class FaissIndex:
    """Nearest-neighbour search over embeddings by inner product (cosine when normalised).

    Follows scikit-learn's contract: ``__init__`` stores parameters, :meth:`fit` builds the index
    and returns ``self``, learned state ends in ``_``, :meth:`search` before :meth:`fit` raises
    :class:`~domaintune.errors.NotFittedError`.

    Args:
        kind: ``auto`` (exact ``flat`` search up to ``exact_max`` vectors, ``hnsw`` above),
            ``flat``, ``ivf`` or ``hnsw``.
        normalize: L2-normalise vectors and queries (scores are then cosine similarities).
        exact_max: largest corpus searched exactly by ``kind="auto"``.
        nlist: IVF cells; ``None`` = ``4 * sqrt(n)``, at most ``n / 39`` (faiss's minimum of 39
            training points per cell).
        nprobe: IVF cells searched per query; ``None`` = ``max(8, nlist // 8)``.
        hnsw_m: HNSW neighbours per node.
        ef_construction: HNSW build-time candidate list size.
        ef_search: HNSW search-time candidate list size (raised to ``k`` when smaller).
        seed: seed of the IVF k-means.

    Incremental updates: :meth:`add` appends vectors under new ids (flat and HNSW append; IVF
    adds them to the cells trained by :meth:`fit`, which are never retrained, so refit once the
    corpus has drifted far from the training data). :meth:`remove` deletes ids. Flat and IVF
    remove for real (faiss ``remove_ids``): the remaining vectors keep their order and are
    renumbered, so ``ids_[p]`` is always the id at faiss position ``p``. HNSW graphs cannot
    delete, so removed vectors become *tombstones*: they stay in the graph (and in ``ids_``),
    their positions are listed in ``tombstones_``, and searches skip them (a FAISS ID selector,
    with ``efSearch`` scaled up by the share of tombstones); refit when most of the graph is
    dead. In every kind ``len(index)`` counts the live vectors only, a removed id never comes
    back from :meth:`search` (with or without ``subset``), and a removed id may be added again.
    ``save``/``load`` keep the tombstones. ``add``/``remove`` must not run concurrently with
    searches.

    Example:
        >>> import numpy as np
        >>> x = np.eye(3, dtype="float32")
        >>> index = FaissIndex().fit(x, ids=["a", "b", "c"])
        >>> index.search(x[1], k=1)[1].tolist()
        [['b']]
        >>> index.remove(["b"])
        1
        >>> index.add(x[1:2] + x[2:3], ids=["bc"]).search(x[1], k=1)[1].tolist()
        [['bc']]
        >>> len(index)
        3
    """

    def __init__(
        self,
        kind: str | IndexKind = "auto",
        *,
        normalize: bool = True,
        exact_max: int = EXACT_SEARCH_MAX,
        nlist: int | None = None,
        nprobe: int | None = None,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 64,
        seed: int = 0,
    ) -> None:
        self.kind = kind
        self.normalize = normalize
        self.exact_max = exact_max
        self.nlist = nlist
        self.nprobe = nprobe
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (scikit-learn style)."""
        kind = self.kind.value if isinstance(self.kind, IndexKind) else self.kind
        return {"kind": kind, "normalize": self.normalize, "exact_max": self.exact_max,
                "nlist": self.nlist, "nprobe": self.nprobe, "hnsw_m": self.hnsw_m,
                "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                "seed": self.seed}

    # ------------------------------------------------------------------ fitting
    def _resolve_kind(self, n: int) -> IndexKind:
        valid = [k.value for k in IndexKind]
        value = self.kind.value if isinstance(self.kind, IndexKind) else str(self.kind)
        if value not in valid:
            raise ConfigError(f"FaissIndex kind expects one of {valid}, found {self.kind!r}"
                              f"{closest(value, valid)}")
        kind = IndexKind(value)
        if kind == IndexKind.AUTO:
            return IndexKind.FLAT if n <= self.exact_max else IndexKind.HNSW
        return kind

    def fit(self, embeddings: Any, ids: Sequence[Any] | None = None, *, encoder: Any = None) -> FaissIndex:
        """Index ``embeddings`` (one row per document) under ``ids``.

        Args:
            embeddings: ``(n, dim)`` array, e.g. ``BiEncoder.encode(passages)``.
            ids: one unique ``int`` or ``str`` id per row; ``None`` = row positions ``0..n-1``.
            encoder: the encoder of the vectors (a :class:`BiEncoder`, or a dict with
                ``name``/``fingerprint``), recorded so that :meth:`load` can refuse a different
                encoder.

        Returns:
            ``self``.

        Raises:
            DataError: empty or non-finite embeddings, ids of the wrong length, duplicate or
                non-int/str ids, a dimension that differs from the encoder's.
        """
        import faiss

        x = _as_matrix(embeddings, "embeddings")
        n, dim = x.shape
        kind = self._resolve_kind(n)
        self.ids_ = self._check_ids(ids, n)
        info = _encoder_info(encoder)
        if info is not None and info.get("dim") not in (None, dim):
            raise DataError(f"expected embeddings of the encoder's dimension {info['dim']}, found "
                            f"{dim}; encode the corpus with that encoder")
        if self.normalize:
            faiss.normalize_L2(x)
        metric = faiss.METRIC_INNER_PRODUCT
        params: dict[str, Any] = {}
        if kind == IndexKind.FLAT:
            index = faiss.IndexFlatIP(dim)
        elif kind == IndexKind.HNSW:
            index = faiss.IndexHNSWFlat(dim, int(self.hnsw_m), metric)
            index.hnsw.efConstruction = int(self.ef_construction)
            index.hnsw.efSearch = int(self.ef_search)
            params = {"hnsw_m": int(self.hnsw_m), "ef_search": int(self.ef_search)}
        else:
            nlist = self.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
            if nlist > n:
                raise DataError(f"IVF needs at least nlist={nlist} vectors to train, found {n}; "
                                "lower nlist or use kind='flat'")
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, metric)
            index.cp.seed = int(self.seed)
            index.train(x)
            nprobe = min(nlist, self.nprobe or max(8, nlist // 8))
            index.nprobe = nprobe
            params = {"nlist": nlist, "nprobe": nprobe}
        index.add(x)
        self.index_ = index
        self.kind_ = kind
        self.dim_ = dim
        self.n_ = n
        self.params_ = params
        self.encoder_ = info
        self.tombstones_ = np.zeros(0, dtype=np.int64)
        self._prepare_lookups()
        logger.info("built a %s FAISS index over %d vectors of dimension %d", kind.value, n, dim)
        return self

    @staticmethod
    def _check_ids(ids: Sequence[Any] | None, n: int) -> np.ndarray:
        if ids is None:
            return np.arange(n, dtype=np.int64)
        ids = [i.item() if isinstance(i, np.generic) else i for i in ids]
        if len(ids) != n:
            raise DataError(f"expected one id per embedding, found {len(ids)} ids and {n} embeddings")
        if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            out = np.asarray(ids, dtype=np.int64)
        elif all(isinstance(i, str) for i in ids):
            out = np.asarray(ids, dtype=object)
        else:
            kinds = sorted({type(i).__name__ for i in ids})
            raise DataError(f"expected ids that are all int or all str, found {kinds}; convert them "
                            "with ids=[str(i) for i in ids]")
        if len(set(ids)) != n:
            seen: set[Any] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))
            raise DataError(f"expected unique ids, found {n - len(set(ids))} repeated (e.g. {dup!r}); "
                            "deduplicate the corpus first")
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise NotFittedError("this FaissIndex is not fitted yet; call fit(embeddings, ids) or "
                                 "FaissIndex.load(path) first")

    def __len__(self) -> int:
        return getattr(self, "n_", 0)

    # ------------------------------------------------------------------ search
    def search(self, queries: Any, k: int = 10, *,
               subset: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best documents per query.

        Args:
            queries: ``(n_queries, dim)`` array, or one ``(dim,)`` vector.
            k: results per query; capped at the number of indexed vectors.
            subset: search only among these ids (e.g. the FAQ entries of one intent). Exact for
                subsets of up to ``exact_max`` ids (their stored vectors are scored directly);
                larger subsets go through a FAISS ID selector, which is as approximate as the
                index itself (HNSW / IVF may leave slots unfilled).

        Returns:
            ``(scores, ids)``, both ``(n_queries, k)``, best first. Scores are float32 inner
            products (cosine similarities when ``normalize``); ids are the ids given to
            :meth:`fit` (int64, or objects for str ids). A slot the approximate index could not
            fill has score ``-inf`` and id ``-1`` (int ids) or ``None`` (str ids).
        """
        import faiss

        self._check_fitted()
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"expected k >= 1 results per query, found {k!r}")
        q = _as_matrix(queries, "queries", self.dim_)
        if self.normalize:
            faiss.normalize_L2(q)
        if subset is not None:
            return self._search_subset(q, int(k), subset)
        k = int(min(k, self.n_))
        if k == 0:  # everything was removed
            return self._empty(len(q))
        if self.kind_ == IndexKind.HNSW:
            params = faiss.SearchParametersHNSW(efSearch=self._ef_search(k))
            if self._live_selector is not None:
                params.sel = self._live_selector
            scores, pos = self.index_.search(q, k, params=params)
        else:
            scores, pos = self.index_.search(q, k)
        scores = np.where(pos < 0, -np.inf, scores).astype(np.float32)
        return scores, self._ids_at(pos)

    def _ef_search(self, k: int) -> int:
        """HNSW ``efSearch`` for ``k`` results, scaled up by the share of tombstones (the graph
        still visits them, but they do not count as results)."""
        ef = max(int(self.params_["ef_search"]), k)
        total = int(self.index_.ntotal)
        if len(self.tombstones_) and self.n_:
            ef = min(max(total, ef), math.ceil(ef * total / self.n_))
        return ef

    def _empty(self, n_q: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((n_q, 0), None if self.ids_.dtype == object else -1)
        return np.zeros((n_q, 0), dtype=np.float32), ids

    def _ids_at(self, pos: np.ndarray) -> np.ndarray:
        """The ids at index positions ``pos`` (``-1`` / ``None`` where a position is -1)."""
        missing = pos < 0
        if self.ids_.dtype == object:
            ids = np.empty(pos.shape, dtype=object)
            ids[~missing] = self.ids_[pos[~missing]]
            ids[missing] = None
            return ids
        return np.where(missing, -1, self.ids_[np.clip(pos, 0, None)])

    def _prepare_lookups(self) -> None:
        """Id -> position map and (IVF) a direct map, so that subset search reads stored vectors;
        built once here, never during a search, so concurrent searches do not race."""
        self._refresh_positions()
        if self.kind_ == IndexKind.IVF:
            self.index_.make_direct_map()

    def _refresh_positions(self) -> None:
        """Id -> position of the live vectors, and the selector that hides HNSW tombstones."""
        dead = set(self.tombstones_.tolist())
        self._position_of = {v: i for i, v in enumerate(self.ids_.tolist()) if i not in dead}
        self._live_selector: Any = None
        if dead:
            import faiss

            # keep the inner selector referenced: IDSelectorNot does not own it
            self._dead_selector = faiss.IDSelectorBatch(self.tombstones_)
            self._live_selector = faiss.IDSelectorNot(self._dead_selector)

    def _positions(self, subset: Sequence[Any]) -> np.ndarray:
        try:
            return np.array(sorted({self._position_of[i] for i in subset}), dtype=np.int64)
        except KeyError as exc:
            raise DataError(f"subset id {exc.args[0]!r} is not in this index; pass ids given to "
                            "fit() or add() and not removed since") from None

    def _search_subset(self, q: np.ndarray, k: int,
                       subset: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        pos = self._positions(subset)  # live positions only: tombstones are not in the map
        n_q = len(q)
        if len(pos) == 0:
            return self._empty(n_q)
        k = min(k, len(pos))
        if len(pos) <= self.exact_max:
            vectors = self.index_.reconstruct_batch(pos)
            sims = q @ vectors.T
            top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            scores = np.take_along_axis(sims, top, axis=1).astype(np.float32)
            found = pos[top]
        else:
            selector = faiss.IDSelectorBatch(pos)
            if self.kind_ == IndexKind.HNSW:
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(
                    int(self.params_["ef_search"]), k))
            elif self.kind_ == IndexKind.IVF:
                params = faiss.SearchParametersIVF(sel=selector, nprobe=int(self.params_["nprobe"]))
            else:
                params = faiss.SearchParameters(sel=selector)
            scores, found = self.index_.search(q, k, params=params)
            scores = np.where(found < 0, -np.inf, scores).astype(np.float32)
        return scores, self._ids_at(found)

    # ------------------------------------------------------------------ updates
    def add(self, embeddings: Any, ids: Sequence[Any]) -> FaissIndex:
        """Append vectors under new ids, without rebuilding the index.

        Flat and HNSW append to the index; IVF adds the vectors to the cells trained by
        :meth:`fit` (no retraining). Vectors are normalised as in :meth:`fit`.

        Args:
            embeddings: ``(n, dim)`` array of the index's dimension, from the same encoder.
            ids: one id per row, of the index's id type (all ``int`` or all ``str``), unique and
                not in the index; an id removed earlier may be added again.

        Returns:
            ``self``.

        Raises:
            NotFittedError: the index is not fitted.
            DataError: empty, non-finite or wrong-dimension embeddings; ids of the wrong length
                or type, repeated, or already in the index.

        Example:
            >>> import numpy as np
            >>> index = FaissIndex().fit(np.eye(4, dtype="float32")[:2], ids=["a", "b"])
            >>> len(index.add(np.eye(4, dtype="float32")[2:], ids=["c", "d"]))
            4
        """
        import faiss

        self._check_fitted()
        x = _as_matrix(embeddings, "embeddings", self.dim_)
        if ids is None:
            raise DataError(f"expected one id per new embedding, found ids=None; pass ids of the "
                            f"index's type ({self._id_type()})")
        new_ids = self._check_ids(ids, len(x))
        found_type = "str" if new_ids.dtype == object else "int"
        if found_type != self._id_type():
            raise DataError(f"expected {self._id_type()} ids like the index's, found {found_type} "
                            f"ids (e.g. {new_ids[0]!r}); convert them to {self._id_type()}")
        present = [i for i in new_ids.tolist() if i in self._position_of]
        if present:
            raise DataError(f"expected new ids, found {len(present)} already in the index (e.g. "
                            f"{present[0]!r}); remove() them first to replace their vectors")
        if self.normalize:
            faiss.normalize_L2(x)
        self.index_.add(x)  # IVF: the direct map (Array) follows sequential adds
        start = len(self.ids_)
        self.ids_ = np.concatenate([self.ids_, new_ids]).astype(self.ids_.dtype, copy=False)
        for offset, i in enumerate(new_ids.tolist()):
            self._position_of[i] = start + offset
        self.n_ += len(x)
        logger.info("added %d vectors to the %s FAISS index (%d live)", len(x), self.kind_.value,
                    self.n_)
        return self

    def remove(self, ids: Sequence[Any] | Any, *, missing: str = "raise") -> int:
        """Remove ids from the index.

        Flat and IVF delete the vectors (faiss ``remove_ids``); the remaining ones keep their
        order and are renumbered (``ids_`` shrinks). HNSW marks them as tombstones (positions in
        ``tombstones_``) that searches skip. Either way ``len()`` drops and the ids never come
        back from :meth:`search`.

        Args:
            ids: the ids to remove (a single ``int``/``str`` is one id; repeats count once).
            missing: ``"raise"`` (default): an id not in the index raises and nothing is
                removed; ``"ignore"``: skip such ids.

        Returns:
            How many vectors were removed.

        Raises:
            NotFittedError: the index is not fitted.
            ConfigError: ``missing`` is not ``"raise"`` or ``"ignore"``.
            DataError: an id is not in the index (with ``missing="raise"``).

        Example:
            >>> import numpy as np
            >>> index = FaissIndex().fit(np.eye(3, dtype="float32"), ids=[10, 11, 12])
            >>> index.remove([11, 99], missing="ignore"), len(index)
            (1, 2)
        """
        self._check_fitted()
        if missing not in ("raise", "ignore"):
            raise ConfigError(f"missing expects 'raise' or 'ignore', found {missing!r}"
                              f"{closest(str(missing), ['raise', 'ignore'])}")
        if isinstance(ids, (str, int, np.generic)):
            ids = [ids]
        wanted = list(dict.fromkeys(i.item() if isinstance(i, np.generic) else i for i in ids))
        unknown = [i for i in wanted if i not in self._position_of]
        if unknown and missing == "raise":
            hint = ""
            if {type(i).__name__ for i in unknown} - {self._id_type()}:
                hint = f" (this index has {self._id_type()} ids, found {type(unknown[0]).__name__})"
            raise DataError(f"cannot remove id {unknown[0]!r}: not in this index{hint}; "
                            f"{len(unknown)} of {len(wanted)} ids are unknown; pass ids given to "
                            "fit() or add(), or missing='ignore' to skip them")
        pos = np.array(sorted(self._position_of[i] for i in wanted if i in self._position_of),
                       dtype=np.int64)
        if len(pos) == 0:
            return 0
        if self.kind_ == IndexKind.HNSW:
            self.tombstones_ = np.union1d(self.tombstones_, pos).astype(np.int64)
        else:
            self._remove_vectors(pos)
        self.n_ -= len(pos)
        self._refresh_positions()
        logger.info("removed %d vectors from the %s FAISS index (%d live%s)", len(pos),
                    self.kind_.value, self.n_, f", {len(self.tombstones_)} tombstones"
                    if len(self.tombstones_) else "")
        return len(pos)

    def _remove_vectors(self, pos: np.ndarray) -> None:
        """Delete the vectors at positions ``pos`` (flat / IVF) and renumber the rest 0..n-1."""
        import faiss

        total = int(self.index_.ntotal)
        keep = np.ones(total, dtype=bool)
        keep[pos] = False
        selector = faiss.IDSelectorBatch(pos)
        if self.kind_ == IndexKind.IVF:
            # an Array direct map refuses remove_ids; IVF keeps the labels of the remaining
            # vectors, so they are renumbered in the inverted lists, then the map is rebuilt
            self.index_.make_direct_map(False)
            removed = self.index_.remove_ids(selector)
            _relabel_ivf(self.index_, np.cumsum(keep) - 1)
            self.index_.make_direct_map(True)
        else:  # IndexFlat compacts, keeping the order of the remaining vectors
            removed = self.index_.remove_ids(selector)
        if removed != len(pos):  # cannot happen unless the index and ids_ disagree
            raise RuntimeError(f"faiss removed {removed} vectors, expected {len(pos)}")
        self.ids_ = self.ids_[keep]

    def _id_type(self) -> str:
        return "str" if self.ids_.dtype == object else "int"

    # ------------------------------------------------------------------ encoder check
    def check_encoder(self, encoder: Any) -> None:
        """Raise if ``encoder`` is not the encoder the index was built with.

        Args:
            encoder: a :class:`BiEncoder`, a dict with ``fingerprint`` (and ``name``), or a
                fingerprint string.

        Raises:
            ModelLoadError: the fingerprints (or dimensions) differ.
        """
        self._check_fitted()
        info = _encoder_info(encoder) or {}
        recorded = self.encoder_ or {}
        if not recorded.get("fingerprint"):
            logger.warning("this index records no encoder, so it cannot be checked against %s; "
                           "pass encoder= to fit() to record it", info.get("name", "the encoder"))
            return
        dim = info.get("dim")
        if recorded["fingerprint"] != info.get("fingerprint") or (dim is not None and dim != self.dim_):
            raise ModelLoadError(
                f"the index was built with a different encoder: {recorded.get('name', '?')!r} "
                f"(fingerprint {recorded['fingerprint']}, dim {self.dim_}), found "
                f"{info.get('name', '?')!r} (fingerprint {info.get('fingerprint')}, dim "
                f"{dim if dim is not None else '?'}); rebuild the index with "
                "FaissIndex().fit(encoder.encode(corpus), ids, encoder=encoder)"
            )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``index.faiss``, the ``index.json`` record (kind, dim, count of stored vectors,
        live count, HNSW tombstones, encoder name and fingerprint, SHA-256 of the index file,
        versions) and ``ids.json`` (the id at each faiss position) into a directory, atomically.

        Args:
            path: a new or empty directory.
            overwrite: replace an earlier index directory at ``path`` (a directory holding
                anything else is never replaced).
        """
        import faiss

        self._check_fitted()
        path = Path(path)
        with write_artifact(path, task=None, overwrite=overwrite, meta_file=SIDECAR_FILE,
                            what="index") as art:
            faiss.write_index(self.index_, str(art.dir / INDEX_FILE))
            id_type = "str" if self.ids_.dtype == object else "int"
            write_json_atomic(art.dir / IDS_FILE, self.ids_.tolist())
            art.meta.update({
                "faiss_version": faiss.__version__,
                "kind": self.kind_.value,
                "metric": "inner_product",
                "dim": self.dim_,
                "count": int(self.index_.ntotal),  # vectors in index.faiss, tombstones included
                "live_count": self.n_,
                "tombstones": self.tombstones_.tolist(),  # HNSW positions removed
                "id_type": id_type,
                "encoder": self.encoder_,
                "params": self.get_params(),
                "search_params": self.params_,
            })
        return path

    @classmethod
    def load(cls, path: str | Path, *, encoder: Any = None) -> FaissIndex:
        """Load a directory written by :meth:`save`.

        Args:
            path: the index directory.
            encoder: when given, the encoder that will embed the queries; a different encoder
                than the one the index was built with raises (see :meth:`check_encoder`).

        Raises:
            ModelLoadError: missing/corrupted files (checksum, count or dimension mismatch), or
                an index built with a different encoder.
        """
        import faiss

        path = Path(path)
        index_file, ids_file = path / INDEX_FILE, path / IDS_FILE
        fix = "rebuild the index and save it again"
        meta = read_artifact(path, task=None, meta_file=SIDECAR_FILE, loader="FaissIndex.save",
                             required=(INDEX_FILE, IDS_FILE), fix=fix)
        try:
            kind = IndexKind(meta["kind"])
            dim, count = int(meta["dim"]), int(meta["count"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelLoadError(f"{path / SIDECAR_FILE} is corrupted ({type(exc).__name__}: "
                                 f"{exc}); {fix}") from None
        ids = read_json_file(ids_file, fix=fix)
        if not isinstance(ids, list):
            raise ModelLoadError(f"{ids_file} is corrupted (expected a JSON list); {fix}")
        if meta.get("sha256") and sha256_file(index_file) != meta["sha256"]:  # format 1 records
            raise ModelLoadError(f"{index_file} is corrupted: its SHA-256 differs from the one "
                                 f"recorded in {SIDECAR_FILE}; {fix}")
        try:
            index = faiss.read_index(str(index_file))
        except Exception as exc:
            raise ModelLoadError(f"{index_file} is corrupted: faiss cannot read it ({exc}); "
                                 f"{fix}") from None
        if index.ntotal != count or index.d != dim or len(ids) != count:
            raise ModelLoadError(f"{path} is inconsistent: the record says {count} vectors of "
                                 f"dimension {dim}, the index holds {index.ntotal} of dimension "
                                 f"{index.d} and {len(ids)} ids; {fix}")
        tombstones = meta.get("tombstones") or []
        if (not isinstance(tombstones, list) or (tombstones and kind != IndexKind.HNSW)
                or not all(isinstance(t, int) and 0 <= t < count for t in tombstones)
                or len(set(tombstones)) != len(tombstones)):
            raise ModelLoadError(f"{path / SIDECAR_FILE} is corrupted (expected 'tombstones' as "
                                 f"distinct positions below {count}, HNSW only); {fix}")
        params = {k: v for k, v in meta.get("params", {}).items() if k in cls().get_params()}
        obj = cls(**params)
        obj.index_ = index
        obj.kind_ = kind
        obj.dim_ = dim
        obj.tombstones_ = np.array(sorted(tombstones), dtype=np.int64)
        obj.n_ = count - len(tombstones)
        obj.params_ = dict(meta.get("search_params", {}))
        obj.encoder_ = meta.get("encoder")
        obj.ids_ = np.asarray(ids, dtype=object if meta.get("id_type") == "str" else np.int64)
        if kind == IndexKind.IVF and "nprobe" in obj.params_:
            index.nprobe = int(obj.params_["nprobe"])
        if kind == IndexKind.HNSW:
            obj.params_.setdefault("ef_search", index.hnsw.efSearch)
        if encoder is not None:
            obj.check_encoder(encoder)
        obj._prepare_lookups()
        return obj

    def __repr__(self) -> str:
        fitted = (f", fitted: {self.kind_.value} over {self.n_} x {self.dim_}"
                  if hasattr(self, "index_") else "")
        return f"FaissIndex(kind={self.get_params()['kind']!r}{fitted})"


# ---------------------------------------------------------------------- hard negatives
def _norm_text(text: str) -> str:
    return " ".join(text.lower().split())


def mine_hard_negatives(
    biencoder: Encoder,
    queries: Sequence[str],
    positives: Sequence[str],
    corpus: Sequence[str],
    k: int = 1,
    *,
    candidates: int = 30,
    near_duplicate: float = 0.95,
    margin: float | None = None,
    index_kind: str = "auto",
    batch_size: int = 64,
    progress: bool = False,
) -> PairDataset:
    """Find, for each (query, positive) pair, ``k`` corpus passages that the encoder ranks high
    for the query but that are not its positives: hard negatives for bi-encoder training.

    Skipped candidates: the query's positives (all passages the query is paired with) and texts
    equal to them or to the query up to case and spacing; near-duplicates of a positive (cosine
    similarity >= ``near_duplicate``); with ``margin``, candidates scoring above
    ``sim(query, positive) - margin`` (likely unlabelled positives, i.e. false negatives).

    Args:
        biencoder: the encoder that ranks the candidates (anything with ``encode(list[str])``
            returning L2-normalised float32 vectors).
        queries: the queries.
        positives: one positive passage per query (repeat a query for several positives).
        corpus: passages to mine from (it may contain the positives).
        k: negatives per pair; each becomes one (query, positive, negative) row.
        candidates: nearest passages inspected per query (raised to ``k + 10`` if smaller).
        near_duplicate: cosine similarity to a positive from which a candidate counts as a copy.
        margin: skip candidates within ``margin`` of the positive's score; ``None`` = off
            (0.05-0.1 is a common choice on noisy labels).
        index_kind: :class:`FaissIndex` kind for the corpus.
        batch_size: encoding batch size.
        progress: show encoding progress bars.

    Returns:
        A :class:`PairDataset` of (query, positive, negative) triplets, ``k`` rows per pair
        where enough candidates survive; ``rows`` gives each triplet's source pair (1-based).

    Example:
        >>> mined = mine_hard_negatives(enc, pairs.queries, pairs.passages, corpus, k=1)  # doctest: +SKIP
        >>> enc.fit(mined, config=PairTrainingConfig(epochs=1))  # doctest: +SKIP
    """
    queries, positives, corpus = list(queries), list(positives), list(corpus)
    if len(queries) != len(positives):
        raise DataError(f"expected one positive per query, found {len(queries)} queries and "
                        f"{len(positives)} positives")
    if not queries:
        raise DataError("expected at least one (query, positive) pair, found none")
    if not corpus:
        raise DataError("expected a corpus of passages to mine negatives from, found none")
    if k < 1:
        raise DataError(f"expected k >= 1 negatives per pair, found {k}")
    PairDataset(queries, positives, source="mine_hard_negatives",  # validates both sides
                columns={"query": "queries", "passage": "positives"})
    bad = [i for i, t in enumerate(corpus) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise DataError(f"expected non-empty texts in the corpus, found {len(bad)} empty or non-text "
                        f"entries (positions {bad[:5]}); drop them before mining")
    q_emb = np.asarray(biencoder.encode(queries, batch_size=batch_size, progress=progress), np.float32)
    p_emb = np.asarray(biencoder.encode(positives, batch_size=batch_size, progress=progress), np.float32)
    c_emb = np.asarray(biencoder.encode(corpus, batch_size=batch_size, progress=progress), np.float32)
    index = FaissIndex(kind=index_kind).fit(c_emb)
    _, found = index.search(q_emb, max(candidates, k + 10))

    positives_of: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        positives_of.setdefault(q, []).append(i)
    corpus_norm = [_norm_text(t) for t in corpus]
    out_q: list[str] = []
    out_p: list[str] = []
    out_n: list[str] = []
    out_rows: list[int] = []
    skipped = {"positive": 0, "near_duplicate": 0, "margin": 0}
    short = 0
    for i, (q, p) in enumerate(zip(queries, positives, strict=True)):
        own = positives_of[q]
        banned = {_norm_text(positives[j]) for j in own} | {_norm_text(q)}
        own_emb = p_emb[own]
        pos_score = float(q_emb[i] @ p_emb[i])
        chosen: list[str] = []
        seen: set[str] = set()
        for c in found[i]:
            if c < 0:
                continue
            text, norm = corpus[c], corpus_norm[c]
            if norm in banned:
                skipped["positive"] += 1
                continue
            if float((own_emb @ c_emb[c]).max()) >= near_duplicate:
                skipped["near_duplicate"] += 1
                continue
            if margin is not None and float(q_emb[i] @ c_emb[c]) > pos_score - margin:
                skipped["margin"] += 1
                continue
            if norm in seen:
                continue
            seen.add(norm)
            chosen.append(text)
            if len(chosen) == k:
                break
        short += len(chosen) < k
        for neg in chosen:
            out_q.append(q)
            out_p.append(p)
            out_n.append(neg)
            out_rows.append(i + 1)
    logger.info(
        "mined %d hard negatives for %d pairs (%d pairs got fewer than %d); skipped candidates: "
        "%d positives or copies of them, %d near-duplicates (cosine >= %.2f), %d within the margin",
        len(out_n), len(queries), short, k, skipped["positive"], skipped["near_duplicate"],
        near_duplicate, skipped["margin"],
    )
    if not out_n:
        raise DataError("no hard negative survived the filters for any pair; add passages to the "
                        "corpus, raise candidates, or loosen near_duplicate/margin")
    return PairDataset(out_q, out_p, negatives=out_n, source="mine_hard_negatives", rows=out_rows)


# ---------------------------------------------------------------------- evaluation
def evaluate_retrieval(
    biencoder: Encoder,
    pairs: PairDataset,
    corpus: Sequence[str] | None = None,
    ks: Sequence[int] = (1, 5, 10),
    batch_size: int = 64,
) -> dict[str, Any]:
    """Retrieve for each distinct query of ``pairs`` among all their passages (+ ``corpus``) and
    score the rankings against the pairs.

    Args:
        biencoder: the encoder of queries and passages.
        pairs: (query, relevant passage) pairs; rows with a numeric label <= 0 are not relevant
            (their passages still join the corpus as distractors).
        corpus: extra passages; duplicates of pair passages (same text) are merged.
        ks: Recall@k cut-offs; MRR and nDCG at ``max(ks)``.
        batch_size: encoding batch size.

    Returns:
        :func:`~domaintune.pairs.retrieval_metrics` plus ``n_queries`` and ``n_corpus``.

    Example:
        >>> evaluate_retrieval(enc, test_pairs, corpus=all_passages)["mrr@10"]  # doctest: +SKIP
    """
    if not isinstance(pairs, PairDataset):
        raise DataError(f"expected a PairDataset, found {type(pairs).__name__}")
    passages = list(dict.fromkeys(list(pairs.passages) + list(corpus or [])))
    position = {t: i for i, t in enumerate(passages)}
    relevant: dict[str, set[int]] = {}
    for j, (q, p) in enumerate(zip(pairs.queries, pairs.passages, strict=True)):
        label = pairs.labels[j] if pairs.labels is not None else 1.0
        if isinstance(label, float) and label <= 0:
            continue
        relevant.setdefault(q, set()).add(position[p])
    if not relevant:
        raise DataError(f"{pairs.source}: no pair is relevant (every label <= 0); nothing to evaluate")
    queries = list(relevant)
    index = FaissIndex().fit(biencoder.encode(passages, batch_size=batch_size))
    _, ranked = index.search(biencoder.encode(queries, batch_size=batch_size), max(ks))
    metrics: dict[str, Any] = retrieval_metrics(ranked.tolist(), [relevant[q] for q in queries], ks)
    metrics.update(n_queries=len(queries), n_corpus=len(passages))
    return metrics

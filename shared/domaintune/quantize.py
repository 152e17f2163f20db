"""int8 recipes for an exported ONNX graph, and the measured choice between them.

A recipe says how an fp32 ``model.onnx`` becomes int8: dynamic (weights int8 ahead of time,
activations quantized per batch at run time) or static QDQ (activation ranges calibrated on
texts ahead of time), per-tensor or per-channel weights, 8- or 7-bit weights (``reduce_range``),
which operators are quantized (the rest stays fp32: word embeddings, LayerNorm, softmax, the
attention products and the classifier head unless a recipe says otherwise), and whether ONNX
Runtime's transformer fusion (``onnxruntime.transformers.optimizer``) runs first.

On x86 CPUs without VNNI (AVX2 only), ONNX Runtime's u8 x s8 int8 GEMM multiplies with
``vpmaddubsw``, which adds pairs of products in int16 and saturates; 7-bit weights
(``reduce_range``) cannot saturate. Which recipe keeps a model's accuracy is measured per model:
:func:`select_recipe` quantizes with each candidate, runs each on the model's stored validation
texts and keeps the fastest whose accuracy drop is within the allowed loss (``auto`` in
:func:`domaintune.export.export_module`); every candidate's figures are recorded.

Example:
    >>> sorted(RECIPES)[:3]
    ['dynamic', 'dynamic-all', 'dynamic-per-channel']
    >>> quantize_onnx("enc/model.fp32.onnx", "enc/model.onnx", recipe="dynamic")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, closest

logger = logging.getLogger(__name__)

# what ONNX Runtime's quantizer logs on the root logger (``logging.info``) once per tensor or node
# that it leaves in fp32 on purpose (expected here); dropped only while quantizing
QUANTIZER_NOTES = ("pre-processing before quantization", "Quantization parameters for tensor",
                   "Ignore MatMul due to non constant B", "failed to infer the type of tensor")
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
AUTO = "auto"


@dataclass(frozen=True)
class Recipe:
    """How an fp32 graph is quantized.

    Args:
        name: the recipe's name (``RECIPES`` key).
        summary: one line for people.
        static: static QDQ quantization with calibrated activation ranges (else dynamic).
        fuse: run ONNX Runtime's BERT fusion (Attention, SkipLayerNormalization, BiasGelu)
            on the fp32 graph first, then quantize the fused graph (its Attention becomes
            QAttention in dynamic mode).
        per_channel: one weight scale per output channel (else one per tensor).
        reduce_range: 7-bit weights (no int16 saturation in the AVX2 u8 x s8 kernel).
        weight_type: ``int8`` (u8 x s8 kernels) or ``uint8`` (u8 x u8 kernels).
        op_types: ONNX operator types that are quantized; everything else stays fp32.
        keep_head: keep every MatMul/Gemm after the encoder's last LayerNorm in fp32.
        weights_only_matmul: static only: quantize only MatMuls with a constant weight (the
            attention products Q·Kᵀ and P·V, whose inputs are both activations, stay fp32).
        calibration: static only: ``minmax``, ``percentile`` or ``entropy``.
    """

    name: str
    summary: str
    static: bool = False
    fuse: bool = False
    per_channel: bool = False
    reduce_range: bool = False
    weight_type: str = "int8"
    op_types: tuple[str, ...] = ("MatMul",)
    keep_head: bool = True
    weights_only_matmul: bool = True
    calibration: str = "minmax"

    def __post_init__(self) -> None:
        if self.weight_type not in ("int8", "uint8"):
            raise ConfigError(f"weight_type expects 'int8' or 'uint8', found {self.weight_type!r}")
        if self.calibration not in CALIBRATION_METHODS:
            raise ConfigError(f"calibration expects one of {list(CALIBRATION_METHODS)}, found "
                              f"{self.calibration!r}{closest(self.calibration, CALIBRATION_METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        """The recipe's settings (for the export manifest)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["op_types"] = list(self.op_types)
        return out


_STATIC = dict(static=True, per_channel=True, reduce_range=True)
RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("dynamic-all", "dynamic int8 of every supported op (MatMul and the embedding "
           "Gathers), per-tensor 8-bit weights: the export's int8 before recipes existed",
           op_types=("MatMul", "Gather", "Attention"), keep_head=False),
    Recipe("dynamic", "dynamic int8 of the MatMuls (embeddings fp32), per-tensor 8-bit weights"),
    Recipe("dynamic-reduce-range", "dynamic int8 of the MatMuls, per-tensor 7-bit weights",
           reduce_range=True),
    Recipe("dynamic-per-channel", "dynamic int8 of the MatMuls, per-channel 7-bit weights",
           per_channel=True, reduce_range=True),
    Recipe("dynamic-u8u8", "dynamic int8 of the MatMuls, per-tensor uint8 weights (u8 x u8 "
           "kernels: no saturation, 8 bits)", weight_type="uint8"),
    Recipe("fused-dynamic", "BERT fusion, then dynamic int8 of the MatMuls and Attention "
           "(QAttention), per-tensor 8-bit weights", fuse=True, op_types=("MatMul", "Attention")),
    Recipe("fused-dynamic-reduce-range", "BERT fusion, then dynamic int8 of the MatMuls and "
           "Attention, per-tensor 7-bit weights", fuse=True, op_types=("MatMul", "Attention"),
           reduce_range=True),
    Recipe("fused-dynamic-per-channel", "BERT fusion, then dynamic int8 of the MatMuls and "
           "Attention, per-channel 7-bit weights", fuse=True, op_types=("MatMul", "Attention"),
           per_channel=True, reduce_range=True),
    Recipe("static-qdq", "static QDQ (uint8 activations calibrated min/max, per-channel 7-bit "
           "weights) on the weight MatMuls", **_STATIC),
    Recipe("static-qdq-percentile", "static QDQ on the weight MatMuls, activation ranges at the "
           "99.999th percentile", calibration="percentile", **_STATIC),
    Recipe("static-qdq-entropy", "static QDQ on the weight MatMuls, activation ranges by "
           "entropy (KL)", calibration="entropy", **_STATIC),
    Recipe("static-qdq-attention", "static QDQ (min/max) on every MatMul, the attention "
           "products Q·Kᵀ and P·V included", weights_only_matmul=False, **_STATIC),
)}
# measured on BANKING77 (benchmarks/bench_int8.py): within 0.3 points, where the per-tensor
# recipes lose 0.4-1.8; the fused variant is as accurate (within 2 texts) and no faster
DEFAULT_RECIPE = "dynamic-per-channel"
# what ``auto`` tries, each measured on the model's stored validation texts (static recipes are
# left out: calibrating takes minutes on 2 cores and on BANKING77 they lost 0.5-1.1 points)
AUTO_CANDIDATES = ("dynamic-per-channel", "fused-dynamic-per-channel", "dynamic")
AUTO_DEFAULT_MAX_DROP = 0.3  # accuracy points, when auto is given no limit


def get_recipe(recipe: str | Recipe | bool) -> Recipe:
    """A :class:`Recipe` from its name (``True``: :data:`DEFAULT_RECIPE`).

    Example:
        >>> get_recipe("dynamic").per_channel
        False
    """
    if isinstance(recipe, Recipe):
        return recipe
    if recipe is True:
        recipe = DEFAULT_RECIPE
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise ConfigError(f"int8 recipe expects one of {sorted(RECIPES) + [AUTO]}, found "
                          f"{recipe!r}{closest(str(recipe), sorted(RECIPES) + [AUTO])}")
    return RECIPES[recipe]


class _DropMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in QUANTIZER_NOTES)


class _Feeds:
    """ONNX Runtime's CalibrationDataReader over an iterable of feed dicts."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def fuse_bert(fp32_path: str | Path, out_path: str | Path) -> dict[str, int]:
    """ONNX Runtime's BERT fusion of ``fp32_path`` into ``out_path`` (fp32); returns the counts
    of fused operators (``Attention``, ``SkipLayerNormalization``, ``BiasGelu`` ...)."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(str(fp32_path), model_type="bert", num_heads=0, hidden_size=0)
    model.save_model_to_file(str(out_path))
    return {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}


def _head_nodes(model: Any) -> list[str]:
    """MatMul/Gemm nodes after the last LayerNormalization (the task head), in graph order."""
    nodes = list(model.graph.node)
    norms = [i for i, n in enumerate(nodes)
             if n.op_type in ("LayerNormalization", "SkipLayerNormalization")]
    if not norms:
        return []
    return [n.name for n in nodes[norms[-1] + 1 :] if n.op_type in ("MatMul", "Gemm")]


def _activation_matmuls(model: Any) -> list[str]:
    """MatMul nodes whose second input is not a weight (attention's Q·Kᵀ and P·V)."""
    weights = {t.name for t in model.graph.initializer}
    weights |= {n.output[0] for n in model.graph.node if n.op_type == "Constant"}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights]


def pad_to_common_length(feeds: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """The feeds right-padded with 0 (BERT's [PAD] id, a masked position, token type 0) to the
    longest sequence among them, in batches of one size (ONNX Runtime's histogram calibrators
    stack the tensors of every batch)."""
    if not feeds:
        return []
    length = max(a.shape[1] for f in feeds for a in f.values())
    rows = {k: np.concatenate([np.pad(f[k], ((0, 0), (0, length - f[k].shape[1]))) for f in feeds])
            for k in feeds[0]}
    size = max(len(next(iter(f.values()))) for f in feeds)
    n = len(next(iter(rows.values())))
    return [{k: v[i : i + size] for k, v in rows.items()} for i in range(0, n - n % size or n, size)]


def quantize_onnx(fp32_path: str | Path, out_path: str | Path, *, recipe: str | Recipe = DEFAULT_RECIPE,
                  calibration_feeds: Iterable[dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """Write an int8 version of the fp32 graph ``fp32_path`` to ``out_path``.

    Args:
        fp32_path: an fp32 ONNX graph (e.g. the ``model.onnx`` of an fp32 export).
        out_path: the int8 graph to write.
        recipe: a name from :data:`RECIPES` or a :class:`Recipe`.
        calibration_feeds: static recipes: input dicts (``input_ids``, ``attention_mask`` ...,
            int64 arrays) the fp32 graph runs on to calibrate activation ranges; texts the
            model trained or validated on, never test texts.

    Returns:
        What was done: ``{"recipe": name, "settings": {...}, "fused": {...}, "kept_fp32": [...]}``.

    Example:
        >>> quantize_onnx("m/model.fp32.onnx", "m/model.onnx", recipe="dynamic")  # doctest: +SKIP
        {'recipe': 'dynamic', ...}
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    r = get_recipe(recipe)
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if r.static and calibration_feeds is None:
        raise ConfigError(f"the int8 recipe {r.name!r} calibrates activation ranges and needs "
                          "calibration_feeds (inputs from training or validation texts); pass "
                          "them, or choose a dynamic recipe such as 'dynamic'")
    source, fused = fp32_path, {}
    if r.fuse:
        source = out_path.with_name(out_path.stem + ".fused.onnx")
        fused = fuse_bert(fp32_path, source)
    model = onnx.load(str(source))
    keep = _head_nodes(model) if r.keep_head else []
    if r.static and r.weights_only_matmul:  # the quantizer's MatMulConstBOnly is not applied to QDQ
        keep += _activation_matmuls(model)
    # ONNX's shape inference does not type the outputs of the fused (com.microsoft) operators
    default_type = {"DefaultTensorType": onnx.TensorProto.FLOAT} if r.fuse else {}
    if r.static and r.calibration != "minmax":  # histograms need one shape for every batch
        calibration_feeds = pad_to_common_length(list(calibration_feeds))
    weight = QuantType.QInt8 if r.weight_type == "int8" else QuantType.QUInt8
    note = _DropMessages()
    root = logging.getLogger()
    root.addFilter(note)
    try:
        if r.static:
            from onnxruntime.quantization import quantize_static

            method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                      "entropy": CalibrationMethod.Entropy}[r.calibration]
            quantize_static(str(source), str(out_path), _Feeds(calibration_feeds),
                            quant_format=QuantFormat.QDQ, op_types_to_quantize=list(r.op_types),
                            per_channel=r.per_channel, reduce_range=r.reduce_range,
                            activation_type=QuantType.QUInt8, weight_type=weight,
                            nodes_to_exclude=keep, calibrate_method=method,
                            extra_options={"CalibPercentile": 99.999, **default_type})
        else:
            from onnxruntime.quantization import quantize_dynamic

            quantize_dynamic(str(source), str(out_path), op_types_to_quantize=list(r.op_types),
                             per_channel=r.per_channel, reduce_range=r.reduce_range,
                             weight_type=weight, nodes_to_exclude=keep,
                             extra_options=default_type)
    finally:
        root.removeFilter(note)
        if source != fp32_path:
            source.unlink(missing_ok=True)
    return {"recipe": r.name, "settings": r.to_dict(), "fused": fused, "kept_fp32": keep}


def session(path: str | Path, *, threads: int | None = None, spinning: bool = False,
            optimized_path: str | Path | None = None) -> Any:
    """An ONNX Runtime CPU session as :class:`domaintune.export.OnnxModel` opens one (all graph
    optimisations, no spinning unless asked); ``optimized_path`` also writes the graph ONNX
    Runtime actually runs (its operator types show which kernels it picked)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def runtime_ops(path: str | Path) -> dict[str, int]:
    """Operator counts of the graph ONNX Runtime runs for ``path`` after its own optimisations
    (e.g. ``MatMulIntegerToFloat``, ``DynamicQuantizeMatMul``, ``QAttention``, ``Attention``)."""
    import collections
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        session(path, optimized_path=optimized)
        counts = collections.Counter(n.op_type for n in onnx.load(str(optimized)).graph.node)
    return dict(counts.most_common())


def _top1(sess: Any, batches: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    return np.concatenate([sess.run(None, feeds)[0].argmax(1) for feeds in batches])


def _texts_per_s(sess: Any, batches: Sequence[dict[str, np.ndarray]], repeats: int = 3) -> float:
    n = sum(len(next(iter(feeds.values()))) for feeds in batches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for feeds in batches:
            sess.run(None, feeds)
        times.append(time.perf_counter() - start)
    return n / min(times)  # the least disturbed run: other processes share the cores


def select_recipe(fp32_path: str | Path, out_path: str | Path, *,
                  batches: Sequence[dict[str, np.ndarray]], targets: Sequence[int] | None,
                  max_drop: float | None, candidates: Sequence[str] = AUTO_CANDIDATES,
                  calibration_feeds: Callable[[], Iterable[dict[str, np.ndarray]]] | None = None,
                  speed_tie: float = 0.10) -> dict[str, Any]:
    """Quantize with each candidate recipe, measure it, keep the best at ``out_path``.

    Each candidate runs on ``batches`` (the model's stored validation texts, tokenized, in
    batches): its top-1 agreement with the fp32 graph, its accuracy drop against ``targets``
    (without targets: the disagreement, in points) and its texts/s (best of 3 passes, taken in
    rounds across the candidates). Kept: the
    fastest candidate whose drop is within ``max_drop`` (or that loses at most one text, as the
    export's check allows); candidates less than ``speed_tie`` slower than it count as equally
    fast (recipes on the same kernels differ by noise) and the most accurate of those wins
    (fewest texts lost, then the highest agreement with fp32: on a few hundred texts the drop
    alone often cannot tell recipes apart). No candidate within the limit: the most accurate
    one is kept and ``acceptable`` is False (the export then refuses it). ``max_drop`` None:
    :data:`AUTO_DEFAULT_MAX_DROP` for the choice, nothing refused.

    Returns:
        ``{"recipe": chosen, "candidates": [{"recipe", "top1_agreement", "accuracy_drop_points",
        "texts_lost", "texts_per_s", "acceptable", ...}], "max_drop_points", "acceptable"}``.
    """
    import onnxruntime  # noqa: F401  (a clear ImportError before any work)

    out_path = Path(out_path)
    reference = _top1(session(fp32_path), batches)
    y = None if targets is None else np.asarray(targets)
    limit = AUTO_DEFAULT_MAX_DROP if max_drop is None else float(max_drop)
    rows, files, sessions = [], {}, {}
    for name in candidates:
        recipe = get_recipe(name)
        if recipe.static and calibration_feeds is None:
            rows.append({"recipe": name, "skipped": "no calibration texts"})
            continue
        candidate = out_path.with_name(f"{out_path.stem}.{name}.onnx")
        start = time.perf_counter()
        try:
            done = quantize_onnx(fp32_path, candidate, recipe=recipe,
                                 calibration_feeds=calibration_feeds() if recipe.static else None)
            sess = session(candidate)
            top1 = _top1(sess, batches)
        except Exception as exc:  # a recipe the graph does not support is skipped, not fatal
            logger.warning("int8 recipe %s failed on this graph (%s: %s); skipped", name,
                           type(exc).__name__, str(exc)[:200])
            rows.append({"recipe": name, "skipped": f"{type(exc).__name__}: {str(exc)[:200]}"})
            candidate.unlink(missing_ok=True)
            continue
        row: dict[str, Any] = {"recipe": name,
                               "top1_agreement": round(float(np.mean(top1 == reference)), 6)}
        if y is not None:
            lost = int(np.sum(reference == y) - np.sum(top1 == y))
            row.update(accuracy_drop_points=round(lost / len(y) * 100, 4), texts_lost=lost)
        else:
            lost = int(np.sum(top1 != reference))
            row.update(accuracy_drop_points=round(lost / len(reference) * 100, 4), texts_lost=lost)
        sessions[name] = sess
        row["acceptable"] = bool(row["accuracy_drop_points"] <= limit or (limit >= 0 and lost <= 1))
        row["seconds"] = round(time.perf_counter() - start, 1)
        if done["fused"]:
            row["fused"] = done["fused"]
        rows.append(row)
        files[name] = candidate
    measured = [r for r in rows if "skipped" not in r]
    # timed in rounds, one pass of each candidate per round, so that a change in what else runs
    # on the cores does not favour the candidates measured at a quiet moment
    times: dict[str, list[float]] = {r["recipe"]: [] for r in measured}
    for _ in range(3):
        for name in times:
            times[name].append(_texts_per_s(sessions[name], batches, repeats=1))
    for row in measured:
        row["texts_per_s"] = round(max(times[row["recipe"]]), 1)
        logger.info("int8 candidate %s: agreement %.2f%%, drop %.2f points, %.0f texts/s",
                    row["recipe"], row["top1_agreement"] * 100, row["accuracy_drop_points"],
                    row["texts_per_s"])
    sessions.clear()
    if not measured:
        raise ConfigError(f"none of the int8 recipes {list(candidates)} could quantize this graph "
                          f"({[r.get('skipped') for r in rows]}); export in fp32")
    ok = [r for r in measured if r["acceptable"]]
    if ok:
        fastest = max(r["texts_per_s"] for r in ok)
        tied = [r for r in ok if r["texts_per_s"] >= fastest * (1 - speed_tie)]
        best = min(tied, key=lambda r: (r["accuracy_drop_points"], -r["top1_agreement"],
                                        -r["texts_per_s"]))
    else:
        best = min(measured, key=lambda r: (r["accuracy_drop_points"], -r["texts_per_s"]))
    for name, file in files.items():
        if name == best["recipe"]:
            file.replace(out_path)
        else:
            file.unlink(missing_ok=True)
    return {"recipe": best["recipe"], "candidates": rows, "max_drop_points": max_drop,
            "selection_limit_points": limit, "acceptable": bool(ok) if max_drop is not None else None}


__all__ = ["AUTO", "AUTO_CANDIDATES", "DEFAULT_RECIPE", "RECIPES", "Recipe", "fuse_bert",
           "get_recipe", "quantize_onnx", "runtime_ops", "select_recipe", "session"]

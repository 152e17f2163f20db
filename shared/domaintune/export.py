"""Export text models to ONNX (optionally int8) and serve them with ONNX Runtime.

For one short message on a CPU, eager PyTorch spends most of its time in per-operator overhead;
ONNX Runtime runs the same graph fused. Measured on the packaged MiniLM (2 CPU cores, one
12-token message): 6.6 ms per forward pass in PyTorch, 2.1 ms in ONNX Runtime (fp32, outputs
equal to 2e-6), 1.2 ms with int8 dynamic quantization (outputs move: cosine ~0.98 to the fp32
vectors, so measure accuracy before serving int8). See ``benchmarks/bench_export.py``.

Every task exports: a text classifier (:class:`OnnxTextClassifier`), a bi-encoder
(:class:`OnnxBiEncoder`), a NER tagger (:class:`OnnxNerModel`: per-token logits, decoded into
entities by the same code as the PyTorch tagger) and a cross-encoder
(:class:`OnnxCrossEncoder`: text pairs, tokenized as pairs). ``domaintune.load(EXPORT_DIR)``
picks the class from the manifest's ``kind``.

Every export checks itself: the exported graph and the PyTorch model run on probe texts (probe
pairs for a cross-encoder; the real, unpadded tokens for a per-token output) and an fp32 export
whose outputs differ by more than ``tolerance`` is refused. The directory holds
``model.onnx``, the tokenizer files and ``onnx.json`` (what the graph computes, its inputs, the
labels / temperature or the embedding fingerprint, and the parity figures). Loading needs only
``onnxruntime`` and the tokenizer, not the PyTorch model.

Example:
    >>> clf.export_onnx("models/intent-onnx")  # doctest: +SKIP
    >>> fast = OnnxTextClassifier.load("models/intent-onnx")  # doctest: +SKIP
    >>> fast.predict(["where is my card?"])  # doctest: +SKIP
    ['card_arrival']
    >>> OnnxBiEncoder.load(BiEncoder.from_pretrained("default").export_onnx("enc")).dim  # doctest: +SKIP
    384
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .artifacts import check_target, read_record, verify_files, write_artifact
from .calibration import decide, probabilities
from .config import Runtime
from .data import check_texts, text_batch
from .errors import ConfigError, DataError, DomaintuneError, ModelLoadError

if TYPE_CHECKING:  # PyTorch is imported by the export functions only: serving runs without it
    import torch

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
MANIFEST_FILE = "onnx.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
PROBE_TEXTS = (
    "hello",
    "I would like to know where my card is, it has not arrived yet.",
    "Überweisung ins Ausland 🙂 dauert wie lange? 海外送金",
    "a much longer message that goes on about several things at once: the transfer, the fee, the "
    "exchange rate that looked wrong and the app that logged me out twice while I was paying",
)


#: the parity check's (query, passage) pairs for a cross-encoder: short and long sides, one
#: pair longer than a small ``max_length`` (so ``longest_first`` truncation is exercised)
PROBE_PAIRS = (
    ("hello", "hi there"),
    ("where is my card?", "Cards are sent within 5 working days; track yours in the app."),
    ("Überweisung ins Ausland 🙂", "海外送金 takes one to three days"),
    (PROBE_TEXTS[3], "the transfer fee is shown before you pay, and the exchange rate is the one "
                     "at the moment the payment is sent " * 2),
)


def _is_pair(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2


def _tokenize(tokenizer: Any, items: Sequence[Any], max_length: int) -> Any:
    """A Hugging Face tokenizer's padded, truncated PyTorch batch of texts or of
    ``(text, text_pair)`` pairs (pairs truncated ``longest_first``, as a cross-encoder reads them)."""
    items = list(items)
    if items and all(_is_pair(i) for i in items):
        return tokenizer([a for a, _ in items], [b for _, b in items], padding=True,
                         truncation="longest_first", max_length=max_length, return_tensors="pt")
    return tokenizer(items, padding=True, truncation=True, max_length=max_length,
                     return_tensors="pt")


def _runner(model: Any, names: tuple[str, ...]) -> Any:
    """``run(feeds) -> np.ndarray`` for int64 NumPy feeds: an ONNX Runtime session, or the
    PyTorch graph (fp32, no gradients)."""
    if hasattr(model, "run"):
        return lambda feeds: model.run(None, {n: np.asarray(feeds[n], dtype=np.int64)
                                              for n in names})[0]
    import torch

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return model(*(torch.as_tensor(np.asarray(feeds[n], dtype=np.int64))
                           for n in names)).float().numpy()

    return run


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - a declared dependency
        raise ModelLoadError("ONNX export and serving need onnxruntime; pip install onnxruntime") from None
    return onnxruntime


def resolve_runtime(runtime: str | Runtime = "auto", device: str = "auto") -> Runtime:
    """``onnx`` or ``torch``: ``auto`` is ONNX Runtime on a CPU when it is installed.

    Example:
        >>> resolve_runtime("torch")
        <Runtime.TORCH: 'torch'>
    """
    try:
        rt = Runtime(runtime)
    except ValueError:
        raise ConfigError(f"runtime expects one of {[r.value for r in Runtime]}, found "
                          f"{runtime!r}") from None
    if rt == Runtime.AUTO:
        if importlib.util.find_spec("onnxruntime") is None:
            return Runtime.TORCH
        if str(device) == "cpu":
            return Runtime.ONNX
        from .device import resolve_device  # imports torch

        return Runtime.ONNX if resolve_device(device).type == "cpu" else Runtime.TORCH
    if rt == Runtime.ONNX:
        _require_onnxruntime()
    return rt


def _Graph(fn: Any, module: torch.nn.Module, names: tuple[str, ...]) -> torch.nn.Module:
    """Adapts a model to positional (input_ids, attention_mask[, token_type_ids]) inputs."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module
            self.fn = fn
            self.names = names

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.fn(self.module, dict(zip(self.names, inputs, strict=True)))

    return Graph()


class Int8AccuracyError(DomaintuneError, ValueError):
    """An int8 export loses more accuracy on the stored validation texts than allowed."""


class _DropMessage(logging.Filter):
    def __init__(self, *texts: str) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.texts)


# what ONNX Runtime's quantizer logs on the root logger (``logging.info``): a suggestion to
# pre-process (on these encoders it changes nothing measurable: same BANKING77 accuracy), one
# "Quantization parameters for tensor ... not specified" line per tensor it leaves in fp32
# and one "Ignore MatMul due to non constant B" line per attention product (both expected
# with dynamic quantization: only weights are quantized). Only these are dropped, and only
# while quantizing; the export's own check says how far the int8 outputs moved.
QUANTIZER_NOTES = ("pre-processing before quantization", "Quantization parameters for tensor",
                   "Ignore MatMul due to non constant B")


def int8_check_summary(check: dict[str, Any]) -> str:
    """One readable line for the ``int8_check`` of an export manifest.

    Example:
        >>> int8_check_summary({"skipped": "no stored validation texts"})
        'int8 agreement not measured: no stored validation texts'
    """
    if check.get("skipped"):
        return f"int8 agreement not measured: {check['skipped']}"
    if "token_top1_agreement" in check:  # token classification
        line = (f"int8 vs fp32 on {check['n_texts']} {check.get('measured_on', 'texts')} "
                f"({check['n_tokens']} tokens): per-token top-1 agreement "
                f"{check['token_top1_agreement']:.1%}")
        if check.get("entity_f1_fp32") is not None:
            drop = check["entity_f1_drop_points"]
            line += (f", entity F1 {check['entity_f1_fp32']:.3f} -> {check['entity_f1_int8']:.3f} "
                     f"({abs(drop):.2f} points {'lost' if drop >= 0 else 'gained'})")
        elif check.get("entity_f1_skipped"):
            line += f"; entity F1 not measured: {check['entity_f1_skipped']}"
        if check.get("acceptable") is not None:
            line += ("; acceptable" if check["acceptable"] else "; NOT acceptable") + (
                f" (at most {check['max_drop_points']:g} points may be lost)")
        return line
    if "n_pairs" in check:  # cross-encoder
        line = f"int8 vs fp32 on {check['n_pairs']} {check.get('measured_on', 'pairs')}: "
        if check.get("top1_agreement") is not None:
            line += f"top-1 agreement {check['top1_agreement']:.1%}, "
        line += f"max |logit difference| {check['max_abs_diff']:.3g}"
        if check.get("accuracy_skipped"):
            line += f"; accuracy not measured: {check['accuracy_skipped']}"
        return line
    line = (f"int8 vs fp32 on {check['n_texts']} stored validation texts: top-1 agreement "
            f"{check['top1_agreement']:.1%}")
    if check.get("accuracy_fp32") is not None:
        drop = check["accuracy_drop_points"]
        line += (f", accuracy {check['accuracy_fp32']:.3f} -> {check['accuracy_int8']:.3f} "
                 f"({abs(drop):.2f} points {'lost' if drop >= 0 else 'gained'})")
    if check.get("acceptable") is not None:
        line += ("; acceptable" if check["acceptable"] else "; NOT acceptable") + (
            f" (at most {check['max_drop_points']:g} points may be lost)")
    return line


def _int8_check(session: Any, graph: Any, encode: Any, names: tuple[str, ...],
                texts: Sequence[str], targets: Sequence[int] | None,
                max_drop: float | None, batch_size: int = 64) -> dict[str, Any]:
    """Top-1 agreement and accuracy of the int8 graph against the fp32 PyTorch model."""
    import torch

    fp32, int8 = [], []
    for start in range(0, len(texts), batch_size):
        enc = encode(texts[start : start + batch_size])
        with torch.inference_mode():
            fp32.append(graph(*(enc[n] for n in names)).float().numpy().argmax(1))
        int8.append(session.run(None, {n: enc[n].numpy().astype(np.int64)
                                       for n in names})[0].argmax(1))
    top_fp32, top_int8 = np.concatenate(fp32), np.concatenate(int8)
    check: dict[str, Any] = {"n_texts": len(texts),
                             "top1_agreement": float(np.mean(top_fp32 == top_int8)),
                             "accuracy_fp32": None, "accuracy_int8": None,
                             "accuracy_drop_points": None, "max_drop_points": max_drop,
                             "acceptable": None}
    if targets is not None:
        y = np.asarray(targets)
        acc32, acc8 = float(np.mean(top_fp32 == y)), float(np.mean(top_int8 == y))
        drop = round((acc32 - acc8) * 100, 4)
        lost = int(np.sum(top_fp32 == y) - np.sum(top_int8 == y))
        check.update(accuracy_fp32=acc32, accuracy_int8=acc8, accuracy_drop_points=drop,
                     texts_lost=lost)
        if max_drop is not None:
            # one text more or less is noise on a small holdout (80 texts: 1.25 points), so a
            # single lost text never refuses an export under a limit >= 0
            check["acceptable"] = bool(drop <= max_drop or (max_drop >= 0 and lost <= 1))
    return check


def _cpu_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A CPU copy of ``module`` (built on the CPU, so a GPU model is not duplicated on the GPU)."""
    if all(p.device.type == "cpu" for p in module.parameters()):
        return copy.deepcopy(module)
    device = next(module.parameters()).device
    module.to("cpu")
    try:
        return copy.deepcopy(module)
    finally:
        module.to(device)


def _compare(got: np.ndarray, reference: np.ndarray,
             mask: np.ndarray | None = None) -> tuple[float, float]:
    """Largest |difference| and lowest cosine of the output rows; a per-token output
    ``(batch, sequence, k)`` is compared on the tokens that ``mask`` (the attention mask) keeps,
    never on padding."""
    if got.ndim == 3:
        keep = np.ones(got.shape[:2], dtype=bool) if mask is None else np.asarray(mask).astype(bool)
        got, reference = got[keep], reference[keep]
    diff = float(np.abs(got - reference).max())
    cosine = float(np.min(np.sum(got * reference, 1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1) + 1e-12)))
    return diff, cosine


def export_module(
    module: torch.nn.Module,
    fn: Any,
    tokenizer: Any,
    directory: str | Path,
    *,
    max_length: int,
    kind: str,
    info: dict[str, Any],
    prepare: Any = None,
    quantize: bool | str = False,
    tolerance: float = 1e-3,
    opset: int = 17,
    overwrite: bool = False,
    holdout_texts: Sequence[str] | None = None,
    holdout_targets: Sequence[int] | None = None,
    max_int8_drop: float | None = None,
    probe: Sequence[str] | Sequence[tuple[str, str]] = PROBE_TEXTS,
    int8_check: Any = None,
    extra_inputs: Any = None,
) -> Path:
    """Trace ``fn(module, inputs) -> tensor`` into ``directory`` (atomically) and check it.

    The check runs the exported graph and the PyTorch model on probe texts (a padded batch, each
    text alone and a pair, so that padding and sequence lengths other than the traced one are
    covered); an fp32 export that differs by more than ``tolerance`` is refused. A per-token
    output ``(batch, sequence, k)`` (token classification) is compared on the real tokens only.

    Args:
        module: the PyTorch model (copied to the CPU; the original is left as it is).
        fn: ``fn(module, {"input_ids": ..., "attention_mask": ...}) -> (batch, k) tensor`` (or
            ``(batch, sequence, k)``: per-token outputs).
        tokenizer: a Hugging Face tokenizer (saved alongside).
        directory: output directory; replaced only when the export and its check succeed.
        max_length: tokens per text at serving time.
        kind: what the graph computes (``text-classifier``, ``bi-encoder``,
            ``token-classifier`` or ``cross-encoder``).
        info: extra manifest fields (labels, temperature, fingerprint ...).
        prepare: optional ``prepare(cpu_copy) -> module`` (e.g. merging LoRA adapters).
        quantize: also quantize to int8: ``True`` (the default recipe,
            :data:`domaintune.quantize.DEFAULT_RECIPE`), a recipe name from
            :data:`domaintune.quantize.RECIPES`, or ``"auto"``: each of
            :data:`~domaintune.quantize.AUTO_CANDIDATES` is measured on ``holdout_texts`` and the
            fastest whose accuracy drop is within ``max_int8_drop`` is kept (every candidate's
            agreement, drop and texts/s go to ``int8_check["candidates"]``; without holdout
            texts, the default recipe). Static recipes calibrate on ``holdout_texts``.
        tolerance: largest allowed |ONNX - PyTorch| on the probe texts for an fp32 export.
        opset: ONNX opset.
        overwrite: replace an earlier export at ``directory`` (a directory holding anything
            else is never replaced).
        holdout_texts: with ``quantize``, texts (the model's stored validation texts) on which
            the int8 graph's top-1 outputs are compared with the fp32 PyTorch model's; the
            figures go to the manifest's ``int8_check`` (an empty list: the check is recorded
            as skipped, the model has no such texts; ``None``: no check, e.g. a bi-encoder).
        holdout_targets: the output index each of those texts should have (its label):
            adds fp32 and int8 accuracy and the accuracy points lost.
        max_int8_drop: refuse (nothing written) an int8 export that loses more than one text and
            more accuracy points
            than this on the holdout texts (``None``: record the figures, refuse nothing).
        probe: the parity check's inputs: texts, or ``(text, text_pair)`` pairs for a model that
            reads pairs (a cross-encoder; tokenized as a pair, truncated ``longest_first``).
        int8_check: with ``quantize``, ``int8_check(run_fp32, run_int8) -> dict`` replaces the
            top-1 check on ``holdout_texts``; each ``run`` maps int64 NumPy feeds to the
            graph's output (the fp32 PyTorch model / the int8 session). It may raise
            :class:`Int8AccuracyError` (nothing is written). Its dict is the manifest's
            ``int8_check``.
        extra_inputs: ``extra_inputs(encoded) -> {name: int64 tensor (batch, sequence)}``: more
            graph inputs computed from each tokenized batch (the NER word-shape ids), after
            the tokenizer's inputs.

    Returns:
        ``directory``.

    Raises:
        ArtifactExistsError: ``directory`` is not empty (and not replaceable).
        ModelLoadError: the exported graph does not reproduce the PyTorch outputs.
        Int8AccuracyError: the int8 export loses more than ``max_int8_drop`` accuracy points.
    """
    import torch

    ort = _require_onnxruntime()
    start = time.perf_counter()
    directory = Path(directory)
    check_target(directory, overwrite=overwrite, what="ONNX export", meta_file=MANIFEST_FILE)
    cpu_module = _cpu_copy(module)
    if prepare is not None:
        cpu_module = prepare(cpu_module)
    cpu_module.eval()

    def encode(texts: Sequence[Any]) -> dict[str, torch.Tensor]:
        enc = _tokenize(tokenizer, texts, max_length)
        if extra_inputs is not None:
            enc = {**enc, **extra_inputs(enc)}
        return enc

    probe = list(probe)
    encoded = encode(probe)
    names = tuple(n for n in INPUT_NAMES if n in encoded)
    if extra_inputs is not None:
        names += tuple(n for n in encoded if n not in INPUT_NAMES and n not in names)
    graph = _Graph(fn, cpu_module, names).eval()
    inputs = tuple(encoded[n] for n in names)
    checks = [probe] + [[t] for t in probe] + [probe[:2]]
    with torch.inference_mode():
        references = [graph(*(enc[n] for n in names)).float().numpy()
                      for enc in map(encode, checks)]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["output"] = {0: "batch", 1: "sequence"} if references[0].ndim == 3 else {0: "batch"}
    with write_artifact(directory, task=None, overwrite=overwrite, meta_file=MANIFEST_FILE,
                        what="ONNX export") as art:
        tmp = art.dir
        path = tmp / ONNX_FILE
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer's notes on Python-side shape checks; the parity check below is the test
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*advanced indexing.*")
            torch.onnx.export(graph, inputs, str(path), input_names=list(names),
                              output_names=["output"], dynamic_axes=axes, opset_version=opset,
                              dynamo=False)
        selection, recipe = None, None
        if quantize:
            from . import quantize as q

            fp32 = tmp / "model.fp32.onnx"
            path.rename(fp32)
            texts = list(holdout_texts or [])
            by_length = sorted(texts, key=len)  # batches as OnnxModel.run makes them

            def feeds() -> list[dict[str, np.ndarray]]:  # inputs from the stored validation texts
                return [{n: v.numpy().astype(np.int64) for n, v in encode(by_length[i : i + 32]).items()
                         if n in names} for i in range(0, len(by_length), 32)]

            if quantize == q.AUTO and texts:
                selection = q.select_recipe(fp32, path, batches=feeds(), targets=holdout_targets,
                                            max_drop=max_int8_drop, calibration_feeds=feeds)
                recipe = q.get_recipe(selection["recipe"])
            else:
                recipe = q.get_recipe(True if quantize == q.AUTO else quantize)
                if recipe.static and not texts:
                    raise ConfigError(f"the int8 recipe {recipe.name!r} calibrates on the model's "
                                      "stored validation texts and this model has none; choose a "
                                      f"dynamic recipe such as {q.DEFAULT_RECIPE!r}")
                q.quantize_onnx(fp32, path, recipe=recipe,
                                calibration_feeds=feeds() if recipe.static else None)
            fp32.unlink()
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        diffs, cosines = [], []
        for texts, reference in zip(checks, references, strict=True):
            enc = encode(texts)
            got = session.run(None, {n: enc[n].numpy().astype(np.int64) for n in names})[0]
            d, c = _compare(got, reference, enc["attention_mask"].numpy())
            diffs.append(d)
            cosines.append(c)
        diff, cosine = max(diffs), min(cosines)
        if not quantize and not diff <= tolerance:
            raise ModelLoadError(f"the ONNX export of this {kind} does not reproduce the PyTorch "
                                 f"outputs (max |difference| {diff:.2e} on {len(probe)} probe "
                                 f"texts, tolerance {tolerance:g}); keep serving it with PyTorch "
                                 "and report the model type")
        if quantize and cosine < 0.95:
            logger.warning("the int8 export of this %s moves its outputs a lot (lowest cosine to "
                           "the PyTorch outputs on the probe texts: %.3f); evaluate it before "
                           "serving it, or export in fp32", kind, cosine)
        checker, int8_check = int8_check, None
        if quantize and checker is not None:  # a task's own check (token classification)
            int8_check = checker(_runner(graph, names), _runner(session, names))
            logger.info("%s", int8_check_summary(int8_check))
        elif quantize and holdout_texts:
            int8_check = _int8_check(session, graph, encode, names, list(holdout_texts),
                                     holdout_targets, max_int8_drop)
            int8_check["recipe"] = recipe.name
            if selection is not None:  # auto: every candidate's figures, measured here
                int8_check["candidates"] = selection["candidates"]
            logger.info("%s", int8_check_summary(int8_check))
            if int8_check["acceptable"] is False:
                from .advice import advise

                raise Int8AccuracyError(
                    f"the int8 export loses {int8_check['accuracy_drop_points']:.2f} accuracy "
                    f"points on the model's {len(holdout_texts)} stored validation texts "
                    f"(fp32 {int8_check['accuracy_fp32']:.3f} -> int8 "
                    f"{int8_check['accuracy_int8']:.3f}, top-1 agreement "
                    f"{int8_check['top1_agreement']:.1%}), more than the {max_int8_drop:g} "
                    f"allowed; nothing was written to {directory}. Export in fp32 (without "
                    "int8 quantization), or accept the loss with "
                    f"{advise('max_int8_drop', _ceil_points(int8_check['accuracy_drop_points']))}"
                    + (f" (recipe {recipe.name!r}, the most accurate of the {len(selection['candidates'])} "
                       "that auto tried)" if selection is not None else ""))
        elif quantize and holdout_texts is not None:  # given, but empty
            int8_check = {"skipped": "the model has no stored validation texts (holdout.jsonl: "
                                     "it was trained without validation data); evaluate the "
                                     "export before serving it", "recipe": recipe.name}
        tokenizer.save_pretrained(str(tmp))
        art.meta.update({
            "kind": kind,
            "precision": "int8" if quantize else "fp32", "inputs": list(names),
            "max_length": int(max_length), "opset": opset, "torch_version": torch.__version__,
            "onnxruntime_version": ort.__version__,
            "parity": {"probe_texts": len(probe), "checks": len(checks),
                       "max_abs_diff": diff, "min_cosine": cosine},
            **({"int8_check": int8_check} if int8_check is not None else {}),
            **({"int8_recipe": recipe.to_dict()} if quantize else {}),
            **info,
        })
    logger.info("exported the %s to %s (%s) in %.1fs; probe texts: max |ONNX - PyTorch| %.2e, "
                "min cosine %.4f", kind, directory, "int8" if quantize else "fp32",
                time.perf_counter() - start, diff, cosine)
    return directory


def _ceil_points(points: float) -> float:
    """``points`` rounded up to a tenth, so the suggested limit accepts the measured loss."""
    import math

    return math.ceil(points * 10 - 1e-9) / 10


TOKENIZER_FILE = "tokenizer.json"


class ExportTokenizer:
    """An export's fast tokenizer (``tokenizer.json``) run with the ``tokenizers`` library.

    Encodes a batch as the Hugging Face tokenizer does with ``padding=True, truncation=True,
    max_length=max_length``: special tokens added, truncated to ``max_length`` tokens (special
    tokens included) on the ``truncation_side``, padded to the longest text of the batch on the
    ``padding_side`` with the pad token of ``tokenizer_config.json``. Loading it needs neither
    transformers nor PyTorch.

    Example:
        >>> tok = ExportTokenizer("models/intent-onnx", max_length=128)  # doctest: +SKIP
        >>> tok(["where is my card?"])["input_ids"].shape  # doctest: +SKIP
        (1, 8)
    """

    def __init__(self, directory: str | Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        directory = Path(directory)
        self.max_length = int(max_length)
        self.backend = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        config = _read_json_object(directory / "tokenizer_config.json")
        special = _read_json_object(directory / "special_tokens_map.json")
        pad = config.get("pad_token", special.get("pad_token"))
        pad = pad.get("content") if isinstance(pad, dict) else pad
        pad_id = self.backend.token_to_id(pad) if isinstance(pad, str) else None
        if pad_id is None:
            raise ModelLoadError(f"{directory}: the tokenizer has no padding token ({pad!r} in "
                                 "tokenizer_config.json); export the model again")
        # whatever truncation/padding state tokenizer.json was saved with, set the export's
        self.backend.enable_truncation(self.max_length, strategy="longest_first",
                                       direction=str(config.get("truncation_side", "right")))
        self.backend.enable_padding(direction=str(config.get("padding_side", "right")),
                                    pad_id=pad_id, pad_type_id=int(config.get("pad_token_type_id", 0)),
                                    pad_token=pad)

    def __call__(self, texts: Sequence[str] | Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask`` and ``token_type_ids``: int64 ``(batch, tokens)``.

        ``texts`` may be ``(text, text_pair)`` pairs: encoded as a pair (segment ids 0 then 1),
        truncated ``longest_first`` to ``max_length``, as the Hugging Face tokenizer does with
        ``tokenizer(texts, text_pairs, truncation=True)``."""
        encodings = self.backend.encode_batch(
            [(t[0], t[1]) if _is_pair(t) else t for t in texts])
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }


class _TransformersTokenizer:
    """Fallback for an export without ``tokenizer.json`` (a slow tokenizer): transformers'
    AutoTokenizer, which imports PyTorch."""

    def __init__(self, directory: Path, max_length: int) -> None:
        from transformers import AutoTokenizer

        self.max_length = int(max_length)
        self.backend = AutoTokenizer.from_pretrained(str(directory))

    def __call__(self, texts: Sequence[str] | Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        items = list(texts)
        if items and all(_is_pair(t) for t in items):
            enc = self.backend([a for a, _ in items], [b for _, b in items], padding=True,
                               truncation="longest_first", max_length=self.max_length,
                               return_tensors="np")
        else:
            enc = self.backend(items, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="np")
        return {k: np.asarray(v).astype(np.int64) for k, v in enc.items()}


class _WordEncoding:
    """What :func:`domaintune.ner.alignment.encode_windows` reads of a Hugging Face
    ``BatchEncoding``: ``word_ids(row)``, ``enc["input_ids"]``, ``"token_type_ids" in enc``."""

    def __init__(self, encodings: list[Any], with_types: bool) -> None:
        self.encodings = encodings
        self.keys = ("input_ids", "attention_mask") + (("token_type_ids",) if with_types else ())

    def word_ids(self, row: int) -> list[int | None]:
        return list(self.encodings[row].word_ids)

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def __getitem__(self, key: str) -> list[list[int]]:
        if key not in self.keys:
            raise KeyError(key)
        field = {"input_ids": "ids", "attention_mask": "attention_mask",
                 "token_type_ids": "type_ids"}[key]
        return [list(getattr(e, field)) for e in self.encodings]


class ExportWordTokenizer:
    """An export's ``tokenizer.json`` for pre-split words (token classification), run with the
    ``tokenizers`` library: the part of a Hugging Face fast tokenizer that
    :func:`~domaintune.ner.alignment.encode_windows` uses (``is_split_into_words=True``,
    ``word_ids``, special tokens, truncation without padding), so an ONNX NER export windows
    and aligns texts with the same code as the PyTorch model. Needs neither transformers nor
    PyTorch.

    Args:
        directory: the export directory (``tokenizer.json``, ``tokenizer_config.json``).
        with_types: whether to return ``token_type_ids`` (the graph's inputs say).
    """

    def __init__(self, directory: str | Path, *, with_types: bool = True) -> None:
        from tokenizers import Tokenizer

        directory = Path(directory)
        path = directory / TOKENIZER_FILE
        if not path.is_file():
            raise ModelLoadError(f"{directory} has no {TOKENIZER_FILE}; an ONNX token-classifier "
                                 "export needs the fast tokenizer it was exported with: export "
                                 "the model again")
        config = _read_json_object(directory / "tokenizer_config.json")
        special = _read_json_object(directory / "special_tokens_map.json")
        self.with_types = with_types
        self.side = str(config.get("truncation_side", "right"))
        self.plain = Tokenizer.from_file(str(path))
        self.plain.no_truncation()
        self.plain.no_padding()
        self.truncating = Tokenizer.from_file(str(path))
        self.truncating.no_padding()
        unk = config.get("unk_token", special.get("unk_token"))
        unk = unk.get("content") if isinstance(unk, dict) else unk
        self.unk_token: str | None = unk if isinstance(unk, str) else None
        pad = config.get("pad_token", special.get("pad_token"))
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_token_id = self.plain.token_to_id(pad) if isinstance(pad, str) else None

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return int(self.plain.num_special_tokens_to_add(pair))

    def tokenize(self, text: str) -> list[str]:
        return list(self.plain.encode(text, add_special_tokens=False).tokens)

    def __call__(self, words: Sequence[Sequence[str]], *, is_split_into_words: bool = True,
                 add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None) -> _WordEncoding:
        if not is_split_into_words:
            raise ValueError("ExportWordTokenizer encodes pre-split words only")
        backend = self.plain
        if truncation and max_length is not None:
            backend = self.truncating
            backend.enable_truncation(int(max_length), strategy="longest_first",
                                      direction=self.side)
        encodings = backend.encode_batch([list(w) for w in words], is_pretokenized=True,
                                         add_special_tokens=add_special_tokens)
        return _WordEncoding(encodings, self.with_types)


def _read_json_object(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def load_export_tokenizer(directory: str | Path, max_length: int):
    """The tokenizer of an export directory: :class:`ExportTokenizer` when it holds
    ``tokenizer.json`` (every fast tokenizer saves one), else transformers' AutoTokenizer.
    Either is called with a list of texts and returns int64 NumPy arrays."""
    directory = Path(directory)
    if (directory / TOKENIZER_FILE).is_file():
        return ExportTokenizer(directory, max_length)
    logger.debug("%s has no %s; tokenizing with transformers (imports PyTorch)", directory,
                 TOKENIZER_FILE)
    return _TransformersTokenizer(directory, max_length)


class OnnxModel:
    """A ``model.onnx`` + tokenizer directory written by :func:`export_module`.

    Args:
        directory: the export directory.
        kind: the ``kind`` the caller expects (checked against the manifest).
        threads: ONNX Runtime intra-op threads (``None``: its default, the physical cores).
        providers: ONNX Runtime execution providers (default: every available one, e.g. CUDA
            before CPU when ``onnxruntime-gpu`` is installed).
    """

    def __init__(self, directory: str | Path, kind: str, *, threads: int | None = None,
                 providers: Sequence[str] | None = None) -> None:
        ort = _require_onnxruntime()
        self.directory = Path(directory)
        fix = "export the model again (export_onnx)"
        self.manifest: dict[str, Any] = read_record(self.directory, MANIFEST_FILE,
                                                    "export_onnx / `domaintune export`", fix=fix)
        found = self.manifest.get("kind")
        if found != kind:
            raise ModelLoadError(f"{self.directory} holds an ONNX export of a {found}, expected a "
                                 f"{kind}; pass the directory of the right export")
        verify_files(self.directory, self.manifest, MANIFEST_FILE, fix=fix)
        self.inputs = tuple(self.require("inputs"))
        self.max_length = int(self.require("max_length"))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between runs: a service holds several sessions (a classifier and an
        # encoder), and spinning thread pools starve each other on a small CPU
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.directory / ONNX_FILE), options,
                providers=list(providers or ort.get_available_providers()))
            self.tokenizer = load_export_tokenizer(self.directory, self.max_length)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"cannot load the ONNX export in {self.directory} "
                                 f"({type(exc).__name__}: {str(exc)[:200]}); export it again") from None

    def require(self, key: str) -> Any:
        """A manifest field, or a clear error when the manifest lacks it."""
        if key not in self.manifest:
            raise ModelLoadError(f"{self.directory / MANIFEST_FILE} has no {key!r}; the export is "
                                 "incomplete or corrupted: export the model again (export_onnx)")
        return self.manifest[key]

    @property
    def precision(self) -> str:
        """``fp32`` or ``int8``."""
        return str(self.manifest.get("precision", "fp32"))

    def run(self, texts: Sequence[str] | Sequence[tuple[str, str]],
            batch_size: int = 64) -> np.ndarray:
        """The graph's output for each text, in input order (texts batched by length).

        ``texts`` may be ``(text, text_pair)`` pairs (a cross-encoder export; the caller
        checks them)."""
        pairs = bool(texts) and all(_is_pair(t) for t in texts)
        if not pairs:
            check_texts(texts)
        out: list[np.ndarray | None] = [None] * len(texts)
        # longest first, as domaintune.training.length_grouped_batches does for inference
        # (imported from there, it would bring PyTorch along)
        order = np.argsort([-(len(t[0]) + len(t[1]) if pairs else len(t)) for t in texts],
                           kind="stable")
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            enc = self.tokenizer([texts[i] for i in batch])
            feeds = {n: enc[n] for n in self.inputs}
            result = self.session.run(None, feeds)[0]
            for row, i in enumerate(batch):
                out[i] = result[row]
        return np.stack(out) if texts else np.zeros((0, 0), dtype=np.float32)  # type: ignore[arg-type]


class OnnxTextClassifier:
    """Serve a :class:`~domaintune.TextClassifier` exported with ``export_onnx``.

    Same prediction API as the PyTorch classifier (``labels``, ``predict_proba``, ``predict``,
    calibrated with the saved temperature), without loading PyTorch weights. Training,
    calibration and updates stay with :class:`~domaintune.TextClassifier`.
    """

    KIND = "text-classifier"

    def __init__(self, model: OnnxModel) -> None:
        m = model.manifest
        self.model = model
        self.labels: list[str] = list(model.require("labels"))
        self.multi_label = bool(m.get("multi_label", False))
        self.temperature = float(m.get("temperature", 1.0))
        self.threshold = float(m.get("threshold", 0.5))
        self.base_model = m.get("base_model")
        self.max_length = model.max_length

    @classmethod
    def load(cls, directory: str | Path, *, threads: int | None = None,
             providers: Sequence[str] | None = None) -> OnnxTextClassifier:
        """Load an export directory (see :class:`OnnxModel` for ``threads`` / ``providers``)."""
        return cls(OnnxModel(directory, cls.KIND, threads=threads, providers=providers))

    def predict_proba(self, texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Calibrated probabilities: ``(n_labels,)`` for one string, ``(n, n_labels)`` for a list."""
        batch, single = text_batch(texts, "texts to classify")  # as the PyTorch classifier
        if not batch:
            return np.zeros((0, len(self.labels)))
        probs = probabilities(self.model.run(batch, batch_size), self.temperature, self.multi_label)
        return probs[0] if single else probs

    def predict(self, texts: str | Sequence[str], batch_size: int = 64):
        """Label(s) for one string or a list (multi-label: a list of labels per text)."""
        single = isinstance(texts, str)
        probs = np.atleast_2d(self.predict_proba([texts] if single else texts, batch_size))
        out = decide(probs, self.labels, self.multi_label, self.threshold)
        return out[0] if single else out

    def __repr__(self) -> str:
        return (f"OnnxTextClassifier(labels={len(self.labels)}, precision={self.model.precision!r}, "
                f"directory={str(self.model.directory)!r})")


class OnnxBiEncoder:
    """Serve a :class:`~domaintune.pairs.BiEncoder` exported with ``export_onnx``.

    ``encode`` returns the same L2-normalised vectors as the PyTorch bi-encoder (fp32 exports
    keep its fingerprint, so FAISS indexes built with either are interchangeable; an int8
    export gets its own fingerprint, so an index built in fp32 is refused, not silently mixed).
    """

    KIND = "bi-encoder"

    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.base_model = str(model.manifest.get("base_model", "default"))
        self.fingerprint = str(model.require("fingerprint"))
        self.dim = int(model.require("dim"))
        self.max_length = model.max_length

    @classmethod
    def load(cls, directory: str | Path, *, threads: int | None = None,
             providers: Sequence[str] | None = None) -> OnnxBiEncoder:
        """Load an export directory (see :class:`OnnxModel` for ``threads`` / ``providers``)."""
        return cls(OnnxModel(directory, cls.KIND, threads=threads, providers=providers))

    @property
    def encoder_info(self) -> dict[str, Any]:
        """What :class:`~domaintune.pairs.FaissIndex` records about the encoder of its vectors."""
        return {"name": self.base_model, "fingerprint": self.fingerprint, "dim": self.dim}

    def encode(self, texts: str | Sequence[str], batch_size: int = 64,
               progress: bool = False) -> np.ndarray:
        """L2-normalised float32 embeddings: ``(dim,)`` for one string, ``(n, dim)`` for a list."""
        batch, single = text_batch(texts, "texts to encode")
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.run(batch, batch_size).astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out

    def __repr__(self) -> str:
        return (f"OnnxBiEncoder(dim={self.dim}, precision={self.model.precision!r}, "
                f"directory={str(self.model.directory)!r})")


def _ner_modules() -> tuple[Any, Any]:
    from .ner import alignment, decoding

    return alignment, decoding


def _graph_embedding_rows(path: Path, input_name: str) -> int | None:
    """Rows of the embedding table that ``model.onnx`` looks ``input_name`` up in (the data
    input of the ``Gather`` that reads it, through a dequantization or cast), or ``None``."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    tables = {t.name: list(t.dims) for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[1] != input_name:
            continue
        name = node.input[0]
        for _ in range(4):  # DequantizeLinear / Cast / Identity between the table and the lookup
            if name in tables:
                return int(tables[name][0]) if tables[name] else None
            if name not in producers or not producers[name].input:
                break
            name = producers[name].input[0]
    return None


def _check_word_shapes(model: OnnxModel, record: Path, fix: str) -> None:
    """The manifest's ``word_shapes`` agrees with the graph: the shape classes of this version
    and an embedding of one row per class when the graph reads ``shape_ids``, nothing when it
    does not (an export made before word shapes existed has no record)."""
    from .ner.features import SHAPE_INPUT, check_shape_classes

    classes = model.manifest.get("word_shapes")
    if SHAPE_INPUT not in model.inputs:
        if classes is not None:
            raise ModelLoadError(f"{record} is corrupted ('word_shapes' is {classes!r}, but the "
                                 f"graph has no {SHAPE_INPUT!r} input: expected null); {fix}")
        return
    if not isinstance(classes, list):
        raise ModelLoadError(f"{record} is corrupted ('word_shapes' is {classes!r}, expected the "
                             f"list of shape classes: the graph reads {SHAPE_INPUT!r}); {fix}")
    check_shape_classes(classes, _graph_embedding_rows(model.directory / ONNX_FILE, SHAPE_INPUT),
                        record, fix)


class OnnxNerModel:
    """Serve a :class:`~domaintune.ner.TokenClassifier` exported with ``export_onnx``.

    Same prediction API and outputs as the PyTorch tagger (``predict`` -> entities
    ``{"type", "text", "start", "end", "score"}`` with character offsets, ``predict_tags``,
    ``evaluate``): texts are split into words, cut into the same overlapping windows and
    decoded by the same functions (:mod:`domaintune.ner.decoding`); only the forward pass runs
    in ONNX Runtime. Words are tokenized with the export's ``tokenizer.json``
    (:class:`ExportWordTokenizer`). Training stays with the PyTorch model.

    Example:
        >>> ner = OnnxNerModel.load("models/ner-onnx")  # doctest: +SKIP
        >>> ner.predict("alice lost her card in paris")  # doctest: +SKIP
        [{'type': 'PER', 'text': 'alice', 'start': 0, 'end': 5, 'score': 0.93}, ...]
    """

    KIND = "token-classifier"

    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.tags: list[str] = [str(t) for t in model.require("tags")]
        if "O" not in self.tags:
            raise ModelLoadError(f"{model.directory / MANIFEST_FILE} is corrupted ('tags' must "
                                 f"be BIO tags including 'O', found {self.tags[:10]}); export "
                                 "the model again (export_onnx)")
        self.base_model = model.manifest.get("base_model")
        self.max_length = model.max_length
        self.stride = int(model.require("stride"))
        # exports made before constrained decoding existed decode with argmax (+ BIO repair)
        self.decoding = str(model.manifest.get("decoding", "argmax"))
        alignment, _ = _ner_modules()
        fix = "export the model again (export_onnx)"
        record = model.directory / MANIFEST_FILE
        # document context (evaluate only): an int >= 0, checked as the PyTorch loader does
        self.context = alignment.stored_context(model.manifest.get("context", 0), record, fix)
        _check_word_shapes(model, record, fix)
        if self.decoding not in ("argmax", "viterbi"):
            raise ModelLoadError(f"{model.directory / MANIFEST_FILE} is corrupted ('decoding' is "
                                 f"{self.decoding!r}, expected 'argmax' or 'viterbi'); export the "
                                 "model again (export_onnx)")
        try:
            self.tokenizer = ExportWordTokenizer(
                model.directory, with_types="token_type_ids" in model.inputs)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot load the tokenizer of the ONNX export in "
                                 f"{model.directory} ({type(exc).__name__}: {str(exc)[:200]}); "
                                 "export it again") from None
        self.pad_id = self.tokenizer.pad_token_id or 0

    @classmethod
    def load(cls, directory: str | Path, *, threads: int | None = None,
             providers: Sequence[str] | None = None) -> OnnxNerModel:
        """Load an export directory (see :class:`OnnxModel` for ``threads`` / ``providers``)."""
        return cls(OnnxModel(directory, cls.KIND, threads=threads, providers=providers))

    @property
    def entity_types(self) -> list[str]:
        """Entity types the model predicts, in tag order."""
        return [t[2:] for t in self.tags if t.startswith("B-")]

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.model.session.run(None, {n: feeds[n] for n in self.model.inputs})[0]

    def _word_logits(self, sentences: Sequence[Sequence[str]], batch_size: int,
                     documents: Sequence[int] | None = None) -> list[np.ndarray]:
        alignment, decoding = _ner_modules()
        windows = alignment.encode_windows(
            self.tokenizer, sentences, max_length=self.max_length, stride=self.stride,
            shapes="shape_ids" in self.model.inputs, documents=documents,
            context=self.context if documents else 0)
        logits = decoding.run_windows(windows, self._run, pad_id=self.pad_id,
                                      names=self.model.inputs, batch_size=batch_size)
        return decoding.word_scores(windows, logits, [len(s) for s in sentences], len(self.tags))

    def predict(self, texts: str | Sequence[str], batch_size: int = 64):
        """Entity spans in one text or in each text of a list (same shape back); see
        :meth:`domaintune.ner.TokenClassifier.predict`."""
        _, decoding = _ner_modules()
        batch, single = text_batch(texts, "texts to tag", keep_offsets=True)
        spans, words = decoding.split_words(batch)
        scores = self._word_logits(words, batch_size)
        out = [decoding.entities(text, offs, logits, self.tags, self.decoding)
               for text, offs, logits in zip(batch, spans, scores, strict=True)]
        return out[0] if single else out

    def predict_tags(self, tokens: Sequence[str] | Sequence[Sequence[str]], batch_size: int = 64):
        """BIO tags for pre-tokenized words: one word list, or a list of word lists."""
        _, decoding = _ner_modules()
        sentences, single = decoding.word_lists(tokens)
        out = [decoding.decode_tags(s, self.tags, self.decoding)[0]
               for s in self._word_logits(sentences, batch_size)]
        return out[0] if single else out

    def evaluate(self, data: Any, batch_size: int = 64) -> dict[str, Any]:
        """Entity-level scores on tagged sentences (a ``TokenDataset``), as
        :meth:`domaintune.ner.TokenClassifier.evaluate` computes them."""
        from .ner.metrics import entity_metrics

        if getattr(data, "tags", None) is None:
            raise DataError("evaluate needs tagged sentences (a TokenDataset with tags, from "
                            "domaintune.ner.load_ner_dataset)")
        unknown = sorted({t for seq in data.tags for t in seq} - set(self.tags))
        if unknown:
            raise DataError(f"{data.source}: evaluation data has tags {unknown[:10]} that the "
                            f"model does not know; it knows {self.entity_types}")
        _, decoding = _ner_modules()
        scores = (self._word_logits(list(data.tokens), batch_size, getattr(data, "documents", None))
                  if len(data) else [])
        pred = [decoding.decode_tags(s, self.tags, self.decoding)[0] for s in scores]
        return entity_metrics(data.tags, pred)

    def __repr__(self) -> str:
        return (f"OnnxNerModel(entity_types={self.entity_types}, precision="
                f"{self.model.precision!r}, directory={str(self.model.directory)!r})")


def _pair_scorer() -> Any:
    from .pairs.scoring import PairScorer

    return PairScorer


class OnnxCrossEncoder:
    """Serve a :class:`~domaintune.pairs.CrossEncoderModel` exported with ``export_onnx``.

    Same ``predict`` / ``predict_proba`` / ``rank`` as the PyTorch cross-encoder: both run the
    methods of :class:`~domaintune.pairs.scoring.PairScorer` on their own logits (borrowed
    here, not inherited, so that importing this module does not import the ``pairs``
    package). Pairs are tokenized as pairs with the export's ``tokenizer.json``
    (``token_type_ids``, ``longest_first`` truncation to ``max_length``) and scored in ONNX
    Runtime.

    Example:
        >>> ce = OnnxCrossEncoder.load("models/reranker-onnx")  # doctest: +SKIP
        >>> ce.rank("where is my refund?", ["Refunds take 5 days.", "Cards ship in a week."])  # doctest: +SKIP
    """

    KIND = "cross-encoder"

    def __init__(self, model: OnnxModel) -> None:
        from .pairs.scoring import CrossEncoderTask, as_task

        self.model = model
        try:
            self.task = as_task(model.require("pair_task"))
        except ConfigError as exc:
            raise ModelLoadError(f"{model.directory / MANIFEST_FILE} is corrupted ({exc}); export "
                                 "the model again (export_onnx)") from None
        labels = model.manifest.get("labels")
        self.labels = [str(x) for x in labels] if labels is not None else None
        if self.task == CrossEncoderTask.CLASSIFICATION and not self.labels:
            raise ModelLoadError(f"{model.directory / MANIFEST_FILE} has no 'labels' for a "
                                 "classification cross-encoder; export the model again")
        self.base_model = model.manifest.get("base_model")
        self.fingerprint = model.manifest.get("fingerprint")
        self.max_length = model.max_length

    @classmethod
    def load(cls, directory: str | Path, *, threads: int | None = None,
             providers: Sequence[str] | None = None) -> OnnxCrossEncoder:
        """Load an export directory (see :class:`OnnxModel` for ``threads`` / ``providers``)."""
        return cls(OnnxModel(directory, cls.KIND, threads=threads, providers=providers))

    def _logits(self, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
        if not pairs:
            return self._empty()
        out = self.model.run(pairs, batch_size).astype(np.float32)
        return out if self.task.value == "classification" else out[:, 0]

    def _empty(self) -> np.ndarray:
        return _pair_scorer()._empty(self)

    def predict_proba(self, pairs: Any, batch_size: int = 32) -> np.ndarray:
        """Class probabilities (``classification``) or the positive class's probability
        (``binary``); see :meth:`domaintune.pairs.CrossEncoderModel.predict_proba`."""
        return _pair_scorer().predict_proba(self, pairs, batch_size)

    def predict(self, pairs: Any, batch_size: int = 32) -> Any:
        """Score or class of one pair or of each pair of a list; see
        :meth:`domaintune.pairs.CrossEncoderModel.predict`."""
        return _pair_scorer().predict(self, pairs, batch_size)

    def rank(self, query: str, passages: Sequence[str], top_k: int | None = None,
             batch_size: int = 32) -> list[dict[str, Any]]:
        """Passages sorted by score for ``query``, best first; see
        :meth:`domaintune.pairs.CrossEncoderModel.rank`."""
        return _pair_scorer().rank(self, query, passages, top_k, batch_size)

    def __repr__(self) -> str:
        return (f"OnnxCrossEncoder(task={self.task.value!r}, labels={self.labels}, precision="
                f"{self.model.precision!r}, directory={str(self.model.directory)!r})")

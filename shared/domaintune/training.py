"""Training: frozen-encoder logistic-regression heads and a fine-tuning loop (full or LoRA).

The loop supports class weights, gradient accumulation, ``max_steps``, linear warm-up/decay,
early stopping on a validation metric (restoring the best epoch), a tqdm progress bar and a
per-epoch log of training loss and validation metrics.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .config import ClassWeights, Metric, TrainingConfig
from .modeling import EncoderClassifier, tokenize

logger = logging.getLogger(__name__)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def redraw_linear_head(head: nn.Module, *, std: float | None = None) -> None:
    """Draw an untrained head's weights again from the (just seeded) torch generator.

    A model's fresh head is drawn when the model is built, before ``fit`` seeds anything, and
    torch seeds its default generator differently in every process: without this, two fits
    at the same ``seed`` start from different heads and end apart (NER entity F1 moved by up
    to 3 points between identical runs). ``std``: weights ~ N(0, std) and zero biases (the
    Hugging Face initialisation, ``config.initializer_range``); ``None`` = the layers' own
    ``reset_parameters``.
    """
    for module in head.modules():
        if not isinstance(module, nn.Linear):
            continue
        if std is None:
            module.reset_parameters()
        else:
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@torch.inference_mode()
def encode(
    model: EncoderClassifier,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    batch_size: int = 64,
    device: torch.device,
    head: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Pooled embeddings (or head logits when ``head``) of ``texts``, in input order."""
    model.eval()
    out: list[np.ndarray | None] = [None] * len(texts)
    batches = length_grouped_batches([len(t) for t in texts], batch_size, None)
    for batch in tqdm(batches, desc="encoding", disable=not progress, leave=False):
        enc = tokenize(tokenizer, [texts[i] for i in batch], max_length, device)
        vectors = model(**enc) if head else model.embed(**enc)
        vectors = vectors.float().cpu().numpy()
        for row, i in enumerate(batch):
            out[i] = vectors[row]
    if not texts:
        return np.zeros((0, model.head.out_features if head else model.head.in_features))
    return np.stack(out)  # type: ignore[arg-type]


def fit_linear_head(
    embeddings: np.ndarray,
    targets: np.ndarray,
    n_labels: int,
    *,
    multi_label: bool,
    c: float,
    balanced: bool,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a scikit-learn logistic regression and return it as a linear layer (weight, bias)."""
    from sklearn.linear_model import LogisticRegression

    dim = embeddings.shape[1]
    weight = np.zeros((n_labels, dim), dtype=np.float32)
    bias = np.zeros(n_labels, dtype=np.float32)
    class_weight = "balanced" if balanced else None
    if multi_label:
        for j in range(n_labels):
            y = targets[:, j]
            if y.min() == y.max():  # a label always on/off: constant logit
                bias[j] = 10.0 if y[0] else -10.0
                continue
            lr = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight, random_state=seed)
            lr.fit(embeddings, y)
            weight[j], bias[j] = lr.coef_[0], lr.intercept_[0]
        return weight, bias
    present = np.unique(targets)
    if len(present) == 1:  # one class only: predict it
        bias[:] = -10.0
        bias[present[0]] = 10.0
        return weight, bias
    lr = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight, random_state=seed)
    lr.fit(embeddings, targets)
    if len(present) == 2:
        # binary LR gives one vector w: p(c1) = sigmoid(w.x + b) = softmax([0, w.x + b])[1]
        weight[present[1]], bias[present[1]] = lr.coef_[0], lr.intercept_[0]
    else:
        weight[present], bias[present] = lr.coef_, lr.intercept_
    absent = np.setdiff1d(np.arange(n_labels), present)
    bias[absent] = -1e4  # labels never seen in training are never predicted
    return weight, bias


def class_weight_vector(targets: np.ndarray, n_labels: int, multi_label: bool) -> np.ndarray:
    """scikit-learn's 'balanced' weights (n / (k * count)); pos_weight for multi-label."""
    if multi_label:
        pos = targets.sum(axis=0)
        neg = len(targets) - pos
        return np.where(pos > 0, neg / np.maximum(pos, 1), 1.0).astype(np.float32)
    counts = np.bincount(targets, minlength=n_labels).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_labels)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None,
    group_by_length: bool = True,
) -> list[np.ndarray]:
    """Index batches over items of the given ``lengths``.

    With ``rng``: shuffled, and with ``group_by_length`` sorted by length inside shuffled
    mega-batches of 50 batches (as transformers' LengthGroupedSampler), so a batch holds items
    of similar length (less padding). Without ``rng``: longest first (inference).
    """
    if rng is None:
        order = np.argsort([-n for n in lengths], kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    if group_by_length and len(order):
        mega = batch_size * 50
        order = np.concatenate([
            sorted(order[i : i + mega], key=lambda j: lengths[j], reverse=True)
            for i in range(0, len(order), mega)
        ])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))] if group_by_length else batches


def contrastive_stage(
    model: EncoderClassifier,
    tokenizer,
    texts: Sequence[str],
    groups: np.ndarray,
    cfg: TrainingConfig,
    *,
    device: torch.device,
    scale: float = 20.0,
) -> list[dict[str, Any]]:
    """SetFit-style encoder tuning: pull texts of the same label together, push others apart.

    Each example is paired with another example of its label; a batch holds pairs of distinct
    labels and the loss is the symmetric in-batch-negatives cross-entropy over cosine
    similarities x ``scale`` (sentence-transformers' MultipleNegativesRankingLoss).
    """
    from transformers import get_linear_schedule_with_warmup

    rng = np.random.default_rng(cfg.seed)
    by_label: dict[int, np.ndarray] = {int(g): np.flatnonzero(groups == g) for g in np.unique(groups)}
    usable = {g: idx for g, idx in by_label.items() if len(idx) >= 2}
    if len(usable) < 2:
        logger.warning("contrastive stage skipped: needs two labels with two examples each")
        return []
    n = sum(len(idx) for idx in usable.values())
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = max(1, math.ceil(cfg.contrastive_epochs * steps_per_epoch))
    lr = cfg.contrastive_learning_rate
    params = [p for name, p in model.named_parameters() if not name.startswith("head.") and p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    history, step = [], 0
    bar = tqdm(total=total, desc="contrastive", disable=not cfg.progress)
    model.train()
    while step < total:
        # interleave labels round by round so that consecutive anchors have distinct labels
        shuffled = {g: rng.permutation(idx) for g, idx in usable.items()}
        order: list[tuple[int, int]] = []
        for r in range(max(len(v) for v in shuffled.values())):
            for g in rng.permutation(list(shuffled)):
                idx = shuffled[g]
                if r < len(idx):
                    others = idx[idx != idx[r]]
                    order.append((int(idx[r]), int(rng.choice(others))))
        running, seen = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            pairs = order[start : start + cfg.batch_size]
            if len(pairs) < 2:
                continue
            a = model.embed(**tokenize(tokenizer, [texts[i] for i, _ in pairs], cfg.max_length, device))
            b = model.embed(**tokenize(tokenizer, [texts[j] for _, j in pairs], cfg.max_length, device))
            a, b = nn.functional.normalize(a, dim=-1), nn.functional.normalize(b, dim=-1)
            sim = a @ b.T * scale
            target = torch.arange(len(pairs), device=device)
            loss = (nn.functional.cross_entropy(sim, target) + nn.functional.cross_entropy(sim.T, target)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item() * len(pairs)
            seen += len(pairs)
            step += 1
            bar.update(1)
            if step >= total:
                break
        history.append({"stage": "contrastive", "step": step, "contrastive_loss": running / max(seen, 1)})
    bar.close()
    model.eval()
    return history


_LAYER_RE = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


def layer_scales(names: Sequence[str], decay: float) -> dict[str, float]:
    """Learning-rate multiplier of each (encoder) parameter under layer-wise decay.

    The top layer ``layer.<L-1>.`` gets 1, layer ``i`` gets ``decay ** (L - 1 - i)``, names with
    ``embeddings`` get ``decay ** L``; any other name (pooler, extra modules) gets 1.

    Example:
        >>> layer_scales(["embeddings.word", "encoder.layer.0.q", "encoder.layer.1.q", "pooler.w"], 0.5)
        {'embeddings.word': 0.25, 'encoder.layer.0.q': 0.5, 'encoder.layer.1.q': 1.0, 'pooler.w': 1.0}
    """
    depth = {n: int(m.group(1)) for n in names if (m := _LAYER_RE.search(n))}
    n_layers = max(depth.values(), default=-1) + 1
    out = {}
    for name in names:
        if name in depth:
            out[name] = decay ** (n_layers - 1 - depth[name])
        elif "embeddings" in name.split(".") or ".embeddings." in f".{name}.":
            out[name] = decay ** n_layers if n_layers else 1.0
        else:
            out[name] = 1.0
    return out


def build_optimizer(
    model: nn.Module, cfg: TrainingConfig, is_head: Callable[[str], bool],
    head_learning_rate: float | None = None,
) -> torch.optim.Optimizer:
    """AdamW with three groups: encoder weights (decayed), biases/LayerNorm (not decayed) and the
    head (its own learning rate: ``cfg.head_learning_rate``, else ``head_learning_rate``, else
    the encoder's). With ``cfg.layer_decay`` the encoder groups are split per layer, each with
    its decayed learning rate (:func:`layer_scales`; off by default)."""
    lr = cfg.resolved_learning_rate
    head_lr = cfg.head_learning_rate or head_learning_rate or lr
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    layer_decay = getattr(cfg, "layer_decay", None)
    scales = (layer_scales([n for n, _ in params if not is_head(n)], layer_decay)
              if layer_decay is not None and layer_decay != 1 else {})
    encoder: dict[tuple[float, bool], list[nn.Parameter]] = {}
    head = []
    for name, param in params:
        if is_head(name):
            head.append(param)
            continue
        no_decay = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        encoder.setdefault((scales.get(name, 1.0), no_decay), []).append(param)
    groups = [{"params": ps, "lr": lr * scale, "weight_decay": 0.0 if no_decay else cfg.weight_decay}
              for (scale, no_decay), ps in sorted(encoder.items(), key=lambda kv: (kv[0][1], -kv[0][0]))]
    groups.append({"params": head, "lr": head_lr, "weight_decay": cfg.weight_decay})
    return torch.optim.AdamW([g for g in groups if g["params"]])


def run_epochs(
    model: nn.Module,
    cfg: TrainingConfig,
    *,
    lengths: Sequence[int],
    batch_loss: Callable[[np.ndarray], tuple[torch.Tensor, int]],
    is_head: Callable[[str], bool],
    validate: Callable[[], dict[str, float]] | None = None,
    select: tuple[str, bool] | None = None,
    desc: str = "training",
    head_learning_rate: float | None = None,
    sampler: Callable[[np.random.Generator], np.ndarray] | None = None,
    epoch_size: int | None = None,
) -> list[dict[str, Any]]:
    """The fine-tuning loop shared by every task; returns the per-epoch log.

    Args:
        model: the module to train in place.
        cfg: epochs / ``max_steps``, batch size, gradient accumulation, learning rates,
            warm-up, early stopping, seed, progress bar.
        lengths: one length per training item (for length-grouped batches).
        batch_loss: item indices -> (mean loss over the batch, number of targets in it).
        is_head: whether a parameter name belongs to the task head (own learning rate).
        validate: returns validation metrics; drives early stopping, and the best epoch's
            weights are restored at the end.
        select: ``(metric key, higher is better)`` for early stopping; default
            ``cfg.metric_for_best_model``.
        sampler: draws the items of one epoch (indices into ``lengths``, repeats allowed)
            from the loop's generator; default every item once.
        epoch_size: the number of items ``sampler`` draws per epoch (default
            ``len(lengths)``); the steps per epoch, and so the learning-rate schedule's
            length, are counted from it, so warm-up and decay end at the last step taken.

    With ``cfg.average_checkpoints`` = k, the weights at the end of the last k epochs are
    averaged at the end (floating-point tensors; others are taken from the last epoch); with
    ``validate`` the average is kept only if it scores at least as well as the best epoch. The
    k snapshots, like the best epoch's weights kept for early stopping, are held in CPU memory
    (not on the accelerator) and loaded back into the model on its device.
    """
    from transformers import get_linear_schedule_with_warmup

    n_items = len(lengths) if epoch_size is None else epoch_size
    steps_per_epoch = max(1, math.ceil(n_items / cfg.batch_size / cfg.gradient_accumulation_steps))
    total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    n_epochs = math.ceil(total_steps / steps_per_epoch)
    optimizer = build_optimizer(model, cfg, is_head, head_learning_rate)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(cfg.warmup_ratio * total_steps), total_steps
    )
    key, higher = select or (cfg.metric_for_best_model.value, cfg.metric_for_best_model != Metric.LOSS)
    best_score, best_state, bad_epochs = -math.inf, None, 0
    snapshots: list[dict[str, torch.Tensor]] = []  # the last epochs' weights (checkpoint averaging)
    average = getattr(cfg, "average_checkpoints", 0)  # configs without the field: off
    history: list[dict[str, Any]] = []
    rng = np.random.default_rng(cfg.seed)
    step = 0
    bar = tqdm(total=total_steps, desc=f"{desc} ({cfg.method.value})", disable=not cfg.progress)
    for epoch in range(1, n_epochs + 1):
        model.train()
        start = time.perf_counter()
        if sampler is None:
            micro = length_grouped_batches(lengths, cfg.batch_size, rng, cfg.group_by_length)
        else:
            items = np.asarray(sampler(rng))
            micro = [items[b] for b in length_grouped_batches(
                [lengths[i] for i in items], cfg.batch_size, rng, cfg.group_by_length)]
        running, seen = 0.0, 0
        optimizer.zero_grad(set_to_none=True)
        for k, batch in enumerate(micro, start=1):
            loss, count = batch_loss(batch)
            (loss / cfg.gradient_accumulation_steps).backward()
            running += loss.item() * count
            seen += count
            if k % cfg.gradient_accumulation_steps == 0 or k == len(micro):
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{running / max(seen, 1):.4f}")
                if step >= total_steps:
                    break
        entry: dict[str, Any] = {
            "epoch": epoch,
            "step": step,
            "train_loss": running / max(seen, 1),
            "learning_rate": scheduler.get_last_lr()[0],
        }
        if validate is not None:
            entry.update({f"val_{k}": v for k, v in validate().items()})
        entry["seconds"] = round(time.perf_counter() - start, 2)
        history.append(entry)
        logger.info("epoch %s: %s", epoch, {k: round(v, 4) if isinstance(v, float) else v for k, v in entry.items()})
        bar.write(
            f"epoch {epoch}: train_loss={entry['train_loss']:.4f}"
            + "".join(f" {k}={v:.4f}" for k, v in entry.items() if k.startswith("val_"))
        )
        if average:
            snapshots.append(cpu_state_dict(model))
            del snapshots[:-average]
        if validate is not None:
            score = entry[f"val_{key}"] * (1 if higher else -1)
            if score > best_score:
                best_score, bad_epochs = score, 0
                best_state = cpu_state_dict(model)  # in CPU memory, not the accelerator's
            else:
                bad_epochs += 1
                if cfg.early_stopping_patience and bad_epochs >= cfg.early_stopping_patience:
                    logger.info("early stopping after epoch %s (no better val_%s for %d epochs)",
                                epoch, key, bad_epochs)
                    entry["early_stopped"] = True
                    break
        if step >= total_steps:
            break
    bar.close()
    if len(snapshots) >= 2:
        averaged = average_state_dicts(snapshots)
        if validate is None:
            model.load_state_dict(averaged)
            history.append({"averaged_epochs": len(snapshots)})
            best_state = None
        else:
            last = cpu_state_dict(model)
            model.load_state_dict(averaged)
            model.eval()
            scores = {f"val_{k}": v for k, v in validate().items()}
            kept = scores[f"val_{key}"] * (1 if higher else -1) >= best_score
            history.append({"averaged_epochs": len(snapshots), "averaged_kept": kept, **scores})
            logger.info("average of the last %d epochs: val_%s %.4f (%s)", len(snapshots), key,
                        scores[f"val_{key}"], "kept" if kept else "the best epoch is kept")
            if kept:
                best_state = None
            elif best_state is None:
                best_state = last
    if best_state is not None:
        model.load_state_dict(best_state)
        best = max((h for h in history if f"val_{key}" in h and "epoch" in h),
                   key=lambda h: h[f"val_{key}"] * (1 if higher else -1))
        history.append({"best_epoch": best["epoch"]})
    model.eval()
    return history


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s state dict in CPU memory (detached; a copy even on a CPU)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors; other tensors from the last state."""
    out = {}
    for name, last in states[-1].items():
        if last.is_floating_point():
            out[name] = torch.stack([s[name].float() for s in states]).mean(0).to(last.dtype)
        else:
            out[name] = last
    return out


class ClassBalancedSampler:
    """A ``run_epochs`` sampler that draws the same number of items from every group per epoch.

    ``groups`` holds one group (label index) per item. Each epoch takes ``per_group =
    round(len(groups) / number of groups)`` items of every group (``size`` = ``per_group`` x
    the number of groups, about the data's size): a group with at least that many gives a
    fresh random subset without repeats, a smaller group gives all of its items plus a random
    draw of the rest with repeats.
    """

    def __init__(self, groups: np.ndarray) -> None:
        groups = np.asarray(groups)
        self.members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        self.per_group = max(1, round(len(groups) / max(len(self.members), 1)))

    @property
    def size(self) -> int:
        """Items drawn per epoch (pass it to ``run_epochs(epoch_size=...)``)."""
        return self.per_group * len(self.members)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        chosen = []
        for idx in self.members:
            if len(idx) >= self.per_group:
                chosen.append(rng.choice(idx, self.per_group, replace=False))
            else:
                extra = rng.choice(idx, self.per_group - len(idx), replace=True)
                chosen.append(np.concatenate([idx, extra]))
        return rng.permutation(np.concatenate(chosen))


def class_balanced_sampler(groups: np.ndarray) -> ClassBalancedSampler:
    """The :class:`ClassBalancedSampler` of ``groups`` (one label index per item)."""
    return ClassBalancedSampler(groups)


def distillation_loss(logits: torch.Tensor, teacher: torch.Tensor, temperature: float,
                      multi_label: bool) -> torch.Tensor:
    """Learning-without-forgetting term: T² · KL(softmax(teacher/T) ‖ softmax(student/T)),
    mean over the batch, on the teacher's labels (the first ``teacher.shape[1]`` logits).
    Multi-label: the binary KL per label of the sigmoids, averaged over labels."""
    student = logits[:, : teacher.shape[1]] / temperature
    teacher = teacher / temperature
    if multi_label:
        p = torch.sigmoid(teacher)
        kl = nn.functional.binary_cross_entropy_with_logits(student, p, reduction="none") - \
            nn.functional.binary_cross_entropy_with_logits(teacher, p, reduction="none")
        return kl.mean() * temperature**2
    return nn.functional.kl_div(nn.functional.log_softmax(student, -1),
                                nn.functional.log_softmax(teacher, -1), log_target=True,
                                reduction="batchmean") * temperature**2


def symmetric_kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(KL(p_a ‖ p_b) + KL(p_b ‖ p_a)) / 2 of two batches of logits, mean over the batch."""
    la, lb = nn.functional.log_softmax(a, -1), nn.functional.log_softmax(b, -1)
    return (nn.functional.kl_div(lb, la, log_target=True, reduction="batchmean")
            + nn.functional.kl_div(la, lb, log_target=True, reduction="batchmean")) / 2


def train_loop(
    model: EncoderClassifier,
    tokenizer,
    texts: Sequence[str],
    targets: np.ndarray,
    cfg: TrainingConfig,
    *,
    multi_label: bool,
    device: torch.device,
    validate: Callable[[], dict[str, float]] | None = None,
    teacher_logits: np.ndarray | None = None,
    balance_groups: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Fine-tune a text classifier in place on (texts, targets); returns the per-epoch log.

    ``validate`` returns validation metrics (``loss``, ``accuracy``, ``macro_f1``) and drives
    early stopping; the best epoch's weights are restored at the end.

    Levers (off by default): ``cfg.rdrop_alpha`` (R-Drop, single-label: two dropout passes
    per batch and their symmetric KL), ``cfg.average_checkpoints`` (see :func:`run_epochs`);
    for continual updates, ``teacher_logits`` (one row per text: the old model's logits on its
    labels, the first columns of the head) adds ``cfg.distill_weight`` × the distillation term
    of :func:`distillation_loss` at ``cfg.distill_temperature``, and ``balance_groups`` (one
    label index per text) draws every epoch with :func:`class_balanced_sampler`.
    """
    n_labels = model.head.out_features
    weights = None
    if cfg.class_weights == ClassWeights.BALANCED:
        weights = torch.as_tensor(class_weight_vector(targets, n_labels, multi_label), device=device)
    if multi_label:
        loss_fn: nn.Module = nn.BCEWithLogitsLoss(pos_weight=weights)
        target_tensor = torch.as_tensor(targets, dtype=torch.float32)
    else:
        loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
        target_tensor = torch.as_tensor(targets, dtype=torch.long)
    teacher = None
    if teacher_logits is not None and cfg.distill_weight:  # None (auto, unresolved) = off
        if len(teacher_logits) != len(texts) or teacher_logits.shape[1] > n_labels:
            raise ValueError(f"expected teacher logits of shape ({len(texts)}, <= {n_labels}), "
                             f"found {tuple(teacher_logits.shape)}")
        teacher = torch.as_tensor(teacher_logits, dtype=torch.float32)
    rdrop = cfg.rdrop_alpha if not multi_label else 0.0  # single-label only (fit/update warn)

    def batch_loss(batch: np.ndarray) -> tuple[torch.Tensor, int]:
        enc = tokenize(tokenizer, [texts[i] for i in batch], cfg.max_length, device)
        y = target_tensor[batch].to(device)
        logits = model(**enc)
        loss = loss_fn(logits, y)
        if rdrop:
            second = model(**enc)  # another dropout mask
            loss = (loss + loss_fn(second, y)) / 2 + rdrop * symmetric_kl(logits, second)
        if teacher is not None:
            loss = loss + cfg.distill_weight * distillation_loss(
                logits, teacher[batch].to(device), cfg.distill_temperature, multi_label)
        return loss, len(batch)

    sampler = class_balanced_sampler(balance_groups) if balance_groups is not None else None
    return run_epochs(model, cfg, lengths=[len(t) for t in texts], batch_loss=batch_loss,
                      is_head=lambda name: name.startswith("head."), validate=validate,
                      sampler=sampler, epoch_size=sampler.size if sampler is not None else None)

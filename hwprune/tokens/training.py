"""Training helpers for token selectors: keep-ratio targets (plain or from a cycle table), losses, loops.

The recipe (docs/tokens.md) is HeatViT's multi-stage idea reduced to what a CPU trains in a minute:
  1. train the ViT without selectors;
  2. insert the selectors and train everything with Gumbel-softmax hard masks (straight-through), the
     loss = cross-entropy + distillation from the stage-1 model + a keep-ratio penalty per selector;
     the targets are reached progressively: they fall linearly from 1 (keep all) to their final value over
     the first ``ramp`` fraction of the stage, so the backbone adapts one step at a time.
Everything is seeded; on CPU with one thread the run is bit-for-bit repeatable.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hwprune.tokens.vit import DigitsViT, MaskedOutput

__all__ = [
    "TrainConfig", "make_deterministic", "cumulative_targets", "targets_from_cycles", "keep_ratio_loss",
    "attention_guide_loss", "warm_start_selectors", "train_base", "train_selectors", "evaluate", "EvalResult",
]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of both stages."""

    seed: int = 0
    batch_size: int = 64
    base_epochs: int = 25  # stage 1 (no selectors)
    base_lr: float = 2e-3
    selector_epochs: int = 0  # stage 2b (selectors + backbone, Gumbel masks); 0: measured to overfit here
    selector_lr: float = 5e-4  # backbone learning rate in stage 2
    selector_lr_boost: float = 5.0  # the selectors learn this much faster than the backbone
    warm_epochs: int = 20  # stage 2a: selectors alone on the teacher's class-attention top-k
    warm_lr: float = 1e-2
    ratio_weight: float = 4.0  # keep-ratio penalty
    distill_weight: float = 1.0  # KL to the stage-1 model's logits
    attention_weight: float = 1.0  # auxiliary BCE towards the teacher's class-attention top-k (0 = off)
    ramp: float = 0.5  # fraction of stage 2 over which the targets fall from 1 to their final values
    weight_decay: float = 0.05
    noise_start: float = 1.0  # Gumbel noise scale at the start of stage 2 (samples keep ~ Bernoulli(s)) ...
    noise_end: float = 0.05  # ... annealed linearly to nearly the inference rule s ≥ 0.5


def make_deterministic(seed: int) -> None:
    """Seed torch and numpy and force deterministic single-threaded CPU kernels."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def cumulative_targets(ratios: Sequence[float]) -> list[float]:
    """Per-selector keep ratios (of the tokens entering it) → fractions of the original patch tokens."""
    out, level = [], 1.0
    for r in ratios:
        if not 0.0 < r <= 1.0:
            raise ValueError(f"keep ratios must lie in (0, 1], not {r!r}")
        level *= r
        out.append(level)
    return out


def targets_from_cycles(
    cycles: Mapping[int, int], selector_blocks: Sequence[int], budget: float, tokens: int
) -> list[float]:
    """Per-selector keep ratios (one shared ratio r, progressive: r, r², … of the patch tokens) such that
    the blocks' total cycles fall to ``budget`` × the unpruned total.

    ``cycles[b]`` is block b's cycle count at the full sequence (1 + ``tokens`` rows), e.g. summed from the
    cycle model of its kernels. A block's cost is taken as linear in its row count (the GEMMs are; the
    attention's T² part is small at these sizes): after selector k it runs 1 + r^k·tokens + 1 rows (class,
    kept, package). Expensive blocks therefore weigh more, which is what "latency-aware" means here.
    """
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must lie in (0, 1], not {budget!r}")
    blocks = sorted(cycles)
    if any(c < 0 for c in cycles.values()) or not blocks:
        raise ValueError("cycles must map block indices to non-negative cycle counts")
    missing = [b for b in selector_blocks if b not in cycles]
    if missing:
        raise ValueError(f"no cycle count for selector blocks {missing}")
    full = float(sum(cycles.values()))

    def cost(r: float) -> float:
        total = 0.0
        for b in blocks:
            k = sum(1 for s in selector_blocks if s <= b)
            rows = 1 + tokens if k == 0 else 2 + tokens * r**k
            total += cycles[b] * rows / (1 + tokens)
        return total

    if cost(0.0) > budget * full + 1e-9:
        raise ValueError(f"a budget of {budget:.3f} is out of reach even with every token pruned "
                         f"(minimum {cost(0.0) / full:.3f})")
    lo, hi = 0.0, 1.0
    for _ in range(60):  # bisection: cost is increasing in r
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cost(mid) <= budget * full else (lo, mid)
    return [max(lo, 1e-3)] * len(selector_blocks)


def keep_ratio_loss(keeps: Sequence[torch.Tensor], targets: Sequence[float]) -> torch.Tensor:
    """Σ_k mean over images of (alive fraction after selector k − target_k)², targets cumulative."""
    loss = keeps[0].new_zeros(())
    for keep, target in zip(keeps, targets):
        loss = loss + ((keep.mean(dim=1) - target) ** 2).mean()
    return loss


def attention_guide_loss(
    model: DigitsViT, out: MaskedOutput, importance: Mapping[int, torch.Tensor], targets: Sequence[float]
) -> torch.Tensor:
    """BCE pulling each selector's score towards 1 on the teacher's top-k patch tokens, 0 elsewhere.

    k = round(target × N) per image, from the class-token attention of the unpruned teacher in the block the
    selector feeds. On 1.4k training images the task loss is ~0 after stage 1 and says little about which
    token matters; this gives the scores a per-token signal and pushes them away from 0.5, so the fixed
    s ≥ 0.5 rule of inference keeps about the trained ratio. Tokens already pruned are left out.
    """
    n = model.cfg.tokens
    loss = out.logits.new_zeros(())
    present = out.logits.new_ones(out.logits.shape[0], n)
    for block, keep, score, target in zip(model.cfg.selector_blocks, out.keep, out.scores, targets):
        k = max(1, round(target * n))
        rank = importance[block].argsort(dim=1, descending=True).argsort(dim=1)
        label = (rank < k).to(score.dtype)
        s = score[:, :n].clamp(1e-6, 1 - 1e-6)
        bce = -(label * s.log() + (1 - label) * (1 - s).log())
        loss = loss + (bce * present).sum() / present.sum().clamp(min=1.0)
        present = (keep.detach() > 0.5).to(score.dtype)
    return loss


def warm_start_selectors(model: DigitsViT, x: torch.Tensor, ratios: Sequence[float], cfg: TrainConfig) -> None:
    """Stage 2a: fit each selector alone (backbone frozen) to the teacher's class-attention top-k tokens.

    Features and labels are computed once from the unpruned model, so this costs seconds; it starts the
    joint stage from selectors that already rank tokens instead of from near-constant scores.
    """
    targets = cumulative_targets(ratios)
    n = model.cfg.tokens
    model.eval()
    model.use_selectors = False
    with torch.no_grad():
        feats: dict[int, torch.Tensor] = {}
        t = model.embed(x)
        for index, block in enumerate(model.blocks):
            if index in model.cfg.selector_blocks:
                feats[index] = t[:, 1:].clone()
            t = block(t)
        importance = model.token_importance(x)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    for block, target in zip(model.cfg.selector_blocks, targets):
        selector = model.selectors[str(block)]
        k = max(1, round(target * n))
        label = (importance[block].argsort(dim=1, descending=True).argsort(dim=1) < k).to(x.dtype)
        opt = torch.optim.Adam(selector.parameters(), lr=cfg.warm_lr)
        for _ in range(cfg.warm_epochs):
            for idx in _batches(len(x), cfg.batch_size, gen):
                s = selector(feats[block][idx]).clamp(1e-6, 1 - 1e-6)
                loss = -(label[idx] * s.log() + (1 - label[idx]) * (1 - s).log()).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.use_selectors = True


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def _cosine(opt: torch.optim.Optimizer, steps: int, warmup: float) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up over ``warmup`` × steps, then cosine decay (a ViT on 1.4k images needs the warm-up)."""
    first = max(1.0, warmup * steps)

    def factor(i: int) -> float:
        return min(1.0, (i + 1) / first) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train_base(model: DigitsViT, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> None:
    """Stage 1: the ViT alone (selectors switched off), AdamW with a cosine schedule."""
    gen = torch.Generator().manual_seed(cfg.seed)
    model.use_selectors = False
    opt = _optimizer(model, cfg.base_lr, cfg.weight_decay)
    steps = cfg.base_epochs * math.ceil(len(x) / cfg.batch_size)
    sched = _cosine(opt, steps, 0.1)
    model.train()
    for _ in range(cfg.base_epochs):
        for idx in _batches(len(x), cfg.batch_size, gen):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()
    model.eval()


def train_selectors(
    model: DigitsViT, x: torch.Tensor, y: torch.Tensor, ratios: Sequence[float], cfg: TrainConfig
) -> None:
    """Stage 2: selectors on, Gumbel masks, distillation from a frozen copy of the stage-1 model."""
    teacher = copy.deepcopy(model).eval()
    teacher.use_selectors = False
    final = cumulative_targets(ratios)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    model.use_selectors = True
    selector_params = list(model.selectors.parameters())
    chosen = {id(q) for q in selector_params}
    backbone = [q for q in model.parameters() if id(q) not in chosen]
    opt = torch.optim.AdamW([{"params": backbone, "lr": cfg.selector_lr},
                             {"params": selector_params, "lr": cfg.selector_lr * cfg.selector_lr_boost}],
                            weight_decay=cfg.weight_decay)
    per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = cfg.selector_epochs * per_epoch
    sched = _cosine(opt, total, 0.0)
    step = 0
    model.train()
    for _ in range(cfg.selector_epochs):
        for idx in _batches(len(x), cfg.batch_size, gen):
            progress = min(1.0, step / max(1.0, cfg.ramp * total))
            targets = [1.0 - progress * (1.0 - t) for t in final]
            model.gumbel_noise = cfg.noise_start + (cfg.noise_end - cfg.noise_start) * step / max(1, total - 1)
            out = model.forward_masked(x[idx])
            with torch.no_grad():
                soft = F.softmax(teacher(x[idx]), dim=-1)
                importance = teacher.token_importance(x[idx])
            loss = (F.cross_entropy(out.logits, y[idx])
                    + cfg.distill_weight * F.kl_div(F.log_softmax(out.logits, dim=-1), soft, reduction="batchmean")
                    + cfg.ratio_weight * keep_ratio_loss(out.keep, targets)
                    + cfg.attention_weight * attention_guide_loss(model, out, importance, targets))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    model.gumbel_noise = cfg.noise_end
    model.eval()


@dataclass(frozen=True)
class EvalResult:
    """Top-1 accuracy (%) and, per selector, the mean fraction of patch tokens still alive after it."""

    accuracy: float
    keep_ratios: tuple[float, ...]


@torch.no_grad()
def evaluate(model: DigitsViT, x: torch.Tensor, y: torch.Tensor, use_selectors: bool = True) -> EvalResult:
    """Batched eval through the masked path (equal to the compacted path in eval mode)."""
    was = model.use_selectors
    model.use_selectors = use_selectors
    model.eval()
    out = model.forward_masked(x)
    model.use_selectors = was
    acc = float((out.logits.argmax(dim=1) == y).float().mean()) * 100.0
    return EvalResult(acc, tuple(float(k.mean()) for k in out.keep))

"""Small, deterministic training loops and the pruning recipes built on them.

Used by ``hwprune prune --data``, the benchmark and the tests; users with their own training loop call
``Sparsifier``/``ADMM`` directly. Determinism: batch order comes from a generator seeded with
``seed``; on CPU with one thread (``torch.set_num_threads(1)``, set by the callers that need
byte-identical output) a rerun gives the same weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from hwprune.prune.admm import ADMM
from hwprune.prune.patterns.base import Pattern
from hwprune.prune.sparsifier import Sparsifier

__all__ = ["TrainConfig", "train", "accuracy", "one_shot_finetune", "gradual_prune", "admm_prune"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Adam + cross-entropy; ``epochs`` full passes in ``batch_size`` mini-batches."""

    epochs: int = 10
    lr: float = 3e-3
    batch_size: int = 32
    seed: int = 0


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    extra_loss: Callable[[], torch.Tensor] | None = None,
    after_epoch: Callable[[int], None] | None = None,
) -> list[float]:
    """Train in place; returns the mean loss of every epoch."""
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    model.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        total, batches = 0.0, 0
        for start in range(0, x.shape[0], cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            if extra_loss is not None:
                loss = loss + extra_loss()
            loss.backward()
            opt.step()
            total, batches = total + float(loss.detach()), batches + 1
        losses.append(total / max(batches, 1))
        if after_epoch is not None:
            after_epoch(epoch)
    model.eval()
    return losses


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1]."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).double().mean())


def one_shot_finetune(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, pattern: str | Pattern, sparsity: float,
    cfg: TrainConfig, **sparsifier_kw: Any,
) -> dict[str, np.ndarray]:
    """Prune a trained model once, fine-tune with masked gradients, bake the masks in."""
    sp = Sparsifier(model, pattern, sparsity, "one_shot", seed=cfg.seed, **sparsifier_kw)
    sp.step()
    if cfg.epochs:
        train(model, x, y, cfg)
    return sp.finalize()


def gradual_prune(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, pattern: str | Pattern, sparsity: float,
    cfg: TrainConfig, ramp_epochs: int, **sparsifier_kw: Any,
) -> dict[str, np.ndarray]:
    """Cubic ramp, one ``step()`` per epoch over ``ramp_epochs``, then the remaining epochs masked."""
    sp = Sparsifier(model, pattern, sparsity, "cubic", ramp_steps=max(1, ramp_epochs), seed=cfg.seed,
                    **sparsifier_kw)
    sp.step()
    train(model, x, y, cfg, after_epoch=lambda e: sp.step())
    return sp.finalize()


def admm_prune(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, pattern: str | Pattern, sparsity: float,
    cfg: TrainConfig, *, admm_epochs: int, update_every: int = 1, rho: float = 3e-2, rho_growth: float = 2.0,
    rho_max: float = 1.0, **sparsifier_kw: Any,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """ADMM training (Z/U every ``update_every`` epochs), hard prune, masked retraining (``cfg.epochs``).

    Returns (masks, ‖W − Z‖ after every update).
    """
    admm = ADMM(model, pattern, sparsity, rho=rho, rho_growth=rho_growth, rho_max=rho_max, seed=cfg.seed,
                **sparsifier_kw)

    def maybe_update(epoch: int) -> None:
        if (epoch + 1) % update_every == 0:
            admm.update()

    admm_cfg = TrainConfig(admm_epochs, cfg.lr, cfg.batch_size, cfg.seed)
    train(model, x, y, admm_cfg, extra_loss=admm.penalty, after_epoch=maybe_update)
    sp = admm.hard_prune()
    if cfg.epochs:
        train(model, x, y, cfg)
    return sp.finalize(), admm.residuals


def layer_kwargs(skip: list[str] | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The shared keyword arguments of ``Sparsifier``/``ADMM`` as one dict."""
    return {"skip": tuple(skip or ()), "overrides": dict(overrides or {}), "params": dict(params or {})}

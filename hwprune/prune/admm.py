"""ADMM pruning (Zhang et al. 2018, as YOLObile trains block-punched): train towards the pattern, then cut.

Problem: minimise f(W) subject to W ∈ S (the pattern's set at the target sparsity). ADMM splits it:

* W-step — ordinary training of ``f(W) + Σ_layers ρ/2·‖W − Z + U‖²`` (add ``admm.penalty()`` to the loss);
* Z-step — ``Z = Π_S(W + U)``, the exact Euclidean projection: keep the entries (or units) with the
  largest energy, exactly the pattern's count, ties to the lower index (``project``);
* U-step — ``U ← U + W − Z``; then ρ ← min(ρ·``rho_growth``, ``rho_max``) (the ρ schedule).

``update()`` does the Z- and U-steps (call it every few epochs); ``hard_prune()`` then masks W with
Π_S(W) through a ``Sparsifier`` so masked retraining keeps the pruned weights at zero.
Defaults: ρ = 0.03 growing ×2 per update up to 1 (YOLObile: 1e-4 ×10 over 4 rounds; on the digits
models 1e-3 is too weak to pull W towards Z — ‖W − Z‖ grew — so hwprune starts higher).
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any, Mapping

import torch
from torch import nn

from hwprune.prune.patterns.balanced_stochastic import BalancedStochasticPattern
from hwprune.prune.patterns.base import Pattern, PatternError
from hwprune.prune.patterns.block_punched import BlockPunchedPattern
from hwprune.prune.sparsifier import Sparsifier, resolve_targets

__all__ = ["ADMM", "project", "projection_pattern"]

log = logging.getLogger(__name__)


def projection_pattern(pattern: Pattern) -> Pattern:
    """The deterministic pattern whose mask is the exact Euclidean projection onto ``pattern``'s set.

    Stochastic sampling becomes top-k (p = inf); block-punched ranks units by energy Σw². The others
    already keep the largest |w| under their constraint, which is the projection.
    """
    if isinstance(pattern, BalancedStochasticPattern):
        return BalancedStochasticPattern(group_size=pattern.group_size, p="inf")
    if isinstance(pattern, BlockPunchedPattern):
        proj = copy.copy(pattern)
        proj.score = "energy"
        return proj
    return pattern


def project(pattern: Pattern, weight: torch.Tensor, sparsity: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(Z, mask): the projection of ``weight`` onto the pattern's set at ``sparsity``."""
    mask = projection_pattern(pattern).mask(weight, sparsity)
    return weight * mask, mask


class ADMM:
    """ADMM state (Z, U, ρ) for the Linear/Conv2d layers of ``model``; same layer selection as ``Sparsifier``."""

    def __init__(
        self,
        model: nn.Module,
        pattern: str | Pattern = "balanced_stochastic",
        sparsity: float = 0.75,
        *,
        params: Mapping[str, Any] | None = None,
        skip: tuple[str, ...] | list[str] = (),
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        rho: float = 3e-2,
        rho_growth: float = 2.0,
        rho_max: float = 1.0,
        seed: int = 0,
    ) -> None:
        if not (rho > 0 and rho_growth >= 1 and rho_max >= rho):
            raise PatternError(f"need rho > 0, rho_growth >= 1, rho_max >= rho (got {rho}, {rho_growth}, {rho_max})")
        self.model = model
        self._config = dict(pattern=pattern, sparsity=sparsity, params=params, skip=tuple(skip),
                            overrides=overrides, seed=seed)
        self.targets = resolve_targets(model, pattern, sparsity, params=params, skip=skip, overrides=overrides,
                                       seed=seed)
        self.rho, self.rho_growth, self.rho_max = float(rho), float(rho_growth), float(rho_max)
        self.Z: dict[str, torch.Tensor] = {}
        self.U: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for t in self.targets:
                w = t.module.weight.detach()
                self.Z[t.name] = project(t.pattern, w, t.sparsity)[0].clone()
                self.U[t.name] = torch.zeros_like(w)
        self.residuals: list[float] = [self.residual()]

    def penalty(self) -> torch.Tensor:
        """Σ ρ/2·‖W − Z + U‖² over the pruned layers (differentiable in W): add it to the loss."""
        total = torch.zeros(())
        for t in self.targets:
            total = total + (t.module.weight - self.Z[t.name] + self.U[t.name]).pow(2).sum()
        return 0.5 * self.rho * total

    def residual(self) -> float:
        """‖W − Z‖ over all pruned layers (Frobenius): how far the weights are from the pattern's set."""
        with torch.no_grad():
            return math.sqrt(sum(float((t.module.weight - self.Z[t.name]).pow(2).sum()) for t in self.targets))

    def update(self) -> float:
        """Z-step, U-step, ρ schedule; returns the primal residual ‖W − Z‖ after the Z-step."""
        with torch.no_grad():
            for t in self.targets:
                w = t.module.weight.detach()
                self.Z[t.name] = project(t.pattern, w + self.U[t.name], t.sparsity)[0]
                self.U[t.name] = self.U[t.name] + w - self.Z[t.name]
        res = self.residual()
        self.residuals.append(res)
        log.info("ADMM update %d: ||W - Z|| = %.4g, rho = %.3g", len(self.residuals) - 1, res, self.rho)
        self.rho = min(self.rho * self.rho_growth, self.rho_max)
        return res

    def hard_prune(self) -> Sparsifier:
        """Mask every layer with Π_S(W) (exact projection) and return the Sparsifier for masked retraining."""
        sp = Sparsifier(self.model, schedule="one_shot", **self._config)
        masks = {}
        with torch.no_grad():
            for t in self.targets:
                masks[t.name] = project(t.pattern, sp.original(t.name).detach(), t.sparsity)[1]
        sp.apply_masks(masks)
        return sp

"""``balanced_stochastic``: hwprune's definition of RAMAN's hardware-aware balanced stochastic pruning.

RAMAN's papers (arXiv 2306.06493, 2504.06996) do not publish the group size or the sampling rule, so this
is ours:

* **groups** — contiguous chunks of ``group_size`` inputs along K (Dense ``[out, in]``, Conv
  ``[F, C·kh·kw]`` in (c, kh, kw) order): exactly what one MAC unit of a lane reads. The last chunk is
  zero-padded when ``group_size`` does not divide K (padded positions are never kept; a last chunk of
  fewer than k real inputs keeps them all: ``GroupLayout``'s short-group rule).
* **count** — every group of every row keeps exactly ``k = round_half_up((1-s)·group_size)`` (≥ 1),
  so every lane does the same number of MACs and no index beyond the group-local position is stored.
* **choice** — inside each group, ``k`` positions drawn *without replacement* with probability
  ∝ |w|^p (successive draws renormalised over what is left). Implemented exactly with the
  Gumbel-top-k identity: keys ``p·ln|w| + G``, ``G = -ln(-ln U)``, ``U ~ Uniform(0,1)`` from a
  ``torch.Generator`` seeded with ``seed``; the k largest keys are kept. ``p = inf`` is deterministic
  top-k by |w| (ties: lower position); ``p = 0`` is uniform. Zero weights (p > 0) are drawn last.
* **re-draw** — the ``Sparsifier`` calls ``mask`` with ``seed + step`` at every ramp step, from the
  un-masked weights it keeps, so a weight pruned early can come back later.
"""

from __future__ import annotations

import math

import torch

from hwprune.prune.patterns.base import BalancedPattern, PatternError, positive_int, register_pattern

__all__ = ["BalancedStochasticPattern"]


def _parse_p(p: float | int | str) -> float:
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise PatternError(f"p must be a non-negative number or 'inf', not {p!r}") from None
    if isinstance(p, bool) or math.isnan(value) or value < 0:
        raise PatternError(f"p must be a non-negative number or 'inf', not {p!r}")
    return value


@register_pattern
class BalancedStochasticPattern(BalancedPattern):
    """Same kept count in every PE group; kept weights sampled ∝ |w|^p with a seeded generator."""

    name = "balanced_stochastic"

    def __init__(self, group_size: int = 8, p: float | int | str = 2.0) -> None:
        self.group_size = positive_int("group_size", group_size)
        self.p = _parse_p(p)

    def params(self) -> dict[str, int | float | str]:
        # "inf" as text: JSON has no infinity
        return {"group_size": self.group_size, "p": "inf" if math.isinf(self.p) else self.p}

    def group_size_for(self, weight_shape: tuple[int, ...]) -> int:
        return self.group_size

    def group_scores(self, groups: torch.Tensor, seed: int) -> torch.Tensor:
        if math.isinf(self.p):
            return groups
        gen = torch.Generator().manual_seed(int(seed))
        uniform = torch.rand(groups.shape, generator=gen, dtype=torch.float64)
        tiny = torch.finfo(torch.float64).tiny
        gumbel = -torch.log(-torch.log(uniform.clamp(min=tiny, max=1.0 - 1e-16)))
        if self.p == 0.0:
            return gumbel
        log_w = torch.where(groups > 0, torch.log(groups.clamp(min=tiny)), torch.full_like(groups, -math.inf))
        return self.p * log_w + gumbel

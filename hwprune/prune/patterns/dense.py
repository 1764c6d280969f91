"""``dense``: keep every weight — the balanced layout with one group per MAC unit.

It exists so that "not pruned" is a pattern like any other (same packer, same cycle formula), and
so a per-layer override can switch a layer off (``overrides={"fc2": {"pattern": "dense"}}``).
"""

from __future__ import annotations

import numpy as np
import torch

from hwprune.prune.patterns.base import (
    BalancedPattern,
    GroupLayout,
    PatternError,
    check_sparsity,
    mask_matrix_shape,
    positive_int,
    register_pattern,
)

__all__ = ["DensePattern"]


@register_pattern
class DensePattern(BalancedPattern):
    """Keep all; ``macs`` (default 8) MAC units per lane each read one contiguous group of inputs."""

    name = "dense"

    def __init__(self, macs: int = 8) -> None:
        self.macs = positive_int("macs", macs)

    def params(self) -> dict[str, int | float | str]:
        return {"macs": self.macs}

    def group_size_for(self, weight_shape: tuple[int, ...]) -> int:
        # the largest group count <= macs that divides K, so no group is padded
        _, k_in = mask_matrix_shape(weight_shape)
        groups = max(d for d in range(1, min(k_in, self.macs) + 1) if k_in % d == 0)
        return k_in // groups

    def layout(self, weight_shape: tuple[int, ...], sparsity: float) -> GroupLayout:
        if check_sparsity(sparsity) != 0.0:
            raise PatternError(f"the dense pattern keeps every weight; sparsity must be 0, not {sparsity!r}")
        _, k_in = mask_matrix_shape(weight_shape)
        size = self.group_size_for(weight_shape)
        return GroupLayout(k_in, size, size)

    def mask(self, weight: torch.Tensor, sparsity: float, *, seed: int = 0) -> torch.Tensor:
        self.layout(tuple(weight.shape), sparsity)
        return torch.ones_like(weight, dtype=torch.bool)

    def check(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.all():
            raise PatternError(f"dense: {int((~mask).sum())} of {mask.size} weights are not kept")

    def metadata_bits_per_kept_weight(self, weight_shape: tuple[int, ...], sparsity: float) -> float:
        return 0.0

"""``nm``: N of every M consecutive inputs kept (NVIDIA's 2:4 generalised), along the input axis K.

M is the pattern's parameter; N follows from the target sparsity, ``N = round_half_up((1-s)·M)``
(at least 1), so a cubic ramp walks 4:4 → 3:4 → 2:4. Conv weights are seen as ``[F, C·kh·kw]`` in
(c, kh, kw) order. When M does not divide K the last group is zero-padded (``GroupLayout``'s
short-group rule: padded positions are never kept, a last group of fewer than N real inputs keeps
them all and its free MAC slots hold padded zeros). Metadata:
``ceil(log2 M)`` bits per kept weight.
"""

from __future__ import annotations

from hwprune.ir.types import SparsityPattern
from hwprune.prune.patterns.base import BalancedPattern, PatternError, register_pattern

__all__ = ["NMPattern"]


@register_pattern
class NMPattern(BalancedPattern):
    """Keep the N largest |w| of every M consecutive inputs (ties: lower position first)."""

    name = "nm"

    def __init__(self, m: int = 4) -> None:
        if not isinstance(m, int) or isinstance(m, bool) or m < 2:
            raise PatternError(f"m must be an integer >= 2, not {m!r}")
        self.m = m

    def params(self) -> dict[str, int | float | str]:
        return {"m": self.m}

    def group_size_for(self, weight_shape: tuple[int, ...]) -> int:
        return self.m

    def to_ir(self, density: float, weight_shape: tuple[int, ...] | None = None) -> SparsityPattern:
        """As ``BalancedPattern.to_ir``, plus ``n`` (= kept_per_group) for readers of ``ir.json``."""
        ir = super().to_ir(density, weight_shape)
        return SparsityPattern(ir.kind, ir.density, tuple(sorted((*ir.params, ("n", ir.param("kept_per_group"))))))

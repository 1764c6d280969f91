"""``bank_balanced`` (Cao et al., FPGA 2019): each row split into B equal banks, k kept per bank.

Bank size ``S = ceil(K / B)``; k follows from the target sparsity (``round_half_up((1-s)·S)``, at
least 1 — the bank size comes from the layer's shape, not the user, so a target finer than the bank
can hold keeps 1 per bank instead of failing). When B does not divide K the last bank is zero-padded
(``GroupLayout``'s short-group rule); a K that cannot make B non-empty banks of S (K = 9, B = 4, or
K < B) uses the ``ceil(K / S)`` banks that are non-empty (3 banks of 3; K banks of 1). Packed as Compressed Sparse Banks: the i-th
kept value of every bank side by side, each with its offset inside its bank (``ceil(log2 S)`` bits).
"""

from __future__ import annotations

import math

from hwprune.prune.patterns.base import (
    BalancedPattern,
    GroupLayout,
    check_sparsity,
    mask_matrix_shape,
    positive_int,
    register_pattern,
)

__all__ = ["BankBalancedPattern"]


@register_pattern
class BankBalancedPattern(BalancedPattern):
    """Top-k |w| per bank of every row."""

    name = "bank_balanced"

    def __init__(self, banks: int = 4) -> None:
        self.banks = positive_int("banks", banks)

    def params(self) -> dict[str, int | float | str]:
        return {"banks": self.banks}

    def group_size_for(self, weight_shape: tuple[int, ...]) -> int:
        _, k_in = mask_matrix_shape(weight_shape)
        return math.ceil(k_in / self.banks)

    def layout(self, weight_shape: tuple[int, ...], sparsity: float) -> GroupLayout:
        """As every balanced pattern, but at least one weight per bank (see the module doc)."""
        size = self.group_size_for(weight_shape)
        if (1.0 - check_sparsity(sparsity)) * size < 0.5:
            return GroupLayout(mask_matrix_shape(weight_shape)[1], size, 1)
        return super().layout(weight_shape, sparsity)

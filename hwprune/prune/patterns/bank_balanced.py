"""``bank_balanced`` (Cao et al., FPGA 2019): each row split into B equal banks, k kept per bank.

Bank size ``S = ceil(K / B)``; k follows from the target sparsity (``round_half_up((1-s)·S)``, at
least 1). When B does not divide K the last bank is zero-padded (``GroupLayout``'s rule); a K that
cannot make B non-empty banks is a ``PatternError``. Packed as Compressed Sparse Banks: the i-th
kept value of every bank side by side, each with its offset inside its bank (``ceil(log2 S)`` bits).
"""

from __future__ import annotations

import math

from hwprune.prune.patterns.base import BalancedPattern, PatternError, mask_matrix_shape, register_pattern

__all__ = ["BankBalancedPattern"]


@register_pattern
class BankBalancedPattern(BalancedPattern):
    """Top-k |w| per bank of every row."""

    name = "bank_balanced"

    def __init__(self, banks: int = 4) -> None:
        if not isinstance(banks, int) or isinstance(banks, bool) or banks < 1:
            raise PatternError(f"banks must be a positive integer, not {banks!r}")
        self.banks = banks

    def params(self) -> dict[str, int | float | str]:
        return {"banks": self.banks}

    def group_size_for(self, weight_shape: tuple[int, ...]) -> int:
        _, k_in = mask_matrix_shape(weight_shape)
        size = math.ceil(k_in / self.banks)
        if math.ceil(k_in / size) != self.banks:
            raise PatternError(
                f"bank_balanced: {k_in} inputs cannot be split into {self.banks} non-empty banks of {size}"
            )
        return size

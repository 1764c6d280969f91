"""The kernel shapes every RTL test family runs (shared by the dense- and conv-kernel tests)."""

from __future__ import annotations

from dataclasses import dataclass

from hwprune.ir.types import IntType
from hwprune.prune.patterns.base import GroupLayout


@dataclass(frozen=True)
class Shape:
    """One kernel shape: the layout of its pattern family plus lanes/MACs and output count."""

    family: str
    in_features: int
    group_size: int
    kept: int
    out_features: int
    lanes: int
    macs: int
    relu: bool = True
    in_signed: bool = False
    in_simd: int = 1
    out_pe: int = 1

    @property
    def layout(self) -> GroupLayout:
        return GroupLayout(self.in_features, self.group_size, self.kept)

    @property
    def in_type(self) -> IntType:
        return IntType(8, self.in_signed)

    @property
    def id(self) -> str:
        wide = f"-W{self.in_simd}x{self.out_pe}" if (self.in_simd, self.out_pe) != (1, 1) else ""
        return (f"{self.family}-K{self.in_features}-S{self.group_size}k{self.kept}-O{self.out_features}"
                f"-L{self.lanes}P{self.macs}{wide}")


DENSE_SHAPES = [
    # dense = "keep all": one group per MAC unit
    Shape("dense", 12, 4, 4, 10, 4, 3),
    Shape("dense", 30, 6, 6, 7, 7, 5, relu=False, in_signed=True),  # one pass, non-power-of-two
    Shape("dense", 64, 8, 8, 24, 5, 4),  # 5 passes, a short last pass
    # N:M (N of every M consecutive inputs)
    Shape("nm", 24, 4, 2, 10, 4, 3),  # 2:4
    Shape("nm", 40, 4, 1, 9, 2, 5),  # 1:4, a single kept weight per group
    Shape("nm", 21, 3, 1, 5, 3, 7, relu=False),  # 1:3, non-power-of-two group
    # bank-balanced (B banks per row, k kept per bank: group = one bank)
    Shape("bank", 48, 12, 3, 12, 4, 2),  # 4 banks of 12
    Shape("bank", 30, 10, 2, 11, 3, 3, in_signed=True),  # 3 banks of 10
    Shape("bank", 64, 32, 8, 6, 2, 1),  # 2 banks of 32, one MAC per lane
    # balanced stochastic (the same count per PE group, any positions)
    Shape("stochastic", 36, 9, 3, 10, 4, 2),
    Shape("stochastic", 47, 8, 2, 13, 4, 3),  # last group padded (7 real inputs)
    Shape("stochastic", 20, 5, 1, 8, 8, 4, relu=False),  # single kept per group, stalling passes
]

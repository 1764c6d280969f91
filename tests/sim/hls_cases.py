"""KernelSpecs the HLS kernel tests run: every balanced layout family × dense and conv × several shapes.

The dense shapes are the RTL tests' own (``kernel_cases.DENSE_SHAPES``), so both backends are checked
on the same kernels against the same golden model; conv and block-punched shapes are added here.
Block-punched balanced = a balanced layout whose lanes of one pass (a block of filters) share one
offset list; :func:`block_punched` turns a random balanced spec into one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hwprune.ir.ops import conv_output_hw
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.prune.patterns.base import GroupLayout, PackedWeights
from hwprune.sim.vectors import random_spec

from kernel_cases import DENSE_SHAPES

VECTORS = 200  # random vectors per kernel, plus stimulus()'s 4 edge cases


@dataclass(frozen=True)
class ConvShape:
    """A conv kernel: pattern family, group layout over K = C·kh·kw, parallelism, geometry."""

    family: str
    channels: int
    kernel: tuple[int, int]
    group_size: int
    kept: int
    filters: int
    lanes: int
    macs: int
    image: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    relu: bool = True
    in_signed: bool = False

    @property
    def geometry(self) -> ConvGeometry:
        oh, ow = conv_output_hw(self.image, self.kernel, self.strides, self.pads, self.dilations)
        return ConvGeometry(self.channels, self.image[0], self.image[1], self.kernel, self.strides, self.pads,
                            self.dilations, 1, oh, ow)

    @property
    def layout(self) -> GroupLayout:
        return GroupLayout(self.channels * self.kernel[0] * self.kernel[1], self.group_size, self.kept)


CONV_SHAPES = [
    ConvShape("dense", 2, (3, 3), 9, 9, 5, 2, 2, (6, 5), pads=(1, 1, 1, 1)),
    ConvShape("dense", 3, (1, 1), 3, 3, 8, 3, 1, (4, 4)),  # 3 passes, the last one short
    ConvShape("dense", 4, (3, 3), 6, 6, 7, 4, 3, (7, 7), strides=(2, 2), pads=(1, 0, 1, 0), relu=False),
    ConvShape("nm", 4, (3, 3), 4, 2, 6, 4, 3, (5, 6), pads=(1, 1, 1, 1)),  # 2:4
    ConvShape("nm", 1, (3, 3), 3, 1, 5, 5, 3, (8, 8), pads=(1, 1, 1, 1), relu=False),  # 1:3
    # padded last group, dilation 2
    ConvShape("nm", 2, (3, 3), 4, 2, 9, 4, 5, (7, 7), pads=(2, 2, 2, 2), dilations=(2, 2)),
    ConvShape("bank", 3, (3, 3), 9, 3, 10, 4, 3, (7, 6), strides=(2, 2), pads=(1, 1, 1, 1)),
    ConvShape("bank", 8, (2, 2), 16, 4, 6, 2, 1, (5, 5)),
    ConvShape("bank", 5, (3, 3), 15, 5, 4, 4, 3, (5, 4), pads=(1, 1, 1, 1), relu=False, in_signed=True),
    ConvShape("stochastic", 2, (5, 5), 10, 3, 6, 3, 5, (9, 9), strides=(2, 2), pads=(2, 2, 2, 2)),
    ConvShape("stochastic", 3, (3, 3), 6, 2, 7, 2, 1, (6, 6), pads=(1, 1, 1, 1)),  # padded last group
    ConvShape("stochastic", 1, (4, 4), 4, 1, 3, 1, 2, (7, 7), strides=(3, 3)),
    ConvShape("block-punched", 4, (3, 3), 9, 4, 8, 4, 2, (6, 6), pads=(1, 1, 1, 1)),
    ConvShape("block-punched", 3, (3, 3), 9, 2, 10, 4, 3, (5, 7), strides=(2, 2)),  # short last block
    ConvShape("block-punched", 8, (2, 2), 4, 1, 6, 3, 4, (4, 4), relu=False),
]

# Dense layers with block-punched-style shared offsets (the lanes of a pass share positions).
DENSE_BLOCK_SHAPES = [
    (GroupLayout(40, 8, 3), 10, 4, 5),  # layout, out_features, lanes, macs
    (GroupLayout(27, 9, 2), 7, 3, 3),
]


def block_punched(spec: KernelSpec) -> KernelSpec:
    """The same layer with every lane of a pass using the pass's first row's kept positions."""
    offsets = np.array(spec.weights.offsets, copy=True)
    for start in range(0, spec.out_features, spec.lanes):
        offsets[start: start + spec.lanes] = offsets[start]
    weights = PackedWeights(spec.layout, np.array(spec.weights.values, copy=True), offsets)
    return dataclasses.replace(spec, weights=weights, pattern="block-punched")


def dense_specs() -> list[KernelSpec]:
    specs = []
    for index, shape in enumerate(DENSE_SHAPES):
        specs.append(random_spec(kind="dense", out_features=shape.out_features, layout=shape.layout,
                                 lanes=shape.lanes, macs_per_lane=shape.macs, seed=100 + index,
                                 relu=shape.relu, in_type=shape.in_type, pattern=shape.family))
    for index, (layout, out, lanes, macs) in enumerate(DENSE_BLOCK_SHAPES):
        spec = random_spec(kind="dense", out_features=out, layout=layout, lanes=lanes, macs_per_lane=macs,
                           seed=150 + index)
        specs.append(block_punched(spec))
    return [dataclasses.replace(s, ident=f"d{i}_{s.pattern.replace('-', '_')}") for i, s in enumerate(specs)]


def conv_specs() -> list[KernelSpec]:
    specs = []
    for index, shape in enumerate(CONV_SHAPES):
        spec = random_spec(kind="conv", out_features=shape.filters, layout=shape.layout, lanes=shape.lanes,
                           macs_per_lane=shape.macs, seed=200 + index, relu=shape.relu, conv=shape.geometry,
                           in_type=IntType(8, shape.in_signed), pattern=shape.family)
        specs.append(block_punched(spec) if shape.family == "block-punched" else spec)
    return [dataclasses.replace(s, ident=f"c{i}_{s.pattern.replace('-', '_')}") for i, s in enumerate(specs)]

"""Grouped and depthwise conv kernels the RTL and HLS tests share: depthwise 3x3 (stride 1 and 2,
padding), a channel multiplier of 2, and g = 2 groups, dense and balanced (nm, balanced stochastic) on
the per-group rows of K = C/g·kh·kw inputs."""

from __future__ import annotations

from dataclasses import dataclass

from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.prune.patterns.base import GroupLayout
from hwprune.sim.vectors import random_spec


def grouped(c: int, h: int, w: int, kernel: tuple[int, int], strides: tuple[int, int],
            pads: tuple[int, int, int, int], group: int) -> ConvGeometry:
    oh = (h + pads[0] + pads[2] - kernel[0]) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - kernel[1]) // strides[1] + 1
    return ConvGeometry(c, h, w, kernel, strides, pads, (1, 1), group, oh, ow)


@dataclass(frozen=True)
class GroupedShape:
    id: str
    geometry: ConvGeometry
    filters: int
    group_size: int
    kept: int
    lanes: int
    macs: int
    in_signed: bool = False


GROUPED_SHAPES = [
    # depthwise 3x3, stride 1, same padding, dense (keep all 9), one lane, 3 MACs
    GroupedShape("dw-dense-c4-5x5-s1-p1", grouped(4, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), 4), 4, 3, 3, 1, 3),
    # depthwise 3x3, stride 2, asymmetric padding, 2-of-3 balanced rows (K = 9), signed input
    GroupedShape("dw-nm-c3-7x6-s2", grouped(3, 7, 6, (3, 3), (2, 2), (1, 0, 1, 1), 3), 3, 3, 2, 1, 1,
                 in_signed=True),
    # channel multiplier 2: 3 groups of 1 input channel and 2 filters, 2 lanes (one pass per group)
    GroupedShape("dw-mult2-c3-5x4-p1", grouped(3, 5, 4, (3, 3), (1, 1), (1, 1, 1, 1), 3), 6, 9, 9, 2, 1),
    # grouped g = 2: 4 input channels (2 per group), 6 filters (3 per group), nm 1:4 on K = 2·2·2 = 8,
    # 2 lanes (a short second pass in every group)
    GroupedShape("g2-nm-c4-6x6-k2", grouped(4, 6, 6, (2, 2), (1, 1), (0, 0, 0, 0), 2), 6, 4, 1, 2, 2),
    # grouped g = 2, balanced stochastic 2 of 9 per 3x3 window of each input channel, 3x3 stride 2
    GroupedShape("g2-stoch-c4-7x7-s2-p1", grouped(4, 7, 7, (3, 3), (2, 2), (1, 1, 1, 1), 2), 4, 9, 2, 2, 2),
]


def grouped_spec(shape: GroupedShape, seed: int = 11) -> KernelSpec:
    g = shape.geometry
    layout = GroupLayout(g.window, shape.group_size, shape.kept)
    return random_spec(kind="conv", out_features=shape.filters, layout=layout, lanes=shape.lanes,
                       macs_per_lane=shape.macs, seed=seed, conv=g, in_type=IntType(8, shape.in_signed))

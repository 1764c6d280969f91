"""Conv engine (window generator + the shared dot-product engine) on geometries that exercise the
row buffer's release rule — padding, strides (also larger than the kernel, so rows are never read),
non-square kernels, dilation with padding, an image no taller than the kernel (``H == kh``, ``H <
kh_eff``, ``H == 1``: the buffer holds the whole frame), a 1×1 kernel, a tall image whose rows wrap
the buffer many times per frame, several passes over the lanes — bit-exact with the integer reference
and cycle-exact with the conv cycle model on 200 random frames plus the edge frames, and bit-exact
under backpressure. These are ordinary convolutions (group = 1); grouped and depthwise ones are in
test_rtl_grouped_conv.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.prune.patterns.base import GroupLayout
from hwprune.sim.golden import kernel_case, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import random_spec, stimulus

pytestmark = pytest.mark.sim

FRAMES = 200


def geometry(c: int, h: int, w: int, kernel: tuple[int, int], strides: tuple[int, int],
             pads: tuple[int, int, int, int], dilations: tuple[int, int] = (1, 1)) -> ConvGeometry:
    oh = (h + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    return ConvGeometry(c, h, w, kernel, strides, pads, dilations, 1, oh, ow)


@dataclass(frozen=True)
class ConvShape:
    id: str
    geometry: ConvGeometry
    group_size: int
    kept: int
    filters: int
    lanes: int
    macs: int
    in_signed: bool = False


CONV_SHAPES = [
    # 2:6-balanced 3x3, same padding, 2 passes over 4 lanes
    ConvShape("nm-c2-5x5-k3-p1", geometry(2, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 6, 2, 6, 4, 3),
    # dense, non-square 2x3 kernel, stride 2, asymmetric padding, signed input
    ConvShape("dense-c3-6x7-k2x3-s2", geometry(3, 6, 7, (2, 3), (2, 2), (0, 1, 1, 0)), 6, 6, 5, 2, 3,
              in_signed=True),
    # bank-balanced 1 of 3, stride 2 without padding (the last row is never read), dilation 1x2
    ConvShape("bank-c1-8x8-k3-s2-d2", geometry(1, 8, 8, (3, 3), (2, 2), (0, 0, 0, 0), (1, 2)), 3, 1, 9, 4, 3),
    # H == kh: one output row, the buffer holds the frame (R = H = 3); fast engine, input-bound
    ConvShape("dense-c2-3x6-k3-hk", geometry(2, 3, 6, (3, 3), (1, 1), (0, 0, 0, 0)), 6, 6, 2, 2, 3),
    # stride 3 > kernel 2: rows 2, 5, 6 are never read but still released; R = 5 of 7 rows
    ConvShape("nm-c2-7x7-k2-s3", geometry(2, 7, 7, (2, 2), (3, 3), (0, 0, 0, 0)), 4, 2, 3, 2, 2),
    # dilation 2 with padding 2: kh_eff = 5, R = 6 of 7 rows, windows reach into the padding both ways
    ConvShape("dense-c1-7x6-k3-d2-p2", geometry(1, 7, 6, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)), 3, 3, 2, 2, 3,
              in_signed=True),
    # H = 2 < kh_eff = 3: the buffer is the whole frame (R = H), top and bottom padding
    ConvShape("nm-c2-2x4-k3-p1", geometry(2, 2, 4, (3, 3), (1, 1), (1, 1, 1, 1)), 6, 3, 4, 2, 3),
    # H == 1: one row (R = 1); the writer waits for every frame's end
    ConvShape("dense-c3-1x5-k3-p1", geometry(3, 1, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 9, 9, 3, 3, 3),
    # 1x1 kernel: R = 2 rows, one row read per output row
    ConvShape("dense-c3-4x4-k1", geometry(3, 4, 4, (1, 1), (1, 1), (0, 0, 0, 0)), 3, 3, 4, 4, 1),
    # tall 16x5 image, 3x3 same padding: R = 4 slots reused four times a frame; fast engine
    ConvShape("dense-c1-16x5-k3-p1", geometry(1, 16, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 3, 3, 2, 2, 3),
    # column stride 3 > kernel width 2: output rows read faster than their rows arrive, so the writer,
    # held back at the row slots (R = 4 of 8), delays later windows; the model's outputs differ from
    # an unbounded buffer's on this shape
    ConvShape("dense-c2-8x4-k3x2-s1x3", geometry(2, 8, 4, (3, 2), (1, 3), (0, 0, 0, 1)), 12, 12, 4, 4, 1),
]


@pytest.mark.parametrize("simulator,shape", [("verilator", s) for s in CONV_SHAPES] + [("icarus", CONV_SHAPES[0])],
                         ids=lambda v: v if isinstance(v, str) else v.id)
def test_conv_kernel_bit_and_cycle_exact(simulator: str, shape: ConvShape, sim_root: Path) -> None:
    g = shape.geometry
    layout = GroupLayout(g.window, shape.group_size, shape.kept)
    spec = random_spec(kind="conv", out_features=shape.filters, layout=layout, lanes=shape.lanes,
                       macs_per_lane=shape.macs, seed=7, conv=g, in_type=IntType(8, shape.in_signed))
    where = sim_root / f"conv-{shape.id}-{simulator}"
    design = emit_kernel(spec, where / "rtl")
    case = kernel_case(spec, stimulus(spec, FRAMES, 7), seed=7)
    assert len(case["expected"]) == (FRAMES + 4) * shape.filters * g.out_height * g.out_width
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", simulator)
    result = run_case(path, design.top, where / "obj", simulator=simulator)
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]

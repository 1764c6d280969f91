"""Wide conv frames: a conv kernel whose input frame carries ``m`` channels of a pixel per beat
(``frame_simd = m``; the row buffer keeps words of ``m`` channels and the generator hands the engine
the ``m`` channels' whole windows, ``m·kh·kw`` elements, per beat) and whose output carries
``out_pe`` filters of a pixel per beat. Bit-exact with the integer reference and cycle-exact with the
conv cycle model on random and edge frames with backpressure, on padding, stride, dilation, a 1x1
(pointwise) conv, grouped convs and balanced layouts; mutations caught; the refusals the
generator cannot serve."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.ir.types import IntType
from hwprune.lower.fitting import layer_interval
from hwprune.lower.kernel_spec import stream_width_problem
from hwprune.prune.patterns.base import GroupLayout
from hwprune.sim.golden import kernel_case, mutate_cycle, mutate_value, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import random_spec, stimulus

from grouped_cases import grouped
from test_rtl_conv import geometry

pytestmark = pytest.mark.sim

FRAMES = 40

# (id, geometry, group size, kept, filters, lanes, MACs per lane, signed input, frame_simd, out_pe)
SHAPES = [
    # two channels per beat (S = 18 = both windows, one group a beat), same padding, 4 filters 2 a beat
    ("m2-pe2-c4-5x5-k3-p1-S18", geometry(4, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 18, 18, 4, 4, 2, False, 2, 2),
    # four channels per beat into 4 banks of 9 (balanced 3 of 9), stride 2, asymmetric padding, signed
    ("m4-pe4-c8-6x7-k3-s2-S9", geometry(8, 6, 7, (3, 3), (2, 2), (0, 1, 1, 0)), 9, 3, 8, 4, 4, True, 4, 4),
    # pointwise 1x1: 4 channels per beat = one group of 4, 8 filters 8 a beat
    ("m4-pe8-pw-c8-4x4-S4", geometry(8, 4, 4, (1, 1), (1, 1), (0, 0, 0, 0)), 4, 4, 8, 8, 2, False, 4, 8),
    # pointwise, 8 channels per beat over 2 groups of 4 into 2 banks, N:M 2 of 4, output one per beat
    ("m8-pe1-pw-c16-3x3-S4", geometry(16, 3, 3, (1, 1), (1, 1), (0, 0, 0, 0)), 4, 2, 4, 2, 4, True, 8, 1),
    # dilation 2 with padding 2, 2 channels a beat, a tall image wrapping the buffer
    ("m2-pe2-c2-12x5-k3-d2-p2-S18", geometry(2, 12, 5, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)), 18, 9, 2, 2, 1, False,
     2, 2),
    # g = 2 groups of 4 channels, 2 channels of a group per beat, output one per beat (grouped: out_pe 1)
    ("g2-m2-c8-6x6-k3-p1-S18", grouped(8, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), 2), 18, 6, 4, 2, 1, False, 2, 1),
]


def _spec(shape: tuple, seed: int = 5):
    _, g, size, kept, filters, lanes, macs, signed, frame, out_pe = shape
    layout = GroupLayout(g.window, size, kept)
    spec = random_spec(kind="conv", out_features=filters, layout=layout, lanes=lanes, macs_per_lane=macs,
                       seed=seed, conv=g, in_type=IntType(8, signed))
    beat = frame * g.kernel[0] * g.kernel[1]
    assert stream_width_problem(spec, beat, out_pe, frame) is None
    return replace(spec, in_simd=beat, out_pe=out_pe, frame_simd=frame)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s[0])
def test_wide_frames_bit_and_cycle_exact(shape: tuple, sim_root: Path) -> None:
    spec = _spec(shape)
    g = spec.conv
    where = sim_root / f"frame-{shape[0]}"
    design = emit_kernel(spec, where / "rtl")
    case = kernel_case(spec, stimulus(spec, FRAMES, 5), seed=5)
    frame = g.in_channels * g.in_height * g.in_width // spec.frame_simd
    assert len(case["inputs"]) == (FRAMES + 4) * frame  # m channels per beat
    assert len(case["expected"]) == (FRAMES + 4) * spec.out_features * g.out_height * g.out_width // spec.out_pe
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", "verilator")
    result = run_case(path, design.top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]
    if shape is SHAPES[1]:  # a wrong expectation must fail the bench: one value, one cycle
        for index, mutated in enumerate([mutate_value(case, 11), mutate_cycle(case, 20)]):
            broken = run_case(write_case(mutated, where / f"mutated{index}.json"), design.top, where / "obj")
            assert broken.failures >= 1, f"mutation {index} passed"


def test_wide_frames_lift_the_frame_bound() -> None:
    """The point of it: a compute-rich 3x3 conv whose window beats left it bound by its one-element
    frame (H·W·C cycles) and its one-element output drops by the frame's width."""
    g = geometry(16, 8, 8, (3, 3), (1, 1), (1, 1, 1, 1))
    spec = random_spec(kind="conv", out_features=16, layout=GroupLayout(g.window, 9, 9), lanes=16,
                       macs_per_lane=16, seed=3, conv=g)
    narrow = layer_interval(replace(spec, in_simd=9))
    wide = layer_interval(replace(spec, in_simd=36, frame_simd=4, out_pe=4))
    assert narrow == 16 * 64 and wide == 64 * 9 < narrow  # H·W·C one element a beat, then its compute: 9 cycles a pixel


@pytest.mark.parametrize("in_simd, out_pe, frame, reason", [
    (9, 1, 2, "in_simd must be 18"),
    (54, 1, 6, "must divide the 4 input channels"),
    (18, 3, 2, "out_pe 3 must divide the 4 filters"),
])
def test_wide_frames_the_generator_cannot_give_are_refused(in_simd: int, out_pe: int, frame: int, reason: str) -> None:
    spec = _spec(SHAPES[0])
    assert reason in (stream_width_problem(spec, in_simd, out_pe, frame) or "")
    with pytest.raises(ValueError, match=re.escape(reason)):
        replace(spec, in_simd=in_simd, out_pe=out_pe, frame_simd=frame)


def test_grouped_conv_output_beats_are_refused() -> None:
    spec = _spec(SHAPES[-1])
    assert "ungrouped conv" in (stream_width_problem(spec, 18, 2, 2) or "")


# depthwise channels side by side: (id, geometry, group size, kept, MACs per lane, signed, m)
DEPTHWISE = [
    # 4 channels at once of 8, dense 3x3, same padding: 4 engines, each 2 channels one after another
    ("dw-m4-c8-5x5-p1-S9", grouped(8, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), 8), 9, 9, 1, False, 4),
    # 2 of 4 channels, N:M-like 1 of 3 on 3 MAC units, stride 2 with asymmetric padding, signed
    ("dw-m2-c4-7x6-s2-S3", grouped(4, 7, 6, (3, 3), (2, 2), (1, 0, 1, 1), 4), 3, 1, 3, True, 2),
    # 2 of 4 channels pruned in padded groups of 8 on their 9 inputs (2 of 8, then 1 of 1): each engine
    # takes its channel's whole window on its 2 MAC units
    ("dw-m2-c4-5x5-p1-S8pad", grouped(4, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), 4), 8, 2, 2, False, 2),
]


def _depthwise_spec(shape: tuple, seed: int = 9):
    _, g, size, kept, macs, signed, m = shape
    spec = random_spec(kind="conv", out_features=g.in_channels, layout=GroupLayout(g.window, size, kept), lanes=1,
                       macs_per_lane=macs, seed=seed, conv=g, in_type=IntType(8, signed))
    window = g.kernel[0] * g.kernel[1]
    assert stream_width_problem(spec, m * window, m, m) is None
    return replace(spec, in_simd=m * window, out_pe=m, frame_simd=m)


@pytest.mark.parametrize("shape", DEPTHWISE, ids=lambda s: s[0])
def test_depthwise_channels_side_by_side(shape: tuple, sim_root: Path) -> None:
    spec = _depthwise_spec(shape)
    g = spec.conv
    assert spec.group_lanes == shape[-1] and spec.multipliers == shape[-1] * spec.macs_per_lane
    where = sim_root / f"dwpar-{shape[0]}"
    design = emit_kernel(spec, where / "rtl")
    case = kernel_case(spec, stimulus(spec, FRAMES, 9), seed=9)
    assert len(case["expected"]) == (FRAMES + 4) * g.in_channels * g.out_height * g.out_width // spec.out_pe
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", "verilator")
    result = run_case(path, design.top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]
    if shape is DEPTHWISE[0]:
        broken = run_case(write_case(mutate_value(case, 7), where / "mutated.json"), design.top, where / "obj")
        assert broken.failures >= 1, "mutation passed"
    serial = replace(spec, in_simd=g.kernel[0] * g.kernel[1], out_pe=1, frame_simd=1)
    assert layer_interval(spec) * spec.group_lanes == layer_interval(serial)  # m channels at once: m times faster

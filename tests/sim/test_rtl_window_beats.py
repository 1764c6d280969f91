"""Window beats: the conv window generator gives one channel's whole ``kh×kw`` window per beat
(``in_simd = kh·kw``, the row buffer in one copy per window position), so a pixel costs ``C`` engine
beats instead of ``C·kh·kw``. Bit-exact with the integer reference and cycle-exact with the conv
cycle model (rule 6: a beat waits for the last of its elements) on random and edge frames, and
bit-exact under backpressure, on the geometries that stress the row buffer (padding, strides larger
than the kernel, dilation, ``H == 1``, a tall image, non-square kernels) and on grouped and depthwise
convolutions; each window beat a whole group, a share of one, or several groups into distinct banks.
Folds (fewer elements than a window per beat: a rotation over the same copies) on groups that do not
line up with the window (balanced groups of 8 on a 3×3 conv, short last groups, grouped convs)."""

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

FRAMES = 60

# (id, geometry, group size, kept, filters, lanes, MACs per lane, signed input)
SHAPES = [
    # one whole group per beat (S = 9), dense, same padding, 2 passes over 2 lanes
    ("dense-c2-5x5-k3-p1-S9", geometry(2, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 9, 9, 4, 2, 2, False),
    # balanced 3 of 9, stride 2, asymmetric padding, signed
    ("bal-c3-6x7-k3-s2-S9", geometry(3, 6, 7, (3, 3), (2, 2), (0, 1, 1, 0)), 9, 3, 5, 2, 3, True),
    # three groups of 3 per beat into distinct banks (3 MAC units), dilation 2 with padding 2
    ("bank-c2-8x8-k3-d2-p2-S3", geometry(2, 8, 8, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)), 3, 1, 3, 3, 3, False),
    # a share of a group per beat (S = 18: two channels' windows), balanced 6 of 18
    ("share-c2-5x5-k3-p1-S18", geometry(2, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 18, 6, 3, 3, 1, False),
    # stride 3 > kernel 2: unread rows are still released
    ("nm-c2-7x7-k2-s3-S4", geometry(2, 7, 7, (2, 2), (3, 3), (0, 0, 0, 0)), 4, 2, 3, 2, 2, False),
    # H == 1: the buffer is one row
    ("dense-c3-1x5-k3-p1-S9", geometry(3, 1, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 9, 9, 3, 3, 3, False),
    # a tall image whose rows wrap the buffer several times a frame
    ("dense-c1-16x5-k3-p1-S9", geometry(1, 16, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 9, 9, 2, 2, 1, True),
    # non-square 3x2 kernel, column stride 3 > kernel width
    ("dense-c2-8x4-k3x2-s1x3-S6", geometry(2, 8, 4, (3, 2), (1, 3), (0, 0, 0, 1)), 6, 6, 4, 4, 2, False),
    # depthwise 3x3, dense: one beat per channel per pixel
    ("dw-c4-5x5-p1-S9", grouped(4, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), 4), 9, 9, 4, 1, 1, False),
    # depthwise, 2 of 3 per row-group, stride 2, three groups per beat on 3 MAC units, signed
    ("dw-nm-c3-7x6-s2-S3", grouped(3, 7, 6, (3, 3), (2, 2), (1, 0, 1, 1), 3), 3, 2, 3, 1, 3, True),
    # g = 2 groups, balanced 2 of 9, stride 2
    ("g2-bal-c4-7x7-s2-p1-S9", grouped(4, 7, 7, (3, 3), (2, 2), (1, 1, 1, 1), 2), 9, 2, 4, 2, 2, False),
    # the whole window of a padded layout (hwprune prune's default groups of 8 on 9 inputs: 2 of 8, the
    # last group's one input kept), both groups at once on 2 MAC units: depthwise, signed
    ("dw-bal-c4-6x5-p1-S8pad", grouped(4, 6, 5, (3, 3), (1, 1), (1, 1, 1, 1), 4), 8, 2, 4, 1, 2, True),
    # the same on an ungrouped conv of one input channel (the digits CNN's first layer), 2 passes
    ("bal-c1-6x6-k3-p1-S8pad", geometry(1, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1)), 8, 2, 4, 2, 2, False),
]

# folds: fewer elements than a window per beat, for groups that do not line up with kh·kw
# (id, geometry, group size, kept, filters, lanes, MACs per lane, signed input, fold)
FOLDS = [
    # balanced 2 of 8 on a 3x3 conv (hwprune prune's default groups): one group of 8 per beat
    ("fold8-bal-c8-6x6-k3-p1-S8", geometry(8, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1)), 8, 2, 4, 2, 3, False, 8),
    # half a group per beat, a short last group (36 inputs in groups of 8), signed
    ("fold4-dense-c4-5x5-k3-p1-S8", geometry(4, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1)), 8, 8, 3, 3, 1, True, 4),
    # one group of 2 per beat, stride 2 with dilation 1x2 and padding
    ("fold2-nm-c2-7x7-k3-s2-d2-S2", geometry(2, 7, 7, (3, 3), (2, 2), (1, 2, 1, 2), (1, 2)), 2, 1, 3, 3, 3, False, 2),
    # g = 2 groups of two channels (K = 18 each), a share of a group of 6 per beat
    ("fold2-g2-c4-6x6-k3-p1-S6", grouped(4, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), 2), 6, 3, 4, 2, 3, False, 2),
    # 2x2 kernel, half its window per beat, stride 1, no padding
    ("fold2-bal-c3-6x6-k2-S4", geometry(3, 6, 6, (2, 2), (1, 1), (0, 0, 0, 0)), 4, 2, 4, 2, 3, False, 2),
]


def _spec(shape: tuple, seed: int = 7):
    _, g, size, kept, filters, lanes, macs, signed, *fold = shape
    layout = GroupLayout(g.window, size, kept)
    spec = random_spec(kind="conv", out_features=filters, layout=layout, lanes=lanes, macs_per_lane=macs,
                       seed=seed, conv=g, in_type=IntType(8, signed))
    beat = fold[0] if fold else g.kernel[0] * g.kernel[1]
    assert stream_width_problem(spec, beat, 1) is None
    return replace(spec, in_simd=beat)


@pytest.mark.parametrize("shape", SHAPES + FOLDS, ids=lambda s: s[0])
def test_window_beats_bit_and_cycle_exact(shape: tuple, sim_root: Path) -> None:
    spec = _spec(shape)
    g = spec.conv
    where = sim_root / f"window-{shape[0]}"
    design = emit_kernel(spec, where / "rtl")
    case = kernel_case(spec, stimulus(spec, FRAMES, 7), seed=7)
    assert len(case["inputs"]) == (FRAMES + 4) * g.in_channels * g.in_height * g.in_width  # one element per beat
    assert len(case["expected"]) == (FRAMES + 4) * spec.out_features * g.out_height * g.out_width
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", "verilator")
    result = run_case(path, design.top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]
    if shape in (SHAPES[1], FOLDS[0]):  # a wrong expectation must fail the bench: one value, one cycle
        for index, mutated in enumerate([mutate_value(case, 11), mutate_cycle(case, 20)]):
            broken = run_case(write_case(mutated, where / f"mutated{index}.json"), design.top, where / "obj")
            assert broken.failures >= 1, f"mutation {index} passed"


def test_window_beats_shorten_a_compute_rich_conv() -> None:
    """The point of it: a 3x3 conv with many MACs goes from ``C·9`` window beats per pixel to ``C``
    (the fitter's interval, which the RTL above follows); then its compute bounds it: 72 weights a
    filter over 8 MAC units, 9 cycles a pixel, while its 8 filters leave one per beat from the other
    result bank (with one result bank they cost 8 beats + 3 turnaround cycles a pixel)."""
    g = geometry(8, 10, 10, (3, 3), (1, 1), (1, 1, 1, 1))
    spec = random_spec(kind="conv", out_features=8, layout=GroupLayout(g.window, 9, 9), lanes=8, macs_per_lane=8,
                       seed=3, conv=g)
    narrow, wide = layer_interval(spec), layer_interval(replace(spec, in_simd=9))
    assert narrow == 100 * 8 * 9 and wide == 100 * 9


@pytest.mark.parametrize("in_simd, out_pe, reason", [
    (4, 1, "a fold of fewer elements dividing the 18"),
    (12, 1, "one channel's whole window (9)"),
    (9, 3, "out_pe 3 must divide the 4 filters"),
])
def test_window_beats_the_generator_cannot_give_are_refused(in_simd: int, out_pe: int, reason: str) -> None:
    spec = _spec(SHAPES[0])
    assert reason in (stream_width_problem(spec, in_simd, out_pe) or "")
    with pytest.raises(ValueError, match=re.escape(reason)):
        replace(spec, in_simd=in_simd, out_pe=out_pe)


def test_a_whole_padded_window_needs_a_mac_unit_per_group() -> None:
    """The whole window of a padded layout is written into all its group words at once: one MAC unit
    (bank) per group, or the beat is refused."""
    spec = _spec(SHAPES[-1])
    assert spec.in_simd == 9 and spec.layout.groups == 2
    reason = "the whole vector of 9 inputs with a MAC unit per group (2)"
    assert reason in (stream_width_problem(replace(spec, in_simd=1, macs_per_lane=1), 9, 1) or "")
    with pytest.raises(ValueError, match=re.escape(reason)):
        replace(spec, macs_per_lane=1)

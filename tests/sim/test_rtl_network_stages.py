"""The network top's stream stages on their own (Verilator, the kernel testbench ``stream_tb``):
max pooling on odd frame sizes (dropped last row/column, overlapping padded windows on signed data,
ceil-mode partial windows with a non-square window) and on geometries that stress its row buffer
(3×3/1 same padding, 2×2/2 ceil mode on an odd height, ``H == kh``, stride > kernel, a tall map),
and the H·W·C → C·H·W reorder on an odd frame. Values must equal ``run_integer`` (MaxPool,
Reshape), cycles the stage model (``hwprune.lower.stage_cycles``) under back-to-back, gapped and late
frames; the backpressure replay must lose or duplicate nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwprune.backends.rtl.stages import MaxPoolStage, ReorderStage
from hwprune.ir.types import IntType
from hwprune.sim.golden import write_case
from hwprune.sim.rtl_runner import build_design, run_case

from network_cases import emit_stage, pool_case, pool_window, reorder_case

pytestmark = pytest.mark.sim

U8, S8 = IntType(8, False), IntType(8, True)

POOLS = {
    # 5×7 with 2×2/2: the last row and column are read by no window (floor mode)
    "floor-c3-5x7": (3, 5, 7, (2, 2), (2, 2), (0, 0, 0, 0), False, U8),
    # 3×3/2 overlapping windows with padding 1 on signed data: padding must read as -128, not 0
    "pad-overlap-c2-5x5-signed": (2, 5, 5, (3, 3), (2, 2), (1, 1, 1, 1), False, S8),
    # 3×2 window, stride 2, ceil mode: the last column's windows are partial
    "ceil-c1-7x5-3x2": (1, 7, 5, (3, 2), (2, 2), (0, 0, 0, 0), True, U8),
    # the row buffer (R = min(H, kh + s_h) rows): 3×3/1 same padding on signed data, R = 4 of 6 rows
    "same-c2-6x5-3x3s1-signed": (2, 6, 5, (3, 3), (1, 1), (1, 1, 1, 1), False, S8),
    # 2×2/2 on an odd H in ceil mode: the last output row reads row 6 and bottom padding
    "ceil-c2-7x6-2x2": (2, 7, 6, (2, 2), (2, 2), (0, 0, 0, 0), True, U8),
    # H == kh: R = H, the writer may run a whole frame ahead
    "h-eq-kh-c2-3x5-3x2": (2, 3, 5, (3, 2), (1, 2), (0, 0, 0, 0), False, U8),
    # stride 3 > kernel 2: rows 2 and 5 are read by no window but must still be released
    "stride-gt-kernel-c2-8x8": (2, 8, 8, (2, 2), (3, 3), (0, 0, 0, 0), False, U8),
    # a tall 16×4 map: R = 4 slots cycle through 16 rows a frame
    "tall-c3-16x4": (3, 16, 4, (2, 2), (2, 2), (0, 0, 0, 0), False, U8),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_maxpool_stage_odd_sizes(name: str, sim_root: Path) -> None:
    c, h, w, kernel, strides, pads, ceil, dtype = POOLS[name]
    window, attrs = pool_window(c, h, w, kernel, strides, pads, ceil)
    where = sim_root / f"stage-{name}"
    top = "pool_" + name.replace("-", "_")
    source = emit_stage(MaxPoolStage(window, dtype.bits, dtype.signed), top, where / "rtl")
    build_design([source], top, where / "obj")
    case = pool_case(window, attrs, dtype, count=60, seed=len(name))
    result = run_case(write_case(case, where / "pool.case.json"), top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-2000:]
    assert result.measured_cycles() == case["expected_cycles"]
    if "signed" in name:
        assert min(case["expected"]) < 0  # signed maxima: a zero pad value would have hidden them


def test_reorder_stage_odd_frame(sim_root: Path) -> None:
    where = sim_root / "stage-reorder"
    top = "reorder_c3_5x7"
    source = emit_stage(ReorderStage(3, 5, 7, 8, True), top, where / "rtl")
    build_design([source], top, where / "obj")
    case = reorder_case(3, 5, 7, S8, count=40, seed=7)
    assert case["expected"] != case["inputs"]  # the orders differ: a pure re-interpretation is wrong
    result = run_case(write_case(case, where / "reorder.case.json"), top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-2000:]
    assert result.measured_cycles() == case["expected_cycles"]

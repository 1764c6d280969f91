"""Grouped and depthwise conv kernels in Verilator: the window generator of the ordinary conv feeds the
dot-product engine one vector per conv group (group-serial schedule, docs/architecture.md 7.4), each
group's filters computed from that group's own block of the weight ROM. Bit-exact with the integer
reference (``run_integer`` on a grouped Conv) and cycle-exact with the conv cycle model on random and
edge frames (``timed``), bit-exact under output backpressure (``backpressure``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.sim.golden import kernel_case, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import stimulus

from grouped_cases import GROUPED_SHAPES, GroupedShape, grouped_spec

pytestmark = pytest.mark.sim

FRAMES = 40


@pytest.mark.parametrize("shape", GROUPED_SHAPES, ids=lambda s: s.id)
def test_grouped_conv_bit_and_cycle_exact(shape: GroupedShape, sim_root: Path) -> None:
    spec = grouped_spec(shape)
    g = shape.geometry
    where = sim_root / f"grouped-{shape.id}"
    design = emit_kernel(spec, where / "rtl")
    case = kernel_case(spec, stimulus(spec, FRAMES, 11), seed=11)
    assert len(case["expected"]) == (FRAMES + 4) * shape.filters * g.out_height * g.out_width
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", "verilator")
    result = run_case(path, design.top, where / "obj", simulator="verilator")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]

"""Two result banks: passes whose compute is short next to their drain (``cycles_per_pass`` below
``lanes / out_pe + 3``), where one result register cost every pass its output beats plus 3 turnaround
cycles. In Verilator, each case bit-exact with the integer reference under random output backpressure
(``backpressure``) and cycle-exact with the cycle model on random and edge vectors (``timed``); then,
fed back to back, the interval measured on the RTL equals ``steady_state_interval`` (its closed form
``max(K, passes × cycles_per_pass, out_beats)`` where every pass has at least 3 beats) and is shorter
than the one-bank interval. Covers one and two output beats a pass (where the closed form does not
hold), several passes, a part-filled last beat, signed outputs without ReLU, and a grouped conv."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.ir.types import IntType
from hwprune.lower.cycles import EngineTiming
from hwprune.lower.engine_schedule import steady_state_closed_form, steady_state_interval
from hwprune.lower.kernel_cycles import kernel_model
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.prune.patterns.base import GroupLayout
from hwprune.sim.golden import kernel_case, mutate_cycle, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import random_spec, stimulus

from grouped_cases import grouped
from kernel_cases import Shape

pytestmark = pytest.mark.sim

VECTORS = 24
SEED = 5

# (shape, what it covers); in_simd = one group per beat keeps the input from bounding the interval
SHAPES = [
    # lanes 8, out_pe 1, 2 passes of 8 beats, 1 cycle a pass: output-bound, 16 (one bank: 22)
    (Shape("nm", 16, 8, 1, 16, 8, 2, in_simd=8), "8-beat passes, 1 cycle of compute"),
    # lanes 8, out_pe 2, 3 passes of 4 beats, 3 cycles a pass: 12 (one bank: 21)
    (Shape("nm", 24, 8, 1, 24, 8, 1, in_simd=8, out_pe=2), "4-beat passes, 3 cycles of compute"),
    # out_pe 4, 16 rows (a conv's 16 outputs a pixel): one pass of 4 beats, 2 cycles: 4 (one bank: 7)
    (Shape("nm", 16, 8, 2, 16, 16, 2, in_simd=8, out_pe=4), "16 rows at out_pe 4"),
    # a 5-output last layer, 1 cycle a pass, signed without ReLU: 5 (one bank: 8)
    (Shape("nm", 8, 8, 1, 5, 5, 1, in_simd=8, relu=False, in_signed=True), "5 rows, one pass"),
    # passes of 4, 4 and 3 beats, the last one part-filled (5 rows at out_pe 2), 2 cycles a pass
    (Shape("nm", 16, 8, 1, 21, 8, 1, in_simd=8, out_pe=2), "part-filled last beat"),
    # 2 beats a pass (lanes 8, out_pe 4), 1 cycle: the banks bound it, 5 cycles per 2 vectors
    (Shape("nm", 8, 8, 1, 8, 8, 1, in_simd=8, out_pe=4), "2-beat passes"),
    # 1 beat a pass over 3 passes: every third pass waits for its bank
    (Shape("nm", 8, 8, 1, 12, 4, 1, in_simd=8, out_pe=4, relu=False), "1-beat passes"),
]

# a grouped conv (2 groups of 2 channels, one channel's 3x3 window per beat): 8 filters a group over
# 8 lanes, 3 cycles a pass, so each group's pass drains while the next group's computes
GROUPED = grouped(4, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), 2)


def _dense_spec(shape: Shape) -> KernelSpec:
    spec = random_spec(out_features=shape.out_features, layout=shape.layout, lanes=shape.lanes,
                       macs_per_lane=shape.macs, seed=SEED, relu=shape.relu, in_type=shape.in_type,
                       pattern=shape.family)
    return replace(spec, in_simd=shape.in_simd, out_pe=shape.out_pe)


def _grouped_spec() -> KernelSpec:
    g = GROUPED
    spec = random_spec(kind="conv", out_features=16, layout=GroupLayout(g.window, 9, 3), lanes=8,
                       macs_per_lane=2, seed=SEED, conv=g, in_type=IntType(8, False))
    return replace(spec, in_simd=9)


def one_bank_interval(timing: EngineTiming) -> int:
    """Cycles per vector with one result register, back to back (the old rule 3: a pass's last step
    waits ``n' + 3`` after the previous pass's, ``n'`` that pass's output beats)."""
    beats = [timing.beats_of_pass(p) for p in range(timing.passes)]
    passes = sum(max(timing.cycles_per_pass, beats[p - 1] + 3) for p in range(timing.passes))
    return max(timing.in_beats, passes)


def _build(spec: KernelSpec, where: Path) -> str:
    design = emit_kernel(spec, where / "rtl")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", "verilator")
    return design.top


def _exact(spec: KernelSpec, where: Path, top: str) -> dict:
    """Random and edge vectors: bit-exact under backpressure, cycle-exact without; the case."""
    case = kernel_case(spec, stimulus(spec, VECTORS, SEED), seed=SEED, ready_probability=0.5)
    result = run_case(write_case(case, where / "case.json"), top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]
    return case


def _back_to_back(spec: KernelSpec, case: dict, where: Path, top: str) -> list[int]:
    """The same vectors offered from cycle 0 (a source that always has data), cycle-exact against the
    model: the measured cycle of every output beat."""
    model = kernel_model(spec)
    per_frame = model.frame_beats if spec.conv else spec.in_beats  # beats of a conv frame or a vector
    frames = len(case["arrivals"]) // per_frame
    case = {**case, "arrivals": [0] * len(case["arrivals"])}
    case["expected_cycles"] = [c for _ in range(frames) for c in model.push([0] * per_frame)[1]]
    result = run_case(write_case(case, where / "back_to_back.json"), top, where / "obj", tests=("timed",))
    assert result.passed, result.log.read_text()[-4000:]
    return result.measured_cycles()


@pytest.mark.parametrize("shape, what", SHAPES, ids=[what for _, what in SHAPES])
def test_short_passes_bit_cycle_exact_and_faster(shape: Shape, what: str, sim_root: Path) -> None:
    spec = _dense_spec(shape)
    timing = EngineTiming.of(spec)
    assert timing.cycles_per_pass < timing.pass_beats + 3, what  # one bank would wait on every pass
    where = sim_root / f"banks-{shape.id}"
    top = _build(spec, where)
    case = _exact(spec, where, top)
    measured = _back_to_back(spec, case, where, top)
    last = [measured[(v + 1) * spec.out_beats - 1] for v in range(len(measured) // spec.out_beats)]
    steps = [last[v + 1] - last[v] for v in range(10, len(last) - 1)]
    assert steps[2:] == steps[:-2]  # settled: the interval repeats every two vectors at most
    interval = -(-(last[-1] - last[-3]) // 2)
    assert interval == steady_state_interval(timing)
    closed = steady_state_closed_form(timing)
    if timing.beats_of_pass(timing.passes - 1) >= 3:
        assert closed == interval == max(timing.in_beats, timing.compute_cycles, timing.out_beats)
    assert interval < one_bank_interval(timing), (interval, one_bank_interval(timing))
    if shape is SHAPES[0]:  # a wrong expected cycle must fail the bench
        broken = run_case(write_case(mutate_cycle(case, 9), where / "mutated.json"), top, where / "obj",
                          tests=("timed",))
        assert broken.failures >= 1


def test_grouped_conv_overlaps_a_group_with_the_previous_drain(sim_root: Path) -> None:
    spec = _grouped_spec()
    timing = EngineTiming.of(spec)
    assert spec.groups == 2 and timing.passes == 1 and timing.cycles_per_pass == 3 and timing.pass_beats == 8
    where = sim_root / "banks-grouped"
    top = _build(spec, where)
    case = _exact(spec, where, top)
    measured = _back_to_back(spec, case, where, top)
    g = spec.conv
    pixel = spec.out_features  # output beats of one pixel (both groups)
    frame = pixel * g.out_height * g.out_width
    # a pixel's two group vectors leave 8 beats each, back to back: 16 cycles a pixel (one bank: 22)
    steps = {measured[p + pixel - 1] - measured[p - 1] for p in range(frame * 2, frame * 3, pixel)}
    assert steps == {16} and 2 * one_bank_interval(timing) == 22

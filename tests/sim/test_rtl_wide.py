"""Wide streams on the dot-product engine: ``in_simd`` activations per input beat (a share of a group
word, or whole groups straight into the banks) and ``out_pe`` outputs per output beat, bit-exact with
the integer reference and cycle-exact with the cycle model under random backpressure (Verilator)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.lower.cycles import EngineTiming
from hwprune.lower.engine_schedule import steady_state_interval
from hwprune.lower.kernel_spec import stream_width_problem
from hwprune.sim.golden import kernel_case, mutate_cycle, mutate_value, pack_beats, unpack_beats, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import random_spec, stimulus

from kernel_cases import Shape

pytestmark = pytest.mark.sim

VECTORS = 40


SHAPES = [
    # a share of a group per beat; 4 passes of 3 beats
    Shape("dense", 64, 8, 8, 24, 6, 4, in_simd=4, out_pe=2),
    # two whole groups per beat, a short last group, a part-filled last output beat
    Shape("stochastic", 47, 8, 2, 13, 4, 6, in_simd=16, out_pe=4),
    # a part-filled last output beat, signed
    Shape("nm", 24, 4, 2, 10, 4, 3, in_simd=2, out_pe=4, in_signed=True, relu=False),
    # one beat out per pass: passes wait (rule 3)
    Shape("stochastic", 20, 5, 1, 8, 8, 4, in_simd=10, out_pe=8),
    # one pass, one beat out
    Shape("dense", 30, 6, 6, 7, 7, 5, in_simd=3, out_pe=7, in_signed=True, relu=False),
    # one whole group per beat (no assembly register)
    Shape("stochastic", 64, 8, 4, 12, 4, 4, in_simd=8, out_pe=4),
    # wide in, one signed output per beat
    Shape("dense", 32, 4, 4, 5, 5, 2, in_simd=4, out_pe=1, relu=False),
]


def _spec(shape: Shape, seed: int):
    spec = random_spec(out_features=shape.out_features, layout=shape.layout, lanes=shape.lanes,
                       macs_per_lane=shape.macs, seed=seed, relu=shape.relu, in_type=shape.in_type,
                       pattern=shape.family)
    return replace(spec, in_simd=shape.in_simd, out_pe=shape.out_pe)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.id)
def test_wide_kernel_bit_and_cycle_exact(shape: Shape, sim_root: Path) -> None:
    seed = sum(map(ord, shape.id)) % 1000
    spec = _spec(shape, seed)
    where = sim_root / shape.id
    design = emit_kernel(spec, where / "rtl")
    case = kernel_case(spec, stimulus(spec, VECTORS, seed), seed=seed)
    vectors = VECTORS + 4  # stimulus adds the edge vectors
    assert len(case["inputs"]) == vectors * spec.in_beats
    assert len(case["expected"]) == vectors * spec.out_beats
    assert case["in_bits"] == shape.in_simd * 8 and case["out_bits"] == shape.out_pe * 8
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", "verilator")
    result = run_case(path, design.top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]
    if shape is SHAPES[1]:  # a wrong expectation must fail the bench: one packed value, one cycle
        for index, mutated in enumerate([mutate_value(case, 7), mutate_cycle(case, 5)]):
            broken = run_case(write_case(mutated, where / f"mutated{index}.json"), design.top, where / "obj")
            assert broken.failures >= 1, f"mutation {index} passed"


def test_wide_streams_shorten_the_interval() -> None:
    """The point of it: a layer bound by its one-element streams (K in, F out per vector) speeds up by
    the widths (the cycle model; the RTL above is checked against the same model)."""
    spec = _spec(Shape("dense", 64, 8, 8, 64, 64, 8), seed=3)
    narrow = steady_state_interval(EngineTiming.of(spec))
    wide = steady_state_interval(EngineTiming.of(replace(spec, in_simd=16, out_pe=16)))
    # one pass of 64 rows: 64 output beats narrow (the next vector's pass fills the other result bank
    # meanwhile); wide, 4 beats < the 8 compute cycles (64 kept weights per row over 8 MAC units), so the
    # layer becomes compute-bound
    assert narrow == 64 and wide == 8


def test_packing_round_trips_and_zero_fills() -> None:
    values = np.array([[1, -2, 3, -128, 127], [0, 5, -1, 2, 9]])
    words = pack_beats(values, 2, 8)
    assert len(words) == 6 and words[2] == 0x7F  # third beat: 127 then a zero element
    assert unpack_beats(words, 2, 8, signed=True) == [1, -2, 3, -128, 127, 0, 0, 5, -1, 2, 9, 0]


@pytest.mark.parametrize("in_simd, out_pe, reason", [
    (3, 1, "must divide the group size 8"),  # neither divides nor is a multiple of S
    (24, 1, "must divide the group size 8"),  # three groups per beat, 4 MAC units
    (1, 4, "must divide the 6 lanes"),
    (128, 1, "exceeds the 64 padded inputs"),
])
def test_widths_the_engine_cannot_take_are_refused(in_simd: int, out_pe: int, reason: str) -> None:
    spec = _spec(Shape("dense", 64, 8, 8, 24, 6, 4), seed=5)
    assert reason in (stream_width_problem(spec, in_simd, out_pe) or "")
    with pytest.raises(ValueError, match=reason):
        replace(spec, in_simd=in_simd, out_pe=out_pe)


@pytest.mark.slow
def test_yosys_counts_one_requantiser_per_output_element(tmp_path: Path) -> None:
    """The resource model's wide terms against real synthesis: ``out_pe`` requantisers (one DSP each
    here) beside the ``L·P`` multipliers, DSPs exact as for the one-element engine."""
    from hwprune.estimate.yosys import synthesize
    from hwprune.lower.resource_model import kernel_breakdown, kernel_resources

    shape = SHAPES[3]
    spec = _spec(shape, seed=9)
    design = emit_kernel(spec, tmp_path / "rtl")
    resources = synthesize([tmp_path / "rtl" / name for name in design.verilog], design.top, "xcup",
                           cache_dir=tmp_path / "cache")
    assert kernel_breakdown(spec)["requantiser"].dsp == shape.out_pe
    assert resources.dsp == kernel_resources(spec).dsp == shape.lanes * shape.macs + shape.out_pe


def test_network_top_with_wide_axi_ports(examples_dir: Path, sim_root: Path) -> None:
    """The digits MLP with both AXI ports wide: 16 unsigned bytes per ``s_axis`` beat (a 128-bit
    ``tdata``), four signed outputs per ``m_axis`` beat in byte lanes with the last beat part-filled
    (10 outputs: 3 beats, 2 zero lanes), bit- and cycle-exact (every beat and accept) through the
    network top, nothing lost under backpressure; a wrong lane value fails the bench."""
    import json

    from network_cases import quantized

    from hwprune.boards import load_board
    from hwprune.lower.fitting import fit_kernels
    from hwprune.lower.lowering import lower_graph
    from hwprune.lower.network_plan import port_kernels, wide_links
    from hwprune.sim.bundle import write_sim_bundle
    from hwprune.sim.network import NETWORK_CASE, case_values, load_network, network_reference, replay_network

    graph = quantized(examples_dir, "mlp_digits.onnx")
    kernels = lower_graph(graph)
    fitted = fit_kernels(kernels, load_board("zcu102"), links=wide_links(graph, kernels),
                         ports=port_kernels(graph, kernels))
    fitted[0] = replace(fitted[0], in_simd=16)
    fitted[-1] = replace(fitted[-1], lanes=4, out_pe=4)
    build = sim_root / "network-wide-ports"
    write_sim_bundle(fitted, build, vectors=4, seed=2, graph=graph, network_vectors=60)
    plan, _, entry = load_network(build)
    assert (plan.in_width, plan.in_beats, plan.out_width, plan.out_beats) == (16, 4, 4, 3)
    assert entry["widths"] == {"s_axis_tdata": 128, "m_axis_tdata": 32}
    case = json.loads((build / "sim" / NETWORK_CASE).read_text())
    inputs, expected = case_values(case)
    assert inputs.shape == (60, 64) and np.array_equal(expected, network_reference(graph, plan, inputs))
    assert all(word >> 16 == 0 for word in case["expected"][2::3])  # the last beat's two spare lanes
    result = replay_network(build, build / "sim" / NETWORK_CASE, ("timed", "backpressure"))
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]
    trace = json.loads(result.trace.read_text())
    assert [v for _, v in trace["timed"]["beats"]] == case["expected"]
    assert [c for c, _ in trace["timed"]["beats"]] == case["expected_cycles"]
    assert trace["timed"]["accepts"] == case["expected_accepts"]
    assert [v for _, v in trace["backpressure"]["beats"]] == case["expected"]
    broken = replay_network(build, write_case(mutate_value(case, 4), build / "sim" / "mutated.json"), ("timed",))
    assert broken.failures == 1

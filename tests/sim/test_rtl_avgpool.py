"""Average pooling in the network top, in Verilator. The stages alone (the kernel testbench
``stream_tb``): a 2×2/2 average on unsigned data, a padded 3×3/1 average (count_include_pad) on signed
data, a 3×3/2 padded average and a one-channel global average whose multiplier makes them saturate at
both ends, and a global average on unsigned data; values must equal ``run_integer`` (AveragePool,
GlobalAveragePool), cycles the stage models (rules 7-9 and 14, ``hwprune.lower.stage_cycles``) under
back-to-back, gapped and late frames, and the backpressure replay must lose or duplicate nothing.
Then three torch-built networks through PTQ, lowering and the bundle writer: conv → AvgPool 2×2/2 →
Flatten → Dense, conv → GlobalAveragePool → Flatten → Dense (the DS-CNN tail) and a residual block →
GlobalAveragePool → Dense (the ResNet tail, a graph plan), each ``timed`` (values against the integer
reference of the whole graph, every ``m_axis`` beat and ``s_axis`` accept against the network cycle
model) and ``backpressure``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.rtl.avgpool import AveragePoolStage, GlobalAverageStage
from hwprune.ir.types import IntType
from hwprune.quant.requant import requant_params
from hwprune.sim.bundle import write_sim_bundle
from hwprune.sim.golden import write_case
from hwprune.sim.network import load_network
from hwprune.sim.rtl_runner import build_design, run_case

from avgpool_cases import quantized_network, stage_case, unclamped
from network_cases import emit_stage, replay_and_check_network

pytestmark = pytest.mark.sim

U8, S8 = IntType(8, False), IntType(8, True)

STAGES = {
    # (channels, height, width, kernel (None: global), strides, pads, dtype, (M, sh)), saturates
    "avg-k2s2-c3-4x6-u8": ((3, 4, 6, (2, 2), (2, 2), (0, 0, 0, 0), U8, requant_params(1 / 4)), False),
    # overlapping windows over zero padding (count_include_pad): R = 4 of 5 rows, signed sums
    "avg-k3s1-pad1-c2-5x5-s8": ((2, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), S8, requant_params(1 / 9)), False),
    # half the window sum: random and edge frames saturate at +127 and -128
    "avg-k3s2-pad1-sat-c2-5x6-s8": ((2, 5, 6, (3, 3), (2, 2), (1, 1, 1, 1), S8, requant_params(1 / 2)), True),
    "gap-c3-4x3-u8": ((3, 4, 3, None, None, None, U8, requant_params(1 / 12)), False),
    # one channel: the accumulator is read the cycle after it was written, every beat
    "gap-sat-c1-3x3-s8": ((1, 3, 3, None, None, None, S8, requant_params(1 / 3)), True),
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_average_stage(name: str, sim_root: Path) -> None:
    spec, saturates = STAGES[name]
    dtype, (mult, shift) = spec[6], spec[7]
    case, graph, x, geometry = stage_case(name, spec, count=40, seed=len(name))
    if spec[3] is None:
        component = GlobalAverageStage(geometry, dtype, dtype, mult, shift)
    else:
        component = AveragePoolStage(geometry, dtype, dtype, mult, shift)
    where = sim_root / f"stage-{name}"
    top = "avg_" + name.replace("-", "_")
    build_design([emit_stage(component, top, where / "rtl")], top, where / "obj")  # type: ignore[arg-type]
    result = run_case(write_case(case, where / "avg.case.json"), top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-2000:]
    assert result.measured_cycles() == case["expected_cycles"]
    raw = unclamped(graph, x)
    if saturates:  # the clamp is exercised at both ends, and the reference is the clamped value
        assert raw.max() > dtype.max and raw.min() < dtype.min
        assert dtype.max in case["expected"] and dtype.min in case["expected"]
    else:
        assert dtype.min <= raw.min() and raw.max() <= dtype.max
    if dtype.signed:
        assert min(case["expected"]) < 0


@pytest.fixture(scope="module")
def bundles(sim_root: Path):
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            build = sim_root / f"network-{name}"
            write_sim_bundle(quantized_network(name), build, vectors=4, seed=1, source=f"{name}.onnx",
                             network_vectors=12)
            cache[name] = build
        return cache[name]

    return get


NETWORK_KINDS = {
    "pool-dense": ["kernel", "avgpool", "reorder", "kernel"],
    "global-dense": ["kernel", "globalavg", "kernel"],
    "residual-global": ["kernel", "fork", "kernel", "add", "globalavg", "kernel"],
}


@pytest.mark.parametrize("name", sorted(NETWORK_KINDS))
def test_average_network_timed_and_backpressure(name: str, bundles, capsys) -> None:
    build = bundles(name)
    plan, timing, _ = load_network(build)
    assert [s.kind for s in plan.stages] == NETWORK_KINDS[name]
    average = next(s for s in plan.stages if s.kind in ("avgpool", "globalavg"))
    assert average.in_type.signed == (name == "global-dense")  # the conv without ReLU streams signed values
    start = time.monotonic()
    case = replay_and_check_network(build)
    assert len(set(case["expected"])) > 2  # not a constant output
    with capsys.disabled():
        print(f"\n{name}: interval {timing.interval}, FIFO depths {list(timing.fifo_depths)}, last beat at "
              f"cycle {case['expected_cycles'][-1]}, replay {time.monotonic() - start:.1f} s")


def test_network_json_round_trips_the_requantiser(bundles) -> None:
    build = bundles("global-dense")
    plan, _, _ = load_network(build)
    description = json.loads((build / "rtl" / "network.json").read_text(encoding="utf-8"))
    assert description["plan"] == plan.to_dict()
    stage = next(s for s in description["plan"]["stages"] if s["kind"] == "globalavg")
    assert stage["frame"] == [4, 4, 4] and stage["requant"] == list(requant_params(1 / 16))
    assert np.all([("requant" in s) == (s["kind"] == "globalavg") for s in description["plan"]["stages"]])

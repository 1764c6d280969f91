"""HardSigmoid and HardSwish as stream stages of the network top, in Verilator. The stage alone (the
kernel testbench ``stream_tb``) on every input code (a sweep of the whole input range, then edge and
random vectors), with integers from ``hwprune.quant.hard_act`` whose gate saturates at 0 and at its
maximum (and a HardSwish whose output saturates): values must equal ``run_integer``, cycles the
elementwise model (rule 15, ``hwprune.lower.stage_cycles``) under back-to-back, gapped and late input,
and the backpressure replay must lose or duplicate nothing. Then a torch-built conv → HardSwish → conv
→ HardSigmoid → Flatten → Linear network through PTQ, lowering and the bundle writer, ``timed`` and
``backpressure`` on its top."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hwprune.backends.rtl.elementwise import HardActivationStage
from hwprune.backends.rtl.emit import KERNEL_PORTS
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType
from hwprune.lower.stage_cycles import ElementwiseModel
from hwprune.quant.hard_act import hard_sigmoid_params, hard_swish_params
from hwprune.quant.reference import run_integer
from hwprune.sim.bundle import write_sim_bundle
from hwprune.sim.golden import make_case, source_arrivals, write_case
from hwprune.sim.network import load_network
from hwprune.sim.rtl_runner import build_design, run_case

from network_cases import emit_stage, replay_and_check_network, frames

pytestmark = pytest.mark.sim

U8, S8 = IntType(8, False), IntType(8, True)
BEATS = 256

CASES = {
    # (op, input type, output type, the node's integers)
    "hardsigmoid-s8": ("HardSigmoid", S8, U8, {"alpha": 1 / 6, "beta": 0.5,
                                               **hard_sigmoid_params(0.05, 1 / 6, 0.5, 8)}),
    # ONNX's default alpha on unsigned input, a negative offset (-100)
    "hardsigmoid-u8-onnx-alpha": ("HardSigmoid", U8, U8, {"alpha": 0.2, "beta": -1.0,
                                                          **hard_sigmoid_params(0.05, 0.2, -1.0, 8)}),
    "hardswish-s8": ("HardSwish", S8, S8, hard_swish_params(0.05, 0.03, 8)),
}
KEYS = {"HardSigmoid": ("offset", "requant_mult", "requant_shift"),
        "HardSwish": ("gate_offset", "gate_mult", "gate_shift", "requant_mult", "requant_shift")}


def _graph(op: str, tin: IntType, tout: IntType, attrs: dict) -> Graph:
    graph = Graph(op.lower(), ["x"], ["y"], {"x": Tensor("x", [1, BEATS], tin, scale=[1.0]),
                                             "y": Tensor("y", [1, BEATS], tout, scale=[1.0])},
                  [Node(op.lower(), op, ["x"], ["y"], dict(attrs))])
    graph.verify()
    return graph


def _gate(x: np.ndarray, offset: int, mult: int, shift: int, high: int) -> np.ndarray:
    return np.clip(((x + offset) * mult + (1 << (shift - 1))) >> shift, 0, high)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hard_activation_stage(name: str, sim_root: Path) -> None:
    op, tin, tout, attrs = CASES[name]
    graph = _graph(op, tin, tout, attrs)
    sweep = np.resize(np.arange(tin.min, tin.max + 1), BEATS)[None, :]
    x = np.concatenate([sweep, frames([BEATS], tin, 12, seed=len(name))]).astype(np.int64)
    y = run_integer(graph, {"x": x})["y"]
    arrivals, cycles = source_arrivals(ElementwiseModel(BEATS), x.shape[0], BEATS, len(name))
    case = make_case(name, "", KERNEL_PORTS, tin.bits, tin.signed, tout.bits, tout.signed, x.reshape(-1),
                     arrivals, y.reshape(-1), cycles, 0.6, len(name))
    requant = tuple(int(attrs[k][0] if isinstance(attrs[k], list) else attrs[k]) for k in KEYS[op])
    where = sim_root / f"stage-{name}"
    top = name.replace("-", "_")
    stage = HardActivationStage(op.lower(), tin, tout, requant)
    build_design([emit_stage(stage, top, where / "rtl")], top, where / "obj")  # type: ignore[arg-type]
    result = run_case(write_case(case, where / "hard.case.json"), top, where / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-2000:]
    assert result.measured_cycles() == case["expected_cycles"]
    gate = _gate(sweep[0], *requant[:3], (1 << tout.bits) - 1)
    assert gate.min() == 0 and gate.max() == (1 << tout.bits) - 1  # the gate's clamp is reached at both ends
    if op == "HardSwish":
        raw = (sweep[0] * gate * requant[3] + (1 << (requant[4] - 1))) >> requant[4]
        assert raw.max() > tout.max and tout.max in y and y.min() < 0  # saturates at the top; negative dip


class HardNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.body = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Hardswish(), nn.Conv2d(3, 3, 1),
                                  nn.Hardsigmoid(), nn.Flatten(), nn.Linear(3 * 4 * 4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_hard_activation_network_timed_and_backpressure(sim_root: Path) -> None:
    from hwprune.frontend import import_torch
    from hwprune.quant import quantize_graph

    torch.manual_seed(0)
    graph = import_torch(HardNet().eval(), torch.randn(1, 2, 4, 4), name="hardnet")
    calibration = np.random.default_rng(0).normal(size=(64, 2, 4, 4)).astype(np.float32)
    q = quantize_graph(graph, {graph.inputs[0]: calibration})
    build = sim_root / "network-hardnet"
    write_sim_bundle(q, build, vectors=4, seed=1, source="hardnet.onnx", network_vectors=12)
    plan, _, _ = load_network(build)
    assert [s.kind for s in plan.stages] == ["kernel", "hardswish", "kernel", "hardsigmoid", "reorder", "kernel"]
    assert plan.stages[3].out_type == U8 and plan.stages[1].out_type == S8
    replay_and_check_network(build)

"""The network top of a graph that branches and merges: a torch-built mini ResNet (conv3x3-ReLU-conv3x3
with an identity shortcut, Add, ReLU; then a block with a 1x1-conv shortcut; flatten, Linear) through
PTQ, lowering and the bundle writer, then in Verilator: ``timed`` (values against the integer
reference of the whole graph, every ``m_axis`` beat and ``s_axis`` accept against the network cycle
model) and ``backpressure`` (random sink ready: nothing lost or duplicated). Plus the skip FIFO's
sizing on the model: the depth the model gives is what the long path's latency needs, one less and
the model says the FIFO fills (the fork would stall)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hwprune.frontend import import_torch
from hwprune.lower.lowering import lower_graph
from hwprune.lower.network_cycles import NetworkTiming, network_schedule, network_timing
from hwprune.lower.network_plan import plan_network
from hwprune.quant import quantize_graph
from hwprune.sim.bundle import write_sim_bundle
from hwprune.sim.golden import read_case
from hwprune.sim.network import NETWORK_CASE, load_network, network_case, network_stimulus, replay_network

pytestmark = pytest.mark.sim

VECTORS = 16


class MiniResNet(torch.nn.Module):
    """Two residual blocks (identity shortcut, then a 1x1-conv shortcut) on a 2×5×5 input."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU())
        self.body1 = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        self.body2 = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1))
        self.short2 = nn.Conv2d(4, 6, 1)
        self.fc = nn.Linear(6 * 5 * 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.relu(x + self.body1(x))
        x = torch.relu(self.short2(x) + self.body2(x))
        return self.fc(x.flatten(1))


def _quantized():
    torch.manual_seed(0)
    model = MiniResNet().eval()
    graph = import_torch(model, torch.randn(1, 2, 5, 5), name="miniresnet")
    feeds = {graph.inputs[0]: np.random.default_rng(0).normal(size=(64, 2, 5, 5)).astype(np.float32)}
    return quantize_graph(graph, feeds)


@pytest.fixture(scope="module")
def bundle(sim_root: Path) -> Path:
    build = sim_root / "network-miniresnet"
    write_sim_bundle(_quantized(), build, vectors=4, seed=1, source="miniresnet.onnx", network_vectors=VECTORS)
    return build


def test_plan_has_forks_adds_and_round_trips(bundle: Path) -> None:
    plan, timing, entry = load_network(bundle)
    kinds = [s.kind for s in plan.stages]
    assert kinds.count("fork") == 2 and kinds.count("add") == 2
    assert [s.merge.relu for s in plan.stages if s.kind == "add"] == [True, True]  # type: ignore[union-attr]
    assert len(timing.fifo_depths) == len(plan.links()) == len(entry["fifo_depths"])
    description = json.loads((bundle / "rtl" / "network.json").read_text(encoding="utf-8"))
    assert description["plan"] == plan.to_dict()


def test_residual_top_timed_and_backpressure(bundle: Path) -> None:
    """Values, cycles (every output beat and input accept) and backpressure on one Verilator build."""
    result = replay_network(bundle, bundle / "sim" / NETWORK_CASE, ("timed", "backpressure"))
    assert result.passed, result.log
    case = read_case(bundle / "sim" / NETWORK_CASE)
    trace = json.loads(result.trace.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert [c for c, _ in trace["timed"]["beats"]] == case["expected_cycles"]
    assert [v for _, v in trace["timed"]["beats"]] == case["expected"]
    assert [v for _, v in trace["backpressure"]["beats"]] == case["expected"]


def _skip_links(plan) -> list[int]:
    """Links from a fork's port straight into an add: the skip paths."""
    return [i for i, (src, _, dst, _) in enumerate(plan.links())
            if plan.stages[src].kind == "fork" and plan.stages[dst].kind == "add"]


def test_skip_fifo_holds_the_long_path_and_one_less_stalls() -> None:
    """The identity shortcut's FIFO must hold every beat the fork wrote before the add, at the end of
    the long path, takes it: the model's depth is exactly that need; with one entry less the model
    says the FIFO fills, so the fork (and with it the long path) would stall."""
    q = _quantized()
    plan = plan_network(q, lower_graph(q), "deadlock_top")
    timing = network_timing(plan)
    skips = _skip_links(plan)
    assert len(skips) == 1  # the second block's shortcut is a conv, not a direct skip
    skip = skips[0]
    arrivals = [[0] * plan.in_beats for _ in range(6)]
    needs = network_schedule(plan, timing, arrivals).fifo_needs()
    assert timing.fifo_depths[skip] == needs[skip] > 8  # the long path's latency in beats
    inputs = network_stimulus(plan, 6, 0)
    network_case(plan, timing, inputs, None, arrivals=arrivals)  # the model's depths are enough
    smaller = list(timing.fifo_depths)
    smaller[skip] -= 1
    with pytest.raises(ValueError, match=f"FIFO {skip} would need"):
        network_case(plan, NetworkTiming(timing.interval, tuple(smaller)), inputs, None, arrivals=arrivals)

"""Average pooling in the network plan (pure Python): which stage kind each AveragePool and
GlobalAveragePool becomes in chain and graph plans, the requantiser's (M, sh) carried into
``network.json`` and back, what the planner refuses, the stage models (the windowed average is the
max pool's model, rules 7-9; the global one rule 14, checked on hand-computed cycles), and the resource
estimates (one multiplier; a global average keeps C sums, not the frame a window reader would)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwprune.frontend import import_torch
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.lower.lowering import lower_graph
from hwprune.lower.network_cycles import isolated_interval, stage_model
from hwprune.lower.network_plan import NetworkPlan, NetworkUnsupported, StagePlan, plan_network
from hwprune.lower.network_resources import glue_breakdown
from hwprune.lower.network_types import average_sum_bits
from hwprune.lower.stage_cycles import GlobalAverageModel, PoolModel
from hwprune.quant import quantize_graph
from hwprune.quant.requant import requant_params

nn = torch.nn
U8, S8 = IntType(8, False), IntType(8, True)


class _Net(nn.Module):
    def __init__(self, pool: nn.Module, flat: int, residual: bool = False) -> None:
        super().__init__()
        self.conv, self.pool, self.residual = nn.Conv2d(2, 3, 3, padding=1), pool, residual
        self.body = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(flat, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        if self.residual:
            x = torch.relu(x + self.body(x))
        return self.fc(self.pool(x).flatten(1))


def _plan(pool: nn.Module, flat: int, residual: bool = False):
    torch.manual_seed(0)
    graph = import_torch(_Net(pool, flat, residual).eval(), torch.randn(1, 2, 4, 6), name="avg")
    calibration = np.random.default_rng(0).normal(size=(16, 2, 4, 6)).astype(np.float32)
    q = quantize_graph(graph, {graph.inputs[0]: calibration})
    return q, plan_network(q, lower_graph(q), "avg_top")


def _node(q, op: str) -> Node:
    return next(n for n in q.nodes if n.op == op)


def test_windowed_average_is_an_avgpool_stage_with_the_node_requantiser() -> None:
    q, plan = _plan(nn.AvgPool2d(2, 2), 3 * 2 * 3)
    assert [s.kind for s in plan.stages] == ["kernel", "avgpool", "reorder", "kernel"]
    stage, node = plan.stages[1], _node(q, "AveragePool")
    assert stage.requant == (node.attrs["requant_mult"][0], node.attrs["requant_shift"][0])
    assert stage.requant == requant_params(1 / 4)
    assert stage.window == ConvGeometry(3, 4, 6, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, 2, 3)
    assert stage.in_type == stage.out_type == U8 and (stage.in_beats, stage.out_beats) == (72, 18)
    assert NetworkPlan.from_dict(plan.to_dict()).to_dict() == plan.to_dict()


def test_whole_frame_windows_are_globalavg_stages() -> None:
    """GlobalAveragePool, and an AveragePool whose one unpadded window is the whole frame (DS-CNN's
    AvgPool2d((25, 5)) tail), both become per-channel accumulators; the Flatten after them is free."""
    for pool in (nn.AdaptiveAvgPool2d(1), nn.AvgPool2d((4, 6))):
        q, plan = _plan(pool, 3)
        assert [s.kind for s in plan.stages] == ["kernel", "globalavg", "kernel"]
        stage = plan.stages[1]
        assert stage.frame == (3, 4, 6) and stage.window is None and stage.requant == requant_params(1 / 24)
        assert (stage.in_beats, stage.out_beats) == (72, 3)
        assert NetworkPlan.from_dict(plan.to_dict()).to_dict() == plan.to_dict()


def test_graph_plan_takes_a_global_average_after_a_residual_add() -> None:
    _, plan = _plan(nn.AdaptiveAvgPool2d(1), 3, residual=True)
    assert not plan.is_chain
    kinds = [s.kind for s in plan.stages]
    assert kinds == ["kernel", "fork", "kernel", "add", "globalavg", "kernel"]
    assert plan.stages[4].sources == ((3, 0),) and plan.stages[5].sources == ((4, 0),)
    assert NetworkPlan.from_dict(plan.to_dict()).to_dict() == plan.to_dict()


def _one_pool(attrs: dict, out_hw: tuple[int, int], requant: bool = True) -> Graph:
    extra = {"requant_mult": [16384], "requant_shift": [16]} if requant else {}
    graph = Graph("p", ["x"], ["y"], {"x": Tensor("x", [1, 2, 5, 5], U8, scale=[1.0]),
                                      "y": Tensor("y", [1, 2, *out_hw], U8, scale=[1.0])},
                  [Node("pool", "AveragePool", ["x"], ["y"], {**attrs, **extra})])
    graph.verify()
    return graph


def test_planner_refuses_averages_the_stage_cannot_divide() -> None:
    base = {"kernel": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0], "ceil_mode": 0, "count_include_pad": 0}
    plan = plan_network(_one_pool(base, (2, 2)), [], "p_top")
    assert [s.kind for s in plan.stages] == ["avgpool"]  # no pads: count_include_pad does not matter
    with pytest.raises(NetworkUnsupported, match=r"node 'pool' \(AveragePool\): average pooling whose divisor"):
        plan_network(_one_pool({**base, "ceil_mode": 1}, (3, 3)), [], "p_top")
    with pytest.raises(NetworkUnsupported, match="pads without count_include_pad"):
        plan_network(_one_pool({**base, "pads": [1, 1, 1, 1]}, (3, 3)), [], "p_top")
    with pytest.raises(NetworkUnsupported, match="without its requantiser"):
        plan_network(_one_pool(base, (2, 2), requant=False), [], "p_top")


def test_stage_plan_checks_its_requantiser() -> None:
    window = ConvGeometry(1, 2, 2, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, 1, 1)
    with pytest.raises(ValueError, match=r"a avgpool stage needs 2 requant integers, not None"):
        StagePlan("avgpool", "p", "p", U8, U8, 4, 1, window=window)
    with pytest.raises(ValueError, match="a globalavg stage needs its geometry"):
        StagePlan("globalavg", "p", "p", U8, U8, 4, 1, requant=(1, 2))
    with pytest.raises(ValueError, match=r"a maxpool stage takes no requant integers, not \(1, 2\)"):
        StagePlan("maxpool", "p", "p", U8, U8, 4, 1, window=window, requant=(1, 2))
    maxpool = StagePlan("maxpool", "p", "p", U8, U8, 4, 1, window=window)
    assert "requant" not in maxpool.to_dict()  # plans without averages serialise as before
    average = StagePlan("globalavg", "g", "g", S8, S8, 4, 1, frame=(1, 2, 2), requant=(16384, 16))
    assert average.to_dict()["requant"] == [16384, 16] and StagePlan.from_dict(average.to_dict()) == average


def test_global_average_model_rule_14_by_hand() -> None:
    """(C, H, W) = (2, 1, 2): beats (p0 c0, p0 c1, p1 c0, p1 c1); channel c leaves the cycle after the
    last pixel's beat of channel c is accepted; beats are accepted as they arrive, one per cycle."""
    model = GlobalAverageModel(2, 1, 2)
    assert model.push([0, 0, 0, 0])[:2] == ([0, 1, 2, 3], [3, 4])
    assert model.next_ready == 4
    assert model.push([0, 0, 0, 0])[:2] == ([4, 5, 6, 7], [7, 8])  # the next frame follows at once
    assert model.push([10, 10, 20, 20])[:2] == ([10, 11, 20, 21], [21, 22])  # a gap delays only what waits
    with pytest.raises(ValueError, match="a frame has 4 beats, not 3"):
        model.push([0, 0, 0])
    with pytest.raises(ValueError, match="channels must be a positive integer, not 0"):
        GlobalAverageModel(0, 1, 1)


def test_stage_models_and_intervals() -> None:
    window = ConvGeometry(3, 4, 6, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, 2, 3)
    average = StagePlan("avgpool", "a", "a", U8, U8, 72, 18, window=window, requant=(16384, 16))
    maximum = StagePlan("maxpool", "m", "m", U8, U8, 72, 18, window=window)
    assert isinstance(stage_model(average), PoolModel)
    arrival = [0] * 72
    assert stage_model(average).push(arrival) == stage_model(maximum).push(arrival)  # rules 7-9 unchanged
    gap = StagePlan("globalavg", "g", "g", U8, U8, 72, 3, frame=(3, 4, 6), requant=(16384, 16))
    assert isinstance(stage_model(gap), GlobalAverageModel)
    assert isolated_interval(gap) == 72  # one beat per cycle, nothing to wait on


def test_sum_width() -> None:
    assert average_sum_bits(U8, 4, 16384, 16) == 8 + 2 + 1
    assert average_sum_bits(S8, 125, 16777, 21) == 8 + 7 + 1  # DS-CNN's 25×5 frame
    assert average_sum_bits(U8, 1, 1, 30) == 30  # widened: the rounding constant 2^29 must fit the product


def test_resources_of_average_stages() -> None:
    """A windowed average has the max pool's row buffer plus the requantiser (a DSP unless M is a
    power of two, as for 2×2: a shift); a global average of DS-CNN's 64×25×5 tail keeps 64 sums of 16
    bits (16 LUTs of single-port LUTRAM) where a window reader would keep the whole 8,000-word frame."""
    window = ConvGeometry(3, 4, 6, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, 2, 3)
    stages = (StagePlan("maxpool", "m", "m", U8, U8, 72, 18, window=window),
              StagePlan("avgpool", "a", "a", U8, U8, 72, 18, window=window, requant=requant_params(1 / 4)),
              StagePlan("avgpool", "b", "b", U8, U8, 72, 18, window=window, requant=requant_params(1 / 3)))
    mx, av, odd = (glue_breakdown(NetworkPlan("t", "x", "y", (3, 4, 6), (3, 2, 3), (s,)), 72)[s.ident]
                   for s in stages)
    assert av.lutram == mx.lutram == odd.lutram > 0 and (mx.dsp, av.dsp, odd.dsp) == (0, 0, 1)
    assert av.lut > mx.lut  # the sum is wider than the maximum
    requant = requant_params(1 / 125)
    tail = ConvGeometry(64, 25, 5, (25, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, 1)
    g = StagePlan("globalavg", "g", "g", S8, S8, 8000, 64, frame=(64, 25, 5), requant=requant)
    w = StagePlan("avgpool", "w", "w", S8, S8, 8000, 64, window=tail, requant=requant)
    ge, we = (glue_breakdown(NetworkPlan("t", "x", "y", (64, 25, 5), (64, 1, 1), (s,)), 8000)[s.ident]
              for s in (g, w))
    assert ge.dsp == we.dsp == 1
    assert ge.lutram == 16 and ge.lutram * 50 < we.lutram

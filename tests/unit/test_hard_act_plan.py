# amaranth: UnusedElaboratable=no
"""HardSigmoid and HardSwish in the network plan (pure Python): the stage kinds and the integers of
``hwprune.quant.hard_act`` they carry into ``network.json`` and back, what the planner refuses, the
elementwise cycle model (rule 15, by hand), the resource estimates, and the argument checks of the RTL
stages (hard activations and averages; the file's first line keeps Amaranth quiet about the
components those checks refuse)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwprune.backends.rtl.avgpool import AveragePoolStage, GlobalAverageStage
from hwprune.backends.rtl.elementwise import HardActivationStage
from hwprune.frontend import import_torch
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.lower.lowering import lower_graph
from hwprune.lower.network_cycles import isolated_interval, stage_model
from hwprune.lower.network_plan import NetworkPlan, NetworkUnsupported, StagePlan, plan_network
from hwprune.lower.network_resources import glue_breakdown
from hwprune.lower.stage_cycles import ElementwiseModel
from hwprune.quant import quantize_graph

nn = torch.nn
U8, S8 = IntType(8, False), IntType(8, True)


def _quantized():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Hardswish(), nn.Conv2d(3, 3, 1), nn.Hardsigmoid(),
                          nn.Flatten(), nn.Linear(3 * 4 * 4, 3)).eval()
    graph = import_torch(model, torch.randn(1, 2, 4, 4), name="hard")
    calibration = np.random.default_rng(0).normal(size=(16, 2, 4, 4)).astype(np.float32)
    return quantize_graph(graph, {graph.inputs[0]: calibration})


def test_hard_activations_are_elementwise_stages_with_the_node_integers() -> None:
    q = _quantized()
    plan = plan_network(q, lower_graph(q), "hard_top")
    assert [s.kind for s in plan.stages] == ["kernel", "hardswish", "kernel", "hardsigmoid", "reorder", "kernel"]
    swish, sigmoid = plan.stages[1], plan.stages[3]
    a = next(n for n in q.nodes if n.op == "HardSwish").attrs
    assert swish.requant == (a["gate_offset"], a["gate_mult"][0], a["gate_shift"][0], a["requant_mult"][0],
                             a["requant_shift"][0])
    a = next(n for n in q.nodes if n.op == "HardSigmoid").attrs
    assert sigmoid.requant == (a["offset"], a["requant_mult"][0], a["requant_shift"][0])
    assert (sigmoid.in_type, sigmoid.out_type) == (S8, U8) and sigmoid.in_beats == sigmoid.out_beats == 48
    assert NetworkPlan.from_dict(plan.to_dict()).to_dict() == plan.to_dict()


def test_planner_refuses_an_unquantized_hard_activation() -> None:
    graph = Graph("h", ["x"], ["y"], {"x": Tensor("x", [1, 8], S8, scale=[1.0]), "y": Tensor("y", [1, 8], U8, scale=[1.0])},
                  [Node("hs", "HardSigmoid", ["x"], ["y"], {"alpha": 0.2, "beta": 0.5})])
    graph.verify()
    with pytest.raises(NetworkUnsupported, match=r"node 'hs' \(HardSigmoid\): a hard activation without its integers"):
        plan_network(graph, [], "h_top")


def test_stage_plan_sizes_the_integers() -> None:
    with pytest.raises(ValueError, match=r"a hardswish stage needs 5 requant integers, not \(1, 2, 3\)"):
        StagePlan("hardswish", "h", "h", S8, S8, 8, 8, requant=(1, 2, 3))
    stage = StagePlan("hardsigmoid", "h", "h", S8, U8, 8, 8, requant=(60, 17408, 13))
    assert StagePlan.from_dict(stage.to_dict()) == stage


def test_elementwise_model_rule_15_by_hand() -> None:
    model = ElementwiseModel(3)
    assert model.push([0, 0, 0])[:2] == ([0, 1, 2], [1, 2, 3])
    assert model.push([0, 9, 9])[:2] == ([3, 9, 10], [4, 10, 11])  # the next vector follows at once; gaps wait
    assert model.next_ready == 11
    stage = StagePlan("hardswish", "h", "h", S8, S8, 48, 48, requant=(60, 17408, 13, 27414, 22))
    assert isinstance(stage_model(stage), ElementwiseModel) and isolated_interval(stage) == 48


def test_resources_of_hard_activations() -> None:
    stages = (StagePlan("hardsigmoid", "a", "a", S8, U8, 8, 8, requant=(60, 17408, 13)),
              StagePlan("hardswish", "b", "b", S8, S8, 8, 8, requant=(60, 17408, 13, 27414, 22)))
    parts = glue_breakdown(NetworkPlan("t", "x", "y", (8,), (8,), stages), 8)
    assert (parts["a"].dsp, parts["b"].dsp) == (1, 3)
    assert parts["a"].lutram == parts["b"].lutram == 0 and 0 < parts["a"].lut < parts["b"].lut


def test_rtl_stages_check_their_arguments() -> None:
    with pytest.raises(ValueError, match=r"a hardswish stage needs 5 integers, not \(1, 2, 3\)"):
        HardActivationStage("hardswish", S8, S8, (1, 2, 3))
    with pytest.raises(ValueError, match=r"requantiser \(M=0, sh=3\) needs M >= 1 and sh >= 1"):
        HardActivationStage("hardsigmoid", S8, U8, (4, 0, 3))
    with pytest.raises(ValueError, match=r"requantiser \(M=5, sh=0\) needs M >= 1 and sh >= 1"):
        HardActivationStage("hardswish", S8, S8, (4, 1, 3, 5, 0))
    with pytest.raises(ValueError, match="kind must be 'hardsigmoid' or 'hardswish', not 'relu'"):
        HardActivationStage("relu", S8, U8, (4, 1, 3))
    window = ConvGeometry(1, 4, 4, (2, 2), (2, 2), (0, 0, 0, 0), (2, 2), 1, 2, 2)
    with pytest.raises(ValueError, match="average pooling takes no groups and no dilation"):
        AveragePoolStage(window, U8, U8, 16384, 16)
    with pytest.raises(ValueError, match="shift must be an integer of at least 1, not 0"):
        GlobalAverageStage((1, 2, 2), U8, U8, 16384, 0)
    with pytest.raises(ValueError, match="mult must be a positive integer, not 0"):
        GlobalAverageStage((1, 2, 2), U8, U8, 0, 16)
    with pytest.raises(ValueError, match="height must be a positive integer, not 0"):
        GlobalAverageStage((1, 0, 2), U8, U8, 16384, 16)

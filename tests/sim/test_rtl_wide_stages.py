"""Wide stream stages (``StagePlan.width`` = m elements per beat) in Verilator: HardSigmoid, HardSwish and
a table at m = 2, 4, 8, global average pooling at m = 2, 4, a fork into a concat (m = 2), an add with a
ReLU whose inputs differ (a fork, a HardSigmoid on one branch, m = 4) and a requantising concat at m = 8,
each as the only stream stages of a hand-built network top (a fork and a merge have several ports, so
the top's FIFOs and AXI ports are their bench). Values must equal ``run_integer`` of the same ops on edge,
sweep and random vectors; every ``m_axis`` beat and ``s_axis`` accept must equal the network cycle model
(rules 13-15 in beats of m) under input gaps; the backpressure replay must lose nothing; and one wrong
expectation per kind (two lanes swapped, a late output beat, a late accept) must fail the bench. Then a
network of dense kernels with ``in_simd``/``out_pe`` 4 around a fork, an add and a HardSigmoid of width 4,
built from a torch model and widened with ``dataclasses.replace``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hwprune.ir.graph import Node
from hwprune.ir.types import IntType
from hwprune.lower.network_plan import NetworkPlan
from hwprune.lower.network_types import MergeSpec, StagePlan
from hwprune.quant.hard_act import hard_sigmoid_params, hard_swish_params
from hwprune.quant.requant import requant_params

from wide_stage_cases import graph_of, run_checked

pytestmark = pytest.mark.sim

U8, S8 = IntType(8, False), IntType(8, True)
VECTORS = 12
N = 256  # elements of an elementwise vector: every input code once in the sweep vector


def _requant(attrs: dict, keys: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(int(attrs[k][0] if isinstance(attrs[k], list) else attrs[k]) for k in keys)


HARD = {"HardSigmoid": ("offset", "requant_mult", "requant_shift"),
        "HardSwish": ("gate_offset", "gate_mult", "gate_shift", "requant_mult", "requant_shift")}
TABLE = tuple(int(v) for v in np.random.default_rng(5).integers(0, 256, size=256))  # lanes must not agree

ELEMENTWISE = {
    # (op, in, out, node attributes, width, mutation)
    "hardsigmoid-m2": ("HardSigmoid", S8, U8, {"alpha": 1 / 6, "beta": 0.5, **hard_sigmoid_params(0.05, 1 / 6, 0.5, 8)},
                       2, "lanes"),
    "hardswish-m4": ("HardSwish", S8, S8, hard_swish_params(0.05, 0.03, 8), 4, "cycle"),
    "table-m8": ("Sigmoid", S8, U8, {"table": list(TABLE)}, 8, "accept"),
    "table-m4-u8": ("Tanh", U8, U8, {"table": list(TABLE)}, 4, None),
    "hardsigmoid-m4-u8": ("HardSigmoid", U8, U8, {"alpha": 0.2, "beta": -1.0, **hard_sigmoid_params(0.05, 0.2, -1.0, 8)},
                          4, None),
}
FAST_ELEMENTWISE = ("hardsigmoid-m2", "hardswish-m4", "table-m8")


def _elementwise_plan(op: str, tin: IntType, tout: IntType, attrs: dict, width: int, top: str) -> NetworkPlan:
    kind = {"HardSigmoid": "hardsigmoid", "HardSwish": "hardswish"}.get(op, "lut")
    requant = tuple(attrs["table"]) if kind == "lut" else _requant(attrs, HARD[op])
    stage = StagePlan(kind, op, f"stage_{kind}", tin, tout, N // width, N // width, requant=requant, width=width)
    return NetworkPlan(top, "x", "y", (N,), (N,), (stage,))


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST_ELEMENTWISE else pytest.mark.exhaustive)
                                  for n in sorted(ELEMENTWISE)])
def test_wide_elementwise_stage(name: str, sim_root: Path) -> None:
    op, tin, tout, attrs, width, mutation = ELEMENTWISE[name]
    top = "wide_" + name.replace("-", "_")
    graph = graph_of(top, {"x": ([1, N], tin), "y": ([1, N], tout)}, [Node("act", op, ["x"], ["y"], dict(attrs))])
    plan = _elementwise_plan(op, tin, tout, attrs, width, top)
    case = run_checked(plan, graph, sim_root / top, VECTORS, seed=len(name), mutation=mutation)
    assert case["elements"]["in"][0] == case["elements"]["out"][0] == width


GLOBAL = {
    # (C, H, W, type, (M, sh), width, mutation)
    "gap-c8-3x4-m2-u8": (8, 3, 4, U8, requant_params(1 / 12), 2, "lanes"),
    # half the frame's sum: saturates at both ends on the edge frames
    "gap-sat-c8-3x3-m4-s8": (8, 3, 3, S8, requant_params(1 / 3), 4, "cycle"),
    "gap-c8-2x2-m8-s8": (8, 2, 2, S8, requant_params(1 / 4), 8, None),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if "m8" not in n else pytest.mark.exhaustive)
                                  for n in sorted(GLOBAL)])
def test_wide_global_average_stage(name: str, sim_root: Path) -> None:
    c, h, w, dtype, (mult, shift), width, mutation = GLOBAL[name]
    top = "wide_" + name.replace("-", "_")
    attrs = {"requant_mult": [mult], "requant_shift": [shift]}
    graph = graph_of(top, {"x": ([1, c, h, w], dtype), "y": ([1, c, 1, 1], dtype)},
                     [Node("gap", "GlobalAveragePool", ["x"], ["y"], attrs)])
    stage = StagePlan("globalavg", "gap", "stage_gap", dtype, dtype, c * h * w // width, c // width,
                      frame=(c, h, w), requant=(mult, shift), width=width)
    plan = NetworkPlan(top, "x", "y", (c, h, w), (c, 1, 1), (stage,))
    case = run_checked(plan, graph, sim_root / top, VECTORS, seed=len(name), mutation=mutation)
    if "sat" in name:
        values = np.asarray([((int(word) >> (8 * j)) & 0xFF) for word in case["expected"] for j in range(width)])
        assert 0x7F in values and 0x80 in values  # +127 and -128 both reached


def _fork(t: IntType, beats: int, width: int) -> StagePlan:
    return StagePlan("fork", "x/fork", "stage_x_fork", t, t, beats, beats, sources=((-1, 0),),
                     merge=MergeSpec((t,), (beats,), fanout=2), width=width)


def test_wide_fork_into_concat(sim_root: Path) -> None:
    """A fork of width 2 into a concat of the two copies (chunks of 4 channels: 2 beats each)."""
    c, h, w, width = 4, 3, 3, 2
    beats = c * h * w // width
    top = "wide_fork_concat_m2"
    graph = graph_of(top, {"x": ([1, c, h, w], S8), "y": ([1, 2 * c, h, w], S8)},
                     [Node("cat", "Concat", ["x", "x"], ["y"], {"axis": 1})])
    concat = StagePlan("concat", "cat", "stage_cat", S8, S8, beats, 2 * beats, sources=((0, 0), (0, 1)),
                       merge=MergeSpec((S8, S8), (beats, beats), chunks=(c, c)), width=width)
    plan = NetworkPlan(top, "x", "y", (c, h, w), (2 * c, h, w), (_fork(S8, beats, width), concat))
    run_checked(plan, graph, sim_root / top, VECTORS, seed=3, mutation="lanes")


def _branchy(kind: str, c: int, h: int, w: int, width: int, top: str) -> tuple[NetworkPlan, object]:
    """x → fork; port 0 → HardSigmoid (U8) → merge port 0; port 1 → merge port 1 (S8): the merge's two
    inputs differ, so a lane taken from the wrong input or position shows."""
    beats = c * h * w // width
    hs = hard_sigmoid_params(0.05, 1 / 6, 0.5, 8)
    hsig = StagePlan("hardsigmoid", "hs", "stage_hs", S8, U8, beats, beats, sources=((0, 0),),
                     requant=_requant(hs, HARD["HardSigmoid"]), width=width)
    mults, shift = ((3000, 5000) if kind == "add" else (5000, 9000)), 13  # both saturate at +127
    attrs: dict = {"requant_mult": list(mults), "requant_shift": [shift]}
    if kind == "add":
        attrs["activation"] = "relu"
        merge = StagePlan("add", "merge", "stage_merge", U8, S8, beats, beats, sources=((1, 0), (0, 1)),
                          merge=MergeSpec((U8, S8), (beats, beats), mults=mults, shift=shift, relu=True), width=width)
        out_c = c
    else:
        attrs["axis"] = 1
        merge = StagePlan("concat", "merge", "stage_merge", U8, S8, beats, 2 * beats, sources=((1, 0), (0, 1)),
                          merge=MergeSpec((U8, S8), (beats, beats), mults=mults, shift=shift, chunks=(c, c)),
                          width=width)
        out_c = 2 * c
    graph = graph_of(top, {"x": ([1, c, h, w], S8), "h": ([1, c, h, w], U8), "y": ([1, out_c, h, w], S8)},
                     [Node("hs", "HardSigmoid", ["x"], ["h"], {"alpha": 1 / 6, "beta": 0.5, **hs}),
                      Node("merge", "Add" if kind == "add" else "Concat", ["h", "x"], ["y"], attrs)])
    plan = NetworkPlan(top, "x", "y", (c, h, w), (out_c, h, w), (_fork(S8, beats, width), hsig, merge))
    return plan, graph


@pytest.mark.parametrize("kind, width, mutation", [("add", 4, "lanes"), ("concat", 8, "cycle"),
                                                   pytest.param("add", 2, None, marks=pytest.mark.exhaustive)])
def test_wide_merge_of_two_branches(kind: str, width: int, mutation: str | None, sim_root: Path) -> None:
    top = f"wide_{kind}_m{width}"
    plan, graph = _branchy(kind, 8, 2, 3, width, top)
    case = run_checked(plan, graph, sim_root / top, VECTORS, seed=width, mutation=mutation)  # type: ignore[arg-type]
    values = [(int(word) >> (8 * j)) & 0xFF for word in case["expected"] for j in range(width)]
    assert 0x7F in values  # the requantiser saturates
    if kind == "add":
        assert 0x80 not in values and 0 in values  # the ReLU clamps at 0, never below


def _widened(plan: NetworkPlan, width: int) -> NetworkPlan:
    """Every dense kernel with ``in_simd`` = ``out_pe`` = ``width`` (the first's input and the last's
    output stay one element wide, as the AXI ports of the chain were), every other stage of ``width``."""
    stages = []
    last = len(plan.stages) - 1
    for index, stage in enumerate(plan.stages):
        if stage.kernel is not None:
            spec = replace(stage.kernel, in_simd=width if index else 1, out_pe=width if index != last else 1)
            stages.append(replace(stage, kernel=spec, in_beats=spec.in_beats, out_beats=spec.out_beats))
            continue
        merge = stage.merge and replace(stage.merge, in_beats=tuple(b // width for b in stage.merge.in_beats))
        stages.append(replace(stage, width=width, in_beats=stage.in_beats // width,
                              out_beats=stage.out_beats // width, merge=merge))
    return replace(plan, stages=tuple(stages))


def test_wide_residual_dense_network(sim_root: Path) -> None:
    """dense(out_pe 4) → fork(4) → dense(in_simd 4, out_pe 4) → add(4, ReLU) with the fork's other
    port → HardSigmoid(4) → dense(in_simd 4): the integer reference of the whole torch-built graph,
    every beat and accept against the network model, backpressure, a swapped lane caught."""
    import torch

    from hwprune.frontend import import_torch
    from hwprune.lower.lowering import lower_graph
    from hwprune.lower.network_cycles import isolated_interval
    from hwprune.lower.network_plan import plan_network
    from hwprune.quant import quantize_graph

    nn = torch.nn

    class ForkAddNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.fc1(x))
            return self.fc3(nn.functional.hardsigmoid(torch.relu(h + self.fc2(h))))

    torch.manual_seed(0)
    graph = import_torch(ForkAddNet().eval(), torch.randn(1, 16), name="forkadd")
    q = quantize_graph(graph, {graph.inputs[0]: np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32)})
    narrow = plan_network(q, lower_graph(q), "wide_forkadd_top")
    plan = _widened(narrow, 4)
    assert [(s.kind, s.in_width, s.out_width) for s in plan.stages] == [
        ("kernel", 1, 4), ("fork", 4, 4), ("kernel", 4, 4), ("add", 4, 4), ("hardsigmoid", 4, 4), ("kernel", 4, 1)]
    for src, port, dst, index in plan.links():  # every link keeps its width and its beats
        down = plan.stages[dst]
        assert plan.stages[src].out_width == down.in_width
        assert plan.stages[src].out_beats == (down.merge.in_beats[index] if down.merge else down.in_beats)
    merges = [s for s in plan.stages if s.kind in ("fork", "add", "hardsigmoid")]
    assert all(isolated_interval(s) == 4 for s in merges)  # 16 elements in beats of 4
    assert all(isolated_interval(s) == 16 for s in narrow.stages if s.kind in ("fork", "add", "hardsigmoid"))
    run_checked(plan, q, sim_root / "wide-forkadd", 24, seed=11, mutation="lanes" if plan.out_width > 1 else "accept")

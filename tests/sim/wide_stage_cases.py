"""Shared pieces of the wide-stage tests (``test_rtl_wide_stages.py``): hand-built network plans whose
stream stages carry ``width`` elements per beat, their reference graphs (the integer reference
``run_integer`` of the same ops), a build directory holding just the top (and its kernels), and a
checked replay: values against the reference and every ``m_axis`` beat and ``s_axis`` accept against
the network cycle model, with random input gaps (``gapped_arrivals``) and random sink backpressure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.backends.rtl.network import emit_network
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType
from hwprune.lower.network_cycles import NetworkTiming, network_timing
from hwprune.lower.network_types import axis_width
from hwprune.lower.network_plan import NetworkPlan
from hwprune.sim.golden import pack_beats, unpack_beats, write_case
from hwprune.sim.network import network_case, network_reference, network_stimulus, replay_network

from network_cases import gapped_arrivals


def graph_of(name: str, tensors: dict[str, tuple[list[int], IntType]], nodes: Sequence[Node], inputs: str = "x",
             outputs: str = "y") -> Graph:
    """A verified integer graph of the given tensors (shape, type; scale 1) and nodes."""
    graph = Graph(name, [inputs], [outputs], {n: Tensor(n, list(s), t, scale=[1.0]) for n, (s, t) in tensors.items()},
                  list(nodes))
    graph.verify()
    return graph


def emit_top(plan: NetworkPlan, where: Path, timing: NetworkTiming | None = None) -> NetworkTiming:
    """``where/rtl``: the top of ``plan`` (timing from the network model unless given), its kernels'
    Verilog and the manifest entry ``hwprune.sim.network.load_network`` reads."""
    timing = timing or network_timing(plan)
    rtl = where / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    for stage in plan.stages:
        if stage.kernel is not None:
            emit_kernel(stage.kernel, rtl)
    entry = emit_network(plan, timing, rtl, f"wide stage test {plan.top}")
    (rtl / "manifest.json").write_text(json.dumps({"kernels": [], "network": entry}) + "\n", encoding="utf-8")
    return timing


def stimulus(plan: NetworkPlan, vectors: int, seed: int) -> np.ndarray:
    """Edge vectors (zero, max, min, alternating), a sweep of every input code, then random vectors."""
    x = network_stimulus(plan, vectors, seed)
    t = plan.in_type
    x[4] = np.resize(np.arange(t.min, t.max + 1), plan.in_values)
    return x


def swap_lanes(case: dict[str, Any], width: int) -> dict[str, Any]:
    """A copy whose first expected ``m_axis`` beat with two different lanes has lanes 0 and 1 swapped
    (a stage that mixed up its lanes would give it): the bench must catch it."""
    mutated = json.loads(json.dumps(case))
    bits, signed = axis_width(case["value_bits"]["out"]), case["elements"]["out"][2]
    for index, word in enumerate(mutated["expected"]):
        values = unpack_beats([word], width, bits, signed)
        if values[0] != values[1]:
            values[0], values[1] = values[1], values[0]
            mutated["expected"][index] = int(pack_beats(np.asarray([values]), width, bits)[0])
            mutated["name"] += f"-swapped-lanes-{index}"
            return mutated
    raise AssertionError("no beat with two different lanes to swap")


def run_checked(plan: NetworkPlan, graph: Graph, where: Path, vectors: int, seed: int,
                mutation: str | None = None) -> dict[str, Any]:
    """Build ``plan``'s top, replay ``vectors`` gapped vectors timed and under backpressure, check
    the trace (values, output cycles, input accepts) independently of the bench's verdict; then, when
    ``mutation`` names one ("lanes": two lanes swapped, "cycle": an output beat one cycle late,
    "accept": an input accept one cycle late), replay that wrong expectation and require a failure."""
    timing = emit_top(plan, where)
    x = stimulus(plan, vectors, seed)
    expected = network_reference(graph, plan, x)
    arrivals = gapped_arrivals(plan, timing, vectors, seed)
    case = network_case(plan, timing, x, expected, seed=seed, arrivals=arrivals)
    path = write_case(case, where / "sim" / "case.json")
    result = replay_network(where, path, ("timed", "backpressure"))
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]
    trace = json.loads(result.trace.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert [v for _, v in trace["timed"]["beats"]] == case["expected"]
    assert [c for c, _ in trace["timed"]["beats"]] == case["expected_cycles"]
    assert trace["timed"]["accepts"] == case["expected_accepts"]
    assert [v for _, v in trace["backpressure"]["beats"]] == case["expected"]
    if mutation is not None:
        broken = json.loads(json.dumps(case))
        if mutation == "lanes":
            broken = swap_lanes(case, plan.out_width)
        elif mutation == "cycle":
            broken["expected_cycles"][len(broken["expected_cycles"]) // 2] += 1
        else:
            broken["expected_accepts"][len(broken["expected_accepts"]) // 3] += 1
        bad = replay_network(where, write_case(broken, where / "sim" / f"mutated-{mutation}.json"), ("timed",))
        assert bad.failures == 1, f"mutation {mutation!r} passed the bench"
    return case

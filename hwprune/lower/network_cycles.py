"""Cycle model of the network top (``hwprune.backends.rtl.network``): the per-kernel and per-stage
models composed through the FIFOs between them, and the sizing of those FIFOs.

Micro-architecture the model follows (conventions of ``hwprune.lower.cycles``)::

    s_axis ─► pacer ─► stage 0 ─► FIFO ─► stage 1 ─► FIFO ─► … ─► stage n-1 ─► m_axis

10. Pacer: the first beat of vector ``v`` is accepted no earlier than ``interval`` cycles after the
    first beat of vector ``v - 1``; the other beats pass as stage 0 takes them. ``interval`` is the
    network's initiation interval: the smallest period at which every stage keeps up (found on this
    model, below), so with the pacer in front no stage is ever back-pressured by a full FIFO.
11. A beat a stage puts out at cycle ``c`` is written into the FIFO behind it and offered to the next
    stage from cycle ``c + FIFO_LATENCY``; the FIFO offers its beats in order, the next one no
    earlier than the cycle after the previous one was taken (exactly a source in the stage models).
12. The last stage drives ``m_axis`` directly: its output beats are the top's.

A graph that branches (``NetworkPlan.links``): every stage input port has its own FIFO, a fork's outputs
one FIFO each. The skip path's FIFO (a fork output read by the add at the end of a long branch) is
sized by the same rule: it must hold every beat the fork wrote and the add has not yet taken, i.e. the
long path's latency in beats, so the depth rule is also the no-deadlock rule (``docs/architecture.md``).

FIFO sizing rule: a beat written at cycle ``c`` needs a free entry at ``c`` — the FIFO holds every
beat written before ``c`` and not yet taken before ``c`` — so the depth of a FIFO is one more than the
largest such count over the paced back-to-back schedule of ``SIZING_VECTORS`` vectors (at least 2).
Sizing checks that this schedule has reached its periodic steady state (vector ``v + 2`` is vector
``v`` shifted by ``2 × interval`` on every stream), so no later vector needs more. With those
depths a back-to-back input never stalls a stage beyond what the stage models say; an ``m_axis``
sink that withdraws ``tready`` fills the FIFOs and stalls the stages (values stay exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from hwprune.lower.kernel_cycles import kernel_model
from hwprune.lower.network_plan import NetworkPlan, StagePlan
from hwprune.lower.network_types import check_stage_width
from hwprune.lower.stage_cycles import ElementwiseModel, GlobalAverageModel, MergeModel, PoolModel, ReorderModel

__all__ = ["FIFO_LATENCY", "SIZING_VECTORS", "MIN_FIFO_DEPTH", "NetworkTiming", "NetworkSchedule",
           "NetworkModel", "stage_model", "network_timing", "fifo_depth_needed", "isolated_interval",
           "network_schedule"]

FIFO_LATENCY = 1
"""``amaranth.lib.fifo.SyncFIFO``: a beat written at cycle ``c`` is readable from cycle ``c + 1``."""

SIZING_VECTORS = 12
MIN_FIFO_DEPTH = 2  # depth 1 has zero-width pointers, which Verilator's lint rejects


class StageModel(Protocol):
    @property
    def next_ready(self) -> int: ...

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]: ...


def stage_model(stage: StagePlan) -> StageModel | MergeModel:
    """The cycle model of one stage, fed one vector (frame) at a time; a stage's beats carry
    ``stage.width`` elements (pooling and the reorder: one only, anything else is a ValueError)."""
    check_stage_width(stage)
    if stage.merge is not None:
        m = stage.merge
        return MergeModel(stage.kind, m.in_beats, m.fanout, m.chunks, stage.width)
    if stage.kind == "kernel":
        assert stage.kernel is not None
        return kernel_model(stage.kernel)
    if stage.kind in ("hardsigmoid", "hardswish", "lut"):
        return ElementwiseModel(stage.in_beats)
    if stage.kind in ("maxpool", "avgpool"):
        assert stage.window is not None
        return PoolModel(stage.window)
    assert stage.frame is not None
    if stage.kind == "globalavg":
        return GlobalAverageModel(*stage.frame, beat_width=stage.width)
    return ReorderModel(*stage.frame)


@dataclass(frozen=True)
class NetworkTiming:
    """What the top's RTL takes from the model: the pacer interval and the depth of every FIFO."""

    interval: int
    fifo_depths: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"interval": self.interval, "fifo_depths": list(self.fifo_depths)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "NetworkTiming":
        return NetworkTiming(int(data["interval"]), tuple(int(d) for d in data["fifo_depths"]))


@dataclass(frozen=True)
class NetworkSchedule:
    """Predicted cycles of a run: ``accepts[v][i]`` of every ``s_axis`` beat, ``outputs[v][r]`` of every
    ``m_axis`` beat; ``links[i]`` = (write cycles, take cycles) of FIFO ``i`` (``NetworkPlan.links``;
    in a chain the FIFO behind stage ``i``)."""

    accepts: list[list[int]]
    outputs: list[list[int]]
    links: list[tuple[list[int], list[int]]]

    def flat_outputs(self) -> list[int]:
        return [c for vector in self.outputs for c in vector]

    def flat_accepts(self) -> list[int]:
        return [c for vector in self.accepts for c in vector]

    def fifo_needs(self) -> list[int]:
        """Depth every FIFO needs for this schedule (rule of the module docstring)."""
        return [fifo_depth_needed(writes, takes) for writes, takes in self.links]


def push_stage(model: StageModel | MergeModel, arrivals: Sequence[Sequence[int]]) -> tuple[list[list[int]],
                                                                                        list[list[int]]]:
    """(take cycles per input port, output cycles per output port) of one vector through any stage."""
    if isinstance(model, MergeModel):
        return model.push_ports(arrivals)
    taken, out, _ = model.push(arrivals[0])
    return [taken], [out]


def fifo_depth_needed(writes: Sequence[int], takes: Sequence[int]) -> int:
    """1 + the most beats written before and not taken before the cycle of any write (0: no writes)."""
    if len(writes) and len(takes):
        w, t = np.asarray(writes, dtype=np.int64), np.asarray(takes, dtype=np.int64)
        if bool(np.all(t[1:] >= t[:-1])):  # takes in order (they always are): count them by bisection
            taken = np.searchsorted(t, np.maximum.accumulate(w), side="left")
            return max(0, int((np.arange(1, len(w) + 1) - taken).max()))
    need, taken = 0, 0
    for index, cycle in enumerate(writes):
        while taken < len(takes) and takes[taken] < cycle:
            taken += 1
        need = max(need, index - taken + 1)
    return need


class NetworkModel:
    """Rules 10-12 over the stage models; ``push`` takes one vector's ``s_axis`` arrival cycles."""

    def __init__(self, plan: NetworkPlan, interval: int) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be a positive integer, not {interval!r}")
        self.plan = plan
        self.interval = interval
        self.stages = [stage_model(s) for s in plan.stages]
        self.last_first: int | None = None
        self.link_ends = plan.links()
        self.links: list[tuple[list[int], list[int]]] = [([], []) for _ in self.link_ends]
        self.feeds = {(dst, port): index for index, (_, _, dst, port) in enumerate(self.link_ends)}

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int]]:
        """(s_axis accept cycles, m_axis output cycles) of the next vector: the stages in plan order
        (every stage reads earlier ones only), each input port fed by its FIFO (rule 11)."""
        arrival = [int(a) for a in arrival]
        if self.last_first is not None:
            arrival[0] = max(arrival[0], self.last_first + self.interval)
        outputs: dict[tuple[int, int], list[int]] = {}
        accepts: list[int] = []
        for index, (stage, model) in enumerate(zip(self.plan.stages, self.stages)):
            if index == 0:
                inputs = [arrival]
            else:
                sources = stage.sources if stage.sources is not None else ((index - 1, 0),)
                inputs = [[c + FIFO_LATENCY for c in outputs[source]] for source in sources]
            taken, outs = push_stage(model, inputs)
            if index == 0:
                accepts = taken[0]
            for port, beats in enumerate(taken):
                link = self.feeds.get((index, port))
                if link is not None:
                    src, src_port, _, _ = self.link_ends[link]
                    self.links[link][0].extend(outputs[(src, src_port)])
                    self.links[link][1].extend(beats)
            for port, beats in enumerate(outs):
                outputs[(index, port)] = beats
        self.last_first = accepts[0]
        return accepts, outputs[(len(self.stages) - 1, 0)]


def network_schedule(plan: NetworkPlan, timing: NetworkTiming | int,
                     arrivals: Sequence[Sequence[int]]) -> NetworkSchedule:
    """Predicted cycles for the given ``s_axis`` arrivals (``back_to_back`` for the timed test)."""
    interval = timing if isinstance(timing, int) else timing.interval
    model = NetworkModel(plan, interval)
    accepts, outputs = [], []
    for arrival in arrivals:
        a, o = model.push(arrival)
        accepts.append(a)
        outputs.append(o)
    return NetworkSchedule(accepts, outputs, model.links)


def isolated_interval(stage: StagePlan, vectors: int = 6) -> int:
    """Cycles per vector of one stage alone with back-to-back input (over two vectors, so a
    two-bank alternation counts once per period)."""
    model = stage_model(stage)
    beats = stage.merge.in_beats if stage.merge is not None else (stage.in_beats,)
    lasts = [push_stage(model, [[0] * b for b in beats])[1][0][-1] for _ in range(vectors)]
    return math.ceil((lasts[-1] - lasts[-3]) / 2)


def _steady(schedule: NetworkSchedule, interval: int) -> bool:
    """Vector ``v + 2`` equals vector ``v`` shifted by ``2 × interval`` on every stream, for the last
    two pairs, and the pacer (not stage 0) sets the start of every late vector."""
    n = len(schedule.accepts)
    shift = 2 * interval
    beats_per = [len(w) // n for w, _ in schedule.links]
    for v in (n - 4, n - 3):
        streams = [schedule.accepts[v], schedule.outputs[v]]
        later = [schedule.accepts[v + 2], schedule.outputs[v + 2]]
        for (writes, takes), per in zip(schedule.links, beats_per):
            streams += [writes[v * per:(v + 1) * per], takes[v * per:(v + 1) * per]]
            later += [writes[(v + 2) * per:(v + 3) * per], takes[(v + 2) * per:(v + 3) * per]]
        if any([c + shift for c in a] != b for a, b in zip(streams, later)):
            return False
    return schedule.accepts[-1][0] - schedule.accepts[-2][0] == interval


def network_timing(plan: NetworkPlan, vectors: int = SIZING_VECTORS) -> NetworkTiming:
    """The pacer interval (smallest steady period from the slowest stage's own interval up) and the
    FIFO depths that hold the paced back-to-back schedule (rule in the module docstring)."""
    base = max(isolated_interval(s) for s in plan.stages)
    arrivals = [[0] * plan.in_beats for _ in range(max(vectors, 6))]
    for interval in range(base, 2 * base + 2):
        schedule = network_schedule(plan, interval, arrivals)
        if _steady(schedule, interval):
            depths = tuple(max(MIN_FIFO_DEPTH, need) for need in schedule.fifo_needs())
            return NetworkTiming(interval, depths)
    raise ValueError(f"network {plan.top!r}: no steady schedule with an interval in [{base}, {2 * base + 1}]")

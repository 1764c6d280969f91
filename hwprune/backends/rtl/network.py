"""The network top: every kernel and stream stage of a lowered graph chained with FIFOs, with
AXI-Stream at its boundary.

Why this shape::

    s_axis ─► pacer ─► stage 0 ─► FIFO ─► stage 1 ─► FIFO ─► … ─► stage n-1 ─► m_axis (+ tlast)

* Kernels are instances of the per-kernel modules (``<ident>.v``, each verified on its own), so the
  network runs exactly the verified Verilog; max-pool and reorder stages (``stages.py``), average
  pooling (``avgpool.py``), HardSigmoid/HardSwish (``elementwise.py``) and the FIFOs (``amaranth.lib.fifo.SyncFIFO``) are generated here.
* The pacer admits a vector's first beat no sooner than ``interval`` cycles after the previous one's:
  the network's initiation interval from the cycle model. Then no stage outruns the one behind it,
  each FIFO (depth from the model, ``hwprune.lower.network_cycles``) only absorbs bursts, no stage
  is ever stalled by a full FIFO under a back-to-back input, and the composed cycle model is exact.
* Between two dense kernels a stream may be wide (``in_simd``/``out_pe`` elements per beat, chosen by the
  fitter): its FIFO is that many elements wide. A fork, add, concat, elementwise or global-average
  stage carries ``StagePlan.width`` elements per beat on every port (``beat_shape``), and so do the
  FIFOs at its ports; pooling and the reorder carry one.
* AXI-Stream: ``width`` activations per beat (1 unless the first/last stage is a dense kernel the fitter
  widened: ``NetworkPlan.in_width``/``out_width``), each in its own lane of the activation width rounded
  up to whole bytes, value ``j`` of a beat in lane ``j`` (sign- or zero-extended on ``m_axis``; the low
  bits of each ``s_axis_tdata`` lane are read); a vector's last beat is zero-filled past its values.
  Byte lanes make a DMA buffer of values the same bytes at any width. ``m_axis_tlast`` marks the last
  beat of every output vector; ``s_axis_tlast`` is accepted and ignored (the top counts beats). Clock
  ``clk``, synchronous active-high reset ``rst``, as the kernels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.avgpool import AveragePoolStage, GlobalAverageStage
from hwprune.backends.rtl.elementwise import HardActivationStage, TableStage
from hwprune.backends.rtl.engine import _counter, beat_shape
from hwprune.backends.rtl.merge_stages import merge_component
from hwprune.backends.rtl.stages import MaxPoolStage, ReorderStage
from hwprune.ir.types import IntType
from hwprune.lower.network_cycles import NetworkTiming
from hwprune.lower.network_plan import NetworkPlan, StagePlan
from hwprune.lower.network_types import axis_width, check_stage_width

__all__ = ["NetworkTop", "axis_width", "tdata_width", "AXIS_PORTS", "emit_network", "check_timing"]

AXIS_PORTS = {
    "in": {"data": "s_axis_tdata", "valid": "s_axis_tvalid", "ready": "s_axis_tready", "last": "s_axis_tlast"},
    "out": {"data": "m_axis_tdata", "valid": "m_axis_tvalid", "ready": "m_axis_tready", "last": "m_axis_tlast"},
}


def tdata_width(t: IntType, width: int) -> int:
    """``TDATA`` bits of a port carrying ``width`` values of type ``t`` per beat (one byte lane each)."""
    return width * axis_width(t.bits)


class _Ends:
    """The stream signals of one stage as seen from the top (input side and output side)."""

    def __init__(self, stage: StagePlan, suffix: str = "", t_in: IntType | None = None) -> None:
        t_in, t_out = t_in or stage.in_type, stage.out_type
        name = f"{stage.ident}{suffix}"
        self.i_payload = Signal(beat_shape(t_in.bits, t_in.signed, stage.in_width), name=f"{name}_i_payload")
        self.i_valid = Signal(name=f"{name}_i_valid")
        self.i_ready = Signal(name=f"{name}_i_ready")
        self.o_payload = Signal(beat_shape(t_out.bits, t_out.signed, stage.out_width), name=f"{name}_o_payload")
        self.o_valid = Signal(name=f"{name}_o_valid")
        self.o_ready = Signal(name=f"{name}_o_ready")


def check_timing(plan: NetworkPlan, timing: NetworkTiming) -> None:
    """One FIFO depth (≥ 2: a one-entry SyncFIFO has zero-width pointers) per link, a positive interval."""
    links = len(plan.links())
    if len(timing.fifo_depths) != links:
        raise ValueError(f"{links} FIFOs need {links} depths, not {len(timing.fifo_depths)}")
    if any(not isinstance(d, int) or d < 2 for d in timing.fifo_depths):
        raise ValueError(f"FIFO depths must be integers of at least 2, not {list(timing.fifo_depths)!r}")
    if not isinstance(timing.interval, int) or timing.interval < 1:
        raise ValueError(f"interval must be a positive integer, not {timing.interval!r}")


class NetworkTop(wiring.Component):
    """The chained network; ports ``s_axis_*``, ``m_axis_*`` (see the module docstring)."""

    def __init__(self, plan: NetworkPlan, timing: NetworkTiming) -> None:
        check_timing(plan, timing)
        self.plan = plan
        self.timing = timing
        super().__init__({
            "s_axis_tdata": In(tdata_width(plan.in_type, plan.in_width)), "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1), "s_axis_tlast": In(1),
            "m_axis_tdata": Out(tdata_width(plan.out_type, plan.out_width)), "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1), "m_axis_tlast": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if not self.plan.is_chain:
            return self._elaborate_graph(m)
        ends = [self._stage(m, stage) for stage in self.plan.stages]
        for index, (up, down, depth) in enumerate(zip(ends, ends[1:], self.timing.fifo_depths)):
            queue = fifo.SyncFIFO(width=len(up.o_payload), depth=depth)
            m.submodules[f"fifo{index}"] = queue
            m.d.comb += [queue.w_data.eq(up.o_payload), queue.w_en.eq(up.o_valid), up.o_ready.eq(queue.w_rdy),
                         down.i_payload.eq(queue.r_data), down.i_valid.eq(queue.r_rdy), queue.r_en.eq(down.i_ready)]
        self._pacer(m, ends[0])
        self._output(m, ends[-1])
        return m

    def _elaborate_graph(self, m: Module) -> Module:
        """A graph that branches: one FIFO per link (``NetworkPlan.links``), fork/add/concat stages."""
        ins: list[list[_Ends]] = []
        outs: list[list[_Ends]] = []
        for stage in self.plan.stages:
            if stage.merge is None:
                ends = self._stage(m, stage)
                ins.append([ends])
                outs.append([ends])
                continue
            box = merge_component(stage.kind, stage.merge, stage.out_type, stage.width)
            m.submodules[stage.ident] = box
            port_ins, port_outs = [], []
            for p, t in enumerate(stage.merge.in_types):
                ends = _Ends(stage, f"_{p}", t)
                i = getattr(box, f"i{p}")
                m.d.comb += [i.payload.eq(ends.i_payload), i.valid.eq(ends.i_valid), ends.i_ready.eq(i.ready)]
                port_ins.append(ends)
            for p in range(stage.ports_out):
                ends = _Ends(stage, f"_{p}", stage.out_type)
                o = getattr(box, f"o{p}")
                m.d.comb += [ends.o_payload.eq(o.payload), ends.o_valid.eq(o.valid), o.ready.eq(ends.o_ready)]
                port_outs.append(ends)
            ins.append(port_ins)
            outs.append(port_outs)
        for index, ((src, sp, dst, dp), depth) in enumerate(zip(self.plan.links(), self.timing.fifo_depths)):
            up, down = outs[src][sp], ins[dst][dp]
            queue = fifo.SyncFIFO(width=len(up.o_payload), depth=depth)
            m.submodules[f"fifo{index}"] = queue
            m.d.comb += [queue.w_data.eq(up.o_payload), queue.w_en.eq(up.o_valid), up.o_ready.eq(queue.w_rdy),
                         down.i_payload.eq(queue.r_data), down.i_valid.eq(queue.r_rdy), queue.r_en.eq(down.i_ready)]
        self._pacer(m, ins[0][0])
        self._output(m, outs[-1][0])
        return m

    def _stage(self, m: Module, stage: StagePlan) -> _Ends:
        ends = _Ends(stage)
        if stage.kind == "kernel":
            assert stage.kernel is not None
            m.submodules[stage.ident] = Instance(
                stage.kernel.ident, i_clk=ClockSignal(), i_rst=ResetSignal(),
                i_i__payload=ends.i_payload, i_i__valid=ends.i_valid, o_i__ready=ends.i_ready,
                o_o__payload=ends.o_payload, o_o__valid=ends.o_valid, i_o__ready=ends.o_ready)
            return ends
        bits, signed = stage.in_type.bits, stage.in_type.signed
        check_stage_width(stage)
        if stage.kind == "maxpool":
            assert stage.window is not None
            box: wiring.Component = MaxPoolStage(stage.window, bits, signed)
        elif stage.kind == "avgpool":
            assert stage.window is not None and stage.requant is not None
            box = AveragePoolStage(stage.window, stage.in_type, stage.out_type, *stage.requant[:2])
        elif stage.kind in ("hardsigmoid", "hardswish"):
            assert stage.requant is not None
            box = HardActivationStage(stage.kind, stage.in_type, stage.out_type, stage.requant, stage.width)
        elif stage.kind == "lut":
            assert stage.requant is not None
            box = TableStage(stage.in_type, stage.out_type, stage.requant, stage.width)
        elif stage.kind == "globalavg":
            assert stage.frame is not None and stage.requant is not None
            box = GlobalAverageStage(stage.frame, stage.in_type, stage.out_type, *stage.requant[:2],
                                     stage.width)
        else:
            assert stage.frame is not None
            box = ReorderStage(*stage.frame, bits, signed)
        m.submodules[stage.ident] = box
        m.d.comb += [box.i.payload.eq(ends.i_payload), box.i.valid.eq(ends.i_valid), ends.i_ready.eq(box.i.ready),
                     ends.o_payload.eq(box.o.payload), ends.o_valid.eq(box.o.valid), box.o.ready.eq(ends.o_ready)]
        return ends

    def _pacer(self, m: Module, first: _Ends) -> None:
        """Rule 10: a vector's first beat waits until ``interval`` cycles after the previous one's."""
        beats, interval = self.plan.in_beats, self.timing.interval
        count = _counter(beats, "in_beat")
        wait = _counter(interval, "pacer_wait")
        admit = (count != 0) | (wait == 0)
        take = Signal()
        bits, lane = self.plan.in_type.bits, axis_width(self.plan.in_type.bits)
        values = self.s_axis_tdata[:bits] if self.plan.in_width == 1 else \
            Cat(*(self.s_axis_tdata[j * lane:j * lane + bits] for j in range(self.plan.in_width)))
        m.d.comb += [first.i_payload.eq(values),
                     first.i_valid.eq(self.s_axis_tvalid & admit),
                     self.s_axis_tready.eq(first.i_ready & admit), take.eq(self.s_axis_tvalid & self.s_axis_tready)]
        with m.If(take):
            m.d.sync += count.eq(count + 1)
            with m.If(count == beats - 1):
                m.d.sync += count.eq(0)
        with m.If(wait != 0):
            m.d.sync += wait.eq(wait - 1)
        with m.If(take & (count == 0)):
            m.d.sync += wait.eq(interval - 1)

    def _output(self, m: Module, last: _Ends) -> None:
        beats = self.plan.out_beats
        count = _counter(beats, "out_beat")
        t, width = self.plan.out_type, self.plan.out_width
        if width == 1:
            m.d.comb += self.m_axis_tdata.eq(last.o_payload)
        else:  # value j of the beat, sign- or zero-extended into byte lane j
            lane = axis_width(t.bits)
            for j in range(width):
                value = last.o_payload[j * t.bits:(j + 1) * t.bits]
                m.d.comb += self.m_axis_tdata[j * lane:(j + 1) * lane].eq(value.as_signed() if t.signed else value)
        m.d.comb += [self.m_axis_tvalid.eq(last.o_valid),
                     last.o_ready.eq(self.m_axis_tready), self.m_axis_tlast.eq(count == beats - 1)]
        with m.If(self.m_axis_tvalid & self.m_axis_tready):
            m.d.sync += count.eq(count + 1)
            with m.If(count == beats - 1):
                m.d.sync += count.eq(0)


def emit_network(plan: NetworkPlan, timing: NetworkTiming, rtl_dir: Path, header: str) -> dict[str, Any]:
    """Write ``<top>.v`` and ``network.json`` (plan + timing) into ``rtl_dir``; returns the manifest
    entry (top, Verilog files in compile order: every kernel's, then the top's)."""
    import json

    from hwprune.backends.rtl.emit import to_verilog

    path = rtl_dir / f"{plan.top}.v"
    path.write_text(to_verilog(NetworkTop(plan, timing), plan.top, header), encoding="utf-8")
    description = {"plan": plan.to_dict(), "timing": timing.to_dict()}
    (rtl_dir / "network.json").write_text(json.dumps(description, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    kernels = [f"{s.kernel.ident}.v" for s in plan.stages if s.kernel is not None]
    widths = {"s_axis_tdata": tdata_width(plan.in_type, plan.in_width),
              "m_axis_tdata": tdata_width(plan.out_type, plan.out_width)}
    lanes = {"s_axis_tdata": plan.in_width, "m_axis_tdata": plan.out_width}
    return {"top": plan.top, "verilog": [*kernels, path.name], "ports": AXIS_PORTS, "widths": widths,
            **({"values_per_beat": lanes} if plan.in_width > 1 or plan.out_width > 1 else {}),
            "stages": [{"kind": s.kind, "name": s.name, "ident": s.ident} for s in plan.stages],
            "interval": timing.interval, "fifo_depths": list(timing.fifo_depths), "description": "network.json"}

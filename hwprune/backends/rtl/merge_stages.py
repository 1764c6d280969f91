"""Stream stages of a network top whose graph branches and merges: fork, add and concat.

Why these three: a residual block forks its input (the skip path and the long path), merges the two
paths with an elementwise requantise-add (``hwprune.quant.merge``), and Inception/DenseNet-style blocks
concatenate channels. Both merge stages read streams that carry their tensors in the same stream order
(H, W, C inner), so they need no buffer: the skip FIFO in front (sized by ``hwprune.lower.network_cycles``)
holds the skip path's beats while the long path computes. Cycle rule 13 (``hwprune.lower.stage_cycles``):
one step per cycle; a fork writes every output in its step's cycle (all outputs must be ready, so no
copy is lost or duplicated under backpressure), an add or concat registers its result.

Wide beats (``StagePlan.width`` = m > 1): every port carries m consecutive elements per beat (channels
``c … c+m-1`` of one pixel, element ``j`` in bits ``[j·b, (j+1)·b)``, ``engine.beat_shape``), and a step
handles the whole beat: a fork copies it, an add has one requantiser per lane (lane ``j`` of both
inputs), a concat one per lane and input, its chunk counter counting beats of m channels. A residual
block's add of an H·W·C map then takes H·W·C/m cycles instead of H·W·C.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import _counter, beat_shape, stream_shape
from hwprune.ir.types import IntType
from hwprune.lower.network_types import MergeSpec

__all__ = ["ForkStage", "AddStage", "ConcatStage", "merge_component", "requantise", "check_width", "lanes",
           "lane_name", "pack"]


def check_width(width: object) -> int:
    """``width`` (elements per beat) if it is a positive integer, else a ValueError."""
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width must be a positive integer, not {width!r}")
    return width


def lanes(payload: Value, t: IntType, width: int) -> list[Value]:
    """The ``width`` elements of a beat (``beat_shape``), each in ``t``'s own signedness. Width 1: the
    payload itself (so a one-element stage's Verilog is what it was before beats were wide)."""
    if width == 1:
        return [payload]
    fields = [payload[j * t.bits:(j + 1) * t.bits] for j in range(width)]
    return [f.as_signed() for f in fields] if t.signed else fields


def pack(values: list[Value]) -> Value:
    """The beat of the lane values given (each exactly the element's width): ``lanes`` undone."""
    return values[0] if len(values) == 1 else Cat(*values)


def lane_name(name: str, j: int, width: int) -> str:
    """A signal name of lane ``j``: the one-element stage's name at width 1."""
    return name if width == 1 else f"{name}_l{j}"


def _ports(in_types: tuple[IntType, ...], out: IntType, fanout: int, width: int) -> dict[str, object]:
    ports: dict[str, object] = {f"i{p}": In(stream.Signature(beat_shape(t.bits, t.signed, width)))
                                for p, t in enumerate(in_types)}
    ports.update({f"o{p}": Out(stream.Signature(beat_shape(out.bits, out.signed, width)))
                  for p in range(fanout)})
    return ports


def requantise(m: Module, value: object, mults: tuple[int, ...], shift: int, out: IntType, relu: bool,
                name: str) -> Signal:
    """``sat((Σ x_p·M_p + 2^(sh-1)) >> sh)`` of the values given (``value`` is a list of signals): the
    requantiser of every stream stage (add, concat, average pooling, HardSigmoid/HardSwish). The rounding
    constant must fit the widest product (``network_types.requant_operand_bits`` sizes an operand so)."""
    terms = [v * mult for v, mult in zip(value, mults)]  # type: ignore[call-overload]
    width = max(len(t) for t in terms) + len(terms) + 2
    acc = Signal(signed(width), name=f"{name}_acc")
    m.d.comb += acc.eq(sum(terms[1:], terms[0]) + (1 << (shift - 1)))
    shifted = Signal(signed(width), name=f"{name}_shifted")
    m.d.comb += shifted.eq(acc >> shift)
    lo, hi = (0 if relu else out.min), out.max
    y = Signal(stream_shape(out.bits, out.signed), name=f"{name}_y")
    m.d.comb += y.eq(Mux(shifted < lo, lo, Mux(shifted > hi, hi, shifted)))
    return y


def _widen(m: Module, payload: object, t: IntType, name: str) -> Signal:
    wide = Signal(signed(t.bits + 1), name=name)
    m.d.comb += wide.eq(payload)
    return wide


class ForkStage(wiring.Component):
    """One stream in, ``fanout`` copies out; a beat (of ``width`` elements) moves when every output is
    ready."""

    def __init__(self, merge: MergeSpec, width: int = 1) -> None:
        self.merge, self.width = merge, check_width(width)
        super().__init__(_ports(merge.in_types, merge.in_types[0], merge.fanout, self.width))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        outs = [getattr(self, f"o{p}") for p in range(self.merge.fanout)]
        all_ready = Signal()
        m.d.comb += all_ready.eq(sum((o.ready for o in outs[1:]), outs[0].ready) == len(outs))
        m.d.comb += self.i0.ready.eq(all_ready)
        for o in outs:
            m.d.comb += [o.payload.eq(self.i0.payload), o.valid.eq(self.i0.valid & all_ready)]
        return m


class AddStage(wiring.Component):
    """Two streams of one tensor shape in, their requantised sum (with the fused ReLU) out; with
    ``width`` elements per beat, lane ``j`` of the output is the requantised sum of lane ``j`` of both
    inputs (one requantiser per lane)."""

    def __init__(self, merge: MergeSpec, out: IntType, width: int = 1) -> None:
        self.merge, self.out, self.width = merge, out, check_width(width)
        super().__init__(_ports(merge.in_types, out, 1, self.width))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g, w = self.merge, self.width
        step = Signal()
        ports = [lanes(getattr(self, f"i{p}").payload, g.in_types[p], w) for p in range(2)]
        ys = []
        for j in range(w):
            a, b = (_widen(m, ports[p][j], g.in_types[p], lane_name(f"x{p}", j, w)) for p in range(2))
            ys.append(requantise(m, [a, b], g.mults, g.shift, self.out, g.relu, lane_name("add", j, w)))
        y = pack(ys)
        m.d.comb += step.eq(self.i0.valid & self.i1.valid & (~self.o0.valid | self.o0.ready))
        m.d.comb += [self.i0.ready.eq(step), self.i1.ready.eq(step)]
        with m.If(self.o0.ready):
            m.d.sync += self.o0.valid.eq(0)
        with m.If(step):
            m.d.sync += [self.o0.payload.eq(y), self.o0.valid.eq(1)]
        return m


class ConcatStage(wiring.Component):
    """Per block (pixel), ``chunks[p]`` channels of input ``p`` in turn (``chunks[p] / width`` beats),
    each element requantised to the output scale (or passed through when the plan has no multipliers).
    ``width`` must divide every chunk, so no beat mixes two inputs."""

    def __init__(self, merge: MergeSpec, out: IntType, width: int = 1) -> None:
        self.merge, self.out, self.width = merge, out, check_width(width)
        if any(chunk % self.width for chunk in merge.chunks):
            raise ValueError(f"width {self.width} must divide every concat chunk, not {list(merge.chunks)}")
        super().__init__(_ports(merge.in_types, out, 1, self.width))

    def _value(self, m: Module, p: int, payload: Value) -> Value:
        """Input ``p``'s beat at the output scale: one requantiser per lane, or the beat itself."""
        g, w = self.merge, self.width
        if not g.mults:
            return payload
        return pack([requantise(m, [_widen(m, x, g.in_types[p], lane_name(f"x{p}", j, w))], (g.mults[p],),
                                g.shift, self.out, False, lane_name(f"cat{p}", j, w))
                     for j, x in enumerate(lanes(payload, g.in_types[p], w))])

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g, w = self.merge, self.width
        ins = [getattr(self, f"i{p}") for p in range(len(g.chunks))]
        port = _counter(len(ins), "port")
        k = _counter(max(g.chunks) // w, "chunk_beat")
        value = Signal(beat_shape(self.out.bits, self.out.signed, w))
        values = [self._value(m, p, i.payload) for p, i in enumerate(ins)]
        valid = Signal()
        free = ~self.o0.valid | self.o0.ready
        step = Signal()
        with m.Switch(port):
            for p, i in enumerate(ins):
                with m.Case(p):
                    m.d.comb += [valid.eq(i.valid), value.eq(values[p])]
        # outside the switch: a ready assigned in one case only is a case statement Verilator's lint
        # calls incomplete (CASEINCOMPLETE)
        m.d.comb += [i.ready.eq(free & (port == p)) for p, i in enumerate(ins)]
        m.d.comb += step.eq(valid & free)
        with m.If(self.o0.ready):
            m.d.sync += self.o0.valid.eq(0)
        with m.If(step):
            m.d.sync += [self.o0.payload.eq(value), self.o0.valid.eq(1), k.eq(k + 1)]
            with m.Switch(port):
                for p, chunk in enumerate(g.chunks):
                    with m.Case(p):
                        with m.If(k == chunk // w - 1):
                            m.d.sync += [k.eq(0), port.eq(0 if p == len(g.chunks) - 1 else p + 1)]
        return m


def merge_component(kind: str, merge: MergeSpec, out: IntType, width: int = 1) -> wiring.Component:
    """The component of a fork, add or concat stage with ``width`` elements per beat."""
    if kind == "fork":
        return ForkStage(merge, width)
    if kind == "add":
        return AddStage(merge, out, width)
    return ConcatStage(merge, out, width)

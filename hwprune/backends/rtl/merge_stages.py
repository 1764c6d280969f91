"""Stream stages of a network top whose graph branches and merges: fork, add and concat.

Why these three: a residual block forks its input (the skip path and the long path), merges the two
paths with an elementwise requantise-add (``hwprune.quant.merge``), and Inception/DenseNet-style blocks
concatenate channels. Both merge stages read streams that carry their tensors in the same stream order
(H, W, C inner), so they need no buffer: the skip FIFO in front (sized by ``hwprune.lower.network_cycles``)
holds the skip path's beats while the long path computes. Cycle rule 13 (``hwprune.lower.stage_cycles``):
one step per cycle; a fork writes every output in its step's cycle (all outputs must be ready, so no
copy is lost or duplicated under backpressure), an add or concat registers its result.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import _counter, stream_shape
from hwprune.ir.types import IntType
from hwprune.lower.network_types import MergeSpec

__all__ = ["ForkStage", "AddStage", "ConcatStage", "merge_component", "requantise"]


def _ports(in_types: tuple[IntType, ...], out: IntType, fanout: int) -> dict[str, object]:
    ports: dict[str, object] = {f"i{p}": In(stream.Signature(stream_shape(t.bits, t.signed)))
                                for p, t in enumerate(in_types)}
    ports.update({f"o{p}": Out(stream.Signature(stream_shape(out.bits, out.signed))) for p in range(fanout)})
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
    """One stream in, ``fanout`` copies out; a beat moves when every output is ready."""

    def __init__(self, merge: MergeSpec) -> None:
        self.merge = merge
        super().__init__(_ports(merge.in_types, merge.in_types[0], merge.fanout))

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
    """Two streams of one tensor shape in, their requantised sum (with the fused ReLU) out."""

    def __init__(self, merge: MergeSpec, out: IntType) -> None:
        self.merge, self.out = merge, out
        super().__init__(_ports(merge.in_types, out, 1))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.merge
        step = Signal()
        a, b = (_widen(m, getattr(self, f"i{p}").payload, g.in_types[p], f"x{p}") for p in range(2))
        y = requantise(m, [a, b], g.mults, g.shift, self.out, g.relu, "add")
        m.d.comb += step.eq(self.i0.valid & self.i1.valid & (~self.o0.valid | self.o0.ready))
        m.d.comb += [self.i0.ready.eq(step), self.i1.ready.eq(step)]
        with m.If(self.o0.ready):
            m.d.sync += self.o0.valid.eq(0)
        with m.If(step):
            m.d.sync += [self.o0.payload.eq(y), self.o0.valid.eq(1)]
        return m


class ConcatStage(wiring.Component):
    """Per block (pixel), ``chunks[p]`` beats of input ``p`` in turn, each requantised to the output
    scale (or passed through when the plan has no multipliers)."""

    def __init__(self, merge: MergeSpec, out: IntType) -> None:
        self.merge, self.out = merge, out
        super().__init__(_ports(merge.in_types, out, 1))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.merge
        ins = [getattr(self, f"i{p}") for p in range(len(g.chunks))]
        port = _counter(len(ins), "port")
        k = _counter(max(g.chunks), "chunk_beat")
        value = Signal(stream_shape(self.out.bits, self.out.signed))
        values = []
        for p, i in enumerate(ins):
            if g.mults:
                values.append(requantise(m, [_widen(m, i.payload, g.in_types[p], f"x{p}")], (g.mults[p],),
                                          g.shift, self.out, False, f"cat{p}"))
            else:
                values.append(i.payload)
        valid = Signal()
        free = ~self.o0.valid | self.o0.ready
        step = Signal()
        with m.Switch(port):
            for p, i in enumerate(ins):
                with m.Case(p):
                    m.d.comb += [valid.eq(i.valid), value.eq(values[p]), i.ready.eq(free)]
        m.d.comb += step.eq(valid & free)
        with m.If(self.o0.ready):
            m.d.sync += self.o0.valid.eq(0)
        with m.If(step):
            m.d.sync += [self.o0.payload.eq(value), self.o0.valid.eq(1), k.eq(k + 1)]
            with m.Switch(port):
                for p, chunk in enumerate(g.chunks):
                    with m.Case(p):
                        with m.If(k == chunk - 1):
                            m.d.sync += [k.eq(0), port.eq(0 if p == len(g.chunks) - 1 else p + 1)]
        return m


def merge_component(kind: str, merge: MergeSpec, out: IntType) -> wiring.Component:
    """The component of a fork, add or concat stage."""
    if kind == "fork":
        return ForkStage(merge)
    if kind == "add":
        return AddStage(merge, out)
    return ConcatStage(merge, out)

"""Elementwise stages of the network top: HardSigmoid and HardSwish, exactly the integer forms of
``hwprune.quant.hard_act`` as ``hwprune.quant.reference`` executes them:

- HardSigmoid: ``clamp(((q + c)·M + 2^(sh-1)) >> sh, 0, qmax)`` (unsigned output);
- HardSwish: the gate ``h`` as a HardSigmoid to an unsigned ``b_out``-bit value (``c_g, M_g, sh_g``), then
  ``sat((q·h·M + 2^(sh-1)) >> sh)``.

Why no buffer and no pipeline: each output needs only its own input beat, so the stage keeps the stream
order and rate, one beat per cycle. The requantisers are the add stage's (``merge_stages.requantise``),
combinational into the output register, so a result leaves the cycle after its beat is taken (cycle
rule 15, ``hwprune.lower.stage_cycles``); the input waits while the output register is full (``o.ready``).
Sigmoid and Tanh (``TableStage``) are a ROM of ``hwprune.quant.tables`` read into the same output register.

Wide beats (``width`` = m > 1, ``StagePlan.width``): a beat carries m elements (element ``j`` in bits
``[j·b, (j+1)·b)``) and the stage computes them side by side, one beat per cycle: m copies of the
requantisers, and for a table m copies of its case statement (m independent combinational read ports
of one ROM; Yosys maps each to its own LUTs, as it does the one-lane table).
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Signal, Value, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import beat_shape, stream_shape
from hwprune.backends.rtl.merge_stages import check_width, lane_name, lanes, pack, requantise
from hwprune.ir.types import IntType
from hwprune.lower.network_types import REQUANT_SIZES, requant_operand_bits

__all__ = ["HardActivationStage", "TableStage", "register_output"]


def _ports(in_type: IntType, out_type: IntType, width: int) -> dict[str, object]:
    return {"i": In(stream.Signature(beat_shape(in_type.bits, in_type.signed, width))),
            "o": Out(stream.Signature(beat_shape(out_type.bits, out_type.signed, width)))}


def register_output(m: Module, i: Any, o: Any, y: Value) -> None:
    """The output register every elementwise stage ends in: ``y`` of the beat taken this cycle leaves the
    next cycle (latency 1, rule 15); the input waits while the register is full and ``o`` not ready."""
    take = Signal()
    m.d.comb += [i.ready.eq(~o.valid | o.ready), take.eq(i.valid & i.ready)]
    with m.If(o.ready):
        m.d.sync += o.valid.eq(0)
    with m.If(take):
        m.d.sync += [o.payload.eq(y), o.valid.eq(1)]


class HardActivationStage(wiring.Component):
    """``kind`` "hardsigmoid" (``requant`` = (c, M, sh)) or "hardswish" (c_g, M_g, sh_g, M, sh): one
    beat of ``width`` elements in, their activations out, any number of beats per vector."""

    def __init__(self, kind: str, in_type: IntType, out_type: IntType, requant: tuple[int, ...],
                 width: int = 1) -> None:
        if kind not in ("hardsigmoid", "hardswish"):
            raise ValueError(f"kind must be 'hardsigmoid' or 'hardswish', not {kind!r}")
        if len(requant) != REQUANT_SIZES[kind] or any(not isinstance(v, int) for v in requant):
            raise ValueError(f"a {kind} stage needs {REQUANT_SIZES[kind]} integers, not {requant!r}")
        for mult, shift in (requant[1:3], requant[3:5])[:len(requant) // 2]:
            if mult < 1 or shift < 1:
                raise ValueError(f"requantiser (M={mult}, sh={shift}) needs M >= 1 and sh >= 1")
        self.kind, self.in_type, self.out_type, self.requant = kind, in_type, out_type, tuple(requant)
        self.width = check_width(width)
        super().__init__(_ports(in_type, out_type, self.width))

    def _gate(self, m: Module, q: Value, offset: int, mult: int, shift: int, out: IntType,
              name: str) -> Signal:
        """``clamp(((q + c)·M + 2^(sh-1)) >> sh, out)``."""
        bits = requant_operand_bits(max(self.in_type.bits, abs(offset).bit_length() + 1) + 2, mult, shift)
        shifted = Signal(signed(bits), name=f"{name}_in")
        m.d.comb += shifted.eq(q + offset)
        return requantise(m, [shifted], (mult,), shift, out, False, name)

    def _lane(self, m: Module, q: Value, j: int) -> Signal:
        """The activation of one element ``q`` (lane ``j``)."""
        r, w = self.requant, self.width
        if self.kind == "hardsigmoid":
            return self._gate(m, q, r[0], r[1], r[2], self.out_type, lane_name("hsig", j, w))
        gate = self._gate(m, q, r[0], r[1], r[2], IntType(self.out_type.bits, False), lane_name("gate", j, w))
        natural = self.in_type.bits + self.out_type.bits + 2
        product = Signal(signed(requant_operand_bits(natural, r[3], r[4])),
                         name=lane_name("hswish_product", j, w))
        m.d.comb += product.eq(q * gate)
        return requantise(m, [product], (r[3],), r[4], self.out_type, False, lane_name("hswish", j, w))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ys = [self._lane(m, q, j) for j, q in enumerate(lanes(self.i.payload, self.in_type, self.width))]
        register_output(m, self.i, self.o, pack(ys))
        return m


class TableStage(wiring.Component):
    """Sigmoid / Tanh: ``table[q - in_min]`` (``hwprune.quant.tables``), one beat in, one out, latency 1.
    The table is a case statement on the input code (a ROM: Yosys maps it to LUTs), read
    combinationally into the output register that every elementwise stage has; with ``width``
    elements per beat, one case statement per lane (``width`` read ports)."""

    def __init__(self, in_type: IntType, out_type: IntType, table: tuple[int, ...], width: int = 1) -> None:
        if len(table) != 1 << in_type.bits:
            raise ValueError(f"a {in_type.bits}-bit input needs {1 << in_type.bits} table entries, not {len(table)}")
        if any(not out_type.min <= v <= out_type.max for v in table):
            raise ValueError(f"a table entry does not fit {out_type}")
        self.in_type, self.out_type, self.table = in_type, out_type, tuple(table)
        self.width = check_width(width)
        super().__init__(_ports(in_type, out_type, self.width))

    def _read(self, m: Module, q: Value, name: str) -> Signal:
        """One read port of the table: ``table[q - in_min]``."""
        y = Signal(stream_shape(self.out_type.bits, self.out_type.signed), name=name)
        with m.Switch(q):
            for index, value in enumerate(self.table):
                with m.Case(self.in_type.min + index):
                    m.d.comb += y.eq(value)
        return y

    def elaborate(self, platform: object) -> Module:
        m = Module()
        qs = lanes(self.i.payload, self.in_type, self.width)
        ys = [self._read(m, q, lane_name("table_out", j, self.width)) for j, q in enumerate(qs)]
        register_output(m, self.i, self.o, pack(ys))
        return m

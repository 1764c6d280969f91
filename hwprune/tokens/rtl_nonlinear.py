"""Integer pipelines of the token selector's nonlinearities: GELU8, sigmoid, two-way softmax.

Why fixed-latency, stall-free pipelines: the MAC engines feeding them are never back-pressured (their
cycle model assumes an always-ready consumer), so every unit takes one value per cycle and delivers it
exactly ``latency`` cycles later; the selector's cycle model adds these latencies. The arithmetic is
``hwprune.tokens.fixed_point`` spelled out in gates (constants from ``hwprune.tokens.hardware``):

- ``GeluUnit``: t = q_b − min(|q|, q_b); y = q·(2q_c − t²) (q > 0) or q·t²; requantise to int8.
- ``SigmoidUnit``: xf = (|q|·M + 2^(sh−1)) >> sh; three linear segments evaluated 32× scaled; mirror for q < 0.
- ``SoftmaxKeepUnit``: the keep probability of a (keep, drop) logit pair, with the exp of the smaller
  logit by range reduction (a multiply-shift for ⌊u/q_ln2⌋), a restoring divider pipelined one quotient
  bit per stage for ⌊2^R / total⌋, and the final rounding shift.

Ports: ``i_valid``/``i_data`` in, ``o_valid``/``o_data`` out (no ready: these units never stall).
Latencies (register stages): GELU 3, sigmoid 2, softmax 6 + quotient bits — the numbers the cycle model
(``hwprune.tokens.cycles``) states as rules; the simulation tests hold the two together.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwprune.tokens.hardware import GeluHw, SigmoidHw, SoftmaxHw

__all__ = ["GeluUnit", "SigmoidUnit", "SoftmaxKeepUnit", "requant_int8"]


def _bits(bound: int) -> int:
    """Signed width holding every value in [−bound, bound]."""
    return max(1, int(bound)).bit_length() + 1


def requant_int8(m: Module, value: Signal, mult: int, shift: int, name: str) -> Signal:
    """Comb ``clamp((value·M + 2^(sh−1)) >> sh, −128, 127)`` (the requantiser of docs/architecture.md section 3)."""
    width = len(value) + mult.bit_length() + 2
    rounded = Signal(signed(width), name=f"{name}_rounded")
    m.d.comb += rounded.eq((value * mult + (1 << (shift - 1))) >> shift)
    out = Signal(signed(8), name=f"{name}_sat")
    m.d.comb += out.eq(Mux(rounded > 127, 127, Mux(rounded < -128, -128, rounded)))
    return out


def unit_ports(out_shape: Any) -> dict[str, Any]:
    """The ports of a stall-free unit: one int8 value in (with its valid), one result out."""
    return {"i_valid": In(1), "i_data": In(signed(8)), "o_valid": Out(1), "o_data": Out(out_shape)}


class GeluUnit(wiring.Component):
    """GELU8 (``GeluInt`` + requantisation to int8) in ``GELU_LATENCY`` stages."""

    def __init__(self, hw: GeluHw) -> None:
        self.hw = hw
        super().__init__(unit_ports(signed(8)))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        hw = self.hw
        q = self.i_data
        mag = Signal(9)
        m.d.comb += mag.eq(Mux(q < 0, -q, q))
        # stage 1: t = q_b − min(|q|, q_b)
        t = Signal(range(hw.q_b + 1))
        q1, v1 = Signal(signed(8)), Signal()
        m.d.sync += [t.eq(hw.q_b - Mux(mag < hw.q_b, mag, hw.q_b)), q1.eq(q), v1.eq(self.i_valid)]
        # stage 2: y = q·(2q_c − t²) for q > 0, q·t² otherwise
        t2 = Signal(range(hw.q_b ** 2 + 1))
        m.d.comb += t2.eq(t * t)
        factor = Signal(signed(_bits(max(2 * hw.q_c, hw.q_b ** 2))))
        m.d.comb += factor.eq(Mux(q1 > 0, 2 * hw.q_c - t2, t2))
        y, v2 = Signal(signed(_bits(hw.y_bound))), Signal()
        m.d.sync += [y.eq(q1 * factor), v2.eq(v1)]
        # stage 3: requantise to int8
        m.d.sync += [self.o_data.eq(requant_int8(m, y, hw.mult, hw.shift, "gelu")), self.o_valid.eq(v2)]
        return m


class SigmoidUnit(wiring.Component):
    """``SigmoidInt`` in ``SIGMOID_LATENCY`` stages; output unsigned, 2^F is 1.0."""

    def __init__(self, hw: SigmoidHw) -> None:
        self.hw = hw
        super().__init__(unit_ports(unsigned(hw.frac_bits + 1)))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        hw = self.hw
        one = 1 << hw.frac_bits
        q = self.i_data
        mag = Signal(9)
        m.d.comb += mag.eq(Mux(q < 0, -q, q))
        # stage 1: |x| in fixed point
        xf, neg, v1 = Signal(range(((128 * hw.mult) >> hw.shift) + 2)), Signal(), Signal()
        m.d.sync += [xf.eq((mag * hw.mult + (1 << (hw.shift - 1))) >> hw.shift), neg.eq(q < 0),
                     v1.eq(self.i_valid)]
        # stage 2: the segment (32× scaled), rounding, mirror
        y32 = Signal(range(32 * one + 1))
        m.d.comb += y32.eq(Mux(xf < one, 8 * xf + 16 * one,
                               Mux(xf < 19 * (one >> 3), 4 * xf + 20 * one,
                                   Mux(xf < 5 * one, xf + 27 * one, 32 * one))))
        y = Signal(range(one + 1))
        m.d.comb += y.eq((y32 + 16) >> 5)
        m.d.sync += [self.o_data.eq(Mux(neg, one - y, y)), self.o_valid.eq(v1)]
        return m


class SoftmaxKeepUnit(wiring.Component):
    """Keep probability of each (keep, drop) logit pair: logits arrive as two beats, keep first.

    The first beat of a pair is held in a register; the probability leaves ``softmax_latency`` cycles
    after the second. Output unsigned, 2^F is 1.0.
    """

    def __init__(self, hw: SoftmaxHw) -> None:
        self.hw = hw
        super().__init__(unit_ports(unsigned(hw.frac_bits + 1)))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        hw = self.hw
        e0 = hw.e0
        # pair assembly: the keep logit waits for the drop logit
        second, keep_logit = Signal(), Signal(signed(8))
        with m.If(self.i_valid):
            m.d.sync += second.eq(~second)
            with m.If(~second):
                m.d.sync += keep_logit.eq(self.i_data)
        go = self.i_valid & second
        # stage 1: u = |keep − drop|, and which one is the maximum
        diff = Signal(signed(10))
        m.d.comb += diff.eq(keep_logit - self.i_data)
        u1, keep_max1, v1 = Signal(9), Signal(), Signal()
        m.d.sync += [u1.eq(Mux(diff < 0, -diff, diff)), keep_max1.eq(diff >= 0), v1.eq(go)]
        # stage 2: z = ⌊u / q_ln2⌋ by multiply-shift
        z2, u2, keep_max2, v2 = Signal(range(hw.max_z + 1)), Signal(9), Signal(), Signal()
        m.d.sync += [z2.eq((u1 * hw.z_mult) >> hw.z_shift), u2.eq(u1), keep_max2.eq(keep_max1), v2.eq(v1)]
        # stage 3: base = p + q_b with p = z·q_ln2 − u ∈ (−q_ln2, 0]
        base3, z3, keep_max3, v3 = Signal(range(hw.q_b + 1)), Signal.like(z2), Signal(), Signal()
        m.d.sync += [base3.eq(z2 * hw.q_ln2 - u2 + hw.q_b), z3.eq(z2), keep_max3.eq(keep_max2), v3.eq(v2)]
        # stage 4: e = (base² + q_c) >> z (the exp of the smaller logit)
        e4, keep_max4, v4 = Signal(range(e0 + 1)), Signal(), Signal()
        m.d.sync += [e4.eq((base3 * base3 + hw.q_c) >> z3), keep_max4.eq(keep_max3), v4.eq(v3)]
        # stage 5: total and the keep numerator
        total5, keep5, v5 = Signal(range(2 * e0 + 1)), Signal(range(e0 + 1)), Signal()
        m.d.sync += [total5.eq(e0 + e4), keep5.eq(Mux(keep_max4, e0, e4)), v5.eq(v4)]
        # divider: r = ⌊2^R / total⌋, one quotient bit per stage, remainder starting at 2^(R − Q)
        qb = hw.quotient_bits
        rem = Signal(range(2 * e0 + 1), name="div_rem0")
        quo = Signal(range(1 << qb), name="div_quo0")
        m.d.comb += [rem.eq(1 << (hw.recip_bits - qb)), quo.eq(0)]
        total, numer, valid = total5, keep5, v5
        for k in range(qb):
            doubled = Signal(range(4 * e0 + 1), name=f"div_dbl{k}")
            m.d.comb += doubled.eq(rem << 1)
            take = doubled >= total
            n_rem = Signal(range(2 * e0 + 1), name=f"div_rem{k + 1}")
            n_quo = Signal(range(1 << qb), name=f"div_quo{k + 1}")
            n_total, n_numer, n_valid = (Signal.like(total, name=f"div_total{k + 1}"),
                                         Signal.like(numer, name=f"div_numer{k + 1}"), Signal(name=f"div_v{k + 1}"))
            m.d.sync += [n_rem.eq(Mux(take, doubled - total, doubled)), n_quo.eq((quo << 1) | take),
                         n_total.eq(total), n_numer.eq(numer), n_valid.eq(valid)]
            rem, quo, total, numer, valid = n_rem, n_quo, n_total, n_numer, n_valid
        # last stage: p = (e_keep·r + 2^(R−F−1)) >> (R − F)
        drop = hw.recip_bits - hw.frac_bits
        m.d.sync += [self.o_data.eq((numer * quo + (1 << (drop - 1))) >> drop), self.o_valid.eq(valid)]
        return m

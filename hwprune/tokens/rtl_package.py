"""Selector phases RECIP, OUT and PKG: token compaction on the stream and the package token.

Why one walk over the token buffer: every candidate is either kept (its D beats leave in order) or fused
(its D elements are added, weighted by its keep score, into the package numerators), so one pass of
T·D steps does both and no token is read twice. The package average needs a single reciprocal
r = ⌊2^32 / den⌋ (computed before the walk, while nothing else is running) and one multiply per
channel; with den = 0 every fused token weighs 1 (the plain mean), exactly as the reference does.

Output register: one beat held in ``o`` until taken (``o.valid`` low otherwise); a step that emits
waits for it to be free, a step that accumulates never waits.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Mux, Signal, signed

from hwprune.tokens.rtl_parts import Ctx, State, counter, ram
from hwprune.tokens.reference import FUSE_RECIP_BITS

__all__ = ["package_phases", "RECIP_CYCLES"]

RECIP_CYCLES = FUSE_RECIP_BITS + 1
"""Steps of the package reciprocal: one per bit of the dividend 2^32."""


def package_phases(m: Module, c: Ctx, out: Any) -> None:
    hw = c.hw
    den, fused = c.den, c.fused
    den_eff = Signal(range(hw.den_max + 1), name="den_eff")
    m.d.comb += den_eff.eq(Mux(den == 0, fused, den))
    # ---- RECIP: restoring division of 2^32 (a one followed by 32 zeros, MSB first) by den_eff
    step = counter(RECIP_CYCLES, "recip_step")
    rem = Signal(range(hw.den_max + 1), name="recip_rem")
    recip = Signal(RECIP_CYCLES, name="recip")
    doubled = Signal(range(2 * hw.den_max + 2), name="recip_doubled")
    m.d.comb += doubled.eq((Mux(step == 0, 0, rem) << 1) | (step == 0))
    take = doubled >= den_eff
    first_fused = Signal(name="first_fused")
    with m.If(c.state == State.RECIP):
        m.d.sync += [rem.eq(Mux(take, doubled - den_eff, doubled)),
                     recip.eq((Mux(step == 0, 0, recip) << 1) | take), step.eq(step + 1)]
        with m.If(step == RECIP_CYCLES - 1):
            m.d.sync += [step.eq(0), first_fused.eq(1), c.goto(State.OUT)]

    # ---- OUT / PKG: walk (token, channel); kept tokens leave, fused ones accumulate
    d_ = hw.dim
    tok_i, ch = counter(hw.max_tokens, "out_token"), counter(d_, "out_channel")
    addr = counter(hw.max_tokens * d_, "out_addr")
    num = ram(m, "package_num", signed(hw.num_bits), d_)
    tok_rd, keep_rd, s_rd, num_rd = c.bufs["tok"].read(), c.bufs["keep"].read(), c.bufs["s"].read(), num.read()
    m.d.comb += [tok_rd.addr.eq(addr), keep_rd.addr.eq(tok_i - 1), s_rd.addr.eq(tok_i - 1), num_rd.addr.eq(ch),
                 num.write.addr.eq(ch)]
    in_out, in_pkg = c.state == State.OUT, c.state == State.PKG
    emit = (tok_i == 0) | keep_rd.data
    out_free = ~out.valid | out.ready
    weight = Mux(den == 0, 1, s_rd.data)
    m.d.comb += [num.write.data.eq(Mux(first_fused, 0, num_rd.data) + weight * tok_rd.data),
                 num.write.en.eq(in_out & ~emit)]
    last_channel = ch == d_ - 1
    load = Signal(name="out_load")
    with m.If(in_out & (~emit | out_free)):
        m.d.sync += [ch.eq(ch + 1), addr.eq(addr + 1)]
        with m.If(emit):
            m.d.comb += load.eq(1)
            m.d.sync += [out.payload.data.eq(tok_rd.data), out.payload.package.eq(0),
                         out.payload.last.eq((fused == 0) & (tok_i == c.ncand) & last_channel)]
        with m.If(last_channel):
            m.d.sync += [ch.eq(0), tok_i.eq(tok_i + 1)]
            with m.If(~emit):
                m.d.sync += first_fused.eq(0)
            with m.If(tok_i == c.ncand):
                m.d.sync += [tok_i.eq(0), addr.eq(0), c.goto(Mux(fused == 0, State.IN, State.PKG))]
    # package: (num_c·r + 2^31) >> 32, clamped to int8 (it never needs to be)
    scaled = Signal(signed(hw.num_bits + RECIP_CYCLES + 2), name="package_scaled")
    m.d.comb += scaled.eq((num_rd.data * recip + (1 << (FUSE_RECIP_BITS - 1))) >> FUSE_RECIP_BITS)
    with m.If(in_pkg & out_free):
        m.d.comb += load.eq(1)
        m.d.sync += [out.payload.data.eq(Mux(scaled > 127, 127, Mux(scaled < -128, -128, scaled))),
                     out.payload.package.eq(1), out.payload.last.eq(last_channel), ch.eq(ch + 1)]
        with m.If(last_channel):
            m.d.sync += [ch.eq(0), c.goto(State.IN)]
    with m.If(load):
        m.d.sync += out.valid.eq(1)
    with m.Elif(out.ready):
        m.d.sync += out.valid.eq(0)

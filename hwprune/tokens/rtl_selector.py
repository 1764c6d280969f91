"""The 8-bit HeatViT token selector as one streaming Amaranth component (``TokenSelectorRtl``).

Beat format (input and output alike; ``BEAT``, 10 bits, low bits first in ``i__payload``/``o__payload``):
``data`` [7:0] one int8 element, ``last`` [8] set on the final beat of a token set, ``package`` [9] set
on the beats of a package token. Token-major: D beats per token, channels in order; the class token
first. Input: T tokens (2 ≤ T ≤ max_tokens); the sender marks the previous package token (the last
token) with ``package``, which is read on the ``last`` beat. Output: the class token, the kept
candidates in order, then the package token if anything was fused — never more tokens than came in.

Why this micro-architecture: the global branch needs the mean over *all* candidates before any score
exists, so a set is buffered whole and processed in phases, each a simple sequencer around one of the
existing MAC engines (``DotEngine``, a dense ``KernelSpec`` per Linear) or a counter. Phases (state):

  IN     accept beats; store tokens; per-channel candidate sums (head means); the local Linear runs on
         the stream itself (its engine back-pressures the input), GELU8 results + their sums stored
  DRAIN  until the last local result is stored
  MEANS  one value per cycle: the H·d/2 global means, then the D per-head input means (× R[n] ≫ 16)
  HEAD1, HEAD2, S1, S2, S3  feed an engine back-to-back from a buffer; its results pass a stall-free
         nonlinearity (GELU8 / sigmoid / two-way softmax) into the next buffer
  SCORE  one (token, head) per cycle: S_i = Σ_h w_h·p_hi, keep_i ⟺ S_i ≥ 2^(F−1)·W, package sums
  RECIP  ⌊2^32 / den⌋ by a restoring divider, one bit per cycle (33 cycles)
  OUT    one (token, channel) per cycle: kept tokens leave, fused ones accumulate Σ S_i·q_ic
  PKG    the package token, (num_c·r + 2^31) ≫ 32 per channel
The exact cycle of every output beat follows from these rules (``hwprune.tokens.cycles``).
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import DotEngine
from hwprune.tokens.hardware import SelectorHardware
from hwprune.tokens.rtl_nonlinear import GeluUnit
from hwprune.tokens.rtl_package import package_phases
from hwprune.tokens.rtl_parts import BEAT, Ctx, State, counter, ram
from hwprune.tokens.rtl_score import score_phases

__all__ = ["BEAT", "TokenSelectorRtl", "State"]


class TokenSelectorRtl(wiring.Component):
    """One selector: ``i`` token-set stream in, compacted stream (``BEAT`` payloads) out."""

    def __init__(self, hw: SelectorHardware) -> None:
        self.hw = hw
        super().__init__({"i": In(stream.Signature(BEAT)), "o": Out(stream.Signature(BEAT))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        hw = self.hw
        state = Signal(range(12), name="state", init=State.IN)

        def goto(target: int) -> Any:
            return state.eq(target)

        engines = {name: DotEngine(spec) for name, spec in hw.kernels.items()}
        for name, engine in engines.items():
            m.submodules[f"engine_{name}"] = engine
            m.d.comb += engine.o.ready.eq(1)  # results always flow into a stall-free unit
        ctx = Ctx(hw, state, Signal(range(hw.max_tokens), name="ncand"), Signal(name="pkg_in"), engines, {}, goto)
        self._input(m, ctx)
        self._means(m, ctx)
        score_phases(m, ctx)
        package_phases(m, ctx, self.o)
        return m

    def _input(self, m: Module, c: Ctx) -> None:
        """IN and DRAIN: tokens into the buffer, the local Linear on the stream, candidate sums."""
        hw = c.hw
        d_, hh = hw.dim, hw.heads * hw.half
        c.bufs["tok"] = tok = ram(m, "tok", signed(8), hw.max_tokens * d_)
        c.bufs["xs"] = xs = ram(m, "xsum", signed(hw.sum_bits), d_)
        c.bufs["loc"] = loc = ram(m, "local", signed(8), (hw.max_tokens - 1) * hh)
        c.bufs["gs"] = gs = ram(m, "gsum", signed(hw.sum_bits), hh)
        t_in, ch = counter(hw.max_tokens, "in_token"), counter(d_, "in_channel")
        addr = counter(hw.max_tokens * d_, "in_addr")
        local = c.engines["local"]
        in_state = c.state == State.IN
        is_cls = t_in == 0
        q = self.i.payload.data
        take = Signal()
        m.d.comb += [
            local.i.payload.eq(q),
            local.i.valid.eq(in_state & ~is_cls & self.i.valid),
            self.i.ready.eq(in_state & (is_cls | local.i.ready)),
            take.eq(self.i.valid & self.i.ready),
        ]
        xs_rd = xs.read()
        m.d.comb += [tok.write.addr.eq(addr), tok.write.data.eq(q), tok.write.en.eq(take),
                     xs_rd.addr.eq(ch), xs.write.addr.eq(ch),
                     xs.write.data.eq(Mux(t_in == 1, 0, xs_rd.data) + q), xs.write.en.eq(take & ~is_cls)]
        # padded to a power of two so every index value has a case (no incomplete "casez")
        padded = [*hw.mean_recip, *[0] * ((1 << len(t_in)) - len(hw.mean_recip))]
        recips = Array(Const(r, unsigned(max(r.bit_length() for r in padded))) for r in padded)
        c.mean_recip = Signal.like(recips[0], name="mean_recip")
        local_last = Signal(range(max(2, (hw.max_tokens - 1) * hh)), name="local_last")
        with m.If(take):
            m.d.sync += [addr.eq(addr + 1), ch.eq(ch + 1)]
            with m.If(ch == d_ - 1):
                m.d.sync += [ch.eq(0), t_in.eq(t_in + 1)]
            with m.If(self.i.payload.last):
                m.d.sync += [c.ncand.eq(t_in), c.pkg_in.eq(self.i.payload.package), c.mean_recip.eq(recips[t_in]),
                             local_last.eq(t_in * hh - 1), t_in.eq(0), ch.eq(0), addr.eq(0), c.goto(State.DRAIN)]
        # local GELU8 results: stored in order, and summed per (head, channel) over the candidates
        gelu = GeluUnit(hw.gelus["local"])
        m.submodules.gelu_local = gelu
        m.d.comb += [gelu.i_valid.eq(local.o.valid), gelu.i_data.eq(local.o.payload)]
        lw, gk = counter((hw.max_tokens - 1) * hh, "local_count"), counter(hh, "local_slot")
        first = Signal(init=1, name="local_first_token")
        gs_rd = gs.read()
        m.d.comb += [loc.write.addr.eq(lw), loc.write.data.eq(gelu.o_data), loc.write.en.eq(gelu.o_valid),
                     gs_rd.addr.eq(gk), gs.write.addr.eq(gk),
                     gs.write.data.eq(Mux(first, 0, gs_rd.data) + gelu.o_data), gs.write.en.eq(gelu.o_valid)]
        with m.If(gelu.o_valid):
            m.d.sync += [lw.eq(lw + 1), gk.eq(gk + 1)]
            with m.If(gk == hh - 1):
                m.d.sync += [gk.eq(0), first.eq(0)]
            with m.If((c.state == State.DRAIN) & (lw == local_last)):
                m.d.sync += [lw.eq(0), gk.eq(0), first.eq(1), c.goto(State.MEANS)]

    def _means(self, m: Module, c: Ctx) -> None:
        """MEANS: glob[h, j] = mean8 of the local results, head_in[ch] = mean8 of the candidates."""
        hw = c.hw
        d_, hh = hw.dim, hw.heads * hw.half
        c.bufs["glob"] = glob = ram(m, "glob", signed(8), hh)
        c.bufs["hin"] = hin = ram(m, "head_in", signed(8), d_)
        k = counter(hh + d_, "mean_index")
        is_glob = k < hh
        gs_rd, xs_rd = c.bufs["gs"].read(), c.bufs["xs"].read()
        m.d.comb += [gs_rd.addr.eq(k), xs_rd.addr.eq(k - hh)]
        src = Signal(signed(hw.sum_bits), name="mean_src")
        m.d.comb += src.eq(Mux(is_glob, gs_rd.data, xs_rd.data))
        mean = Signal(signed(hw.sum_bits + len(c.mean_recip) + 1), name="mean_value")
        m.d.comb += mean.eq((src * c.mean_recip + (1 << 15)) >> 16)
        active = c.state == State.MEANS
        m.d.comb += [glob.write.addr.eq(k), glob.write.data.eq(mean[:8]), glob.write.en.eq(active & is_glob),
                     hin.write.addr.eq(k - hh), hin.write.data.eq(mean[:8]), hin.write.en.eq(active & ~is_glob)]
        with m.If(active):
            m.d.sync += k.eq(k + 1)
            with m.If(k == hh + d_ - 1):
                m.d.sync += [k.eq(0), c.goto(State.HEAD1)]

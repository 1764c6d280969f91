"""Selector phases HEAD1 … S3 (engine sequencers) and SCORE (keep decisions, package weights).

Every engine phase has the same shape, which is what keeps its timing exact: a feeder offers beats to
one ``DotEngine`` from the first cycle of the phase, back to back, reading a buffer through a
combinational port (the engine's own ready paces it); the engine's results pass a stall-free unit
(GELU8 / sigmoid / softmax) and are written in order into the next buffer; the phase ends in the cycle
the last result is written. One feeder counter and one result counter serve all phases in turn.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Mux, Signal, signed, unsigned

from hwprune.tokens.rtl_nonlinear import GeluUnit, SigmoidUnit, SoftmaxKeepUnit
from hwprune.tokens.rtl_parts import Ctx, State, counter, ram

__all__ = ["score_phases"]


def score_phases(m: Module, c: Ctx) -> None:
    hw = c.hw
    t_max = hw.max_tokens - 1  # most candidates
    hq, hh, hc = hw.heads * hw.quarter, hw.heads * hw.half, hw.heads
    one_bits = hw.softmax.frac_bits + 1
    c.bufs["hh"] = ram(m, "head_hidden", signed(8), hq)
    c.bufs["w"] = ram(m, "head_weight", unsigned(one_bits), hc)
    c.bufs["h1"] = ram(m, "hidden1", signed(8), t_max * hh)
    c.bufs["h2"] = ram(m, "hidden2", signed(8), t_max * hq)
    c.bufs["p"] = ram(m, "keep_prob", unsigned(one_bits), t_max * hc)

    feed = counter(t_max * hw.heads * 2 * hw.half + hw.dim, "feed_count")
    feed_done = Signal(name="feed_done")
    result = counter(t_max * hh + hw.dim, "result_count")
    w_sum = Signal(range(hw.heads * hw.one + 1), name="w_sum")
    c.w_sum = w_sum

    # per phase: (state, engine, feeder beats, source data, unit, destination, results, next state)
    gelu = {name: GeluUnit(g) for name, g in hw.gelus.items() if name != "local"}
    sigmoid, softmax = SigmoidUnit(hw.sigmoid), SoftmaxKeepUnit(hw.softmax)
    for name, unit in [*(("gelu_" + k, u) for k, u in gelu.items()), ("sigmoid", sigmoid),
                       ("softmax", softmax)]:
        m.submodules[name] = unit
    s1_data = _score1_source(m, c, feed)
    phases = [
        (State.HEAD1, "head1", hw.dim, _read(m, c, "hin", feed), gelu["head"], "hh", hq, State.HEAD2),
        (State.HEAD2, "head2", hq, _read(m, c, "hh", feed), sigmoid, "w", hc, State.S1),
        (State.S1, "score1", c.ncand * (hw.heads * 2 * hw.half), s1_data, gelu["score1"], "h1", c.ncand * hh,
         State.S2),
        (State.S2, "score2", c.ncand * hh, _read(m, c, "h1", feed), gelu["score2"], "h2", c.ncand * hq, State.S3),
        (State.S3, "score3", c.ncand * hq, _read(m, c, "h2", feed), softmax, "p", c.ncand * hc, State.SCORE),
    ]
    for st, engine_name, beats, source, unit, dest, results, nxt in phases:
        engine = c.engines[engine_name]
        active = c.state == st
        m.d.comb += [engine.i.valid.eq(active & ~feed_done), engine.i.payload.eq(source),
                     unit.i_valid.eq(engine.o.valid), unit.i_data.eq(engine.o.payload)]
        with m.If(active & engine.i.valid & engine.i.ready):
            m.d.sync += feed.eq(feed + 1)
            with m.If(feed == beats - 1):
                m.d.sync += feed_done.eq(1)
        buf = c.bufs[dest]
        with m.If(active):
            m.d.comb += [buf.write.addr.eq(result), buf.write.data.eq(unit.o_data), buf.write.en.eq(unit.o_valid)]
        with m.If(active & unit.o_valid):
            m.d.sync += result.eq(result + 1)
            if dest == "w":
                m.d.sync += w_sum.eq(Mux(result == 0, 0, w_sum) + unit.o_data)
            with m.If(result == results - 1):
                m.d.sync += [result.eq(0), feed.eq(0), feed_done.eq(0), c.goto(nxt)]
    _score(m, c)


def _read(m: Module, c: Ctx, name: str, addr: Signal) -> Any:
    port = c.bufs[name].read()
    m.d.comb += port.addr.eq(addr)
    return port.data


def _score1_source(m: Module, c: Ctx, feed: Signal) -> Signal:
    """Beats of the score1 vectors: [local_ih (d/2), glob_h (d/2)] for every candidate i and head h."""
    hw = c.hw
    k = counter(2 * hw.half, "s1_beat")
    head = counter(hw.heads, "s1_head")
    loc_addr = counter((hw.max_tokens - 1) * hw.heads * hw.half, "s1_local_addr")
    engine = c.engines["score1"]
    with m.If((c.state == State.S1) & engine.i.valid & engine.i.ready):
        m.d.sync += k.eq(k + 1)
        with m.If(k < hw.half):
            m.d.sync += loc_addr.eq(loc_addr + 1)
        with m.If(k == 2 * hw.half - 1):
            m.d.sync += [k.eq(0), head.eq(Mux(head == hw.heads - 1, 0, head + 1))]
    with m.If(c.state == State.S2):
        m.d.sync += [k.eq(0), head.eq(0), loc_addr.eq(0)]
    loc, glob = _read(m, c, "loc", loc_addr), _read(m, c, "glob", head * hw.half + k - hw.half)
    data = Signal(signed(8), name="s1_data")
    m.d.comb += data.eq(Mux(k < hw.half, loc, glob))
    return data


def _score(m: Module, c: Ctx) -> None:
    """SCORE: S_i = Σ_h w_h·p_hi (w_h := 1 when every w_h is 0), keep_i ⟺ S_i ≥ 2^(F−1)·W (never the
    previous package), den = Σ S_i and the count of the fused candidates."""
    hw = c.hw
    t_max = hw.max_tokens - 1
    c.bufs["s"] = sbuf = ram(m, "score", unsigned(hw.score_max.bit_length()), t_max)
    c.bufs["keep"] = keep_buf = ram(m, "keep", unsigned(1), t_max)
    tok, head = counter(t_max, "sc_token"), counter(hw.heads, "sc_head")
    addr = counter(t_max * hw.heads, "sc_addr")
    p_rd, w_rd = c.bufs["p"].read(), c.bufs["w"].read()
    m.d.comb += [p_rd.addr.eq(addr), w_rd.addr.eq(head)]
    w_sum = c.w_sum
    w_zero = w_sum == 0
    acc = Signal(range(hw.score_max + 1), name="sc_acc")
    nxt = Signal(range(hw.score_max + 1), name="sc_next")
    m.d.comb += nxt.eq(Mux(head == 0, 0, acc) + Mux(w_zero, 1, w_rd.data) * p_rd.data)
    threshold = Mux(w_zero, hw.heads, w_sum) << (hw.softmax.frac_bits - 1)
    keep = Signal(name="sc_keep")
    m.d.comb += keep.eq((nxt >= threshold) & ~(c.pkg_in & (tok == c.ncand - 1)))
    c.den = den = Signal(range(hw.den_max + 1), name="den")
    c.fused = fused = Signal(range(hw.max_tokens), name="fused")
    active = c.state == State.SCORE
    last_head = head == hw.heads - 1
    m.d.comb += [sbuf.write.addr.eq(tok), sbuf.write.data.eq(nxt), sbuf.write.en.eq(active & last_head),
                 keep_buf.write.addr.eq(tok), keep_buf.write.data.eq(keep), keep_buf.write.en.eq(active & last_head)]
    with m.If(active):
        m.d.sync += [acc.eq(nxt), addr.eq(addr + 1), head.eq(head + 1)]
        with m.If(last_head):
            m.d.sync += [head.eq(0), tok.eq(tok + 1),
                         den.eq(Mux(tok == 0, 0, den) + Mux(keep, 0, nxt)),
                         fused.eq(Mux(tok == 0, 0, fused) + ~keep)]
            with m.If(tok == c.ncand - 1):
                m.d.sync += [tok.eq(0), addr.eq(0), c.goto(State.RECIP)]

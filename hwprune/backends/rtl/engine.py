"""The sparse dot-product engine shared by every balanced pattern (N:M, bank-balanced, balanced
stochastic, block-punched) and by dense layers ("keep all").

Why it looks like this: a balanced layout keeps exactly ``k`` of every ``S`` inputs in every group of
every row, so one MAC unit that walks its groups spends exactly ``k`` cycles per group on kept
weights and never one on a pruned weight; the only metadata it needs is the ``log2 S``-bit position
inside the group, used as the select of an ``S:1`` multiplexer over that group's activations.

Micro-architecture (cycle rules in ``hwprune.lower.cycles``)::

    i (in_simd / beat) ──────► assembler ──► P input banks (ping-pong halves, one S-wide word per group)
                                                    │ word of group u + P·round, shared by the L lanes
    counter (pass, round, j) ──► weight ROM ──► L×P × (weight, offset) ──► S:1 select ──► × ──► Σ_P ──► acc
                                                                                                  │ last step
                                                       ┌── result bank 0 (L shift registers) ◄──┤ (pass mod 2)
    o (out_pe / beat) ◄── requantise (bias, M, sh, ◄── 2:1 ┤
                          ReLU, saturate)              └── result bank 1 (L shift registers) ◄──┘

A wide input beat (``in_simd`` > 1) fills a share of one group word, or whole groups written straight
into their banks; a wide output beat takes ``out_pe`` results through as many requantisers (rules in
``KernelSpec`` / ``stream_width_problem``). Input beats land in the bank half of their vector while the
other half is read, so loading vector ``v+1`` overlaps the compute of vector ``v``. A grouped conv's
engine takes each pixel's window as one vector per conv group (``K = C/g·kh·kw`` beats) and computes
that group's filters from its own block of the weight ROM, so no MAC ever meets a cross-group zero. The
two result banks decouple the lanes (which finish a pass together) from the output stream (``out_pe``
rows per beat): passes alternate between them, so the lanes finish pass ``p + 1`` into one bank while
the serialiser still drains pass ``p`` from the other, and the serialiser moves on to the other bank in
the cycle after a bank's last beat. With one bank, a pass whose compute is shorter than its drain
cost its output beats plus the 3 cycles from its last step to its result; with two, it costs its
beats (or its compute, whichever is longer) once every pass drains in at least 3 beats. Each bank
keeps its own row and beat counters; the ``out_pe`` requantisers, shared by all lanes, read the
draining bank through a 2:1 select.
"""

from __future__ import annotations

from typing import Callable

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.roms import EngineShape, param_rom, weight_rom
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["DotEngine", "stream_shape", "beat_shape"]


def _counter(count: int, name: str) -> Signal:
    """A counter over ``range(count)``, at least one bit wide (zero-width wires trip Verilator's lint)."""
    return Signal(range(max(2, count)), name=name)


def stream_shape(bits: int, is_signed: bool) -> signed | unsigned:
    return signed(bits) if is_signed else unsigned(bits)


def beat_shape(bits: int, is_signed: bool, width: int = 1) -> signed | unsigned:
    """One beat of ``width`` elements: the element's own shape, or ``width · bits`` raw bits (element
    ``j`` in bits ``[j·bits, (j+1)·bits)``, each two's complement when signed)."""
    return stream_shape(bits, is_signed) if width == 1 else unsigned(width * bits)


class DotEngine(wiring.Component):
    """Dense-kind kernel: ``K`` input beats in, ``out_features`` output beats out, per vector.

    Ports (Verilog names): ``clk``, ``rst``, ``i__payload/valid/ready`` (input activations),
    ``o__payload/valid/ready`` (requantised outputs).
    """

    def __init__(self, spec: KernelSpec) -> None:
        self.spec = spec
        self.shape = EngineShape.of(spec)
        s = self.shape
        super().__init__({
            "i": In(stream.Signature(beat_shape(s.in_bits, s.in_signed, s.in_simd))),
            "o": Out(stream.Signature(beat_shape(s.out_bits, s.out_signed, s.out_pe))),
        })

    def _banks(self, m: Module, wr: Signal, w_q: Signal, data: Callable[[int], Value],
               enable: Callable[[int], Value]) -> list[memory.Memory]:
        """The P input banks (ping-pong halves of ``rounds`` S-wide words); bank ``u`` writes ``data(u)``
        at ``half·Q + w_q`` when ``enable(u)``."""
        s = self.shape
        banks = []
        for u in range(s.macs):
            bank = memory.Memory(shape=unsigned(s.group_size * s.in_bits), depth=2 * s.rounds, init=[])
            m.submodules[f"bank{u}"] = bank
            wp = bank.write_port()
            m.d.comb += [wp.addr.eq(Mux(wr, s.rounds, 0) + w_q), wp.data.eq(data(u)), wp.en.eq(enable(u))]
            banks.append(bank)
        return banks

    def _group_word_input(self, m: Module, take: Signal, wr: Signal) -> tuple[list[memory.Memory], Value]:
        """Beats of ``in_simd`` (dividing ``S``, and less than it when wide) elements assembled into one
        S-wide word per group; returns the banks and the vector's-last-beat condition."""
        s = self.shape
        S, P, Q, W, ab = s.group_size, s.macs, s.rounds, s.in_simd, s.in_bits
        S2 = max(2, 1 << (S - 1).bit_length())  # padded to a power of two (see ``elaborate``)
        w_o, w_u, w_q, w_i = (_counter(S // W, "w_offset"), _counter(P, "w_mac"), _counter(Q, "w_round"),
                              _counter(self.spec.in_beats, "w_index"))
        assembled = Signal(S2 * ab)
        word = Signal(S2 * ab)
        last_beat = w_i == self.spec.in_beats - 1
        group_done = (w_o == S // W - 1) | last_beat
        m.d.comb += [word.eq(assembled), word.word_select(w_o, W * ab).eq(self.i.payload)]
        banks = self._banks(m, wr, w_q, lambda u: word[:S * ab], lambda u: take & group_done & (w_u == u))
        with m.If(take):
            with m.If(group_done):
                m.d.sync += [assembled.eq(0), w_o.eq(0)]
                with m.If(w_u == P - 1):
                    m.d.sync += [w_u.eq(0), w_q.eq(w_q + 1)]
                with m.Else():
                    m.d.sync += w_u.eq(w_u + 1)
            with m.Else():
                m.d.sync += [assembled.eq(word), w_o.eq(w_o + 1)]
            with m.If(last_beat):
                m.d.sync += [w_i.eq(0), w_o.eq(0), w_u.eq(0), w_q.eq(0), wr.eq(~wr)]
            with m.Else():
                m.d.sync += w_i.eq(w_i + 1)
        return banks, last_beat

    def _whole_groups_input(self, m: Module, take: Signal, wr: Signal) -> tuple[list[memory.Memory], Value]:
        """Beats of ``g = in_simd / S`` whole groups (``g`` divides P; one group when ``in_simd = S``), or
        the whole vector in one beat when ``S`` does not divide it (``g`` = its groups, the last one's
        padding zero): group ``j`` of a beat goes straight into bank ``w_u + j`` at the beat's one
        address, no assembly register; returns the banks and the vector's-last-beat condition."""
        s = self.shape
        S, P, Q, ab = s.group_size, s.macs, s.rounds, s.in_bits
        g = -(-s.in_simd // S)
        beat: Value = self.i.payload
        if g * S > s.in_simd:  # the whole vector: zero-extended past it (padding, never kept)
            beat = Signal(g * S * ab, name="beat_padded")
            m.d.comb += beat.eq(self.i.payload)
        w_u, w_q = _counter(P // g, "w_beat"), _counter(Q, "w_round")
        w_i = _counter(self.spec.in_beats, "w_index")
        last_beat = w_i == self.spec.in_beats - 1
        banks = self._banks(m, wr, w_q, lambda u: beat.word_select(u % g, S * ab),
                            lambda u: take & (w_u == u // g))
        with m.If(take):
            with m.If(w_u == P // g - 1):
                m.d.sync += [w_u.eq(0), w_q.eq(w_q + 1)]
            with m.Else():
                m.d.sync += w_u.eq(w_u + 1)
            with m.If(last_beat):
                m.d.sync += [w_i.eq(0), w_u.eq(0), w_q.eq(0), wr.eq(~wr)]
            with m.Else():
                m.d.sync += w_i.eq(w_i + 1)
        return banks, last_beat

    def elaborate(self, platform: object) -> Module:
        m = Module()
        s = self.shape
        S, P, L, Q = s.group_size, s.macs, s.lanes, s.rounds
        ab = s.in_bits
        # selects and the assembler are padded to a power of two, so every index value has a case
        # (no incomplete "casez" in the Verilog); the padding positions are never selected
        S2 = max(2, 1 << (S - 1).bit_length())

        # ---- input: assemble one group word, write it into bank (group mod P), address half·Q + round
        full = [Signal(name=f"full{h}") for h in (0, 1)]
        wr = Signal()
        take = Signal()
        m.d.comb += [self.i.ready.eq(~Mux(wr, full[1], full[0])), take.eq(self.i.valid & self.i.ready)]
        # whole groups per beat (in_simd = S included), or the whole vector of a padded layout
        if s.in_simd > 1 and (s.in_simd >= s.group_size or s.group_size % s.in_simd):
            banks, last_beat = self._whole_groups_input(m, take, wr)
        else:
            banks, last_beat = self._group_word_input(m, take, wr)

        # ---- compute counter: one step per cycle over (pass, round, j); the last step of a pass
        # claims the next result bank (passes alternate) and waits until it is free (rule 3)
        rd = Signal()
        c_j, c_q, c_p = _counter(s.kept, "c_kept"), _counter(Q, "c_round"), _counter(s.group_passes, "c_pass")
        grouped = s.conv_groups > 1  # a grouped conv: one vector per conv group, in turn (group-serial)
        c_g = _counter(s.conv_groups, "c_group") if grouped else None
        addr = _counter(s.rom_depth, "rom_addr")
        claimed = [Signal(name=f"res_claimed{b}") for b in (0, 1)]  # a last step issued, not yet drained
        claim_bank = Signal()  # the bank the next pass's last step claims
        pass_first = (c_j == 0) & (c_q == 0)
        pass_last = (c_j == s.kept - 1) & (c_q == Q - 1)
        vector_last = pass_last & (c_p == s.group_passes - 1)
        issue = Signal()
        m.d.comb += issue.eq(Mux(rd, full[1], full[0]) & (~pass_last | ~Mux(claim_bank, claimed[1], claimed[0])))
        for h in (0, 1):
            with m.If(take & last_beat & (wr == h)):
                m.d.sync += full[h].eq(1)
            with m.If(issue & vector_last & (rd == h)):
                m.d.sync += full[h].eq(0)
        with m.If(issue):
            m.d.sync += addr.eq(addr + 1)
            with m.If(c_j == s.kept - 1):
                m.d.sync += [c_j.eq(0), c_q.eq(c_q + 1)]
            with m.Else():
                m.d.sync += c_j.eq(c_j + 1)
            with m.If(pass_last):
                m.d.sync += [c_q.eq(0), c_p.eq(c_p + 1), claim_bank.eq(~claim_bank)]
                for b in (0, 1):
                    with m.If(claim_bank == b):
                        m.d.sync += claimed[b].eq(1)
            with m.If(vector_last):
                m.d.sync += [c_p.eq(0), rd.eq(~rd)]
                if c_g is None:
                    m.d.sync += addr.eq(0)
                else:  # the ROM holds the groups' passes one after another: rewind after the last group
                    with m.If(c_g == s.conv_groups - 1):
                        m.d.sync += [c_g.eq(0), addr.eq(0)]
                    with m.Else():
                        m.d.sync += c_g.eq(c_g + 1)

        # depth ≥ 2 (a zero pad word) so no address port is zero bits wide
        rom_init = weight_rom(self.spec) + [0] * max(0, 2 - s.rom_depth)
        rom = memory.Memory(shape=unsigned(s.rom_width), depth=len(rom_init), init=rom_init)
        m.submodules.weights = rom
        rom_rd = rom.read_port()
        m.d.comb += rom_rd.addr.eq(addr)
        windows = []
        for u, bank in enumerate(banks):
            port = bank.read_port()
            m.d.comb += port.addr.eq(Mux(rd, Q, 0) + c_q)
            windows.append(port.data)

        # ---- stage 1: select the activation inside the group, multiply
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_j, s1_p = Signal.like(c_j, name="s1_kept"), Signal.like(c_p, name="s1_pass")
        m.d.sync += [s1_valid.eq(issue), s1_first.eq(pass_first), s1_last.eq(pass_last), s1_j.eq(c_j),
                     s1_p.eq(c_p)]
        if c_g is not None:
            s1_g = Signal.like(c_g, name="s1_group")
            m.d.sync += s1_g.eq(c_g)
        prod_shape = signed(s.weight_bits + ab + (0 if s.in_signed else 1))
        products: list[list[Signal]] = []
        for lane in range(L):
            row = []
            for u in range(P):
                base = (lane * P + u) * s.slot_bits
                weight = rom_rd.data[base:base + s.weight_bits].as_signed()
                offset = rom_rd.data[base + s.weight_bits:base + s.slot_bits] if s.offset_bits else s1_j
                elems = [windows[u][e * ab:(e + 1) * ab] for e in range(S)]
                elems = [e.as_signed() for e in elems] if s.in_signed else elems
                elems += [Const(0, stream_shape(ab, s.in_signed))] * (S2 - S)
                act = Signal(stream_shape(ab, s.in_signed), name=f"act_l{lane}_m{u}")
                m.d.comb += act.eq(Array(elems)[offset])
                prod = Signal(prod_shape, name=f"prod_l{lane}_m{u}")
                m.d.sync += prod.eq(weight * act)
                row.append(prod)
            products.append(row)

        # ---- stage 2: add the lane's P products, accumulate; the last step fills the pass's result bank
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_p = Signal.like(c_p, name="s2_pass")
        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last), s2_p.eq(s1_p)]
        row_base = s2_p * L
        if c_g is not None:
            s2_g = Signal.like(c_g, name="s2_group")
            m.d.sync += s2_g.eq(s1_g)
            row_base = s2_g * s.group_outputs + s2_p * L
        acc_shape = signed(s.acc_bits)
        results = [[Signal(acc_shape, name=f"result{b}_{lane}") for lane in range(L)] for b in (0, 1)]
        W = s.out_pe  # outputs per beat: a bank's row and beat counters count beats of W rows
        counts = [(_counter(self.spec.out_beats + 1, f"res_row{b}"), _counter(L // W + 1, f"res_left{b}"),
                   Signal(name=f"res_full{b}")) for b in (0, 1)]
        fill_bank = Signal()  # the bank the next pass's final sums go into (passes in issue order)
        nexts = []
        for lane in range(L):
            acc = Signal(acc_shape, name=f"acc{lane}")
            total = sum(products[lane][1:], products[lane][0])
            nxt = Signal(acc_shape, name=f"next{lane}")
            m.d.comb += nxt.eq(Mux(s2_first, total, acc + total))
            with m.If(s2_valid):
                m.d.sync += acc.eq(nxt)
            nexts.append(nxt)
        last_pass_beats = -(-(s.group_outputs - (s.group_passes - 1) * L) // W)
        with m.If(s2_valid & s2_last):
            m.d.sync += fill_bank.eq(~fill_bank)
            for b, (row, left, bank_full) in enumerate(counts):
                with m.If(fill_bank == b):
                    m.d.sync += [res.eq(nxt) for res, nxt in zip(results[b], nexts)]
                    m.d.sync += [bank_full.eq(1), row.eq(row_base if W == 1 else s2_p * (L // W)),
                                 left.eq(Mux(s2_p == s.group_passes - 1, last_pass_beats, L // W))]
        self._serialise(m, results, counts, claimed)
        return m

    def _serialise(self, m: Module, results: list[list[Signal]], counts: list[tuple[Signal, Signal, Signal]],
                   claimed: list[Signal]) -> None:
        """The serialiser: drains the banks in pass order, ``out_pe`` rows a beat (requantised into the
        output register, the bank's rest shifted down); after a bank's last beat it frees the bank (its
        claim too) and turns to the other, so the next beat can come from there in the next cycle."""
        W, L = self.shape.out_pe, self.shape.lanes
        drain = Signal()  # the bank being drained
        row, left, bank_full = (Mux(drain, one, zero) for zero, one in zip(*counts))
        heads = [Mux(drain, one, zero) for zero, one in zip(results[0][:W], results[1][:W])]
        payload = self._requantise(m, heads, row)
        out_free = ~self.o.valid | self.o.ready
        with m.If(bank_full & out_free):
            m.d.sync += [self.o.payload.eq(payload), self.o.valid.eq(1)]
            for b, (b_row, b_left, b_full) in enumerate(counts):
                with m.If(drain == b):
                    m.d.sync += [b_row.eq(b_row + 1), b_left.eq(b_left - 1)]
                    m.d.sync += [results[b][lane].eq(results[b][lane + W]) for lane in range(L - W)]
                    with m.If(left == 1):
                        m.d.sync += [b_full.eq(0), claimed[b].eq(0), drain.eq(~drain)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

    def _requantise(self, m: Module, result: list[Value], res_row: Value) -> Value:
        """The output beat from ``result[0..out_pe-1]``: each row's ``sat((acc + b)·M >> sh)`` with its
        parameters from word ``res_row`` of the parameter ROM; rows past ``out_features`` (the spare
        elements of a part-filled last beat) give 0."""
        s = self.shape
        W = s.out_pe
        param_init = param_rom(self.spec) + [0] * max(0, 2 - self.spec.out_beats)
        params = memory.Memory(shape=unsigned(s.param_width * W), depth=len(param_init), init=param_init)
        m.submodules.params = params
        prm = params.read_port(domain="comb")
        m.d.comb += prm.addr.eq(res_row)
        out_max = (1 << (s.out_bits - 1)) - 1 if s.out_signed else (1 << s.out_bits) - 1
        out_min = 0 if (s.relu or not s.out_signed) else -(1 << (s.out_bits - 1))
        elements = []
        for j in range(W):
            row = prm.data.word_select(j, s.param_width) if W > 1 else prm.data
            suffix = f"{j}" if W > 1 else ""
            bias = row[:s.acc_bits].as_signed()
            mult = row[s.acc_bits:s.acc_bits + s.mult_bits].as_signed()
            shift_m1 = row[s.acc_bits + s.mult_bits:]
            scaled = Signal(signed(s.acc_bits + 1 + s.mult_bits), name=f"scaled{suffix}")
            halved = Signal(signed(s.acc_bits + 1 + s.mult_bits), name=f"halved{suffix}")
            rounded = Signal(signed(s.acc_bits + 2 + s.mult_bits), name=f"rounded{suffix}")
            m.d.comb += [scaled.eq((result[j] + bias) * mult), halved.eq(scaled >> shift_m1),
                         rounded.eq((halved + 1) >> 1)]
            clamped = Mux(rounded > out_max, out_max, Mux(rounded < out_min, out_min, rounded))
            if W == 1:
                return clamped
            real_beats = -(-(s.out_features - j) // W)  # beats in which element j is a real row
            if real_beats < self.spec.out_beats:
                clamped = Mux(res_row < real_beats, clamped, 0)
            elements.append(clamped[:s.out_bits])
        return Cat(*elements)

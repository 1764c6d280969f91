"""Average pooling stages of the network top: a windowed average (``avgpool``) and a global one
(``globalavg``), both ``sat((Σ window·M + 2^(sh-1)) >> sh)`` with the node's (M, sh) from PTQ, padding
counted as 0 (``count_include_pad``), exactly ``hwprune.quant.reference``'s AveragePool and
GlobalAveragePool.

Why two stages, not one: a windowed average reads its input in window order, like max pooling, so it
is the max-pool stage with a sum in place of the maximum: the conv window generator's row buffer of
``R = min(H, kh + s_h)`` rows (``line_buffer.window_reader``), one read per window element, the same
cycle rules 7-9 (``hwprune.lower.stage_cycles``). A global average is an average whose window is the
whole frame; through the row buffer it would need ``R = H`` rows, i.e. a whole ``H·W·C`` frame
(DS-CNN's 25×5×64 tail: 8,000 words), and put out its first channel only after the frame's last pixel.
Its sums need no reordering at all: the stream brings every channel once per pixel, so one
accumulator per channel (``C`` words of ``b_a + ⌈log2(H·W)⌉ + 1`` bits, 64 of 16 bits for DS-CNN), added to
as the beats arrive, gives each channel's sum at the frame's last pixel, and the stage takes one beat
per cycle with no buffer to wait on (rule 14). Both put the requantised value into the output register
(``merge_stages.requantise``, the add stage's requantiser), so an output leaves the cycle after the
step that completes its window, and both honour ``o.ready`` (the reader, or the last pixel's beats,
wait while the output register is full).

Wide beats: the global average takes ``width`` = m channels per beat (m divides C; element ``j`` in bits
``[j·b, (j+1)·b)``), so its accumulator memory holds C/m words of m sums, read and written once per beat,
with m adders and m requantisers: a frame costs H·W·C/m cycles. The windowed average keeps one element
per beat (its row buffer reads one window element per step); it refuses any other width.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import _counter, beat_shape
from hwprune.backends.rtl.frame_buffer import odometer
from hwprune.backends.rtl.line_buffer import window_reader
from hwprune.backends.rtl.merge_stages import check_width, lane_name, lanes, pack, requantise
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.lower.network_types import average_sum_bits

__all__ = ["AveragePoolStage", "GlobalAverageStage"]


def _check(in_type: IntType, out_type: IntType, mult: int, shift: int) -> None:
    for name, t in (("in_type", in_type), ("out_type", out_type)):
        if not isinstance(t, IntType):
            raise ValueError(f"{name} must be an IntType, not {t!r}")
    if not isinstance(mult, int) or mult < 1:
        raise ValueError(f"mult must be a positive integer, not {mult!r}")
    if not isinstance(shift, int) or shift < 1:
        raise ValueError(f"shift must be an integer of at least 1, not {shift!r}")


def _ports(in_type: IntType, out_type: IntType, width: int = 1) -> dict[str, object]:
    return {"i": In(stream.Signature(beat_shape(in_type.bits, in_type.signed, width))),
            "o": Out(stream.Signature(beat_shape(out_type.bits, out_type.signed, width)))}


def _word(data: Value, j: int, bits: int, width: int) -> Value:
    """Sum ``j`` of an accumulator word of ``width`` sums (the word itself at width 1)."""
    return data if width == 1 else data.word_select(j, bits)


class AveragePoolStage(wiring.Component):
    """H·W·C frame in, OH·OW·C requantised window sums out (same order); padding reads 0. One element
    per beat only (``width`` must be 1: the row buffer reads one window element per step)."""

    def __init__(self, window: ConvGeometry, in_type: IntType, out_type: IntType, mult: int, shift: int,
                 width: int = 1) -> None:
        if check_width(width) != 1:
            raise ValueError(f"a windowed average pooling stage takes one element per beat, "
                             f"not width {width}")
        if window.group != 1 or window.dilations != (1, 1):
            raise ValueError("average pooling takes no groups and no dilation")
        _check(in_type, out_type, mult, shift)
        self.geometry, self.in_type, self.out_type, self.mult, self.shift = window, in_type, out_type, mult, shift
        super().__init__(_ports(in_type, out_type))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geometry
        (kh, kw) = g.kernel
        step = Signal()
        reader = window_reader(m, self.i, g, self.in_type.bits, step, "r")
        oy, ox, c, ky, kx = reader.counters
        shape = signed(average_sum_bits(self.in_type, kh * kw, self.mult, self.shift))
        value, total = Signal(shape, name="value"), Signal(shape, name="sum_next")
        acc = Signal(shape, name="window_sum")
        data = reader.data.as_signed() if self.in_type.signed else reader.data
        m.d.comb += value.eq(Mux(reader.pad, 0, data))
        first = (ky == 0) & (kx == 0)
        last = (ky == kh - 1) & (kx == kw - 1)
        m.d.comb += total.eq(Mux(first, value, acc + value))
        y = requantise(m, [total], (self.mult,), self.shift, self.out_type, False, "avg")
        m.d.comb += step.eq(reader.available & (~last | ~self.o.valid | self.o.ready))
        with m.If(step):
            m.d.sync += acc.eq(total)
        odometer(m, step, [(kx, kw), (ky, kh), (c, g.in_channels), (ox, g.out_width), (oy, g.out_height)],
                 reader.frame)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(step & last):
            m.d.sync += [self.o.payload.eq(y), self.o.valid.eq(1)]
        return m


class GlobalAverageStage(wiring.Component):
    """A (C, H, W) frame in H·W·C order in, C requantised channel sums out (channel order); ``width``
    channels per beat on both sides (``width`` divides C)."""

    def __init__(self, frame: tuple[int, int, int], in_type: IntType, out_type: IntType, mult: int,
                 shift: int, width: int = 1) -> None:
        for name, value in zip(("channels", "height", "width"), frame):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        _check(in_type, out_type, mult, shift)
        if frame[0] % check_width(width):
            raise ValueError(f"width {width} must divide the {frame[0]} channels of a global average")
        self.frame, self.width = tuple(frame), width
        self.in_type, self.out_type, self.mult, self.shift = in_type, out_type, mult, shift
        super().__init__(_ports(in_type, out_type, width))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        C, H, W = self.frame
        n, beats = self.width, C // self.width
        pixels = H * W
        bits = average_sum_bits(self.in_type, pixels, self.mult, self.shift)
        # one word of n sums per beat of the pixel; depth ≥ 2, so no address is zero bits wide
        sums = memory.Memory(shape=unsigned(bits * n), depth=max(2, beats), init=[])
        m.submodules.sums = sums
        rd, wp = sums.read_port(domain="comb"), sums.write_port()
        c, pixel = _counter(beats, "g_c"), _counter(pixels, "g_pixel")
        first, last = pixel == 0, pixel == pixels - 1
        take = Signal()
        totals = []
        for j, q in enumerate(lanes(self.i.payload, self.in_type, n)):
            x, total = (Signal(signed(bits), name=lane_name(name, j, n)) for name in ("x", "sum_next"))
            m.d.comb += [x.eq(q), total.eq(Mux(first, 0, _word(rd.data, j, bits, n).as_signed()) + x)]
            totals.append(total)
        m.d.comb += [self.i.ready.eq(~last | ~self.o.valid | self.o.ready),
                     take.eq(self.i.valid & self.i.ready),
                     rd.addr.eq(c), wp.addr.eq(c), wp.data.eq(pack(totals)), wp.en.eq(take)]
        y = pack([requantise(m, [total], (self.mult,), self.shift, self.out_type, False,
                             lane_name("gap", j, n)) for j, total in enumerate(totals)])
        with m.If(take):
            m.d.sync += c.eq(Mux(c == beats - 1, 0, c + 1))
            with m.If(c == beats - 1):
                m.d.sync += pixel.eq(Mux(last, 0, pixel + 1))
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(take & last):
            m.d.sync += [self.o.payload.eq(y), self.o.valid.eq(1)]
        return m

"""Stream stages of the network top: max pooling and the H·W·C → C·H·W reorder before a flatten.

Why a buffer: both stages read their input in an order other than the one it arrives in (pooling: a
window at a time; reorder: channel-major). Pooling keeps the conv window generator's circular buffer
of ``R = min(H, kh + s_h)`` input rows (``hwprune.backends.rtl.line_buffer``; a pooling window is a
conv geometry with group 1 and no dilation), so its storage grows with the window's height, not the
image; the reorder reads whole channels, so it keeps two frames (ping-pong halves,
``hwprune.backends.rtl.frame_buffer``). Both readers step as soon as the element they need has
arrived. Pooling then costs ``kh·kw`` reads per output, one per cycle: for the usual non-overlapping
windows that is one read per input beat, so the stage keeps pace with its input. Cycle rules:
``hwprune.lower.stage_cycles`` (rules 7-9). Both stages honour ``o.ready`` (backpressure): the reader
stops while its output cannot be taken, the writer while the rows (frames) it would overwrite are
still being read.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import _counter, stream_shape
from hwprune.backends.rtl.frame_buffer import frame_writer, odometer
from hwprune.backends.rtl.line_buffer import line_writer, row_slot_address
from hwprune.lower.conv_cycles import buffer_rows
from hwprune.lower.kernel_spec import ConvGeometry

__all__ = ["MaxPoolStage", "ReorderStage"]


class MaxPoolStage(wiring.Component):
    """H·W·C frame in, OH·OW·C maxima out (same order); padding reads the type's minimum."""

    def __init__(self, window: ConvGeometry, bits: int, is_signed: bool) -> None:
        if window.group != 1 or window.dilations != (1, 1):
            raise ValueError("max pooling takes no groups and no dilation")
        self.window = window
        self.bits = bits
        self.is_signed = is_signed
        shape = stream_shape(bits, is_signed)
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.window
        C, H, W = g.in_channels, g.in_height, g.in_width
        (kh, kw), (sh, sw) = g.kernel, g.strides
        top, left = g.pads[0], g.pads[1]
        rows, row_words = buffer_rows(g), W * C

        oy, ox = _counter(g.out_height, "r_oy"), _counter(g.out_width, "r_ox")
        c, ky, kx = _counter(C, "r_c"), _counter(kh, "r_ky"), _counter(kw, "r_kx")
        coord = signed(max(H, W, g.out_height * sh + kh, g.out_width * sw + kw).bit_length() + 2)
        iy, ix = Signal(coord, name="r_iy"), Signal(coord, name="r_ix")
        m.d.comb += [iy.eq(oy * sh + ky - top), ix.eq(ox * sw + kx - left)]
        pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)

        # rows above the output row's windows are released (rule 7, the conv's rule 5)
        start, released = Signal(coord, name="r_first"), Signal(range(H + 1), name="r_released")
        m.d.comb += [start.eq(oy * sh - top), released.eq(Mux(start <= 0, 0, Mux(start >= H, H, start)))]
        lb = line_writer(m, self.i, H, row_words, rows, self.bits, released)
        col = Signal(range(max(2, row_words)), name="r_col")
        m.d.comb += col.eq(ix * C + c)
        step = Signal()
        wraps = [kx == kw - 1, ky == kh - 1, (c == C - 1) & (ox == g.out_width - 1), oy == g.out_height - 1]
        base = row_slot_address(m, g, rows, row_words, step, wraps)
        rp = lb.memory.read_port(domain="comb")
        m.d.comb += rp.addr.eq(base + col)

        shape = stream_shape(self.bits, self.is_signed)
        lowest = -(1 << (self.bits - 1)) if self.is_signed else 0
        value, best, acc = Signal(shape), Signal(shape), Signal(shape, name="running_max")
        m.d.comb += value.eq(Mux(pad, lowest, rp.data.as_signed() if self.is_signed else rp.data))
        first = (ky == 0) & (kx == 0)
        last = (ky == kh - 1) & (kx == kw - 1)
        m.d.comb += best.eq(Mux(first | (value > acc), value, acc))
        available = Mux(pad, lb.started(), lb.written(iy, col))
        m.d.comb += step.eq(available & (~last | ~self.o.valid | self.o.ready))
        with m.If(step):
            m.d.sync += acc.eq(best)
        odometer(m, step, [(kx, kw), (ky, kh), (c, C), (ox, g.out_width), (oy, g.out_height)], lb.r_frame)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(step & last):
            m.d.sync += [self.o.payload.eq(best), self.o.valid.eq(1)]
        return m


class ReorderStage(wiring.Component):
    """A (C, H, W) frame in H·W·C order in, the same frame in C·H·W (ONNX flatten) order out."""

    def __init__(self, channels: int, height: int, width: int, bits: int, is_signed: bool) -> None:
        for name, value in (("channels", channels), ("height", height), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self.frame = (channels, height, width)
        self.bits = bits
        shape = stream_shape(bits, is_signed)
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        C, H, W = self.frame
        fb = frame_writer(m, self.i, C * H * W, self.bits)
        c, y, x = _counter(C, "r_c"), _counter(H, "r_y"), _counter(W, "r_x")
        element = Signal(range(C * H * W + 1), name="r_element")
        m.d.comb += element.eq((y * W + x) * C + c)
        rp = fb.memory.read_port(domain="comb")
        m.d.comb += [rp.addr.eq(fb.read_address(element)), self.o.payload.eq(rp.data),
                     self.o.valid.eq(fb.written(element))]
        odometer(m, self.o.valid & self.o.ready, [(x, W), (y, H), (c, C)], fb.r_frame)
        return m

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

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import _counter, stream_shape
from hwprune.backends.rtl.frame_buffer import frame_writer, odometer
from hwprune.backends.rtl.line_buffer import WindowStream, window_reader
from hwprune.lower.kernel_spec import ConvGeometry

__all__ = ["MaxPoolStage", "ReorderStage"]


class MaxPoolStage(WindowStream):
    """H·W·C frame in, OH·OW·C maxima out (same order); padding reads the type's minimum."""

    def __init__(self, window: ConvGeometry, bits: int, is_signed: bool) -> None:
        if window.group != 1 or window.dilations != (1, 1):
            raise ValueError("max pooling takes no groups and no dilation")
        super().__init__(window, bits, is_signed)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geometry
        (kh, kw) = g.kernel
        step = Signal()
        reader = window_reader(m, self.i, g, self.bits, step, "r")
        oy, ox, c, ky, kx = reader.counters

        shape = stream_shape(self.bits, self.is_signed)
        lowest = -(1 << (self.bits - 1)) if self.is_signed else 0
        value, best, acc = Signal(shape), Signal(shape), Signal(shape, name="running_max")
        data = reader.data.as_signed() if self.is_signed else reader.data
        m.d.comb += value.eq(Mux(reader.pad, lowest, data))
        first = (ky == 0) & (kx == 0)
        last = (ky == kh - 1) & (kx == kw - 1)
        m.d.comb += best.eq(Mux(first | (value > acc), value, acc))
        m.d.comb += step.eq(reader.available & (~last | ~self.o.valid | self.o.ready))
        with m.If(step):
            m.d.sync += acc.eq(best)
        odometer(m, step, [(kx, kw), (ky, kh), (c, g.in_channels), (ox, g.out_width), (oy, g.out_height)],
                 reader.frame)
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

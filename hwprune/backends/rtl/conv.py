"""The conv engine: a sliding-window generator over the input stream feeding the dot-product engine.

Why this shape: a conv layer is the dense engine run once per output pixel on the window
``x[c, oy·s + ky·d - pad, ox·s + kx·d - pad]`` flattened in (c, ky, kx) order — the K order of the
weight matrix, so the balanced layout, the packed ROM and the whole engine are reused unchanged
(DESIGN.md section 4: one engine for every balanced pattern).

Streams are pixel-major (H, W), channels inner. The generator reads a two-frame buffer (ping-pong
halves): beat ``e = (y·W + x)·C + c`` of frame ``f`` goes to half ``f mod 2``, and a window beat is
offered as soon as the element it reads has arrived (padding beats once the frame has started),
so window generation overlaps the input exactly as a line buffer would; only the storage is a
frame deep (a ``kh``-row circular buffer is the later area optimisation, with the same timing
whenever a row is no longer read when it is overwritten). The writer may run one frame ahead.
Cycle rules: ``hwprune.lower.conv_cycles``. Group convolution is not supported (group = 1).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import DotEngine, _counter, stream_shape
from hwprune.backends.rtl.frame_buffer import frame_writer, odometer
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec

__all__ = ["WindowGenerator", "ConvEngine"]


class WindowGenerator(wiring.Component):
    """Frame stream in (H·W·C beats), window stream out (OH·OW pixels × C·kh·kw beats)."""

    def __init__(self, geometry: ConvGeometry, bits: int, is_signed: bool) -> None:
        if geometry.group != 1:
            raise ValueError(f"grouped convolution (group={geometry.group}) has no window generator yet")
        self.geometry = geometry
        self.bits = bits
        self.is_signed = is_signed
        shape = stream_shape(bits, is_signed)
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geometry
        C, H, W = g.in_channels, g.in_height, g.in_width
        (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
        top, left = g.pads[0], g.pads[1]
        frame = H * W * C
        fb = frame_writer(m, self.i, frame, self.bits)

        # ---- generator: counters (oy, ox, c, ky, kx); the element it reads, or padding
        oy, ox = _counter(g.out_height, "g_oy"), _counter(g.out_width, "g_ox")
        c, ky, kx = _counter(C, "g_c"), _counter(kh, "g_ky"), _counter(kw, "g_kx")
        coord = signed(max(H, W, g.out_height * sh, g.out_width * sw).bit_length() + 4)
        iy, ix = Signal(coord, name="g_iy"), Signal(coord, name="g_ix")
        m.d.comb += [iy.eq(oy * sh + ky * dh - top), ix.eq(ox * sw + kx * dw - left)]
        pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)
        element = Signal(range(frame + 1), name="g_element")
        m.d.comb += element.eq((iy * W + ix) * C + c)
        rp = fb.memory.read_port(domain="comb")
        m.d.comb += rp.addr.eq(fb.read_address(element))
        m.d.comb += [self.o.valid.eq(Mux(pad, fb.started(), fb.written(element))),
                     self.o.payload.eq(Mux(pad, 0, rp.data))]
        steps = [(kx, kw), (ky, kh), (c, C), (ox, g.out_width), (oy, g.out_height)]
        odometer(m, self.o.valid & self.o.ready, steps, fb.r_frame)
        return m


class ConvEngine(wiring.Component):
    """A conv kernel: frame stream in, output stream out (OH·OW pixels × out_features, HWC order)."""

    def __init__(self, spec: KernelSpec) -> None:
        if spec.conv is None:
            raise ValueError(f"kernel {spec.name!r} is not a conv kernel")
        self.spec = spec
        super().__init__({
            "i": In(stream.Signature(stream_shape(spec.in_type.bits, spec.in_type.signed))),
            "o": Out(stream.Signature(stream_shape(spec.out_type.bits, spec.out_type.signed))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.window = window = WindowGenerator(self.spec.conv, self.spec.in_type.bits,  # type: ignore[arg-type]
                                                       self.spec.in_type.signed)
        m.submodules.engine = engine = DotEngine(self.spec)
        wiring.connect(m, window.o, engine.i)
        wiring.connect(m, wiring.flipped(self.i), window.i)
        wiring.connect(m, engine.o, wiring.flipped(self.o))
        return m

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

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import DotEngine, _counter, stream_shape
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
        buf = memory.Memory(shape=unsigned(self.bits), depth=2 * frame, init=[])
        m.submodules.frames = buf

        # ---- writer: element e of frame wf lands at (wf mod 2)·frame + e
        w_count = _counter(frame, "w_count")
        wf, gf = Signal(2, name="w_frame"), Signal(2, name="g_frame")
        ahead = Signal(2)
        m.d.comb += ahead.eq(wf - gf)
        wp = buf.write_port()
        take = Signal()
        m.d.comb += [self.i.ready.eq(ahead != 2), take.eq(self.i.valid & self.i.ready),
                     wp.addr.eq(Mux(wf[0], frame, 0) + w_count), wp.data.eq(self.i.payload), wp.en.eq(take)]
        with m.If(take):
            with m.If(w_count == frame - 1):
                m.d.sync += [w_count.eq(0), wf.eq(wf + 1)]
            with m.Else():
                m.d.sync += w_count.eq(w_count + 1)

        # ---- generator: counters (oy, ox, c, ky, kx); the element it reads, or padding
        oy, ox = _counter(g.out_height, "g_oy"), _counter(g.out_width, "g_ox")
        c, ky, kx = _counter(C, "g_c"), _counter(kh, "g_ky"), _counter(kw, "g_kx")
        coord = signed(max(H, W, g.out_height * sh, g.out_width * sw).bit_length() + 4)
        iy, ix = Signal(coord, name="g_iy"), Signal(coord, name="g_ix")
        m.d.comb += [iy.eq(oy * sh + ky * dh - top), ix.eq(ox * sw + kx * dw - left)]
        pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)
        element = Signal(range(frame + 1), name="g_element")
        m.d.comb += element.eq((iy * W + ix) * C + c)
        rp = buf.read_port(domain="comb")
        m.d.comb += rp.addr.eq(Mux(gf[0], frame, 0) + element)
        finished = (ahead == 1) | (ahead == 2)  # the writer is past the generator's frame
        started = finished | ((ahead == 0) & (w_count != 0))
        written = finished | ((ahead == 0) & (w_count > element))
        m.d.comb += [self.o.valid.eq(Mux(pad, started, written)), self.o.payload.eq(Mux(pad, 0, rp.data))]
        steps = [(kx, kw), (ky, kh), (c, C), (ox, g.out_width), (oy, g.out_height)]
        with m.If(self.o.valid & self.o.ready):
            self._advance(m, steps, gf)
        return m

    @staticmethod
    def _advance(m: Module, steps: list[tuple[Signal, int]], frame: Signal) -> None:
        """Odometer increment of the counters (innermost first); the last wrap ends the frame."""
        carry = None
        for counter, size in steps:
            wrap = counter == size - 1
            cond = wrap if carry is None else (carry & wrap)
            enable = Signal(name=f"{counter.name}_step") if carry is not None else None
            if enable is not None:
                m.d.comb += enable.eq(carry)
                with m.If(enable):
                    m.d.sync += counter.eq(Mux(wrap, 0, counter + 1))
            else:
                m.d.sync += counter.eq(Mux(wrap, 0, counter + 1))
            carry = cond
        with m.If(carry):
            m.d.sync += frame.eq(frame + 1)


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

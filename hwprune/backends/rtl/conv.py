"""The conv engine: a sliding-window generator over the input stream feeding the dot-product engine.

Why this shape: a conv layer is the dense engine run once per output pixel on the window
``x[c, oy·s + ky·d - pad, ox·s + kx·d - pad]`` flattened in (c, ky, kx) order — the K order of the
weight matrix, so the balanced layout, the packed ROM and the whole engine are reused unchanged
(docs/architecture.md section 4: one engine for every balanced pattern).

Streams are pixel-major (H, W), channels inner. The generator reads a circular buffer of
``R = min(H, kh_eff + s_h)`` input rows (``hwprune.backends.rtl.line_buffer``): a window beat is offered
as soon as the element it reads has arrived (padding beats once the frame has started), so window
generation overlaps the input, and the writer fills the next output row's new rows (and runs into
the next frame) while the generator still reads the current one. A row's slot is rewritten once the
generator has started an output row whose window lies below it, or has ended the row's frame.
Cycle rules: ``hwprune.lower.conv_cycles``.

Window beats (``KernelSpec.in_simd = kh·kw``, chosen by the fitter): the generator reads one channel's
whole window per cycle (``WindowBlockGenerator``, the row buffer in ``kh·kw`` copies, one read port
each), the engine takes it as one wide beat, and a pixel costs ``C`` window beats instead of
``C·kh·kw``; the frame still arrives one element per beat. A fold smaller than the window
(``WindowFoldGenerator``: ``in_simd < kh·kw`` consecutive elements, a rotation over the same copies)
serves layouts whose groups do not line up with ``kh·kw`` (balanced groups of 8 on a 3×3 conv).

Grouped and depthwise convolution (group ``g``) use the same generator: a window in (c, ky, kx) order
is the concatenation of the groups' windows (group ``i`` reads channels ``i·C/g … (i+1)·C/g - 1``), so
the engine takes it as ``g`` vectors of ``C/g·kh·kw`` beats and computes group ``i``'s filters on vector
``i`` (group-serial; ``hwprune.backends.rtl.engine``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import DotEngine, beat_shape
from hwprune.backends.rtl.frame_buffer import odometer
from hwprune.backends.rtl.group_parallel import GroupParallelEngine
from hwprune.backends.rtl.line_buffer import WindowStream, window_block_reader, window_fold_reader, window_reader
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["WindowGenerator", "WindowBlockGenerator", "WindowFoldGenerator", "ConvEngine"]


class WindowGenerator(WindowStream):
    """Frame stream in (H·W·C beats), window stream out (OH·OW pixels × C·kh·kw beats)."""

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geometry
        step = self.o.valid & self.o.ready
        reader = window_reader(m, self.i, g, self.bits, step, "g")
        oy, ox, c, ky, kx = reader.counters
        m.d.comb += [self.o.valid.eq(reader.available), self.o.payload.eq(Mux(reader.pad, 0, reader.data))]
        steps = [(kx, g.kernel[1]), (ky, g.kernel[0]), (c, g.in_channels), (ox, g.out_width), (oy, g.out_height)]
        odometer(m, step, steps, reader.frame)
        return m


class WindowBlockGenerator(WindowStream):
    """Frame stream in (H·W·C beats), one channel's whole window per beat out (OH·OW pixels × C beats;
    element ``ky·kw + kx`` of a beat in bits ``[j·b, (j+1)·b)``, padding 0): ``kh·kw`` consecutive
    elements of the (c, ky, kx) window order, so the engine takes them as one wide beat.

    A wide frame (``lanes`` = m > 1 channels per input beat, H·W·C/m beats): each row-buffer word holds
    a pixel's m channels, and a beat out is the m channels' whole windows (channel ``c0 + i``'s position
    ``p`` at element ``i·kh·kw + p``: still consecutive in (c, ky, kx) order), so the engine takes
    ``m·kh·kw`` elements per beat and a pixel costs ``C/m`` beats."""

    def __init__(self, geometry: object, bits: int, is_signed: bool, lanes: int = 1) -> None:
        kh, kw = geometry.kernel  # type: ignore[attr-defined]
        self.lanes = lanes
        super().__init__(geometry, bits, is_signed, out_width=lanes * kh * kw, in_width=lanes)  # type: ignore[arg-type]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g, b, n = self.geometry, self.bits, self.lanes
        step = self.o.valid & self.o.ready
        reader = window_block_reader(m, self.i, g, b, step, "g", n)
        oy, ox, c = reader.counters
        words = [Mux(pad, 0, word) for pad, word in zip(reader.pads, reader.data)]
        payload = Cat(*(word[j * b:(j + 1) * b] for j in range(n) for word in words))  # channel-major
        m.d.comb += [self.o.valid.eq(reader.available), self.o.payload.eq(payload)]
        odometer(m, step, [(c, g.in_channels // n), (ox, g.out_width), (oy, g.out_height)], reader.frame)
        return m


class WindowFoldGenerator(WindowStream):
    """Frame stream in (H·W·C beats), ``fold`` consecutive window elements per beat out (OH·OW pixels ×
    C·kh·kw / fold beats, element ``j`` of a beat in bits ``[j·b, (j+1)·b)``): a fold of the window that
    is not a whole channel's, for a balanced layout whose groups do not line up with ``kh·kw``."""

    def __init__(self, geometry: object, bits: int, is_signed: bool, fold: int) -> None:
        self.fold = fold
        super().__init__(geometry, bits, is_signed, out_width=fold)  # type: ignore[arg-type]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geometry
        step = self.o.valid & self.o.ready
        reader = window_fold_reader(m, self.i, g, self.bits, step, self.fold, "g")
        oy, ox, beat = reader.counters
        beats = g.in_channels * g.kernel[0] * g.kernel[1] // self.fold
        m.d.comb += [self.o.valid.eq(reader.available), self.o.payload.eq(Cat(*reader.lanes))]
        odometer(m, step, [(beat, beats), (ox, g.out_width), (oy, g.out_height)], reader.frame)
        return m


class ConvEngine(wiring.Component):
    """A conv kernel: frame stream in, output stream out (OH·OW pixels × out_features, HWC order)."""

    def __init__(self, spec: KernelSpec) -> None:
        if spec.conv is None:
            raise ValueError(f"kernel {spec.name!r} is not a conv kernel")
        self.spec = spec
        t_in, t_out = spec.in_type, spec.out_type
        super().__init__({
            "i": In(stream.Signature(beat_shape(t_in.bits, t_in.signed, spec.frame_simd))),
            "o": Out(stream.Signature(beat_shape(t_out.bits, t_out.signed, spec.out_pe))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g, t, fold = self.spec.conv, self.spec.in_type, self.spec.in_simd
        assert g is not None
        if self.spec.frame_simd > 1:
            window: WindowStream = WindowBlockGenerator(g, t.bits, t.signed, self.spec.frame_simd)
        elif fold == 1:
            window = WindowGenerator(g, t.bits, t.signed)
        elif fold == g.kernel[0] * g.kernel[1]:
            window = WindowBlockGenerator(g, t.bits, t.signed)
        else:
            window = WindowFoldGenerator(g, t.bits, t.signed, fold)
        m.submodules.window = window
        engine: wiring.Component = GroupParallelEngine(self.spec) if self.spec.group_lanes > 1 else DotEngine(self.spec)
        m.submodules.engine = engine
        wiring.connect(m, window.o, engine.i)
        wiring.connect(m, wiring.flipped(self.i), window.i)
        wiring.connect(m, engine.o, wiring.flipped(self.o))
        return m

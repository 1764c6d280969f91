"""The row buffer of the conv window generator and the max-pool stage: a circular buffer of ``R`` input
rows (``W·C`` words each) in place of two whole frames, so a layer's storage grows with its window's
height, not its image.

Rows are numbered across frames (row ``y`` of frame ``f`` is ``f·H + y``) and row ``r`` lives in slot
``r mod R``; the write address is therefore the writer's running beat count modulo ``R·W·C``. The
writer takes a beat of row ``r`` only once the reader has released row ``r - R``; the reader tells it
how many rows of its frame it has released (``released``), and frames apart by ``ahead`` (-1, 0 or
1; 2 only when ``R = H`` and the last output rows read nothing but bottom padding). Cycle rules:
``hwprune.lower.conv_cycles`` (rules 5 and 6) and ``hwprune.lower.stage_cycles`` (rule 7).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import _counter, beat_shape
from hwprune.lower.conv_cycles import buffer_rows
from hwprune.lower.kernel_spec import ConvGeometry

__all__ = ["LineBuffer", "line_writer", "row_slot_address", "WindowReader", "window_reader", "WindowStream",
           "BlockReader", "window_block_reader", "FoldReader", "window_fold_reader"]


@dataclass
class LineBuffer:
    """The writer side: ``memory`` (``rows`` slots of ``row_words`` words), the writer's row and column
    inside the frame it writes, and how many frames it is ahead of the reader (two bits: 3 is -1)."""

    memory: memory.Memory
    w_row: Signal
    w_col: Signal
    r_frame: Signal
    ahead: Signal
    copies: list[memory.Memory]

    def written(self, row: object, col: object) -> object:
        """Word ``col`` of row ``row`` of the reader's frame has been written (rule 6)."""
        same = (self.ahead == 0) & ((self.w_row > row) | ((self.w_row == row) & (self.w_col > col)))
        return (self.ahead == 1) | (self.ahead == 2) | same

    def started(self) -> object:
        """The reader's frame has at least one word (padding may be read)."""
        same = (self.ahead == 0) & ((self.w_row != 0) | (self.w_col != 0))
        return (self.ahead == 1) | (self.ahead == 2) | same


def line_writer(m: Module, i: stream.Interface, height: int, row_words: int, rows: int, bits: int,
                released: Signal, copies: int = 1) -> LineBuffer:
    """Beat ``n`` of the stream → word ``n mod (rows·row_words)``; a beat of global row ``r`` waits
    until ``r - rows`` is below the reader's release mark (its frame's first row + ``released``).
    ``copies`` > 1: that many identical buffers (one read port each, ``LineBuffer.copies``), so a reader
    can read as many words in one cycle."""
    depth = rows * row_words
    buf = memory.Memory(shape=unsigned(bits), depth=max(2, depth), init=[])  # no zero-width address
    m.submodules.rows = buf
    more = [memory.Memory(shape=unsigned(bits), depth=max(2, depth), init=[]) for _ in range(copies - 1)]
    for index, copy in enumerate(more, start=1):
        m.submodules[f"rows{index}"] = copy
    w_addr, w_col, w_row = _counter(depth, "w_addr"), _counter(row_words, "w_col"), _counter(height, "w_row")
    w_frame, r_frame, ahead = Signal(2, name="w_frame"), Signal(2, name="r_frame"), Signal(2, name="ahead")
    m.d.comb += ahead.eq(w_frame - r_frame)
    # global row r = (r_frame + ahead)·H + w_row may be written iff r - rows < r_frame·H + released
    mark = Signal(range(height + rows + 1), name="w_mark")
    m.d.comb += mark.eq(released + rows)
    free = ((ahead == 0) & (w_row < mark)) | ((ahead == 1) & (w_row + height < mark)) | (ahead == 3)
    take = Signal()
    m.d.comb += [i.ready.eq(free), take.eq(i.valid & i.ready)]
    for target in [buf, *more]:
        wp = target.write_port()
        m.d.comb += [wp.addr.eq(w_addr), wp.data.eq(i.payload), wp.en.eq(take)]
    with m.If(take):
        m.d.sync += w_addr.eq(_wrap_inc(w_addr, depth))
        m.d.sync += w_col.eq(_wrap_inc(w_col, row_words))
        with m.If(w_col == row_words - 1):
            m.d.sync += w_row.eq(_wrap_inc(w_row, height))
            with m.If(w_row == height - 1):
                m.d.sync += w_frame.eq(w_frame + 1)
    return LineBuffer(buf, w_row, w_col, r_frame, ahead, [buf, *more])


def _wrap_inc(counter: Signal, size: int) -> object:
    return Mux(counter == size - 1, 0, counter + 1)


def _slot_base(g: ConvGeometry, rows: int, row_words: int) -> Signal:
    """The reader's row-slot address register, at the slot of the first window's first row (``-pad_top``)."""
    return Signal(range(max(2, rows * row_words)), name="g_row_base", init=(-g.pads[0] % rows) * row_words)


def _rows_on(base: Signal, rows: int, row_words: int, delta: int) -> object:
    """``base`` moved ``delta`` rows on in the circular buffer (modulo ``rows · row_words``), with one
    compare and no division; ``delta mod rows`` must not be 0."""
    size, k = rows * row_words, (delta % rows) * row_words
    return Mux(base >= size - k, base - (size - k), base + k)


def row_slot_address(m: Module, g: ConvGeometry, rows: int, row_words: int, step: object,
                     wraps: list[object]) -> Signal:
    """The address of the slot holding the reader's current input row ``iy`` (conv window generator,
    max-pool stage) (global row
    ``f·H + iy``, slot ``(f·H + iy) mod rows``), kept by adding the row change of each step modulo
    the buffer, so no address needs a division. ``wraps``: kx, ky, (c and ox: the output row ends)
    and oy at their last value."""
    (kh, _), (sh, _), (dh, _) = g.kernel, g.strides, g.dilations
    base = _slot_base(g, rows, row_words)
    back = -(kh - 1) * dh  # from the window's last row to the next window's first (same output row)
    deltas = [dh, back, back + sh, back + g.in_height - (g.out_height - 1) * sh]

    def move(delta: int) -> None:
        if (delta % rows) * row_words:
            m.d.sync += base.eq(_rows_on(base, rows, row_words, delta))

    kx_wrap, ky_wrap, row_wrap, oy_wrap = wraps
    with m.If(step & kx_wrap):
        with m.If(~ky_wrap):
            move(deltas[0])
        with m.Elif(~row_wrap):
            move(deltas[1])
        with m.Elif(~oy_wrap):
            move(deltas[2])
        with m.Else():
            move(deltas[3])
    return base


@dataclass
class WindowReader:
    """A window reader over a row buffer (conv window generator, max-pool stage): its counters
    ``(oy, ox, c, ky, kx)``, whether the current element is padding, the word read (combinationally),
    whether that element is available (rule 6/8: written, or the frame started for padding), and the
    reader's frame counter for ``odometer``."""

    counters: tuple[Signal, Signal, Signal, Signal, Signal]
    pad: object
    data: Signal
    available: object
    frame: Signal


def window_reader(m: Module, i: stream.Interface, g: ConvGeometry, bits: int, step: object,
                  prefix: str) -> WindowReader:
    """The row buffer fed by ``i`` and the reader that walks ``g``'s windows (pixel by pixel; c, ky, kx
    inside), moving on ``step``; rows above the current output row's windows are released (rule 5)."""
    C, H, W = g.in_channels, g.in_height, g.in_width
    (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
    top, left = g.pads[0], g.pads[1]
    rows, row_words = buffer_rows(g), W * C
    oy, ox = _counter(g.out_height, f"{prefix}_oy"), _counter(g.out_width, f"{prefix}_ox")
    c, ky, kx = _counter(C, f"{prefix}_c"), _counter(kh, f"{prefix}_ky"), _counter(kw, f"{prefix}_kx")
    reach = max(H, W, g.out_height * sh + (kh - 1) * dh + 1, g.out_width * sw + (kw - 1) * dw + 1)
    coord = signed(reach.bit_length() + 4)
    iy, ix = Signal(coord, name=f"{prefix}_iy"), Signal(coord, name=f"{prefix}_ix")
    m.d.comb += [iy.eq(oy * sh + ky * dh - top), ix.eq(ox * sw + kx * dw - left)]
    pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)
    first, released = Signal(coord, name=f"{prefix}_first"), Signal(range(H + 1), name=f"{prefix}_released")
    m.d.comb += [first.eq(oy * sh - top), released.eq(Mux(first <= 0, 0, Mux(first >= H, H, first)))]
    lb = line_writer(m, i, H, row_words, rows, bits, released)
    col = Signal(range(max(2, row_words)), name=f"{prefix}_col")
    m.d.comb += col.eq(ix * C + c)
    wraps = [kx == kw - 1, ky == kh - 1, (c == C - 1) & (ox == g.out_width - 1), oy == g.out_height - 1]
    base = row_slot_address(m, g, rows, row_words, step, wraps)
    rp = lb.memory.read_port(domain="comb")
    m.d.comb += rp.addr.eq(base + col)
    return WindowReader((oy, ox, c, ky, kx), pad, rp.data, Mux(pad, lb.started(), lb.written(iy, col)),
                        lb.r_frame)


@dataclass
class BlockReader:
    """A reader that takes one channel's whole window per step (``window_block_reader``): its counters
    ``(oy, ox, c)``, per window position (ky, kx order) whether it is padding and the word read, whether
    every element of the window is available (rule 6), and the reader's frame counter."""

    counters: tuple[Signal, Signal, Signal]
    pads: list[object]
    data: list[Signal]
    available: object
    frame: Signal


def _first_row_base(m: Module, g: ConvGeometry, rows: int, row_words: int, step: object, row_wrap: object,
                    oy_wrap: object) -> Signal:
    """The slot address of the window's first input row (``oy·s_h - pad_top``, global row ``f·H + iy``),
    moved by the output row's stride at a row end and into the next frame at the frame's end."""
    base = _slot_base(g, rows, row_words)

    def move(delta: int) -> None:
        if (delta % rows) * row_words:
            m.d.sync += base.eq(_rows_on(base, rows, row_words, delta))

    with m.If(step & row_wrap):
        with m.If(~oy_wrap):
            move(g.strides[0])
        with m.Else():
            move(g.in_height - (g.out_height - 1) * g.strides[0])
    return base


def _coordinates(g: ConvGeometry, prefix: str) -> tuple[Signal, Signal, object]:
    """The output-row and output-column counters and the signed shape of input coordinates."""
    H, W = g.in_height, g.in_width
    (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
    reach = max(H, W, g.out_height * sh + (kh - 1) * dh + 1, g.out_width * sw + (kw - 1) * dw + 1)
    return _counter(g.out_height, f"{prefix}_oy"), _counter(g.out_width, f"{prefix}_ox"), signed(reach.bit_length() + 4)


def _released(m: Module, g: ConvGeometry, oy: Signal, coord: object, prefix: str) -> Signal:
    """Rows of the frame above the current output row's windows (rule 5), clamped to ``[0, H]``."""
    H = g.in_height
    first, released = Signal(coord, name=f"{prefix}_first"), Signal(range(H + 1), name=f"{prefix}_released")
    m.d.comb += [first.eq(oy * g.strides[0] - g.pads[0]), released.eq(Mux(first <= 0, 0, Mux(first >= H, H, first)))]
    return released


def _copy_reads(m: Module, lb: LineBuffer, g: ConvGeometry, base: Signal, oy: Signal, ox: Signal, coord: object,
                channel_of: list[object], prefix: str, lanes: int = 1) -> tuple[list[object], list[Signal], list[object]]:
    """Per window position ``p = ky·kw + kx``: whether its element is padding, the word its copy of the
    buffer reads for channel word ``channel_of[p]`` of the current pixel (a word holds ``lanes``
    channels), and whether that word is available."""
    C, H, W = g.in_channels // lanes, g.in_height, g.in_width
    (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
    top, left = g.pads[0], g.pads[1]
    rows, row_words = buffer_rows(g), W * C
    size = rows * row_words
    pads: list[object] = []
    data: list[Signal] = []
    readies: list[object] = []
    for ky in range(kh):
        row_base = Signal(range(max(2, size)), name=f"{prefix}_base{ky}")
        m.d.comb += row_base.eq(_rows_on(base, rows, row_words, ky * dh) if (ky * dh) % rows else base)
        iy = Signal(coord, name=f"{prefix}_iy{ky}")
        m.d.comb += iy.eq(oy * sh + ky * dh - top)
        for kx in range(kw):
            ix = Signal(coord, name=f"{prefix}_ix{ky}_{kx}")
            col = Signal(range(max(2, row_words)), name=f"{prefix}_col{ky}_{kx}")
            m.d.comb += [ix.eq(ox * sw + kx * dw - left), col.eq(ix * C + channel_of[ky * kw + kx])]
            pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)
            rp = lb.copies[ky * kw + kx].read_port(domain="comb")
            m.d.comb += rp.addr.eq(row_base + col)
            pads.append(pad)
            data.append(rp.data)
            readies.append(Mux(pad, lb.started(), lb.written(iy, col)))
    return pads, data, readies


def window_block_reader(m: Module, i: stream.Interface, g: ConvGeometry, bits: int, step: object,
                        prefix: str, lanes: int = 1) -> BlockReader:
    """The row buffer fed by ``i`` in ``kh·kw`` copies, one per window position, and a reader that takes
    channel ``c``'s whole window at once (pixel by pixel, c inside), moving on ``step``: position
    ``(ky, kx)`` reads its own copy, so the window costs one cycle. Released rows as ``window_reader``.
    ``lanes`` > 1: a wide frame, each buffer word (and each input beat) ``lanes`` channels of a pixel,
    so a step reads the windows of a word's ``lanes`` channels (``c`` counts words)."""
    C = g.in_channels // lanes
    (kh, kw) = g.kernel
    oy, ox, coord = _coordinates(g, prefix)
    c = _counter(C, f"{prefix}_c")
    lb = line_writer(m, i, g.in_height, g.in_width * C, buffer_rows(g), bits * lanes,
                     _released(m, g, oy, coord, prefix), copies=kh * kw)
    base = _first_row_base(m, g, buffer_rows(g), g.in_width * C, step, (c == C - 1) & (ox == g.out_width - 1),
                           oy == g.out_height - 1)
    pads, data, readies = _copy_reads(m, lb, g, base, oy, ox, coord, [c] * (kh * kw), prefix, lanes)
    available: object = readies[0]
    for ready in readies[1:]:
        available = available & ready
    return BlockReader((oy, ox, c), pads, data, available, lb.r_frame)


@dataclass
class FoldReader:
    """A reader that takes ``fold`` consecutive window elements (c, ky, kx order) per step
    (``window_fold_reader``): the output, beat and pixel counters, each lane's value (padding 0),
    whether every element of the beat is available, and the reader's frame counter."""

    counters: tuple[Signal, Signal, Signal]
    lanes: list[object]
    available: object
    frame: Signal


def window_fold_reader(m: Module, i: stream.Interface, g: ConvGeometry, bits: int, step: object, fold: int,
                       prefix: str) -> FoldReader:
    """The row buffer in ``kh·kw`` copies and a reader that takes window elements ``[b·fold, (b+1)·fold)``
    of the pixel's (c, ky, kx) window at step ``b`` (``fold < kh·kw`` divides ``C·kh·kw``). Why it takes one
    cycle: ``fold`` consecutive elements sit at distinct window positions, so each comes from its own
    copy; position ``p`` holds channel ``c0 + (p < p0)`` of the beat that starts at channel ``c0``,
    position ``p0``, and lane ``j`` takes position ``(p0 + j) mod kh·kw`` (a rotation)."""
    C = g.in_channels
    (kh, kw) = g.kernel
    window = kh * kw
    beats = C * window // fold
    oy, ox, coord = _coordinates(g, prefix)
    b, c0, p0 = _counter(beats, f"{prefix}_b"), _counter(C, f"{prefix}_c0"), _counter(window, f"{prefix}_p0")
    lb = line_writer(m, i, g.in_height, g.in_width * C, buffer_rows(g), bits, _released(m, g, oy, coord, prefix),
                     copies=window)
    last_beat = b == beats - 1
    base = _first_row_base(m, g, buffer_rows(g), g.in_width * C, step, last_beat & (ox == g.out_width - 1),
                           oy == g.out_height - 1)
    channels = []
    for p in range(window):
        channel = Signal(range(C + 1), name=f"{prefix}_ch{p}")
        m.d.comb += channel.eq(c0 if p == window - 1 else c0 + (p0 > p))  # (no comparison that is constant)
        channels.append(channel)
    pads, data, readies = _copy_reads(m, lb, g, base, oy, ox, coord, channels, prefix)
    available: object = None
    for p, ready in enumerate(readies):
        lane = p - p0 if p == window - 1 else Mux(p0 <= p, p - p0, p + window - p0)  # the lane p fills
        needed = ~(lane < fold) | ready
        available = needed if available is None else available & needed
    # padded to a power of two: every select value a case (Verilator's lint wants the case complete)
    values = Array([*(Mux(pad, 0, word) for pad, word in zip(pads, data)),
                    *(Const(0, bits) for _ in range((1 << (window - 1).bit_length()) - window))])
    lanes = []
    for j in range(fold):
        select = Signal(range(window), name=f"{prefix}_sel{j}")
        m.d.comb += select.eq(p0 if j == 0 else Mux(p0 + j >= window, p0 + j - window, p0 + j))
        lanes.append(values[select])
    with m.If(step):
        with m.If(last_beat):
            m.d.sync += [c0.eq(0), p0.eq(0)]
        with m.Elif(p0 + fold >= window):
            m.d.sync += [c0.eq(c0 + 1), p0.eq(p0 + fold - window)]
        with m.Else():
            m.d.sync += p0.eq(p0 + fold)
    return FoldReader((oy, ox, b), lanes, available, lb.r_frame)


class WindowStream(wiring.Component):
    """A component that reads an H·W·C frame through the row buffer (``window_reader``) and streams one
    activation type in and out: the conv window generator and the max-pool stage. ``out_width``
    elements per output beat (a whole window: ``window_block_reader``)."""

    def __init__(self, geometry: ConvGeometry, bits: int, is_signed: bool, out_width: int = 1,
                 in_width: int = 1) -> None:
        self.geometry = geometry
        self.bits = bits
        self.is_signed = is_signed
        shape = beat_shape(bits, is_signed, in_width)
        out = beat_shape(bits, is_signed, out_width)
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(out))})

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

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import memory, stream

from hwprune.backends.rtl.engine import _counter
from hwprune.lower.kernel_spec import ConvGeometry

__all__ = ["LineBuffer", "line_writer", "row_slot_address"]


@dataclass
class LineBuffer:
    """The writer side: ``memory`` (``rows`` slots of ``row_words`` words), the writer's row and column
    inside the frame it writes, and how many frames it is ahead of the reader (two bits: 3 is -1)."""

    memory: memory.Memory
    w_row: Signal
    w_col: Signal
    r_frame: Signal
    ahead: Signal

    def written(self, row: object, col: object) -> object:
        """Word ``col`` of row ``row`` of the reader's frame has been written (rule 6)."""
        same = (self.ahead == 0) & ((self.w_row > row) | ((self.w_row == row) & (self.w_col > col)))
        return (self.ahead == 1) | (self.ahead == 2) | same

    def started(self) -> object:
        """The reader's frame has at least one word (padding may be read)."""
        same = (self.ahead == 0) & ((self.w_row != 0) | (self.w_col != 0))
        return (self.ahead == 1) | (self.ahead == 2) | same


def line_writer(m: Module, i: stream.Interface, height: int, row_words: int, rows: int, bits: int,
                released: Signal) -> LineBuffer:
    """Beat ``n`` of the stream → word ``n mod (rows·row_words)``; a beat of global row ``r`` waits
    until ``r - rows`` is below the reader's release mark (its frame's first row + ``released``)."""
    depth = rows * row_words
    buf = memory.Memory(shape=unsigned(bits), depth=max(2, depth), init=[])  # no zero-width address
    m.submodules.rows = buf
    w_addr, w_col, w_row = _counter(depth, "w_addr"), _counter(row_words, "w_col"), _counter(height, "w_row")
    w_frame, r_frame, ahead = Signal(2, name="w_frame"), Signal(2, name="r_frame"), Signal(2, name="ahead")
    m.d.comb += ahead.eq(w_frame - r_frame)
    # global row r = (r_frame + ahead)·H + w_row may be written iff r - rows < r_frame·H + released
    mark = Signal(range(height + rows + 1), name="w_mark")
    m.d.comb += mark.eq(released + rows)
    free = ((ahead == 0) & (w_row < mark)) | ((ahead == 1) & (w_row + height < mark)) | (ahead == 3)
    wp = buf.write_port()
    take = Signal()
    m.d.comb += [i.ready.eq(free), take.eq(i.valid & i.ready),
                 wp.addr.eq(w_addr), wp.data.eq(i.payload), wp.en.eq(take)]
    with m.If(take):
        m.d.sync += w_addr.eq(_wrap_inc(w_addr, depth))
        m.d.sync += w_col.eq(_wrap_inc(w_col, row_words))
        with m.If(w_col == row_words - 1):
            m.d.sync += w_row.eq(_wrap_inc(w_row, height))
            with m.If(w_row == height - 1):
                m.d.sync += w_frame.eq(w_frame + 1)
    return LineBuffer(buf, w_row, w_col, r_frame, ahead)


def _wrap_inc(counter: Signal, size: int) -> object:
    return Mux(counter == size - 1, 0, counter + 1)


def row_slot_address(m: Module, g: ConvGeometry, rows: int, row_words: int, step: object,
                     wraps: list[object]) -> Signal:
    """The address of the slot holding the reader's current input row ``iy`` (conv window generator,
    max-pool stage) (global row
    ``f·H + iy``, slot ``(f·H + iy) mod rows``), kept by adding the row change of each step modulo
    the buffer, so no address needs a division. ``wraps``: kx, ky, (c and ox: the output row ends)
    and oy at their last value."""
    (kh, _), (sh, _), (dh, _), top = g.kernel, g.strides, g.dilations, g.pads[0]
    size = rows * row_words
    base = Signal(range(max(2, size)), name="g_row_base", init=(-top % rows) * row_words)
    back = -(kh - 1) * dh  # from the window's last row to the next window's first (same output row)
    deltas = [dh, back, back + sh, back + g.in_height - (g.out_height - 1) * sh]

    def move(delta: int) -> None:
        k = (delta % rows) * row_words
        if k:
            m.d.sync += base.eq(Mux(base >= size - k, base - (size - k), base + k))

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

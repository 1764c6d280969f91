"""Cycle model of the conv engine: the window generator's rules composed with the dot-product engine's.

Window generator rules (``hwprune.backends.rtl.conv``; conventions of ``hwprune.lower.cycles``):

5. The input rows go into a circular buffer of ``R = buffer_rows(g)`` rows of ``W·C`` words. Rows are
   numbered across frames (row ``y`` of frame ``f`` is row ``f·H + y``) and row ``r`` goes into slot
   ``r mod R``. Beats are accepted in order, one per cycle, and a beat of row ``r`` no earlier than the
   cycle at which row ``r - R`` (the slot's previous row; none when ``r < R``) is released. Row ``y``
   of frame ``f`` is released the cycle after the generator's last window beat of output row
   ``oy - 1`` of frame ``f``, where ``oy`` is the first output row whose window starts below it
   (``oy·s_h - pad_top > y``); if no output row of the frame does, the cycle after the frame's last
   window beat. So a row is released when the generator starts an output row that no longer reads
   it (or ends its frame), whether or not any window ever read it (stride > kernel, unread last rows).
6. Window elements leave in order (pixel by pixel; c, ky, kx inside a window), one per beat, or with
   window beats (``in_simd = kh·kw``) one channel's whole window per beat, or with a wide frame
   (``frame_simd = m``: input beats, and row-buffer words, of ``m`` channels of a pixel; rule 5 counts
   those beats) the ``m`` channels' whole windows per beat. An element that reads input
   element ``e`` of frame ``f`` is available from the cycle after the beat holding ``e`` was accepted; a padding element
   from the cycle after the frame's first input beat was accepted; a beat is offered once all its
   elements are. Offered beats go straight into the dot-product engine, whose rules 1-4 then fix when
   each is taken and when each output leaves.

Why this never deadlocks: while the generator works on output row ``oy`` it reads rows below
``first = max(0, oy·s_h - pad_top)`` and at most ``kh_eff = (kh - 1)·d_h + 1`` rows from there, and
every row below ``first`` is released, so the writer may fill rows up to ``first + R - 1`` — all the
rows the window needs when ``R ≥ kh_eff``, and the whole frame when ``R = H``.

So a conv frame is the dense engine's schedule with window arrivals computed from input arrivals.

Grouped convolution (group ``g``): the window stream is the same ``C·kh·kw`` beats per pixel (channel
order concatenates the groups' windows), and the engine takes it as ``g`` vectors of ``K = C/g·kh·kw``
beats, vector ``i`` computing group ``i``'s ``F/g`` filters (rules 1-4 per vector, in group order).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from hwprune.lower.cycles import BufferedModel, EngineModel, EngineTiming
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec

__all__ = ["ConvModel", "RowWriter", "buffer_rows", "released_rows", "window_sources", "window_source_array"]


def buffer_rows(g: ConvGeometry) -> int:
    """``R``, the rows of the window generator's circular buffer: ``min(H, kh_eff + s_h)``. A window
    needs ``kh_eff`` rows at once; ``s_h`` more let the writer fill the next output row's new rows while
    the generator still reads the current one, so a steady input never waits on the generator's row
    boundary. More than ``H`` never helps (a frame's rows are all there)."""
    (kh, _), (sh, _), (dh, _) = g.kernel, g.strides, g.dilations
    return min(g.in_height, (kh - 1) * dh + 1 + sh)


def released_rows(g: ConvGeometry, oy: int) -> int:
    """Rows of a frame released while the generator works on output row ``oy`` (``oy = OH``: after
    the frame's last window beat): the rows above the window's first row, clamped to ``[0, H]``."""
    if oy >= g.out_height:
        return g.in_height
    return min(g.in_height, max(0, oy * g.strides[0] - g.pads[0]))


def window_sources(g: ConvGeometry) -> list[int]:
    """For every window beat of a frame, in order, the input element it reads (``-1`` = padding)."""
    return window_source_array(g).reshape(-1).tolist()


@lru_cache(maxsize=64)
def window_source_array(g: ConvGeometry) -> np.ndarray:
    """``window_sources`` as a read-only int64 array ``[OH, OW·C·kh·kw]`` (one row per output row):
    pixel by pixel (oy, ox), then c, ky, kx."""
    C, H, W = g.in_channels, g.in_height, g.in_width
    (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
    top, left = g.pads[0], g.pads[1]
    oy, ox, c, ky, kx = np.ix_(*(np.arange(n, dtype=np.int64) for n in (g.out_height, g.out_width, C, kh, kw)))
    iy, ix = oy * sh + ky * dh - top, ox * sw + kx * dw - left
    inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
    sources = np.where(inside, (iy * W + ix) * C + c, -1).reshape(g.out_height, -1)
    sources.flags.writeable = False
    return sources


class RowWriter:
    """Rule 5's write side: accept cycles of a frame's beats, computed on demand (``fill``) because a
    beat may wait for a row the same frame's reading releases."""

    def __init__(self, g: ConvGeometry, lanes: int = 1) -> None:
        self.height, self.row_beats = g.in_height, g.in_width * g.in_channels // lanes
        self.frame_beats = self.height * self.row_beats
        self.rows = buffer_rows(g)
        self.released: dict[int, int] = {}  # global row → cycle from which its slot may be rewritten
        self.writer_free = 0
        self.frames = 0
        self.arrival = np.zeros(0, dtype=np.int64)
        self.taken = np.zeros(0, dtype=np.int64)  # accept cycles of the frame's first ``filled`` beats
        self.filled = 0
        self._ramp = np.arange(self.row_beats, dtype=np.int64)

    def slot_free(self, row: int) -> int:
        """First cycle a beat of global row ``row`` may be accepted (its slot's previous row released)."""
        previous = row - self.rows
        if previous < 0:
            return 0
        if previous not in self.released:
            raise AssertionError(f"row {row} waits for row {previous}, which the reader has not released")
        return self.released[previous]

    @property
    def next_ready(self) -> int:
        return max(self.writer_free, self.slot_free(self.frames * self.height))

    @property
    def accepted(self) -> list[int]:
        """Accept cycles of the beats filled so far."""
        return self.taken[:self.filled].tolist()

    def start(self, arrival: Sequence[int]) -> None:
        if len(arrival) != self.frame_beats:
            raise ValueError(f"frame {self.frames} has {len(arrival)} arrival cycles, the layer takes "
                             f"{self.frame_beats} beats")
        self.arrival = np.asarray(arrival, dtype=np.int64)
        self.taken = np.empty(self.frame_beats, dtype=np.int64)
        self.filled = 0

    def fill(self, beat: int) -> None:
        """Accept every beat of the frame up to ``beat`` (one per cycle, in order, rule 5): within a row
        the slot's release is one bound, so each row's run is ``in_order``'s closed form."""
        base = self.frames * self.height
        i = self.filled
        previous = int(self.taken[i - 1]) if i else self.writer_free - 1
        while i <= beat:
            row = i // self.row_beats
            end = min(beat + 1, (row + 1) * self.row_beats)
            ramp = self._ramp[:end - i]
            run = np.maximum.accumulate(self.arrival[i:end] - ramp)
            np.maximum(run, max(previous + 1, self.slot_free(base + row)), out=run)
            run += ramp
            self.taken[i:end] = run
            previous = int(run[-1])
            i = end
        self.filled = max(self.filled, i)

    def release(self, rows: range, cycle: int) -> None:
        """Rows ``rows`` of the frame being read are released from ``cycle``."""
        base = self.frames * self.height
        for y in rows:
            self.released[base + y] = cycle

    def finish(self) -> list[int]:
        """The frame's accept cycles, once every row of it is released."""
        self.fill(self.frame_beats - 1)
        self.writer_free = int(self.taken[-1]) + 1
        self.frames += 1
        oldest = self.frames * self.height - self.rows
        for row in [r for r in self.released if r < oldest]:
            del self.released[row]
        return self.taken.tolist()


class ConvModel(BufferedModel):
    """Rules 5-6 around an ``EngineModel``; ``push`` takes one frame's input arrivals.

    One output row at a time: the row buffer is filled for the whole row first (its accept cycles
    depend only on releases, which happen at row ends), every window beat's offer cycle follows at
    once, and the engine takes the row's vectors through ``EngineModel.push_bounds``."""

    def __init__(self, spec: KernelSpec) -> None:
        if spec.conv is None:
            raise ValueError(f"kernel {spec.name!r} is not a conv kernel")
        self.geometry = spec.conv
        self.engine = EngineModel(EngineTiming.of(spec))
        self.window = spec.in_features * spec.groups
        self.vector = spec.in_beats  # beats of one engine vector (one group's window)
        self.simd = spec.in_simd
        rows = window_source_array(spec.conv)
        if spec.frame_simd > 1:  # a wide frame: the beat (buffer word) of m channels each element is in
            rows = np.where(rows >= 0, rows // spec.frame_simd, -1)
        self._row_last = [max(0, int(r.max())) for r in rows]
        self._row_reads = np.where(rows >= 0, rows, 0)
        self._row_pads = rows < 0
        self._row_padding = [bool(pads.any()) for pads in self._row_pads]
        self._ramp = np.arange(self.vector, dtype=np.int64)
        self.writer = RowWriter(spec.conv, spec.frame_simd)

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(input accept cycles, output cycles of every pixel's outputs, last-step cycles) of a frame."""
        g, writer, engine = self.geometry, self.writer, self.engine
        writer.start(arrival)
        lasts: list[np.ndarray] = []
        for oy in range(g.out_height):
            writer.fill(self._row_last[oy])
            taken = writer.taken
            offers = taken[self._row_reads[oy]]
            if self._row_padding[oy]:
                offers[self._row_pads[oy]] = taken[0]
            offers += 1
            if self.simd > 1:  # a beat waits for the last of its elements (rule 6)
                offers = offers.reshape(-1, self.simd).max(axis=1)
            bounds = (offers.reshape(-1, self.vector) - self._ramp).max(axis=1)
            last_taken, row_lasts = engine.push_bounds(bounds)
            lasts.append(row_lasts)
            writer.release(range(released_rows(g, oy), released_rows(g, oy + 1)), last_taken + 1)
        steps = np.concatenate(lasts)
        return writer.finish(), engine.output_cycles(steps).tolist(), steps.reshape(-1).tolist()

"""Cycle model of the network's stream stages (``hwprune.backends.rtl.stages``, ``avgpool``,
``elementwise``, ``merge_stages``): max and average pooling, the H·W·C → C·H·W reorder in front of a
flatten, global average pooling, HardSigmoid/HardSwish and the merges. Conventions of ``hwprune.lower.cycles``.

Each stage is a write side that takes the input stream and a reader that steps through it in its own
order. Max pooling keeps the conv window generator's row buffer; the reorder, which reads channel-major
and so needs a whole frame, keeps a two-half frame buffer:

7. Max pooling's input rows go into a circular buffer of ``R = buffer_rows(window)`` rows of ``W·C``
   words (``R = min(H, kh + s_h)``; the conv's rule 5 with no dilation, ``hwprune.lower.conv_cycles``).
   Rows are numbered across frames (row ``y`` of frame ``f`` is row ``f·H + y``), row ``r`` goes into
   slot ``r mod R``; beats are accepted in order, one per cycle as they arrive, a beat of row ``r`` no
   earlier than the cycle at which row ``r - R`` (none when ``r < R``) is released. Row ``y`` of frame
   ``f`` is released the cycle after the reader's last step of output row ``oy - 1`` of frame ``f``,
   where ``oy`` is the first output row whose windows start below it (``oy·s_h - pad_top > y``); if no
   output row does, the cycle after the frame's last step (whether or not a window read the row).
   The reorder stage's frame ``f`` is written into half ``f mod 2``; its first beat is accepted no
   earlier than the cycle after the previous frame's last beat, and no earlier than the cycle after
   the reader's last step of frame ``f - 2``. Beats of a frame are accepted one per cycle as they arrive.
8. The reader makes at most one step per cycle, in its order. A step that reads element ``e`` of
   frame ``f`` happens no earlier than the cycle after ``e`` was accepted; a step that reads padding
   (max pooling) no earlier than the cycle after the frame's first beat was accepted.
9. Max pooling reads the window of output ``(oy, ox, c)`` as ``ky, kx`` (``window_sources`` order) and
   registers the maximum: the output beat leaves the cycle after the window's last step. Average
   pooling (``avgpool``) is the same stage with a sum in place of the maximum (padding reads 0) and the
   requantiser between the sum and the output register, so rules 7-9 hold for it unchanged. The
   reorder stage's step *is* its output beat (the read is combinational), in C·H·W order.

Why pooling never deadlocks: on output row ``oy`` the reader reads the ``kh`` rows from
``max(0, oy·s_h - pad_top)``, every row above is released, so the writer may fill ``R`` rows from
there: all the window needs when ``R ≥ kh``, the whole frame when ``R = H`` (the conv's argument,
``hwprune.lower.conv_cycles``).

13. A fork, add or concat stage (a graph that branches and merges) steps once per cycle in its order,
   a step no earlier than the cycle each beat it reads is offered on its input (``MergeModel``); a
   beat is ``m`` = ``StagePlan.width`` consecutive elements (m = 1: one element), and a step handles
   a whole beat: a fork copies it, an add reads beat ``e`` of both inputs, a concat reads, per pixel,
   ``chunks[p] / m`` beats of input ``p`` in turn. A fork's outputs leave in the step's cycle (into every
   output FIFO), an add's or concat's the cycle after.

14. Global average pooling (``globalavg``, a (C, H, W) frame in, C/m beats out, m channels per beat)
   keeps one accumulator per channel and no frame: it accepts its H·W·C/m input beats in order, one per
   cycle as they arrive (a frame's first beat no earlier than the cycle after the previous frame's
   last), and beat ``b`` (channels ``b·m … b·m+m-1``) of the frame's last pixel puts out those channels'
   requantised sums the cycle after it is accepted.
15. An elementwise stage (``hardsigmoid``, ``hardswish``, ``lut``) accepts its beats (of m elements) in
   order, one per cycle as they arrive, and puts out each beat's m results the cycle after it is
   accepted (latency 1: the requantisers are combinational, into the output register).

The output stream is never back-pressured in the model (the network top puts a FIFO sized from this
model behind every stage, ``hwprune.lower.network_cycles``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hwprune.lower.conv_cycles import RowWriter, released_rows, window_source_array
from hwprune.lower.cycles import BufferedModel, FrameWriter, in_order, in_order_array
from hwprune.lower.kernel_spec import ConvGeometry

__all__ = ["FrameStageModel", "PoolModel", "ReorderModel", "MergeModel", "GlobalAverageModel", "ElementwiseModel",
           "InOrderModel", "reorder_sources",
           "pool_output_ends", "merge_reads"]


def reorder_sources(channels: int, height: int, width: int) -> list[int]:
    """For output beat ``o = (c·H + y)·W + x`` (C·H·W order), the H·W·C element it reads."""
    return [(y * width + x) * channels + c for c in range(channels) for y in range(height) for x in range(width)]


def pool_output_ends(g: ConvGeometry) -> list[int]:
    """Index (in read order) of the last read of every pooling window."""
    size = g.kernel[0] * g.kernel[1]
    return [w * size + size - 1 for w in range(g.out_height * g.out_width * g.in_channels)]


class FrameStageModel(BufferedModel):
    """Rules 7-8 (the reorder's two-half frame buffer) for a reader whose steps read ``sources``
    (``-1`` = padding); ``ends`` are the steps that produce an output beat, which leaves ``latency``
    cycles after the step."""

    def __init__(self, frame_beats: int, sources: Sequence[int], ends: Sequence[int], latency: int) -> None:
        if frame_beats < 1 or not sources:
            raise ValueError("a frame stage needs at least one input beat and one read")
        self.writer = FrameWriter(frame_beats, "stage")
        self.sources = list(sources)
        self.ends = list(ends)
        self.latency = latency
        self.reader_free = 0
        reads = np.asarray(self.sources, dtype=np.int64)
        self._reads = np.where(reads >= 0, reads, 0)
        self._ends = np.asarray(self.ends, dtype=np.int64)

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(input accept cycles, output beat cycles, step cycles) of the next frame."""
        accepted = self.writer.accept(arrival)
        # a padding read (-1) is offered with element 0, so reading element 0 stands for it
        steps = in_order_array(np.asarray(accepted, dtype=np.int64)[self._reads] + 1, self.reader_free)
        self.reader_free = int(steps[-1]) + 1
        self.writer.release(int(steps[-1]))
        return accepted, (steps[self._ends] + self.latency).tolist(), steps.tolist()


class PoolModel(BufferedModel):
    """Max or average pooling over ``window`` (rules 7-9): the conv's row buffer (``RowWriter``), one
    read per window element, registered output."""

    def __init__(self, window: ConvGeometry) -> None:
        if window.group != 1 or window.dilations != (1, 1):
            raise ValueError("pooling takes no groups and no dilation")
        self.window = window
        self.writer = RowWriter(window)
        rows = window_source_array(window)
        self.sources = rows.reshape(-1).tolist()
        self.ends = pool_output_ends(window)
        self._rows = np.maximum(rows, 0)  # a padding read is offered with element 0 (rule 8)
        self._row_last = [int(r.max()) for r in self._rows]
        self._ends = np.asarray(self.ends, dtype=np.int64)
        self.reader_free = 0

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(input accept cycles, output beat cycles, step cycles) of the next frame; one output row
        at a time (its reads need the rows filled up to its last element, releases come at its end)."""
        g, writer = self.window, self.writer
        writer.start(arrival)
        runs: list[np.ndarray] = []
        step = self.reader_free - 1
        for oy in range(g.out_height):
            writer.fill(self._row_last[oy])
            run = in_order_array(writer.taken[self._rows[oy]] + 1, step + 1)
            runs.append(run)
            step = int(run[-1])
            writer.release(range(released_rows(g, oy), released_rows(g, oy + 1)), step + 1)
        self.reader_free = step + 1
        steps = np.concatenate(runs)
        return writer.finish(), (steps[self._ends] + 1).tolist(), steps.tolist()


class ReorderModel(FrameStageModel):
    """The H·W·C → C·H·W reorder of a (C, H, W) frame (rules 7-9, two halves): every step is an
    output beat."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        sources = reorder_sources(channels, height, width)
        super().__init__(len(sources), sources, range(len(sources)), latency=0)


def merge_reads(kind: str, in_beats: Sequence[int], chunks: Sequence[int] = ()) -> list[list[tuple[int, int]]]:
    """What each step of a fork, add or concat stage reads: a list of (input port, beat) per step.
    Fork: beat ``e`` of its one input; add: beat ``e`` of both inputs; concat: per block of the
    stream, ``chunks[p]`` beats of input ``p`` in turn (channels inner: one block per pixel; here
    ``chunks`` counts beats, ``MergeModel`` divides the plan's channels by the width)."""
    if kind == "fork":
        return [[(0, e)] for e in range(in_beats[0])]
    if kind == "add":
        return [[(0, e), (1, e)] for e in range(in_beats[0])]
    blocks = in_beats[0] // chunks[0]
    return [[(p, b * chunk + k)] for b in range(blocks) for p, chunk in enumerate(chunks) for k in range(chunk)]


class MergeModel:
    """Rule 13 (fork, add, concat; ``hwprune.backends.rtl.merge_stages``): one step per cycle, in order,
    a step no earlier than the cycle every beat it reads is offered. A fork's step writes its input
    beat to every output in the same cycle (latency 0); an add or concat step registers its result,
    which leaves the cycle after (latency 1). ``in_beats`` count beats of ``width`` elements, a concat's
    ``chunks`` channels (``width`` must divide each: a beat never mixes two inputs)."""

    def __init__(self, kind: str, in_beats: Sequence[int], fanout: int = 1, chunks: Sequence[int] = (),
                 width: int = 1) -> None:
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        if any(chunk % width for chunk in chunks):
            raise ValueError(f"width {width} must divide every concat chunk, not {list(chunks)}")
        self.width = width
        self.reads = merge_reads(kind, in_beats, [chunk // width for chunk in chunks])
        self.in_beats = list(in_beats)
        self.fanout = fanout
        self.latency = 0 if kind == "fork" else 1
        self.free = 0
        # per input port: the step that reads each of its elements (every element is read once)
        self._steps_of: list[np.ndarray] = [np.full(beats, -1, dtype=np.int64) for beats in self.in_beats]
        for index, reads in enumerate(self.reads):
            for p, e in reads:
                self._steps_of[p][e] = index

    @property
    def next_ready(self) -> int:
        return self.free

    def push_ports(self, arrivals: Sequence[Sequence[int]]) -> tuple[list[list[int]], list[list[int]]]:
        """(take cycles per input port, output beat cycles per output port) of the next vector."""
        offers = np.full(len(self.reads), np.iinfo(np.int64).min, dtype=np.int64)
        for p, steps_of in enumerate(self._steps_of):
            read = steps_of >= 0
            arrival = np.asarray(arrivals[p], dtype=np.int64)[:len(steps_of)]
            index = steps_of[read]  # a step reads at most one element of each port: no repeated index
            offers[index] = np.maximum(offers[index], arrival[read])
        steps = in_order_array(offers, self.free)
        self.free = int(steps[-1]) + 1
        taken = [np.where(steps_of >= 0, steps[np.maximum(steps_of, 0)], 0).tolist() for steps_of in self._steps_of]
        outs = (steps + self.latency).tolist()
        return taken, [list(outs) for _ in range(self.fanout)]


class InOrderModel:
    """Rules 14-15: a stage with no buffer, every beat (of any width) accepted as it arrives (one per
    cycle, a frame's first beat no earlier than the cycle after the previous frame's last); the beats
    listed in ``ends`` put out one output beat each, the cycle after they are accepted (the output
    register)."""

    def __init__(self, frame_beats: int, ends: Sequence[int]) -> None:
        self.frame_beats = frame_beats
        self.ends = list(ends)
        self.free = 0

    @property
    def next_ready(self) -> int:
        return self.free

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(input accept cycles, output beat cycles, step cycles = the accepts) of the next frame."""
        if len(arrival) != self.frame_beats:
            raise ValueError(f"a frame has {self.frame_beats} beats, not {len(arrival)}")
        accepted = in_order(arrival, self.free)
        self.free = accepted[-1] + 1
        return accepted, [accepted[e] + 1 for e in self.ends], list(accepted)


class GlobalAverageModel(InOrderModel):
    """Rule 14 (``hwprune.backends.rtl.avgpool.GlobalAverageStage``): with ``beat_width`` = m channels
    per beat (m divides C), a frame is H·W·C/m beats, and the output beat of channels ``b·m …`` leaves
    the cycle after the last pixel's beat ``b``."""

    def __init__(self, channels: int, height: int, width: int, beat_width: int = 1) -> None:
        for name, value in (("channels", channels), ("height", height), ("width", width),
                            ("beat_width", beat_width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if channels % beat_width:
            raise ValueError(f"beat width {beat_width} must divide the {channels} channels")
        per_pixel = channels // beat_width
        beats = per_pixel * height * width
        super().__init__(beats, range(beats - per_pixel, beats))


class ElementwiseModel(InOrderModel):
    """Rule 15 (``hwprune.backends.rtl.elementwise``): every beat's result the cycle after it;
    ``beats`` counts beats (a stream of N elements at width m: N/m)."""

    def __init__(self, beats: int) -> None:
        if not isinstance(beats, int) or beats < 1:
            raise ValueError(f"beats must be a positive integer, not {beats!r}")
        super().__init__(beats, range(beats))

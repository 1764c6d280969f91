"""The two-frame (ping-pong) buffer of the reorder stage: a writer that takes beats in arrival order
and a reader that may read in any order once the element it needs has been written (the reorder
reads channel-major, so it needs a whole frame; ``hwprune.lower.stage_cycles``, rule 7). ``odometer``
also drives the conv window generator and the max-pool stage, whose storage is the row buffer of
``hwprune.backends.rtl.line_buffer`` (rules 5 and 7).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import memory, stream

from hwprune.backends.rtl.engine import _counter

__all__ = ["FrameBuffer", "frame_writer", "odometer"]


@dataclass
class FrameBuffer:
    """The writer side: ``memory`` (two halves of ``frame`` words), the write count inside the frame
    being written, and how many frames the writer is ahead of the reader (0, 1 or 2)."""

    memory: memory.Memory
    w_count: Signal
    r_frame: Signal
    ahead: Signal
    frame: int

    def written(self, element: object) -> object:
        """Element ``element`` of the reader's frame has been written (rule 8)."""
        return (self.ahead == 1) | (self.ahead == 2) | ((self.ahead == 0) & (self.w_count > element))

    def started(self) -> object:
        """The reader's frame has at least one element (padding may be read)."""
        return (self.ahead == 1) | (self.ahead == 2) | ((self.ahead == 0) & (self.w_count != 0))

    def read_address(self, element: object) -> object:
        return Mux(self.r_frame[0], self.frame, 0) + element


def frame_writer(m: Module, i: stream.Interface, frame: int, bits: int) -> FrameBuffer:
    """Beat ``e`` of frame ``f`` → word ``(f mod 2)·frame + e``; stalls while two frames are unread."""
    buf = memory.Memory(shape=unsigned(bits), depth=2 * frame, init=[])
    m.submodules.frames = buf
    w_count = _counter(frame, "w_count")
    w_frame, r_frame, ahead = Signal(2, name="w_frame"), Signal(2, name="r_frame"), Signal(2)
    m.d.comb += ahead.eq(w_frame - r_frame)
    wp = buf.write_port()
    take = Signal()
    m.d.comb += [i.ready.eq(ahead != 2), take.eq(i.valid & i.ready),
                 wp.addr.eq(Mux(w_frame[0], frame, 0) + w_count), wp.data.eq(i.payload), wp.en.eq(take)]
    with m.If(take):
        with m.If(w_count == frame - 1):
            m.d.sync += [w_count.eq(0), w_frame.eq(w_frame + 1)]
        with m.Else():
            m.d.sync += w_count.eq(w_count + 1)
    return FrameBuffer(buf, w_count, r_frame, ahead, frame)


def odometer(m: Module, enable: object, steps: list[tuple[Signal, int]], frame: Signal) -> object:
    """On ``enable``, advance the counters (innermost first); the last wrap ends the reader's frame.
    Returns the condition "every counter is at its last value" (the frame's last step)."""
    carry: object = None
    for counter, size in steps:
        wrap = counter == size - 1
        moves = enable if carry is None else (enable & carry)
        with m.If(moves):
            m.d.sync += counter.eq(Mux(wrap, 0, counter + 1))
        carry = wrap if carry is None else (carry & wrap)
    with m.If(enable & carry):
        m.d.sync += frame.eq(frame + 1)
    return carry

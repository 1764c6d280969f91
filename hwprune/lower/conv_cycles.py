"""Cycle model of the conv engine: the window generator's rules composed with the dot-product engine's.

Window generator rules (``hwprune.backends.rtl.conv``; conventions of ``hwprune.lower.cycles``):

5. Frame ``f`` is written into buffer half ``f mod 2``; its first beat is accepted no earlier than the
   cycle after the previous frame's last beat, and no earlier than the cycle after the generator's
   last window beat of frame ``f - 2`` (the frame that used the same half).
6. Window beats leave in order (pixel by pixel; c, ky, kx inside a window). A beat that reads input
   element ``e`` of frame ``f`` is offered from the cycle after ``e`` was accepted; a padding beat
   from the cycle after the frame's first input beat was accepted. Offered beats go straight into
   the dot-product engine, whose rules 1-4 then fix when each is taken and when each output leaves.

So a conv frame is the dense engine's schedule with window arrivals computed from input arrivals.
"""

from __future__ import annotations

from typing import Sequence

from hwprune.lower.cycles import EngineModel, EngineTiming, FrameWriter
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec

__all__ = ["ConvModel", "window_sources"]


def window_sources(g: ConvGeometry) -> list[int]:
    """For every window beat of a frame, in order, the input element it reads (``-1`` = padding)."""
    C, H, W = g.in_channels, g.in_height, g.in_width
    (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
    top, left = g.pads[0], g.pads[1]
    sources = []
    for oy in range(g.out_height):
        for ox in range(g.out_width):
            for c in range(C):
                for ky in range(kh):
                    for kx in range(kw):
                        iy, ix = oy * sh + ky * dh - top, ox * sw + kx * dw - left
                        inside = 0 <= iy < H and 0 <= ix < W
                        sources.append((iy * W + ix) * C + c if inside else -1)
    return sources


class ConvModel:
    """Rules 5-6 around an ``EngineModel``; ``push`` takes one frame's input arrivals."""

    def __init__(self, spec: KernelSpec) -> None:
        if spec.conv is None:
            raise ValueError(f"kernel {spec.name!r} is not a conv kernel")
        self.geometry = spec.conv
        self.engine = EngineModel(EngineTiming.of(spec))
        self.window = spec.in_features
        self.sources = window_sources(spec.conv)
        self.writer = FrameWriter(spec.conv.in_channels * spec.conv.in_height * spec.conv.in_width, "layer")

    @property
    def frame_beats(self) -> int:
        return self.writer.frame_beats

    @property
    def next_ready(self) -> int:
        return self.writer.next_ready

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(input accept cycles, output cycles of every pixel's outputs, last-step cycles) of a frame."""
        accepted = self.writer.accept(arrival)
        offers = [accepted[e] + 1 if e >= 0 else accepted[0] + 1 for e in self.sources]
        outputs: list[int] = []
        lasts: list[int] = []
        last_window_beat = 0
        for start in range(0, len(offers), self.window):
            taken, beats, steps = self.engine.push(offers[start:start + self.window])
            outputs.extend(beats)
            lasts.extend(steps)
            last_window_beat = taken[-1]
        self.writer.release(last_window_beat)
        return accepted, outputs, lasts

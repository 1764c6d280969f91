"""A layer's configurations for the fitter: every (lanes, MACs per lane, stream widths) worth trying,
each with its interval (cycles per inference) and analytic resources.

Why apart from the search (``hwprune.lower.fitting``): the intervals here are the cycle model's closed
forms, which the report, the explorer and the benchmarks use too, without the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from hwprune.lower.cycles import EngineTiming
from hwprune.lower.engine_schedule import steady_state_interval
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.resource_model import Estimate, kernel_resources
from hwprune.lower.stream_widths import Pair, width_options
from hwprune.prune.patterns.base import GroupLayout, pack_balanced

__all__ = ["Candidate", "candidates", "dense_group_sizes", "relayout", "layer_interval", "inference_vectors", "pe_utilisation", "lane_options"]


def inference_vectors(spec: KernelSpec) -> int:
    """Input vectors of one inference: one for a dense layer, one per output pixel for a conv."""
    return spec.conv.out_height * spec.conv.out_width if spec.conv else 1


def _vector_interval(in_beats: int, out_features: int, lanes: int, cycles_per_pass: int, out_pe: int = 1) -> int:
    """Steady-state cycles per vector: the cycle model's closed form ``max(K, passes × cycles_per_pass,
    out_beats)`` where it holds (no result bank waits, or every pass drains in at least 3 beats), else
    the cycle model itself (``steady_state_interval`` does both)."""
    return steady_state_interval(EngineTiming(in_beats, out_features, lanes, cycles_per_pass, out_pe))


def layer_interval(spec: KernelSpec) -> int:
    """Cycles between consecutive inferences entering this layer (its initiation interval). A grouped
    conv's engine takes each pixel as ``groups`` vectors of one group's window, each producing that
    group's filters (the group-serial schedule of ``hwprune.lower.conv_cycles``)."""
    per_vector = _vector_interval(spec.in_beats, spec.group_outputs, spec.lanes, spec.cycles_per_pass,
                                  spec.engine_out_pe)
    interval = inference_vectors(spec) * spec.serial_groups * per_vector
    if spec.conv is not None:  # the frame arrives one beat per cycle (rule 5), whatever the window beats
        g = spec.conv
        interval = max(interval, g.in_height * g.in_width * g.in_channels // spec.frame_simd)
    return interval


def pe_utilisation(specs: Sequence[KernelSpec], interval: float) -> float:
    """Useful MACs of one inference over what the layers' multipliers could do in ``interval`` cycles:
    1.0 means every multiplier works on a kept weight on every cycle."""
    useful = sum(spec.useful_macs * inference_vectors(spec) for spec in specs)
    return useful / (sum(spec.multipliers for spec in specs) * interval)


def lane_options(out_features: int) -> list[int]:
    """The smallest lane count for each achievable number of passes (``ceil(out / passes)``), ascending."""
    return sorted({math.ceil(out_features / passes) for passes in range(1, out_features + 1)})


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class Candidate:
    """One configuration of one layer with its interval and analytic resources."""

    lanes: int
    macs_per_lane: int
    interval: int
    resources: Estimate
    in_simd: int = 1
    out_pe: int = 1
    port_in: int = 1
    """Elements per beat of the input stream (``in_simd``; a conv's ``frame_simd``: its window beat is inside)."""
    frame_simd: int = 1
    group_size: int = 0
    """The layout's group size when the fitter re-lays a dense layer out (``relayout``); 0: as lowered."""

    @property
    def widths(self) -> Pair:
        """The widths of the kernel's two streams (what a chain of wide links must agree on)."""
        return (self.port_in, self.out_pe)


def candidates(spec: KernelSpec, family: str, lanes: int | None = None, in_limit: int = 1,
               out_limit: int = 1, window_beats: bool = True) -> list[Candidate]:
    """Every (lanes, macs_per_lane) worth considering for ``spec``; ``lanes`` pins the lane count. With
    ``in_limit`` / ``out_limit`` above 1 (a wide stream on that side, ``hwprune.lower.stream_widths``)
    also every ``in_simd`` / ``out_pe`` (a conv's ``frame_simd``) up to them that the engine can take at
    each of them; a conv's window beats and folds with ``window_beats``."""
    lane_set = [min(lanes, spec.group_outputs)] if lanes is not None else lane_options(spec.group_outputs)
    out = []
    for size in dense_group_sizes(spec):
        laid = relayout(spec, size)
        for lane_count in lane_set:
            for macs in _divisors(laid.layout.groups):
                trial = replace(laid, lanes=lane_count, macs_per_lane=macs, in_simd=1, out_pe=1, frame_simd=1)
                for w_in, w_out, frame in width_options(trial, in_limit, out_limit, window_beats):
                    wide = trial if (w_in, w_out, frame) == (1, 1, 1) else \
                        replace(trial, in_simd=w_in, out_pe=w_out, frame_simd=frame)
                    out.append(Candidate(trial.lanes, macs, layer_interval(wide), kernel_resources(wide, family),
                                         w_in, w_out, wide.in_port_width, frame,
                                         0 if laid is spec else size))
    return out


def dense_group_sizes(spec: KernelSpec) -> list[int]:
    """The group sizes the fitter may lay a layer out in: a pruned layer's is fixed by its pattern; a
    dense one ("keep all") may take any size dividing ``K``, and the size caps its MAC units per lane
    at ``K / S``: besides the lowered one, ``S = 1`` (every input its own group: up to ``K`` MAC units, no
    select, any beat that divides the MAC units) and, for a conv, one channel's window ``kh·kw`` (a
    window beat or a wide frame's windows land in whole groups)."""
    if spec.pattern != "dense":
        return [spec.layout.group_size]
    sizes = [spec.layout.group_size, 1]
    if spec.conv is not None:
        sizes.append(spec.conv.kernel[0] * spec.conv.kernel[1])
    return list(dict.fromkeys(s for s in sizes if spec.in_features % s == 0))


def relayout(spec: KernelSpec, size: int) -> KernelSpec:
    """A dense layer with its weights packed in groups of ``size`` (every position kept), one MAC unit
    and narrow streams; ``spec`` itself at its own size."""
    if size in (0, spec.layout.group_size):
        return spec
    if spec.pattern != "dense" or spec.in_features % size:
        raise ValueError(f"kernel {spec.name!r}: only a dense layer is laid out again, in groups dividing its "
                         f"{spec.in_features} inputs, not {size}")
    weight, _ = spec.weights.unpack()
    layout = GroupLayout(spec.in_features, size, size)
    packed = pack_balanced(weight, np.ones(weight.shape, dtype=bool), layout)
    return replace(spec, weights=packed, macs_per_lane=1, in_simd=1, out_pe=1, frame_simd=1)

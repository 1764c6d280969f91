"""Stream widths for the fitter: which ``(in_simd, out_pe)`` a dense kernel may take, and the cheapest
choice along a chain of kernels joined by wide streams.

Why a choice along chains, not per layer: a wide stream has two ends, and both must agree on its width
(kernel ``i``'s ``out_pe`` is kernel ``i + 1``'s ``in_simd``), so the layers of a chain of dense kernels
(``hwprune.lower.network_plan.wide_links``) are chosen together: a shortest path over the stream
widths, exact for the fitter's additive cost. A chain that starts right behind the top's ``s_axis`` port
(or ends right before ``m_axis``) is open at that end: the port takes any width up to the AXI width
(``port_width``). Every other stream (to or from a stage that is not an engine) carries one element per
beat.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from hwprune.lower.kernel_spec import KernelSpec, stream_width_problem

__all__ = ["MAX_STREAM_WIDTH", "Pair", "width_pairs", "chains", "cheapest_chain", "port_width", "Chain"]

MAX_STREAM_WIDTH = 16
"""Most elements per beat of a wide stream (16 int8 activations: a 128-bit AXI-Stream beat)."""

Pair = tuple[int, int]
"""(in_simd, out_pe) of one kernel."""

_Option = TypeVar("_Option")


def _powers(limit: int) -> list[int]:
    return [1 << i for i in range(limit.bit_length()) if 1 << i <= limit]


def port_width(dma_width_bits: int, lane_bits: int, limit: int = MAX_STREAM_WIDTH) -> int:
    """Most values per beat of an AXI port of byte lanes of ``lane_bits``: a power of two, at most
    ``limit``, whose beat fits the board's DMA data width (an AXI DMA's stream side is never wider
    than its memory side, PG021)."""
    fits = max(1, dma_width_bits // lane_bits)
    return max(w for w in _powers(limit) if w <= fits)


def width_pairs(spec: KernelSpec, in_limit: int = 1, out_limit: int = 1) -> list[Pair]:
    """Every (in_simd, out_pe) the engine of ``spec`` (its lanes and MACs as given) can take, powers of two
    up to ``in_limit`` / ``out_limit`` (1: that side carries one element per beat). A conv kernel: one
    element, or (``in_limit`` > 1) a power-of-two fold of its window or one channel's whole window per
    engine beat, one output per beat."""
    if spec.conv is not None:  # one element, a fold of the window or a channel's whole window per beat
        window = spec.conv.kernel[0] * spec.conv.kernel[1]
        folds = [w for w in _powers(window - 1) if w > 1] + ([window] if window > 1 else [])
        ins = [1] + [w for w in folds if in_limit > 1 and stream_width_problem(spec, w, 1) is None]
        return [(i, 1) for i in ins]
    ins = [w for w in _powers(in_limit) if stream_width_problem(spec, w, 1) is None]
    outs = [w for w in _powers(out_limit) if spec.lanes % w == 0]
    return [(i, o) for i in ins for o in outs]


Chain = tuple[list[int], bool, bool]
"""Kernel indices along wide links, and whether its start / end is an AXI port (open: any width)."""


def chains(count: int, links: Sequence[tuple[int, int]]) -> list[list[int]]:
    """The kernels ``0..count-1`` as paths along ``links`` (each kernel has at most one link in and one
    out, so the paths are disjoint); a kernel on no link is a path of its own."""
    after = dict(links)
    before = {j for _, j in links}
    if len(after) != len(links) or len(before) != len(links):
        raise ValueError(f"a kernel with two wide links: {sorted(links)}")
    paths = []
    for start in range(count):
        if start in before:
            continue
        path = [start]
        while path[-1] in after:
            path.append(after[path[-1]])
        paths.append(path)
    return paths


def cheapest_chain(options: Sequence[dict[Pair, _Option | None]], cost: Callable[[_Option], tuple],
                   open_start: bool = False, open_end: bool = False) -> list[_Option] | None:
    """One option per kernel of a chain, each kernel's ``in_simd`` equal to the previous one's ``out_pe``
    and both ends of the chain at width 1 (an open end, an AXI port: any width), of least summed
    ``cost`` (a shortest path over the widths); None when no such choice exists. ``options[k][pair]``
    is kernel ``k``'s best option at that pair."""
    starts = {w for w, _ in options[0]} if open_start and options else {1}
    best: dict[int, tuple[tuple, list[_Option]]] = {w: ((), []) for w in starts}
    for choices in options:
        reached: dict[int, tuple[tuple, list[_Option]]] = {}
        for (w_in, w_out), option in sorted(choices.items()):
            if option is None or w_in not in best:
                continue
            spent, picked = best[w_in]
            total = tuple(a + b for a, b in zip(spent, cost(option))) if spent else cost(option)
            if w_out not in reached or total < reached[w_out][0]:
                reached[w_out] = (total, picked + [option])
        best = reached
    if open_end:
        return min(best.values(), key=lambda entry: entry[0])[1] if best else None
    return best[1][1] if 1 in best else None

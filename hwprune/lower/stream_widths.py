"""Stream widths for the fitter: which ``(in_simd, out_pe)`` a dense kernel may take, and the cheapest
choice along a chain of kernels joined by wide streams.

Why a choice along chains, not per layer: a wide stream has two ends, and both must agree on its width
(kernel ``i``'s ``out_pe`` is kernel ``i + 1``'s ``in_simd``), so the layers of a chain of dense kernels
(``hwprune.lower.network_plan.wide_links``) are chosen together: a shortest path over the stream
widths, exact for the fitter's additive cost. Every other stream (into and out of the top, to or from a
stage that is not an engine) carries one element per beat.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from hwprune.lower.kernel_spec import KernelSpec, stream_width_problem

__all__ = ["MAX_STREAM_WIDTH", "Pair", "width_pairs", "chains", "cheapest_chain"]

MAX_STREAM_WIDTH = 16
"""Most elements per beat of a wide stream (16 int8 activations: a 128-bit AXI-Stream beat)."""

Pair = tuple[int, int]
"""(in_simd, out_pe) of one kernel."""

_Option = TypeVar("_Option")


def _powers(limit: int) -> list[int]:
    return [1 << i for i in range(limit.bit_length()) if 1 << i <= limit]


def width_pairs(spec: KernelSpec, wide_in: bool, wide_out: bool, limit: int = MAX_STREAM_WIDTH) -> list[Pair]:
    """Every (in_simd, out_pe) the engine of ``spec`` (its lanes and MACs as given) can take, powers of two
    up to ``limit``; a side that is not wide (``wide_in``/``wide_out`` False) stays at one element."""
    ins = [w for w in (_powers(limit) if wide_in else [1]) if stream_width_problem(spec, w, 1) is None]
    outs = [w for w in (_powers(limit) if wide_out else [1]) if spec.lanes % w == 0]
    return [(i, o) for i in ins for o in outs]


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


def cheapest_chain(options: Sequence[dict[Pair, _Option | None]], cost: Callable[[_Option], tuple]) -> list[_Option] | None:
    """One option per kernel of a chain, each kernel's ``in_simd`` equal to the previous one's ``out_pe``
    and both ends of the chain at width 1, of least summed ``cost`` (a shortest path over the widths);
    None when no such choice exists. ``options[k][pair]`` is kernel ``k``'s best option at that pair."""
    best: dict[int, tuple[tuple, list[_Option]]] = {1: ((), [])}
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
    return best[1][1] if 1 in best else None

"""Stream widths for the fitter: which widths a kernel's two streams may take, and the cheapest
choice over the streams of a whole network.

Why a choice over classes of streams, not per layer: a wide stream has two ends, and both must agree on
its width, and a stage that is not a kernel (a fork, an add, an activation, a global average) passes its
input's width to its outputs, so every stream it touches has one width (a *class*,
``StreamClasses``: built from the network plan by ``hwprune.lower.network_plan.stream_classes``). A
kernel reads one class and writes another. Where the classes and kernels form a path (a chain of
layers: each class written by one kernel or the ``s_axis`` port and read by one kernel or ``m_axis``),
the widths are a shortest path, exact for the fitter's additive cost (``cheapest_path``); where they
branch and merge (a residual block's fork and add), each class takes the narrowest width its stages
and kernels can meet the interval at, widened only where a kernel has no option there
(``widest_needed``). A port's class takes at most the values whose byte lanes fit the board's DMA
width (``port_width``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from hwprune.lower.kernel_spec import KernelSpec, stream_width_problem

__all__ = ["MAX_STREAM_WIDTH", "Pair", "Widths", "width_options", "width_pairs", "chains", "cheapest_chain",
           "cheapest_path", "widest_needed", "port_width", "powers_of_two", "Chain", "StreamClasses", "classes_from_links"]

MAX_STREAM_WIDTH = 16
"""Most elements per beat of a wide stream (16 int8 activations: a 128-bit AXI-Stream beat)."""

Pair = tuple[int, int]
"""The widths of a kernel's (input, output) streams."""

Widths = tuple[int, int, int]
"""(in_simd, out_pe, frame_simd) of one kernel."""

_Option = TypeVar("_Option")


def powers_of_two(limit: int) -> list[int]:
    """1, 2, 4, … up to ``limit``: the widths a stream may take."""
    return [1 << i for i in range(limit.bit_length()) if 1 << i <= limit]


def port_width(dma_width_bits: int, lane_bits: int, limit: int = MAX_STREAM_WIDTH) -> int:
    """Most values per beat of an AXI port of byte lanes of ``lane_bits``: a power of two, at most
    ``limit``, whose beat fits the board's DMA data width (an AXI DMA's stream side is never wider
    than its memory side, PG021)."""
    fits = max(1, dma_width_bits // lane_bits)
    return max(w for w in powers_of_two(limit) if w <= fits)


def width_options(spec: KernelSpec, in_limit: int = 1, out_limit: int = 1, window_beats: bool = True) -> list[Widths]:
    """Every (in_simd, out_pe, frame_simd) the engine of ``spec`` (its lanes and MACs as given) can take:
    stream widths powers of two up to ``in_limit`` / ``out_limit`` (1: that stream carries one element
    per beat). A conv kernel: with a one-element frame, one element, a power-of-two fold of its window
    or one channel's whole window per engine beat (``window_beats``); with a frame of ``m`` channels per
    beat, the ``m`` channels' whole windows; ``out_pe`` whole filters per output beat."""
    outs = [w for w in powers_of_two(out_limit) if spec.lanes % w == 0]
    if spec.conv is None:
        ins = [w for w in powers_of_two(in_limit) if stream_width_problem(spec, w, 1) is None]
        return [(i, o, 1) for i in ins for o in outs]
    window = spec.conv.kernel[0] * spec.conv.kernel[1]
    folds = [w for w in powers_of_two(window - 1) if w > 1] + ([window] if window > 1 else [])
    beats = [(1, 1)] + [(w, 1) for w in folds if window_beats and stream_width_problem(spec, w, 1) is None]
    outs = [o for o in outs if stream_width_problem(spec, beats[0][0], o) is None]
    if spec.groups > 1 and spec.group_outputs == 1 and spec.conv.in_channels == spec.groups:
        # depthwise: m channels side by side take an m-wide frame and give m outputs per beat
        sides = [(m * window, m, m) for m in powers_of_two(min(in_limit, out_limit)) if m > 1
                 and stream_width_problem(spec, m * window, m, m) is None]
        return [(i, o, 1) for i, _ in beats for o in outs] + sides
    beats += [(m * window, m) for m in powers_of_two(in_limit) if m > 1
              and stream_width_problem(spec, m * window, 1, m) is None]
    return [(i, o, m) for i, m in beats for o in outs]


def width_pairs(spec: KernelSpec, in_limit: int = 1, out_limit: int = 1) -> list[Pair]:
    """``width_options`` of a dense kernel as (in_simd, out_pe) pairs."""
    return [(i, o) for i, o, _ in width_options(spec, in_limit, out_limit)]


@dataclass(frozen=True)
class StreamClasses:
    """The streams of a network top in classes of one width. ``kernel_in[k]`` / ``kernel_out[k]``: the
    class kernel ``k`` reads / writes; ``widths[c]``: the widths class ``c``'s stages allow (powers of two:
    each divides every channel count and length that must split into whole beats; only 1 through a
    stage that reads in another order, max or windowed average pooling, the reorder); ``elements[c]``: the
    most elements a stage of the class that is not a kernel streams per inference (0: none; at width
    ``w`` it takes ``ceil(elements / w)`` cycles); ``port_in`` / ``port_out``: the classes of the top's
    ``s_axis`` / ``m_axis`` streams (None: no network top), whose values have ``port_bits``."""

    kernel_in: tuple[int, ...]
    kernel_out: tuple[int, ...]
    widths: tuple[tuple[int, ...], ...]
    elements: tuple[int, ...]
    port_in: int | None = None
    port_out: int | None = None
    port_bits: tuple[int, int] = (8, 8)

    @property
    def count(self) -> int:
        return len(self.widths)

    def components(self) -> list[tuple[list[int], list[int]]]:
        """(classes, kernels) of every connected part (kernels join the class they read and the one they
        write), in order of their first kernel."""
        parent = list(range(self.count))

        def find(c: int) -> int:
            while parent[c] != c:
                parent[c] = parent[parent[c]]
                c = parent[c]
            return c

        for a, b in zip(self.kernel_in, self.kernel_out):
            parent[find(a)] = find(b)
        parts: dict[int, tuple[list[int], list[int]]] = {}
        for k, a in enumerate(self.kernel_in):
            parts.setdefault(find(a), ([], []))[1].append(k)
        for c in range(self.count):
            if find(c) in parts:
                parts[find(c)][0].append(c)
        return list(parts.values())

    def path(self, classes: list[int], kernels: list[int]) -> list[int] | None:
        """The kernels of a component in order along a path (each class written by at most one kernel
        and read by at most one), or None when the component branches."""
        writer = {self.kernel_out[k]: k for k in kernels}
        reader = {self.kernel_in[k]: k for k in kernels}
        if len(writer) != len(kernels) or len(reader) != len(kernels) or len(classes) != len(kernels) + 1:
            return None
        starts = [c for c in classes if c not in writer]
        if len(starts) != 1:
            return None
        order, c = [], starts[0]
        while c in reader:
            order.append(reader[c])
            c = self.kernel_out[order[-1]]
            if len(order) > len(kernels):
                return None
        return order if len(order) == len(kernels) else None


def classes_from_links(count: int, links: Sequence[tuple[int, int]], ports: tuple[int | None, int | None] = (None, None),
                       limit: int = MAX_STREAM_WIDTH) -> StreamClasses:
    """Classes for kernels joined by ``links`` (kernel ``i``'s output is kernel ``j``'s input) and
    ``ports`` (the kernels behind ``s_axis`` / before ``m_axis``): a linked or port stream may take any
    width up to ``limit``, every other stream one element per beat."""
    kernel_in, kernel_out = list(range(count)), list(range(count, 2 * count))
    for i, j in links:
        kernel_in[j] = kernel_out[i]
    used = sorted(set(kernel_in) | set(kernel_out))
    index = {c: n for n, c in enumerate(used)}
    first, last = ports
    open_classes = {kernel_out[i] for i, _ in links}
    port_in = index[kernel_in[first]] if first is not None else None
    port_out = index[kernel_out[last]] if last is not None else None
    wide = {index[c] for c in open_classes} | {c for c in (port_in, port_out) if c is not None}
    widths = tuple(tuple(powers_of_two(limit)) if n in wide else (1,) for n in range(len(used)))
    return StreamClasses(tuple(index[c] for c in kernel_in), tuple(index[c] for c in kernel_out), widths,
                         (0,) * len(used), port_in, port_out)


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


def cheapest_path(options: Sequence[dict[Pair, _Option | None]], allowed: Sequence[Sequence[int]],
                  cost: Callable[[_Option], tuple]) -> list[_Option] | None:
    """One option per kernel of a path, kernel ``k`` reading class ``k`` and writing class ``k + 1`` of
    ``allowed`` (each class's widths), of least summed ``cost`` (a shortest path over the widths); None
    when no choice exists. ``options[k][pair]`` is kernel ``k``'s best option at that pair."""
    best: dict[int, tuple[tuple, list[_Option]]] = {w: ((), []) for w in allowed[0]}
    for k, choices in enumerate(options):
        reached: dict[int, tuple[tuple, list[_Option]]] = {}
        for (w_in, w_out), option in sorted(choices.items()):
            if option is None or w_in not in best or w_out not in allowed[k + 1]:
                continue
            spent, picked = best[w_in]
            total = tuple(a + b for a, b in zip(spent, cost(option))) if spent else cost(option)
            if w_out not in reached or total < reached[w_out][0]:
                reached[w_out] = (total, picked + [option])
        best = reached
    return min(best.values(), key=lambda entry: entry[0])[1] if best else None


def cheapest_chain(options: Sequence[dict[Pair, _Option | None]], cost: Callable[[_Option], tuple],
                   open_start: bool = False, open_end: bool = False) -> list[_Option] | None:
    """``cheapest_path`` with both ends of the chain at width 1 (an open end, an AXI port: any width)."""
    if not options:
        return []
    every = sorted({w for choices in options for pair in choices for w in pair})
    allowed = [every] * (len(options) + 1)
    allowed[0] = every if open_start else [1]
    allowed[-1] = every if open_end else [1]
    return cheapest_path(options, allowed, cost)


def widest_needed(kernels: Sequence[int], reads: Sequence[int], writes: Sequence[int],
                  options: Sequence[dict[Pair, _Option | None]], allowed: dict[int, Sequence[int]],
                  cost: Callable[[_Option], tuple]) -> list[_Option] | None:
    """Widths for a component that branches: every class starts at its narrowest allowed width; a kernel
    with no option at its two classes' widths widens them to its cheapest option at or above them (the
    widths only grow, so this ends); then each kernel takes its cheapest option at the widths. Not
    exact like ``cheapest_path`` (a class shared by several kernels couples them), but narrow streams
    are the cheap ones. ``options[n]`` belong to ``kernels[n]``, which reads ``reads[n]`` and writes
    ``writes[n]``; None when some kernel has no option."""
    width = {c: min(ws) for c, ws in allowed.items() if ws}
    if len(width) != len(allowed):
        return None
    changed = True
    while changed:
        changed = False
        for n in range(len(kernels)):
            a, b = reads[n], writes[n]
            if options[n].get((width[a], width[b])) is not None:
                continue
            fits = [(cost(option), pair) for pair, option in options[n].items() if option is not None
                    and pair[0] >= width[a] and pair[1] >= width[b] and pair[0] in allowed[a]
                    and pair[1] in allowed[b] and (a != b or pair[0] == pair[1])]
            if not fits:
                return None
            _, (w_in, w_out) = min(fits)
            width[a], width[b] = w_in, w_out
            changed = True
    return [options[n][(width[reads[n]], width[writes[n]])] for n in range(len(kernels))]  # type: ignore[misc]

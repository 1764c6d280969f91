"""Board fitting: choose lanes and MACs per lane for every kernel so the layers' initiation intervals
are balanced and the whole design fits the board with a margin.

Why this way: the layers of a compiled network run as a dataflow pipeline, so its throughput is set
by the slowest layer; DSPs given to a layer that is already faster than the slowest one are wasted.
So the fitter looks for the smallest network interval ``T`` such that, when every layer takes its
*cheapest* configuration whose interval is at most ``T``, the sum of the analytic resources
(``hwprune.lower.resource_model``) stays within ``max_util`` of the board's DSP, BRAM18, LUT and FF.
Trying the candidate intervals in increasing order makes the answer exact for that rule without
assuming that cost falls monotonically with ``T``.

With a *target* interval (``target_interval``: the user's throughput goal in cycles per inference)
the rule turns around: every layer takes its cheapest configuration that reaches the target, the
design that meets the goal at the least cost rather than the fastest one the board holds. The
fastest rule spends freely near the end (halving a layer's interval by a few cycles can cost it four
times the DSPs, see ``docs/benchmarks.md``); a target stops that where the user says it is enough.

A layer's interval is its cycle model's steady-state interval per input vector times the vectors of
one inference (output pixels for a conv): the compute cycles ``passes · rounds · kept`` when compute
is the bottleneck, or the ``K`` input beats (one activation per cycle) when it is not — lanes
beyond that point only cost resources. ``macs_per_lane`` always divides the layout's groups (the
engine's MAC unit ``u`` reads groups ``u, u+P, …``), and the packed weights are never touched.

A model that fits nowhere gets a ``FitError`` naming each resource over budget (needed, available) and
what would fit (``hwprune.lower.fit_advice``, docs/boards.md): a larger margin, the smallest bundled board on which the
same search succeeds, and the least balanced_stochastic sparsity at which it fits this board.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from typing import Sequence


from hwprune.boards import Board
from hwprune.errors import HwpruneError
from hwprune.lower.network_types import axis_width
from hwprune.lower.fit_advice import advice
from hwprune.lower.candidates import (Candidate, candidates, inference_vectors, lane_options, layer_interval,
                                     pe_utilisation, relayout)
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.resource_model import RESOURCE_KEYS, Estimate, budget
from hwprune.lower.stream_widths import (MAX_STREAM_WIDTH, Pair, StreamClasses, chains, cheapest_path,
                                        classes_from_links, port_width, widest_needed)

__all__ = ["FitError", "Candidate", "fit_kernels", "layer_interval", "inference_vectors", "pe_utilisation", "candidates", "lane_options",
           "DEFAULT_MAX_UTIL"]

DEFAULT_MAX_UTIL = 0.8
"""Share of each board resource the design may use: room for the DMA, interconnect and routing."""


class FitError(HwpruneError):
    """The model cannot fit the board under the requested margin (or at the requested lanes)."""


class _Layer:
    """A layer's candidates sorted by interval, with the cheapest one up to each position."""

    def __init__(self, options: list[Candidate], cost: "_Cost") -> None:
        self.options = sorted(options,
                              key=lambda c: (c.interval, cost(c.resources), c.lanes, c.macs_per_lane))
        self.intervals = [c.interval for c in self.options]
        self.best: list[Candidate] = []
        for option in self.options:
            if not self.best or cost(option.resources) < cost(self.best[-1].resources):
                self.best.append(option)
            else:
                self.best.append(self.best[-1])

    def cheapest_within(self, interval: int) -> Candidate | None:
        index = bisect.bisect_right(self.intervals, interval) - 1
        return self.best[index] if index >= 0 else None


class _Cost:
    """Scalar cost of an estimate: its share of the board summed over the limited resources (DSPs,
    then LUTs, for a board without ceilings), with the DSP and LUT counts as tie-breakers."""

    def __init__(self, limits: dict[str, float], emphasis: dict[str, float] | None = None) -> None:
        self.limits = limits
        self.weights = {key: (emphasis or {}).get(key, 1.0) for key in limits}

    def __call__(self, estimate: Estimate) -> tuple[float, int, int]:
        usage = estimate.usage()
        if self.limits:
            share = sum(self.weights[key] * usage[key] / limit for key, limit in self.limits.items())
        else:
            share = float(usage["dsp"])
        return (round(share, 12), usage["dsp"], usage["lut"])


def _total(chosen: Sequence[Candidate]) -> Estimate:
    total = Estimate()
    for c in chosen:
        total = total + c.resources
    return total


def _over(total: Estimate, limits: dict[str, float]) -> list[str]:
    usage = total.usage()
    return [key for key in RESOURCE_KEYS if key in limits and usage[key] > limits[key]]


def _describe(total: Estimate, limits: dict[str, float]) -> str:
    usage = total.usage()
    return ", ".join(f"{key.upper()} {usage[key]}" + (f"/{int(limits[key])}" if key in limits else "")
                     for key in RESOURCE_KEYS)


_Wide = list[dict[Pair, _Layer]]
"""Per kernel, its candidates grouped by (in_simd, out_pe), each group a ``_Layer``."""


def _wide(options: Sequence[Candidate], cost: "_Cost") -> dict[Pair, _Layer]:
    pairs = sorted({c.widths for c in options})
    return {pair: _Layer([c for c in options if c.widths == pair], cost) for pair in pairs}


def _choose(wide: _Wide, streams: StreamClasses, target: int, cost: "_Cost") -> list[Candidate] | None:
    """Every kernel's option within ``target`` cycles whose stream widths agree along each class, the
    cheapest along a path of classes (``cheapest_path``) or the narrowest a branching part allows
    (``widest_needed``); None if some part has none. A class's stages that are not kernels take
    ``ceil(elements / width)`` cycles, so only widths that meet ``target`` are allowed."""
    allowed = [[w for w in widths if -(-elements // w) <= target]
               for widths, elements in zip(streams.widths, streams.elements)]
    chosen: list[Candidate | None] = [None] * len(wide)
    for classes, kernels in streams.components():
        within = [{pair: layer.cheapest_within(target) for pair, layer in wide[k].items()} for k in kernels]
        order = streams.path(classes, kernels)
        if order is not None:
            by_kernel = dict(zip(kernels, within))
            lanes = [streams.kernel_in[order[0]]] + [streams.kernel_out[k] for k in order]
            picked = cheapest_path([by_kernel[k] for k in order], [allowed[c] for c in lanes],
                                   lambda c: cost(c.resources))
            kernels = order
        else:
            picked = widest_needed(kernels, [streams.kernel_in[k] for k in kernels],
                                   [streams.kernel_out[k] for k in kernels], within,
                                   {c: allowed[c] for c in classes}, lambda c: cost(c.resources))
        if picked is None:
            return None
        for k, option in zip(kernels, picked):
            chosen[k] = option
    return chosen  # type: ignore[return-value]


def _search(wide: _Wide, limits: dict[str, float], streams: StreamClasses | None = None) -> list[Candidate] | None:
    """The cheapest choice (per layer, or with widths agreeing along ``streams``) at the smallest interval
    that fits, or None."""
    streams = streams if streams is not None else classes_from_links(len(wide), [])
    cost = _Cost(limits)
    floor = max(min(layer.intervals[0] for layer in w.values()) for w in wide)
    floor = max([floor] + [-(-e // max(ws)) for ws, e in zip(streams.widths, streams.elements)])
    targets = sorted({i for w in wide for layer in w.values() for i in layer.intervals if i >= floor})
    for target in targets:
        chosen = _choose(wide, streams, target, cost)
        if chosen is not None and not _over(_total(chosen), limits):
            return chosen
    return None


def fit_kernels(kernels: Sequence[KernelSpec], board: Board, max_util: float = DEFAULT_MAX_UTIL,
                *, lanes: int | None = None, target_interval: int | None = None,
                fixed: Estimate | None = None, links: Sequence[tuple[int, int]] = (),
                ports: tuple[int | None, int | None] = (None, None),
                stream_width: int = MAX_STREAM_WIDTH, streams: StreamClasses | None = None) -> list[KernelSpec]:
    """Copies of ``kernels`` with lanes/MACs chosen for ``board``; ``FitError`` if nothing fits.

    ``max_util`` in (0, 1] is the share of each board resource the design may use. ``lanes``, when
    given, pins every layer to ``min(lanes, out_features)`` lanes (only MACs per lane are chosen).
    ``target_interval``, when given, asks for the cheapest design whose every layer's interval is at
    most that many cycles, instead of the fastest design that fits. ``fixed`` is what the design needs
    whatever the lanes (the network top's FIFOs and stream stages): it counts against the budget.
    ``links`` (``hwprune.lower.network_plan.wide_links``) are the kernel pairs whose stream may be wide:
    their ``in_simd`` / ``out_pe`` (powers of two up to ``stream_width``) are chosen too, together along
    each chain of links. ``ports`` (``hwprune.lower.network_plan.port_kernels``) are the kernels right
    behind the top's input port and before its output port: that side may be wide too, up to
    ``stream_width`` values whose byte lanes fit the board's DMA width (``port_width``). ``streams``
    (``hwprune.lower.network_plan.stream_classes``), when given, replaces ``links`` and ``ports``: every
    stream of the network top in classes of one width, through the stages that are not kernels too.
    """
    if not isinstance(max_util, (int, float)) or isinstance(max_util, bool) or not 0 < max_util <= 1:
        raise FitError(f"max_util must be a number in (0, 1], not {max_util!r}")
    if lanes is not None and (not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1):
        raise FitError(f"lanes must be a positive integer, not {lanes!r}")
    if target_interval is not None and (not isinstance(target_interval, int) or isinstance(target_interval, bool)
                                        or target_interval < 1):
        raise FitError(f"target_interval must be a positive integer (cycles), not {target_interval!r}")
    if not kernels:
        return []
    family = board.yosys_family
    limits = _left_after(budget(board, max_util), fixed or Estimate(), board, max_util)
    cost = _Cost(limits)
    if streams is None:
        chains(len(kernels), links)  # refuses a kernel with two links
        streams = classes_from_links(len(kernels), links, ports)
    streams = _capped(streams, board, stream_width)

    def limit(c: int) -> int:
        return max(streams.widths[c])

    options = [candidates(spec, family, lanes, limit(streams.kernel_in[k]), limit(streams.kernel_out[k]),
                          window_beats=stream_width > 1) for k, spec in enumerate(kernels)]
    wide = [_wide(layer, cost) for layer in options]
    layers = [w[(1, 1)] for w in wide]  # one element per beat: what the error messages cost
    if target_interval is not None:
        chosen = _at_target(kernels, wide, streams, limits, target_interval, board, max_util, fixed or Estimate())
    else:
        chosen = _search(wide, limits, streams)
        if chosen is not None:
            chosen = _rebalanced(options, chosen, limits, streams)
    if chosen is None:
        raise _fit_error(kernels, board, max_util, limits, layers, lanes, fixed or Estimate())
    return [replace(relayout(spec, c.group_size), lanes=c.lanes, macs_per_lane=c.macs_per_lane, in_simd=c.in_simd,
                    out_pe=c.out_pe, frame_simd=c.frame_simd) for spec, c in zip(kernels, chosen)]


EMPHASIS = 8.0
"""How much more a resource weighs in ``_rebalanced``'s costs than the others."""


def _rebalanced(options: Sequence[Sequence[Candidate]], chosen: list[Candidate], limits: dict[str, float],
                streams: StreamClasses) -> list[Candidate]:
    """A faster design than ``chosen`` where one exists with a cost that weighs one resource more. Why:
    each layer takes its cheapest option by the *sum* of its shares of the board, so at a short interval
    every layer may lean on the same resource (DSPs, say) while another (LUTs) has room; weighing the
    first more lets the layers trade. Tried once per limited resource, keeping the fastest that fits."""
    best, interval = chosen, max(c.interval for c in chosen)
    for key in limits:
        cost = _Cost(limits, {key: EMPHASIS})
        wide = [_wide(layer, cost) for layer in options]
        targets = sorted({c.interval for layer in options for c in layer if c.interval < interval})
        for target in targets:
            trial = _choose(wide, streams, target, cost)
            if trial is not None and not _over(_total(trial), limits):
                best, interval = trial, max(c.interval for c in trial)
                break
    return best


def _capped(streams: StreamClasses, board: Board, stream_width: int) -> StreamClasses:
    """``streams`` with every class's widths at most ``stream_width`` and the ports' at most what the
    board's DMA width carries (``port_width``)."""
    caps = [stream_width] * streams.count
    for port, bits in zip((streams.port_in, streams.port_out), streams.port_bits):
        if port is not None:
            caps[port] = min(caps[port], port_width(board.dma_width_bits, axis_width(bits), stream_width))
    widths = tuple(tuple(w for w in ws if w <= cap) or (1,) for ws, cap in zip(streams.widths, caps))
    return replace(streams, widths=widths)


def _left_after(limits: dict[str, float], fixed: Estimate, board: Board, max_util: float) -> dict[str, float]:
    """The budget the kernels may use once ``fixed`` is paid; ``FitError`` if it alone breaks a limit."""
    usage = fixed.usage()
    over = [key for key, limit in limits.items() if usage[key] > limit]
    if over:
        raise FitError(f"the network top alone (FIFOs, stream stages) needs {_describe(fixed, limits)} on board "
                       f"{board.name!r} at max_util {max_util:g}, over on {', '.join(k.upper() for k in over)}")
    return {key: limit - usage[key] for key, limit in limits.items()}


def _at_target(kernels: Sequence[KernelSpec], wide: _Wide, streams: StreamClasses, limits: dict[str, float],
               target: int, board: Board, max_util: float, fixed: Estimate) -> list[Candidate]:
    """Every layer's cheapest configuration within ``target`` cycles (along each chain of wide links);
    ``FitError`` naming the layer that cannot get there, or the budget that the goal breaks and the
    fastest interval that fits."""
    fastest_of = [min(layer.intervals[0] for layer in w.values()) for w in wide]
    for spec, fastest_here in zip(kernels, fastest_of):
        if fastest_here > target:
            raise FitError(f"layer {spec.name!r} cannot reach an interval of {target} cycles: its fastest "
                           f"configuration takes {fastest_here} (the network's floor is {max(fastest_of)})")
    chosen = _choose(wide, streams, target, _Cost(limits))
    if chosen is None:
        raise FitError(f"no stream widths let every layer reach an interval of {target} cycles (the widths of "
                       f"a wide stream's two ends must agree; the network's floor is {max(fastest_of)})")
    over = _over(_total(chosen), limits)
    if over:
        fastest = _search(wide, limits, streams)
        reachable = (f"the fastest design that fits has an interval of "
                     f"{max(c.interval for c in fastest)} cycles" if fastest else "nothing fits at any interval")
        raise FitError(f"an interval of {target} cycles does not fit board {board.name!r} at max_util "
                       f"{max_util:g}: it needs {_describe(_total(chosen) + fixed, _with(limits, fixed))}, over on "
                       f"{', '.join(k.upper() for k in over)}; {reachable}")
    return chosen


def _with(limits: dict[str, float], fixed: Estimate) -> dict[str, float]:
    """The whole budget again from what is left for the kernels."""
    return {key: value + fixed.usage()[key] for key, value in limits.items()}


def _smallest(layers: list[_Layer], limits: dict[str, float]) -> Estimate:
    """Total of every layer's cheapest configuration: what the design needs at the very least."""
    cost = _Cost(limits)
    return _total([min(layer.options, key=lambda c: cost(c.resources)) for layer in layers])


def _fits(kernels: Sequence[KernelSpec], board: Board, max_util: float, fixed: Estimate,
          memo: dict[str, list[list[Candidate]]]) -> bool:
    """Whether the fitter's own search finds a design for ``board`` (analytic model, no synthesis);
    ``memo`` holds the candidates per Yosys family, which boards of one family share."""
    limits = budget(board, max_util)
    if not limits:
        return True
    if any(fixed.usage()[key] > limit for key, limit in limits.items()):
        return False
    left = {key: limit - fixed.usage()[key] for key, limit in limits.items()}
    if board.yosys_family not in memo:
        memo[board.yosys_family] = [candidates(spec, board.yosys_family) for spec in kernels]
    options = memo[board.yosys_family]
    floor = {key: sum(min(c.resources.usage()[key] for c in layer) for layer in options) for key in left}
    if any(floor[key] > left[key] for key in left):
        return False  # some resource is over even with every layer at its own minimum of it
    return _search([_wide(layer, _Cost(left)) for layer in options], left) is not None


def fit_advice(kernels: Sequence[KernelSpec], board: Board, max_util: float, fixed: Estimate) -> str:
    """What would make the model fit (``hwprune.lower.fit_advice``, with this module's search)."""
    return advice(kernels, board, max_util, fixed, _fits)


def _fit_error(kernels: Sequence[KernelSpec], board: Board, max_util: float, limits: dict[str, float],
               layers: list[_Layer], lanes: int | None, fixed: Estimate) -> FitError:
    """Say what was asked, what the smallest design needs against the budget, and what would fit.
    ``limits`` is what the kernels may use; the figures printed include ``fixed`` (the top's glue)."""
    full = _with(limits, fixed)
    smallest = _smallest(layers, limits) + fixed
    budget_text = ", ".join(f"{key.upper()} {int(value)}" for key, value in full.items())
    where = f"board {board.name!r} at max_util {max_util:g} (budget {budget_text})"
    glue = ""
    if any(fixed.usage().values()):
        glue = f" (of which the network top's FIFOs and stream stages: {_describe(fixed, {})})"
    if lanes is not None:
        family = board.yosys_family
        def fits_at(n: int) -> bool:
            pinned = [_Layer(candidates(s, family, n), _Cost(limits)) for s in kernels]
            return not _over(_smallest(pinned, limits), limits)

        fitting = next((n for n in range(lanes - 1, 0, -1) if fits_at(n)), None)
        hint = f"at most {fitting} lanes fit" if fitting else "not even 1 lane per layer fits"
        return FitError(f"the model does not fit {where} at {lanes} lanes: its smallest configuration at "
                        f"that lane count needs {_describe(smallest, full)}{glue}; {hint}")
    over = _over(smallest, full)
    needed = max(smallest.usage()[key] / (full[key] / max_util) for key in over)
    suggestion = (f"it would fit with max_util {math.ceil(needed * 100) / 100:g}" if needed <= 1
                  else "no margin makes it fit this board")
    over_text = ", ".join(f"{k.upper()} (needs {smallest.usage()[k]}, available {int(full[k])})" for k in over)
    return FitError(f"the model does not fit {where}: its smallest configuration (fewest lanes and MACs "
                    f"per layer) needs {_describe(smallest, full)}{glue}, over on {over_text}; {suggestion}; "
                    f"{fit_advice(kernels, board, max_util, fixed)}")

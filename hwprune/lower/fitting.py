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
from dataclasses import dataclass, replace
from typing import Sequence


from hwprune.boards import Board
from hwprune.errors import HwpruneError
from hwprune.ir.types import IntType
from hwprune.lower.network_types import axis_width
from hwprune.lower.fit_advice import advice
from hwprune.lower.cycles import EngineTiming, steady_state_interval
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.resource_model import RESOURCE_KEYS, Estimate, budget, kernel_resources
from hwprune.lower.stream_widths import (MAX_STREAM_WIDTH, Chain, Pair, chains, cheapest_chain, port_width,
                                        width_pairs)

__all__ = ["FitError", "Candidate", "fit_kernels", "layer_interval", "inference_vectors", "pe_utilisation", "candidates", "lane_options",
           "DEFAULT_MAX_UTIL"]

DEFAULT_MAX_UTIL = 0.8
"""Share of each board resource the design may use: room for the DMA, interconnect and routing."""


class FitError(HwpruneError):
    """The model cannot fit the board under the requested margin (or at the requested lanes)."""


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
    per_vector = _vector_interval(spec.in_beats, spec.group_outputs, spec.lanes, spec.cycles_per_pass, spec.out_pe)
    interval = inference_vectors(spec) * spec.groups * per_vector
    if spec.conv is not None:  # the frame arrives one element per cycle (rule 5), whatever the window beats
        g = spec.conv
        interval = max(interval, g.in_height * g.in_width * g.in_channels)
    return interval


def pe_utilisation(specs: Sequence[KernelSpec], interval: float) -> float:
    """Useful MACs of one inference over what the layers' multipliers could do in ``interval`` cycles:
    1.0 means every multiplier works on a kept weight on every cycle."""
    useful = sum(spec.useful_macs * inference_vectors(spec) for spec in specs)
    return useful / (sum(spec.lanes * spec.macs_per_lane for spec in specs) * interval)


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
    """Elements per beat of the input stream (``in_simd``, but 1 for a conv, whose window beat is inside)."""

    @property
    def widths(self) -> Pair:
        """The widths of the kernel's two streams (what a chain of wide links must agree on)."""
        return (self.port_in, self.out_pe)


def candidates(spec: KernelSpec, family: str, lanes: int | None = None, in_limit: int = 1,
               out_limit: int = 1) -> list[Candidate]:
    """Every (lanes, macs_per_lane) worth considering for ``spec``; ``lanes`` pins the lane count. With
    ``in_limit`` / ``out_limit`` above 1 (a wide stream on that side, ``hwprune.lower.stream_widths``)
    also every ``in_simd`` / ``out_pe`` up to them that the engine can take at each of them."""
    lane_set = [min(lanes, spec.group_outputs)] if lanes is not None else lane_options(spec.group_outputs)
    out = []
    for lane_count in lane_set:
        for macs in _divisors(spec.layout.groups):
            trial = replace(spec, lanes=lane_count, macs_per_lane=macs, in_simd=1, out_pe=1)
            for w_in, w_out in width_pairs(trial, in_limit, out_limit):
                wide = trial if (w_in, w_out) == (1, 1) else replace(trial, in_simd=w_in, out_pe=w_out)
                out.append(Candidate(trial.lanes, macs, layer_interval(wide), kernel_resources(wide, family),
                                     w_in, w_out, wide.in_port_width))
    return out


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

    def __init__(self, limits: dict[str, float]) -> None:
        self.limits = limits

    def __call__(self, estimate: Estimate) -> tuple[float, int, int]:
        usage = estimate.usage()
        if self.limits:
            share = sum(usage[key] / limit for key, limit in self.limits.items())
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


def _choose(wide: _Wide, paths: list[Chain], target: int, cost: "_Cost") -> list[Candidate] | None:
    """Every kernel's option within ``target`` cycles, the cheapest along each chain of wide links whose
    stream widths agree (``cheapest_chain``); None if some chain has none."""
    chosen: list[Candidate | None] = [None] * len(wide)
    for path, open_start, open_end in paths:
        picked = cheapest_chain([{pair: layer.cheapest_within(target) for pair, layer in wide[k].items()}
                                 for k in path], lambda c: cost(c.resources), open_start, open_end)
        if picked is None:
            return None
        for k, option in zip(path, picked):
            chosen[k] = option
    return chosen  # type: ignore[return-value]


def _search(wide: _Wide, limits: dict[str, float], paths: list[Chain] | None = None) -> list[Candidate] | None:
    """The cheapest choice (per layer, or along each chain of ``paths``) at the smallest interval that
    fits, or None."""
    paths = paths if paths is not None else [([k], False, False) for k in range(len(wide))]
    cost = _Cost(limits)
    floor = max(min(layer.intervals[0] for layer in w.values()) for w in wide)
    targets = sorted({i for w in wide for layer in w.values() for i in layer.intervals if i >= floor})
    for target in targets:
        chosen = _choose(wide, paths, target, cost)
        if chosen is not None and not _over(_total(chosen), limits):
            return chosen
    return None


def fit_kernels(kernels: Sequence[KernelSpec], board: Board, max_util: float = DEFAULT_MAX_UTIL,
                *, lanes: int | None = None, target_interval: int | None = None,
                fixed: Estimate | None = None, links: Sequence[tuple[int, int]] = (),
                ports: tuple[int | None, int | None] = (None, None),
                stream_width: int = MAX_STREAM_WIDTH) -> list[KernelSpec]:
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
    ``stream_width`` values whose byte lanes fit the board's DMA width (``port_width``).
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
    first, last = ports
    paths = [(path, path[0] == first, path[-1] == last) for path in chains(len(kernels), links)]
    wide_in, wide_out = {j for _, j in links}, {i for i, _ in links}

    def limit(k: int, wide: bool, port: int | None, t: IntType) -> int:
        if k == port:
            return port_width(board.dma_width_bits, axis_width(t.bits), stream_width)
        return stream_width if wide or kernels[k].conv is not None else 1  # a conv's window beat: inside it

    wide = [_wide(candidates(spec, family, lanes, limit(k, k in wide_in, first, spec.in_type),
                             limit(k, k in wide_out, last, spec.out_type)), cost)
            for k, spec in enumerate(kernels)]
    layers = [w[(1, 1)] for w in wide]  # one element per beat: what the error messages cost
    if target_interval is not None:
        chosen = _at_target(kernels, wide, paths, limits, target_interval, board, max_util, fixed or Estimate())
    else:
        chosen = _search(wide, limits, paths)
    if chosen is None:
        raise _fit_error(kernels, board, max_util, limits, layers, lanes, fixed or Estimate())
    return [replace(spec, lanes=c.lanes, macs_per_lane=c.macs_per_lane, in_simd=c.in_simd, out_pe=c.out_pe)
            for spec, c in zip(kernels, chosen)]


def _left_after(limits: dict[str, float], fixed: Estimate, board: Board, max_util: float) -> dict[str, float]:
    """The budget the kernels may use once ``fixed`` is paid; ``FitError`` if it alone breaks a limit."""
    usage = fixed.usage()
    over = [key for key, limit in limits.items() if usage[key] > limit]
    if over:
        raise FitError(f"the network top alone (FIFOs, stream stages) needs {_describe(fixed, limits)} on board "
                       f"{board.name!r} at max_util {max_util:g}, over on {', '.join(k.upper() for k in over)}")
    return {key: limit - usage[key] for key, limit in limits.items()}


def _at_target(kernels: Sequence[KernelSpec], wide: _Wide, paths: list[Chain], limits: dict[str, float],
               target: int, board: Board, max_util: float, fixed: Estimate) -> list[Candidate]:
    """Every layer's cheapest configuration within ``target`` cycles (along each chain of wide links);
    ``FitError`` naming the layer that cannot get there, or the budget that the goal breaks and the
    fastest interval that fits."""
    fastest_of = [min(layer.intervals[0] for layer in w.values()) for w in wide]
    for spec, fastest_here in zip(kernels, fastest_of):
        if fastest_here > target:
            raise FitError(f"layer {spec.name!r} cannot reach an interval of {target} cycles: its fastest "
                           f"configuration takes {fastest_here} (the network's floor is {max(fastest_of)})")
    chosen = _choose(wide, paths, target, _Cost(limits))
    if chosen is None:
        raise FitError(f"no stream widths let every layer reach an interval of {target} cycles (the widths of "
                       f"a wide stream's two ends must agree; the network's floor is {max(fastest_of)})")
    over = _over(_total(chosen), limits)
    if over:
        fastest = _search(wide, limits, paths)
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

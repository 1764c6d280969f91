"""One unit of sweep work, as a pure function of a picklable ``Job`` (so a process pool and Ray run
the very same code): prune the model once, then for each weight width quantize, lower, and for each
lane count fit to the board and measure cycles (cycle model) and resources (analytic model).

Why one job per (pattern, sparsity): pruning and accuracy do not depend on the lane count, and
quantization not on it either, so sharing them keeps a sweep of dozens of points to seconds.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hwprune.errors import HwpruneError
from hwprune.explore.config import PatternChoice

__all__ = ["Job", "evaluate_job", "synthesize_point", "latency_cycles", "resource_cost", "weight_sparsity"]

ROUND = 6
"""Decimal places of every float in explore.json (stable text across platforms)."""


@dataclass(frozen=True)
class Job:
    """One pruned model of the sweep and the (weight bits × lanes) points evaluated on it."""

    first_index: int
    model: str
    calibration: str
    eval_data: str | None
    board: str
    pattern: PatternChoice
    sparsity: float
    weight_bits: tuple[int, ...]
    lanes: tuple[int, ...]
    act_bits: int
    max_util: float
    seed: int

    def points(self) -> list[tuple[int, int, int]]:
        """(index, weight bits, lanes) of every point, in sweep order."""
        pairs = [(bits, lanes) for bits in self.weight_bits for lanes in self.lanes]
        return [(self.first_index + i, bits, lanes) for i, (bits, lanes) in enumerate(pairs)]


def _pruned_graph(job: Job, scratch: Path) -> Any:
    """The float graph of the model pruned with the job's pattern (the model itself for ``dense``)."""
    from hwprune.frontend import import_model
    from hwprune.prune.command import PruneOptions, prune_model
    from hwprune.prune.detect import annotate_patterns

    path = Path(job.model)
    if job.pattern.name != "dense":
        path = scratch / "pruned.onnx"
        prune_model(job.model, path, PruneOptions(pattern=job.pattern.name, sparsity=job.sparsity,
                                                  params=job.pattern.kwargs(), seed=job.seed))
    graph = import_model(str(path))
    annotate_patterns(graph)
    return graph


def weight_sparsity(graph: Any) -> float:
    """Fraction of zero weights over every Dense/Conv layer (what the pattern actually achieved)."""
    total = zeros = 0
    for node in graph.nodes:
        if node.op in ("Dense", "Conv"):
            data = np.asarray(graph.tensor(node.inputs[1]).data)
            total += data.size
            zeros += int(data.size - np.count_nonzero(data))
    return zeros / total if total else 0.0


def _in_beats(spec: Any) -> int:
    if spec.conv is not None:
        return spec.conv.in_channels * spec.conv.in_height * spec.conv.in_width
    return int(spec.in_features)


def latency_cycles(kernels: Sequence[Any]) -> int:
    """Cycle of the last output beat of one inference, first input beat at cycle 0: the kernels' cycle
    models chained beat for beat; where the beat counts differ (a pooling or flatten op between two
    kernels) the next kernel starts after the previous one's last beat (ops between kernels: 0 cycles)."""
    from hwprune.lower.kernel_cycles import kernel_model

    last = -1
    arrivals: list[int] | None = None
    for spec in kernels:
        beats = _in_beats(spec)
        if arrivals is None or len(arrivals) != beats:
            arrivals = [last + 1] * beats
        _, outputs, _ = kernel_model(spec).push(arrivals)
        arrivals = [int(c) for c in outputs]
        last = arrivals[-1]
    return last + 1


def network_cycles(qgraph: Any, kernels: Sequence[Any]) -> tuple[int, int] | None:
    """(pacer interval, cycle after the last output beat of one inference) of the network top the
    compile would emit (``hwprune.lower.network_cycles``), or None where the graph is not one
    streamable chain (then the per-kernel figures stand in)."""
    from hwprune.lower.network_cycles import network_schedule, network_timing
    from hwprune.lower.network_plan import NetworkUnsupported, plan_network

    try:
        plan = plan_network(qgraph, kernels, "explore_top")
    except NetworkUnsupported:
        return None
    timing = network_timing(plan)
    schedule = network_schedule(plan, timing, [[0] * plan.in_beats])
    return timing.interval, schedule.outputs[0][-1] + 1


def resource_cost(estimate: Any, board: Any) -> float:
    """One number to minimise: the shares of the board's DSP, BRAM18, LUT and FF the design uses,
    summed (the fitter's own cost, ``hwprune.lower.fitting``), so saving LUTs counts even where DSPs
    bind; on a board without ceilings (the ASIC target) the count of LUTs, FFs and multipliers."""
    from hwprune.lower.resource_model import utilisation

    shares = utilisation(estimate, board)
    if shares:
        return round(sum(shares.values()), ROUND)
    return float(estimate.lut_total + estimate.ff + estimate.dsp)


def _describe(exc: HwpruneError) -> str:
    """The error's one line with the model named by its file name only (explore.json holds no paths)."""
    where = Path(exc.file).name if exc.file else None
    return HwpruneError(exc.reason, file=where, node=exc.node, op=exc.op).message


def _accuracy(job: Job, graph: Any, qgraph: Any) -> dict[str, float]:
    from hwprune.evaluate import evaluate_accuracy, load_eval_data

    assert job.eval_data is not None
    x, y = load_eval_data(job.eval_data)
    return evaluate_accuracy(graph, qgraph, x, y)


def _fit_point(qgraph: Any, kernels: list[Any], board: Any, job: Job, lanes: int) -> dict[str, Any]:
    from hwprune.lower.fitting import FitError, fit_kernels, layer_interval
    from hwprune.lower.network_plan import stream_classes
    from hwprune.lower.network_resources import network_glue
    from hwprune.lower.resource_model import design_resources, utilisation

    glue = network_glue(qgraph, kernels, board.yosys_family)  # FIFOs and stages: as `compile` budgets them
    try:
        fitted = fit_kernels(kernels, board, job.max_util, lanes=lanes or None, fixed=glue,
                             streams=stream_classes(qgraph, kernels))
    except FitError as exc:
        return {"fits": False, "error": exc.reason}
    estimate = design_resources(fitted, board.yosys_family) + glue
    network = network_cycles(qgraph, fitted)
    if network is not None:
        interval, latency, model = *network, "network"
    else:
        interval, latency, model = max(layer_interval(k) for k in fitted), latency_cycles(fitted), "kernels"
    return {
        "fits": True,
        "cycle_model": model,
        "interval_cycles": interval,
        "latency_cycles": latency,
        "inferences_per_s": round(board.pl_clock_mhz * 1e6 / interval, 3),
        "resources": estimate.usage(),
        "utilisation": {k: round(v, ROUND) for k, v in sorted(utilisation(estimate, board).items())},
        "resource_cost": resource_cost(estimate, board),
        "layers": [{"name": k.name, "pattern": k.pattern, "lanes": k.lanes, "macs_per_lane": k.macs_per_lane,
                    "in_simd": k.in_simd, "out_pe": k.out_pe, "interval_cycles": layer_interval(k)} for k in fitted],
    }


def _quantized_kernels(job: Job, graph: Any, bits: int) -> tuple[Any, list[Any]]:
    from hwprune.lower.lowering import lower_graph
    from hwprune.quant import QuantSpec, quantize_graph
    from hwprune.quant.calibrate import load_calibration

    feeds = load_calibration(job.calibration, graph)
    qgraph = quantize_graph(graph, feeds, QuantSpec(weight_bits=bits, act_bits=job.act_bits))
    return qgraph, lower_graph(qgraph)


def evaluate_job(job: Job) -> list[dict[str, Any]]:
    """Every point of ``job`` as a JSON-ready dict (a point that fails says why, in ``error``)."""
    from hwprune.boards import load_board

    board = load_board(job.board)
    base = {"pattern": job.pattern.label, "sparsity": job.sparsity}
    with tempfile.TemporaryDirectory(prefix="hwprune-explore-") as scratch:
        try:
            graph = _pruned_graph(job, Path(scratch))
        except HwpruneError as exc:
            return [{**base, "index": i, "weight_bits": b, "lanes": n, "fits": False, "error": _describe(exc)}
                    for i, b, n in job.points()]
    achieved = round(weight_sparsity(graph), ROUND)
    results: list[dict[str, Any]] = []
    by_bits: dict[int, tuple[Any, list[Any], dict[str, Any]] | str] = {}
    for bits in job.weight_bits:
        try:
            qgraph, kernels = _quantized_kernels(job, graph, bits)
            extra: dict[str, Any] = {}
            if job.eval_data is not None:
                extra["accuracy"] = _accuracy(job, graph, qgraph)
            by_bits[bits] = (qgraph, kernels, extra)
        except HwpruneError as exc:
            by_bits[bits] = _describe(exc)
    for index, bits, lanes in job.points():
        point: dict[str, Any] = {**base, "index": index, "weight_bits": bits, "lanes": lanes,
                                 "achieved_sparsity": achieved}
        entry = by_bits[bits]
        if isinstance(entry, str):
            point.update(fits=False, error=entry)
        else:
            qgraph, kernels, extra = entry
            point.update(extra)
            point.update(_fit_point(qgraph, kernels, board, job, lanes))
        results.append(point)
    return results


def synthesize_point(job: Job, bits: int, lanes: int) -> dict[str, Any]:
    """Yosys totals of one point's fitted design (every kernel's Verilog synthesized for the board's
    family, cached by content hash); re-derives the kernels, so it runs anywhere a job runs."""
    from hwprune.backends.rtl.emit import emit_kernels
    from hwprune.boards import load_board
    from hwprune.estimate.yosys import synthesize
    from hwprune.lower.fitting import fit_kernels
    from hwprune.lower.network_plan import stream_classes

    board = load_board(job.board)
    with tempfile.TemporaryDirectory(prefix="hwprune-explore-") as scratch:
        graph = _pruned_graph(job, Path(scratch))
        qgraph, kernels = _quantized_kernels(job, graph, bits)
        fitted = fit_kernels(kernels, board, job.max_util, lanes=lanes or None,
                             streams=stream_classes(qgraph, kernels))
        rtl = Path(scratch) / "rtl"
        designs = emit_kernels(fitted, rtl, source=Path(job.model).name)
        totals = {key: 0 for key in ("lut", "ff", "dsp", "bram18", "bram36", "carry", "cells")}
        for design in designs:
            resources = synthesize([rtl / name for name in design.verilog], design.top, board.yosys_family)
            for key in totals:
                totals[key] += int(getattr(resources, key))
    return {"family": board.yosys_family, **totals}

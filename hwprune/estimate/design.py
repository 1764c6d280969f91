"""Yosys figures of a whole build: every kernel alone (large ones composed from cut-down kernels), and
the network top's glue (FIFOs, stream stages, pacer) with the kernels as black boxes, so the two add up
to the design without synthesizing any kernel twice; all jobs on one pool of Yosys processes.

Why the glue apart: the kernels' totals are what the analytic model predicts (and what fitting
budgets), so they stay comparable on their own; the glue is what the top adds around them.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hwprune.estimate.compose import (COMPOSE_MIN_LANES, VARIANT_LANES, compose, composable, variant_lanes,
                                      variant_sources)
from hwprune.estimate.yosys import Progress, Resources, SynthJob, lutram_luts, synthesize_all
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["estimate_rtl", "COUNT_KEYS"]

COUNT_KEYS = ("lut", "lutram", "ff", "dsp", "bram18", "bram36", "carry", "cells")
"""Summed fields; ``lut`` is LUTs as logic, ``lutram`` the LUTs used as distributed RAM."""


def _counts(resources: Resources) -> dict[str, Any]:
    return {**resources.to_dict(), "lutram": lutram_luts(resources.by_type)}


def _sum(parts: Sequence[dict[str, Any]], family: str) -> dict[str, Any]:
    by_type: dict[str, int] = {}
    for part in parts:
        for cell, count in part["by_type"].items():
            by_type[cell] = by_type.get(cell, 0) + count
    return {"family": family, **{key: sum(int(p[key]) for p in parts) for key in COUNT_KEYS},
            "by_type": dict(sorted(by_type.items()))}


def _glue_job(rtl: Path, manifest: dict[str, Any]) -> SynthJob | None:
    network = manifest.get("network") or {}
    if not network.get("top"):
        return None
    kernel_files = [name for entry in manifest["kernels"] for name in entry["verilog"]]
    own = [name for name in network["verilog"] if name not in kernel_files]
    return SynthJob.of([rtl / name for name in own], network["top"],
                       [rtl / name for name in dict.fromkeys(kernel_files)])


def _glue_counts(glue: Resources, manifest: dict[str, Any]) -> dict[str, Any]:
    boxes = {entry["top"] for entry in manifest["kernels"]}
    kept = {cell: n for cell, n in glue.by_type.items() if cell not in boxes}
    glue = dataclasses.replace(glue, by_type=kept, cells=glue.cells - (sum(glue.by_type.values()) - sum(kept.values())))
    return {"top": manifest["network"]["top"], **_counts(glue)}


@dataclass
class _Plan:
    """The Yosys jobs of a build and how their results make each layer's figure."""

    jobs: list[SynthJob] = field(default_factory=list)
    layers: list[tuple[str, list[int], int | None, tuple[int, int] | None]] = field(default_factory=list)
    """Per layer: (name, indices of its jobs, lanes and the variants' lanes when composed from two jobs)."""


def _plan(rtl: Path, manifest: dict[str, Any], kernel_names: Sequence[str], kernels: Sequence[KernelSpec] | None,
          full_synthesis: bool, scratch: Path) -> _Plan:
    plan = _Plan()
    specs = list(kernels) if kernels is not None else [None] * len(kernel_names)
    for entry, name, spec in zip(manifest["kernels"], kernel_names, specs):
        if spec is not None and not full_synthesis and composable(spec):
            first = len(plan.jobs)
            pair = variant_lanes(spec)
            for lanes in pair:
                sources, top = variant_sources(spec, lanes, scratch / f"{spec.ident}_{lanes}")
                plan.jobs.append(SynthJob.of(sources, top))
            plan.layers.append((name, [first, first + 1], spec.lanes, pair))
        else:
            plan.jobs.append(SynthJob.of([rtl / f for f in entry["verilog"]], entry["top"]))
            plan.layers.append((name, [len(plan.jobs) - 1], None, None))
    return plan


def estimate_rtl(rtl: Path, manifest: dict[str, Any], kernel_names: Sequence[str], family: str, *,
                 kernels: Sequence[KernelSpec] | None = None, full_synthesis: bool = False,
                 cache_dir: Path | None = None, workers: int | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """``estimate.json``'s ``yosys`` entry for the build's ``rtl/`` (manifest order = kernel order).

    With ``kernels`` (the build's KernelSpecs), a kernel of ``COMPOSE_MIN_LANES`` lanes or more is
    composed from two cut-down variants (``hwprune.estimate.compose``) unless ``full_synthesis``; every
    Yosys job runs on a pool of ``workers`` processes, cached by content (``cache_dir``)."""
    with tempfile.TemporaryDirectory(prefix="hwprune-variants-") as scratch:
        plan = _plan(rtl, manifest, kernel_names, kernels, full_synthesis, Path(scratch))
        glue_job = _glue_job(rtl, manifest)
        jobs = plan.jobs + ([glue_job] if glue_job is not None else [])
        results = synthesize_all(jobs, family, cache_dir=cache_dir, workers=workers, progress=progress)
    layers: dict[str, dict[str, Any]] = {}
    for name, indices, lanes, pair in plan.layers:
        if lanes is None or pair is None:
            layers[name] = {**_counts(results[indices[0]]), "method": "full"}
        else:
            composed = compose(results[indices[0]], results[indices[1]], lanes, pair)
            layers[name] = {**_counts(composed), "method": f"composed from {pair[0]} and {pair[1]} of {lanes} lanes"}
    result: dict[str, Any] = {
        "family": family,
        "total": _sum(list(layers.values()), family),
        "layers": layers,
        "note": "Yosys synth_xilinx estimates per kernel (not Vivado results); total = the kernels",
    }
    if any(lanes is not None for _, _, lanes, _ in plan.layers):
        result["note"] += (f"; kernels of {COMPOSE_MIN_LANES}+ lanes composed from cut-down kernels of "
                           f"{VARIANT_LANES[0]} and {VARIANT_LANES[1]} lanes (control + lanes x one lane; output beats wider than 4 keep their share of the lanes)")
        if any(pair not in (None, VARIANT_LANES) for _, _, _, pair in plan.layers):
            result["note"] += " or, for wider output beats, of out_pe and 2 x out_pe lanes"
    if glue_job is not None:
        result["network"] = _glue_counts(results[-1], manifest)
        result["design"] = _sum([result["total"], result["network"]], family)
        result["note"] += ("; network = the top's FIFOs, stream stages and pacer (kernels as black boxes); "
                           "design = total + network")
    return result

"""Yosys figures of a whole build: every kernel alone, and the network top's glue (FIFOs, stream
stages, pacer) with the kernels as black boxes, so the two add up to the design without synthesizing
any kernel twice.

Why the glue apart: the kernels' totals are what the analytic model predicts (and what fitting
budgets), so they stay comparable on their own; the glue is what the top adds around them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from hwprune.estimate.yosys import Resources, lutram_luts, synthesize

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


def _glue(rtl: Path, manifest: dict[str, Any], family: str) -> dict[str, Any] | None:
    network = manifest.get("network") or {}
    if not network.get("top"):
        return None
    kernel_files = [name for entry in manifest["kernels"] for name in entry["verilog"]]
    own = [name for name in network["verilog"] if name not in kernel_files]
    glue = synthesize([rtl / name for name in own], network["top"], family,
                      blackboxes=[rtl / name for name in dict.fromkeys(kernel_files)])
    boxes = {entry["top"] for entry in manifest["kernels"]}
    kept = {cell: n for cell, n in glue.by_type.items() if cell not in boxes}
    glue = dataclasses.replace(glue, by_type=kept, cells=glue.cells - (sum(glue.by_type.values()) - sum(kept.values())))
    return {"top": network["top"], **_counts(glue)}


def estimate_rtl(rtl: Path, manifest: dict[str, Any], kernel_names: Sequence[str], family: str) -> dict[str, Any]:
    """``estimate.json``'s ``yosys`` entry for the build's ``rtl/`` (manifest order = kernel order)."""
    layers = {name: _counts(synthesize([rtl / f for f in entry["verilog"]], entry["top"], family))
              for entry, name in zip(manifest["kernels"], kernel_names)}
    result: dict[str, Any] = {
        "family": family,
        "total": _sum(list(layers.values()), family),
        "layers": layers,
        "note": "Yosys synth_xilinx estimates per kernel (not Vivado results); total = the kernels",
    }
    glue = _glue(rtl, manifest, family)
    if glue is not None:
        result["network"] = glue
        result["design"] = _sum([result["total"], glue], family)
        result["note"] += ("; network = the top's FIFOs, stream stages and pacer (kernels as black boxes); "
                           "design = total + network")
    return result

"""Estimates of large kernels composed from small ones: the shared control plus one lane, times the lanes.

Why: Yosys time grows with the kernel, and a kernel of L lanes is L copies of one lane (its MAC units,
accumulators, result register and its slice of the weight ROM) around one control (counters, the input
bank, the shared requantiser and parameter ROM, the output stream). Synthesizing the kernel cut down to
its first ``a`` and its first ``b`` lanes gives

    lane    = (S(b) − S(a)) / (b − a)        control = S(a) − a · lane
    S(L)   ≈ control + L · lane

for every count (LUT, FF, DSP, carry, BRAM, each cell type). ``a``, ``b`` = 4, 8: with one or two lanes
Yosys maps the shared parts differently (constant parameter ROMs, a result chain of one), so those
extrapolate badly (measured: a 64-lane layer's LUTs −56% from 1 and 2 lanes, −5% from 4 and 8). The
cut-down kernels keep the real weights of the lanes they keep (rows ``pass·L + l``, ``l`` < k, every
pass), so a lane's LUT-ROM is a real one; the other lanes' ROM contents differ, which is the error of the
method. ``tests/sim/
test_estimate_compose.py`` and ``bench/compile_speed.py`` measure that error against full synthesis;
``--full-synthesis`` (config ``full_synthesis``) synthesizes every kernel whole instead.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.estimate.yosys import Resources
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.prune.patterns.base import PackedWeights

__all__ = ["COMPOSE_MIN_LANES", "VARIANT_LANES", "lane_variant", "compose", "composable", "variant_sources",
           "variant_lanes", "variant_out_pe"]

VARIANT_LANES = (4, 8)
"""The two cut-down kernels a composed estimate synthesizes."""
COMPOSE_MIN_LANES = 16
"""Kernels with at least this many lanes are composed (12 lanes' worth of synthesis instead of L)."""

_COUNTS = ("lut", "ff", "dsp", "bram18", "bram36", "carry", "cells")


def variant_lanes(spec: KernelSpec) -> tuple[int, int]:
    """The two cut-down lane counts of ``spec``: ``VARIANT_LANES``, or ``out_pe`` and ``2·out_pe`` when the
    output beats are wider than 4 and cannot shrink with the lanes (``variant_out_pe``)."""
    if all(n % spec.out_pe == 0 for n in VARIANT_LANES) or _scaled_beats(spec):
        return VARIANT_LANES
    return (spec.out_pe, 2 * spec.out_pe)


def _scaled_beats(spec: KernelSpec) -> bool:
    """Whether the ``VARIANT_LANES`` variants take the kernel's share of outputs per lane in a beat: when
    its ``out_pe`` does not divide them and that share of each is a whole number."""
    return any(n % spec.out_pe for n in VARIANT_LANES) and (spec.out_pe * VARIANT_LANES[0]) % spec.lanes == 0


def variant_out_pe(spec: KernelSpec, lanes: int) -> int:
    """Outputs per beat of the ``lanes``-lane variant: the kernel's own where it divides the variants'
    lanes (its requantisers are then part of the shared control), else the same share of the lanes as in
    the kernel (out_pe 16 of 32 lanes: 2 of 4, 4 of 8), so the requantisers grow with the lanes as they
    do in the kernel and the composition stays linear. Why: a fast fit gives wide output beats (out_pe
    half the lanes), whose kernels would otherwise be synthesized whole."""
    return spec.out_pe * lanes // spec.lanes if _scaled_beats(spec) else spec.out_pe


def composable(spec: KernelSpec) -> bool:
    # a grouped conv's passes are laid out group by group (KernelSpec.row_slots): synthesized whole, as is a
    # kernel whose second variant would not be smaller than the kernel
    return spec.lanes >= COMPOSE_MIN_LANES and spec.groups == 1 and variant_lanes(spec)[1] < spec.lanes


def lane_variant(spec: KernelSpec, lanes: int) -> KernelSpec:
    """``spec`` cut down to its first ``lanes`` lanes, every pass kept (rows past the layer: zero weights,
    the first row's requantiser), so each lane's weights, counters and widths are the full kernel's."""
    if not 1 <= lanes < spec.lanes:
        raise ValueError(f"a variant keeps 1..{spec.lanes - 1} lanes, not {lanes}")
    rows = [p * spec.lanes + lane for p in range(spec.passes) for lane in range(lanes)]
    real = [r for r in rows if r < spec.out_features]
    values = np.zeros((len(rows), *spec.weights.values.shape[1:]), dtype=spec.weights.values.dtype)
    offsets = np.zeros((len(rows), *spec.weights.offsets.shape[1:]), dtype=spec.weights.offsets.dtype)
    keep = [i for i, r in enumerate(rows) if r < spec.out_features]
    values[keep], offsets[keep] = spec.weights.values[real], spec.weights.offsets[real]
    # a padding row still needs valid offsets: the kept positions of the first row
    for i, r in enumerate(rows):
        if r >= spec.out_features:
            offsets[i] = spec.weights.offsets[0]
    pick = lambda seq, pad: tuple(seq[r] if r < spec.out_features else pad for r in rows)  # noqa: E731
    return replace(spec, ident=f"{spec.ident}_lanes{lanes}", out_features=len(rows), lanes=lanes,
                   out_pe=variant_out_pe(spec, lanes),
                   weights=PackedWeights(spec.layout, values, offsets), bias=pick(spec.bias, 0),
                   requant_mult=pick(spec.requant_mult, spec.requant_mult[0]),
                   requant_shift=pick(spec.requant_shift, spec.requant_shift[0]))


def variant_sources(spec: KernelSpec, lanes: int, directory: Path) -> tuple[list[Path], str]:
    """Emit the ``lanes``-lane variant's Verilog into ``directory``: (sources, top)."""
    variant = lane_variant(spec, lanes)
    design = emit_kernel(variant, directory)
    return [directory / name for name in design.verilog], design.top


def compose(low: Resources, high: Resources, lanes: int, pair: tuple[int, int] = VARIANT_LANES) -> Resources:
    """``S(a) + (L − a)·(S(b) − S(a))/(b − a)`` for every count and cell type, rounded, never below zero."""
    a, b = pair

    def scaled(x: int, y: int) -> int:
        return max(0, round(x + (lanes - a) * (y - x) / (b - a)))

    cells = sorted(set(low.by_type) | set(high.by_type))
    by_type = {c: scaled(low.by_type.get(c, 0), high.by_type.get(c, 0)) for c in cells}
    counts = {name: scaled(getattr(low, name), getattr(high, name)) for name in _COUNTS}
    return Resources(family=low.family, by_type={c: n for c, n in by_type.items() if n}, **counts)

"""Analytic resources of the network top's glue: the FIFOs between stages, the max-pool and reorder
stages, and the pacer (``hwprune.backends.rtl.network`` and ``stages``); the kernels are
``hwprune.lower.resource_model``'s.

Why: the fitter must budget what the top adds, or a CNN whose pooling and reorder buffers fill the LUTs
would "fit" on paper only. None of it depends on the lanes, so the fitter adds it as one fixed cost.

* **Buffers**: max pooling's circular row buffer of ``R·W·C`` words with ``R = min(H, kh + s_h)``
  rows (``buffer_rows``, the conv window generator's), the reorder's two frames of ``2·C·H·W`` words;
  × ``b_a`` bits of distributed RAM (``memory_cost``; the reader addresses it combinationally, which
  block RAM cannot do).
* **FIFO** (one per link, ``amaranth.lib.fifo.SyncFIFO``): its ``depth × width`` memory (width = the
  producer's beat: ``out_pe`` elements on a wide stream) plus
  ``FIFO_LUTS`` / ``FIFO_FFS`` for pointers, level and flags.
* **Max pool**: the running maximum (a ``b_a``-bit compare and mux, a register) plus
  ``STAGE_LUTS`` / ``STAGE_FFS`` for the window counters and address arithmetic; **reorder**: the
  counters and address only; **average pooling**: the max pool's row buffer and counters with a sum
  register and adder in place of the maximum, the requantiser's multiplier (a DSP unless ``M`` is a
  power of two, as for a 2×2 window) and clamp; **global average**: ``C`` sums in single-port
  distributed RAM instead of a row buffer; **HardSigmoid / HardSwish**: no buffer, one requantiser
  (HardSwish: two and the gate product) and the output register. Calibrated on Yosys (``-family xcup``)
  for a 16×8×8 2×2/2 average (Yosys 100 LUT + 128 LUTRAM, 55 FF, 0 DSP; model 65 + 128, 44, 0 — the max
  pool of that map: Yosys 89, model 54), DS-CNN's 64×25×5 global average (Yosys 40 + 16, 22 FF, 1 DSP;
  model 40 + 16, 22, 1), a HardSigmoid (Yosys 11 LUT, 9 FF, 1 DSP; model 11, 9, 1) and a HardSwish
  (Yosys 18, 9, 3; model 18, 9, 3); **Sigmoid / Tanh**: a ROM of one entry per input code and the
  output register (``_table``; Yosys 51 / 50 LUT, 9 FF for 8-bit tables; model 50, 9).
* **Pacer**: a counter to the interval: ``bits(interval) + 3`` LUTs, ``bits(interval) + 1`` FFs.
* **Wide stages** (``StagePlan.width`` = m > 1): an add, concat, HardSigmoid/HardSwish, table or global
  average has one datapath per lane, so its requantisers (multipliers, rounding, clamp), adders, tables
  and output register scale with m (a global average's sums: C/m words of m sums, ``_sums_lutram``);
  the counters and the fork's ready AND do not. Checked on Yosys (xcup) at m = 4: an add of two int8
  streams (Yosys 182 LUT, 8 DSP, 33 FF; model 188, 8, 40), an 8-bit Sigmoid table (Yosys 195 LUT, 33 FF;
  model 194, 33) and DS-CNN's 64×25×5 global average (Yosys 130 + 32 LUTRAM, 4 DSP, 44 FF; model
  136 + 32, 4, 44).

Calibrated on Yosys (``synth_xilinx -family xcup``, kernels as black boxes) for the example MLP
(Yosys 27 LUT + 16 LUTRAM, 25 FF; model 26 + 16, 20) and CNN (Yosys 180 + 200, 153; model 192 + 200,
149; ``-family xc7``: Yosys 199 + 160, model 192 + 160): LUTRAM exact, logic and FFs within 20 %.
(``STAGE_LUTS`` was 50 while pooling kept two frames, whose larger RAMs needed wider read multiplexers.)
"""

from __future__ import annotations

from typing import Sequence

from hwprune.ir.graph import Graph
from hwprune.lower.conv_cycles import buffer_rows
from hwprune.lower.fitting import layer_interval
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.network_plan import NetworkPlan, NetworkUnsupported, StagePlan, plan_network
from hwprune.lower.network_types import average_sum_bits
from hwprune.lower.resource_model import Estimate, memory_cost

__all__ = ["glue_breakdown", "glue_resources", "network_glue", "FIFO_LUTS", "FIFO_FFS", "STAGE_LUTS", "STAGE_FFS",
           "MIN_FIFO_DEPTH"]

FIFO_LUTS, FIFO_FFS = 8, 6
STAGE_LUTS, STAGE_FFS = 30, 25
MIN_FIFO_DEPTH = 2
"""The depth every FIFO has at least (a one-entry SyncFIFO has zero-width pointers); the fitter,
which runs before the cycle model sizes the FIFOs, assumes it (every example FIFO has depth 2)."""


def _frame(stage: StagePlan) -> tuple[int, int, int]:
    if stage.window is not None:
        return stage.window.in_channels, stage.window.in_height, stage.window.in_width
    assert stage.frame is not None
    return stage.frame


def _merge(stage: StagePlan) -> Estimate:
    """Fork: the ready AND; add: two constant multipliers, the rounding add, the clamp and the output
    register; concat: a requantiser per input when the scales differ, the port counters."""
    assert stage.merge is not None
    bits, m = stage.out_type.bits, stage.width
    if stage.kind == "fork":
        return Estimate(lut=stage.merge.fanout)
    multipliers = len(stage.merge.mults)
    return Estimate(dsp=m * multipliers, lut=(STAGE_LUTS // 2 + 2 * bits * max(1, multipliers)) * m,
                    ff=bits * m + 8)


def _sums_lutram(words: int, bits: int) -> int:
    """LUTs of a global average's single-port sum memory of ``words`` × ``bits``: one RAM64X1S per bit
    per 64 words, or, for 32 words or fewer (a wide stage's C/m words), a RAM32M16 (8 LUTs) per 16 bits:
    what Yosys picks (xcup: 64 × 16 → 16 RAM64X1S; 16 × 64 → 4 RAM32M16)."""
    return 8 * -(-bits // 16) if words <= 32 else bits * -(-words // 64)


def _multipliers(*mults: int) -> int:
    """DSPs of constant multipliers: none for a power of two (Yosys makes it a shift), else one each."""
    return sum(1 for m in mults if m & (m - 1))


def _average(stage: StagePlan, family: str) -> Estimate:
    """A windowed average: the max pool's logic (``_stage``) with a sum (``average_sum_bits`` wide)
    in place of the maximum and its multiplier. A global average: no row buffer, ``C`` sums in
    single-port distributed RAM (read and written at the channel counter: one LUT per bit per 64
    words, Yosys's RAM64X1S), the adder, the clamp, the counters and the output register."""
    assert stage.requant is not None
    channels, height, width = _frame(stage)
    bits, mult, m = stage.out_type.bits, stage.requant[0], stage.width
    if stage.window is not None:
        wide = average_sum_bits(stage.in_type, stage.window.kernel[0] * stage.window.kernel[1], *stage.requant[:2])
        return Estimate(dsp=_multipliers(mult), lut=STAGE_LUTS + 3 * bits + wide, ff=STAGE_FFS + bits + wide)
    wide = average_sum_bits(stage.in_type, height * width, *stage.requant[:2])
    words = channels // m  # one word of m sums per beat of a pixel
    counters = max(1, (words - 1).bit_length()) + max(1, (height * width - 1).bit_length())
    return Estimate(dsp=_multipliers(mult) * m, lut=(wide + 2 * bits) * m + 8,
                    lutram=_sums_lutram(words, wide * m) if m > 1 else wide * -(-words // 64),
                    ff=counters + bits * m + 1)


def _hard_activation(stage: StagePlan) -> Estimate:
    """Per requantiser the offset add, the constant multiplier, the rounding and the clamp (HardSwish:
    the gate's, the ``q·h`` product, the output's), and the output register."""
    assert stage.requant is not None
    bits, r, m = stage.out_type.bits, stage.requant, stage.width
    if stage.kind == "hardsigmoid":
        return Estimate(dsp=_multipliers(r[1]) * m, lut=(bits + 2) * m + 1, ff=bits * m + 1)
    return Estimate(dsp=(_multipliers(r[1], r[3]) + 1) * m, lut=(2 * bits + 1) * m + 1, ff=bits * m + 1)


def _table(stage: StagePlan) -> Estimate:
    """The ROM of a Sigmoid/Tanh: per output bit one LUT6 per 64 entries and half as many again to
    select among them, and the output register. Yosys (xcup, 8-bit in and out): Sigmoid 51 LUT, 9 FF;
    Tanh 50 LUT, 9 FF; model 50, 9 (a smooth table minimises well, so more entries cost less than this).
    With m lanes, m copies of the ROM (one read port each)."""
    bits, rows, m = stage.out_type.bits, max(1, (1 << stage.in_type.bits) // 64), stage.width
    return Estimate(dsp=0, lut=bits * (rows + rows // 2) * m + 2, ff=bits * m + 1)


def _stage(stage: StagePlan, family: str) -> Estimate:
    if stage.merge is not None:
        return _merge(stage)
    if stage.kind == "lut":
        return _table(stage)
    if stage.kind in ("hardsigmoid", "hardswish"):
        return _hard_activation(stage)
    if stage.kind == "globalavg":
        return _average(stage, family)
    channels, height, width = _frame(stage)
    bits = stage.in_type.bits
    if stage.window is not None:  # max and average pooling: the row buffer
        words = max(2, buffer_rows(stage.window) * width * channels)  # the RTL's depth is at least 2
    else:
        words = 2 * channels * height * width
    buffer = memory_cost(words, bits, rom=False, synchronous=False, family=family)  # comb read
    if stage.kind == "maxpool":
        return buffer + Estimate(lut=STAGE_LUTS + 3 * bits, ff=STAGE_FFS + 2 * bits)
    if stage.kind == "avgpool":
        return buffer + _average(stage, family)
    return buffer + Estimate(lut=STAGE_LUTS, ff=STAGE_FFS)


def glue_breakdown(plan: NetworkPlan, interval: int, fifo_depths: Sequence[int] | None = None,
                   family: str = "xcup") -> dict[str, Estimate]:
    """The glue's resources per component: ``fifo<i>``, one entry per stream stage, ``pacer``."""
    links = len(plan.links())
    depths = list(fifo_depths) if fifo_depths is not None else [MIN_FIFO_DEPTH] * links
    if len(depths) != links:
        raise ValueError(f"{links} FIFOs need {links} depths, not {len(depths)}")
    parts: dict[str, Estimate] = {}
    for index, ((src, _, _, _), depth) in enumerate(zip(plan.links(), depths)):
        width = plan.stages[src].out_type.bits * plan.stages[src].out_width  # a wide stream: whole beats
        parts[f"fifo{index}"] = memory_cost(depth, width, rom=False, synchronous=False, family=family) + \
            Estimate(lut=FIFO_LUTS, ff=FIFO_FFS)
    for stage in plan.stages:
        if stage.kind != "kernel":
            parts[stage.ident] = _stage(stage, family)
    counter = max(1, int(interval).bit_length())
    parts["pacer"] = Estimate(lut=counter + 3, ff=counter + 1)
    return parts


def glue_resources(plan: NetworkPlan, interval: int, fifo_depths: Sequence[int] | None = None,
                   family: str = "xcup") -> Estimate:
    """Total analytic resources of the top around its kernels."""
    total = Estimate()
    for part in glue_breakdown(plan, interval, fifo_depths, family).values():
        total = total + part
    return total


def network_glue(graph: Graph, kernels: Sequence[KernelSpec], family: str = "xcup") -> Estimate:
    """The glue the top of ``graph`` will need, before fitting (so for any lanes): FIFOs at their
    minimum depth, the pacer for the slowest unfitted layer's interval. Nothing if the graph gets no
    top (branches, token selectors: ``NetworkUnsupported``)."""
    try:
        plan = plan_network(graph, kernels, "top")
    except NetworkUnsupported:
        return Estimate()
    return glue_resources(plan, max((layer_interval(k) for k in kernels), default=1), family=family)

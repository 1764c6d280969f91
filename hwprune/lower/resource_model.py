"""Analytic resource model of a kernel: closed-form DSP / BRAM / LUT / FF counts from a ``KernelSpec``.

Why it exists beside Yosys (docs/architecture.md section 6): board fitting (``hwprune.lower.fitting``) tries
hundreds of lane/MAC configurations per layer, and synthesis takes tens of seconds each. This model
answers in microseconds, from the documented micro-architecture of the dot-product engine
(``hwprune.backends.rtl.engine``) — not from its source — and the report prints it next to Yosys's
figures with their difference, so a drift between the two is visible. It lives in ``hwprune.lower``
because it is the fitter's cost model: lowering needs it before any backend or estimate runs.

Per kernel, with ``L`` lanes, ``P`` MACs per lane, group size ``S``, ``kept`` per group, ``G`` groups,
``passes = ceil(out / L)``, ``rounds = G / P``, weight bits ``b_w``, offset bits ``b_o``, activation
bits ``b_a`` and accumulator bits ``b_acc``:

* **DSP** = ``L·P·dsp(b_w, b_a + unsigned)`` (one multiplier per MAC) ``+ dsp(b_acc + 1, b_M)`` (the
  requantiser's ``(acc + bias)·M``, one per output element of a beat, ``out_pe``, shared by the lanes). ``dsp(a, b)`` = 1 when the
  product fits the family's multiplier (27×18 for UltraScale+ DSP48E2, 25×18 for 7-series DSP48E1),
  otherwise the number of tiles ``ceil((a-1)/(A-1))·ceil((b-1)/(B-1))``. ``generic`` counts multipliers.
* **Weight ROM** (values + metadata): ``passes·rounds·kept`` words × ``L·P·(b_w + b_o)`` bits, read
  synchronously; **parameter ROM**: ``ceil(out / out_pe)`` words × ``out_pe·(b_acc + b_M + b_shift)`` bits, read
  combinationally. **Input banks**: ``P`` RAMs of ``2·rounds`` words × ``S·b_a`` bits (ping-pong);
  conv adds a **frame buffer**, the window generator's circular row buffer of ``R·W·C`` words × ``b_a``
  bits with ``R = min(H, (kh - 1)·d_h + 1 + s_h)`` rows (read combinationally: LUTRAM), ``kh·kw`` copies
  of it with window beats (``in_simd = kh·kw``, or a fold of fewer elements: one read port per window
  position, and for a fold an ``kh·kw``:1 select per lane bit); a wide frame of ``m`` channels per beat
  keeps ``R·W·C/m`` words of ``m·b_a`` bits.
* **Memory mapping** (what Yosys's ``memory_libmap`` does for Xilinx, calibrated on the examples):
  a synchronous memory uses BRAM18 tiles in the best aspect ratio (512×36 … 16K×1) when
  ``tiles · BRAM18_COLUMNS < width · ceil(depth / 64)``; otherwise a RAM uses LUTRAM (RAM32M16:
  32 words × 14 bits per 8 LUTs up to 32 words, else the cheaper of stacked RAM32M16 and RAM64M8, 64
  words × 7 bits per 8 LUTs; on 7-series RAM32M: 32 × 6 and RAM64M: 64 × 3 per 4 LUTs) and a
  ROM, like every combinational ROM, becomes logic: ``width · depth / 64 · ROM_LUTS_PER_64`` LUTs.
* **LUT** (logic): the ``S:1`` activation select per MAC, ``L·P·b_a·mux(S)`` (``P·b_a·mux(S)`` for a
  dense layer, whose lanes share one select driven by the step counter) with ``mux(S)`` =
  ``ceil((S2 - 1) / 3)`` LUT6 per bit (a tree of 4:1 muxes over ``S`` padded to a power of two);
  the adder tree and accumulator, ``L·P·b_acc``; the two result banks' shift registers, ``2·L·b_acc``,
  and the 2:1 select of the draining bank into the requantisers, ``out_pe·b_acc``; the
  requantiser's bias add, rounding add, shifter (``ceil(b_shift / 2)`` 4:1 stages) and clamp on
  ``b_acc + b_M`` bits, ``out_pe`` times; ``CONTROL_LUTS`` for counters and handshakes (``+ CONV_CONTROL_LUTS`` for a
  conv window generator); plus the logic ROMs above.
* **FF**: the product registers ``L·P·(b_w + b_a + 1)``, the accumulators and the two result banks
  ``3·L·b_acc`` (the second bank, ``L·b_acc``, lets a pass finish while the previous one drains), the
  ROM output register ``L·P·(b_w + b_o)``, ``CONTROL_FFS``.

LUT and FF are rough (within a factor of about 1.6 of Yosys on the examples); DSP and BRAM match
Yosys exactly on the 20 example kernels calibrated, and are what the fitter's budget usually binds on.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Iterable

from hwprune.boards import Board
from hwprune.lower.conv_cycles import buffer_rows
from hwprune.lower.kernel_spec import KernelSpec

__all__ = [
    "Estimate", "multiplier_dsps", "memory_cost", "mux_luts_per_bit", "kernel_breakdown", "kernel_resources",
    "design_resources", "budget", "utilisation", "BRAM18_COLUMNS", "RESOURCE_KEYS",
]

BRAM18_COLUMNS = 112
"""64-word bit columns of LUT storage one BRAM18 tile is worth when a memory could go either way
(calibrated on Yosys's choices for the examples: a 512×22 ROM (176 columns) takes one RAMB18,
512×11 (88) and 128×88 (176 for three tiles) ones stay in LUTs)."""
ROM_LUTS_PER_64 = 2
"""LUTs per 64 words of one bit column of a logic ROM (ideal is 1; Yosys/ABC uses about 2)."""
CONTROL_LUTS, CONTROL_FFS = 120, 100
"""Counters, stream handshakes and the result bookkeeping of one engine."""
CONV_CONTROL_LUTS, CONV_CONTROL_FFS = 150, 80
"""The conv window generator's coordinate counters and address arithmetic."""

_BRAM18_ASPECTS = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))
_DSP_WIDTHS = {"xcup": (27, 18), "xc7": (25, 18)}

RESOURCE_KEYS = ("dsp", "bram18", "lut", "ff")
"""The resources a board budget limits (LUT = logic + LUTRAM)."""


@dataclass(frozen=True)
class Estimate:
    """Resource counts of one component, kernel or design. ``lut`` is logic, ``lutram`` LUTs used as
    memory; ``storage_bits`` are the weight values + metadata held on chip (for the storage plot)."""

    dsp: int = 0
    bram18: int = 0
    lut: int = 0
    lutram: int = 0
    ff: int = 0
    storage_bits: int = 0

    def __add__(self, other: "Estimate") -> "Estimate":
        return Estimate(self.dsp + other.dsp, self.bram18 + other.bram18, self.lut + other.lut,
                        self.lutram + other.lutram, self.ff + other.ff, self.storage_bits + other.storage_bits)

    def times(self, count: int) -> "Estimate":
        """``count`` copies of this component (a bank per MAC unit, a buffer per window position). Why
        not a sum of copies: the fitter costs thousands of candidates of layers of hundreds of MAC units."""
        return Estimate(self.dsp * count, self.bram18 * count, self.lut * count, self.lutram * count,
                        self.ff * count, self.storage_bits * count)

    @property
    def lut_total(self) -> int:
        """LUTs of the board's budget that this uses: logic and distributed RAM together."""
        return self.lut + self.lutram

    def usage(self) -> dict[str, int]:
        """The figures a board budget is checked against (``RESOURCE_KEYS``)."""
        return {"dsp": self.dsp, "bram18": self.bram18, "lut": self.lut_total, "ff": self.ff}

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _total(parts: Iterable[Estimate]) -> Estimate:
    out = Estimate()
    for part in parts:
        out = out + part
    return out


def multiplier_dsps(a_bits: int, b_bits: int, family: str) -> int:
    """DSP slices of one signed ``a_bits × b_bits`` multiplier on ``family`` (generic: 1 per multiplier)."""
    if family not in _DSP_WIDTHS:
        return 1
    wide, narrow = _DSP_WIDTHS[family]
    a, b = max(a_bits, b_bits), min(a_bits, b_bits)
    if a <= wide and b <= narrow:
        return 1
    return math.ceil((a - 1) / (wide - 1)) * math.ceil((b - 1) / (narrow - 1))


def mux_luts_per_bit(inputs: int) -> int:
    """LUT6s per bit of an ``inputs``:1 multiplexer padded to a power of two (tree of 4:1 muxes)."""
    if inputs <= 1:
        return 0
    padded = 1 << (inputs - 1).bit_length()
    return math.ceil((padded - 1) / 3)


def _logic_rom_luts(depth: int, width: int) -> int:
    """LUTs of a ROM built from logic: each bit column is a function of ``log2 depth`` address bits,
    proportional to the depth (a 2-word column is a constant or an address bit: almost free)."""
    return math.ceil(width * depth * ROM_LUTS_PER_64 / 64)


_LUTRAM_PRIMITIVES = {"xc7": ((32, 6, 4), (64, 3, 4)), "default": ((32, 14, 8), (64, 7, 8))}
"""(words, bits, LUTs) of the distributed-RAM primitives Yosys maps to, shallow first: 7-series RAM32M
(32 × 6) and RAM64M (64 × 3) in 4 LUTs; UltraScale+ RAM32M16 (32 × 14) and RAM64M8 (64 × 7) in 8."""


def _lutram_luts(depth: int, width: int, family: str = "xcup") -> int:
    """LUTs of a LUTRAM: the 32-word primitive up to 32 words, else whichever of stacked 32-word or
    64-word primitives is cheaper (Yosys's ``memory_libmap`` picks the cheaper: a 96 × 8 row buffer
    takes three RAM32M16, 24 LUTs, not four RAM64M8)."""
    (d32, w32, l32), (d64, w64, l64) = _LUTRAM_PRIMITIVES.get(family, _LUTRAM_PRIMITIVES["default"])
    if depth <= d32:
        return l32 * math.ceil(width / w32)
    return min(l32 * math.ceil(width / w32) * math.ceil(depth / d32),
               l64 * math.ceil(width / w64) * math.ceil(depth / d64))


def memory_cost(depth: int, width: int, *, rom: bool, synchronous: bool = True, family: str = "xcup") -> Estimate:
    """Where a ``depth × width`` memory lands: BRAM18 tiles, LUTRAM or logic (rules in the module doc)."""
    if depth * width == 0:
        return Estimate()
    if rom:
        small = Estimate(lut=_logic_rom_luts(depth, width))
    else:
        small = Estimate(lutram=_lutram_luts(depth, width, family))
    if not synchronous:
        return small
    tiles = min(math.ceil(width / w) * math.ceil(depth / d) for d, w in _BRAM18_ASPECTS)
    columns = width * math.ceil(depth / 64)  # 64-word bit columns: what LUT-based storage scales with
    return Estimate(bram18=tiles) if tiles * BRAM18_COLUMNS < columns else small


def _mult_bits(spec: KernelSpec) -> int:
    return _widest_mult(tuple(spec.requant_mult))


def _shift_bits(spec: KernelSpec) -> int:
    return _widest_shift(tuple(spec.requant_shift))


@functools.lru_cache(maxsize=256)
def _widest_mult(mults: tuple[int, ...]) -> int:
    """Bits of the widest requantiser multiplier. Cached: every candidate of a layer (thousands for a
    512-filter conv) has the same per-filter parameters."""
    return max(int(m).bit_length() for m in mults) + 1


@functools.lru_cache(maxsize=256)
def _widest_shift(shifts: tuple[int, ...]) -> int:
    return max(1, max(int(s) - 1 for s in shifts).bit_length())


def kernel_breakdown(spec: KernelSpec, family: str = "xcup") -> dict[str, Estimate]:
    """The kernel's resources per component (names as in the module doc), in a fixed order. A depthwise
    conv with ``m`` engines side by side (``group_lanes``): ``m`` times one engine's parts (each with its
    share of the ROMs) and the window generator of the whole frame."""
    if spec.group_lanes > 1:
        from hwprune.lower.group_lanes import sub_specs

        subs = sub_specs(spec)
        parts = {key: _total(kernel_breakdown(sub, family)[key] for sub in subs)
                 for key in kernel_breakdown(subs[0], family) if key != "frame_buffer"}
        parts["frame_buffer"] = _frame_buffer(spec, family)
        return parts
    layout = spec.layout
    lanes, macs, acc = spec.lanes, spec.macs_per_lane, spec.acc_bits
    act_bits = spec.in_type.bits
    slot = spec.weight_bits + layout.offset_bits
    rounds = layout.groups // macs
    mults = lanes * macs
    mult_bits, shift_bits = _mult_bits(spec), _shift_bits(spec)
    requant_width = acc + mult_bits
    weight_rom = memory_cost(spec.passes * rounds * layout.kept_per_group, mults * slot, rom=True)
    parts = {
        "multipliers": Estimate(
            dsp=mults * multiplier_dsps(spec.weight_bits, act_bits + (not spec.in_type.signed), family),
            ff=mults * (spec.weight_bits + act_bits + 1)),
        "weight_rom": weight_rom + Estimate(ff=mults * slot,
                                            storage_bits=spec.out_features * layout.kept_per_row * slot),
        "param_rom": memory_cost(spec.out_beats, spec.out_pe * (acc + mult_bits + shift_bits), rom=True,
                                 synchronous=False),
        "input_banks": memory_cost(2 * rounds, layout.group_size * act_bits, rom=False, family=family).times(macs),
        # dense: every lane selects with the same step counter, so one select per MAC unit serves all lanes
        "select_muxes": Estimate(lut=(mults if layout.offset_bits else macs) * act_bits
                                 * mux_luts_per_bit(layout.group_size)),
        # the adder trees, the accumulators and result bank 0 (its load-or-shift select per bit)
        "adders": Estimate(lut=mults * acc + lanes * acc, ff=2 * lanes * acc),
        # result bank 1 (ping-pong with bank 0) and the select of the draining bank's head rows
        "result_banks": Estimate(lut=(lanes + spec.out_pe) * acc, ff=lanes * acc),
        "requantiser": Estimate(dsp=spec.out_pe * multiplier_dsps(acc + 1, mult_bits, family),
                                lut=spec.out_pe * (acc + 2 * requant_width + requant_width * math.ceil(shift_bits / 2)),
                                ff=spec.out_pe * spec.out_type.bits + 2),
        "control": Estimate(lut=CONTROL_LUTS, ff=CONTROL_FFS),
    }
    if spec.conv is not None:
        parts["frame_buffer"] = _frame_buffer(spec, family)
        parts["control"] = parts["control"] + Estimate(lut=CONV_CONTROL_LUTS, ff=CONV_CONTROL_FFS)
    return parts


def _frame_buffer(spec: KernelSpec, family: str) -> Estimate:
    """The row buffer, read combinationally by the window generator: LUTRAM, never BRAM (Yosys agrees);
    with window beats one copy per window position, words of ``m`` channels on a wide frame."""
    g = spec.conv
    assert g is not None
    act_bits = spec.in_type.bits
    copies = g.kernel[0] * g.kernel[1] if spec.in_simd > 1 else 1
    m = spec.frame_simd
    buffer = memory_cost(buffer_rows(g) * g.in_width * g.in_channels // m, m * act_bits, rom=False,
                         synchronous=False, family=family).times(copies)
    if 1 < spec.in_simd < copies:  # a fold: each lane picks its window position (a rotation)
        buffer = buffer + Estimate(lut=spec.in_simd * act_bits * mux_luts_per_bit(copies))
    return buffer


def kernel_resources(spec: KernelSpec, family: str = "xcup") -> Estimate:
    """Total analytic resources of one kernel."""
    return _total(kernel_breakdown(spec, family).values())


def design_resources(kernels: Iterable[KernelSpec], family: str = "xcup") -> Estimate:
    """Total analytic resources of every kernel of a design (inter-layer FIFOs and DMA not counted)."""
    return _total(kernel_resources(spec, family) for spec in kernels)


def budget(board: Board, max_util: float = 1.0) -> dict[str, float]:
    """The usable amount of each limited resource on ``board``; a board field of 0 means no ceiling
    and is left out. BRAM is counted in BRAM18 tiles (a BRAM36 is two)."""
    limits = {"dsp": board.dsp, "bram18": board.bram18 or 2 * board.bram36, "lut": board.lut, "ff": board.ff}
    return {key: max_util * value for key, value in limits.items() if value > 0}


def utilisation(estimate: Estimate, board: Board) -> dict[str, float]:
    """Fraction of the board used per limited resource (resources without a ceiling are left out)."""
    usage = estimate.usage()
    return {key: usage[key] / limit for key, limit in budget(board).items()}

"""The analytic resource model (hwprune.lower.resource_model) on small kernels checked by hand.

Each expected number is worked out in the comments from the formulas in the module docstring, so a
change of a formula shows up here as a deliberate edit, not as drift.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwprune.boards import load_board
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.prune.patterns.base import GroupLayout, pack_balanced
from hwprune.lower.resource_model import (
    Estimate, budget, design_resources, kernel_breakdown, kernel_resources, memory_cost, multiplier_dsps,
    mux_luts_per_bit, utilisation,
)


def make_spec(out: int = 4, k_in: int = 8, group: int = 8, kept: int = 8, lanes: int = 2, macs: int = 1,
              conv: ConvGeometry | None = None, acc_bits: int = 20) -> KernelSpec:
    """A kernel keeping the first ``kept`` inputs of every group; requantiser M = 1000, shift = 10."""
    layout = GroupLayout(k_in, group, kept)
    mask = np.zeros((out, k_in), dtype=bool)
    for g in range(layout.groups):
        mask[:, g * group:g * group + kept] = True
    weight = np.where(mask, 3, 0).astype(np.int64)
    return KernelSpec(
        name="layer", ident="layer", kind="conv" if conv else "dense",
        pattern="dense" if kept == group else "nm",
        out_features=out, lanes=lanes, macs_per_lane=macs, weights=pack_balanced(weight, mask, layout),
        bias=(0,) * out, requant_mult=(1000,) * out, requant_shift=(10,) * out, acc_bits=acc_bits,
        weight_bits=8,
        in_type=IntType(8, False), out_type=IntType(8, False), relu=True, conv=conv,
    )


def test_multiplier_tiles() -> None:
    assert multiplier_dsps(8, 9, "xcup") == 1  # int8 weight × uint8 activation (9-bit signed)
    assert multiplier_dsps(27, 18, "xcup") == 1 and multiplier_dsps(18, 27, "xcup") == 1
    assert multiplier_dsps(26, 18, "xc7") == 2  # 25×18 on 7-series: ceil(25/24) · ceil(17/17)
    assert multiplier_dsps(30, 20, "xcup") == 4  # ceil(29/26) · ceil(19/17)
    assert multiplier_dsps(64, 64, "generic") == 1  # ASIC: one multiplier, whatever its width


def test_mux_luts() -> None:
    # tree of 4:1 muxes (one LUT6 each) over the inputs padded to a power of two
    assert [mux_luts_per_bit(n) for n in (1, 2, 3, 4, 8, 9, 16)] == [0, 1, 1, 1, 3, 5, 5]


def test_memory_mapping() -> None:
    # ROM 512 × 22: one 512×36 tile; 112 < 22 · 8 = 176 columns → BRAM (as Yosys does)
    assert memory_cost(512, 22, rom=True) == Estimate(bram18=1)
    # ROM 512 × 11: 88 columns < 112 → logic, 11 · 512 · 2 / 64 = 176 LUTs
    assert memory_cost(512, 11, rom=True) == Estimate(lut=176)
    # RAM 2 × 64 (input bank): RAM32M16, ceil(64 / 14) = 5 primitives × 8 LUTs
    assert memory_cost(2, 64, rom=False) == Estimate(lutram=40)
    # RAM 128 × 8 (a frame buffer): RAM64M8, ceil(8 / 7) · ceil(128 / 64) = 4 primitives
    assert memory_cost(128, 8, rom=False) == Estimate(lutram=32)
    # a combinational ROM never goes to BRAM: 4096 · 36 · 2 / 64 LUTs
    assert memory_cost(4096, 36, rom=True, synchronous=False) == Estimate(lut=4608)
    # a big RAM: 2048×9 tiles, ceil(8 / 9) · ceil(25088 / 2048) = 13
    assert memory_cost(25088, 8, rom=False) == Estimate(bram18=13)
    assert memory_cost(0, 8, rom=True) == Estimate()
    # 7-series: RAM32M (32 × 6) and RAM64M (64 × 3), 4 LUTs each
    assert memory_cost(2, 64, rom=False, family="xc7") == Estimate(lutram=4 * 11)
    assert memory_cost(128, 8, rom=False, family="xc7") == Estimate(lutram=4 * 3 * 2)
    # a combinationally read RAM stays distributed however large (a frame buffer)
    assert memory_cost(25088, 8, rom=False, synchronous=False) == Estimate(lutram=8 * 2 * 392)


def test_dense_kernel_by_hand() -> None:
    spec = make_spec()  # 4 outputs, K = 8 in one group of 8 (dense), 2 lanes × 1 MAC
    parts = kernel_breakdown(spec, "xcup")
    assert parts["multipliers"] == Estimate(dsp=2, ff=2 * 17)
    # weight ROM: 2 passes × 1 round × 8 kept = 16 words × 16 bits → logic, ceil(16·16·2/64) = 8 LUTs
    assert parts["weight_rom"] == Estimate(lut=8, ff=16, storage_bits=4 * 8 * 8)
    # parameter ROM: 4 words × (20 + 11 + 4) bits, combinational → ceil(35·4·2/64) = 5 LUTs
    assert parts["param_rom"] == Estimate(lut=5)
    assert parts["input_banks"] == Estimate(lutram=40)  # 1 bank of 2 × 64 bits
    assert parts["select_muxes"] == Estimate(lut=1 * 8 * 3)  # dense: one 8:1 select shared by the lanes
    assert parts["adders"] == Estimate(lut=2 * 20 + 2 * 20, ff=2 * 2 * 20)
    # requantiser: 21 × 11 multiply = 1 DSP; 20 + 2·31 + 31·ceil(4/2) LUTs; output register
    assert parts["requantiser"] == Estimate(dsp=1, lut=20 + 62 + 62, ff=10)
    assert parts["control"] == Estimate(lut=120, ff=100)
    total = kernel_resources(spec, "xcup")
    assert total == Estimate(dsp=3, bram18=0, lut=441, lutram=40, ff=280, storage_bits=256)
    assert total.usage() == {"dsp": 3, "bram18": 0, "lut": 481, "ff": 280}


def test_sparse_kernel_selects_per_lane_and_stores_offsets() -> None:
    spec = make_spec(out=8, k_in=16, group=4, kept=2, lanes=4, macs=2)  # 2:4, offsets of 2 bits
    parts = kernel_breakdown(spec, "xcup")
    assert parts["multipliers"].dsp == 8
    assert parts["select_muxes"].lut == 8 * 8 * 1  # every MAC its own 4:1 select (1 LUT per bit)
    # 8 rows × 8 kept × (8 + 2) bits held on chip
    assert parts["weight_rom"].storage_bits == 8 * 8 * 10
    assert kernel_resources(spec).dsp == 9


def test_dsps_scale_with_lanes_and_macs() -> None:
    for lanes, macs in [(1, 1), (2, 2), (4, 4), (8, 8)]:
        spec = make_spec(out=8, k_in=64, group=8, kept=8, lanes=lanes, macs=macs)
        assert kernel_resources(spec).dsp == lanes * macs + 1


def test_conv_adds_frame_buffer_and_window_control() -> None:
    geometry = ConvGeometry(in_channels=1, in_height=8, in_width=8, kernel=(3, 3), strides=(1, 1),
                            pads=(1, 1, 1, 1), dilations=(1, 1), group=1, out_height=8, out_width=8)
    conv = make_spec(out=8, k_in=9, group=3, kept=3, lanes=8, macs=3, conv=geometry)
    dense = make_spec(out=8, k_in=9, group=3, kept=3, lanes=8, macs=3)
    parts = kernel_breakdown(conv)
    # the row buffer: R = min(8, 3 + 1) = 4 rows of 8 words, 32 words × 8 bits in one RAM32M16
    assert parts["frame_buffer"] == Estimate(lutram=8)
    extra = kernel_resources(conv) + Estimate(lutram=-8, lut=-150, ff=-80)
    assert extra == kernel_resources(dense)
    assert kernel_resources(conv).dsp == 25  # what Yosys reports for the example CNN's conv0 at 8 × 3


def test_design_total_and_budget() -> None:
    a, b = make_spec(), make_spec(out=8, k_in=16, group=4, kept=2, lanes=4, macs=2)
    assert design_resources([a, b]) == kernel_resources(a) + kernel_resources(b)
    zcu102 = load_board("zcu102")
    assert budget(zcu102, 0.8) == pytest.approx({"dsp": 2016, "bram18": 1459.2, "lut": 219264, "ff": 438528})
    assert budget(load_board("generic-asic")) == {}
    used = utilisation(design_resources([a]), zcu102)
    assert used["dsp"] == pytest.approx(3 / 2520)

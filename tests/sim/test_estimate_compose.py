"""Composed estimates of large kernels (``hwprune.estimate.compose``): the cut-down kernels are real
kernels of the full one's lanes, the composition is exact arithmetic, and against full Yosys synthesis of
the example MLP's 64-lane layer the composed LUT/FF/carry counts stay within 10 % and DSPs within 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwprune.config import CompileConfig
from hwprune.estimate.compose import (COMPOSE_MIN_LANES, VARIANT_LANES, compose, composable, lane_variant,
                                      variant_lanes)
from hwprune.estimate.design import estimate_rtl
from hwprune.estimate.yosys import Resources
from hwprune.flow import compile_model
from hwprune.sim.vectors import kernel_reference

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def mlp_build(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path):  # noqa: ANN201
    out = tmp_path_factory.mktemp("compose") / "build"
    # 16 lanes pinned (the fastest fit's kernels are composed in other ways) at a modest interval, so
    # the full synthesis it is checked against stays minutes of Yosys, not many
    ctx = compile_model(examples_dir / "mlp_digits.onnx", out, CompileConfig(board="zcu102", stop_after="emit",
                                                                             lanes=16, target_interval=64))
    return out, ctx.kernels


def test_a_variant_is_the_first_lanes_of_every_pass(mlp_build) -> None:  # noqa: ANN001
    _, kernels = mlp_build
    spec = next(k for k in kernels if composable(k))
    assert spec.lanes >= COMPOSE_MIN_LANES
    for lanes in variant_lanes(spec):
        cut = lane_variant(spec, lanes)
        assert cut.lanes == lanes and cut.passes == spec.passes and cut.layout == spec.layout
        x = np.random.default_rng(0).integers(0, 255, size=(8, spec.in_features))
        full, part = kernel_reference(spec, x), kernel_reference(cut, x)
        rows = [p * spec.lanes + lane for p in range(spec.passes) for lane in range(lanes)]
        real = [i for i, r in enumerate(rows) if r < spec.out_features]
        assert np.array_equal(part[:, real], full[:, [rows[i] for i in real]])


def test_composition_is_linear_in_the_lanes() -> None:
    low = Resources("xcup", lut=100, ff=50, dsp=5, by_type={"LUT6": 100, "DSP48E2": 5})
    high = Resources("xcup", lut=180, ff=90, dsp=9, by_type={"LUT6": 180, "DSP48E2": 9})
    big = compose(low, high, 64)  # 100 + (64 - 4) * 80 / 4
    assert (big.lut, big.ff, big.dsp) == (1300, 650, 65) and big.by_type == {"LUT6": 1300, "DSP48E2": 65}
    assert compose(low, high, 4) == low


def test_composed_estimate_is_within_ten_percent_of_full_synthesis(mlp_build) -> None:  # noqa: ANN001
    out, kernels = mlp_build
    import json

    manifest = json.loads((out / "rtl" / "manifest.json").read_text())
    names = [k.name for k in kernels]
    composed = estimate_rtl(out / "rtl", manifest, names, "xcup", kernels=kernels)
    full = estimate_rtl(out / "rtl", manifest, names, "xcup", kernels=kernels, full_synthesis=True)
    spec = next(k for k in kernels if composable(k))
    c, f = composed["layers"][spec.name], full["layers"][spec.name]
    assert c["method"].startswith("composed") and f["method"] == "full"
    for key in ("lut", "ff", "carry"):
        assert abs(c[key] - f[key]) <= 0.10 * f[key], (key, c[key], f[key])
    assert abs(c["dsp"] - f["dsp"]) <= 1 and c["lutram"] == f["lutram"]
    small = [k.name for k in kernels if not composable(k)]
    assert small and all(composed["layers"][n] == full["layers"][n] for n in small)


def test_wide_output_beats_take_variants_that_hold_whole_beats() -> None:
    """out_pe 8 of 24 lanes does not divide 4 lanes, nor does its share (a third) of 4: the variants are
    8 and 16 lanes at out_pe 8; of 32 lanes (a quarter) they are 4 and 8 lanes at out_pe 1 and 2, so the
    requantisers grow with the lanes. Either way each variant is the first rows of every pass."""
    from dataclasses import replace as with_fields

    from hwprune.estimate.compose import variant_out_pe
    from hwprune.prune.patterns.base import GroupLayout
    from hwprune.sim.vectors import random_spec

    base = random_spec(out_features=70, layout=GroupLayout(32, 8, 4), lanes=32, macs_per_lane=4, seed=3)
    x = np.random.default_rng(1).integers(0, 255, size=(4, base.in_features))
    for lanes, pair, beats in ((24, (8, 16), (8, 8)), (32, VARIANT_LANES, (1, 2))):
        spec = with_fields(base, lanes=lanes, out_pe=8)
        assert variant_lanes(spec) == pair and composable(spec)
        full = kernel_reference(spec, x)
        for variant, out_pe in zip(pair, beats):
            cut = lane_variant(spec, variant)
            assert variant_out_pe(spec, variant) == cut.out_pe == out_pe and cut.passes == spec.passes
            rows = [p * spec.lanes + lane for p in range(spec.passes) for lane in range(variant)]
            real = [i for i, r in enumerate(rows) if r < spec.out_features]
            assert np.array_equal(kernel_reference(cut, x)[:, real], full[:, [rows[i] for i in real]])
    assert variant_lanes(with_fields(base, out_pe=2)) == VARIANT_LANES

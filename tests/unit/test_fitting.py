"""Board fitting (hwprune.lower.fitting): budgets respected, intervals balanced, layouts untouched,
clear errors for a model that cannot fit."""

from __future__ import annotations

from dataclasses import replace

from hwprune.ir.graph import Graph
from hwprune.lower.lowering import lower_graph

import math
import re
from pathlib import Path

import numpy as np
import pytest

from hwprune.boards import load_board
from hwprune.config import CompileConfig
from hwprune.flow import compile_model
from hwprune.lower.fitting import FitError, candidates, fit_kernels, lane_options, layer_interval
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.resource_model import budget, design_resources

from test_analytic import make_spec

MODELS = {
    "cnn": ("cnn_digits.onnx", CompileConfig(stop_after="lower")),
    "mlp": ("mlp_digits.onnx", CompileConfig(stop_after="lower")),
    "pruned": ("mlp_digits_pruned_qonnx.onnx",
               CompileConfig(stop_after="lower", calibration="examples/calibration.npz")),
}


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> dict[str, list[KernelSpec]]:
    out = {}
    for name, (model, config) in MODELS.items():
        build = tmp_path_factory.mktemp(f"fit-{name}") / "build"
        compile_model(examples_dir / model, build, replace(config, stop_after="quantize", estimate=False))
        # the default (unfitted) lowering is what fitting starts from
        out[name] = lower_graph(Graph.from_json((build / "ir_quant.json").read_text()))
    return out


def big_network() -> list[KernelSpec]:
    """Two wide 2:8-pruned layers: their fastest design (input-stream bound, 82 DSPs) fits a pynq-z2 at
    a 0.8 margin but not at 0.1 (22 DSPs), where DSPs bind and the intervals must grow evenly."""
    return [make_spec(out=256, k_in=512, group=8, kept=2, lanes=8, macs=8, acc_bits=22),
            make_spec(out=128, k_in=256, group=8, kept=2, lanes=8, macs=8, acc_bits=21)]


def ideal_interval(specs: list[KernelSpec], dsp_budget: float) -> float:
    """A lower bound on any design's network interval: the slowest layer at its fastest, or all the
    network's kept MACs spread perfectly over the DSP budget."""
    fastest = max(min(c.interval for c in candidates(s, "xcup")) for s in specs)
    work = sum(s.useful_macs * (s.conv.out_height * s.conv.out_width if s.conv else 1) for s in specs)
    return max(fastest, work / dsp_budget)


def check_fitted(original: list[KernelSpec], fitted: list[KernelSpec], board_name: str,
                 max_util: float) -> None:
    board = load_board(board_name)
    usage = design_resources(fitted, board.yosys_family).usage()
    for key, limit in budget(board, max_util).items():
        assert usage[key] <= limit, (key, usage[key], limit)
    for before, after in zip(original, fitted):
        assert after.layout.groups % after.macs_per_lane == 0
        assert 1 <= after.lanes <= after.out_features
        assert after.name == before.name
        if after.weights is not before.weights:  # only a dense layer is laid out again, to the same weights
            assert before.pattern == "dense" and after.layout.kept_per_group == after.layout.group_size
            assert (after.weights.unpack()[0] == before.weights.unpack()[0]).all()


@pytest.mark.parametrize("board_name", ["zcu102", "pynq-z2"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_examples_fit_and_balance(kernels: dict[str, list[KernelSpec]], model: str, board_name: str) -> None:
    specs = kernels[model]
    fitted = fit_kernels(specs, load_board(board_name), 0.8)
    check_fitted(specs, fitted, board_name, 0.8)
    slowest = max(layer_interval(s) for s in fitted)
    assert slowest <= 1.5 * ideal_interval(specs, budget(load_board(board_name), 0.8)["dsp"])
    # the fitter never makes the network slower than the default lowering
    assert slowest <= max(layer_interval(s) for s in specs)


def test_cnn_is_bound_by_its_output_stream(kernels: dict[str, list[KernelSpec]]) -> None:
    """conv1's 72-element window per pixel (16 pixels: 1152 cycles one element per beat) comes as 8
    window beats, one channel's 3x3 each; then conv0 bounds the network: its 8 filters per pixel leave
    one per beat (the result banks overlap a pass with the previous drain), 64 pixels. The other layers get only as many
    MACs as keep them under that."""
    fitted = fit_kernels(kernels["cnn"], load_board("zcu102"))
    assert fitted[1].in_simd == 9 and layer_interval(fitted[1]) < 72 * 16
    assert max(layer_interval(s) for s in fitted) == layer_interval(fitted[0]) == 64 * 8
    macs = lambda specs: sum(s.lanes * s.macs_per_lane for s in specs)  # noqa: E731
    assert macs(fitted) < macs(kernels["cnn"])


@pytest.mark.parametrize("max_util", [0.8, 0.3, 0.1])
def test_big_network_on_pynq_z2_respects_the_margin(max_util: float) -> None:
    specs = big_network()
    board = load_board("pynq-z2")
    fitted = fit_kernels(specs, board, max_util)
    check_fitted(specs, fitted, "pynq-z2", max_util)
    intervals = [layer_interval(s) for s in fitted]
    assert max(intervals) <= 2.0 * ideal_interval(specs, budget(board, max_util)["dsp"])
    # balanced: the layers' intervals are close to each other, not one fast layer and one slow one
    assert min(intervals) >= max(intervals) / 2


def test_tighter_margin_is_never_faster() -> None:
    board = load_board("pynq-z2")
    loose = fit_kernels(big_network(), board, 0.8)
    tight = fit_kernels(big_network(), board, 0.1)
    assert max(map(layer_interval, tight)) >= max(map(layer_interval, loose))
    assert design_resources(tight).dsp < design_resources(loose).dsp


def test_unconstrained_board_reaches_the_fastest_interval(kernels: dict[str, list[KernelSpec]]) -> None:
    specs = kernels["pruned"]
    fitted = fit_kernels(specs, load_board("generic-asic"))
    fastest = max(min(c.interval for c in candidates(s, "generic")) for s in specs)
    assert max(layer_interval(s) for s in fitted) == fastest


def test_cannot_fit_says_what_would(kernels: dict[str, list[KernelSpec]]) -> None:
    with pytest.raises(FitError) as info:
        fit_kernels(kernels["cnn"], load_board("pynq-z2"), 0.001)
    message = str(info.value)
    assert "does not fit board 'pynq-z2' at max_util 0.001" in message
    assert "smallest configuration" in message and "DSP 6/0" in message
    assert "it would fit with max_util 0.04" in message


def test_requested_lanes_too_many_for_the_board(kernels: dict[str, list[KernelSpec]]) -> None:
    board = load_board("pynq-z2")
    with pytest.raises(FitError, match=r"at 64 lanes: .* at most (\d+) lanes fit") as info:
        fit_kernels(kernels["mlp"], board, 0.1, lanes=64)
    found = re.search(r"at most (\d+) lanes fit", str(info.value))
    assert found is not None
    most = int(found.group(1))
    fitted = fit_kernels(kernels["mlp"], board, 0.1, lanes=most)
    assert [s.lanes for s in fitted] == [min(most, s.out_features) for s in fitted]
    check_fitted(kernels["mlp"], fitted, "pynq-z2", 0.1)


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, "0.8", True])
def test_bad_margin(kernels: dict[str, list[KernelSpec]], bad: object) -> None:
    with pytest.raises(FitError, match="max_util must be a number in"):
        fit_kernels(kernels["mlp"], load_board("zcu102"), bad)  # type: ignore[arg-type]


def test_lane_options_cover_every_pass_count() -> None:
    assert lane_options(10) == [1, 2, 3, 4, 5, 10]
    for out in (1, 7, 64, 100):
        passes = {math.ceil(out / lanes) for lanes in lane_options(out)}
        assert passes == {math.ceil(out / lanes) for lanes in range(1, out + 1)}


def test_interval_matches_compute_when_compute_bound() -> None:
    spec = make_spec(out=16, k_in=64, group=8, kept=8, lanes=1, macs=1)  # 16 passes × 64 cycles ≫ 64 beats
    assert layer_interval(spec) == spec.compute_cycles == 16 * 64
    assert np.array_equal(fit_kernels([spec], load_board("zcu102"))[0].weights.unpack()[0], spec.weights.unpack()[0])


def test_target_interval_gives_the_cheapest_design_that_reaches_it(kernels: dict[str, list[KernelSpec]]) -> None:
    board = load_board("zcu102")
    specs = kernels["pruned"]
    fastest = fit_kernels(specs, board)
    fastest_interval = max(map(layer_interval, fastest))
    target = 2 * fastest_interval
    cheap = fit_kernels(specs, board, target_interval=target)
    assert max(map(layer_interval, cheap)) <= target
    assert design_resources(cheap).dsp < design_resources(fastest).dsp
    # per layer: nothing within the target costs fewer DSPs (the fitter's cost on a board with ceilings
    # is the summed share, so compare the whole usage vector's share, as the fitter does)
    limits = budget(board, 0.8)
    for spec, got in zip(specs, cheap):
        share = lambda usage: sum(usage[k] / v for k, v in limits.items())  # noqa: E731
        mine = share(design_resources([got]).usage())
        within = [c for c in candidates(spec, board.yosys_family) if c.interval <= target]
        assert mine <= min(share(c.resources.usage()) for c in within) + 1e-12
    check_fitted(specs, cheap, "zcu102", 0.8)


def test_target_interval_below_the_floor_names_the_layer(kernels: dict[str, list[KernelSpec]]) -> None:
    with pytest.raises(FitError, match=r"layer '/fc0/Gemm' cannot reach an interval of 10 cycles: its fastest "
                                       r"configuration takes \d+ \(the network's floor is \d+\)"):
        fit_kernels(kernels["mlp"], load_board("zcu102"), target_interval=10)


def test_target_interval_over_budget_says_what_fits(kernels: dict[str, list[KernelSpec]]) -> None:
    board = load_board("pynq-z2")
    fastest_fit = max(map(layer_interval, fit_kernels(kernels["mlp"], board, 0.1)))
    floor = max(min(c.interval for c in candidates(s, "xc7")) for s in kernels["mlp"])
    assert floor < fastest_fit  # the board, not the layers, sets the interval at this margin
    with pytest.raises(FitError, match=rf"an interval of {floor} cycles does not fit board 'pynq-z2' at "
                                       rf"max_util 0.1: .*; the fastest design that fits has an interval of "
                                       rf"{fastest_fit} cycles"):
        fit_kernels(kernels["mlp"], board, 0.1, target_interval=floor)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64"])
def test_bad_target_interval(kernels: dict[str, list[KernelSpec]], bad: object) -> None:
    with pytest.raises(FitError, match="target_interval must be a positive integer"):
        fit_kernels(kernels["mlp"], load_board("zcu102"), target_interval=bad)  # type: ignore[arg-type]


def test_fixed_cost_of_the_top_is_paid_first(kernels: dict[str, list[KernelSpec]]) -> None:
    from hwprune.lower.resource_model import Estimate

    board = load_board("pynq-z2")
    limits = budget(board, 0.1)
    glue = Estimate(lut=2000, lutram=500, ff=3000)
    fitted = fit_kernels(kernels["cnn"], board, 0.1, fixed=glue)
    usage = (design_resources(fitted, "xc7") + glue).usage()
    assert all(usage[key] <= limit for key, limit in limits.items()), usage
    # the same budget without the glue buys a design at least as fast
    assert max(map(layer_interval, fit_kernels(kernels["cnn"], board, 0.1))) <= max(map(layer_interval, fitted))
    with pytest.raises(FitError, match=r"the network top alone \(FIFOs, stream stages\) needs .*LUT 6000/5320"):
        fit_kernels(kernels["cnn"], board, 0.1, fixed=Estimate(lut=6000))
    with pytest.raises(FitError, match=r"of which the network top's FIFOs and stream stages: DSP 0, BRAM18 0, "
                                       r"LUT 5000, FF 0\), over on LUT"):
        fit_kernels(kernels["cnn"], board, 0.1, fixed=Estimate(lut=5000))

"""Stream widths in the fitter (hwprune.lower.stream_widths, fit_kernels(links=…, ports=…)): the two
ends of a wide stream agree, the top's ends are wide only where a port kernel is named (up to the DMA
width), and widening pays off in the interval."""

from __future__ import annotations

import pytest

from hwprune.boards import load_board
from hwprune.lower.fitting import fit_kernels, layer_interval
from hwprune.lower.kernel_spec import stream_width_problem
from hwprune.lower.resource_model import budget, design_resources
from hwprune.lower.stream_widths import chains, cheapest_chain, port_width, width_pairs

from test_analytic import make_spec


def jet_like():
    """16-64-32-5 dense layers (the jet MLP's shape without one hidden layer), groups of 4."""
    return [make_spec(out=64, k_in=16, group=4, kept=4, lanes=1, macs=1, acc_bits=20),
            make_spec(out=32, k_in=64, group=4, kept=4, lanes=1, macs=1, acc_bits=22),
            make_spec(out=5, k_in=32, group=4, kept=4, lanes=1, macs=1, acc_bits=21)]


def test_chains_follow_the_links_and_refuse_a_kernel_with_two() -> None:
    assert chains(5, [(0, 1), (1, 2), (3, 4)]) == [[0, 1, 2], [3, 4]]
    assert chains(3, []) == [[0], [1], [2]]
    with pytest.raises(ValueError, match="two wide links"):
        chains(3, [(0, 1), (0, 2)])


def test_cheapest_chain_matches_the_widths_and_ends_at_one() -> None:
    cost = lambda option: (option,)  # noqa: E731
    options = [{(1, 1): 5, (1, 4): 1}, {(4, 1): 1, (1, 1): 9, (4, 2): 0}, {(2, 1): 7, (1, 1): 3}]
    # the cheap (4, 2) middle forces the 7 at the end: 1 + 0 + 7 = 8 > 1 + 1 + 3 = 5
    assert cheapest_chain(options, cost) == [1, 1, 3]
    assert cheapest_chain([{(1, 2): 0}], cost) is None  # a chain's last stream is the top's: width 1


def test_an_open_end_takes_any_width() -> None:
    cost = lambda option: (option,)  # noqa: E731
    options = [{(1, 1): 5, (4, 2): 1}, {(2, 8): 0, (2, 1): 3, (1, 1): 0}]
    assert cheapest_chain(options, cost) == [5, 0]  # both ends closed: (1, 1) twice
    assert cheapest_chain(options, cost, open_start=True) == [1, 3]  # in at 4, out at 1
    assert cheapest_chain(options, cost, open_start=True, open_end=True) == [1, 0]  # out at 8
    assert cheapest_chain(options, cost, open_end=True) == [5, 0]


def test_port_width_fits_the_dma() -> None:
    assert port_width(128, 8) == 16 and port_width(64, 8) == 8 and port_width(128, 16) == 8
    assert port_width(128, 8, limit=4) == 4 and port_width(32, 24) == 1 and port_width(512, 8) == 16


def test_width_pairs_are_what_the_engine_takes() -> None:
    spec = make_spec(out=24, k_in=64, group=8, kept=8, lanes=6, macs=4, acc_bits=20)
    pairs = width_pairs(spec, 16, 16)
    assert {i for i, _ in pairs} == {1, 2, 4, 8, 16}  # 16 = two groups per beat over 4 MAC units
    assert {o for _, o in pairs} == {1, 2}  # powers of two dividing the 6 lanes
    assert all(stream_width_problem(spec, i, o) is None for i, o in pairs)
    assert width_pairs(spec) == [(1, 1)] and {o for _, o in width_pairs(spec, 16, 1)} == {1}


@pytest.mark.parametrize("board_name", ["zcu102", "pynq-z2"])
def test_linked_layers_get_matching_widths_and_a_shorter_interval(board_name: str) -> None:
    board = load_board(board_name)
    narrow = fit_kernels(jet_like(), board)
    wide = fit_kernels(jet_like(), board, links=[(0, 1), (1, 2)])
    assert all(k.in_simd == 1 and k.out_pe == 1 for k in narrow)
    assert wide[0].in_simd == 1 and wide[-1].out_pe == 1  # the top's AXI ports: one element per beat
    assert [k.out_pe for k in wide[:-1]] == [k.in_simd for k in wide[1:]]
    slowest = lambda ks: max(layer_interval(k) for k in ks)  # noqa: E731
    assert slowest(wide) < slowest(narrow)
    usage, limits = design_resources(wide, board.yosys_family).usage(), budget(board, 0.8)
    assert all(usage[key] <= limit for key, limit in limits.items())
    ported = fit_kernels(jet_like(), board, links=[(0, 1), (1, 2)], ports=(0, 2))
    assert ported[0].in_simd <= board.dma_width_bits // 8  # 8-bit inputs, one byte lane each
    assert [k.out_pe for k in ported[:-1]] == [k.in_simd for k in ported[1:]]
    assert slowest(ported) <= slowest(wide)
    if board_name == "zcu102":  # stream-bound there: the wide input port pays off
        assert ported[0].in_simd > 1 and slowest(ported) < slowest(wide)


def test_a_target_interval_still_gives_the_cheapest_design_reaching_it() -> None:
    board = load_board("zcu102")
    fastest = fit_kernels(jet_like(), board, links=[(0, 1), (1, 2)])
    goal = 2 * max(layer_interval(k) for k in fastest)
    cheap = fit_kernels(jet_like(), board, links=[(0, 1), (1, 2)], target_interval=goal)
    assert max(layer_interval(k) for k in cheap) <= goal
    assert design_resources(cheap).usage()["dsp"] < design_resources(fastest).usage()["dsp"]


def test_stream_width_caps_the_widths_and_one_turns_them_off() -> None:
    from hwprune.config import CompileConfig
    from hwprune.errors import ConfigError

    board, links = load_board("zcu102"), [(0, 1), (1, 2)]
    off = fit_kernels(jet_like(), board, links=links, stream_width=1)
    assert [(k.in_simd, k.out_pe) for k in off] == [(k.in_simd, k.out_pe) for k in fit_kernels(jet_like(), board)]
    capped = fit_kernels(jet_like(), board, links=links, stream_width=4)
    assert max(max(k.in_simd, k.out_pe) for k in capped) <= 4
    for bad in (0, 3, 512, True):
        with pytest.raises(ConfigError, match="stream_width"):
            CompileConfig(stream_width=bad)


def test_compile_widens_the_digits_mlp_unless_told_not_to(tmp_path, examples_dir) -> None:
    """Through ``hwprune compile``: the digits MLP's two dense-to-dense streams get wide by default and
    stay one element per beat with ``--stream-width 1``; the kernels.json of a narrow kernel has no width keys."""
    import json
    import subprocess
    import sys

    widths = {}
    for width in ("16", "1"):
        out = tmp_path / f"w{width}"
        done = subprocess.run([sys.executable, "-m", "hwprune.cli", "compile", str(examples_dir / "mlp_digits.onnx"),
                               "--stop-after", "lower", "--stream-width", width, "-o", str(out)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        kernels = json.loads((out / "kernels.json").read_text())["kernels"]
        widths[width] = [(k.get("in_simd", 1), k.get("out_pe", 1)) for k in kernels]
    assert widths["1"] == [(1, 1)] * 3
    assert any(pair != (1, 1) for pair in widths["16"]) and widths["16"][0][0] > 1  # its input port is wide too

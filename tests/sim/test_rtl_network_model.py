"""The network plan and cycle model without a simulator, plus lint and reproducibility of the top:
why the flatten needs a reorder stage (against the integer reference), why the pacer bounds the
FIFOs, the FIFO sizing rule, and what a graph the top cannot stream gets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.rtl.emit import waiver_file
from hwprune.backends.rtl.network import check_timing
from hwprune.ir.types import IntType
from hwprune.lower.lowering import lower_graph
from hwprune.lower.network_cycles import (
    NetworkTiming,
    fifo_depth_needed,
    isolated_interval,
    network_schedule,
    network_timing,
)
from hwprune.lower.network_plan import NetworkPlan, NetworkUnsupported, plan_network, top_name
from hwprune.lower.stage_cycles import reorder_sources
from hwprune.quant.reference import run_integer
from hwprune.sim.bundle import emit_rtl
from hwprune.sim.golden import stream_order
from hwprune.sim.rtl_runner import tool_environment

from network_cases import one_node_graph, quantized

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def cnn(examples_dir: Path):
    graph = quantized(examples_dir, "cnn_digits.onnx")
    plan = plan_network(graph, lower_graph(graph), "cnn_digits_top")
    return graph, plan


def test_flatten_order_differs_from_the_stream_order(cnn) -> None:
    """The conv/pool stream is H·W·C, ONNX's flatten C·H·W: reinterpreting the stream would feed the
    dense layer permuted inputs; the reorder stage's read order is exactly the permutation."""
    graph, plan = cnn
    assert [s.kind for s in plan.stages] == ["kernel", "maxpool", "kernel", "maxpool", "reorder", "kernel"]
    x = np.random.default_rng(0).integers(0, 256, size=(16, 1, 8, 8))
    values = run_integer(graph, {plan.input_tensor: x}, keep_all=True)
    pooled, flat = values["/pool1/MaxPool_output_0"], values["/flatten/Flatten_output_0"]
    stream = stream_order(None, pooled)  # type: ignore[arg-type]  # what the pool stage puts out
    assert not np.array_equal(stream, flat)
    c, h, w = plan.stages[4].frame  # type: ignore[misc]
    assert np.array_equal(stream[:, reorder_sources(c, h, w)], flat)


def test_mlp_chain_is_kernels_only(examples_dir: Path) -> None:
    graph = quantized(examples_dir, "mlp_digits.onnx")
    plan = plan_network(graph, lower_graph(graph), "mlp_digits_top")
    assert [s.kind for s in plan.stages] == ["kernel"] * 3
    assert plan.input_tensor == "input/quantized" and plan.in_beats == 64 and plan.out_beats == 10
    data = json.loads(json.dumps(plan.to_dict()))
    assert NetworkPlan.from_dict(data).to_dict() == data


def test_pacer_keeps_the_fifos_bounded(cnn) -> None:
    graph, plan = cnn
    timing = network_timing(plan)
    assert timing.interval >= max(isolated_interval(s) for s in plan.stages)
    paced = [network_schedule(plan, timing, [[0] * plan.in_beats] * n) for n in (12, 40)]
    assert paced[0].fifo_needs() == paced[1].fifo_needs()
    assert all(need <= depth for need, depth in zip(paced[1].fifo_needs(), timing.fifo_depths))
    ends = [v[-1] for v in paced[1].outputs]
    assert {b - a for a, b in zip(ends[4:], ends[5:])} == {timing.interval}
    # without the pacer the conv0 → conv1 FIFOs grow with every frame: no finite depth is exact
    unpaced = [network_schedule(plan, 1, [[0] * plan.in_beats] * n).fifo_needs() for n in (6, 12)]
    assert max(unpaced[1]) > max(unpaced[0]) > max(timing.fifo_depths)


def test_fifo_depth_rule() -> None:
    assert fifo_depth_needed([], []) == 0
    assert fifo_depth_needed([0, 1, 2], [1, 2, 3]) == 2  # taken the cycle after: one in, one arriving
    assert fifo_depth_needed([0, 1, 2], [9, 10, 11]) == 3  # held until all three are in
    assert fifo_depth_needed([0, 5, 10], [1, 6, 11]) == 1


def test_unstreamable_graph_gets_no_top(examples_dir: Path, tmp_path: Path, capsys) -> None:
    transpose = one_node_graph("Transpose", {"perm": [0, 2, 3, 1]}, [1, 2, 3, 4], [1, 3, 4, 2], IntType(8, False))
    with pytest.raises(NetworkUnsupported, match="has no stream stage"):
        plan_network(transpose, [], "t_top")
    graph = quantized(examples_dir, "mlp_digits.onnx")
    emit_rtl(lower_graph(graph), tmp_path / "rtl", "mlp_digits.onnx")  # kernels only, no ir_quant.json
    manifest = json.loads((tmp_path / "rtl" / "manifest.json").read_text())
    assert "top" not in manifest["network"] and "no quantized graph" in manifest["network"]["skipped"]


def test_top_name_and_timing_checks(cnn) -> None:
    assert top_name("mlp_digits.onnx") == "mlp_digits_top"
    assert top_name("dir/../x.y.onnx", ["x_top"]) == "x_top_1"
    assert top_name("") == "network_top"
    _, plan = cnn
    with pytest.raises(ValueError, match="5 FIFOs need 5 depths, not 2"):
        check_timing(plan, NetworkTiming(100, (2, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        check_timing(plan, NetworkTiming(100, (2, 2, 1, 2, 2)))


def test_top_is_lint_clean_and_reproducible(examples_dir: Path, tmp_path: Path) -> None:
    graph = quantized(examples_dir, "cnn_digits.onnx")
    for name in ("a", "b"):
        emit_rtl(graph, tmp_path / name / "rtl", "cnn_digits.onnx")
    files = sorted(p.name for p in (tmp_path / "a" / "rtl").iterdir())
    assert "cnn_digits_top.v" in files and "network.json" in files
    for name in files:
        assert (tmp_path / "a" / "rtl" / name).read_bytes() == (tmp_path / "b" / "rtl" / name).read_bytes(), name
    entry = json.loads((tmp_path / "a" / "rtl" / "manifest.json").read_text())["network"]
    assert entry["verilog"][-1] == "cnn_digits_top.v"
    assert entry["widths"] == {"s_axis_tdata": 8, "m_axis_tdata": 8}
    sources = [str(tmp_path / "a" / "rtl" / v) for v in entry["verilog"]]
    with tool_environment():
        result = subprocess.run(["verilator", "--lint-only", "-Wall", str(waiver_file()), *sources],
                                capture_output=True, text=True)
    assert result.returncode == 0 and "%Warning" not in result.stderr, result.stderr[-3000:]
    text = (tmp_path / "a" / "rtl" / "cnn_digits_top.v").read_text()
    assert text.startswith("// Generated by hwprune")
    for port in ("s_axis_tdata", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast",
                 "m_axis_tdata", "m_axis_tvalid", "m_axis_tready", "m_axis_tlast"):
        assert port in text.splitlines()[5]  # the module header line

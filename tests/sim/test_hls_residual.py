"""HLS network tops of graphs that branch and merge, and of average pooling: g++ C-sim bit-exact vs run_integer.

The small torch models of ``hls_graph_models.py`` (residual blocks, Concats, average pools, hard
activations) go through PTQ, lowering and ``write_hls``; the C-sim runs VECTORS inputs (every fourth
beyond the calibrated range, so merges and requantisers saturate). Each test checks the testbench's
verdict, then the outputs it wrote against the reference independently, then what the DATAFLOW top is
made of: which library functions it calls and which FIFOs are deep (the skip FIFOs of
``hwprune/backends/hls/network.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.hls import HlsProject, write_hls
from hwprune.errors import UnsupportedOpError
from hwprune.ir.graph import Graph
from hwprune.lower.lowering import lower_graph
from hwprune.quant import run_integer
from hwprune.sim.csim import run_csim, to_stream, write_network_vectors

from hls_graph_models import inputs, quantized

pytestmark = pytest.mark.sim

VECTORS = 48
_CALL = re.compile(r"hwprune::(\w+)<.*?>\((\w+(?:, \w+)*)", re.S)
_DEPTH = re.compile(r"STREAM variable=(\w+) depth=(\d+)")


def _bit_exact(name: str, graph: Graph, tmp_path: Path) -> tuple[HlsProject, np.ndarray]:
    """Write, C-simulate and compare; returns the project and the expected outputs (stream order)."""
    project = write_hls(lower_graph(graph), graph, "zcu102", tmp_path / "hls")
    assert project.project == name and project.mode == "network"
    x = inputs(name, VECTORS, 1)
    assert write_network_vectors(project.root, graph, x) == VECTORS
    result = run_csim(project.root)
    assert result.passed, result.summary() + "\n" + "\n".join(result.failures)
    top = result.tops[name]
    assert top.vectors == VECTORS and top.failing == 0
    expected = to_stream(run_integer(graph, {graph.inputs[0]: x})[graph.outputs[0]])
    np.testing.assert_array_equal(top.actual, expected)
    return project, expected


def _tensor(graph: Graph, model: str, node: str) -> np.ndarray:
    """The reference's output of ``node`` on the test vectors (an intermediate the C-sim passed through)."""
    values = run_integer(graph, {graph.inputs[0]: inputs(model, VECTORS, 1)}, keep_all=True)
    return values[graph.node(node).outputs[0]]


def _top(project: HlsProject) -> tuple[list[tuple[str, list[str]]], dict[str, int]]:
    """(library calls with the streams they take, in order; stream -> depth) of the top function."""
    cpp = project.firmware.read_text()
    depths = {var: int(depth) for var, depth in _DEPTH.findall(cpp)}
    streams = {*depths, "x_in", "y_out"}
    calls = [(fn, [a for a in args.split(", ") if a in streams]) for fn, args in _CALL.findall(cpp)]
    return calls, depths


def _deep(project: HlsProject) -> dict[str, tuple[int, str]]:
    """Stream -> (depth, function reading it) for every stream deeper than 2."""
    calls, depths = _top(project)
    readers = {stream: fn for fn, streams in calls for stream in streams[:-1] if fn != "fork2"}
    readers.update({s: fn for fn, streams in calls if fn == "fork2" for s in streams[:1]})
    return {var: (depth, readers[var]) for var, depth in depths.items() if depth != 2}


def _functions(project: HlsProject) -> Counter[str]:
    return Counter(fn for fn, _ in _top(project)[0])


def _config(project: HlsProject, ident: str) -> str:
    header = (project.root / "firmware" / f"{project.project}.h").read_text()
    return header.split(f"struct {ident}_config {{", 1)[1].split("};", 1)[0]


def test_identity_residual_block(tmp_path: Path) -> None:
    """conv→conv + identity skip → Add with fused ReLU: one fork, the skip FIFO holds the whole tensor."""
    graph = quantized("identity")
    project, expected = _bit_exact("identity", graph, tmp_path)
    assert _functions(project) == {"conv2d": 3, "fork2": 1, "add2": 1}
    assert list(_deep(project).values()) == [(4 * 5 * 5, "add2")]  # the identity skip, into the Add
    assert "static const bool relu = true;" in _config(project, "Add")
    assert expected.min() == 0 and expected.max() == 255  # the Add's ReLU clamp and saturation both hit


def test_conv_shortcut_needs_no_deep_fifo(tmp_path: Path) -> None:
    """A 1x1 conv on the skip path: both fork readers buffer the frame, so every FIFO stays at depth 2;
    the Flatten after the Add folds into the Dense."""
    graph = quantized("conv_shortcut")
    project, _ = _bit_exact("conv_shortcut", graph, tmp_path)
    assert _functions(project) == {"conv2d": 4, "fork2": 1, "add2": 1, "dense": 1}
    assert _deep(project) == {}
    assert "static const int flatten_channels = 6;" in _config(project, "fc_Gemm")


def test_concat_of_branches(tmp_path: Path) -> None:
    """Concat(conv, conv+ReLU, stem) requantised per input (two concat2 links), then Concat(y, y) copied:
    three forks (the stem has three readers, y two), and the FIFOs into the Concats hold an inference."""
    graph = quantized("branches")
    project, _ = _bit_exact("branches", graph, tmp_path)
    assert _functions(project) == {"conv2d": 4, "fork2": 3, "concat2": 3}
    assert sorted(_deep(project).values()) == [(4 * 25, "concat2"), (12 * 25, "concat2"), (12 * 25, "concat2")]
    flags = [tuple(re.findall(r"bool requant_\w = (\w+);", _config(project, ident)))
             for ident in ("Concat", "Concat_link1", "Concat_1")]
    assert flags == [("true", "true"), ("false", "true"), ("false", "false")]
    assert _tensor(graph, "branches", "/Concat").max() == 127  # a requantised input saturated inside the Concat


def test_average_pools(tmp_path: Path) -> None:
    """AveragePool 2x2/2 on a signed map, 3x3/2 with padding (count_include_pad), GlobalAveragePool as the
    tail. Their multipliers are made 4x larger so the final requantisation saturates both ways."""
    graph = quantized("averages")
    for name in ("/AveragePool", "/GlobalAveragePool"):
        node = graph.node(name)
        node.attrs["requant_mult"] = [4 * int(node.attrs["requant_mult"][0])]
    project, expected = _bit_exact("averages", graph, tmp_path)
    assert _functions(project) == {"conv2d": 2, "avgpool2d": 2, "global_avgpool": 1}
    padded = _config(project, "AveragePool_1")
    assert "kernel_h = 3;" in padded and "stride_h = 2;" in padded and "pad_top = 1;" in padded
    assert expected.max() == 255
    first = _tensor(graph, "averages", "/AveragePool")
    assert first.min() == -128 and first.max() == 127  # the signed pool saturated both ways, upstream of the output


def test_hard_activations(tmp_path: Path) -> None:
    """conv → HardSwish → conv → HardSigmoid. The HardSigmoid's input range lies inside its linear part,
    so its offset is set to 0 and its multiplier made 8x larger: then it clamps at 0 and at qmax."""
    graph = quantized("hard_acts")
    node = graph.node("/HardSigmoid")
    node.attrs.update(offset=0, requant_mult=[8 * int(node.attrs["requant_mult"][0])])
    project, expected = _bit_exact("hard_acts", graph, tmp_path)
    assert _functions(project) == {"conv2d": 2, "hard_swish": 1, "hard_sigmoid": 1}
    assert expected.min() == 0 and expected.max() == 255


def test_graph_top_is_byte_identical_across_runs(tmp_path: Path) -> None:
    graph = quantized("branches")
    trees = []
    for run in range(2):
        root = write_hls(lower_graph(graph), graph, "zcu102", tmp_path / f"run{run}" / "hls").root
        trees.append({str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()})
    assert trees[0] == trees[1]
    assert "firmware/include/hwprune/merge.h" in trees[0] and "firmware/include/hwprune/average.h" not in trees[0]


def test_unsupported_op_names_the_node(tmp_path: Path) -> None:
    graph = quantized("transposed")
    with pytest.raises(UnsupportedOpError, match=r"node '/Transpose' \(Transpose\): has no HLS stage \(supported: "):
        write_hls(lower_graph(graph), graph, "zcu102", tmp_path / "hls")
    assert not (tmp_path / "hls").exists()  # nothing half-written


def test_concat_off_the_channel_axis_is_refused(tmp_path: Path) -> None:
    graph = quantized("branches")
    graph.node("/Concat_1").attrs["axis"] = 2
    with pytest.raises(UnsupportedOpError, match=r"node '/Concat_1' \(Concat\): only a Concat of two or more"):
        write_hls(lower_graph(graph), graph, "zcu102", tmp_path / "hls")

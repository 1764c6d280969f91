"""Constant/shape sub-graph folding, elementwise ops by constants, ReLU6, Pad and layout ops at import.

Each model is built in the test (``torch.onnx.export`` with a dynamic batch, as users export, or
``onnx.helper``); the float IR is compared with onnxruntime on seeded random batches, and the folds into
the quantization are checked on the integer reference (docs/numerics.md, "Folded into the quantizers").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx_builders as ob
import onnxruntime as ort
import pytest
import torch
from onnx import helper

from hwprune.errors import QuantizationError, UnsupportedOpError
from hwprune.frontend import import_onnx
from hwprune.frontend.onnx_fold import fold_constant_subgraphs, foldable_nodes
from hwprune.frontend.onnx_loader import load_onnx, node_names
from hwprune.ir.execute import run_float
from hwprune.ir.graph import Graph
from hwprune.quant import QuantSpec, quantize_graph, run_integer

BATCH = 3
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def ops_of(graph: Graph) -> list[str]:
    return [node.op for node in graph.nodes]


def _export(module: torch.nn.Module, shape: list[int], path: Path) -> Path:
    torch.manual_seed(0)
    with torch.no_grad():  # non-trivial BN statistics, so folding them is visible
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    torch.onnx.export(module.eval(), (torch.randn(1, *shape[1:]),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return path


def _feeds(shape: list[int], seed: int, batch: int = BATCH) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).uniform(0.0, 1.0, (batch, *shape[1:])).astype(np.float32)}


def check_float(path: Path, shape: list[int], seed: int = 0, atol: float = 1e-4) -> Graph:
    """Import ``path`` and assert the float IR equals onnxruntime on a random batch."""
    graph = import_onnx(path)
    feeds = _feeds(shape, seed)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = run_float(graph, feeds)
    for name, expected in zip(graph.outputs, want):
        np.testing.assert_allclose(got[name], expected, atol=atol, rtol=1e-4)
    return graph


class Block(torch.nn.Module):
    """MobileNetV2-like: input normalisation, expand 1x1 + BN + ReLU6, depthwise 3x3 + BN + ReLU6, linear
    projection + BN, residual, then ``x.view(x.size(0), -1)`` (Shape/Gather/Unsqueeze/Concat) and a Linear."""

    def __init__(self, channels: int = 3, hidden: int = 8, hw: int = 6, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.register_buffer("mean", torch.tensor(MEAN[:channels]).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(STD[:channels]).view(1, channels, 1, 1))
        nn = torch.nn
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6())
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
                                       nn.BatchNorm2d(hidden), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.fc = nn.Linear(channels * hw * hw, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        y = self.project(self.depthwise(self.expand(x)))
        x = x + y if self.residual else y
        return self.fc(x.view(x.size(0), -1))


SHAPE = [1, 3, 6, 6]


@pytest.fixture(scope="module")
def block_path(tmp_path_factory) -> Path:
    return _export(Block(), SHAPE, tmp_path_factory.mktemp("block") / "block.onnx")


def test_exported_block_has_the_subgraphs_to_fold(block_path):
    ops = {node.op_type for node in onnx.load(block_path).graph.node}
    assert {"Sub", "Div", "Clip", "Shape", "Gather", "Unsqueeze", "Concat"} <= ops


def test_mobilenet_block_imports_and_matches_onnxruntime(block_path):
    graph = check_float(block_path, SHAPE)
    assert ops_of(graph) == ["Add", "Mul", "Conv", "Conv", "Conv", "Add", "Reshape", "Dense"]
    relu6 = [node for node in graph.nodes if "clip_max" in node.attrs]
    assert [(n.attrs["activation"], n.attrs["clip_max"]) for n in relu6] == [("relu", 6.0), ("relu", 6.0)]


def test_folding_keeps_names_and_is_deterministic(block_path):
    first, second = load_onnx(block_path), load_onnx(block_path)
    assert first.SerializeToString() == second.SerializeToString()
    assert foldable_nodes(first) == []
    original = {node.name for node in onnx.load(block_path).graph.node}
    assert {node.name for node in first.graph.node} <= original


@pytest.mark.parametrize("example", ["mlp_digits.onnx", "cnn_digits.onnx"])
def test_a_graph_without_constant_subgraphs_is_left_as_it_is(examples_dir, example):
    model = onnx.shape_inference.infer_shapes(onnx.load(examples_dir / example), data_prop=True)
    assert foldable_nodes(model) == []
    assert fold_constant_subgraphs(model, example, node_names(model)) is model


def _quantized(path: Path, shape: list[int], seed: int = 1) -> tuple[Graph, Graph, dict[str, np.ndarray]]:
    graph = import_onnx(path)
    feeds = _feeds(shape, seed, batch=32)
    return graph, quantize_graph(graph, feeds, QuantSpec()), feeds


def test_input_normalisation_folds_into_the_input_quantizer(block_path):
    _, q, feeds = _quantized(block_path, SHAPE)
    quantize = q.nodes[0]
    assert quantize.op == "Quantize" and q.nodes[1].op == "Conv"
    np.testing.assert_allclose(quantize.attrs["pre_scale"], 1 / np.array(STD), rtol=1e-6)
    np.testing.assert_allclose(quantize.attrs["pre_offset"], -np.array(MEAN) / np.array(STD), rtol=1e-6)
    x = feeds["x"].astype(np.float64)
    normalised = (x - np.array(MEAN).reshape(1, 3, 1, 1)) / np.array(STD).reshape(1, 3, 1, 1)
    out = q.tensor(quantize.outputs[0])
    expected = np.clip(np.rint(normalised / quantize.attrs["scale"]), out.dtype.min, out.dtype.max)
    got = run_integer(q, feeds, keep_all=True)[quantize.outputs[0]]
    assert np.mean(got == expected) > 0.999 and np.abs(got - expected).max() <= 1


def test_clip_folded_kernel_computes_quantized_relu6(block_path):
    """The kernel's integer output is the quantized ReLU6 of its own accumulator: scale = 6 / 255, 0 and
    6 land on codes 0 and 255 exactly, and every code is the rounded clipped value (within the
    requantiser's 2^-15 multiplier error: at most 1 LSB on a few half-way values)."""
    _, q, feeds = _quantized(block_path, SHAPE)
    values = run_integer(q, feeds, keep_all=True)
    for node in (n for n in q.nodes if "clip_max" in n.attrs):
        out = q.tensor(node.outputs[0])
        assert out.dtype.bits == 8 and not out.dtype.signed and out.scale[0] * 255 == pytest.approx(6.0)
        x, w = (torch.as_tensor(values[node.inputs[0]] if i == 0 else q.tensor(name).data).double()
                for i, name in enumerate(node.inputs[:2]))
        acc = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1)) if any(node.attrs["pads"]) else x,
                                         w, groups=int(node.attrs["group"])).numpy()
        if len(node.inputs) > 2:
            acc = acc + np.asarray(q.tensor(node.inputs[2]).data).reshape(1, -1, 1, 1)
        acc_scale = np.asarray(q.tensor(node.inputs[1]).scale) * q.tensor(node.inputs[0]).scale[0]
        real = acc * acc_scale.reshape(1, -1, 1, 1)
        expected = np.clip(np.floor(np.clip(real, 0.0, 6.0) / out.scale[0] + 0.5), 0, 255)
        got = values[node.outputs[0]]
        assert np.abs(got - expected).max() <= 1 and np.mean(got == expected) > 0.99, node.name
        assert np.all(got[real >= 6.0] == 255) and np.all(got[real <= 0.0] == 0)


def test_integer_block_tracks_the_float_output(block_path):
    graph, q, feeds = _quantized(block_path, SHAPE)
    want = run_float(graph, feeds)[graph.outputs[0]]
    got = run_integer(q, feeds)[q.outputs[0]] * q.tensor(q.outputs[0]).scale[0]
    assert np.abs(got - want).max() < 0.1 * np.abs(want).max()


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwprune.cli", *args], capture_output=True, text=True, timeout=600,
                          check=False)


def test_compiled_block_reference_equals_the_in_process_quantization(tmp_path):
    """A block without the residual (the HLS network writer streams chains only), compiled by the CLI."""
    block_path = _export(Block(residual=False), SHAPE, tmp_path / "chain.onnx")
    calibration = tmp_path / "calibration.npz"
    feeds = _feeds(SHAPE, 1, batch=32)
    np.savez(calibration, x=feeds["x"])
    out = tmp_path / "build"
    result = _run_cli("compile", str(block_path), "--calibration", str(calibration), "--no-estimate", "-o", str(out))
    assert result.returncode == 0, result.stderr
    built = Graph.from_json((out / "ir_quant.json").read_text(encoding="utf-8"))
    q = quantize_graph(import_onnx(block_path), feeds, QuantSpec())
    test = _feeds(SHAPE, 7, batch=4)
    np.testing.assert_array_equal(run_integer(built, test)[built.outputs[0]], run_integer(q, test)[q.outputs[0]])
    assert [n.op for n in built.nodes][:2] == ["Quantize", "Conv"]
    manifest = json.loads((out / "rtl" / "manifest.json").read_text())
    assert len(manifest["kernels"]) == 4


# ---- onnx.helper models: ConstantOfShape, Pad, Squeeze/Unsqueeze, folds next to layers ------------------
def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _check_model(model: onnx.ModelProto, tmp_path: Path, shape: list[int]) -> Graph:
    return check_float(ob.save(model, tmp_path), shape)


def test_constant_of_shape_of_the_input_folds(tmp_path):
    """``Shape(x) → ConstantOfShape(2) → Mul(x, ·)``: a constant once the shape is static."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape0"),
             helper.make_node("ConstantOfShape", ["s"], ["twos"], name="fill0",
                              value=helper.make_tensor("v", onnx.TensorProto.FLOAT, [1], [2.0])),
             helper.make_node("Mul", ["x", "twos"], ["h"], name="mul0"),
             helper.make_node("Relu", ["h"], ["y"], name="relu0")]
    graph = _check_model(ob.make_model(nodes, {"x": ["N", 4]}), tmp_path, [1, 4])
    assert ops_of(graph) == ["Mul", "Relu"]


def test_range_cast_and_reshape_targets_fold(tmp_path):
    """A reshape target computed from constants (Range, Cast, Concat) becomes a constant target."""
    nodes = [helper.make_node("Constant", [], ["lim"], name="c0", value=helper.make_tensor("l", 7, [], [3])),
             helper.make_node("Constant", [], ["one"], name="c1", value=helper.make_tensor("o", 7, [], [1])),
             helper.make_node("Range", ["one", "lim", "one"], ["r"], name="range0"),  # [1, 2]
             helper.make_node("Cast", ["r"], ["rf"], name="cast0", to=onnx.TensorProto.FLOAT),
             helper.make_node("ReduceSum", ["rf"], ["sum"], name="sum0", keepdims=1),  # [3.0]
             helper.make_node("Cast", ["sum"], ["three"], name="cast1", to=onnx.TensorProto.INT64),
             helper.make_node("Concat", ["zero", "minus_one", "three"], ["target"], name="cat0", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape0")]
    model = ob.make_model(nodes, {"x": ["N", 6]}, {"zero": np.array([0], np.int64),
                                                  "minus_one": np.array([-1], np.int64)})
    graph = _check_model(model, tmp_path, [1, 6])
    assert ops_of(graph) == ["Reshape"] and graph.tensor("y").shape == [1, 2, 3]


def test_zero_pad_folds_into_the_conv(tmp_path):
    r = np.random.default_rng(0)
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad0", mode="constant"),
             helper.make_node("Conv", ["p", "w", "b"], ["y"], name="conv0", pads=[1, 0, 0, 1])]
    model = ob.make_model(nodes, {"x": ["N", 2, 5, 5]}, {"pads": pads, "w": f32(r, 3, 2, 3, 3), "b": f32(r, 3)})
    graph = _check_model(model, tmp_path, [1, 2, 5, 5])
    assert ops_of(graph) == ["Conv"] and graph.nodes[0].attrs["pads"] == [2, 2, 2, 2]


def test_zero_pad_folds_into_an_average_pool_counting_its_zeros(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad0"),
             helper.make_node("AveragePool", ["p"], ["y"], name="pool0", kernel_shape=[2, 2], strides=[2, 2])]
    model = ob.make_model(nodes, {"x": ["N", 2, 5, 5]}, {"pads": np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64)})
    graph = _check_model(model, tmp_path, [1, 2, 5, 5])
    assert ops_of(graph) == ["AveragePool"] and graph.nodes[0].attrs["count_include_pad"] == 1


def test_squeeze_unsqueeze_flatten_identity_dropout_are_layout_only(tmp_path):
    r = np.random.default_rng(1)
    nodes = [helper.make_node("Unsqueeze", ["x", "ax"], ["u"], name="unsq0"),
             helper.make_node("Identity", ["u"], ["i"], name="id0"),
             helper.make_node("Squeeze", ["i", "ax"], ["s"], name="sq0"),
             helper.make_node("Dropout", ["s"], ["d"], name="drop0"),
             helper.make_node("Flatten", ["d"], ["f"], name="flat0"),
             helper.make_node("Gemm", ["f", "w"], ["y"], name="fc0", transB=1)]
    model = ob.make_model(nodes, {"x": ["N", 4]}, {"ax": np.array([2], np.int64), "w": f32(r, 3, 4)})
    graph = _check_model(model, tmp_path, [1, 4])
    assert ops_of(graph) == ["Reshape", "Reshape", "Reshape", "Dense"]


@pytest.mark.parametrize("op", ["Mul", "Add", "Sub", "Div"])
def test_constant_after_a_layer_folds_into_its_weights(op, tmp_path):
    r = np.random.default_rng(2)
    c = r.uniform(0.5, 2.0, (1, 3, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["h"], name="conv0", pads=[1, 1, 1, 1]),
             helper.make_node(op, ["h", "c"], ["z"], name="op0"),
             helper.make_node("Relu", ["z"], ["y"], name="relu0")]
    model = ob.make_model(nodes, {"x": ["N", 2, 4, 4]}, {"w": f32(r, 3, 2, 3, 3), "b": f32(r, 3), "c": c})
    graph = _check_model(model, tmp_path, [1, 2, 4, 4])
    assert ops_of(graph) == ["Conv"] and graph.nodes[0].attrs["activation"] == "relu"


@pytest.mark.parametrize("op", ["Mul", "Add"])
def test_constant_before_a_layer_folds_into_its_weights(op, tmp_path):
    """Not at the graph input (that is the quantizer's): Dense → Relu → op(c per feature) → Dense."""
    r = np.random.default_rng(3)
    nodes = [helper.make_node("Gemm", ["x", "w0"], ["h"], name="fc0", transB=1),
             helper.make_node("Relu", ["h"], ["a"], name="relu0"),
             helper.make_node(op, ["a", "c"], ["z"], name="op0"),
             helper.make_node("Gemm", ["z", "w1", "b1"], ["y"], name="fc1", transB=1)]
    inits = {"w0": f32(r, 5, 4), "c": r.uniform(0.5, 2.0, 5).astype(np.float32), "w1": f32(r, 3, 5), "b1": f32(r, 3)}
    graph = _check_model(ob.make_model(nodes, {"x": ["N", 4]}, inits), tmp_path, [1, 4])
    assert ops_of(graph) == ["Dense", "Dense"]


def test_hard_sigmoid_and_hard_swish_run_in_float_and_in_integers(tmp_path):
    nn = torch.nn
    module = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Hardswish(), nn.Conv2d(4, 4, 1), nn.Hardsigmoid())
    path = _export(module, [1, 2, 5, 5], tmp_path / "hard.onnx")
    graph = check_float(path, [1, 2, 5, 5])
    assert ops_of(graph) == ["Conv", "HardSwish", "Conv", "HardSigmoid"]
    feeds = _feeds([1, 2, 5, 5], 4, batch=16)
    q = quantize_graph(graph, feeds, QuantSpec())
    floats = run_float(graph, feeds, keep_all=True)
    ints = run_integer(q, feeds, keep_all=True)
    for node in q.nodes[2::2]:
        out = q.tensor(node.outputs[0])
        error = np.abs(ints[node.outputs[0]] * out.scale[0] - floats[node.outputs[0]]).max()
        assert error <= 3 * out.scale[0], node.op  # input and output quantization, a few LSB


# ---- what cannot be folded: errors naming the node ------------------------------------------------------
def test_sub_of_two_activations_is_refused_by_node(tmp_path):
    model = ob.two_input_op("Sub", ["N", 4], ["N", 4])
    with pytest.raises(UnsupportedOpError, match=r"node 'sub0' \(Sub\): Sub of two activations is not supported"):
        import_onnx(ob.save(model, tmp_path))


def test_division_of_a_constant_by_an_activation_is_refused(tmp_path):
    model = ob.single_op("Div", ["N", 4], np.float32(2.0), const_first=True)
    with pytest.raises(UnsupportedOpError, match=r"node 'div0' \(Div\): dividing a constant by an activation"):
        import_onnx(ob.save(model, tmp_path))


def _conv_then(tmp_path: Path, node: onnx.NodeProto, inits: dict[str, np.ndarray]) -> Path:
    r = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], name="conv0", pads=[1, 1, 1, 1]), node]
    return ob.save(ob.make_model(nodes, {"x": ["N", 2, 4, 4]}, {"w": f32(r, 3, 2, 3, 3), **inits}), tmp_path)


def test_clip_with_a_negative_minimum_is_refused_at_quantization(tmp_path):
    path = _conv_then(tmp_path, helper.make_node("Clip", ["h", "lo", "hi"], ["y"], name="clip0"),
                      {"lo": np.float32(-1.0), "hi": np.float32(6.0)})
    graph = check_float(path, [1, 2, 4, 4])
    with pytest.raises(QuantizationError, match=r"node 'clip0' \(Clip\): Clip\(min=-1, max=6\) has no integer"):
        quantize_graph(graph, _feeds([1, 2, 4, 4], 0), QuantSpec())


def test_an_offset_that_cannot_fold_is_refused_with_the_reason(tmp_path):
    """A per-pixel offset (not one per channel) after a Conv fits neither weights nor bias."""
    path = _conv_then(tmp_path, helper.make_node("Add", ["h", "c"], ["y"], name="offset0"),
                      {"c": f32(np.random.default_rng(6), 1, 3, 4, 4)})
    graph = check_float(path, [1, 2, 4, 4])
    with pytest.raises(QuantizationError, match=r"node 'offset0' \(Add\): Add by a constant could not be folded"):
        quantize_graph(graph, _feeds([1, 2, 4, 4], 0), QuantSpec())


@pytest.mark.parametrize("case", ["sub-activations", "clip-negative-min"])
def test_cli_refuses_unfoldable_ops_with_exit_2_and_no_build(case, tmp_path):
    if case == "sub-activations":
        nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu0"),
                 helper.make_node("Sub", ["x", "a"], ["y"], name="sub0")]
        path, message = ob.save(ob.make_model(nodes, {"x": ["N", 4]}), tmp_path), "node 'sub0' (Sub)"
    else:
        path = _conv_then(tmp_path, helper.make_node("Clip", ["h", "lo", "hi"], ["y"], name="clip0"),
                          {"lo": np.float32(-1.0), "hi": np.float32(6.0)})
        message = "node 'clip0' (Clip): Clip(min=-1, max=6)"
    calibration = tmp_path / "calibration.npz"
    shape = ob.input_shapes(onnx.load(path), 4)["x"]
    np.savez(calibration, x=np.random.default_rng(0).uniform(size=shape).astype(np.float32))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "build"
    result = _run_cli("compile", str(path), "--calibration", str(calibration), "--no-estimate", "-o", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []


def test_hard_swish_compiles_to_a_stream_stage_in_rtl_and_hls(tmp_path):
    """HardSwish has an integer form, an RTL stream stage and an HLS stage: the whole build goes through."""
    nn = torch.nn
    module = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Hardswish(), nn.Flatten(), nn.Linear(100, 3))
    path = _export(module, [1, 2, 5, 5], tmp_path / "hswish.onnx")
    calibration = tmp_path / "calibration.npz"
    np.savez(calibration, x=_feeds([1, 2, 5, 5], 0, batch=8)["x"])
    out = tmp_path / "build"
    result = _run_cli("compile", str(path), "--calibration", str(calibration), "--no-estimate", "-o", str(out))
    assert result.returncode == 0, result.stderr
    plan = json.loads((out / "rtl" / "network.json").read_text())
    assert [s["kind"] for s in plan["plan"]["stages"]].count("hardswish") == 1
    assert "hwprune::hard_swish<" in (out / "hls" / "firmware" / "hswish.cpp").read_text()

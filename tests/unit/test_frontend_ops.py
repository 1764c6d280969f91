"""Every ONNX op the frontend supports, imported and run in float, against onnxruntime.

Each case builds a one-op (or one-idiom) model with ``onnx.helper``, imports it with ``import_onnx``
and runs the IR with ``run_float`` on a batch of 3; onnxruntime on the same file is the reference.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper

import onnx_builders as ob
from hwprune.frontend import import_onnx, import_torch
from hwprune.ir.execute import run_float
from hwprune.ir.graph import Graph

BATCH = 3


def _ort(path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def check(model: onnx.ModelProto, tmp_path, seed: int = 0, atol: float = 1e-5) -> Graph:
    """Import ``model`` and assert ``run_float`` equals onnxruntime on a seeded random batch."""
    path = ob.save(model, tmp_path)
    graph = import_onnx(path)
    feeds = ob.random_feeds(model, BATCH, seed)
    got = run_float(graph, feeds)
    want = _ort(path, feeds)
    assert len(graph.outputs) == len(want)
    for name, expected in zip(graph.outputs, want):
        assert got[name].shape == expected.shape, name
        np.testing.assert_allclose(got[name], expected, atol=atol, rtol=1e-5)
    return graph


def ops_of(graph: Graph) -> list[str]:
    return [node.op for node in graph.nodes]


def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# ---- cases: id → builder(rng) -> model ---------------------------------------------------------------
Builder = Callable[[np.random.Generator], onnx.ModelProto]
CASES: dict[str, Builder] = {}


def case(name: str, build: Builder) -> None:
    assert name not in CASES
    CASES[name] = build


for n_in, n_out in ((4, 3), (16, 10), (33, 1)):
    for tb in (0, 1):
        case(f"gemm-{n_in}x{n_out}-transB{tb}", lambda r, i=n_in, o=n_out, t=tb: ob.gemm(r, i, o, t, bias_shape=[o]))
    case(f"gemm-{n_in}x{n_out}-bias1xout",
         lambda r, i=n_in, o=n_out: ob.gemm(r, i, o, 1, bias_shape=[1, o]))
    case(f"gemm-{n_in}x{n_out}-alpha-beta",
         lambda r, i=n_in, o=n_out: ob.gemm(r, i, o, 0, alpha=0.5, beta=-2.0, bias_shape=[o]))
    case(f"gemm-{n_in}x{n_out}-nobias", lambda r, i=n_in, o=n_out: ob.gemm(r, i, o, 1))
    case(f"gemm-{n_in}x{n_out}-scalar-bias", lambda r, i=n_in, o=n_out: ob.gemm(r, i, o, 1, bias_shape=[]))
    case(f"gemm-{n_in}x{n_out}-bias1x1", lambda r, i=n_in, o=n_out: ob.gemm(r, i, o, 0, bias_shape=[1, 1]))

for shape in (["N", 8], ["N", 5, 8], ["N", 2, 3, 8]):
    key = "x".join(map(str, shape[1:]))
    case(f"matmul-const-{key}", lambda r, s=shape: ob.single_op("MatMul", s, f32(r, 8, 6)))
    case(f"matmul-add-{key}", lambda r, s=shape: ob.matmul_add(r, s, 6))
    case(f"matmul-add-bias-first-{key}", lambda r, s=shape: ob.matmul_add(r, s, 6, bias_first=True))
case("matmul-add-bias-1xout", lambda r: ob.matmul_add(r, ["N", 7], 5, bias_shape=[1, 5]))
case("matmul-activations-3d", lambda r: ob.two_input_op("MatMul", ["N", 4, 6], ["N", 6, 5]))
case("matmul-activations-4d", lambda r: ob.two_input_op("MatMul", ["N", 2, 4, 6], ["N", 2, 6, 3]))

for op in ("Add", "Mul"):
    k = op.lower()
    case(f"{k}-same", lambda r, o=op: ob.two_input_op(o, ["N", 4, 5], ["N", 4, 5]))
    case(f"{k}-broadcast-activation", lambda r, o=op: ob.two_input_op(o, ["N", 3, 4, 5], ["N", 3, 1, 1]))
    case(f"{k}-const-channel", lambda r, o=op: ob.single_op(o, ["N", 3, 4, 5], f32(r, 3, 1, 1)))
    case(f"{k}-const-row", lambda r, o=op: ob.single_op(o, ["N", 6], f32(r, 6)))
    case(f"{k}-const-scalar", lambda r, o=op: ob.single_op(o, ["N", 2, 6], np.float32(1.5)))
    case(f"{k}-const-first", lambda r, o=op: ob.single_op(o, ["N", 4, 5], f32(r, 1, 5), const_first=True))
    case(f"{k}-const-3d-on-4d", lambda r, o=op: ob.single_op(o, ["N", 2, 3, 4], f32(r, 2, 1, 4)))

for shape in (["N", 7], ["N", 3, 4, 5], [2, 6]):
    key = "x".join(map(str, shape))
    case(f"relu-{key}", lambda r, s=shape: ob.single_op("Relu", s))
    case(f"sigmoid-{key}", lambda r, s=shape: ob.single_op("Sigmoid", s))
    case(f"clip-min-max-{key}", lambda r, s=shape: ob.single_op("Clip", s, np.float32(-0.5), np.float32(0.7)))
    case(f"clip-min-only-{key}", lambda r, s=shape: ob.single_op("Clip", s, np.float32(-0.3)))
    case(f"clip-relu-{key}", lambda r, s=shape: ob.single_op("Clip", s, np.float32(0.0)))
    case(f"clip-relu6-{key}", lambda r, s=shape: ob.single_op("Clip", s, np.float32(0.0), np.float32(6.0)))
    case(f"clip-max-only-{key}", lambda r, s=shape: ob.single_op("Clip", s, None, np.float32(0.2)))
    case(f"clip-one-element-{key}", lambda r, s=shape: ob.single_op("Clip", s, np.array([-0.2], np.float32),
                                                                    np.array([0.4], np.float32)))
    case(f"identity-{key}", lambda r, s=shape: ob.single_op("Identity", s))
    case(f"dropout-{key}", lambda r, s=shape: ob.single_op("Dropout", s))

for shape in (["N", 3, 4, 5], ["N", 2, 6], ["N", 2, 1, 3, 2]):
    case(f"flatten-{'x'.join(map(str, shape[1:]))}", lambda r, s=shape: ob.single_op("Flatten", s, axis=1))
case("flatten-default-axis", lambda r: ob.single_op("Flatten", ["N", 3, 4]))
case("flatten-negative-axis", lambda r: ob.single_op("Flatten", ["N", 3, 4], axis=-2))
case("reshape-0-minus1", lambda r: ob.single_op("Reshape", ["N", 3, 4, 4], np.array([0, -1], np.int64)))
case("reshape-minus1-first", lambda r: ob.single_op("Reshape", ["N", 48], np.array([-1, 4, 12], np.int64)))
case("reshape-minus1-last", lambda r: ob.single_op("Reshape", ["N", 2, 24], np.array([0, 6, -1], np.int64)))
for shape in (["N", 3, 4, 5], ["N", 2, 5, 1], ["N", 1, 2, 7]):
    key = "x".join(map(str, shape[1:]))
    case(f"transpose-0231-{key}", lambda r, s=shape: ob.single_op("Transpose", s, perm=[0, 2, 3, 1]))
case("transpose-3d", lambda r: ob.single_op("Transpose", ["N", 4, 5], perm=[0, 2, 1]))


def _conv(r: np.random.Generator, c: int, o: int, hw: tuple[int, int], k: int, group: int = 1, bias: bool = True,
          **attrs: object) -> onnx.ModelProto:
    consts = [f32(r, o, c // group, k, k)] + ([f32(r, o)] if bias else [])
    return ob.single_op("Conv", ["N", c, *hw], *consts, group=group, **attrs)


CONV = {
    "k1": dict(c=3, o=4, hw=(5, 5), k=1),
    "k3-pad1": dict(c=3, o=5, hw=(7, 6), k=3, pads=[1, 1, 1, 1]),
    "k5-pad2": dict(c=2, o=3, hw=(9, 9), k=5, pads=[2, 2, 2, 2]),
    "k3-stride2": dict(c=3, o=4, hw=(8, 7), k=3, strides=[2, 2]),
    "k3-stride2-pad1": dict(c=2, o=4, hw=(9, 8), k=3, strides=[2, 2], pads=[1, 1, 1, 1]),
    "k3-stride-2x1": dict(c=2, o=4, hw=(9, 8), k=3, strides=[2, 1]),
    "k3-asym-pads": dict(c=2, o=3, hw=(6, 6), k=3, pads=[0, 1, 2, 1]),
    "k3-asym-pads-stride2": dict(c=2, o=3, hw=(7, 6), k=3, strides=[2, 2], pads=[1, 0, 0, 2]),
    "k3-dilation2": dict(c=2, o=3, hw=(9, 9), k=3, dilations=[2, 2]),
    "k3-dilation2-pad2": dict(c=2, o=3, hw=(8, 8), k=3, dilations=[2, 2], pads=[2, 2, 2, 2]),
    "k3-group2": dict(c=4, o=6, hw=(6, 6), k=3, group=2, pads=[1, 1, 1, 1]),
    "k3-depthwise": dict(c=4, o=4, hw=(6, 5), k=3, group=4, pads=[1, 1, 1, 1]),
    "k3-depthwise-x2": dict(c=3, o=6, hw=(6, 6), k=3, group=3),
    "k3-same-upper": dict(c=2, o=3, hw=(7, 6), k=3, auto_pad="SAME_UPPER"),
    "k3-same-upper-stride2": dict(c=2, o=3, hw=(7, 6), k=3, auto_pad="SAME_UPPER", strides=[2, 2]),
    "k4-same-upper": dict(c=2, o=3, hw=(6, 6), k=4, auto_pad="SAME_UPPER"),
    "k2-same-lower": dict(c=2, o=3, hw=(5, 6), k=2, auto_pad="SAME_LOWER"),
    "k3-valid": dict(c=2, o=3, hw=(6, 6), k=3, auto_pad="VALID"),
    "k3-no-bias": dict(c=3, o=4, hw=(6, 6), k=3, bias=False),
}
for key, kwargs in CONV.items():
    case(f"conv-{key}", lambda r, kw=kwargs: _conv(r, **kw))  # type: ignore[arg-type]

POOL = {
    "max-k2": ("MaxPool", [1, 3, 6, 6], dict(kernel_shape=[2, 2], strides=[2, 2])),
    "max-k3-s1": ("MaxPool", [1, 2, 7, 6], dict(kernel_shape=[3, 3])),
    "max-k3-s2-pad1": ("MaxPool", [1, 2, 7, 7], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "max-k2-asym-pad": ("MaxPool", [1, 2, 5, 5], dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])),
    "max-k2-ceil": ("MaxPool", [1, 2, 7, 5], dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    "max-k3-s2-ceil": ("MaxPool", [1, 2, 8, 8], dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    "max-k3-s2-pad1-ceil": ("MaxPool", [1, 2, 8, 6],
                            dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    "avg-k2": ("AveragePool", [1, 3, 6, 6], dict(kernel_shape=[2, 2], strides=[2, 2])),
    "avg-k3-pad1-exclude": ("AveragePool", [1, 2, 6, 5],
                            dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0)),
    "avg-k3-pad1-include": ("AveragePool", [1, 2, 6, 5],
                            dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)),
    "avg-k3-s2-pad1-include": ("AveragePool", [1, 2, 7, 7],
                               dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    "avg-k2-s1": ("AveragePool", [1, 2, 5, 4], dict(kernel_shape=[2, 2])),
    "avg-asym-pads-exclude": ("AveragePool", [1, 2, 5, 5], dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])),
    "avg-asym-pads-include": ("AveragePool", [1, 2, 5, 6],
                              dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 2, 1], count_include_pad=1)),
    "avg-same-upper": ("AveragePool", [1, 2, 7, 7], dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")),
    "avg-pad-over-half-kernel": ("AveragePool", [1, 2, 5, 5], dict(kernel_shape=[3, 3], pads=[2, 2, 2, 2])),
    "avg-ceil-exclude": ("AveragePool", [1, 2, 7, 5], dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    "avg-ceil-pad-include": ("AveragePool", [1, 2, 8, 8], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                                               ceil_mode=1, count_include_pad=1)),
    # ceil_mode windows that would start in the end padding are dropped (output 3x3, not 4x4)
    "max-ceil-window-in-end-pad": ("MaxPool", [1, 1, 5, 5],
                                   dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    "avg-ceil-window-in-end-pad": ("AveragePool", [1, 1, 5, 5],
                                   dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
}
for key, (op, shape, attrs) in POOL.items():
    case(f"pool-{key}", lambda r, o=op, s=["N", *shape[1:]], a=attrs: ob.single_op(o, s, **a))
# ONNX shape inference sizes this pool 4x4 (onnxruntime: 3x3); the Reshape must follow the IR's shape
case("pool-ceil-then-reshape", lambda r: ob.make_model(
    [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
     helper.make_node("Reshape", ["p", "s"], ["y"])], {"x": ["N", 2, 5, 5]}, {"s": np.array([0, -1], np.int64)}))
for shape in (["N", 3, 5, 5], ["N", 1, 4, 7], [2, 6, 2, 3]):
    case(f"gap-{'x'.join(map(str, shape))}", lambda r, s=shape: ob.single_op("GlobalAveragePool", s))

for shape in (["N", 3, 4, 5], ["N", 4], ["N", 2, 6]):
    c = shape[1]
    case(f"bn-input-{'x'.join(map(str, shape[1:]))}", lambda r, s=shape, c=c: ob.single_op(
        "BatchNormalization", s, r.uniform(0.5, 1.5, c).astype(np.float32), f32(r, c), f32(r, c),
        r.uniform(0.5, 2.0, c).astype(np.float32), epsilon=1e-3))

for axis in (1, -1, -2):
    case(f"concat-axis{axis}", lambda r, a=axis: ob.two_input_op("Concat", ["N", 3, 4], ["N", 3, 4], axis=a))
case("concat-4d-channels", lambda r: ob.two_input_op("Concat", ["N", 2, 3, 3], ["N", 5, 3, 3], axis=1))
case("concat-4d-negative", lambda r: ob.two_input_op("Concat", ["N", 2, 3, 3], ["N", 2, 3, 2], axis=-1))

for shape in (["N", 10], ["N", 3, 7], ["N", 2, 3, 4]):
    key = "x".join(map(str, shape[1:]))
    case(f"softmax-last-{key}", lambda r, s=shape: ob.single_op("Softmax", s, axis=-1))
    case(f"softmax-axis1-{key}", lambda r, s=shape: ob.single_op("Softmax", s, axis=1))
    d = shape[-1]
    case(f"layernorm-{key}", lambda r, s=shape, d=d: ob.single_op(
        "LayerNormalization", s, f32(r, d), f32(r, d), axis=-1, epsilon=1e-5))
    case(f"layernorm-no-bias-{key}", lambda r, s=shape, d=d: ob.single_op(
        "LayerNormalization", s, f32(r, d), axis=-1))
    case(f"gelu-opset20-{key}", lambda r, s=shape: ob.single_op("Gelu", s, opset=20))
    case(f"gelu-opset20-tanh-{key}", lambda r, s=shape: ob.single_op("Gelu", s, opset=20, approximate="tanh"))
case("layernorm-axis-2-of-3", lambda r: ob.single_op("LayerNormalization", ["N", 3, 4], f32(r, 3, 4), axis=1))


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_onnxruntime(name, tmp_path):
    seed = sum(map(ord, name))
    model = CASES[name](np.random.default_rng(seed))
    graph = check(model, tmp_path, seed=seed)
    graph.verify()


# ---- structure of what the frontend emits ------------------------------------------------------------
@pytest.mark.parametrize("op", ["Identity", "Dropout"])
def test_identity_and_dropout_are_removed(op, tmp_path):
    x = ["N", 4]
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu0"), helper.make_node(op, ["a"], ["b"], name="p"),
             helper.make_node("Sigmoid", ["b"], ["y"], name="sig0")]
    graph = check(ob.make_model(nodes, {"x": x}), tmp_path)
    assert ops_of(graph) == ["Relu", "Sigmoid"]


@pytest.mark.parametrize("conv_bias", [True, False])
@pytest.mark.parametrize("hw", [5, 8])
def test_batchnorm_after_conv_is_folded(conv_bias, hw, tmp_path):
    graph = check(ob.conv_bn(np.random.default_rng(hw), 3, 4, hw, conv_bias), tmp_path, atol=2e-5)
    assert ops_of(graph) == ["Conv"]
    assert len(graph.nodes[0].inputs) == 3


def test_batchnorm_on_graph_input_is_mul_add(tmp_path):
    r = np.random.default_rng(5)
    model = CASES["bn-input-3x4x5"](r)
    graph = check(model, tmp_path)
    assert ops_of(graph) == ["Mul", "Add"]


def _bn_after(op: str, x_shape: list, r: np.random.Generator) -> onnx.ModelProto:
    c = 4
    inits = {"w": f32(r, x_shape[-1], c), "g": r.uniform(0.5, 2, c).astype(np.float32), "b": f32(r, c),
             "m": f32(r, c), "v": r.uniform(0.5, 2, c).astype(np.float32)}
    nodes = [helper.make_node(op, ["x", "w"], ["h"], name="fc"),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["y"], name="bn")]
    return ob.make_model(nodes, {"x": x_shape}, inits)


def test_batchnorm_after_gemm_is_folded(tmp_path):
    graph = check(_bn_after("Gemm", ["N", 3], np.random.default_rng(0)), tmp_path)
    assert ops_of(graph) == ["Dense"]


def test_batchnorm_after_3d_matmul_is_not_folded(tmp_path):
    """BN normalises axis 1 (here the 4 rows), not the Dense's 4 output features: folding would be wrong."""
    graph = check(_bn_after("MatMul", ["N", 4, 3], np.random.default_rng(0)), tmp_path)
    assert ops_of(graph) == ["Dense", "Mul", "Add"]


def test_matmul_add_is_one_dense_with_bias(tmp_path):
    graph = check(ob.matmul_add(np.random.default_rng(0), ["N", 5, 8], 6), tmp_path)
    assert ops_of(graph) == ["Dense"] and len(graph.nodes[0].inputs) == 3


def test_matmul_of_activations_stays_matmul(tmp_path):
    graph = check(ob.two_input_op("MatMul", ["N", 4, 6], ["N", 6, 5]), tmp_path)
    assert ops_of(graph) == ["MatMul"]


@pytest.mark.parametrize("half_first", [False, True])
@pytest.mark.parametrize("scale", ["div", "mul", "mul_first"])
@pytest.mark.parametrize("shape", [["N", 9], ["N", 3, 5]])
def test_gelu_erf_pattern_becomes_one_gelu(half_first, scale, shape, tmp_path):
    graph = check(ob.gelu_erf(shape, half_first=half_first, scale=scale), tmp_path)
    assert ops_of(graph) == ["Gelu"]
    assert graph.nodes[0].attrs["approximate"] == "none"


def test_gelu_pattern_keeps_a_shared_half(tmp_path):
    """If ``x * 0.5`` is also read elsewhere it must stay in the graph (its reader would dangle)."""
    gelu = ob.gelu_erf(["N", 6], half_first=True)
    nodes = [*gelu.graph.node, helper.make_node("Relu", ["h"], ["y2"], name="relu_h")]
    inits = {t.name: numpy_helper.to_array(t) for t in gelu.graph.initializer}
    graph = check(ob.make_model(nodes, {"x": ["N", 6]}, inits, outputs=("y", "y2")), tmp_path)
    assert sorted(ops_of(graph)) == ["Gelu", "Mul", "Relu"]


def test_made_up_names_do_not_take_onnx_names(tmp_path):
    """The Gemm's transposed weight would be 'fc/weight', and the BN's Mul 'bn/scale': both are ONNX names."""
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="fc"),
             helper.make_node("Sigmoid", ["h"], ["fc/weight"], name="sig"),
             helper.make_node("BatchNormalization", ["fc/weight", "g", "b", "m", "v"], ["z"], name="bn"),
             helper.make_node("Relu", ["z"], ["y"], name="bn/scale")]
    inits = {"w": f32(np.random.default_rng(0), 4, 3), **{k: np.full(3, 1.5, np.float32) for k in "gbmv"}}
    graph = check(ob.make_model(nodes, {"x": ["N", 4]}, inits), tmp_path)
    assert [n.name for n in graph.nodes][1:] == ["sig", "bn/scale_1", "bn/shift", "bn/scale"]


def test_clip_to_zero_is_relu(tmp_path):
    graph = check(ob.single_op("Clip", ["N", 5], np.float32(0.0)), tmp_path)
    assert ops_of(graph) == ["Relu"]


def test_dense_relu_is_fused(tmp_path):
    r = np.random.default_rng(3)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    graph = check(ob.make_model(nodes, {"x": ["N", 6]}, {"w": f32(r, 4, 6), "b": f32(r, 4)}), tmp_path)
    assert ops_of(graph) == ["Dense"] and graph.nodes[0].attrs["activation"] == "relu"


# ---- torch modules and the bundled examples -------------------------------------------------------------
class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 6, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(6)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc1 = torch.nn.Linear(6 * 4 * 4, 16)
        self.gelu = torch.nn.GELU()
        self.fc2 = torch.nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc2(self.gelu(self.fc1(torch.flatten(x, 1))))


def test_import_torch_matches_torch():
    torch.manual_seed(0)
    net = _Net()
    with torch.no_grad():  # non-trivial running statistics so the BN fold is exercised
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
        net.bn.weight.uniform_(0.5, 1.5)
        net.bn.bias.uniform_(-0.5, 0.5)
    net.eval()
    graph = import_torch(net, torch.randn(1, 1, 8, 8))
    assert ops_of(graph) == ["Conv", "MaxPool", "Reshape", "Dense", "Gelu", "Dense"]
    assert graph.nodes[0].attrs["activation"] == "relu"
    x = torch.randn(BATCH, 1, 8, 8)
    got = run_float(graph, {graph.inputs[0]: x.numpy()})[graph.outputs[0]]
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["mlp_digits.onnx", "cnn_digits.onnx"])
def test_examples_match_onnxruntime(name, examples_dir, digits):
    path = examples_dir / name
    graph = import_onnx(path)
    shape = graph.tensor(graph.inputs[0]).shape[1:]
    x = digits.x_test[:64].reshape([-1, *shape])
    got = run_float(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    (want,) = _ort(path, {graph.inputs[0]: x})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    assert (got.argmax(1) == digits.y_test[:64]).mean() > 0.8

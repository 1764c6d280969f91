"""Fuzzing the frontend: random valid graphs against onnxruntime, random and mutated bytes at the loader.

Three targets, all bounded and derandomized so CI is reproducible (each prints how many cases it tried):

- ``test_random_graphs_match_onnxruntime``: hypothesis builds small valid ONNX graphs from the
  supported ops; the float path must equal onnxruntime within 1e-4 and PTQ + the integer reference
  must run or raise ``QuantizationError``.
- ``test_random_bytes_*`` / ``test_mutated_*``: arbitrary bytes, byte-level mutations of valid models
  and structure-aware mutations of their protobuf must end in a graph or an ``HwpruneError`` (and an
  accepted graph must run in float), never another exception or a numpy warning.

Longer runs (nothing but this file reads the variable)::

    HWPRUNE_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -q -s -p no:randomly tests/unit/test_fuzz_frontend.py

``HWPRUNE_FUZZ_EXAMPLES`` is the number of cases per target (default 1000, about 12 s in all); add
``HWPRUNE_FUZZ_RANDOM=1``
to draw fresh cases instead of the fixed derandomized sequence.
"""

from __future__ import annotations

import math
import os
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from hwprune.errors import HwpruneError, QuantizationError
from hwprune.frontend import import_onnx_model
from hwprune.frontend.onnx_loader import load_onnx_bytes
from hwprune.ir.execute import run_float
from hwprune.quant import QuantSpec, quantize_graph, run_integer

EXAMPLES = int(os.environ.get("HWPRUNE_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=10_000,  # ms per case: the first one pays for imports
    derandomize=os.environ.get("HWPRUNE_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
OPSET = 17
BATCH = 3
TOLERANCE = 1e-4
CASES_TRIED: dict[str, int] = {}


def _count(target: str) -> None:
    CASES_TRIED[target] = CASES_TRIED.get(target, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _print_case_counts():
    yield
    for target, count in sorted(CASES_TRIED.items()):
        print(f"\nfuzz {target}: {count} cases tried")


# ---- random valid graphs --------------------------------------------------------------------------------
@dataclass
class Builder:
    """An ONNX graph under construction; ``shapes`` come from ONNX shape inference after each node."""

    draw: Callable
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: dict[str, np.ndarray] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)
    inputs: dict[str, list[int]] = field(default_factory=dict)
    inner: set[str] = field(default_factory=set)
    count: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, stem: str, value: np.ndarray) -> str:
        name = self.fresh(stem)
        self.inits[name] = np.asarray(value)
        return name

    def weights(self, *shape: int, fan_in: int = 1) -> np.ndarray:
        return (self.rng.standard_normal(shape) / math.sqrt(max(1, fan_in))).astype(np.float32)

    def model(self, outputs: list[str], batch: int | str = 1) -> onnx.ModelProto:
        """The graph so far with ``outputs``, shape-inferred; ``batch="N"`` makes the batch dynamic."""
        graph = helper.make_graph(
            self.nodes, "fuzz",
            [helper.make_tensor_value_info(k, TensorProto.FLOAT, [batch, *v[1:]]) for k, v in self.inputs.items()],
            [helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in outputs],
            initializer=[numpy_helper.from_array(v, k) for k, v in self.inits.items()],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 9
        return onnx.shape_inference.infer_shapes(model, strict_mode=True)

    def add(self, op: str, inputs: list[str], stem: str = "t", **attrs: object) -> str:
        out = self.fresh(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.fresh(op.lower()), **attrs))
        inferred = self.model([out])
        value = inferred.graph.output[0]
        self.shapes[out] = [d.dim_value for d in value.type.tensor_type.shape.dim]
        return out


def _same_rank(b: Builder, shape: list[int], axis: int) -> list[str]:
    """Tensors that can be concatenated with ``shape`` along ``axis``."""
    return [n for n, s in b.shapes.items() if n not in b.inner
            and len(s) == len(shape) and all(a == c for i, (a, c) in enumerate(zip(s, shape)) if i != axis)]


def _step_any(b: Builder, x: str) -> str:
    shape = b.shapes[x]
    rank = len(shape)
    choices = ["relu", "sigmoid", "clip", "add_const", "mul_const", "add_tensor", "concat", "softmax", "gelu_erf"]
    if rank == 2:
        choices += ["gemm", "matmul", "matmul_add", "batchnorm", "layernorm"]
    if rank == 3:
        choices += ["matmul", "transpose", "self_matmul", "layernorm"]
    if rank == 4:
        choices += ["conv", "conv", "maxpool", "avgpool", "gap", "flatten", "reshape", "transpose", "batchnorm",
                    "conv_bn"]
    kind = b.draw(st.sampled_from(choices))
    if kind in ("relu", "sigmoid"):
        return b.add(kind.capitalize(), [x])
    if kind == "clip":
        lo = b.draw(st.sampled_from([None, 0.0, -0.5]))
        hi = b.draw(st.sampled_from([None, 1.0, 6.0]))
        ins = [x, b.const("lo", np.array(lo, np.float32)) if lo is not None else "",
               b.const("hi", np.array(hi, np.float32)) if hi is not None else ""]
        while ins and ins[-1] == "":
            ins.pop()
        return b.add("Clip", ins)
    if kind in ("add_const", "mul_const"):
        form = b.draw(st.sampled_from(["scalar", "last", "full", "channel"]))
        if form == "scalar":
            value = b.weights(1)
        elif form == "last":
            value = b.weights(shape[-1])
        elif form == "channel" and rank >= 2:
            value = b.weights(shape[1], *[1] * (rank - 2))
        else:
            value = b.weights(*shape[1:])
        op = "Add" if kind == "add_const" else "Mul"
        ins = [x, b.const("c", value)]
        return b.add(op, ins[::-1] if b.draw(st.booleans()) else ins)
    if kind == "add_tensor":
        same = [n for n, s in b.shapes.items() if s == shape and n not in b.inner]
        other = b.draw(st.sampled_from(same))
        return b.add(b.draw(st.sampled_from(["Add", "Mul"])), [x, other])
    if kind == "concat":
        axis = b.draw(st.integers(1, rank - 1))
        other = b.draw(st.sampled_from(_same_rank(b, shape, axis)))
        return b.add("Concat", [x, other], axis=axis)
    if kind == "softmax":
        return b.add("Softmax", [x], axis=b.draw(st.sampled_from([-1, 1])))
    if kind == "gelu_erf":  # the idiom's inner tensors must stay inner, or it is no GELU any more
        s = b.add("Div", [x, b.const("sqrt2", np.array(math.sqrt(2), np.float32))])
        e = b.add("Erf", [s])
        a = b.add("Add", [e, b.const("one", np.array(1.0, np.float32))])
        m = b.add("Mul", [x, a])
        for inner in (s, e, a, m):
            b.inner.add(inner)
        return b.add("Mul", [m, b.const("half", np.array(0.5, np.float32))])
    if kind == "gemm":
        n_out = b.draw(st.integers(1, 8))
        trans_b = b.draw(st.booleans())
        w = b.weights(*((n_out, shape[1]) if trans_b else (shape[1], n_out)), fan_in=shape[1])
        ins = [x, b.const("w", w)]
        if b.draw(st.booleans()):
            ins.append(b.const("b", b.weights(b.draw(st.sampled_from([1, n_out])))))
        alpha = b.draw(st.sampled_from([1.0, 0.5]))
        return b.add("Gemm", ins, transB=int(trans_b), alpha=alpha, beta=b.draw(st.sampled_from([1.0, 2.0])))
    if kind in ("matmul", "matmul_add"):
        n_out = b.draw(st.integers(1, 8))
        y = b.add("MatMul", [x, b.const("w", b.weights(shape[-1], n_out, fan_in=shape[-1]))])
        if kind == "matmul_add":
            y = b.add("Add", [y, b.const("b", b.weights(n_out))])
        return y
    if kind == "self_matmul":
        t = b.add("Transpose", [x], perm=[0, 2, 1])
        return b.add("MatMul", [x, t])
    if kind == "transpose":
        perms = {3: [[0, 2, 1], [0, 1, 2]], 4: [[0, 1, 3, 2], [0, 2, 3, 1], [0, 3, 1, 2]]}[rank]
        return b.add("Transpose", [x], perm=b.draw(st.sampled_from(perms)))
    if kind in ("batchnorm", "conv_bn"):
        if kind == "conv_bn":
            x = b.add("Conv", [x, b.const("w", b.weights(shape[1], shape[1], 1, 1, fan_in=shape[1]))])
        c = shape[1]
        params = [b.const("g", 1 + 0.5 * b.weights(c)), b.const("beta", b.weights(c)), b.const("mean", b.weights(c)),
                  b.const("var", (0.5 + b.rng.random(c)).astype(np.float32))]
        return b.add("BatchNormalization", [x, *params], epsilon=1e-3)
    if kind == "layernorm":
        ins = [x, b.const("s", 1 + 0.5 * b.weights(shape[-1]))]
        if b.draw(st.booleans()):
            ins.append(b.const("b", b.weights(shape[-1])))
        return b.add("LayerNormalization", ins, axis=-1, epsilon=1e-5)
    if kind == "conv":
        c, h, w = shape[1], shape[2], shape[3]
        k = b.draw(st.integers(1, min(3, h, w)))
        group = b.draw(st.sampled_from([1, c]))
        c_out = b.draw(st.integers(1, 3)) * group
        attrs: dict[str, object] = {"kernel_shape": [k, k], "strides": [b.draw(st.integers(1, 2))] * 2,
                                    "group": group}
        if b.draw(st.booleans()):
            attrs["pads"] = [b.draw(st.integers(0, k - 1)) for _ in range(4)]
        elif k > 1 and b.draw(st.booleans()):
            attrs["auto_pad"] = b.draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER", "VALID"]))
        if k > 1 and "auto_pad" not in attrs and b.draw(st.booleans()) and min(h, w) >= 2 * k - 1:
            attrs["dilations"] = [2, 2]
        ins = [x, b.const("w", b.weights(c_out, c // group, k, k, fan_in=c // group * k * k))]
        if b.draw(st.booleans()):
            ins.append(b.const("b", b.weights(c_out)))
        return b.add("Conv", ins, **attrs)
    if kind in ("maxpool", "avgpool"):
        h, w = shape[2], shape[3]
        k = b.draw(st.integers(1, min(3, h, w)))
        s = b.draw(st.integers(1, k))
        attrs = {"kernel_shape": [k, k], "strides": [s, s]}
        if k > 1 and b.draw(st.booleans()):
            attrs["pads"] = [b.draw(st.integers(0, k // 2)) for _ in range(4)]
        elif b.draw(st.booleans()):
            attrs["ceil_mode"] = 1
        if kind == "avgpool":
            attrs["count_include_pad"] = int(b.draw(st.booleans()))
        return b.add("MaxPool" if kind == "maxpool" else "AveragePool", [x], **attrs)
    if kind == "gap":
        return b.add("GlobalAveragePool", [x])
    if kind == "flatten":
        return b.add("Flatten", [x], axis=1)
    if kind == "reshape":
        target = b.draw(st.sampled_from([[0, -1], [0, shape[1], -1], [0, shape[1] * shape[2], shape[3]]]))
        return b.add("Reshape", [x, b.const("shape", np.array(target, np.int64))])
    raise AssertionError(kind)


@st.composite
def valid_models(draw: Callable) -> tuple[onnx.ModelProto, list[str]]:
    """A small valid ONNX model over supported ops, and the names of its outputs."""
    b = Builder(draw, rng=np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    if draw(st.booleans()):
        b.inputs["x"] = [1, draw(st.integers(1, 8))]
    else:
        b.inputs["x"] = [1, draw(st.integers(1, 3)), draw(st.integers(3, 7)), draw(st.integers(3, 7))]
    b.shapes["x"] = list(b.inputs["x"])
    current = "x"
    for _ in range(draw(st.integers(1, 5))):
        current = _step_any(b, current)
    outputs = [current]
    if current != "x" and draw(st.integers(0, 4)) == 0:  # sometimes a second output: an earlier tensor
        earlier = [n for n in b.shapes if n not in ("x", current) and n not in b.inner]
        if earlier:
            outputs.append(draw(st.sampled_from(earlier)))
    return b.model(outputs, batch="N"), outputs


def _ort_run(raw: bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(raw, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _import(raw: bytes, name: str = "fuzz.onnx"):
    return import_onnx_model(load_onnx_bytes(raw, name), name)


@FUZZ
@given(case=valid_models(), seed=st.integers(0, 2**16))
def test_random_graphs_match_onnxruntime(case, seed):
    model, outputs = case
    _count("random valid graphs vs onnxruntime")
    raw = model.SerializeToString()
    rng = np.random.default_rng(seed)
    shape = [BATCH, *[d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]]
    feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
    expected = _ort_run(raw, feeds)
    graph = _import(raw)
    got = run_float(graph, feeds)
    assert len(graph.outputs) == len(expected)
    for name, want in zip(graph.outputs, expected):
        assert got[name].shape == want.shape, (name, got[name].shape, want.shape)
        np.testing.assert_allclose(got[name], want, rtol=TOLERANCE, atol=TOLERANCE)
    calibration = {"x": rng.standard_normal([16, *shape[1:]]).astype(np.float32)}
    try:
        qgraph = quantize_graph(graph, calibration, QuantSpec())
        run_integer(qgraph, feeds)
        event("integer path: ran")
    except QuantizationError as exc:
        event(f"integer path: QuantizationError ({exc.reason.split(':')[0][:40]})")
    for node in graph.nodes:
        event(f"IR op {node.op}")


def test_integer_dense_on_rank3_input():
    """MatMul with a constant [D, K] weight on a [N, T, D] activation (a transformer's linear layer)."""
    rng = np.random.default_rng(0)
    b = Builder(lambda s: None, rng=rng)
    b.inputs["x"] = [1, 3, 4]
    b.shapes["x"] = [1, 3, 4]
    y = b.add("MatMul", ["x", b.const("w", b.weights(4, 2, fan_in=4))])  # T=3 tokens, K=2 outputs
    graph = _import(b.model([y], batch="N").SerializeToString())
    feeds = {"x": rng.standard_normal([4, 3, 4]).astype(np.float32)}
    qgraph = quantize_graph(graph, feeds, QuantSpec())
    out = qgraph.outputs[0]
    got = run_integer(qgraph, feeds)[out]
    assert got.shape == (4, 3, 2)
    # Each output channel must be requantised with its own multiplier: dequantised, the integer
    # result stays within a few output steps of the float one (a wrong axis is off by far more).
    scale = float(np.max(qgraph.tensor(out).scale))
    want = run_float(graph, feeds)[graph.outputs[0]]
    np.testing.assert_allclose(got * scale, want, atol=4 * scale)


# ---- hostile bytes -------------------------------------------------------------------------------------
def _must_fail_cleanly_or_run(raw: bytes, target: str) -> None:
    """Load + import ``raw``: a graph (which must then run in float) or an ``HwpruneError``; any other
    exception, or a numpy RuntimeWarning (which the CLI would print), fails with the traceback."""
    _count(target)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            graph = _import(raw)
        except HwpruneError as exc:
            assert exc.message.startswith("fuzz.onnx: "), exc.message
            assert "\n" not in exc.message, exc.message
            return
        except Exception:  # noqa: BLE001 - the point of the test
            pytest.fail(f"import raised a non-HwpruneError:\n{traceback.format_exc()}")
        elements = sum(math.prod(t.shape) for t in graph.tensors.values())
        if elements > 200_000:
            return  # accepted and big: running it would only test the machine's memory
        feeds = {name: np.ones(graph.tensors[name].shape, np.float32) for name in graph.inputs}
        try:
            run_float(graph, feeds)
        except HwpruneError:
            pass
        except Exception:  # noqa: BLE001
            pytest.fail(f"an accepted graph failed in run_float:\n{traceback.format_exc()}")


@FUZZ
@given(raw=st.binary(min_size=0, max_size=1024))
def test_random_bytes_load_cleanly(raw):
    _must_fail_cleanly_or_run(raw, "random bytes")


def _seed_models() -> list[bytes]:
    """Valid models to mutate: an MLP, a CNN with pooling, a graph with a residual Add and Concat."""
    rng = np.random.default_rng(0)

    def build(nodes, inputs, inits):
        graph = helper.make_graph(nodes, "seed",
                                  [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                        helper.make_opsetid("qonnx.custom_op.general", 2)])
        model.ir_version = 9
        return onnx.shape_inference.infer_shapes(model).SerializeToString()

    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    mlp = build([helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], name="fc0", transB=1),
                 helper.make_node("Relu", ["h"], ["r"], name="relu0"),
                 helper.make_node("Gemm", ["r", "w1"], ["y"], name="fc1", transB=1)],
                {"x": [1, 8]}, {"w0": f(4, 8), "b0": f(4), "w1": f(3, 4)})
    cnn = build([helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
                 helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["n"], name="bn0"),
                 helper.make_node("Relu", ["n"], ["r"], name="relu0"),
                 helper.make_node("MaxPool", ["r"], ["p"], name="pool0", kernel_shape=[2, 2], strides=[2, 2]),
                 helper.make_node("Flatten", ["p"], ["fl"], name="flat0"),
                 helper.make_node("Gemm", ["fl", "wf"], ["y"], name="fc0", transB=1)],
                {"x": [1, 2, 6, 6]},
                {"w": f(3, 2, 3, 3), "b": f(3), "g": np.ones(3, np.float32), "be": f(3), "m": f(3),
                 "v": np.ones(3, np.float32), "wf": f(4, 27)})
    dag = build([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm0"),
                 helper.make_node("Add", ["h", "x"], ["a"], name="res0"),
                 helper.make_node("Concat", ["a", "x"], ["cat"], name="cat0", axis=1),
                 helper.make_node("Clip", ["cat", "lo", "hi"], ["cl"], name="clip0"),
                 helper.make_node("Reshape", ["cl", "shape"], ["rs"], name="reshape0"),
                 helper.make_node("Transpose", ["rs"], ["tr"], name="tr0", perm=[0, 2, 1]),
                 helper.make_node("Softmax", ["tr"], ["y"], name="softmax0", axis=-1)],
                {"x": [1, 6]},
                {"w": f(6, 6), "lo": np.array(-1, np.float32), "hi": np.array(1, np.float32),
                 "shape": np.array([1, 3, 4], np.int64)})
    qonnx = build([helper.make_node("Quant", ["x", "sa", "z", "bits"], ["xq"], name="quant_in",
                                    domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND"),
                   helper.make_node("Quant", ["w", "sw", "z", "bits"], ["wq"], name="quant_w",
                                    domain="qonnx.custom_op.general", signed=1, narrow=1, rounding_mode="ROUND"),
                   helper.make_node("Gemm", ["xq", "wq"], ["h"], name="fc0", transB=1),
                   helper.make_node("Relu", ["h"], ["y"], name="relu0")],
                  {"x": [1, 6]},
                  {"sa": np.array(0.05, np.float32), "z": np.array(0.0, np.float32),
                   "bits": np.array(8.0, np.float32), "w": f(4, 6), "sw": np.full((4, 1), 0.02, np.float32)})
    return [mlp, cnn, dag, qonnx]


SEEDS = _seed_models()


def test_seed_models_import():
    """The mutation seeds are valid models, so every mutant starts one edit away from success."""
    for raw in SEEDS:
        graph = _import(raw)
        run_float(graph, {name: np.ones(graph.tensors[name].shape, np.float32) for name in graph.inputs})


@st.composite
def byte_mutants(draw: Callable) -> bytes:
    """A seed model with 1–4 byte-level mutations: bit flips, overwrites, cuts, insertions, repeats."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "set", "truncate", "delete", "insert", "repeat"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif kind == "truncate":
            del data[at:]
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


@FUZZ
@given(raw=byte_mutants())
def test_mutated_bytes_load_cleanly(raw):
    _must_fail_cleanly_or_run(raw, "byte-mutated models")


INTERESTING_INTS = [-(2**63), -(2**31), -2, -1, 0, 1, 2, 3, 7, 2**31 - 1, 2**40]
OP_TYPES = ["Gemm", "MatMul", "Conv", "Relu", "Sigmoid", "Add", "Mul", "Clip", "MaxPool", "AveragePool",
            "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Softmax", "BatchNormalization",
            "LayerNormalization", "Identity", "Dropout", "Constant", "Tanh", "Quant", ""]


@st.composite
def proto_mutants(draw: Callable) -> bytes:
    """A seed model with 1–3 structure-aware edits: op types, attributes, wiring, dims, initializers."""
    model = onnx.load_model_from_string(draw(st.sampled_from(SEEDS)))
    graph = model.graph
    names = [n for node in graph.node for n in [*node.input, *node.output]] + [t.name for t in graph.initializer]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["op_type", "attr", "rewire", "drop_node", "input_dim", "init_dims",
                                     "init_type", "init_value", "attr_float", "swap_nodes", "rename"]))
        if kind in ("op_type", "attr", "rewire", "attr_float", "rename") and not graph.node:
            continue
        node = graph.node[draw(st.integers(0, len(graph.node) - 1))] if graph.node else None
        if kind == "op_type":
            node.op_type = draw(st.sampled_from(OP_TYPES))
        elif kind == "attr":
            name = draw(st.sampled_from(["axis", "transB", "transA", "group", "strides", "pads", "kernel_shape",
                                         "dilations", "perm", "ceil_mode", "allowzero", "count_include_pad"]))
            value = draw(st.sampled_from(INTERESTING_INTS))
            repeat = draw(st.integers(0, 5))
            for attr in list(node.attribute):
                if attr.name == name:
                    node.attribute.remove(attr)
            node.attribute.append(helper.make_attribute(name, [value] * repeat if repeat else value))
        elif kind == "attr_float":
            name = draw(st.sampled_from(["alpha", "beta", "epsilon"]))
            value = draw(st.sampled_from([0.0, -1.0, 1e-30, 1e30, float("nan"), float("inf")]))
            node.attribute.append(helper.make_attribute(name, value))
        elif kind == "rewire":
            ports = node.input if (draw(st.booleans()) and node.input) else node.output
            if ports:
                ports[draw(st.integers(0, len(ports) - 1))] = draw(st.sampled_from([*names, "", "x", "y", "ghost"]))
        elif kind == "rename":
            node.name = draw(st.sampled_from(["", graph.node[0].name, "../../x", "a b;", "module"]))
        elif kind == "drop_node" and graph.node:
            del graph.node[draw(st.integers(0, len(graph.node) - 1))]
        elif kind == "swap_nodes" and len(graph.node) > 1:
            i, j = draw(st.integers(0, len(graph.node) - 1)), draw(st.integers(0, len(graph.node) - 1))
            a, c = onnx.NodeProto(), onnx.NodeProto()
            a.CopyFrom(graph.node[i])
            c.CopyFrom(graph.node[j])
            graph.node[i].CopyFrom(c)
            graph.node[j].CopyFrom(a)
        elif kind == "input_dim":
            dims = graph.input[0].type.tensor_type.shape.dim
            dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(st.sampled_from(INTERESTING_INTS[3:9]))
        elif kind in ("init_dims", "init_type", "init_value") and graph.initializer:
            init = graph.initializer[draw(st.integers(0, len(graph.initializer) - 1))]
            if kind == "init_dims":
                init.dims[:] = draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 27]), min_size=0, max_size=4))
            elif kind == "init_type":
                init.data_type = draw(st.sampled_from([TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT8,
                                                       TensorProto.INT64, TensorProto.BOOL, TensorProto.STRING,
                                                       TensorProto.COMPLEX64, 0, 99]))
            else:
                try:
                    array = numpy_helper.to_array(init).copy()
                except Exception:  # noqa: BLE001 - an earlier edit broke it: leave it broken
                    continue
                if array.size and array.dtype.kind == "f":
                    flat = array.reshape(-1)
                    flat[draw(st.integers(0, flat.size - 1))] = draw(
                        st.sampled_from([np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-45, 0.0]))
                    init.CopyFrom(numpy_helper.from_array(array, init.name))
    return model.SerializeToString()


@FUZZ
@given(raw=proto_mutants())
def test_mutated_protobuf_loads_cleanly(raw):
    _must_fail_cleanly_or_run(raw, "proto-mutated models")

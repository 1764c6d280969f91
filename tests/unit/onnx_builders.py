"""Small ONNX models built with ``onnx.helper`` for the frontend tests (one op or one idiom each).

Every builder returns a checked ``onnx.ModelProto`` whose graph input is ``x`` and whose output is
``y``; shapes may use the string ``"N"`` for a dynamic batch dimension. Constants are initializers
(named ``c0``, ``c1``, … unless a builder says otherwise) so the frontend sees them as weights.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "Dim",
    "make_model",
    "save",
    "single_op",
    "two_input_op",
    "gemm",
    "matmul_add",
    "conv_bn",
    "gelu_erf",
    "input_shapes",
    "random_feeds",
]

Dim = int | str


def make_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: dict[str, Sequence[Dim]],
    initializers: dict[str, np.ndarray] | None = None,
    outputs: Sequence[str] = ("y",),
    opset: int = 17,
    check: bool = True,
) -> onnx.ModelProto:
    """A model over float32 ``inputs`` (name → shape); output shapes come from ONNX shape inference."""
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)) for name, shape in inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 9)  # what the pinned onnxruntime reads
    model = onnx.shape_inference.infer_shapes(model)  # graph outputs need a shape to pass the checker
    if check:
        onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, directory: Path, name: str = "model.onnx") -> Path:
    path = Path(directory) / name
    onnx.save(model, path)
    return path


def single_op(
    op_type: str,
    x_shape: Sequence[Dim],
    *consts: np.ndarray | None,
    opset: int = 17,
    const_first: bool = False,
    **attrs: object,
) -> onnx.ModelProto:
    """``y = op(x, c0, c1, …)``; a ``None`` constant is an omitted optional input (empty name).

    ``const_first`` puts ``x`` after the constants (for commutative ops with a constant left operand).
    """
    names, inits = [], {}
    for index, value in enumerate(consts):
        if value is None:
            names.append("")
        else:
            names.append(f"c{index}")
            inits[f"c{index}"] = np.asarray(value)
    inputs = [*names, "x"] if const_first else ["x", *names]
    node = helper.make_node(op_type, inputs, ["y"], name=f"{op_type.lower()}0", **attrs)
    return make_model([node], {"x": x_shape}, inits, opset=opset)


def two_input_op(op_type: str, a_shape: Sequence[Dim], b_shape: Sequence[Dim], **attrs: object) -> onnx.ModelProto:
    """``y = op(x, x2)`` of two graph inputs (activations)."""
    node = helper.make_node(op_type, ["x", "x2"], ["y"], name=f"{op_type.lower()}0", **attrs)
    return make_model([node], {"x": a_shape, "x2": b_shape})


def gemm(
    rng: np.random.Generator, n_in: int, n_out: int, trans_b: int, alpha: float = 1.0, beta: float = 1.0,
    bias_shape: Sequence[int] | None = None,
) -> onnx.ModelProto:
    """``y = alpha * x @ op(B) + beta * C`` with B stored [out, in] when ``trans_b`` else [in, out]."""
    b = rng.standard_normal((n_out, n_in) if trans_b else (n_in, n_out)).astype(np.float32)
    consts = [b]
    if bias_shape is not None:
        consts.append(rng.standard_normal(bias_shape).astype(np.float32))
    return single_op("Gemm", ["N", n_in], *consts, transB=trans_b, alpha=alpha, beta=beta)


def matmul_add(rng: np.random.Generator, x_shape: Sequence[Dim], n_out: int, bias_first: bool = False,
               bias_shape: Sequence[int] | None = None) -> onnx.ModelProto:
    """``y = x @ W + b``: how exporters write a Linear layer (folded into one Dense with bias)."""
    w = rng.standard_normal((int(x_shape[-1]), n_out)).astype(np.float32)
    b = rng.standard_normal(bias_shape or [n_out]).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul0"),
        helper.make_node("Add", ["b", "h"] if bias_first else ["h", "b"], ["y"], name="add0"),
    ]
    return make_model(nodes, {"x": x_shape}, {"w": w, "b": b})


def conv_bn(rng: np.random.Generator, channels: int, out_channels: int, hw: int, conv_bias: bool) -> onnx.ModelProto:
    """Conv 3x3 (pad 1) → BatchNormalization: the BN must fold into the Conv's weight and bias."""
    inits = {"w": rng.standard_normal((out_channels, channels, 3, 3)).astype(np.float32)}
    if conv_bias:
        inits["cb"] = rng.standard_normal(out_channels).astype(np.float32)
    inits.update(
        gamma=rng.uniform(0.5, 1.5, out_channels).astype(np.float32),
        beta=rng.standard_normal(out_channels).astype(np.float32),
        mean=rng.standard_normal(out_channels).astype(np.float32),
        var=rng.uniform(0.5, 2.0, out_channels).astype(np.float32),
    )
    conv_inputs = ["x", "w", "cb"] if conv_bias else ["x", "w"]
    nodes = [
        helper.make_node("Conv", conv_inputs, ["h"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["h", "gamma", "beta", "mean", "var"], ["y"], name="bn0",
                         epsilon=1e-3),
    ]
    return make_model(nodes, {"x": ["N", channels, hw, hw]}, inits)


def gelu_erf(x_shape: Sequence[Dim], half_first: bool = False, scale: str = "div") -> onnx.ModelProto:
    """GELU as torch's TorchScript exporter writes it: ``x * 0.5 * (1 + erf(x / sqrt 2))``.

    ``half_first`` builds ``(x * 0.5) * (1 + erf(…))``; ``scale`` is how ``x`` is scaled before Erf:
    ``"div"`` (x / sqrt 2), ``"mul"`` (x * 1/sqrt 2) or ``"mul_first"`` ((1/sqrt 2) * x).
    """
    inits = {
        "sqrt2": np.array(math.sqrt(2) if scale == "div" else 1 / math.sqrt(2), dtype=np.float32),
        "one": np.array(1.0, dtype=np.float32),
        "half": np.array(0.5, dtype=np.float32),
    }
    nodes = [
        helper.make_node("Div" if scale == "div" else "Mul", ["sqrt2", "x"] if scale == "mul_first" else ["x", "sqrt2"],
                         ["s"], name="scale0"),
        helper.make_node("Erf", ["s"], ["e"], name="erf0"),
        helper.make_node("Add", ["e", "one"], ["a"], name="add0"),
    ]
    if half_first:
        nodes += [
            helper.make_node("Mul", ["x", "half"], ["h"], name="mul_half"),
            helper.make_node("Mul", ["h", "a"], ["y"], name="mul0"),
        ]
    else:
        nodes += [
            helper.make_node("Mul", ["x", "a"], ["m"], name="mul0"),
            helper.make_node("Mul", ["m", "half"], ["y"], name="mul1"),
        ]
    return make_model(nodes, {"x": x_shape}, inits)


def input_shapes(model: onnx.ModelProto, batch: int) -> dict[str, list[int]]:
    """Concrete shapes of the graph inputs: a dynamic (named) dimension becomes ``batch``."""
    initializers = {t.name for t in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else batch for d in dims]
    return shapes


def random_feeds(model: onnx.ModelProto, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in input_shapes(model, batch).items()}

"""The IR's op set: arity, attributes and the shape rule of each op.

Frontends translate their ops into these; executors (float and integer) and backends implement
them. The checks of a node against its spec live with the graph (``hwprune.ir.graph.check_node``), so
this module needs no graph type. Keeping the set small and exact is what lets every backend be checked against one reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from hwprune import plugins
from hwprune.errors import GraphError

__all__ = ["OpSpec", "OPS", "op_spec", "conv_output_hw", "pool_output_hw"]

Shape = list[int]
ShapeRule = Callable[[list[Shape], dict], list[Shape]]


@dataclass(frozen=True)
class OpSpec:
    """What an IR op needs: input count range, required attributes, and its shape rule."""

    name: str
    min_inputs: int
    max_inputs: int
    required_attrs: tuple[str, ...]
    infer: ShapeRule
    doc: str


def _same(shapes: list[Shape], attrs: dict) -> list[Shape]:
    return [list(shapes[0])]


def _broadcast(shapes: list[Shape], attrs: dict) -> list[Shape]:
    try:
        return [list(np.broadcast_shapes(*[tuple(s) for s in shapes]))]
    except ValueError as exc:
        raise GraphError(f"shapes {shapes} do not broadcast") from exc


def _dense(shapes: list[Shape], attrs: dict) -> list[Shape]:
    x, w = shapes[0], shapes[1]
    if len(w) != 2 or x[-1] != w[1]:
        raise GraphError(f"Dense weight {w} does not match input {x} (weight is [out, in])")
    if len(shapes) > 2 and shapes[2] != [w[0]]:
        raise GraphError(f"Dense bias {shapes[2]} is not [{w[0]}]")
    return [[*x[:-1], w[0]]]


def _matmul(shapes: list[Shape], attrs: dict) -> list[Shape]:
    a, b = shapes
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        raise GraphError(f"MatMul shapes {a} and {b} do not match")
    batch = list(np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])))
    return [[*batch, a[-2], b[-1]]]


def conv_output_hw(
    hw: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int]
) -> list[int]:
    """Spatial output size of a 2-D convolution/pool window (ONNX pads: top, left, bottom, right)."""
    out = []
    for i in range(2):
        span = dilations[i] * (kernel[i] - 1) + 1
        size = (hw[i] + pads[i] + pads[i + 2] - span) // strides[i] + 1
        if size <= 0:
            raise GraphError(f"window {list(kernel)} does not fit input {list(hw)} with pads {list(pads)}")
        out.append(size)
    return out


def pool_output_hw(hw: Sequence[int], attrs: dict) -> list[int]:
    kernel, strides, pads = attrs["kernel"], attrs["strides"], attrs["pads"]
    if attrs.get("ceil_mode", 0):
        out = []
        for i in range(2):
            size = math.ceil((hw[i] + pads[i] + pads[i + 2] - kernel[i]) / strides[i]) + 1
            if (size - 1) * strides[i] >= hw[i] + pads[i]:
                size -= 1
            out.append(size)
        return out
    return conv_output_hw(hw, kernel, strides, pads, [1, 1])


def _conv(shapes: list[Shape], attrs: dict) -> list[Shape]:
    x, w = shapes[0], shapes[1]
    if len(x) != 4 or len(w) != 4:
        raise GraphError(f"Conv supports 2-D NCHW only; got input {x}, weight {w}")
    group = attrs["group"]
    if x[1] != w[1] * group or w[0] % group:
        raise GraphError(f"Conv weight {w} with group {group} does not match {x[1]} input channels")
    if len(shapes) > 2 and shapes[2] != [w[0]]:
        raise GraphError(f"Conv bias {shapes[2]} is not [{w[0]}]")
    hw = conv_output_hw(x[2:], w[2:], attrs["strides"], attrs["pads"], attrs["dilations"])
    return [[x[0], w[0], *hw]]


def _pool(shapes: list[Shape], attrs: dict) -> list[Shape]:
    x = shapes[0]
    if len(x) != 4:
        raise GraphError(f"pooling supports 2-D NCHW only; got {x}")
    return [[x[0], x[1], *pool_output_hw(x[2:], attrs)]]


def _global_pool(shapes: list[Shape], attrs: dict) -> list[Shape]:
    x = shapes[0]
    if len(x) != 4:
        raise GraphError(f"GlobalAveragePool supports NCHW only; got {x}")
    return [[x[0], x[1], 1, 1]]


def _reshape(shapes: list[Shape], attrs: dict) -> list[Shape]:
    target = list(attrs["shape"])
    if math.prod(target) != math.prod(shapes[0]) or any(d <= 0 for d in target):
        raise GraphError(f"cannot reshape {shapes[0]} to {target}")
    return [target]


def _transpose(shapes: list[Shape], attrs: dict) -> list[Shape]:
    perm = list(attrs["perm"])
    if sorted(perm) != list(range(len(shapes[0]))) or perm[0] != 0:
        raise GraphError(f"Transpose perm {perm} must be a permutation that keeps the batch axis first")
    return [[shapes[0][p] for p in perm]]


def _check_axis(op: str, axis: object, rank: int) -> int:
    """A non-batch axis of a rank-``rank`` tensor (1..rank-1): executors index with it directly."""
    if not isinstance(axis, int) or isinstance(axis, bool) or not 1 <= axis < rank:
        raise GraphError(f"{op} axis {axis!r} is not a non-batch axis of a rank-{rank} tensor (1..{rank - 1})")
    return axis


def _softmax(shapes: list[Shape], attrs: dict) -> list[Shape]:
    _check_axis("Softmax", attrs["axis"], len(shapes[0]))
    return [list(shapes[0])]


def _concat(shapes: list[Shape], attrs: dict) -> list[Shape]:
    axis = _check_axis("Concat", attrs["axis"], len(shapes[0]))
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != axis):
            raise GraphError(f"Concat shapes {shapes} differ outside axis {axis}")
    return [[*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :]]]


def _layernorm(shapes: list[Shape], attrs: dict) -> list[Shape]:
    x = shapes[0]
    norm = x[_check_axis("LayerNorm", attrs["axis"], len(x)) :]
    for s in shapes[1:]:
        if s != norm:
            raise GraphError(f"LayerNorm parameter shape {s} is not {norm}")
    return [list(x)]


def _spec(name: str, lo: int, hi: int, attrs: tuple[str, ...], infer: ShapeRule, doc: str) -> OpSpec:
    return OpSpec(name, lo, hi, attrs, infer, doc)


OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in [
        _spec("Dense", 2, 3, ("activation",), _dense,
              "y = x @ W.T + b, W is [out, in]; activation none|relu; optional clip_max (ReLU6: min(y, max))"),
        _spec("MatMul", 2, 2, (), _matmul, "batched matrix product of two activations"),
        _spec("Conv", 2, 3, ("strides", "pads", "dilations", "group", "activation"), _conv, "2-D convolution"),
        _spec("Add", 2, 2, (), _broadcast, "elementwise sum with numpy broadcasting"),
        _spec("Mul", 2, 2, (), _broadcast, "elementwise product with numpy broadcasting"),
        _spec("Relu", 1, 1, (), _same, "max(x, 0)"),
        _spec("Clip", 1, 1, ("min", "max"), _same, "min(max(x, min), max)"),
        _spec("Sigmoid", 1, 1, (), _same, "1 / (1 + exp(-x))"),
        _spec("Tanh", 1, 1, (), _same, "tanh(x)"),
        _spec("HardSigmoid", 1, 1, ("alpha", "beta"), _same, "max(0, min(1, alpha * x + beta))"),
        _spec("HardSwish", 1, 1, (), _same, "x * max(0, min(1, x / 6 + 1 / 2))"),
        _spec("Gelu", 1, 1, ("approximate",), _same, "x * Phi(x); approximate none|tanh"),
        _spec("Softmax", 1, 1, ("axis",), _softmax, "softmax along a non-batch axis"),
        _spec("LayerNorm", 1, 3, ("axis", "epsilon"), _layernorm, "normalise over axes >= axis, then scale, bias"),
        _spec("Reshape", 1, 1, ("shape",), _reshape, "reshape; shape[0] is the batch axis"),
        _spec("Transpose", 1, 1, ("perm",), _transpose, "permute axes (batch stays first)"),
        _spec("MaxPool", 1, 1, ("kernel", "strides", "pads", "ceil_mode"), _pool, "2-D max pooling"),
        _spec(
            "AveragePool",
            1,
            1,
            ("kernel", "strides", "pads", "ceil_mode", "count_include_pad"),
            _pool,
            "2-D average pooling",
        ),
        _spec("GlobalAveragePool", 1, 1, (), _global_pool, "mean over H and W"),
        _spec("Concat", 1, 64, ("axis",), _concat, "concatenate along a non-batch axis"),
        _spec("Quant", 1, 1, ("scale", "bits", "signed", "narrow"), _same, "QONNX fake quantization"),
        _spec("Quantize", 1, 1, ("scale", "bits", "signed"), _same,
              "float -> integer: clamp(round_half_even((x * pre_scale + pre_offset) / scale)); the optional "
              "per-channel (axis 1) pre_scale/pre_offset are a folded input normalisation"),
    ]
}


def op_spec(op: str) -> OpSpec | None:
    """The spec of ``op``, or None; an op that is not built in may come from a plug-in of stage ``ir``
    (``hwprune.plugins``), loaded before the op is called unknown."""
    if op not in OPS:
        plugins.load("ir")
    return OPS.get(op)

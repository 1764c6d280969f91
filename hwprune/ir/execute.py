"""Float execution of an IR graph with torch: the reference for the frontend's import.

The integer golden model lives in ``hwprune.quant.reference``; this one runs the float (or
fake-quantized) graph so that an import can be checked against onnxruntime, and so that PTQ can
observe activation ranges.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from hwprune import plugins
from hwprune.errors import GraphError
from hwprune.ir.dynamic import has_dynamic_rows, run_per_sample
from hwprune.ir.graph import Graph, Node
from hwprune.ir.ops import pool_output_hw

__all__ = ["run_float", "FLOAT_KERNELS", "pre_affine"]

Kernel = Callable[[Node, list[torch.Tensor]], torch.Tensor]
FLOAT_KERNELS: dict[str, Kernel] = {}


def _kernel(op: str) -> Callable[[Kernel], Kernel]:
    def register(fn: Kernel) -> Kernel:
        FLOAT_KERNELS[op] = fn
        return fn

    return register


def _activation(node: Node, y: torch.Tensor) -> torch.Tensor:
    """ReLU, and with ``clip_max`` (a folded ReLU6-style Clip) also the clamp at that maximum."""
    act = node.attrs.get("activation", "none")
    if act == "relu":
        if "clip_max" in node.attrs:
            return torch.clamp(y, 0.0, float(node.attrs["clip_max"]))
        return torch.relu(y)
    if act != "none":
        raise GraphError(f"unknown activation {act!r}", node=node.name, op=node.op)
    return y


def _conv_padding(x: torch.Tensor, pads: list[int], value: float = 0.0) -> torch.Tensor:
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


@_kernel("Dense")
def _dense(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    return _activation(node, F.linear(xs[0], xs[1], xs[2] if len(xs) > 2 else None))


@_kernel("MatMul")
def _matmul(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.matmul(xs[0], xs[1])


@_kernel("Conv")
def _conv(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    a = node.attrs
    x = _conv_padding(xs[0], list(a["pads"]))
    y = F.conv2d(
        x, xs[1], xs[2] if len(xs) > 2 else None, stride=list(a["strides"]), dilation=list(a["dilations"]),
        groups=int(a["group"]),
    )
    return _activation(node, y)


_kernel("Add")(lambda node, xs: _activation(node, xs[0] + xs[1]))  # a Relu fused by PTQ (quant.merge)
_kernel("Mul")(lambda node, xs: xs[0] * xs[1])
_kernel("Relu")(lambda node, xs: torch.relu(xs[0]))
_kernel("Sigmoid")(lambda node, xs: torch.sigmoid(xs[0]))
_kernel("Tanh")(lambda node, xs: torch.tanh(xs[0]))
_kernel("HardSigmoid")(lambda node, xs: torch.clamp(float(node.attrs["alpha"]) * xs[0] + float(node.attrs["beta"]),
                                                   0.0, 1.0))
_kernel("HardSwish")(lambda node, xs: xs[0] * torch.clamp(xs[0] / 6.0 + 0.5, 0.0, 1.0))
_kernel("Clip")(lambda node, xs: torch.clamp(xs[0], float(node.attrs["min"]), float(node.attrs["max"])))
_kernel("Softmax")(lambda node, xs: torch.softmax(xs[0], dim=int(node.attrs["axis"])))
_kernel("Transpose")(lambda node, xs: xs[0].permute(*[int(p) for p in node.attrs["perm"]]))
_kernel("GlobalAveragePool")(lambda node, xs: xs[0].mean(dim=(2, 3), keepdim=True))
_kernel("Concat")(lambda node, xs: torch.cat(xs, dim=int(node.attrs["axis"])))


@_kernel("Gelu")
def _gelu(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    return F.gelu(xs[0], approximate=str(node.attrs["approximate"]))


@_kernel("LayerNorm")
def _layernorm(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    axis = int(node.attrs["axis"]) % x.dim()
    shape = list(x.shape[axis:])
    weight = xs[1] if len(xs) > 1 else None
    bias = xs[2] if len(xs) > 2 else None
    return F.layer_norm(x, shape, weight, bias, eps=float(node.attrs["epsilon"]))


@_kernel("Reshape")
def _reshape(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    target = [int(d) for d in node.attrs["shape"]]
    return xs[0].reshape([xs[0].shape[0], *target[1:]])


def _pool_crop(node: Node, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Drop ceil_mode windows that start in the end padding (ONNX and the IR shape rule have none).

    The pads are applied before pooling, so torch counts them as input and may keep such a window.
    """
    out_h, out_w = pool_output_hw(list(x.shape[2:]), node.attrs)
    return y[:, :, :out_h, :out_w]


@_kernel("MaxPool")
def _maxpool(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    a = node.attrs
    x = _conv_padding(xs[0], list(a["pads"]), value=-math.inf)
    y = F.max_pool2d(x, list(a["kernel"]), list(a["strides"]), ceil_mode=bool(a["ceil_mode"]))
    return _pool_crop(node, xs[0], y)


@_kernel("AveragePool")
def _avgpool(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """Window sums over the explicitly padded input, divided by the count of each window.

    Padding first handles asymmetric pads and pads over half the kernel, which ``F.avg_pool2d``'s own
    padding cannot. The count includes padded positions only with ``count_include_pad``; a window
    cut short by ``ceil_mode`` counts only what it covers (as onnxruntime does).
    """
    a = node.attrs
    pads, kernel, strides, ceil = list(a["pads"]), list(a["kernel"]), list(a["strides"]), bool(a["ceil_mode"])
    x = _conv_padding(xs[0], pads)
    pad_value = 1.0 if a["count_include_pad"] else 0.0
    counted = _conv_padding(torch.ones_like(xs[0][:1, :1]), pads, value=pad_value)
    sums = F.avg_pool2d(x, kernel, strides, ceil_mode=ceil, divisor_override=1)
    counts = F.avg_pool2d(counted, kernel, strides, ceil_mode=ceil, divisor_override=1)
    return _pool_crop(node, xs[0], sums / counts)


@_kernel("Quant")
def _quant(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """QONNX fake quantization: scale * clamp(round_half_even(x / scale)), zero point 0."""
    a = node.attrs
    bits, signed, narrow = int(a["bits"]), bool(a["signed"]), bool(a["narrow"])
    scale = torch.tensor([float(s) for s in a["scale"]], dtype=xs[0].dtype)
    if scale.numel() > 1:
        scale = scale.reshape([1, -1] + [1] * (xs[0].dim() - 2))
    lo = -(2 ** (bits - 1)) + int(narrow) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1 - int(narrow)
    return torch.clamp(torch.round(xs[0] / scale), lo, hi) * scale


@_kernel("Quantize")
def _quantize(node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """In the float path a Quantize is a fake quantization to its integer grid."""
    a = node.attrs
    bits, signed = int(a["bits"]), bool(a["signed"])
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    scale = float(a["scale"])
    return torch.clamp(torch.round(pre_affine(node, xs[0]) / scale), lo, hi) * scale


def pre_affine(node: Node, x: torch.Tensor) -> torch.Tensor:
    """A Quantize node's folded input normalisation ``x * pre_scale + pre_offset`` (per channel on axis 1,
    or one value), in ``x``'s dtype; ``x`` itself when the node has none."""
    if "pre_scale" not in node.attrs and "pre_offset" not in node.attrs:
        return x
    shape = [1, -1] + [1] * (x.dim() - 2)
    mul = torch.tensor([float(v) for v in node.attrs.get("pre_scale", [1.0])], dtype=x.dtype).reshape(shape)
    add = torch.tensor([float(v) for v in node.attrs.get("pre_offset", [0.0])], dtype=x.dtype).reshape(shape)
    return x * mul + add


def run_float(graph: Graph, feeds: Mapping[str, np.ndarray | torch.Tensor],
              keep_all: bool = False) -> dict[str, np.ndarray]:
    """Execute ``graph`` in float32 on a batch; returns every graph output (or, with ``keep_all``, every
    non-constant tensor) as a numpy array.

    A graph with data-dependent row counts (TokenSelector nodes) runs one sample at a time; tensors after
    such an op come back zero-padded to their IR shape, with their valid-row counts (``hwprune.ir.dynamic``).
    """
    plugins.load("ir")  # kernels of plug-in ops (``hwprune.plugins``)
    if has_dynamic_rows(graph):
        return run_per_sample(graph, feeds, lambda one: _run(graph, one, True),
                              None if keep_all else graph.outputs)
    return _run(graph, feeds, keep_all)


def _run(graph: Graph, feeds: Mapping[str, np.ndarray | torch.Tensor], keep_all: bool) -> dict[str, np.ndarray]:
    values: dict[str, torch.Tensor] = {}
    for tensor in graph.constants():
        values[tensor.name] = torch.as_tensor(tensor.real_values())
    for name in graph.inputs:
        if name not in feeds:
            raise GraphError(f"no value given for graph input {name!r}")
        values[name] = torch.as_tensor(np.asarray(feeds[name], dtype=np.float32))
    with torch.no_grad():
        for node in graph.nodes:
            kernel = FLOAT_KERNELS.get(node.op)
            if kernel is None:
                raise GraphError("no float kernel for this op", node=node.name, op=node.op)
            result = kernel(node, [values[name] for name in node.inputs])
            # most kernels return one tensor; multi-output ops (TokenSelector) return a tuple
            for name, value in zip(node.outputs, result if isinstance(result, tuple) else (result,)):
                values[name] = value
    names = [n for n in values if not graph.tensor(n).is_constant] if keep_all else graph.outputs
    return {name: values[name].numpy() for name in names}

"""The integer golden model: executes a quantized IR graph exactly as docs/architecture.md section 3 says.

All arithmetic is on int64 torch tensors (convolutions go through float64, which is exact while
every partial sum stays below 2**53 — checked). RTL, HLS C-sim and the cycle model are compared
with this, bit for bit.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from hwprune import plugins
from hwprune.errors import GraphError
from hwprune.ir.dynamic import has_dynamic_rows, run_per_sample
from hwprune.ir.execute import pre_affine
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType

__all__ = ["run_integer", "requantize", "INT_KERNELS"]

IntKernel = Callable[[Graph, Node, list[torch.Tensor]], torch.Tensor]
INT_KERNELS: dict[str, IntKernel] = {}
_EXACT_LIMIT = 2**53


def _kernel(op: str) -> Callable[[IntKernel], IntKernel]:
    def register(fn: IntKernel) -> IntKernel:
        INT_KERNELS[op] = fn
        return fn

    return register


def _out_type(graph: Graph, node: Node) -> IntType:
    dtype = graph.tensor(node.outputs[0]).dtype
    if not isinstance(dtype, IntType):
        raise GraphError("output is not an integer tensor (graph not quantized?)", node=node.name, op=node.op)
    return dtype


def _per_channel(values: list, ndim: int, channel_axis: int) -> torch.Tensor:
    """A per-output-channel parameter shaped to broadcast along ``channel_axis`` of a rank-``ndim``
    accumulator (1 for Conv's [N, C, H, W]; last for Dense, whose channels are last at any rank)."""
    t = torch.tensor([int(v) for v in values], dtype=torch.int64)
    shape = [1] * ndim
    shape[channel_axis] = -1
    return t.reshape(shape)


def requantize(acc: torch.Tensor, mult: torch.Tensor, shift: torch.Tensor, out: IntType, relu: bool) -> torch.Tensor:
    """``sat((acc * M + 2**(sh-1)) >> sh)``, clamped at 0 for ReLU: the hardware requantiser."""
    rounded = torch.bitwise_right_shift(acc * mult + torch.bitwise_left_shift(torch.ones_like(shift), shift - 1), shift)
    lo = 0 if relu else out.min
    return torch.clamp(rounded, lo, out.max)


def _check_exact(node: Node, x: torch.Tensor, w: torch.Tensor) -> None:
    bound = int(x.abs().max()) * int(w.abs().sum(dim=tuple(range(1, w.dim()))).max()) if x.numel() and w.numel() else 0
    if bound >= _EXACT_LIMIT:
        raise GraphError("accumulator range exceeds exact float64 evaluation", node=node.name, op=node.op)


def _layer_output(graph: Graph, node: Node, acc: torch.Tensor) -> torch.Tensor:
    a = node.attrs
    axis = acc.dim() - 1 if node.op == "Dense" else 1
    mult = _per_channel(a["requant_mult"], acc.dim(), axis)
    shift = _per_channel(a["requant_shift"], acc.dim(), axis)
    acc_bits = int(a["acc_bits"])
    limit = 1 << (acc_bits - 1)
    if acc.numel() and (int(acc.max()) >= limit or int(acc.min()) < -limit):
        raise GraphError(f"accumulator overflowed its {acc_bits} bits", node=node.name, op=node.op)
    return requantize(acc, mult, shift, _out_type(graph, node), a["activation"] == "relu")


@_kernel("Dense")
def _dense(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    acc = torch.matmul(xs[0], xs[1].T)
    if len(xs) > 2:
        acc = acc + xs[2]
    return _layer_output(graph, node, acc)


@_kernel("Conv")
def _conv(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    a = node.attrs
    _check_exact(node, xs[0], xs[1])
    top, left, bottom, right = a["pads"]
    x = F.pad(xs[0].to(torch.float64), (left, right, top, bottom))
    acc = F.conv2d(x, xs[1].to(torch.float64), stride=list(a["strides"]), dilation=list(a["dilations"]),
                   groups=int(a["group"]))
    acc = acc.round().to(torch.int64)
    if len(xs) > 2:
        acc = acc + xs[2].reshape(1, -1, 1, 1)
    return _layer_output(graph, node, acc)


@_kernel("Quantize")
def _quantize(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    out = _out_type(graph, node)
    x = pre_affine(node, xs[0].to(torch.float64))  # a folded input normalisation, in float64
    scaled = torch.round(x / float(node.attrs["scale"]))  # half to even
    return torch.clamp(scaled, out.min, out.max).to(torch.int64)


@_kernel("Relu")
def _relu(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.clamp(xs[0], min=0)


@_kernel("MaxPool")
def _maxpool(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    a = node.attrs
    top, left, bottom, right = a["pads"]
    low = _out_type(graph, node).min
    # float64 holds every integer of up to 53 bits exactly, and max pooling only compares.
    x = F.pad(xs[0].to(torch.float64), (left, right, top, bottom), value=float(low))
    y = F.max_pool2d(x, list(a["kernel"]), list(a["strides"]), ceil_mode=bool(a["ceil_mode"]))
    return _crop(graph, node, y).to(torch.int64)


def _crop(graph: Graph, node: Node, y: torch.Tensor) -> torch.Tensor:
    """Windows that start inside the end padding are not outputs (ONNX ceil_mode rule)."""
    height, width = graph.tensor(node.outputs[0]).shape[2:]
    return y[:, :, :height, :width]


def _average(graph: Graph, node: Node, window_sum: torch.Tensor) -> torch.Tensor:
    mult = torch.tensor(int(node.attrs["requant_mult"][0]))
    shift = torch.tensor(int(node.attrs["requant_shift"][0]))
    return requantize(window_sum, mult, shift, _out_type(graph, node), relu=False)


@_kernel("AveragePool")
def _avgpool(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    a = node.attrs
    top, left, bottom, right = a["pads"]
    x = F.pad(xs[0].to(torch.float64), (left, right, top, bottom))
    sums = F.avg_pool2d(x, list(a["kernel"]), list(a["strides"]), divisor_override=1)
    return _average(graph, node, _crop(graph, node, sums).round().to(torch.int64))


@_kernel("GlobalAveragePool")
def _global_avg(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    return _average(graph, node, xs[0].sum(dim=(2, 3), keepdim=True))


@_kernel("Add")
def _add(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """``sat((a·M_a + b·M_b + 2^(sh-1)) >> sh)``, clamped at 0 with a fused Relu (``quant.merge``)."""
    ma, mb = (int(m) for m in node.attrs["requant_mult"])
    shift = torch.tensor(int(node.attrs["requant_shift"][0]))
    acc = xs[0] * ma + xs[1] * mb
    relu = node.attrs.get("activation") == "relu"
    return requantize(acc, torch.tensor(1), shift, _out_type(graph, node), relu=relu)


@_kernel("Concat")
def _concat(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """Each input ``sat((x·M_i + 2^(sh-1)) >> sh)`` at the output scale (none when the scales agree)."""
    axis = int(node.attrs["axis"])
    if "requant_mult" not in node.attrs:
        return torch.cat(xs, dim=axis)
    shift = torch.tensor(int(node.attrs["requant_shift"][0]))
    out = _out_type(graph, node)
    parts = [requantize(x * int(m), torch.tensor(1), shift, out, relu=False)
             for x, m in zip(xs, node.attrs["requant_mult"])]
    return torch.cat(parts, dim=axis)


def _scalar_requant(node: Node, x: torch.Tensor, out: IntType, prefix: str = "") -> torch.Tensor:
    mult = torch.tensor(int(node.attrs[f"{prefix}mult"][0]))
    shift = torch.tensor(int(node.attrs[f"{prefix}shift"][0]))
    return requantize(x, mult, shift, out, relu=False)


@_kernel("HardSigmoid")
def _hard_sigmoid(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """``clamp(((q + c)·M + 2^(sh-1)) >> sh, 0, qmax)`` (``hwprune.quant.hard_act``)."""
    return _scalar_requant(node, xs[0] + int(node.attrs["offset"]), _out_type(graph, node), "requant_")


@_kernel("HardSwish")
def _hard_swish(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """The gate ``h`` as a HardSigmoid (unsigned, the output's bits), then ``sat((q·h·M + 2^(sh-1)) >> sh)``."""
    out = _out_type(graph, node)
    gate = _scalar_requant(node, xs[0] + int(node.attrs["gate_offset"]), IntType(out.bits, False), "gate_")
    return _scalar_requant(node, xs[0] * gate, out, "requant_")


@_kernel("Sigmoid")
@_kernel("Tanh")
def _table(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    """``table[q - in_min]`` (``hwprune.quant.tables``): every input code has its output code."""
    in_type = graph.tensor(node.inputs[0]).dtype
    if not isinstance(in_type, IntType) or "table" not in node.attrs:
        raise GraphError("a table activation without its table (graph not quantized?)", node=node.name, op=node.op)
    table = torch.tensor([int(v) for v in node.attrs["table"]], dtype=torch.int64)
    return table[xs[0].to(torch.int64) - in_type.min]


@_kernel("Reshape")
def _reshape(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    target = [int(d) for d in node.attrs["shape"]]
    return xs[0].reshape([xs[0].shape[0], *target[1:]])


@_kernel("Transpose")
def _transpose(graph: Graph, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0].permute(*[int(p) for p in node.attrs["perm"]])


def _constant(tensor: Tensor) -> torch.Tensor:
    if not tensor.is_quantized:
        raise GraphError(f"constant {tensor.name!r} is not an integer tensor (graph not quantized?)")
    return torch.as_tensor(np.asarray(tensor.data, dtype=np.int64))


def run_integer(
    graph: Graph, feeds: Mapping[str, np.ndarray], keep_all: bool = False
) -> dict[str, np.ndarray]:
    """Run the quantized graph; returns its outputs (or every tensor, with ``keep_all``) as int64.

    Float graph inputs go through their ``Quantize`` nodes; integer tensors may also be fed
    directly by name (e.g. a layer's input vector in a kernel test). A graph with data-dependent row
    counts (TokenSelector nodes, kernel ``IntSelector``) runs one sample at a time (``hwprune.ir.dynamic``);
    tensors after such an op come back zero-padded to their IR shape, with their valid-row counts.
    """
    plugins.load("quant")  # integer kernels of plug-in ops (``hwprune.plugins``)
    if has_dynamic_rows(graph):
        return run_per_sample(graph, feeds, lambda one: _run(graph, one, True),
                              None if keep_all else graph.outputs)
    return _run(graph, feeds, keep_all)


def _run(graph: Graph, feeds: Mapping[str, np.ndarray], keep_all: bool) -> dict[str, np.ndarray]:
    values: dict[str, torch.Tensor] = {}
    for tensor in graph.constants():
        if tensor.is_quantized:
            values[tensor.name] = _constant(tensor)
    for name, value in feeds.items():
        tensor = graph.tensor(name)
        dtype = torch.int64 if tensor.is_quantized else torch.float32
        values[name] = torch.as_tensor(np.asarray(value)).to(dtype)
    for node in graph.nodes:
        if node.outputs[0] in values:  # fed directly: start the run there
            continue
        kernel = INT_KERNELS.get(node.op)
        if kernel is None:
            raise GraphError("has no integer kernel", node=node.name, op=node.op)
        missing = [name for name in node.inputs if name not in values]
        if missing:
            raise GraphError(f"inputs {missing} have no value (not fed, not constant)", node=node.name, op=node.op)
        result = kernel(graph, node, [values[name] for name in node.inputs])
        for name, value in zip(node.outputs, result if isinstance(result, tuple) else (result,)):
            values[name] = value  # one tensor, or a tuple from a multi-output op (TokenSelector)
    names = values.keys() if keep_all else graph.outputs
    return {name: values[name].numpy() for name in names if not (keep_all and name in _const_names(graph))}


def _const_names(graph: Graph) -> set[str]:
    return {t.name for t in graph.constants()}

"""Quantized IR → one ``KernelSpec`` per Dense/Conv layer (pack weights, choose parallelism).

The balanced layout of a pruned weight comes from its ``SparsityPattern`` (params ``group_size``
and ``kept_per_group``) and its mask; an unpruned weight is the pattern "keep all". Lane and MAC
counts default to small values here; board-aware fitting (issue 7) will choose them per layer.
"""

from __future__ import annotations

import numpy as np

from hwprune import progress
from hwprune.errors import GraphError
from hwprune.ir.graph import Graph, Node
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.lower.names import unique_identifiers
from hwprune.prune.patterns.base import GroupLayout, as_matrix, pack_balanced

__all__ = ["lower_graph", "lower_node", "dense_layout", "largest_divisor_at_most", "DEFAULT_LANES", "DEFAULT_MACS"]

DEFAULT_LANES = 8
DEFAULT_MACS = 8


def largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def dense_layout(in_features: int, macs: int = DEFAULT_MACS) -> GroupLayout:
    """"Keep all" as a balanced layout: one group per MAC unit, every position kept."""
    groups = largest_divisor_at_most(in_features, macs)
    size = in_features // groups
    return GroupLayout(in_features, size, size)


def _layout_of(graph: Graph, node: Node, matrix: np.ndarray, macs: int) -> tuple[str, GroupLayout, np.ndarray, dict]:
    weight = graph.tensor(node.inputs[1])
    pattern = weight.sparsity
    if pattern is None or pattern.kind == "dense":
        return "dense", dense_layout(matrix.shape[1], macs), np.ones(matrix.shape, dtype=bool), {}
    params = dict(pattern.params)
    if "group_size" not in params or "kept_per_group" not in params:
        raise GraphError(
            f"weight {weight.name!r} has pattern {pattern.kind!r}, which has no balanced layout for the "
            "sparse engine (only balanced patterns can be lowered)", node=node.name, op=node.op,
        )
    if weight.mask is None:
        raise GraphError(f"pruned weight {weight.name!r} carries no mask", node=node.name, op=node.op)
    layout = GroupLayout(matrix.shape[1], int(params["group_size"]), int(params["kept_per_group"]))
    return pattern.kind, layout, as_matrix(np.asarray(weight.mask, dtype=bool)), params


def _conv_geometry(graph: Graph, node: Node) -> ConvGeometry:
    x = graph.tensor(node.inputs[0]).shape
    w = graph.tensor(node.inputs[1]).shape
    y = graph.tensor(node.outputs[0]).shape
    a = node.attrs
    return ConvGeometry(
        in_channels=x[1], in_height=x[2], in_width=x[3], kernel=(w[2], w[3]), strides=tuple(a["strides"]),
        pads=tuple(a["pads"]), dilations=tuple(a["dilations"]), group=int(a["group"]), out_height=y[2],
        out_width=y[3],
    )


def lower_node(graph: Graph, node: Node, ident: str, lanes: int = DEFAULT_LANES, macs: int = DEFAULT_MACS) -> KernelSpec:
    """Lower one quantized Dense/Conv node. A grouped conv (group ``g``) keeps its ``[F, C/g·kh·kw]``
    weight matrix: each row is balanced over its own group's inputs, and its lanes never exceed a
    group's ``F/g`` filters (the engine runs the groups one after another, docs/architecture.md 7.4)."""
    if node.op not in ("Dense", "Conv"):
        raise GraphError("only Dense and Conv layers become MAC kernels", node=node.name, op=node.op)
    weight = graph.tensor(node.inputs[1])
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    if not (weight.is_quantized and isinstance(x.dtype, IntType) and isinstance(y.dtype, IntType)):
        raise GraphError("layer is not quantized; run the quantize step first", node=node.name, op=node.op)
    group = int(node.attrs["group"]) if node.op == "Conv" else 1
    matrix = np.asarray(as_matrix(weight.data), dtype=np.int64)
    pattern, layout, mask, params = _layout_of(graph, node, matrix, macs)
    packed = pack_balanced(matrix, mask, layout)
    out_features = matrix.shape[0]
    bias = graph.tensor(node.inputs[2]).data if len(node.inputs) > 2 else np.zeros(out_features, dtype=np.int64)
    return KernelSpec(
        name=node.name, ident=ident, kind="dense" if node.op == "Dense" else "conv", pattern=pattern,
        out_features=out_features, lanes=min(lanes, out_features // group),
        macs_per_lane=largest_divisor_at_most(layout.groups, macs), weights=packed,
        bias=tuple(int(b) for b in bias), requant_mult=tuple(int(m) for m in node.attrs["requant_mult"]),
        requant_shift=tuple(int(s) for s in node.attrs["requant_shift"]), acc_bits=int(node.attrs["acc_bits"]),
        weight_bits=weight.dtype.bits, in_type=x.dtype, out_type=y.dtype,
        relu=node.attrs["activation"] == "relu", conv=_conv_geometry(graph, node) if node.op == "Conv" else None,
        pattern_params=params,
    )


def lower_graph(graph: Graph, lanes: int = DEFAULT_LANES, macs: int = DEFAULT_MACS) -> list[KernelSpec]:
    """KernelSpecs of every Dense/Conv layer, in graph order, with unique identifiers."""
    layers = [node for node in graph.nodes if node.op in ("Dense", "Conv")]
    idents = unique_identifiers([node.name for node in layers], prefix="layer")
    specs = []
    for index, (node, ident) in enumerate(zip(layers, idents)):
        progress.advance(index + 1, len(layers), "layer")
        specs.append(lower_node(graph, node, ident, lanes, macs))
    return specs

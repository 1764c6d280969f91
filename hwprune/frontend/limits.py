"""Resource limits a model must respect, checked from shapes *before* anything is allocated.

A model file is small even when the network it describes is not: a 3x3 convolution on a
100000x100000 image is a few hundred bytes of ONNX but asks for terabytes of activations. hwprune
targets FPGA/ASIC kernels, so a model beyond these limits is a user error, refused with the limit
named (``hwprune.frontend.limits.NAME``) instead of a ``MemoryError`` or the OOM killer much later.

The limits are module constants (not environment variables) so a caller that knowingly compiles a
bigger model can raise them in one place, e.g. ``limits.MAX_MACS = 1 << 40`` before importing.
"""

from __future__ import annotations

import math
from typing import Sequence

from hwprune.errors import GraphError

__all__ = [
    "MAX_NODES",
    "MAX_TENSOR_ELEMENTS",
    "MAX_MACS",
    "check_node_count",
    "check_shape",
    "node_macs",
    "MacBudget",
]

MAX_NODES = 20_000
"""ONNX nodes per graph (a large transformer export has a few thousand)."""

MAX_TENSOR_ELEMENTS = 1 << 26
"""Elements of one tensor for one inference (64 Mi: 256 MiB as float32, before batching)."""

MAX_MACS = 1 << 38
"""Multiply-accumulates of the whole model for one inference (~2.7e11; ResNet-50 needs ~4e9)."""


def _limit(name: str) -> str:
    return f"hwprune.frontend.limits.{name} = {globals()[name]:,}"


def check_node_count(count: int) -> None:
    """Refuse graphs with more nodes than ``MAX_NODES`` (import cost grows with the square of it)."""
    if count > MAX_NODES:
        raise GraphError(f"the graph has {count:,} nodes, over the limit {_limit('MAX_NODES')}")


def check_shape(what: str, shape: Sequence[int], *, node: str | None = None, op: str | None = None) -> None:
    """Refuse a static shape with a zero or negative dimension, or more than ``MAX_TENSOR_ELEMENTS``.

    ``what`` names the tensor in the message (e.g. ``"output 'h'"``); unknown dimensions must be
    resolved by the caller (they are not checked here).
    """
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise GraphError(f"{what} has a negative dimension: {dims}", node=node, op=op)
    if any(d == 0 for d in dims):
        raise GraphError(f"{what} has a zero-size dimension: {dims}", node=node, op=op)
    elements = math.prod(dims)
    if elements > MAX_TENSOR_ELEMENTS:
        raise GraphError(
            f"{what} of shape {dims} has {elements:,} elements, over the limit {_limit('MAX_TENSOR_ELEMENTS')}",
            node=node,
            op=op,
        )


def node_macs(op: str, in_shapes: Sequence[Sequence[int]], out_shapes: Sequence[Sequence[int]]) -> int:
    """Multiply-accumulates of one IR node for one inference, from shapes alone (0 for cheap ops).

    Only the ops whose cost is a product of dimensions count: everything else touches each element
    a bounded number of times, which ``MAX_TENSOR_ELEMENTS`` already bounds.
    """
    if not out_shapes or not in_shapes:
        return 0
    out_elements = math.prod(int(d) for d in out_shapes[0])
    if op == "Dense" and len(in_shapes) > 1 and len(in_shapes[1]) == 2:
        return out_elements * int(in_shapes[1][1])
    if op == "Conv" and len(in_shapes) > 1 and len(in_shapes[1]) == 4:
        return out_elements * math.prod(int(d) for d in in_shapes[1][1:])
    if op == "MatMul" and in_shapes[0]:
        return out_elements * int(in_shapes[0][-1])
    return 0


class MacBudget:
    """Running total of a model's MACs; ``add`` refuses the node that takes it past ``MAX_MACS``."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, macs: int, *, node: str, op: str) -> None:
        self.total += macs
        if self.total > MAX_MACS:
            raise GraphError(
                f"the model needs {self.total:,} MACs per inference up to this node ({macs:,} in it), "
                f"over the limit {_limit('MAX_MACS')}",
                node=node,
                op=op,
            )

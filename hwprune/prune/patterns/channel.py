"""``channel``: filter pruning — whole output rows (and their bias) removed, then the layer shrinks.

The mask keeps the ``round_half_up((1-s)·F)`` filters (rows) with the largest L2 norm (ties: lower
index), at least one. The bias of a removed filter is masked too (``masks_bias``), so a removed
channel is exactly 0 after ReLU/pooling and can be cut out without changing any output.

Physical shrinking works on the IR (after BatchNorm folding), in ``shrink_channels``: a Dense/Conv
whose rows *and* bias entries are zero loses those outputs, and the next Dense/Conv loses the matching
inputs, through channel-wise ops between them (MaxPool, AveragePool, GlobalAveragePool, Relu, and a
flattening Reshape, where one channel is H·W consecutive inputs). A channel that feeds anything else
(a graph output, an Add, two consumers) is left in place. No balanced layout and no metadata: the
shrunk layer is dense.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from hwprune.ir.graph import Graph, Node
from hwprune.prune.patterns.base import (
    GroupLayout,
    Pattern,
    PatternError,
    as_matrix,
    kept_count,
    register_pattern,
    topk_mask,
)

__all__ = ["ChannelPattern", "shrink_channels"]

_CHANNELWISE = ("MaxPool", "AveragePool", "GlobalAveragePool", "Relu")


@register_pattern
class ChannelPattern(Pattern):
    """Keep the filters with the largest L2 norm."""

    name = "channel"
    masks_bias = True

    def mask(self, weight: torch.Tensor, sparsity: float, *, seed: int = 0) -> torch.Tensor:
        norms = as_matrix(weight.detach()).to(torch.float64).pow(2).sum(dim=1)
        rows = topk_mask(norms, kept_count(norms.numel(), sparsity, minimum=1))
        return rows.reshape([-1] + [1] * (weight.dim() - 1)).expand(weight.shape).contiguous()

    def check(self, mask: np.ndarray) -> None:
        matrix = np.asarray(as_matrix(np.asarray(mask, dtype=bool)))
        partial = np.flatnonzero(matrix.any(axis=1) != matrix.all(axis=1))
        if partial.size:
            raise PatternError(f"channel: filter {int(partial[0])} is partly kept ({partial.size} such filters)")
        if not matrix.any():
            raise PatternError("channel: every filter is removed")

    def layout(self, weight_shape: tuple[int, ...], sparsity: float) -> GroupLayout | None:
        return None

    def metadata_bits_per_kept_weight(self, weight_shape: tuple[int, ...], sparsity: float) -> float:
        return 0.0


def _follow(graph: Graph, tensor: str) -> tuple[list[Node], Node] | None:
    """Channel-wise nodes from ``tensor`` to the single Dense/Conv that reads it, or None."""
    path: list[Node] = []
    while True:
        users = graph.consumers(tensor)
        if len(users) != 1 or tensor in graph.outputs:
            return None
        node = users[0]
        if node.op in ("Dense", "Conv"):
            if node.inputs[0] != tensor or (node.op == "Conv" and int(node.attrs["group"]) != 1):
                return None
            return path, node
        if node.op in _CHANNELWISE or (node.op == "Reshape" and len(node.attrs["shape"]) == 2):
            path.append(node)
            tensor = node.outputs[0]
            continue
        return None


def _removable(graph: Graph, node: Node) -> np.ndarray:
    weight = as_matrix(np.asarray(graph.tensor(node.inputs[1]).real_values()))
    dead = ~weight.any(axis=1)
    if len(node.inputs) > 2:
        dead &= graph.tensor(node.inputs[2]).real_values() == 0
    return dead


def shrink_channels(graph: Graph) -> tuple[Graph, dict[str, int]]:
    """A float graph with removed filters cut out; returns (new graph, {layer: channels removed})."""
    out = copy.deepcopy(graph)
    removed: dict[str, int] = {}
    for node in [n for n in out.nodes if n.op in ("Dense", "Conv")]:
        dead = _removable(out, node)
        if not dead.any() or dead.all():
            continue
        route = _follow(out, node.outputs[0])
        if route is None:
            continue
        path, consumer = route
        if any(out.tensor(name).is_quantized for name in node.inputs[1:] + consumer.inputs[1:]):
            raise PatternError("shrink_channels works on float graphs (before quantization)", file=graph.source)
        keep = np.flatnonzero(~dead)
        channels = len(dead)
        for name in node.inputs[1:]:
            t = out.tensor(name)
            t.data = np.ascontiguousarray(np.asarray(t.data)[keep])
            t.shape = list(t.data.shape)
            t.sparsity, t.mask = None, None
        spatial = 1
        for tensor_name in [node.outputs[0], *(n.outputs[0] for n in path)]:
            t = out.tensor(tensor_name)
            if len(t.shape) == 4:
                spatial = t.shape[2] * t.shape[3]
                t.shape = [t.shape[0], len(keep), *t.shape[2:]]
            else:
                t.shape = [t.shape[0], len(keep) * spatial]
        for p in path:
            if p.op == "Reshape":
                p.attrs["shape"] = [int(p.attrs["shape"][0]), len(keep) * spatial]
        w = out.tensor(consumer.inputs[1])
        data = np.asarray(w.data)
        if consumer.op == "Conv":
            w.data = np.ascontiguousarray(data[:, keep])
        else:
            cols = (keep[:, None] * spatial + np.arange(spatial)[None, :]).reshape(-1)
            if data.shape[1] != channels * spatial:
                raise PatternError(f"cannot map {channels} channels onto {data.shape[1]} inputs", node=consumer.name)
            w.data = np.ascontiguousarray(data[:, cols])
        w.shape = list(w.data.shape)
        w.sparsity, w.mask = None, None
        removed[node.name] = int(dead.sum())
    out.verify()
    return out, removed


def shrunk_size(weight_shape: tuple[int, ...], sparsity: float) -> int:
    """Filters left after pruning a layer of this shape at ``sparsity``."""
    return kept_count(int(weight_shape[0]), sparsity, minimum=1) * int(math.prod(weight_shape[1:]))

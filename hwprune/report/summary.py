"""``report.json``: what a hardware engineer wants first — per-layer shapes, MACs, bits, totals."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from hwprune import plugins
from hwprune.boards import Board
from hwprune.ir.graph import Graph, Node
from hwprune.lower.fitting import layer_interval
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["layer_macs", "build_summary", "NODE_SUMMARIES"]

NodeSummary = Callable[[Node], "dict[str, Any] | None"]
NODE_SUMMARIES: dict[str, tuple[str, NodeSummary]] = {}
"""Op type -> (key, function) adding facts of an op with its own hardware to its row (None: nothing to add);
filled by plug-ins of stage ``report`` (``hwprune.plugins``). Such facts are not in the layers' MAC totals."""


def layer_macs(graph: Graph, node: Node, nonzero_only: bool = False) -> int:
    """Multiply-accumulates of one inference (batch 1): all weights, or only the non-zero ones."""
    if node.op not in ("Dense", "Conv"):
        return 0
    weight = np.asarray(graph.tensor(node.inputs[1]).data)
    out = graph.tensor(node.outputs[0]).shape
    count = int(np.count_nonzero(weight)) if nonzero_only else int(weight.size)
    if node.op == "Dense":
        return count * math.prod(out[1:-1])
    return count * out[2] * out[3]


def _layer_entry(graph: Graph, node: Node) -> dict[str, Any]:
    out = graph.tensor(node.outputs[0])
    entry: dict[str, Any] = {
        "name": node.name,
        "op": node.op,
        "input_shapes": [graph.tensor(name).shape for name in node.inputs if not graph.tensor(name).is_constant],
        "output_shape": out.shape,
        "output_type": str(out.dtype),
        "macs": layer_macs(graph, node),
        "nonzero_macs": layer_macs(graph, node, nonzero_only=True),
    }
    if node.op in ("Dense", "Conv"):
        weight = graph.tensor(node.inputs[1])
        data = np.asarray(weight.data)
        entry.update(
            weight_shape=weight.shape,
            weight_bits=weight.dtype.bits,
            weights=int(data.size),
            nonzero_weights=int(np.count_nonzero(data)),
            weight_storage_bits=int(data.size) * weight.dtype.bits,
            acc_bits=int(node.attrs["acc_bits"]),
            activation=node.attrs["activation"],
        )
    plugins.load("report")
    if node.op in NODE_SUMMARIES:
        key, summarise = NODE_SUMMARIES[node.op]
        facts = summarise(node)
        if facts is not None:
            entry[key] = facts
    return entry


def _kernel_entry(kernel: KernelSpec) -> dict[str, Any]:
    """Parallelism and compute cycles of one lowered layer (per inference, pipeline depth excluded)."""
    pixels = kernel.conv.out_height * kernel.conv.out_width if kernel.conv else 1
    return {
        "pattern": kernel.pattern,
        "lanes": kernel.lanes,
        "macs_per_lane": kernel.macs_per_lane,
        "in_simd": kernel.in_simd,
        "out_pe": kernel.out_pe,
        **({"frame_simd": kernel.frame_simd} if kernel.conv is not None else {}),
        "group_size": kernel.layout.group_size,
        "kept_per_group": kernel.layout.kept_per_group,
        "metadata_bits": kernel.weights.metadata_bits(),
        "compute_cycles": kernel.compute_cycles * pixels,
        "interval_cycles": layer_interval(kernel),
        "pe_utilisation": round(kernel.useful_macs * pixels / (kernel.multipliers
                                                              * kernel.compute_cycles * pixels), 6),
    }


def build_summary(
    graph: Graph, board: Board, accuracy: dict[str, float] | None = None, kernels: list[KernelSpec] | None = None
) -> dict[str, Any]:
    layers = [_layer_entry(graph, node) for node in graph.nodes]
    by_name = {kernel.name: kernel for kernel in kernels or []}
    for layer in layers:
        if layer["name"] in by_name:
            layer["kernel"] = _kernel_entry(by_name[layer["name"]])
    compute = [layer for layer in layers if "weights" in layer]
    return {
        "model": graph.name,
        "board": board.to_dict(),
        "layers": layers,
        "totals": {
            "macs": sum(layer["macs"] for layer in layers),
            "nonzero_macs": sum(layer["nonzero_macs"] for layer in layers),
            "weights": sum(layer["weights"] for layer in compute),
            "nonzero_weights": sum(layer["nonzero_weights"] for layer in compute),
            "weight_storage_bits": sum(layer["weight_storage_bits"] for layer in compute),
            "compute_cycles": sum(layer["kernel"]["compute_cycles"] for layer in layers if "kernel" in layer),
        },
        "accuracy": dict(accuracy or {}),
    }

"""IR clean-up passes run right after import (qonnx-style: ``apply(graph) -> changed``)."""

from __future__ import annotations

from typing import Callable

from hwprune.frontend.fold_affine import fold_affine_after_layers, fold_affine_before_layers, fuse_clip
from hwprune.ir.graph import Graph, Node

__all__ = ["fuse_relu", "remove_dead_nodes", "run_import_passes", "IMPORT_PASSES"]

Pass = Callable[[Graph], bool]


def _readers(graph: Graph) -> dict[str, list[Node]]:
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for name in dict.fromkeys(node.inputs):  # a node reading a tensor twice is one reader
            readers.setdefault(name, []).append(node)
    return readers


def fuse_relu(graph: Graph) -> bool:
    """Conv/Dense followed by its only reader Relu → the layer with ``activation=relu``.

    Hardware applies ReLU as the clamp at 0 of the requantiser, so the layer's output type can be
    unsigned (docs/architecture.md section 3). All pairs are fused in one sweep over a reader index: a scan
    of the graph per pair would make import time quadratic in the size of (untrusted) models.
    """
    readers = _readers(graph)
    outputs = set(graph.outputs)
    fused: set[int] = set()
    for node in graph.nodes:
        if id(node) in fused or node.op not in ("Conv", "Dense") or node.attrs.get("activation") != "none":
            continue
        out = node.outputs[0]
        users = readers.get(out, [])
        if len(users) != 1 or users[0].op != "Relu" or out in outputs:
            continue
        relu = users[0]
        node.attrs["activation"] = "relu"
        del graph.tensors[out]
        node.outputs[0] = relu.outputs[0]
        fused.add(id(relu))
    if fused:
        graph.nodes = [node for node in graph.nodes if id(node) not in fused]
    return bool(fused)


def remove_dead_nodes(graph: Graph) -> bool:
    """Drop nodes whose outputs nothing reads, and constants nobody uses."""
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(out in live for out in node.outputs):
            kept.append(node)
            live.update(node.inputs)
    changed = len(kept) != len(graph.nodes)
    graph.nodes = list(reversed(kept))
    produced = {out for node in graph.nodes for out in node.outputs}
    for name in [n for n in graph.tensors if n not in live and n not in graph.inputs and n not in produced]:
        del graph.tensors[name]
        changed = True
    return changed


IMPORT_PASSES: tuple[Pass, ...] = (remove_dead_nodes, fold_affine_after_layers, fold_affine_before_layers,
                                   fuse_clip, fuse_relu)
"""In this order: constants fold into a layer before its activation is fused (``x·a`` after a ReLU is
not ``(x·a)`` before it), and a Clip(0, max) is taken before the Relu pass could see the layer."""


def run_import_passes(graph: Graph, passes: tuple[Pass, ...] = IMPORT_PASSES) -> None:
    """Apply each pass until none changes the graph any more."""
    changed = True
    while changed:
        changed = False
        for apply in passes:
            while apply(graph):
                changed = True

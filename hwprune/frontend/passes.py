"""IR clean-up passes run right after import (qonnx-style: ``apply(graph) -> changed``)."""

from __future__ import annotations

from typing import Callable

from hwprune.ir.graph import Graph

__all__ = ["fuse_relu", "remove_dead_nodes", "run_import_passes"]

Pass = Callable[[Graph], bool]


def fuse_relu(graph: Graph) -> bool:
    """Conv/Dense followed by its only reader Relu → the layer with ``activation=relu``.

    Hardware applies ReLU as the clamp at 0 of the requantiser, so the layer's output type can be
    unsigned (DESIGN.md section 3).
    """
    for node in graph.nodes:
        if node.op not in ("Conv", "Dense") or node.attrs.get("activation") != "none":
            continue
        out = node.outputs[0]
        readers = graph.consumers(out)
        if len(readers) != 1 or readers[0].op != "Relu" or out in graph.outputs:
            continue
        relu = readers[0]
        node.attrs["activation"] = "relu"
        relu_out = relu.outputs[0]
        graph.nodes.remove(relu)
        del graph.tensors[out]
        node.outputs[0] = relu_out
        return True
    return False


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
    for name in [n for n, t in graph.tensors.items() if n not in live and n not in graph.inputs]:
        if not any(name in node.outputs for node in graph.nodes):
            del graph.tensors[name]
            changed = True
    return changed


def run_import_passes(graph: Graph, passes: tuple[Pass, ...] = (remove_dead_nodes, fuse_relu)) -> None:
    """Apply each pass until none changes the graph any more."""
    changed = True
    while changed:
        changed = False
        for apply in passes:
            while apply(graph):
                changed = True

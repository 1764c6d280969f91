"""Fold an input normalisation ``(x - mean) / std`` into the graph input's ``Quantize`` node.

Why: a Sub/Div (IR ``Add``/``Mul`` by constants) between the graph input and the first layer has no
integer kernel, and folding it into a padded Conv's bias would be wrong at the borders (the padded zeros
are zeros of the *normalised* input). The quantizer runs on the host before the stream, in float, so it
can take ``x * pre_scale + pre_offset`` (one value per channel of axis 1) exactly:
``q = clip(round_half_even((x * pre_scale + pre_offset) / scale))`` (docs/numerics.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwprune.frontend.fold_affine import affine_operands, channel_vector
from hwprune.ir.graph import Graph, Node

__all__ = ["InputChain", "input_chain", "apply_chain", "remove_chain"]


@dataclass
class InputChain:
    """The affine nodes read from graph input ``source`` up to tensor ``end``, composed per channel."""

    source: str
    end: str
    nodes: list[Node] = field(default_factory=list)
    scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(1))


def input_chain(graph: Graph, name: str) -> InputChain:
    """The longest chain ``name → Add/Mul(constant per channel) → …`` in which every tensor has one reader
    and keeps the input's shape (empty when the input feeds something else first)."""
    shape = list(graph.tensor(name).shape)
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for value in dict.fromkeys(node.inputs):
            readers.setdefault(value, []).append(node)
    chain = InputChain(name, name)
    outputs = set(graph.outputs)
    while len(shape) >= 2:
        users = readers.get(chain.end, [])
        if len(users) != 1 or chain.end in outputs:
            break
        node = users[0]
        operands = affine_operands(graph, node)
        if operands is None or operands[0] != chain.end or node.outputs[0] in outputs:
            break
        vector = channel_vector(operands[1], shape, 1)
        if vector is None or list(graph.tensor(node.outputs[0]).shape) != shape:
            break
        if node.op == "Mul":
            chain.scale, chain.offset = chain.scale * vector, chain.offset * vector
        else:
            chain.offset = chain.offset + vector
        chain.nodes.append(node)
        chain.end = node.outputs[0]
    return chain


def apply_chain(chain: InputChain, x: np.ndarray) -> np.ndarray:
    """The chain's output for the float input ``x`` (float64, as the quantizer computes it)."""
    if not chain.nodes:
        return np.asarray(x, dtype=np.float64)
    shape = [1, -1] + [1] * (np.ndim(x) - 2)
    return np.asarray(x, dtype=np.float64) * chain.scale.reshape(shape) + chain.offset.reshape(shape)


def remove_chain(graph: Graph, chain: InputChain, replacement: str) -> None:
    """Drop the chain's nodes and tensors; its readers read ``replacement`` instead of its end."""
    ids = {id(node) for node in chain.nodes}
    graph.nodes = [node for node in graph.nodes if id(node) not in ids]
    for node in chain.nodes:
        graph.tensors.pop(node.outputs[0], None)
    for node in graph.nodes:
        node.inputs = [replacement if value == chain.end else value for value in node.inputs]


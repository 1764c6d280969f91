"""Data-dependent token counts: which tensors of a graph with TokenSelector nodes have them.

Why a module of its own: a selector keeps a different number of tokens for every input, but IR shapes are
static and both executors (``hwprune.ir.execute.run_float``, ``hwprune.quant.reference.run_integer``) work
on batches. ``token_counts`` is the selector's row-count rule (registered into ``hwprune.ir.dynamic.
DYNAMIC_ROWS`` by ``hwprune.tokens.ir_node``); the executors then follow the rule of ``hwprune.ir.dynamic``:

- a graph with TokenSelector nodes runs **one sample at a time** (the selector's batch of one); the
  samples' results are concatenated along axis 0;
- every tensor downstream of a selector's token output has a **dynamic token axis** (axis 1): its IR
  shape is the upper bound (the selector's input count) and each sample's value is **zero-padded** up to
  it (padded rows are 0, never computed: a Dense's bias does not appear there);
- the valid rows of sample i are ``result[<selector tokens>/count][i]`` — the selector node's third
  output (int64, one per sample), returned alongside every dynamic tensor asked for.

Only token-wise ops may consume a dynamic tensor (``TOKENWISE_*``); anything else (a Reshape, a pooling
over tokens) is refused by name, because a static shape cannot describe it.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from hwprune.errors import GraphError
from hwprune.ir.execute import run_float
from hwprune.ir.graph import Graph, Node

__all__ = ["count_name", "has_selectors", "token_counts", "trace_float", "TOKENWISE_UNARY", "TOKENWISE_BINARY"]

TOKENWISE_UNARY = ("Dense", "Relu", "Gelu", "Sigmoid", "Clip", "Quantize", "LayerNorm")
"""Ops that act on each token alone (the dynamic tensor is their first input; the rest are constants)."""
TOKENWISE_BINARY = ("Add", "Mul")
"""Element-wise ops: every activation input must carry the same count; constants at most rank 1."""


def count_name(tokens: str) -> str:
    """The IR name of the count output of the selector whose token output is ``tokens``."""
    return f"{tokens}/count"


def has_selectors(graph: Graph) -> bool:
    return any(node.op == "TokenSelector" for node in graph.nodes)


def _refuse(node: Node, why: str) -> GraphError:
    return GraphError(f"{why}: after a TokenSelector the token count is data-dependent, so only token-wise ops "
                      f"({', '.join(TOKENWISE_UNARY + TOKENWISE_BINARY)}, TokenSelector) may follow it",
                      node=node.name, op=node.op)


def _tokenwise_source(graph: Graph, node: Node, dynamic: dict[str, str]) -> str:
    """The count tensor of ``node``'s output (its dynamic inputs' count), or a clear refusal."""
    sources = {dynamic[name] for name in node.inputs if name in dynamic}
    if node.op in TOKENWISE_UNARY:
        if node.inputs[0] not in dynamic or any(not graph.tensor(n).is_constant for n in node.inputs[1:]):
            raise _refuse(node, "a second activation input next to a token tensor")
        if node.op == "LayerNorm":
            rank = len(graph.tensor(node.inputs[0]).shape)
            if int(node.attrs["axis"]) % rank != rank - 1:
                raise _refuse(node, "a LayerNorm over more than the channel axis")
    elif node.op in TOKENWISE_BINARY:
        for name in node.inputs:
            tensor = graph.tensor(name)
            if (tensor.is_constant and len(tensor.shape) > 1) or (not tensor.is_constant and name not in dynamic):
                raise _refuse(node, f"input {name!r} is not per token")
        if len(sources) != 1:
            raise _refuse(node, "token tensors of two different selectors")
    else:
        raise _refuse(node, "not a token-wise op")
    return sources.pop()


def token_counts(graph: Graph) -> dict[str, str]:
    """Every tensor with a dynamic token axis → the count tensor of its valid rows (``GraphError`` for a
    consumer that is not token-wise, or a selector node without its count output)."""
    dynamic: dict[str, str] = {}
    for node in graph.nodes:
        if node.op == "TokenSelector":
            if len(node.outputs) != 3:
                raise GraphError("TokenSelector node has no count output (IR written by an older hwprune: "
                                 "re-import the model)", node=node.name, op=node.op)
            if node.inputs[1] in dynamic:
                raise _refuse(node, "a package flag with a token axis")
            dynamic[node.outputs[0]] = node.outputs[2]
        elif any(name in dynamic for name in node.inputs):
            dynamic[node.outputs[0]] = _tokenwise_source(graph, node, dynamic)
    return dynamic


def trace_float(graph: Graph,
                feeds: Mapping[str, np.ndarray]) -> tuple[dict[str, float], dict[str, list[torch.Tensor]]]:
    """The float graph, one sample at a time: max |x| of every tensor (what ``observe_ranges`` gives a
    static graph) and, per TokenSelector node, the candidate rows [n, D] it saw on every sample."""
    counts = token_counts(graph)
    values = run_float(graph, feeds, keep_all=True)
    ranges = {name: float(np.abs(v).max()) if v.size else 0.0 for name, v in values.items()}
    for name in graph.inputs:
        ranges[name] = float(np.abs(np.asarray(feeds[name])).max())
    sets: dict[str, list[torch.Tensor]] = {}
    for node in graph.nodes:
        if node.op == "TokenSelector":
            x = np.asarray(feeds[node.inputs[0]] if node.inputs[0] in graph.inputs else values[node.inputs[0]])
            count = (np.asarray(values[counts[node.inputs[0]]]).reshape(-1) if node.inputs[0] in counts
                     else [x.shape[1]] * len(x))
            sets[node.name] = [torch.from_numpy(np.asarray(x[i, 1:int(c)], dtype=np.float32))
                               for i, c in enumerate(count)]
    return ranges, sets

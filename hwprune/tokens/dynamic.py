"""Data-dependent token counts: how graphs with TokenSelector nodes are executed and represented.

Why a module of its own: a selector keeps a different number of tokens for every input, but IR shapes are
static and both executors (``hwprune.ir.execute.run_float``, ``hwprune.quant.reference.run_integer``) work
on batches. The rule both follow, so float and integer results line up:

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

from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from hwprune.errors import GraphError
from hwprune.ir.graph import Graph, Node

__all__ = ["count_name", "has_selectors", "token_counts", "run_per_sample", "valid_rows", "trace_float",
           "TOKENWISE_UNARY", "TOKENWISE_BINARY", "register_kernels"]

TOKENWISE_UNARY = ("Dense", "Relu", "Gelu", "Sigmoid", "Clip", "Quantize", "LayerNorm")
"""Ops that act on each token alone (the dynamic tensor is their first input; the rest are constants)."""
TOKENWISE_BINARY = ("Add", "Mul")
"""Element-wise ops: every activation input must carry the same count; constants at most rank 1."""

Values = dict[str, np.ndarray]


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


def _pad(graph: Graph, name: str, value: np.ndarray) -> np.ndarray:
    """One sample's value zero-padded to the IR shape (the bound of every dynamic axis)."""
    bound = [value.shape[0], *graph.tensor(name).shape[1:]] if value.ndim else []
    if list(value.shape) == bound:
        return value
    if value.ndim != len(bound) or any(v > b for v, b in zip(value.shape, bound)):
        raise GraphError(f"tensor {name!r} came out as {list(value.shape)}, beyond its IR shape {bound}")
    return np.pad(value, [(0, b - v) for v, b in zip(value.shape, bound)])


def run_per_sample(graph: Graph, feeds: Mapping[str, np.ndarray | torch.Tensor],
                   run_one: Callable[[Values], Values],
                   wanted: Sequence[str] | None) -> Values:
    """Run ``run_one`` (an executor on a batch of one, returning every tensor as numpy) on every sample of
    ``feeds``; returns ``wanted`` (None: everything) padded and concatenated, plus the count of every
    dynamic tensor among them."""
    register_kernels()
    counts = token_counts(graph)
    arrays = {name: np.asarray(value) for name, value in feeds.items()}
    sizes = {len(a) for a in arrays.values() if a.ndim}
    if len(sizes) != 1:
        raise GraphError(f"feeds disagree on the batch size ({sorted(sizes)}) or have none")
    results = [run_one({name: a[i:i + 1] if a.ndim else a for name, a in arrays.items()})
               for i in range(sizes.pop())]
    names = list(wanted) if wanted is not None else list(results[0])
    names += [counts[n] for n in list(names) if n in counts and counts[n] not in names]
    return {name: np.concatenate([_pad(graph, name, np.asarray(r[name])) for r in results], axis=0)
            for name in names}


def valid_rows(values: Mapping[str, np.ndarray], name: str, counts: Mapping[str, str]) -> np.ndarray:
    """The token rows [R, D] of a rank-3 tensor over the batch: all T per sample, or only the valid ones
    of a dynamic tensor (``counts`` from ``token_counts``)."""
    x = np.asarray(values[name])
    if name not in counts:
        return x.reshape(-1, x.shape[-1])
    count = np.asarray(values[counts[name]]).reshape(-1)
    return np.concatenate([x[i, :int(c)] for i, c in enumerate(count)], axis=0)


def trace_float(graph: Graph,
                feeds: Mapping[str, np.ndarray]) -> tuple[dict[str, float], dict[str, list[torch.Tensor]]]:
    """The float graph, one sample at a time: max |x| of every tensor (what ``observe_ranges`` gives a
    static graph) and, per TokenSelector node, the candidate rows [n, D] it saw on every sample."""
    from hwprune.ir.execute import run_float

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


_SELECTORS: dict[int, tuple[object, object]] = {}


def _int_kernel(graph: Graph, node: Node, xs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``IntSelector.select`` on one sample: (tokens [1, T', D], package flag [1], count [1])."""
    from hwprune.tokens.emit import int_selector_of

    if xs[0].shape[0] != 1:
        raise GraphError("TokenSelector runs one sample at a time (run_integer splits the batch)",
                         node=node.name, op=node.op)
    attr = node.attrs.get("int_selector")
    cached = _SELECTORS.get(id(node))
    if cached is None or cached[0] is not attr:  # the attr object is kept alive, so its id stays unique
        if len(_SELECTORS) >= 64:
            _SELECTORS.clear()
        cached = _SELECTORS[id(node)] = (attr, int_selector_of(node))
    step = cached[1].select(xs[0][0], bool(int(xs[1].reshape(-1)[0])))  # type: ignore[attr-defined]
    return (step.tokens[None], torch.tensor([int(step.has_package)], dtype=torch.int64),
            torch.tensor([step.tokens.shape[0]], dtype=torch.int64))


def register_kernels() -> None:
    """Make the IR op, the float and the integer executors know the selector (idempotent; both executors
    call it, so a graph read back from JSON runs without the ONNX frontend having been imported)."""
    from hwprune.ir.execute import FLOAT_KERNELS
    from hwprune.ir.ops import OPS
    from hwprune.quant.reference import INT_KERNELS
    from hwprune.tokens.onnx_handler import TOKEN_SELECTOR_SPEC, float_kernel

    OPS.setdefault(TOKEN_SELECTOR_SPEC.name, TOKEN_SELECTOR_SPEC)
    FLOAT_KERNELS.setdefault(TOKEN_SELECTOR_SPEC.name, float_kernel)
    INT_KERNELS.setdefault(TOKEN_SELECTOR_SPEC.name, _int_kernel)  # type: ignore[arg-type]

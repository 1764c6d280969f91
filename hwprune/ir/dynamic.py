"""Tensors with a data-dependent number of rows, and how executors run graphs that have them.

Why in the IR: IR shapes are static, but some ops keep a different number of rows for every input (the
token selector today). Both executors (``hwprune.ir.execute.run_float``, ``hwprune.quant.reference.
run_integer``), the HLS writer and the C-sim vector writer must agree on one rule, without knowing the op:

- such an op registers a **row-count rule** in ``DYNAMIC_ROWS`` (op type -> function giving every tensor
  with a dynamic row axis, axis 1, and the name of the int64 tensor that holds its valid row count);
- a graph with such an op runs **one sample at a time**; the samples' results are concatenated along
  axis 0, each value **zero-padded** up to its IR shape (the upper bound); the count tensors of the
  dynamic tensors asked for come back alongside them.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from hwprune import plugins
from hwprune.errors import GraphError
from hwprune.ir.graph import Graph

__all__ = ["DYNAMIC_ROWS", "RowCounts", "has_dynamic_rows", "row_counts", "run_per_sample", "valid_rows"]

Values = dict[str, np.ndarray]
RowCounts = Callable[[Graph], dict[str, str]]
DYNAMIC_ROWS: dict[str, RowCounts] = {}
"""Op type -> its row-count rule (filled by plug-ins of stage ``ir``)."""


def _dynamic_ops(graph: Graph) -> list[str]:
    plugins.load("ir")
    return sorted({node.op for node in graph.nodes if node.op in DYNAMIC_ROWS})


def has_dynamic_rows(graph: Graph) -> bool:
    """Whether some tensor of ``graph`` has a data-dependent row count."""
    return bool(_dynamic_ops(graph))


def row_counts(graph: Graph) -> dict[str, str]:
    """Every tensor with a dynamic row axis -> the count tensor of its valid rows (empty: none)."""
    counts: dict[str, str] = {}
    for op in _dynamic_ops(graph):
        counts.update(DYNAMIC_ROWS[op](graph))
    return counts


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
    counts = row_counts(graph)
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
    """The rows [R, D] of a rank-3 tensor over the batch: all T per sample, or only the valid ones of a
    dynamic tensor (``counts`` from ``row_counts``)."""
    x = np.asarray(values[name])
    if name not in counts:
        return x.reshape(-1, x.shape[-1])
    count = np.asarray(values[counts[name]]).reshape(-1)
    return np.concatenate([x[i, :int(c)] for i, c in enumerate(count)], axis=0)

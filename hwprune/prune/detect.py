"""Recognise balanced sparsity in imported weights, so a model pruned elsewhere lowers without waste.

An ONNX file carries only zeros, not the pattern that made them. ``annotate_patterns`` finds, for each
Dense/Conv weight with zeros, the *most specific* balanced layout its non-zero mask satisfies
**exactly** — every group of every row holds the same number of non-zeros — and records it on the
tensor (``sparsity`` with ``group_size``/``kept_per_group``, and ``mask``), which is what lowering reads.

"Most specific" = the smallest group size that fits (finest groups: most MAC parallelism, fewest
offset bits). The name given to it says which family the layout belongs to, most specific first:

1. ``block_punched`` (balanced) — Conv, groups = one input channel's kh·kw window, and the mask is
   shared by the default 8 filters × 4 channels blocks;
2. ``nm`` — group size M in 2, 4, 8, 16 dividing K (N = non-zeros per group);
3. ``bank_balanced`` — any other group size dividing K (banks = K / group size);
4. ``balanced_stochastic`` — a group size that leaves a zero-padded last group (the generic
   "same count per group" family; how the kept weights were chosen cannot be seen in a file). A last
   group shorter than k must keep all of its real inputs (the short-group rule of ``GroupLayout``).

A weight that fits none (unstructured, channel-pruned rows, a kept weight that rounded to 0) is left
unannotated: lowering then runs it as dense, which is always correct.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from hwprune.ir.graph import Graph
from hwprune.ir.types import SparsityPattern
from hwprune.prune.patterns.base import GroupLayout, as_matrix

__all__ = ["Detected", "detect_pattern", "annotate_patterns", "COMMON_M"]

log = logging.getLogger(__name__)

COMMON_M = (2, 4, 8, 16)
BLOCK = (8, 4)  # filters × channels of the default block-punched block


@dataclass(frozen=True)
class Detected:
    """A balanced layout found in a weight's non-zeros, with the family name it is recorded under."""

    kind: str
    layout: GroupLayout
    params: tuple[tuple[str, int | float | str], ...]
    density: float

    def to_ir(self) -> SparsityPattern:
        return SparsityPattern(self.kind, self.density, self.params)


def _exact_group_size(nonzero: np.ndarray) -> GroupLayout | None:
    """Smallest group size S whose every (row, group) holds the same count k, 1 <= k < S; a short
    last group of r < k real inputs holds all r (``GroupLayout``'s short-group rule)."""
    rows, k_in = nonzero.shape
    per_row = nonzero.sum(axis=1)
    if per_row.min() != per_row.max() or per_row[0] in (0, k_in):
        return None
    kept_row = int(per_row[0])
    for size in range(2, k_in + 1):
        groups = math.ceil(k_in / size)
        last = k_in - (groups - 1) * size
        k = kept_row // groups if kept_row % groups == 0 else -1
        if not (1 <= k < size and k <= last) and groups > 1:
            # a short last group keeping all of its real inputs: k from the full groups
            rest = kept_row - last
            k = rest // (groups - 1) if rest % (groups - 1) == 0 and rest // (groups - 1) > last else -1
        if not 1 <= k < size:
            continue
        layout = GroupLayout(k_in, size, k)
        if layout.real_kept_per_row != kept_row:
            continue
        padded = np.pad(nonzero, ((0, 0), (0, groups * size - k_in)))
        if (padded.reshape(rows, groups, size).sum(axis=2) == layout.real_kept()[None, :]).all():
            return layout
    return None


def _block_shared(nonzero: np.ndarray) -> bool:
    """Whether a [F, C, kh, kw] mask is identical across every default 8×4 block (partial blocks too)."""
    f, c = nonzero.shape[:2]
    bf, bc = BLOCK
    for i in range(0, f, bf):
        for j in range(0, c, bc):
            block = nonzero[i : i + bf, j : j + bc].reshape(-1, nonzero.shape[2] * nonzero.shape[3])
            if not (block == block[0]).all():
                return False
    return True


def detect_pattern(weight: np.ndarray) -> Detected | None:
    """The most specific exact balanced layout of ``weight``'s non-zeros, or None (see module doc)."""
    data = np.asarray(weight)
    nonzero = data != 0
    layout = _exact_group_size(np.asarray(as_matrix(nonzero)))
    if layout is None:
        return None
    density = float(nonzero.mean())
    s, k, k_in = layout.group_size, layout.kept_per_group, layout.in_features
    base: dict[str, int | float | str] = {"group_size": s, "kept_per_group": k}
    if data.ndim == 4 and s == data.shape[2] * data.shape[3] and s > 1 and _block_shared(nonzero):
        kind, extra = "block_punched", {"filters": BLOCK[0], "channels": BLOCK[1], "balanced": 1}
    elif s in COMMON_M and k_in % s == 0:
        kind, extra = "nm", {"m": s, "n": k}
    elif k_in % s == 0:
        kind, extra = "bank_balanced", {"banks": k_in // s}
    else:
        kind, extra = "balanced_stochastic", {}
    return Detected(kind, layout, tuple(sorted({**base, **extra}.items())), density)


def annotate_patterns(graph: Graph, *, overwrite: bool = False) -> dict[str, SparsityPattern]:
    """Set ``sparsity`` and ``mask`` on every Dense/Conv weight whose zeros form a balanced pattern.

    Weights that already carry a pattern are kept unless ``overwrite``. Works on float and integer
    weights. Returns {weight tensor name: pattern} of what it annotated; the graph changes in place.
    """
    found: dict[str, SparsityPattern] = {}
    for node in graph.nodes:
        if node.op not in ("Dense", "Conv") or len(node.inputs) < 2:
            continue
        tensor = graph.tensor(node.inputs[1])
        if tensor.data is None or (tensor.sparsity is not None and not overwrite):
            continue
        detected = detect_pattern(np.asarray(tensor.data))
        if detected is None:
            continue
        tensor.sparsity = detected.to_ir()
        tensor.mask = np.asarray(tensor.data) != 0
        found[tensor.name] = tensor.sparsity
        log.info("%s: %s %d of %d per group (density %.3f)", node.name, detected.kind,
                 detected.layout.kept_per_group, detected.layout.group_size, detected.density)
    return found

"""What would make a model fit that does not: the smallest bundled board that holds it, and the least
balanced sparsity at which it fits the board asked for (the tail of ``FitError``'s message,
docs/boards.md). Both run the fitter's own search (``hwprune.lower.fitting``, passed in as ``fits``) on the
analytic model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from hwprune.boards import Board, all_boards
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.resource_model import Estimate, budget
from hwprune.prune.patterns.base import GroupLayout, PackedWeights

__all__ = ["advice", "ADVICE_DENSITIES", "Fits"]

Fits = Callable[[Sequence[KernelSpec], Board, float, Estimate, dict[str, Any]], bool]
"""Whether the fitter's search finds a design for (kernels, board, max_util, fixed glue, a memo of
candidates per Yosys family): ``hwprune.lower.fitting`` passes its own, so this module needs nothing
from it."""


ADVICE_DENSITIES = ((4, 8), (2, 8), (1, 8), (1, 16))
"""(kept, group size) of the balanced_stochastic layouts tried for the sparsity advice: densities
1/2, 1/4, 1/8, 1/16, i.e. sparsities 50 %, 75 %, 87.5 %, 93.75 % (``hwprune prune`` defaults to
groups of 8; 1/16 needs ``--param group_size=16``)."""


def _at_density(spec: KernelSpec, kept: int, size: int) -> KernelSpec:
    """``spec`` pruned to ``kept`` of every ``size`` inputs (balanced, short-group rule), for costing only:
    the packed values are zeros and the accumulator keeps its width (an upper bound after pruning)."""
    layout = spec.layout
    if layout.kept_per_group * size <= kept * layout.group_size:
        return spec  # already at least that sparse
    trial = GroupLayout(layout.in_features, size, min(kept, layout.in_features))
    shape = (spec.out_features, trial.groups, trial.kept_per_group)
    packed = PackedWeights(trial, np.zeros(shape, dtype=np.int8), np.zeros(shape, dtype=np.int8))
    return replace(spec, weights=packed, macs_per_lane=1, pattern="balanced_stochastic")


def advice(kernels: Sequence[KernelSpec], board: Board, max_util: float, fixed: Estimate, fits: Fits) -> str:
    """What would make the model fit: the smallest bundled board that holds it as it is (boards by LUT
    count, no-ceiling targets left out), and the least balanced_stochastic sparsity of
    ``ADVICE_DENSITIES`` at which it fits this board. Both run the fitter's search on the analytic
    model, with the network top's glue as estimated for this board."""
    others = sorted((b for b in all_boards() if b.name != board.name and budget(b)), key=lambda b: (b.lut, b.dsp))
    memo: dict[str, Any] = {}
    bigger = next((b for b in others if fits(kernels, b, max_util, fixed, memo)), None)
    board_text = (f"it fits board {bigger.name!r} as it is (the smallest bundled board that holds it)" if bigger
                  else "no bundled board holds it as it is")
    for kept, size in ADVICE_DENSITIES:
        if fits([_at_density(spec, kept, size) for spec in kernels], board, max_util, fixed, {}):
            sparsity = 1 - kept / size
            param = "" if size == 8 else f" --param group_size={size}"
            return (f"{board_text}; on {board.name!r} it fits pruned to sparsity {sparsity:g} "
                    f"({kept} of every {size} weights kept: hwprune prune -p balanced_stochastic "
                    f"-s {sparsity:g}{param})")
    return f"{board_text}; no balanced sparsity up to {1 - ADVICE_DENSITIES[-1][0] / ADVICE_DENSITIES[-1][1]:g} " \
           f"makes it fit {board.name!r}: use fewer bits or a bigger board"

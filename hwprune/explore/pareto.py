"""The Pareto set of a sweep: points no other point beats on every objective at once.

All objectives are minimised. Points with equal objective vectors do not dominate each other, so
both stay in the set (the sweep found two equally good designs; the user picks).
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["OBJECTIVES", "objectives_for", "dominates", "pareto_indices"]

OBJECTIVES = ("interval_cycles", "resource_cost", "accuracy_loss")
"""Cycles per inference at the steady state (the network top's initiation interval), the board
resources used (summed shares, ``point.resource_cost``), and top-1 points lost against the unpruned
float model (only with --eval-data)."""


def objectives_for(with_accuracy: bool) -> tuple[str, ...]:
    return OBJECTIVES if with_accuracy else OBJECTIVES[:2]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True if ``a`` is no worse than ``b`` everywhere and better somewhere."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_indices(points: Sequence[dict[str, Any]], objectives: Sequence[str]) -> list[int]:
    """``index`` of every fitting point on the Pareto front, ascending."""
    candidates = [(p["index"], tuple(float(p[key]) for key in objectives)) for p in points if p.get("fits")]
    front = [index for index, vector in candidates
             if not any(dominates(other, vector) for _, other in candidates)]
    return sorted(front)

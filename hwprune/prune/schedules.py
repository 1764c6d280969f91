"""Sparsity schedules: how the target sparsity is reached over ``Sparsifier.step()`` calls.

* ``OneShot`` — the final sparsity at the first step (prune a trained model once, then fine-tune).
* ``Cubic`` — the gradual ramp of Zhu & Gupta (2017): ``s_t = s_f + (s_0 - s_f)·(1 - t/n)³`` for
  ``t = 0..n`` steps, pruning fast while many redundant weights remain and gently near the end.

ADMM is not a schedule but a training method (``hwprune.prune.admm``); it ends in a one-shot prune.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwprune.prune.patterns.base import PatternError

__all__ = ["Schedule", "OneShot", "Cubic", "make_schedule"]


class Schedule:
    """Maps a step count (1 = the first ``step()``) to the sparsity to enforce at that step."""

    def sparsity_at(self, step: int, target: float) -> float:
        raise NotImplementedError

    def done(self, step: int) -> bool:
        """True once the final sparsity is in force (masks then stop changing)."""
        raise NotImplementedError


@dataclass(frozen=True)
class OneShot(Schedule):
    """The whole target at once."""

    def sparsity_at(self, step: int, target: float) -> float:
        return target if step >= 1 else 0.0

    def done(self, step: int) -> bool:
        return step >= 1


@dataclass(frozen=True)
class Cubic(Schedule):
    """Cubic ramp from ``initial`` to the target over ``steps`` calls of ``step()``."""

    steps: int = 10
    initial: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise PatternError(f"steps must be a positive integer, not {self.steps!r}")
        if not 0.0 <= self.initial < 1.0:
            raise PatternError(f"initial must be a sparsity in [0, 1), not {self.initial!r}")

    def sparsity_at(self, step: int, target: float) -> float:
        if step < 1:
            return 0.0
        t = min(step, self.steps) / self.steps
        return target + (self.initial - target) * (1.0 - t) ** 3

    def done(self, step: int) -> bool:
        return step >= self.steps


def make_schedule(schedule: str | Schedule, steps: int = 10) -> Schedule:
    """``"one_shot"``, ``"cubic"`` (with ``steps``) or a ``Schedule`` instance."""
    if isinstance(schedule, Schedule):
        return schedule
    if schedule == "one_shot":
        return OneShot()
    if schedule == "cubic":
        return Cubic(steps=steps)
    raise PatternError(f"unknown schedule {schedule!r}; known: one_shot, cubic (ADMM: hwprune.prune.admm.ADMM)")

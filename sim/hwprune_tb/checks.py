"""In-order scoreboard (values) and cycle checker (beat cycles): pure Python, no simulator calls,
so they are also unit-testable and reusable by other testbenches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class Scoreboard:
    """Compares received values with the expected ones, in order; no beat may be lost or added."""

    expected: Sequence[int]
    errors: list[str] = field(default_factory=list)

    def check(self, received: Sequence[int]) -> bool:
        for index, (want, got) in enumerate(zip(self.expected, received)):
            if want != got:
                self.errors.append(f"beat {index}: expected {want}, received {got}")
        if len(received) < len(self.expected):
            self.errors.append(f"{len(self.expected) - len(received)} beats lost "
                               f"(received {len(received)} of {len(self.expected)})")
        elif len(received) > len(self.expected):
            self.errors.append(f"{len(received) - len(self.expected)} extra beats received")
        return not self.errors


@dataclass
class CycleChecker:
    """Compares the cycle of every received beat with the cycle model's prediction."""

    expected: Sequence[int]
    errors: list[str] = field(default_factory=list)

    def check(self, cycles: Sequence[int]) -> bool:
        for index, (want, got) in enumerate(zip(self.expected, cycles)):
            if want != got:
                self.errors.append(f"beat {index}: model says cycle {want}, RTL gave cycle {got}")
        if len(cycles) != len(self.expected):
            self.errors.append(f"{len(cycles)} beats timed, the model predicts {len(self.expected)}")
        return not self.errors


def summary(errors: Sequence[str], limit: int = 8) -> str:
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(errors[:limit]) + more

"""``hwprune explore`` options: one frozen dataclass, every CLI flag one field, YAML loadable.

The sweep axes are tuples so a config file lists them the way the CLI repeats a flag; ``lanes`` 0
means "let the fitter choose" (``hwprune.lower.fitting.fit_kernels`` without a pinned lane count).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hwprune.errors import ConfigError

__all__ = ["ExploreConfig", "PatternChoice", "parse_pattern", "load_explore_config", "DEFAULT_PATTERNS"]

DEFAULT_PATTERNS = ("dense", "nm", "balanced_stochastic", "bank_balanced")


@dataclass(frozen=True)
class PatternChoice:
    """One pattern of the sweep with its constructor parameters (``nm:m=8`` → nm, {m: 8})."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """The spelling the user wrote (canonical order), used in explore.json and the plot."""
        return ":".join([self.name, *(f"{k}={v}" for k, v in self.params)])

    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)


def parse_pattern(text: str) -> PatternChoice:
    """``name[:key=value[:key=value…]]`` → PatternChoice, checked against the pattern registry."""
    from hwprune.prune.command import check_pattern_params, parse_params

    name, *items = [part.strip() for part in str(text).split(":")]
    params = parse_params(items)
    check_pattern_params(name, params)
    return PatternChoice(name, tuple(sorted(params.items())))


def _positive_ints(name: str, values: tuple[Any, ...], low: int, high: int) -> None:
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{name} must be integers in {low}..{high}, not {value!r}")


@dataclass(frozen=True)
class ExploreConfig:
    """Everything ``hwprune explore`` needs besides the model."""

    board: str = "zcu102"
    """Target board name (``hwprune boards`` lists them)."""
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    """Patterns to sweep, ``name[:param=value…]``; ``dense`` is the unpruned baseline (one sparsity, 0)."""
    sparsities: tuple[float, ...] = (0.5, 0.75)
    """Target sparsities (fraction of weights removed) tried for every pruning pattern."""
    lanes: tuple[int, ...] = (0, 4, 16)
    """Lanes per layer to pin (``min(lanes, outputs)``); 0 lets the fitter choose."""
    weight_bits: tuple[int, ...] = (8, 4)
    """Weight bit widths to sweep."""
    act_bits: int = 8
    """Bits per activation (fixed over the sweep)."""
    calibration: str | None = None
    """``.npz`` of calibration inputs for PTQ; default: calibration.npz beside the model."""
    eval_data: str | None = None
    """``.npz`` with ``x`` and ``y``: adds integer top-1 accuracy and its loss as a third objective."""
    seed: int = 0
    """Seed of every random choice (stochastic masks): same inputs and seed, same explore.json."""
    max_util: float = 0.8
    """Fraction of the board's resources a point may use; points that do not fit are kept, marked."""
    yosys: bool = False
    """Also synthesize the Pareto points with Yosys for the board's family."""
    workers: int = 0
    """Local worker processes (0: one per CPU); 1 runs in this process."""
    ray: str | None = None
    """Ray cluster address (``auto``, ``ray://host:port``) or ``local`` to start one; None: local pool."""

    def __post_init__(self) -> None:
        for name in ("patterns", "sparsities", "lanes", "weight_bits"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or not value:
                raise ConfigError(f"{name} must be a non-empty list, not {value!r}")
            object.__setattr__(self, name, tuple(value))
        for sparsity in self.sparsities:
            if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
                raise ConfigError(f"sparsities must be numbers in [0, 1), not {sparsity!r}")
        _positive_ints("lanes", self.lanes, 0, 1 << 16)
        _positive_ints("weight_bits", self.weight_bits, 2, 16)
        _positive_ints("act_bits", (self.act_bits,), 2, 16)
        _positive_ints("seed", (self.seed,), 0, 2**63 - 1)
        _positive_ints("workers", (self.workers,), 0, 1024)
        util = self.max_util
        if isinstance(util, bool) or not isinstance(util, (int, float)) or not 0 < util <= 1:
            raise ConfigError(f"max_util must be a number in (0, 1], not {self.max_util!r}")
        if not isinstance(self.yosys, bool):
            raise ConfigError(f"yosys must be true or false, not {self.yosys!r}")
        for text in self.patterns:
            parse_pattern(text)  # unknown pattern or parameter: the registry's exact message

    def pattern_choices(self) -> list[PatternChoice]:
        """The patterns, parsed, without duplicates (first spelling wins)."""
        seen: dict[str, PatternChoice] = {}
        for text in self.patterns:
            choice = parse_pattern(text)
            seen.setdefault(choice.label, choice)
        return list(seen.values())

    def with_overrides(self, **overrides: Any) -> "ExploreConfig":
        """A copy with the given fields replaced; ``None`` (and empty lists) leave a field as it is."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None and v != [] and v != ()})


def load_explore_config(path: str | Path) -> ExploreConfig:
    """Read a YAML config; unknown keys and wrong types are errors naming the file."""
    from hwprune.config import load_dataclass

    return load_dataclass(ExploreConfig, path)

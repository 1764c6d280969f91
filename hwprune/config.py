"""Compile options as one frozen dataclass; every CLI flag maps to one field.

A YAML file given with ``--config`` sets the same fields; unknown keys are an error, not ignored,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hwprune.errors import ConfigError

__all__ = ["CompileConfig", "load_config", "load_dataclass"]

_Options = TypeVar("_Options")


@dataclass(frozen=True)
class CompileConfig:
    """Everything ``hwprune compile`` needs besides the model."""

    board: str = "zcu102"
    """Target board name (``hwprune boards`` lists them)."""
    weight_bits: int = 8
    """Signed bits per weight (symmetric, per output channel)."""
    act_bits: int = 8
    """Bits per activation (per tensor; unsigned after ReLU)."""
    calibration: str | None = None
    """``.npz`` of calibration inputs for PTQ; default: the bundled digits set for the examples."""
    eval_data: str | None = None
    """Optional ``.npz`` with ``x`` and ``y`` (labels) to report float and integer accuracy."""
    seed: int = 0
    """Seed of every random choice (sampling, vectors), so builds are reproducible."""
    stop_after: str | None = None
    """Name of the last pipeline step to run (``hwprune compile --help`` lists the steps)."""
    max_util: float = 0.8
    """Fraction of the board's DSP/BRAM/LUT/FF the fitted design may use (analytic model)."""
    estimate: bool = True
    """Synthesize every kernel with Yosys for the board's family and report the counts."""
    full_synthesis: bool = False
    """Synthesize every kernel whole; by default a kernel of 16 or more lanes is estimated from two
    cut-down copies of 4 and 8 lanes (control + lanes x one lane; docs/boards.md, "Estimates")."""
    cache_dir: str | None = None
    """Root of hwprune's caches (Yosys figures under ``yosys/``); default ``$HWPRUNE_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/hwprune`` or ``~/.cache/hwprune``. Shared by every build and model."""
    jobs: int | None = None
    """Yosys processes run at once (default: one per CPU)."""
    lanes: int | None = None
    """Pin every layer to ``min(lanes, outputs)`` parallel lanes (only MACs per lane are fitted);
    ``None`` lets the fitter choose lanes per layer for the smallest interval that fits."""
    target_interval: int | None = None
    """Cycles per inference the design must reach (board clock / required inferences per second): the
    fitter then builds the cheapest design that reaches it, not the fastest that fits."""
    stream_width: int = 16
    """Most elements per beat of a wide stream between two dense kernels (a power of two; 16 int8
    activations = a 128-bit beat); 1 keeps every stream at one element per beat (docs/boards.md)."""
    vectors: int = 200
    """Random golden vectors in each layer's case in ``sim/`` (four edge vectors come on top); the
    network top's case takes ``vectors + 4`` (at most about ``NETWORK_CYCLE_BUDGET`` cycles, at least
    ``min(8, vectors + 4)``) and the HLS testbench the first ``min(32, vectors + 4)`` calibration
    samples. Fewer make ``hwprune sim`` of a large model quicker (a conv layer's vector is a frame)."""

    def __post_init__(self) -> None:
        for name in ("weight_bits", "act_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 16:
                raise ConfigError(f"{name} must be an integer in 2..16, not {value!r}")
        if isinstance(self.max_util, bool) or not isinstance(self.max_util, (int, float)) or not 0 < self.max_util <= 1:
            raise ConfigError(f"max_util must be a number in (0, 1], not {self.max_util!r}")
        if self.lanes is not None and (not isinstance(self.lanes, int) or isinstance(self.lanes, bool)
                                       or not 1 <= self.lanes <= 4096):
            raise ConfigError(f"lanes must be an integer in 1..4096, not {self.lanes!r}")
        if self.target_interval is not None and (not isinstance(self.target_interval, int)
                                                 or isinstance(self.target_interval, bool) or self.target_interval < 1):
            raise ConfigError(f"target_interval must be a positive integer (cycles), not {self.target_interval!r}")
        for name in ("estimate", "full_synthesis"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, not {getattr(self, name)!r}")
        if self.jobs is not None and (not isinstance(self.jobs, int) or isinstance(self.jobs, bool)
                                      or not 1 <= self.jobs <= 256):
            raise ConfigError(f"jobs must be an integer in 1..256, not {self.jobs!r}")
        if self.cache_dir is not None and (not isinstance(self.cache_dir, str) or not self.cache_dir):
            raise ConfigError(f"cache_dir must be a directory path, not {self.cache_dir!r}")
        if (not isinstance(self.stream_width, int) or isinstance(self.stream_width, bool)
                or not 1 <= self.stream_width <= 256 or self.stream_width & (self.stream_width - 1)):
            raise ConfigError(f"stream_width must be a power of two in 1..256, not {self.stream_width!r}")
        if not isinstance(self.vectors, int) or isinstance(self.vectors, bool) or not 0 <= self.vectors <= 100_000:
            raise ConfigError(f"vectors must be an integer in 0..100000, not {self.vectors!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, not {self.seed!r}")

    def with_overrides(self, **overrides: Any) -> "CompileConfig":
        """A copy with the given fields replaced; ``None`` values leave a field as it is."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def load_config(path: str | Path) -> CompileConfig:
    """Read a YAML config; rejects unknown keys and wrong types with the file named."""
    return load_dataclass(CompileConfig, path)


def load_dataclass(cls: type[_Options], path: str | Path) -> _Options:
    """``cls(**mapping)`` from a YAML file: unreadable files, bad YAML, unknown keys and wrong types
    are ``ConfigError``s naming the file. Shared by every command's options so they fail alike."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", file=path) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("a config file must be a mapping of option: value", file=path)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; known keys: {', '.join(sorted(known))}", file=path)
    try:
        return cls(**data)
    except ConfigError as exc:
        raise exc.with_file(path) from None
    except TypeError as exc:
        raise ConfigError(str(exc), file=path) from None

"""One error hierarchy, so the CLI can print a single clear line for every user mistake.

Each error carries the *where* (file, node, op) separately from the *why*, so messages read the same
everywhere: ``model.onnx: node 'conv1' (Conv): kernel shape [3, 5] is not supported``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "HwpruneError",
    "ModelLoadError",
    "UnsupportedOpError",
    "GraphError",
    "QuantizationError",
    "ConfigError",
    "BoardError",
    "BuildError",
]


class HwpruneError(Exception):
    """Base of every error hwprune raises on purpose (bad input, impossible request)."""

    exit_code = 2

    def __init__(
        self,
        reason: str,
        *,
        file: str | Path | None = None,
        node: str | None = None,
        op: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.node = node
        self.op = op
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.node is not None:
            where.append(f"node {self.node!r}" + (f" ({self.op})" if self.op else ""))
        elif self.op:
            where.append(f"op {self.op}")
        return ": ".join([*where, self.reason])

    def with_file(self, file: str | Path) -> "HwpruneError":
        """Attach the file name once it is known (inner code often only knows the node)."""
        if self.file is None:
            self.file = str(file)
            self.args = (self.message,)
        return self


class ModelLoadError(HwpruneError):
    """The model file cannot be read or is not a valid model."""


class UnsupportedOpError(HwpruneError):
    """The model uses an op or an op variant hwprune does not implement."""


class GraphError(HwpruneError):
    """The graph is malformed: cycles, dangling inputs, inconsistent shapes."""


class QuantizationError(HwpruneError):
    """Quantization cannot be done as asked (no calibration data, unsupported op, bad bit width)."""


class ConfigError(HwpruneError):
    """A configuration file or option is invalid."""


class BoardError(HwpruneError):
    """Unknown board, or a board file is invalid."""


class BuildError(HwpruneError):
    """The build directory cannot be written."""

"""Element types and sparsity annotations of IR tensors.

Types are tiny frozen values so that the IR can be hashed, compared and written to JSON exactly;
the integer ranges they give are the saturation bounds every backend must use (docs/architecture.md section 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["FloatType", "IntType", "ElemType", "SparsityPattern", "type_from_dict", "FLOAT32"]


@dataclass(frozen=True)
class FloatType:
    """IEEE float tensor (the float path, before quantization)."""

    bits: int = 32

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "float", "bits": self.bits}

    def __str__(self) -> str:
        return f"float{self.bits}"


@dataclass(frozen=True)
class IntType:
    """Two's-complement (signed) or plain binary (unsigned) integer of ``bits`` bits."""

    bits: int
    signed: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not 1 <= self.bits <= 64:
            raise ValueError(f"integer bit width must be an integer in 1..64, not {self.bits!r}")

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "int", "bits": self.bits, "signed": self.signed}

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"


ElemType = Union[FloatType, IntType]
FLOAT32 = FloatType(32)


def type_from_dict(data: dict[str, Any]) -> ElemType:
    """Inverse of ``to_dict`` of either type."""
    if data["kind"] == "float":
        return FloatType(int(data["bits"]))
    if data["kind"] == "int":
        return IntType(int(data["bits"]), bool(data["signed"]))
    raise ValueError(f"unknown element type kind {data['kind']!r}")


@dataclass(frozen=True)
class SparsityPattern:
    """Which weights a pattern keeps, in the vocabulary of docs/architecture.md section 4.

    ``kind`` names a pattern module in ``hwprune.prune.patterns``; ``params`` are its scalar
    parameters (e.g. ``n``/``m`` for N:M) as sorted pairs so the value stays hashable and
    serialises deterministically. ``density`` is kept/total over the weight tensor.
    """

    kind: str
    density: float
    params: tuple[tuple[str, int | float | str], ...] = field(default_factory=tuple)

    def param(self, name: str) -> int | float | str:
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(f"sparsity pattern {self.kind!r} has no parameter {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "density": self.density, "params": dict(self.params)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "SparsityPattern":
        return SparsityPattern(
            kind=str(data["kind"]),
            density=float(data["density"]),
            params=tuple(sorted(data.get("params", {}).items())),
        )

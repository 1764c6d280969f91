"""The intermediate representation: graph, element types, op set."""

from __future__ import annotations

from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import FLOAT32, FloatType, IntType, SparsityPattern

__all__ = ["Graph", "Node", "Tensor", "FloatType", "IntType", "SparsityPattern", "FLOAT32"]

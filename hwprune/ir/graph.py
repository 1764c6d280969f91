"""Graph / Node / Tensor: the one representation every stage after the frontend reads.

Activation shapes carry a leading batch axis recorded as 1 (one inference); executors run any batch
size because ops that mention shapes (Reshape) treat axis 0 as the batch. Weights live in the graph
as numpy arrays so a checkpoint (``ir.json``) is self-contained and exact.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from hwprune.errors import GraphError
from hwprune.ir.ops import OPS, Shape, op_spec
from hwprune.ir.types import FLOAT32, ElemType, IntType, SparsityPattern, type_from_dict

__all__ = ["Tensor", "Node", "Graph", "AttrValue", "check_node", "infer_shapes"]

AttrValue = int | float | str | list[int] | list[float]

IR_VERSION = 1


def _array_to_dict(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array)
    little = data.astype(data.dtype.newbyteorder("<"), copy=False)
    return {
        "dtype": str(data.dtype),
        "shape": list(data.shape),
        "b64": base64.b64encode(little.tobytes()).decode("ascii"),
    }


def _array_from_dict(data: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(data["dtype"]).newbyteorder("<")
    raw = base64.b64decode(data["b64"].encode("ascii"))
    return np.frombuffer(raw, dtype=dtype).astype(np.dtype(data["dtype"]), copy=True).reshape(data["shape"])


@dataclass
class Tensor:
    """A named value: an activation (``data is None``) or a constant (weights, bias).

    ``scale`` is the real value of one integer step: one entry per tensor, or one per channel along
    ``scale_axis`` (per-output-channel weights). Zero points are always 0 (docs/architecture.md section 3).
    """

    name: str
    shape: list[int]
    dtype: ElemType = FLOAT32
    data: np.ndarray | None = None
    scale: list[float] | None = None
    scale_axis: int | None = None
    sparsity: SparsityPattern | None = None
    mask: np.ndarray | None = None
    """Kept positions (bool, weight shape) when a pattern pruned this weight: a kept weight may still
    quantize to 0 and must keep its slot in the packed layout, so zeros alone cannot say it."""

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def is_quantized(self) -> bool:
        return isinstance(self.dtype, IntType)

    def real_values(self) -> np.ndarray:
        """The real (float32) values of a constant: integers × scale when it has an integer type."""
        if self.data is None:
            raise GraphError(f"tensor {self.name!r} is not a constant")
        if not self.is_quantized:
            return np.array(self.data, dtype=np.float32)  # a copy: torch wants writable arrays
        if self.scale is None:
            raise GraphError(f"integer constant {self.name!r} has no scale")
        data = np.asarray(self.data, dtype=np.float64)
        scale = np.asarray(self.scale, dtype=np.float64)
        if scale.size > 1:
            shape = [1] * data.ndim
            shape[self.scale_axis or 0] = -1
            scale = scale.reshape(shape)
        return (data * scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.to_dict()}
        if self.scale is not None:
            out["scale"] = [float(s) for s in self.scale]
            out["scale_axis"] = self.scale_axis
        if self.sparsity is not None:
            out["sparsity"] = self.sparsity.to_dict()
        if self.data is not None:
            out["data"] = _array_to_dict(self.data)
        if self.mask is not None:
            out["mask"] = _array_to_dict(np.asarray(self.mask, dtype=np.uint8))
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Tensor":
        return Tensor(
            name=data["name"],
            shape=[int(d) for d in data["shape"]],
            dtype=type_from_dict(data["dtype"]),
            data=_array_from_dict(data["data"]) if "data" in data else None,
            scale=[float(s) for s in data["scale"]] if "scale" in data else None,
            scale_axis=data.get("scale_axis"),
            sparsity=SparsityPattern.from_dict(data["sparsity"]) if "sparsity" in data else None,
            mask=_array_from_dict(data["mask"]).astype(bool) if "mask" in data else None,
        )


@dataclass
class Node:
    """One operation; ``op`` names an entry of ``hwprune.ir.ops.OPS``."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, AttrValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "attrs": {k: self.attrs[k] for k in sorted(self.attrs)},
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Node":
        return Node(data["name"], data["op"], list(data["inputs"]), list(data["outputs"]), dict(data["attrs"]))


@dataclass
class Graph:
    """A topologically ordered list of nodes over named tensors."""

    name: str
    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, Tensor]
    nodes: list[Node]
    source: str = ""

    # -- access -------------------------------------------------------------------------------
    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"tensor {name!r} is not defined in graph {self.name!r}") from None

    def producer(self, tensor_name: str) -> Node | None:
        for node in self.nodes:
            if tensor_name in node.outputs:
                return node
        return None

    def consumers(self, tensor_name: str) -> list[Node]:
        return [node for node in self.nodes if tensor_name in node.inputs]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise GraphError(f"graph {self.name!r} has no node {name!r}")

    def constants(self) -> Iterator[Tensor]:
        return (t for t in self.tensors.values() if t.is_constant)

    # -- checks -------------------------------------------------------------------------------
    def verify(self) -> None:
        """Raise ``GraphError`` unless the graph is well formed and every recorded shape is right.

        Checks: unique node and tensor names, single assignment, topological order (which also
        rules out cycles), known ops with valid arity and attributes, and shapes equal to what
        each op's shape rule gives.
        """
        seen_nodes: set[str] = set()
        available: set[str] = set(self.inputs) | {t.name for t in self.constants()}
        for name in self.inputs:
            if name not in self.tensors:
                raise GraphError(f"graph input {name!r} has no tensor entry")
        for node in self.nodes:
            if node.name in seen_nodes:
                raise GraphError("node name is used twice", node=node.name, op=node.op)
            seen_nodes.add(node.name)
            for name in node.inputs:
                if name not in available:
                    raise GraphError(
                        f"input {name!r} is neither a graph input, a constant nor produced by an "
                        "earlier node (dangling input or cycle)",
                        node=node.name,
                        op=node.op,
                    )
            for name in node.outputs:
                if name in available:
                    raise GraphError(f"output {name!r} is assigned more than once", node=node.name, op=node.op)
                if name not in self.tensors:
                    raise GraphError(f"output {name!r} has no tensor entry", node=node.name, op=node.op)
                available.add(name)
            check_node(self, node)
        for name in self.outputs:
            if name not in available:
                raise GraphError(f"graph output {name!r} is never produced")

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "ir_version": IR_VERSION,
            "name": self.name,
            "source": self.source,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "nodes": [n.to_dict() for n in self.nodes],
            "tensors": [self.tensors[k].to_dict() for k in sorted(self.tensors)],
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Graph":
        if data.get("ir_version") != IR_VERSION:
            raise GraphError(f"IR version {data.get('ir_version')!r} is not {IR_VERSION}")
        tensors = [Tensor.from_dict(t) for t in data["tensors"]]
        return Graph(
            name=data["name"],
            inputs=list(data["inputs"]),
            outputs=list(data["outputs"]),
            tensors={t.name: t for t in tensors},
            nodes=[Node.from_dict(n) for n in data["nodes"]],
            source=data.get("source", ""),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    @staticmethod
    def from_json(text: str) -> "Graph":
        return Graph.from_dict(json.loads(text))


def _node_shapes(graph: Graph, node: Node) -> list[Shape]:
    return [list(graph.tensor(name).shape) for name in node.inputs]


def check_node(graph: Graph, node: Node) -> None:
    """Check one node against its OpSpec (``hwprune.ir.ops``) and the shapes recorded in the graph."""
    spec = op_spec(node.op)
    if spec is None:
        raise GraphError(f"unknown IR op; known: {', '.join(sorted(OPS))}", node=node.name, op=node.op)
    if not spec.min_inputs <= len(node.inputs) <= spec.max_inputs:
        raise GraphError(
            f"takes {spec.min_inputs}..{spec.max_inputs} inputs, not {len(node.inputs)}", node=node.name, op=node.op
        )
    missing = [a for a in spec.required_attrs if a not in node.attrs]
    if missing:
        raise GraphError(f"missing attributes {missing}", node=node.name, op=node.op)
    try:
        expected = spec.infer(_node_shapes(graph, node), node.attrs)
    except GraphError as exc:
        raise GraphError(exc.reason, node=node.name, op=node.op) from None
    for name, shape in zip(node.outputs, expected):
        if list(graph.tensor(name).shape) != shape:
            raise GraphError(
                f"output {name!r} has shape {graph.tensor(name).shape}, the op gives {shape}",
                node=node.name,
                op=node.op,
            )


def infer_shapes(graph: Graph, node: Node) -> list[Shape]:
    """Shapes of ``node``'s outputs from its inputs' recorded shapes (used while building graphs)."""
    spec = op_spec(node.op)
    if spec is None:
        raise GraphError("unknown IR op", node=node.name, op=node.op)
    try:
        return spec.infer(_node_shapes(graph, node), node.attrs)
    except GraphError as exc:
        raise GraphError(exc.reason, node=node.name, op=node.op) from None

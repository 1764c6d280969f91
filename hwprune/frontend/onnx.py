"""ONNX → IR: one handler per ONNX op type, registered by decorator.

A handler reads its ONNX node through the ``ImportContext`` (constants, inferred shapes, renames)
and emits IR nodes/tensors. Anything it cannot represent raises ``UnsupportedOpError`` naming the
node, so the user learns which layer to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from hwprune.errors import GraphError, HwpruneError, UnsupportedOpError
from hwprune.frontend.onnx_loader import load_onnx
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.ops import infer_shapes
from hwprune.ir.types import FLOAT32

__all__ = ["ImportContext", "handler", "HANDLERS", "import_onnx", "import_onnx_model", "supported_ops"]

Handler = Callable[["ImportContext", onnx.NodeProto], None]
HANDLERS: dict[str, Handler] = {}


def handler(*op_types: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the translation of the given ONNX op types."""

    def register(fn: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = fn
        return fn

    return register


CUSTOM_DOMAIN_OPS = ("Quant", "TokenSelector")
"""Non-default-domain ops with handlers: QONNX ``Quant`` and hwprune's own ``TokenSelector``."""


def _register_handlers() -> None:
    """Import the handler modules (they register by decorator) and the token-selector plug-in."""
    from hwprune.frontend import onnx_ops, qonnx  # noqa: F401
    from hwprune.tokens.onnx_handler import register as register_token_selector

    register_token_selector()


def supported_ops() -> list[str]:
    _register_handlers()

    return sorted(HANDLERS)


@dataclass
class ImportContext:
    """State shared by the handlers while one ONNX graph is translated."""

    model: onnx.ModelProto
    graph: Graph
    shapes: dict[str, list[int]]
    renames: dict[str, str] = field(default_factory=dict)
    node: onnx.NodeProto | None = None
    node_name: str = ""
    uses: dict[str, int] = field(default_factory=dict)
    onnx_tensors: set[str] = field(default_factory=set)
    onnx_nodes: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Names the ONNX graph will still define: a tensor or node made up by a handler must not take them.
        self.onnx_tensors = {name for n in self.model.graph.node for name in n.output if name}
        self.onnx_nodes = set(_node_names(self.model))
        for onnx_node in self.model.graph.node:
            for name in onnx_node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        for value in self.model.graph.output:
            self.uses[value.name] = self.uses.get(value.name, 0) + 1

    def used_once(self, onnx_name: str) -> bool:
        """True when exactly one ONNX node (and no graph output) reads ``onnx_name``."""
        return self.uses.get(onnx_name, 0) == 1

    # -- lookups ------------------------------------------------------------------------------
    def name(self, onnx_name: str) -> str:
        """The IR tensor that now carries ``onnx_name`` (after removed Identity/Dropout nodes)."""
        while onnx_name in self.renames:
            onnx_name = self.renames[onnx_name]
        return onnx_name

    def fail(self, reason: str) -> UnsupportedOpError:
        op = self.node.op_type if self.node is not None else None
        return UnsupportedOpError(reason, node=self.node_name, op=op)

    def is_constant(self, onnx_name: str) -> bool:
        tensor = self.graph.tensors.get(self.name(onnx_name))
        return tensor is not None and tensor.is_constant

    def constant(self, onnx_name: str) -> np.ndarray:
        """The value of a constant input as float (dequantized if it carries an integer type)."""
        tensor = self.graph.tensors.get(self.name(onnx_name))
        if tensor is None or tensor.data is None:
            raise self.fail(f"input {onnx_name!r} must be a constant (initializer)")
        if tensor.is_quantized:
            return tensor.real_values()
        return np.asarray(tensor.data)

    def constant_tensor(self, onnx_name: str) -> Tensor:
        tensor = self.graph.tensors.get(self.name(onnx_name))
        if tensor is None or tensor.data is None:
            raise self.fail(f"input {onnx_name!r} must be a constant (initializer)")
        return tensor

    def shape(self, onnx_name: str) -> list[int]:
        name = self.name(onnx_name)
        if name in self.graph.tensors:
            return list(self.graph.tensors[name].shape)
        if onnx_name in self.shapes:
            return list(self.shapes[onnx_name])
        raise self.fail(f"shape of {onnx_name!r} is unknown after shape inference")

    def attr(self, name: str, default: object = None) -> object:
        assert self.node is not None
        for attribute in self.node.attribute:
            if attribute.name == name:
                return onnx.helper.get_attribute_value(attribute)
        return default

    def optional_input(self, index: int) -> str | None:
        assert self.node is not None
        if index < len(self.node.input) and self.node.input[index]:
            return self.node.input[index]
        return None

    # -- emission -----------------------------------------------------------------------------
    def add_constant(self, name: str, data: np.ndarray, **kwargs: object) -> str:
        name = self._unique_tensor_name(name)
        self.graph.tensors[name] = Tensor(name, list(data.shape), data=data, **kwargs)  # type: ignore[arg-type]
        return name

    def _unique_tensor_name(self, name: str) -> str:
        base, index = name, 1
        while name in self.graph.tensors or name in self.onnx_tensors:
            name = f"{base}_{index}"
            index += 1
        return name

    def emit(self, op: str, inputs: list[str], output: str, attrs: dict | None = None, suffix: str = "") -> Node:
        """Append an IR node producing ``output`` (an ONNX name, or a fresh one), shape inferred."""
        node = Node(self._unique_node_name(self.node_name + suffix), op, inputs, [output], dict(attrs or {}))
        (shape,) = infer_shapes(self.graph, node)
        self.graph.tensors[output] = Tensor(output, shape)
        self.graph.nodes.append(node)
        return node

    def fresh(self, stem: str) -> str:
        return self._unique_tensor_name(f"{self.node_name}/{stem}")

    def _unique_node_name(self, name: str) -> str:
        taken = {n.name for n in self.graph.nodes} | (self.onnx_nodes - {self.node_name})
        base, index = name, 1
        while name in taken:
            name = f"{base}_{index}"
            index += 1
        return name

    def alias(self, onnx_output: str, ir_name: str) -> None:
        """Make ``onnx_output`` refer to an existing IR tensor (used by removed ops)."""
        self.renames[onnx_output] = ir_name


def _value_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}
    for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    return shapes


def _node_names(model: onnx.ModelProto) -> list[str]:
    names, taken = [], set()
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{index}"
        base, suffix = name, 1
        while name in taken:
            name = f"{base}_{suffix}"
            suffix += 1
        taken.add(name)
        names.append(name)
    return names


def import_onnx_model(model: onnx.ModelProto, source: str = "<memory>") -> Graph:
    """Translate a loaded, shape-inferred model; errors carry ``source`` as the file."""
    from hwprune.frontend.passes import run_import_passes
    from hwprune.frontend.patterns import fuse_onnx_patterns

    _register_handlers()
    try:
        fuse_onnx_patterns(model)
        graph = Graph(name=model.graph.name or Path(source).stem, inputs=[], outputs=[], tensors={}, nodes=[],
                      source=Path(source).name)
        shapes = _value_shapes(model)
        ctx = ImportContext(model, graph, shapes)
        for init in model.graph.initializer:
            data = numpy_helper.to_array(init)
            graph.tensors[init.name] = Tensor(init.name, list(data.shape), data=_as_supported_array(data))
        for value in model.graph.input:
            if value.name in graph.tensors:
                continue
            elem = value.type.tensor_type.elem_type
            if elem != onnx.TensorProto.FLOAT:
                raise UnsupportedOpError(
                    f"graph input {value.name!r} has element type {onnx.TensorProto.DataType.Name(elem)}; "
                    "only FLOAT inputs are supported"
                )
            shape = shapes.get(value.name)
            if not shape or any(d <= 0 for d in shape):
                raise GraphError(f"graph input {value.name!r} has no static shape ({shape})")
            graph.tensors[value.name] = Tensor(value.name, shape, FLOAT32)
            graph.inputs.append(value.name)
        for onnx_node, name in zip(model.graph.node, _node_names(model)):
            ctx.node, ctx.node_name = onnx_node, name
            translate = HANDLERS.get(onnx_node.op_type) if onnx_node.domain in ("", "ai.onnx") else None
            if translate is None and onnx_node.op_type in CUSTOM_DOMAIN_OPS:
                translate = HANDLERS.get(onnx_node.op_type)
            if translate is None:
                domain = f" (domain {onnx_node.domain!r})" if onnx_node.domain not in ("", "ai.onnx") else ""
                raise UnsupportedOpError(
                    f"op type {onnx_node.op_type}{domain} is not supported; supported: {', '.join(supported_ops())}",
                    node=name,
                    op=onnx_node.op_type,
                )
            translate(ctx, onnx_node)
        graph.outputs = [ctx.name(value.name) for value in model.graph.output]
        run_import_passes(graph)
        graph.verify()
    except HwpruneError as exc:
        raise exc.with_file(source) from None
    return graph


def _as_supported_array(data: np.ndarray) -> np.ndarray:
    if data.dtype in (np.float64, np.float16):
        return data.astype(np.float32)
    return data


def import_onnx(path: str | Path) -> Graph:
    """Load an ONNX or QONNX file and translate it to a verified IR graph."""
    return import_onnx_model(load_onnx(path), source=str(path))



"""The contract between the ONNX importer and its op handlers: the handler table and ``ImportContext``.

Why a module of its own: the handler modules (``onnx_ops``, ``onnx_norm_ops``, ``qonnx``, and plug-ins of
stage ``frontend`` such as ``hwprune.tokens.onnx_handler``) register into ``HANDLERS`` and use the context;
the importer (``hwprune.frontend.onnx``) imports them. Keeping the table here makes the imports run one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx

from hwprune.errors import UnsupportedOpError
from hwprune.frontend import limits
from hwprune.frontend.onnx_loader import node_names
from hwprune.ir.graph import Graph, Node, Tensor, infer_shapes

__all__ = ["ImportContext", "handler", "HANDLERS", "Handler", "CUSTOM_DOMAIN_OPS"]

Handler = Callable[["ImportContext", onnx.NodeProto], None]
HANDLERS: dict[str, Handler] = {}


def handler(*op_types: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the translation of the given ONNX op types."""

    def register(fn: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = fn
        return fn

    return register


CUSTOM_DOMAIN_OPS: set[str] = {"Quant"}
"""Non-default-domain ops with handlers: QONNX ``Quant``, and those plug-ins add (hwprune's own
``TokenSelector``)."""


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
    ir_nodes: set[str] = field(default_factory=set)
    """Names given to IR nodes so far (kept as a set: a scan of ``graph.nodes`` per node is quadratic)."""
    macs: limits.MacBudget = field(default_factory=limits.MacBudget)
    pending_pads: dict[str, list[int]] = field(default_factory=dict)
    """ONNX tensor -> [top, left, bottom, right] of a zero ``Pad`` that its reader (Conv/AveragePool) adds
    to its own pads (``onnx_layout_ops.pad``)."""
    _readers: dict[str, list[onnx.NodeProto]] | None = None
    _producers: dict[str, Node] = field(default_factory=dict)
    _indexed: int = 0

    def __post_init__(self) -> None:
        # Names the ONNX graph will still define: a tensor or node made up by a handler must not take them.
        self.onnx_tensors = {name for n in self.model.graph.node for name in n.output if name}
        self.onnx_nodes = set(node_names(self.model))
        for onnx_node in self.model.graph.node:
            for name in onnx_node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        for value in self.model.graph.output:
            self.uses[value.name] = self.uses.get(value.name, 0) + 1

    def producer(self, ir_name: str) -> Node | None:
        """The IR node that produces ``ir_name`` so far (an index kept up to date as nodes are added:
        ``Graph.producer`` scans every node, which per handler call makes import quadratic)."""
        for node in self.graph.nodes[self._indexed:]:
            for out in node.outputs:
                self._producers.setdefault(out, node)
        self._indexed = len(self.graph.nodes)
        return self._producers.get(ir_name)

    def readers(self, onnx_name: str) -> list[onnx.NodeProto]:
        """The ONNX nodes that read ``onnx_name``, in graph order (an index built once)."""
        if self._readers is None:
            self._readers = {}
            for onnx_node in self.model.graph.node:
                for name in dict.fromkeys(onnx_node.input):
                    self._readers.setdefault(name, []).append(onnx_node)
        return self._readers.get(onnx_name, [])

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
        """The value of attribute ``name`` (``default`` when absent); text comes back as ``str``.

        ONNX stores string attributes as bytes of any content: they are decoded here, once, with
        invalid UTF-8 replaced, so a corrupt file gives a "not supported" error, not a decode crash.
        """
        assert self.node is not None
        for attribute in self.node.attribute:
            if attribute.name == name:
                try:
                    value = onnx.helper.get_attribute_value(attribute)
                except Exception:  # an undefined attribute type (custom ops escape the checker)
                    raise self.fail(f"attribute {name!r} cannot be read") from None
                if isinstance(value, bytes):
                    return value.decode("utf-8", errors="replace")
                if isinstance(value, list) and value and isinstance(value[0], bytes):
                    return [v.decode("utf-8", errors="replace") for v in value]
                return value
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
        # Checked from shapes before any executor allocates them (hwprune.frontend.limits).
        limits.check_shape(f"output {output!r}", shape, node=node.name, op=op)
        in_shapes = [self.graph.tensors[name].shape for name in inputs]
        self.macs.add(limits.node_macs(op, in_shapes, [shape]), node=node.name, op=op)
        self.graph.tensors[output] = Tensor(output, shape)
        self.graph.nodes.append(node)
        return node

    def fresh(self, stem: str) -> str:
        return self._unique_tensor_name(f"{self.node_name}/{stem}")

    def _unique_node_name(self, name: str) -> str:
        """A node name no IR node has and no other ONNX node will claim; reserved once returned."""
        base, index = name, 1
        while name in self.ir_nodes or (name in self.onnx_nodes and name != self.node_name):
            name = f"{base}_{index}"
            index += 1
        self.ir_nodes.add(name)
        return name

    def alias(self, onnx_output: str, ir_name: str) -> None:
        """Make ``onnx_output`` refer to an existing IR tensor (used by removed ops)."""
        self.renames[onnx_output] = ir_name

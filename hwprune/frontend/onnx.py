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
from hwprune.frontend import limits
from hwprune.frontend.onnx_loader import load_onnx, node_names
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
    from hwprune.frontend import onnx_norm_ops, onnx_ops, qonnx  # noqa: F401
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
    ir_nodes: set[str] = field(default_factory=set)
    """Names given to IR nodes so far (kept as a set: a scan of ``graph.nodes`` per node is quadratic)."""
    macs: limits.MacBudget = field(default_factory=limits.MacBudget)
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


def _value_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}
    for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    return shapes


_node_names = node_names  # the loader names nodes the same way in its own errors


def _first_readers(model: onnx.ModelProto) -> dict[str, list[tuple[str, onnx.NodeProto, int]]]:
    """For each tensor name: the (node name, node, input index) of every node that reads it, in order."""
    readers: dict[str, list[tuple[str, onnx.NodeProto, int]]] = {}
    for node, name in zip(model.graph.node, node_names(model)):
        for index, value in enumerate(node.input):
            if value:
                readers.setdefault(value, []).append((name, node, index))
    return readers


_NUMERIC_KINDS = "fiub"  # float, signed, unsigned, bool: what a weight, bias or shape can be


def _initializer_array(init: onnx.TensorProto, readers: list[tuple[str, onnx.NodeProto, int]]) -> np.ndarray:
    """An initializer as a numpy array hwprune can compute with, or a ``GraphError`` naming it.

    Refused: non-numeric types (strings, complex), zero-size tensors, NaN anywhere, and infinities
    except as a ``Clip`` bound (where ``inf`` means "no bound"). A NaN weight would silently poison
    calibration and every scale derived from it, so it is an input error, not a numeric one.
    """
    node, op = (readers[0][0], readers[0][1].op_type) if readers else (None, None)
    what = f"initializer {init.name!r}"
    try:
        data = numpy_helper.to_array(init)
    except Exception as exc:  # unknown data types, inconsistent sizes
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GraphError(f"{what} cannot be read: {why}", node=node, op=op) from None
    if data.dtype.kind not in _NUMERIC_KINDS:
        known = init.data_type in onnx.TensorProto.DataType.values()
        kind = onnx.TensorProto.DataType.Name(init.data_type) if known else str(init.data_type)
        raise GraphError(f"{what} has element type {kind}; only numeric tensors are supported", node=node, op=op)
    if data.size == 0:
        raise GraphError(f"{what} has a zero-size dimension: {list(data.shape)}", node=node, op=op)
    with np.errstate(over="ignore", invalid="ignore"):
        data = _as_supported_array(data)
    if data.dtype.kind == "f":
        nan, inf = int(np.isnan(data).sum()), int(np.isinf(data).sum())
        clip_bound = bool(readers) and all(n.op_type == "Clip" and i in (1, 2) for _, n, i in readers)
        if nan or (inf and not clip_bound):
            values = ", ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} infinite" if inf else "") if part)
            raise GraphError(f"{what} holds non-finite values ({values}); weights must be finite numbers",
                             node=node, op=op)
    return data


def _check_finite(graph: Graph) -> None:
    """No NaN/Inf may reach the IR: constants made by handlers (BatchNorm folding, Gemm alpha) and
    float attributes are checked once translation is done; JSON cannot even write them."""
    readers: dict[str, Node] = {}
    for node in graph.nodes:
        for name in node.inputs:
            readers.setdefault(name, node)
        for key, value in sorted(node.attrs.items()):
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, float) and not np.isfinite(v) for v in values):
                raise GraphError(f"attribute {key!r} is not a finite number: {value!r}", node=node.name, op=node.op)
    for tensor in graph.constants():
        data = np.asarray(tensor.data)
        if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
            reader = readers.get(tensor.name)
            raise GraphError(f"constant {tensor.name!r} holds non-finite values (NaN or infinity)",
                             node=reader.name if reader else None, op=reader.op if reader else None)


def _check_io(graph: Graph, onnx_outputs: list[str]) -> None:
    """The graph must read at least one float input, and no output may be a constant: a model with
    nothing to compute on gives executors and backends nothing to build (an input passed straight
    through, e.g. by Dropout, stays allowed)."""
    if not graph.inputs:
        raise GraphError("the graph has no float inputs: there is nothing to compute on")
    for onnx_name, name in zip(onnx_outputs, graph.outputs):
        tensor = graph.tensors.get(name)
        if tensor is not None and tensor.is_constant:
            how = "" if onnx_name == name else f" (constant {name!r} passed through)"
            raise GraphError(f"graph output {onnx_name!r} is a constant{how}; no node computes it")


def import_onnx_model(model: onnx.ModelProto, source: str = "<memory>") -> Graph:
    """Translate a loaded, shape-inferred model; errors carry ``source`` as the file."""
    _register_handlers()
    # Overflows in folding (BatchNorm, Gemm alpha) must not print numpy warnings on the way: the
    # constants they make are checked at the end, and a non-finite one is refused with its node.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _translate(model, source)


def _translate(model: onnx.ModelProto, source: str) -> Graph:
    from hwprune.frontend.passes import run_import_passes
    from hwprune.frontend.patterns import fuse_onnx_patterns

    try:
        fuse_onnx_patterns(model)
        graph = Graph(name=model.graph.name or Path(source).stem, inputs=[], outputs=[], tensors={}, nodes=[],
                      source=Path(source).name)
        shapes = _value_shapes(model)
        ctx = ImportContext(model, graph, shapes)
        readers = _first_readers(model)
        for init in model.graph.initializer:
            data = _initializer_array(init, readers.get(init.name, []))
            graph.tensors[init.name] = Tensor(init.name, list(data.shape), data=data)
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
            if not shape or any(d == -1 for d in shape):
                raise GraphError(f"graph input {value.name!r} has no static shape ({shape})")
            limits.check_shape(f"graph input {value.name!r}", shape)
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
        _check_io(graph, [value.name for value in model.graph.output])
        run_import_passes(graph)
        _check_finite(graph)
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



"""ONNX → IR: one handler per ONNX op type, registered by decorator (``hwprune.frontend.onnx_context``).

A handler reads its ONNX node through the ``ImportContext`` (constants, inferred shapes, renames)
and emits IR nodes/tensors. Anything it cannot represent raises ``UnsupportedOpError`` naming the
node, so the user learns which layer to change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from hwprune import plugins
from hwprune.errors import GraphError, HwpruneError, UnsupportedOpError
from hwprune.frontend import limits
from hwprune.frontend import (  # noqa: F401 - they register their handlers
    onnx_arith_ops,
    onnx_layout_ops,
    onnx_norm_ops,
    onnx_ops,
    qonnx,
)
from hwprune.frontend.onnx_context import CUSTOM_DOMAIN_OPS, HANDLERS, ImportContext
from hwprune.frontend.onnx_loader import load_onnx, node_names
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import FLOAT32

__all__ = ["import_onnx", "import_onnx_model", "supported_ops"]


def _register_handlers() -> None:
    """The built-in handler modules register by decorator when imported (above); plug-ins of stage
    ``frontend`` (``hwprune.plugins``) add theirs here."""
    plugins.load("frontend")


def supported_ops() -> list[str]:
    _register_handlers()

    return sorted(HANDLERS)


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



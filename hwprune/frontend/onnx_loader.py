"""Read an ONNX file into a checked, shape-inferred ``onnx.ModelProto``.

Everything that can go wrong before op translation is caught here and reported against the file:
unreadable bytes, invalid protobuf, too old or too new an opset, external data, a graph that is not
a DAG (cycles, dangling inputs), zero/negative dimensions, shapes over ``hwprune.frontend.limits``,
a failed ONNX check or shape inference. Constant and shape sub-graphs are folded
(``hwprune.frontend.onnx_fold``, only where there are any). The model is untrusted input: whatever
the bytes are, the result is a model or a ``HwpruneError`` (``ModelLoadError``/``GraphError``), never
another exception.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from onnx import shape_inference

from hwprune.errors import GraphError, HwpruneError, ModelLoadError
from hwprune.frontend import limits
from hwprune.frontend.onnx_fold import fold_constant_subgraphs

__all__ = [
    "load_onnx",
    "load_onnx_bytes",
    "node_names",
    "opset_of",
    "MIN_OPSET",
    "MAX_OPSET",
    "QONNX_DOMAINS",
    "is_qonnx",
]

MIN_OPSET = 13
MAX_OPSET = onnx.defs.onnx_opset_version()
"""The newest default-domain opset the installed ``onnx`` knows: a newer number comes from a future
ONNX whose op semantics neither the checker nor the handlers can know."""
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "qonnx")

# Where ONNX's own messages name the node: shape inference "(op_type:Conv, node name: conv0): why",
# the checker "==> Context: Bad node spec for node. Name: conv0 OpType: Conv".
_INFERENCE_NODE = re.compile(r"\(op_type:([^,]*), node name: ([^)]*)\):\s*")
_CHECKER_NODE = re.compile(r"Name: (.*?) OpType: (\S+)")


def is_qonnx(model: onnx.ModelProto) -> bool:
    """A model is QONNX when it has ``Quant`` nodes (Brevitas ``export_qonnx`` output)."""
    return any(node.op_type in ("Quant", "BipolarQuant", "Trunc") for node in model.graph.node)


def node_names(model: onnx.ModelProto) -> list[str]:
    """The name of every node in order: its own, or ``{op_type}_{index}`` when empty; made unique."""
    names: list[str] = []
    taken: set[str] = set()
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{index}"
        base, suffix = name, 1
        while name in taken:
            name = f"{base}_{suffix}"
            suffix += 1
        taken.add(name)
        names.append(name)
    return names


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError("file not found", file=path) from None
    except IsADirectoryError:
        raise ModelLoadError("is a directory, not an ONNX file", file=path) from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read file: {exc.strerror}", file=path) from None


def _parse_model(raw: bytes, path: Path) -> onnx.ModelProto:
    if not raw:
        raise ModelLoadError("file is empty, not an ONNX model", file=path)
    try:
        model = onnx.load_model_from_string(raw)
    except Exception:  # protobuf raises DecodeError and friends; any of them means "not ONNX"
        raise ModelLoadError("not a valid ONNX model (protobuf decoding failed; truncated or not ONNX)", file=path) from None
    if not model.graph.node and not model.graph.output:
        raise ModelLoadError("not a valid ONNX model (no graph: the bytes decode to an empty model)", file=path)
    # External data is never read: its location is a path chosen by the file's author (``../../x``).
    for tensor in [*model.graph.initializer, *(s.values for s in model.graph.sparse_initializer)]:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise ModelLoadError(
                f"initializer {tensor.name!r} uses external data, which hwprune does not load", file=path
            )
    return model


def _is_repeated(field: FieldDescriptor) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf >= 5; ``label`` before (removed in 7)
    return bool(is_repeated) if is_repeated is not None else field.label == FieldDescriptor.LABEL_REPEATED


def _check_text(model: onnx.ModelProto, path: Path) -> None:
    """Every string field must be UTF-8 text: protobuf hands an invalid one over as ``bytes``, which
    would surface as a ``TypeError`` deep in the importer (names are concatenated, compared, printed)."""
    stack: list[Message] = [model]
    while stack:
        message = stack.pop()
        for field, value in message.ListFields():
            if field.type == FieldDescriptor.TYPE_STRING:
                for text in (value if _is_repeated(field) else [value]):
                    if not isinstance(text, str):
                        raise ModelLoadError(f"not a valid ONNX model: a {message.DESCRIPTOR.name}.{field.name} "
                                             f"is not UTF-8 text ({bytes(text)[:40]!r})", file=path)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if _is_repeated(field) else [value])


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _check_names(model: onnx.ModelProto) -> None:
    """Node, tensor and graph names must be printable: a newline in a name would end the ``//``
    comment it is quoted in by generated C++/Verilog and turn the rest of the name into code.

    Any other text (``../../x``, ``a b;``, keywords, Unicode) is fine: names are data, and backends
    derive identifiers and file names from them through ``hwprune.lower.names``.
    """
    graph = model.graph
    for node, name in zip(graph.node, node_names(model)):
        for text in (node.name, *node.input, *node.output):
            if _CONTROL.search(text):
                raise GraphError(f"name {text!r} contains a control character; names must be printable text",
                                 node=name, op=node.op_type)
    values = [*graph.input, *graph.output, *graph.value_info, *graph.initializer]
    for text in [graph.name, *(v.name for v in values)]:
        if _CONTROL.search(text):
            raise GraphError(f"name {text!r} contains a control character; names must be printable text")


def _find_cycle(start: int, deps: list[list[int]]) -> list[int] | None:
    """Indices of a dependency cycle through node ``start`` (following inputs to producers), if any."""
    stack: list[tuple[int, list[int]]] = [(start, [start])]
    seen: set[int] = set()
    while stack:
        index, path = stack.pop()
        for dep in deps[index]:
            if dep == start:
                return path
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, [*path, dep]))
    return None


def _check_structure(model: onnx.ModelProto) -> None:
    """Every node input defined before it is read, each tensor assigned once, every output produced.

    ONNX's checker finds these too, but its message does not say which node; this one does, and
    tells a cycle from a dangling input.
    """
    graph = model.graph
    limits.check_node_count(len(graph.node))
    names = node_names(model)
    producer: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        for out in node.output:
            if out:
                producer.setdefault(out, index)
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    defined |= {s.values.name for s in graph.sparse_initializer}
    for index, (node, name) in enumerate(zip(graph.node, names)):
        for value in node.input:
            if not value or value in defined:
                continue
            source = producer.get(value)
            if source is None:
                raise GraphError(
                    f"input {value!r} is neither a graph input, an initializer nor any node's output "
                    "(dangling input)",
                    node=name,
                    op=node.op_type,
                )
            deps = [[producer[v] for v in n.input if v in producer] for n in graph.node]
            cycle = _find_cycle(index, deps)
            if cycle is not None:
                path = " -> ".join(repr(names[i]) for i in [*cycle, index])
                raise GraphError(f"the graph has a cycle: {path}", node=name, op=node.op_type)
            raise GraphError(
                f"input {value!r} comes from node {names[source]!r}, which is later in the file; "
                "nodes must be in topological order",
                node=name,
                op=node.op_type,
            )
        for out in node.output:
            if not out:
                continue
            if out in defined:
                raise GraphError(f"output {out!r} is assigned more than once", node=name, op=node.op_type)
            defined.add(out)
    if not graph.output:
        raise GraphError("the graph has no outputs")
    for value in graph.output:
        if value.name not in defined:
            raise GraphError(f"graph output {value.name!r} is never produced")


def _fix_batch(model: onnx.ModelProto) -> None:
    """Give every graph input a batch of 1 so shape inference yields static shapes."""
    initializers = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and (dims[0].dim_param or dims[0].dim_value <= 0):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1


def _check_value_shapes(model: onnx.ModelProto) -> None:
    """Refuse zero/negative dims and oversized tensors wherever ONNX knows a shape, before any
    translation or constant folding could allocate them (``hwprune.frontend.limits``)."""
    names = node_names(model)
    producer = {out: (name, node.op_type) for node, name in zip(model.graph.node, names) for out in node.output}
    graph = model.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
            continue
        dims = tensor_type.shape.dim
        if not all(d.HasField("dim_value") for d in dims):
            continue  # unknown dimensions: the importer insists on static shapes where it needs them
        node, op = producer.get(value.name, (None, None))
        what = f"tensor {value.name!r}" if node is not None else f"graph input {value.name!r}"
        limits.check_shape(what, [d.dim_value for d in dims], node=node, op=op)


def opset_of(model: onnx.ModelProto) -> int:
    """The default-domain (``ai.onnx``) opset version, 0 when the model imports none."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 0


def _onnx_error(prefix: str, exc: Exception, path: Path) -> ModelLoadError:
    """A one-line ``ModelLoadError`` from an ONNX checker/inference message, with its node if named."""
    text = str(exc).strip() or type(exc).__name__
    node = op = None
    found = _INFERENCE_NODE.search(text)
    if found:
        op, node = found.group(1).strip() or None, found.group(2).strip() or None
        text = text[found.end():]
    else:
        context = _CHECKER_NODE.search(text)
        if context:
            node, op = context.group(1).strip() or None, context.group(2)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"^(\[\w+\]\s*)+", "", first).strip()
    return ModelLoadError(f"{prefix}: {first}", file=path, node=node, op=op if node else None)


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load, check and shape-infer an ONNX (or QONNX) model; raises ``ModelLoadError``/``GraphError``."""
    return load_onnx_bytes(_read_bytes(Path(path)), path)


def load_onnx_bytes(raw: bytes, path: str | Path) -> onnx.ModelProto:
    """As ``load_onnx`` for bytes already in memory; ``path`` names them in errors."""
    path = Path(path)
    model = _parse_model(raw, path)
    _check_text(model, path)
    opset = opset_of(model)
    if opset == 0:
        raise ModelLoadError("the model imports no default-domain (ai.onnx) opset", file=path)
    if opset < MIN_OPSET:
        raise ModelLoadError(f"opset {opset} is older than the supported minimum {MIN_OPSET}", file=path)
    if opset > MAX_OPSET:
        raise ModelLoadError(f"opset {opset} is newer than the newest known opset {MAX_OPSET}", file=path)
    try:
        _check_names(model)
        _check_structure(model)
        _fix_batch(model)
        _check_value_shapes(model)
        if is_qonnx(model):
            return _prepare_qonnx(model, path)
    except HwpruneError as exc:
        raise exc.with_file(path) from None
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError, and whatever else malformed protos provoke
        raise _onnx_error("invalid ONNX model", exc, path) from None
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as exc:  # onnx raises InferenceError / RuntimeError with the node in the text
        raise _onnx_error("shape inference failed", exc, path) from None
    try:
        _check_value_shapes(inferred)
        folded = fold_constant_subgraphs(inferred, path, node_names(inferred))
        if folded is not inferred:
            _check_value_shapes(folded)
    except HwpruneError as exc:
        raise exc.with_file(path) from None
    return folded


def _prepare_qonnx(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """Run the qonnx package's clean-up passes that keep node names (shapes, constant folding).

    Constant folding executes nodes, so shapes are checked against the limits first (with ONNX's
    own inference, which skips the custom ``Quant`` op) and again on the result.
    """
    # qonnx imports onnxruntime, which otherwise writes a telemetry database under
    # ~/.cache/Microsoft on import: a compile must write nothing outside its build directory.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    for node in model.graph.node:
        if node.op_type in ("Quant", "BipolarQuant", "Trunc"):
            node.domain = "qonnx.custom_op.general"
    known = {entry.domain for entry in model.opset_import}
    for domain in sorted({node.domain for node in model.graph.node} - known - {"", "ai.onnx"}):
        model.opset_import.append(onnx.helper.make_opsetid(domain, 1))  # the checker needs every domain
    try:
        _check_value_shapes(shape_inference.infer_shapes(model, data_prop=True))
    except HwpruneError:
        raise
    except Exception as exc:
        raise _onnx_error("shape inference failed", exc, path) from None
    try:
        wrapper = ModelWrapper(model)
        for transform in (InferShapes(), FoldConstants(exclude_op_types=["Quant", "BipolarQuant", "Trunc"]),
                          FoldTransposeIntoQuantInit(),
                          RemoveUnusedTensors(), InferShapes()):
            wrapper = wrapper.transform(transform)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"QONNX clean-up failed: {first}", file=path) from None
    # The checker validates the standard nodes (arity, attribute types, tensor sizes) here too, once
    # qonnx has inferred the shapes ONNX cannot see through Quant; custom ops are their handlers' job.
    try:
        onnx.checker.check_model(wrapper.model)
    except Exception as exc:
        raise _onnx_error("invalid ONNX model", exc, path) from None
    _check_value_shapes(wrapper.model)
    return wrapper.model

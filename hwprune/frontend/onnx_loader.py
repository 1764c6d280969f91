"""Read an ONNX file into a checked, shape-inferred ``onnx.ModelProto``.

Everything that can go wrong before op translation is caught here and reported against the file:
unreadable bytes, invalid protobuf, a failed ONNX check, too old an opset, external data.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import shape_inference

from hwprune.errors import ModelLoadError

__all__ = ["load_onnx", "load_onnx_bytes", "MIN_OPSET", "QONNX_DOMAINS", "is_qonnx"]

MIN_OPSET = 13
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "qonnx")


def is_qonnx(model: onnx.ModelProto) -> bool:
    """A model is QONNX when it has ``Quant`` nodes (Brevitas ``export_qonnx`` output)."""
    return any(node.op_type in ("Quant", "BipolarQuant", "Trunc") for node in model.graph.node)


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
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ModelLoadError(
                f"initializer {tensor.name!r} uses external data, which hwprune does not load", file=path
            )
    return model


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


def opset_of(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 0


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load, check and shape-infer an ONNX (or QONNX) model; raises ``ModelLoadError``."""
    return load_onnx_bytes(_read_bytes(Path(path)), path)


def load_onnx_bytes(raw: bytes, path: str | Path) -> onnx.ModelProto:
    """As ``load_onnx`` for bytes already in memory; ``path`` names them in errors."""
    path = Path(path)
    model = _parse_model(raw, path)
    opset = opset_of(model)
    if opset < MIN_OPSET:
        raise ModelLoadError(f"opset {opset} is older than the supported minimum {MIN_OPSET}", file=path)
    _fix_batch(model)
    if is_qonnx(model):
        return _prepare_qonnx(model, path)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "validation failed"
        raise ModelLoadError(f"invalid ONNX model: {first}", file=path) from None
    try:
        return shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as exc:  # onnx raises InferenceError / RuntimeError with the node in the text
        first = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"shape inference failed: {first}", file=path) from None


def _prepare_qonnx(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """Run the qonnx package's clean-up passes that keep node names (shapes, constant folding)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    for node in model.graph.node:
        if node.op_type in ("Quant", "BipolarQuant", "Trunc"):
            node.domain = "qonnx.custom_op.general"
    try:
        wrapper = ModelWrapper(model)
        for transform in (InferShapes(), FoldConstants(exclude_op_types=["Quant", "BipolarQuant", "Trunc"]),
                          FoldTransposeIntoQuantInit(),
                          RemoveUnusedTensors(), InferShapes()):
            wrapper = wrapper.transform(transform)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"QONNX clean-up failed: {first}", file=path) from None
    return wrapper.model

"""Keras / QKeras models (``.h5``, ``.keras``, SavedModel directories) → QONNX → the IR.

The optional extra ``hwprune[keras]`` brings TensorFlow, tf-keras and QKeras; nothing here imports
them before a Keras model is actually opened, so the main install (without TensorFlow) still imports
this module and can tell the user which extra to install. The model is mapped layer by layer to a
QONNX ``ModelProto`` (``hwprune.frontend.keras_convert``: Quant + Gemm/Conv/Relu/MaxPool nodes, the
same shape Brevitas exports), which the ordinary ONNX/QONNX importer then checks and translates, so
Keras models get exactly the same validation, passes and error messages as ONNX files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Iterator

from hwprune.errors import ModelLoadError
from hwprune.ir.graph import Graph

__all__ = [
    "KERAS_SUFFIXES",
    "EXTRA_HINT",
    "MissingExtraError",
    "is_keras_path",
    "is_saved_model_dir",
    "model_digest",
    "load_keras_model",
    "import_keras",
]

KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")
"""File suffixes read as Keras models; a directory holding ``saved_model.pb`` is a SavedModel."""
EXTRA_HINT = "pip install 'hwprune[keras]'"


class MissingExtraError(ModelLoadError):
    """The model needs an optional dependency group (an ``hwprune[...]`` extra) that is not installed."""


def is_saved_model_dir(path: str | Path) -> bool:
    """A TensorFlow SavedModel is a directory with ``saved_model.pb`` in it."""
    path = Path(path)
    return path.is_dir() and (path / "saved_model.pb").is_file()


def is_keras_path(path: str | Path) -> bool:
    """True for ``.h5``/``.hdf5``/``.keras`` files and SavedModel directories (decided by name and
    layout only, so it answers without TensorFlow)."""
    path = Path(path)
    return path.suffix.lower() in KERAS_SUFFIXES or is_saved_model_dir(path)


def model_digest(path: str | Path) -> str:
    """SHA-256 of a model file, or of a SavedModel directory (every file's relative path and bytes,
    in sorted order), so a build report names its source either way."""
    path = Path(path)
    if not path.is_dir():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_tensorflow() -> Iterator[None]:
    """Silence what TensorFlow's C++ runtime writes straight to file descriptor 2 while it starts
    (absl's "WARNING: All log messages before absl::InitializeLog()...", "Could not find cuda
    drivers"), which ``TF_CPP_MIN_LOG_LEVEL`` no longer stops: a failed compile must print one line.
    Exceptions still propagate; ``TF_CPP_MIN_LOG_LEVEL=0`` or ``1`` keeps the messages."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") < "2":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _keras_modules(path: Path) -> tuple[Any, Any]:
    """``(tf_keras, qkeras custom objects)``; a ``MissingExtraError`` naming the extra without them.

    QKeras is written for Keras 2, which TensorFlow ≥ 2.16 only provides as ``tf_keras`` when
    ``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow is first imported.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    try:
        with _quiet_tensorflow():
            import tensorflow  # noqa: F401
            import tf_keras
            from qkeras.utils import _add_supported_quantized_objects
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "a dependency"
        raise MissingExtraError(
            "reading Keras/QKeras models needs TensorFlow, tf-keras and QKeras "
            f"({missing} is not installed): {EXTRA_HINT}", file=path) from None
    custom: dict[str, Any] = {}
    _add_supported_quantized_objects(custom)
    return tf_keras, custom


def load_keras_model(path: str | Path) -> Any:
    """Open a Keras model (with QKeras layers registered) without compiling it."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError("file not found", file=path)
    if path.is_dir() and not is_saved_model_dir(path):
        raise ModelLoadError("is a directory without saved_model.pb, not a SavedModel", file=path)
    tf_keras, custom = _keras_modules(path)
    try:
        with _quiet_tensorflow():  # the first TensorFlow op initialises devices, which logs too
            model = tf_keras.models.load_model(str(path), custom_objects=custom, compile=False)
    except Exception as exc:  # h5py, protobuf, zipfile and Keras deserialisation errors alike
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise ModelLoadError(f"cannot load the Keras model: {first}", file=path) from None
    if not isinstance(model, tf_keras.Model):
        raise ModelLoadError(f"holds a {type(model).__name__}, not a Keras model", file=path)
    return model


def import_keras(path: str | Path) -> Graph:
    """Load a Keras/QKeras model, map it to QONNX and import that like any QONNX file."""
    from hwprune.errors import HwpruneError
    from hwprune.frontend.keras_convert import keras_to_qonnx
    from hwprune.frontend.onnx import import_onnx_model
    from hwprune.frontend.onnx_loader import load_onnx_bytes

    path = Path(path)
    model = load_keras_model(path)
    try:
        with _quiet_tensorflow():
            proto = keras_to_qonnx(model)
    except HwpruneError as exc:
        raise exc.with_file(path) from None
    return import_onnx_model(load_onnx_bytes(proto.SerializeToString(), path), source=str(path))

"""Model importers: ONNX, QONNX (Brevitas), Keras/QKeras (optional extra) and torch modules → the IR."""

from __future__ import annotations

from hwprune.frontend.onnx import import_onnx, import_onnx_model, supported_ops
from hwprune.frontend.torch import import_torch

__all__ = ["import_onnx", "import_onnx_model", "import_torch", "supported_ops", "import_model"]


def import_model(path: str) -> "Graph":  # noqa: F821
    """Import a model by its format: Keras/QKeras (``.h5``, ``.hdf5``, ``.keras``, a SavedModel
    directory; needs the ``hwprune[keras]`` extra) or ONNX/QONNX (anything else)."""
    from hwprune.frontend.keras import import_keras, is_keras_path

    if is_keras_path(path):
        return import_keras(path)
    return import_onnx(path)

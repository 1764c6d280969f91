"""Model importers: ONNX, QONNX (Brevitas) and torch modules, all producing the IR."""

from __future__ import annotations

from hwprune.frontend.onnx import import_onnx, import_onnx_model, supported_ops
from hwprune.frontend.torch import import_torch

__all__ = ["import_onnx", "import_onnx_model", "import_torch", "supported_ops", "import_model"]


def import_model(path: str) -> "Graph":  # noqa: F821
    """Import a model file by its format (ONNX and QONNX today)."""
    return import_onnx(path)

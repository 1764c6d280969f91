"""torch.nn.Module → IR through ``torch.onnx.export`` (TorchScript exporter, static shapes)."""

from __future__ import annotations

import io

import torch

from hwprune.errors import ModelLoadError
from hwprune.frontend.onnx import import_onnx_model
from hwprune.ir.graph import Graph

__all__ = ["import_torch", "EXPORT_OPSET"]

EXPORT_OPSET = 17


def import_torch(module: torch.nn.Module, example_input: torch.Tensor, name: str = "model") -> Graph:
    """Export ``module`` (in eval mode) to ONNX in memory and import it."""
    import onnx

    from hwprune.frontend.onnx_loader import load_onnx_bytes

    module = module.eval()
    buffer = io.BytesIO()
    try:
        torch.onnx.export(
            module, (example_input,), buffer, dynamo=False, opset_version=EXPORT_OPSET,
            input_names=["input"], output_names=["output"], do_constant_folding=True,
        )
    except Exception as exc:  # the exporter raises many types; all mean "this module cannot be exported"
        raise ModelLoadError(f"torch.onnx.export failed: {str(exc).splitlines()[0]}", file=name) from None
    model = load_onnx_bytes(buffer.getvalue(), name)
    assert isinstance(model, onnx.ModelProto)
    return import_onnx_model(model, source=name)

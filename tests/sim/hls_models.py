"""The bundled example models, quantized as the flow does it, for the HLS network tests (cached)."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

from hwprune.ir.graph import Graph

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@lru_cache(maxsize=None)
def _quantized(model: str) -> Graph:
    from hwprune.frontend import import_onnx
    from hwprune.quant import quantize_graph
    from hwprune.quant.calibrate import load_calibration

    graph = import_onnx(str(EXAMPLES / f"{model}.onnx"))
    return quantize_graph(graph, load_calibration(str(EXAMPLES / "calibration.npz"), graph))


def quantized(model: str) -> Graph:
    """A private copy of the quantized example (tests may edit it)."""
    return copy.deepcopy(_quantized(model))

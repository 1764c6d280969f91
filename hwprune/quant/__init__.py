"""Quantization: calibration, PTQ, and the integer reference (golden model)."""

from __future__ import annotations

from hwprune.quant.ptq import QuantSpec, quantize_graph
from hwprune.quant.reference import run_integer

__all__ = ["QuantSpec", "quantize_graph", "run_integer"]

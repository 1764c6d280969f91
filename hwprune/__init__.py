"""hwprune: hardware-aware pruning and quantization, lowered to sparse FPGA kernels."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"

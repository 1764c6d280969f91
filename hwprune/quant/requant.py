"""Fixed-point requantisation: a real multiplier as an integer ``M`` and a right shift ``sh``.

``y = (acc * M + 2**(sh - 1)) >> sh`` (arithmetic shift, round half up) is what the RTL and HLS
kernels compute, so the same two integers are used everywhere (docs/architecture.md section 3).
"""

from __future__ import annotations

import math

from hwprune.errors import QuantizationError

__all__ = ["MULT_BITS", "MAX_SHIFT", "requant_params", "shared_shift_params", "shift_round"]

MULT_BITS = 16
"""Signed width of ``M``: it lies in [2**14, 2**15), one DSP input on every Xilinx family."""

MAX_SHIFT = 62


def requant_params(real: float, mult_bits: int = MULT_BITS) -> tuple[int, int]:
    """(M, sh) with M / 2**sh ≈ ``real``, M as large as ``mult_bits`` signed allows, sh ≥ 1."""
    if not math.isfinite(real) or real <= 0:
        raise QuantizationError(f"requantisation multiplier must be finite and positive, not {real!r}")
    mantissa, exponent = math.frexp(real)  # real = mantissa * 2**exponent, mantissa in [0.5, 1)
    shift = (mult_bits - 1) - exponent
    mult = round(mantissa * (1 << (mult_bits - 1)))
    if mult == 1 << (mult_bits - 1):  # rounding carried into the next power of two
        mult //= 2
        shift -= 1
    if shift < 1:
        raise QuantizationError(f"requantisation multiplier {real:.6g} is too large (needs a left shift)")
    if shift > MAX_SHIFT:
        mult >>= shift - MAX_SHIFT
        shift = MAX_SHIFT
        if mult == 0:
            raise QuantizationError(f"requantisation multiplier {real:.3g} is too small to represent")
    return mult, shift


def shared_shift_params(reals: list[float], mult_bits: int = MULT_BITS) -> tuple[list[int], int]:
    """Several multipliers sharing one shift (e.g. the two inputs of an integer Add)."""
    _, shift = requant_params(max(reals), mult_bits)
    return [round(r * (1 << shift)) for r in reals], shift


def shift_round(value: int, shift: int) -> int:
    """Scalar form of the requantiser's rounding shift, for documentation and tests."""
    return (value + (1 << (shift - 1))) >> shift

"""Smooth activations (Sigmoid, Tanh) as a lookup table over every input code.

Why a table and not a polynomial: an activation input of ``b`` bits (8 by default) has only ``2^b`` codes,
so the exact function, rounded once to the output code, is a ``2^b``-entry ROM: no approximation error
beyond the output's own rounding, one beat per cycle, no multiplier. This is hwprune's own definition
(hls4ml also tabulates these functions, but over a fixed input range, not over the codes). The token
selectors keep their polynomial forms (``hwprune.tokens.fixed_point``), which take wider inputs.

Output codes: Sigmoid is unsigned with scale ``1 / qmax`` (code ``qmax`` is 1.0); Tanh signed with scale
``1 / qmax`` (codes ``-qmax .. qmax`` are -1.0 .. 1.0). Entry ``i`` is the output of input code
``in_min + i``; the integer reference, the RTL ROM and the HLS table all read the same list.
"""

from __future__ import annotations

import numpy as np

from hwprune.ir.types import IntType

__all__ = ["TABLE_OPS", "MAX_TABLE_BITS", "table_output", "activation_table"]

TABLE_OPS = ("Sigmoid", "Tanh")
MAX_TABLE_BITS = 10
"""The widest input tabulated (1,024 entries): a wider activation would need a BRAM per stage."""


def table_output(op: str, bits: int) -> tuple[IntType, float]:
    """The output type and scale of ``op`` at ``bits`` output bits."""
    if op == "Sigmoid":
        dtype = IntType(bits, False)
    elif op == "Tanh":
        dtype = IntType(bits, True)
    else:
        raise ValueError(f"{op} is not a table activation ({', '.join(TABLE_OPS)})")
    return dtype, 1.0 / dtype.max


def activation_table(op: str, in_type: IntType, in_scale: float, out_type: IntType, out_scale: float) -> list[int]:
    """``f(in_scale · q)`` rounded half away from zero to the output code, for q = in_min .. in_max."""
    codes = np.arange(in_type.min, in_type.max + 1, dtype=np.float64)
    x = codes * in_scale
    y = 1.0 / (1.0 + np.exp(-x)) if op == "Sigmoid" else np.tanh(x)
    scaled = y / out_scale
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    return [int(v) for v in np.clip(rounded, out_type.min, out_type.max)]

"""Integer parameters of HardSigmoid and HardSwish, from the requantiser's fixed-point machinery.

Why these forms: both are piecewise linear, so with an input ``x = s_x · q`` they need no table:

- HardSigmoid ``clamp(alpha·x + beta, 0, 1)``: output unsigned with scale ``1 / qmax`` (1.0 is the largest
  code), ``y = clamp(((q + c) · M + 2^(sh-1)) >> sh, 0, qmax)`` with ``c = round(beta / (alpha·s_x))`` and
  ``M / 2^sh ≈ alpha·s_x·qmax``.
- HardSwish ``x · HardSigmoid(x; 1/6, 1/2)``: the gate ``h`` as above (``gate_*``, unsigned act_bits),
  then ``y = sat((q·h · M + 2^(sh-1)) >> sh)`` with ``M / 2^sh ≈ s_x / (gmax · s_y)``.

The integer kernels (``hwprune.quant.reference``) execute exactly these integers.
"""

from __future__ import annotations

from hwprune.quant.requant import requant_params

__all__ = ["hard_sigmoid_params", "hard_swish_params"]


def hard_sigmoid_params(in_scale: float, alpha: float, beta: float, bits: int) -> dict[str, object]:
    """``offset``, ``requant_mult``, ``requant_shift`` of a HardSigmoid to an unsigned ``bits`` output."""
    qmax = (1 << bits) - 1
    mult, shift = requant_params(alpha * in_scale * qmax)
    return {"offset": round(beta / (alpha * in_scale)), "requant_mult": [mult], "requant_shift": [shift]}


def hard_swish_params(in_scale: float, out_scale: float, bits: int) -> dict[str, object]:
    """The gate's ``gate_offset``/``gate_mult``/``gate_shift`` and the product's ``requant_*``."""
    gate = hard_sigmoid_params(in_scale, 1.0 / 6.0, 0.5, bits)
    mult, shift = requant_params(in_scale / (((1 << bits) - 1) * out_scale))
    return {"gate_offset": gate["offset"], "gate_mult": gate["requant_mult"], "gate_shift": gate["requant_shift"],
            "requant_mult": [mult], "requant_shift": [shift]}

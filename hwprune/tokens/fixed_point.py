"""Integer-only GELU, exp/softmax and sigmoid for the 8-bit token selector (HeatViT / I-BERT style).

Every function here comes in two forms that describe *the same approximation*:

- a float form (``*_approx``), to measure how far the approximation itself is from the exact function;
- an integer form (``GeluInt``, ``ExpInt``, ``SoftmaxInt``, ``SigmoidInt``): int64 torch tensors in, int64
  out, with the integer constants computed once from the input scale (at compile time, in Python ints)
  and the output scale stated. This integer form is part of the golden model (docs/architecture.md section 3): the
  RTL and HLS selector must reproduce it bit for bit, so every rounding and shift is spelled out here.

Constants (docs/tokens.md; I-BERT, Kim et al., ICML 2021, whose polynomials HeatViT uses):
  erf(u) ≈ L(u) = sign(u)·[a(min(|u|,−b)+b)² + 1], a = −0.2888, b = −1.769  →  written below with the
  positive A = −a, B = −b as sign(u)·[1 − A(B − min(|u|, B))²];  GELU(x) ≈ x·(1 + L(x/√2))/2.
  exp(p) ≈ 0.3585(p + 1.353)² + 0.344 on p ∈ (−ln2, 0], exp(x̃) = exp(p)·2^−z with x̃ = p − z·ln2.
  sigmoid: |x|/4+1/2 on [0,1), |x|/8+5/8 on [1,2.375), |x|/32+27/32 on [2.375,5), 1 beyond; 1−y for x < 0.

Constants derived from a scale are rounded to nearest (``floor(v + 1/2)``), not floored as in I-BERT:
it halves the constant's error for free. All right shifts are arithmetic (floor); "round half up" means
adding half the divisor before the shift, exactly like the requantiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hwprune.quant.requant import requant_params

__all__ = [
    "ERF_A", "ERF_B", "EXP_A", "EXP_B", "EXP_C", "LN2",
    "erf_approx", "gelu_approx", "exp_approx", "softmax_approx", "sigmoid_approx",
    "GeluInt", "ExpInt", "SoftmaxInt", "SigmoidInt", "round_const",
]

ERF_A = 0.2888  # −a of I-BERT's erf polynomial
ERF_B = 1.769  # −b: L saturates at ±1 for |u| ≥ ERF_B
EXP_A, EXP_B, EXP_C = 0.3585, 1.353, 0.344
LN2 = math.log(2.0)
_MAX_SHIFT = 62  # shifting an int64 by more only ever gives 0 (or −1), and torch wants < 64


def round_const(value: float) -> int:
    """Nearest integer, halves up: how every compile-time constant below is rounded."""
    return math.floor(value + 0.5)


# ----------------------------------------------------------------------------------- float forms


def erf_approx(u: torch.Tensor) -> torch.Tensor:
    """I-BERT's second-order erf: exact at ±B (=±1 beyond), with a small step at 0 (L(0+) = 1 − A·B²)."""
    t = ERF_B - torch.clamp(u.abs(), max=ERF_B)
    return torch.sign(u) * (1.0 - ERF_A * t * t)


def gelu_approx(x: torch.Tensor) -> torch.Tensor:
    """x·(1 + L(x/√2))/2: GELU with the polynomial erf."""
    return x * (1.0 + erf_approx(x / math.sqrt(2.0))) / 2.0


def exp_approx(x: torch.Tensor) -> torch.Tensor:
    """exp(x) for x ≤ 0 by range reduction to p ∈ (−ln2, 0] and the quadratic, then 2^−z."""
    z = torch.floor(-x / LN2)
    p = x + z * LN2
    return (EXP_A * (p + EXP_B) ** 2 + EXP_C) * torch.pow(2.0, -z)


def softmax_approx(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax with max-subtraction and ``exp_approx``."""
    e = exp_approx(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def sigmoid_approx(x: torch.Tensor) -> torch.Tensor:
    """The three-segment piecewise-linear sigmoid, odd-symmetric about (0, 1/2)."""
    a = x.abs()
    y = torch.where(a < 1.0, a / 4 + 0.5,
                    torch.where(a < 2.375, a / 8 + 0.625, torch.where(a < 5.0, a / 32 + 27 / 32, torch.ones_like(a))))
    return torch.where(x < 0, 1.0 - y, y)


# ----------------------------------------------------------------------------------- integer forms


def _shift_right(value: torch.Tensor, shift: torch.Tensor | int) -> torch.Tensor:
    shift_t = torch.as_tensor(shift, dtype=torch.int64)
    return torch.bitwise_right_shift(value, torch.clamp(shift_t, max=_MAX_SHIFT))


@dataclass(frozen=True)
class GeluInt:
    """Integer GELU of ``q`` (real value q·in_scale).

    With S_u = in_scale/√2, q_b = round(B/S_u), q_c = round(1/(A·S_u²)) and t = q_b − min(|q|, q_b):
      L_int = sign(q)·(q_c − t²)               (erf(x/√2) ≈ L_int·A·S_u²)
      y     = q·(q_c + L_int)                  (real value y·out_scale, out_scale = A·S_u²·in_scale/2)
    i.e. y = q·(2q_c − t²) for q > 0 and y = q·t² for q ≤ 0. For |q| ≤ 128 and in_scale ≥ 2^−7 the
    result stays below 2^31; the caller requantises it (``requantize``) to its 8-bit output.
    """

    in_scale: float
    q_b: int
    q_c: int

    @classmethod
    def from_scale(cls, in_scale: float) -> "GeluInt":
        su = in_scale / math.sqrt(2.0)
        return cls(in_scale, max(1, round_const(ERF_B / su)), round_const(1.0 / (ERF_A * su * su)))

    @property
    def out_scale(self) -> float:
        return ERF_A * (self.in_scale / math.sqrt(2.0)) ** 2 * self.in_scale / 2.0

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        q = q.to(torch.int64)
        t = self.q_b - torch.clamp(q.abs(), max=self.q_b)
        erf_int = torch.sign(q) * (self.q_c - t * t)
        return q * (self.q_c + erf_int)


@dataclass(frozen=True)
class ExpInt:
    """Integer exp of x̃ ≤ 0 (real x̃·in_scale), I-BERT's i-exp with the constants rounded to nearest.

    q_ln2 = round(ln2/S), z = ⌊−x̃/q_ln2⌋, p = x̃ + z·q_ln2 ∈ (−q_ln2, 0],
    y = ((p + q_b)² + q_c) >> z with q_b = round(1.353/S), q_c = round(0.344/(0.3585·S²));
    real value y·out_scale, out_scale = 0.3585·S². Shifts beyond 62 give 0.
    """

    in_scale: float
    q_ln2: int
    q_b: int
    q_c: int

    @classmethod
    def from_scale(cls, in_scale: float) -> "ExpInt":
        s = in_scale
        return cls(s, max(1, round_const(LN2 / s)), round_const(EXP_B / s), round_const(EXP_C / (EXP_A * s * s)))

    @property
    def out_scale(self) -> float:
        return EXP_A * self.in_scale**2

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.int64)
        if x.numel() and int(x.max()) > 0:
            raise ValueError("ExpInt takes x̃ ≤ 0 (subtract the row maximum first)")
        z = torch.div(-x, self.q_ln2, rounding_mode="floor")
        p = x + z * self.q_ln2
        return _shift_right((p + self.q_b) ** 2 + self.q_c, z)


@dataclass(frozen=True)
class SoftmaxInt:
    """Integer softmax along ``dim``: max-subtraction, ``ExpInt``, one reciprocal per row.

    total = Σ e, r = ⌊2^R / total⌋ (R = ``recip_bits``), y = (e·r + 2^(R−F−1)) >> (R − F):
    probabilities with F = ``frac_bits`` fraction bits, y ∈ [0, 2^F] (F + 1 bits unsigned; 2^F is 1.0).
    One division per row, not per element, is what a streaming kernel can afford.
    """

    exp: ExpInt
    frac_bits: int = 8
    recip_bits: int = 31

    @classmethod
    def from_scale(cls, in_scale: float, frac_bits: int = 8, recip_bits: int = 31) -> "SoftmaxInt":
        if not 1 <= frac_bits < recip_bits <= 40:
            raise ValueError(f"need 1 <= frac_bits < recip_bits <= 40, not {frac_bits}, {recip_bits}")
        return cls(ExpInt.from_scale(in_scale), frac_bits, recip_bits)

    @property
    def out_scale(self) -> float:
        return 2.0**-self.frac_bits

    def __call__(self, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
        q = q.to(torch.int64)
        e = self.exp(q - q.amax(dim=dim, keepdim=True))
        total = e.sum(dim=dim, keepdim=True)  # ≥ 1: the maximum's own term is (q_b)² + q_c > 0
        recip = torch.div(torch.full_like(total, 1 << self.recip_bits), total, rounding_mode="floor")
        drop = self.recip_bits - self.frac_bits
        return torch.bitwise_right_shift(e * recip + (1 << (drop - 1)), drop)


@dataclass(frozen=True)
class SigmoidInt:
    """Integer piecewise-linear sigmoid of ``q`` (real q·in_scale), output with F fraction bits.

    |x| in fixed point: xf = (|q|·M + 2^(sh−1)) >> sh with M/2^sh ≈ in_scale·2^F (the requantiser's
    multiplier, exact when in_scale is a power of two ≥ 2^−F). The segments are evaluated 32× scaled,
    so their slopes 1/4, 1/8, 1/32 are exact integer multiplies (8, 4, 1):
      y32 = 8·xf + 16·2^F   (xf < 2^F)       y32 = 4·xf + 20·2^F   (xf < 19·2^(F−3))
      y32 = xf + 27·2^F     (xf < 5·2^F)     y32 = 32·2^F          (beyond)
    y = (y32 + 16) >> 5, and 2^F − y for q < 0 (exact symmetry). y ∈ [0, 2^F]; F ≥ 3.
    """

    in_scale: float
    frac_bits: int
    mult: int
    shift: int

    @classmethod
    def from_scale(cls, in_scale: float, frac_bits: int = 8) -> "SigmoidInt":
        if frac_bits < 3:
            raise ValueError(f"frac_bits must be at least 3 (2.375 needs 3 fraction bits), not {frac_bits!r}")
        mult, shift = requant_params(in_scale * (1 << frac_bits))
        return cls(in_scale, frac_bits, mult, shift)

    @property
    def out_scale(self) -> float:
        return 2.0**-self.frac_bits

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        q = q.to(torch.int64)
        one = 1 << self.frac_bits
        xf = torch.bitwise_right_shift(q.abs() * self.mult + (1 << (self.shift - 1)), self.shift)
        y32 = torch.where(
            xf < one, 8 * xf + 16 * one,
            torch.where(xf < 19 * (one >> 3), 4 * xf + 20 * one,
                        torch.where(xf < 5 * one, xf + 27 * one, torch.full_like(xf, 32 * one))))
        y = torch.bitwise_right_shift(y32 + 16, 5)
        return torch.where(q < 0, one - y, y)

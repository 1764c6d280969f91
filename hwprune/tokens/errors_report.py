"""Measured error of the polynomial / piecewise nonlinearities against the exact float functions.

Each row evaluates every 8-bit input (or, for the 2-way softmax, every pair of 8-bit logits) at a
documented input scale, for both the float form of the approximation and its integer form (dequantized
with its output scale). ``bench/token_accuracy.py`` and docs/tokens.md print this table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hwprune.ir.types import IntType
from hwprune.quant.reference import requantize
from hwprune.quant.requant import requant_params
from hwprune.tokens.fixed_point import (
    ExpInt, GeluInt, SigmoidInt, SoftmaxInt, exp_approx, gelu_approx, sigmoid_approx, softmax_approx,
)

__all__ = ["ErrorRow", "approximation_errors", "format_error_table", "INPUT_SCALE"]

INPUT_SCALE = 1 / 16
"""Input scale of the table: int8 covers [−8, 7.94] (GELU, sigmoid); exp sees x − max ∈ [−15.9, 0]."""


@dataclass(frozen=True)
class ErrorRow:
    """Absolute errors (max, mean) over the domain, float approximation and integer form."""

    name: str
    domain: str
    float_max: float
    float_mean: float
    int_max: float
    int_mean: float


def _row(name: str, domain: str, exact: torch.Tensor, approx: torch.Tensor, integer: torch.Tensor) -> ErrorRow:
    fa, ia = (approx - exact).abs(), (integer - exact).abs()
    return ErrorRow(name, domain, float(fa.max()), float(fa.mean()), float(ia.max()), float(ia.mean()))


def approximation_errors(scale: float = INPUT_SCALE) -> list[ErrorRow]:
    """The table rows at input scale ``scale`` (every 8-bit input, float64 arithmetic for the exact side)."""
    q = torch.arange(-128, 128, dtype=torch.int64)
    x = q.to(torch.float64) * scale
    rows = []
    gelu = GeluInt.from_scale(scale)
    g_int = gelu(q)
    exact = F.gelu(x)
    rows.append(_row("GELU", f"int8 × {scale:g}", exact, gelu_approx(x), g_int * gelu.out_scale))
    mult, shift = requant_params(gelu.out_scale / scale)
    g8 = requantize(g_int, torch.tensor(mult), torch.tensor(shift), IntType(8), relu=False)
    rows.append(_row("GELU → int8", f"int8 × {scale:g}, out scale {scale:g}", exact, gelu_approx(x), g8 * scale))
    xd = torch.arange(-255, 1, dtype=torch.int64)
    e = ExpInt.from_scale(scale)
    xr = xd.to(torch.float64) * scale
    rows.append(_row("exp", f"x − max ∈ [−255, 0] × {scale:g}", torch.exp(xr), exp_approx(xr), e(xd) * e.out_scale))
    pairs = torch.stack(torch.meshgrid(q, q, indexing="ij"), dim=-1).reshape(-1, 2)
    pr = pairs.to(torch.float64) * scale
    sm = SoftmaxInt.from_scale(scale)
    rows.append(_row("softmax (2-way)", f"all int8 pairs × {scale:g}", torch.softmax(pr, -1)[:, 0],
                     softmax_approx(pr)[:, 0], sm(pairs)[:, 0] * sm.out_scale))
    sig = SigmoidInt.from_scale(scale)
    rows.append(_row("sigmoid", f"int8 × {scale:g}", torch.sigmoid(x), sigmoid_approx(x), sig(q) * sig.out_scale))
    return rows


def format_error_table(rows: list[ErrorRow]) -> str:
    """Markdown table of the rows."""
    lines = [
        "| function | inputs | float approx. max | float approx. mean | integer max | integer mean |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.name} | {r.domain} | {r.float_max:.4f} | {r.float_mean:.4f} | "
                     f"{r.int_max:.4f} | {r.int_mean:.4f} |")
    return "\n".join(lines)

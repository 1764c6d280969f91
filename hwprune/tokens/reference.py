"""Integer golden model of the 8-bit token selector, token compaction and package-token fusion.

What the RTL/HLS selector must reproduce bit for bit (docs/architecture.md section 3), on int64 torch tensors:

  tokens q [T, D] int8 (scale s_x, class token first, the previous package token last when present)
  per head h, per candidate i (every row but the class token):
    local  = GELU8(requant(q_ih @ W_localᵀ + b))                       int8, scale s_l
    glob   = mean8(local over the candidates)                          int8, scale s_l
    h1     = GELU8(requant([local, glob] @ W_s1ᵀ + b)); h2 = GELU8(requant(h1 @ W_s2ᵀ + b))
    logits = requant(h2 @ W_s3ᵀ + b)                                   int8 (keep, drop)
    p_hi   = SoftmaxInt(logits)[keep]                                  ∈ [0, 256], 8 fraction bits
  head weight w_h = SigmoidInt(requant(GELU8(requant(mean8(q_h) @ W_h1ᵀ + b)) @ W_h2ᵀ + b)) ∈ [0, 256]
  S_i = Σ_h w_h·p_hi,  W = Σ_h w_h  (if W = 0: every w_h := 1)       keep_i ⟺ S_i ≥ 128·W   (s = S/(256W) ≥ ½)
  the previous package token is never kept; fused set P = candidates not kept.
  package_c = (num_c·r + 2^31) >> 32 with num_c = Σ_{i∈P} S_i·q_ic, den = Σ_{i∈P} S_i, r = ⌊2^32 / den⌋
             (if den = 0: S_i := 1 for i ∈ P — the plain mean); clamped to int8 (it never needs to be).
  output: [class token, kept candidates in order, package (if P ≠ ∅)], int8, scale s_x.

requant = ``hwprune.quant.reference.requantize`` (per output channel M, sh); GELU8 = ``GeluInt`` then a
requantisation to int8; mean8(v over n rows) = (Σv·R[n] + 2^15) >> 16 with R[n] = round(2^16/n). The
scores' normaliser W cancels in the package average, so no per-token division is ever needed: one
reciprocal per package, one compare per token. ``num·r`` stays below 2^62 (checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from hwprune.errors import QuantizationError
from hwprune.ir.types import IntType
from hwprune.quant.reference import requantize
from hwprune.quant.requant import requant_params
from hwprune.tokens.fixed_point import GeluInt, SigmoidInt, SoftmaxInt, round_const
from hwprune.tokens.selector import TokenSelector

__all__ = ["IntLinear", "IntGelu", "IntSelector", "IntCompaction", "quantize_selector", "int_mean",
           "fuse_package_int", "MEAN_BITS", "FUSE_RECIP_BITS"]

INT8 = IntType(8)
MEAN_BITS = 16
FUSE_RECIP_BITS = 32


def _scale_of(values: torch.Tensor) -> float:
    top = float(values.detach().abs().max()) if values.numel() else 0.0
    return max(top, 1e-8) / 127.0


@dataclass(frozen=True)
class IntLinear:
    """int8 weights with one scale per output channel, int bias in the accumulator domain, requant to int8."""

    weight: np.ndarray  # [out, in] int8 values (int64 array)
    bias: np.ndarray  # [out] int64
    mult: np.ndarray  # [out] int64
    shift: np.ndarray  # [out] int64
    out_scale: float

    @classmethod
    def from_float(cls, layer: torch.nn.Linear, in_scale: float, out_scale: float) -> "IntLinear":
        w = layer.weight.detach().to(torch.float64)
        w_scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        wq = torch.clamp(torch.round(w / w_scale[:, None]), -127, 127).to(torch.int64)
        bias = torch.round(layer.bias.detach().to(torch.float64) / (w_scale * in_scale)).to(torch.int64)
        params = [requant_params(float(s) * in_scale / out_scale) for s in w_scale]
        return cls(wq.numpy(), bias.numpy(), np.array([m for m, _ in params], dtype=np.int64),
                   np.array([s for _, s in params], dtype=np.int64), out_scale)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        acc = q @ torch.from_numpy(self.weight).T + torch.from_numpy(self.bias)
        return requantize(acc, torch.from_numpy(self.mult), torch.from_numpy(self.shift), INT8, relu=False)


@dataclass(frozen=True)
class IntGelu:
    """``GeluInt`` on an int8 input of scale in_scale, requantised to int8 at out_scale."""

    gelu: GeluInt
    mult: int
    shift: int
    out_scale: float

    @classmethod
    def from_scales(cls, in_scale: float, out_scale: float) -> "IntGelu":
        gelu = GeluInt.from_scale(in_scale)
        mult, shift = requant_params(gelu.out_scale / out_scale)
        return cls(gelu, mult, shift, out_scale)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        return requantize(self.gelu(q), torch.tensor(self.mult), torch.tensor(self.shift), INT8, relu=False)


def int_mean(q: torch.Tensor, dim: int) -> torch.Tensor:
    """(Σ·R[n] + 2^15) >> 16 along ``dim`` with R[n] = round(2^16 / n): the mean without a divider."""
    n = q.shape[dim]
    recip = round_const((1 << MEAN_BITS) / n)
    return torch.bitwise_right_shift(q.sum(dim=dim) * recip + (1 << (MEAN_BITS - 1)), MEAN_BITS)


def fuse_package_int(tokens: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ S_i·q_i / Σ S_i by one reciprocal (32 bits) and a rounding shift; plain mean if Σ S_i = 0."""
    if int(weights.sum()) == 0:
        weights = torch.ones_like(weights)
    den = int(weights.sum())
    num = (weights[:, None] * tokens).sum(dim=0)
    recip = (1 << FUSE_RECIP_BITS) // den
    if int(num.abs().max()) * recip >= 1 << 62:
        raise QuantizationError("package-token accumulator would exceed 62 bits")
    fused = torch.bitwise_right_shift(num * recip + (1 << (FUSE_RECIP_BITS - 1)), FUSE_RECIP_BITS)
    return torch.clamp(fused, INT8.min, INT8.max)


@dataclass
class IntCompaction:
    """The integer selector's output for one token set."""

    tokens: torch.Tensor  # [T_out, D] int8 values
    keep: torch.Tensor  # [T − 1] bool over the candidates
    score: torch.Tensor  # [T − 1] S_i = Σ_h w_h·p_hi
    weight_sum: int  # W (after the all-zero fallback)
    has_package: bool


@dataclass(frozen=True)
class IntSelector:
    """The quantized selector: every constant the hardware needs, and the golden ``select``."""

    heads: int
    head_dim: int
    in_scale: float
    local: IntLinear
    local_gelu: IntGelu
    score1: IntLinear
    gelu1: IntGelu
    score2: IntLinear
    gelu2: IntGelu
    score3: IntLinear
    softmax: SoftmaxInt
    head1: IntLinear
    head_gelu: IntGelu
    head2: IntLinear
    sigmoid: SigmoidInt

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Float tokens → int8 at the selector's input scale (round half to even, saturate)."""
        return torch.clamp(torch.round(x.to(torch.float64) / self.in_scale), INT8.min, INT8.max).to(torch.int64)

    def scores(self, cand: torch.Tensor) -> tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]:
        """(S [T], W, p [H, T], w [H]) for int8 candidates [T, D]."""
        t = cand.shape[0]
        qh = cand.reshape(t, self.heads, self.head_dim).transpose(0, 1)  # [H, T, d]
        local = self.local_gelu(self.local(qh))
        glob = int_mean(local, dim=1)[:, None, :].expand_as(local)
        h1 = self.gelu1(self.score1(torch.cat([local, glob], dim=-1)))
        logits = self.score3(self.gelu2(self.score2(h1)))
        p = self.softmax(logits, dim=-1)[..., 0]  # [H, T]
        head_in = int_mean(qh, dim=1)  # [H, d]
        w = self.sigmoid(self.head2(self.head_gelu(self.head1(head_in)))[:, 0])  # [H]
        if int(w.sum()) == 0:
            w = torch.ones_like(w)
        return (w[:, None] * p).sum(dim=0), int(w.sum()), p, w

    def select(self, q: torch.Tensor, has_package: bool) -> IntCompaction:
        """Score, keep (S ≥ 128·W), compact and fuse one int8 token set [T, D] (class token first)."""
        cand = q[1:]
        score, total, _, _ = self.scores(cand)
        keep = score >= (1 << (self.softmax.frac_bits - 1)) * total
        if has_package:
            keep[-1] = False
        fused = ~keep
        parts = [q[:1], cand[keep]]
        if bool(fused.any()):
            parts.append(fuse_package_int(cand[fused], score[fused])[None, :])
        return IntCompaction(torch.cat(parts, dim=0), keep, score, total, bool(fused.any()))


def quantize_selector(selector: TokenSelector, calibration: Sequence[torch.Tensor],
                      in_scale: float | None = None) -> IntSelector:
    """Per-tensor activation scales from the max |value| seen on ``calibration`` (candidate sets [T, D]).

    ``in_scale`` fixes the input (and output) token scale instead: in a compiled graph it is the scale of
    the int8 tensor the previous layer writes, which the selector must read as it is.
    """
    traces = [selector.trace(c[None].to(torch.float32)) for c in calibration]
    if not traces:
        raise QuantizationError("quantize_selector needs at least one calibration token set")

    def scale(name: str, post=None) -> float:  # noqa: ANN001 - tiny local helper
        vals = [getattr(tr, name) for tr in traces]
        return _scale_of(torch.cat([(post(v) if post else v).flatten() for v in vals]))

    gelu = torch.nn.functional.gelu
    s_x = scale("x") if in_scale is None else float(in_scale)
    if not s_x > 0:
        raise QuantizationError(f"the selector's input scale must be positive, not {in_scale!r}")
    s_lp, s_l = scale("local_pre"), scale("local")
    s_1p, s_1 = scale("hidden1_pre"), scale("hidden1_pre", gelu)
    s_2p, s_2 = scale("hidden2_pre"), scale("hidden2_pre", gelu)
    s_o = scale("logits")
    s_hp, s_h = scale("head_hidden_pre"), scale("head_hidden_pre", gelu)
    s_hl = scale("head_logit")
    sel = selector
    return IntSelector(
        heads=sel.heads, head_dim=sel.head_dim, in_scale=s_x,
        local=IntLinear.from_float(sel.local, s_x, s_lp), local_gelu=IntGelu.from_scales(s_lp, s_l),
        score1=IntLinear.from_float(sel.score1, s_l, s_1p), gelu1=IntGelu.from_scales(s_1p, s_1),
        score2=IntLinear.from_float(sel.score2, s_1, s_2p), gelu2=IntGelu.from_scales(s_2p, s_2),
        score3=IntLinear.from_float(sel.score3, s_2, s_o), softmax=SoftmaxInt.from_scale(s_o),
        head1=IntLinear.from_float(sel.head1, s_x, s_hp), head_gelu=IntGelu.from_scales(s_hp, s_h),
        head2=IntLinear.from_float(sel.head2, s_h, s_hl), sigmoid=SigmoidInt.from_scale(s_hl),
    )

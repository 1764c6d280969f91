"""Everything the RTL and HLS selectors are built from: the integers of an ``IntSelector`` as hardware.

Why a separate description: the RTL (Amaranth), the HLS writer and the cycle model must read the same
constants and widths, and none of them may reach back into torch. ``SelectorHardware.of`` derives them
once from the golden model (``hwprune.tokens.reference.IntSelector``):

- the six Linears as dense ``KernelSpec`` s (the MAC engine of ``hwprune.backends.rtl.engine`` runs them);
- GELU8 / exp / sigmoid constants, plus the two derived ones hardware needs: the multiply-shift that
  replaces ⌊u / q_ln2⌋ (checked exact over every input) and the quotient width of the softmax reciprocal;
- mean reciprocals R[n] = round(2^16 / n) for every candidate count n, and the widths of every sum.

The golden model itself is serialised by ``hwprune.tokens.selector_json``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.lowering import dense_layout, largest_divisor_at_most
from hwprune.prune.patterns.base import pack_balanced
from hwprune.quant.ptq import accumulator_bits
from hwprune.tokens.fixed_point import ExpInt, SigmoidInt, SoftmaxInt, round_const
from hwprune.tokens.reference import FUSE_RECIP_BITS, MEAN_BITS, IntGelu, IntLinear, IntSelector

__all__ = ["GeluHw", "SoftmaxHw", "SigmoidHw", "SelectorHardware", "LINEARS", "linear_spec", "INT8"]

INT8 = IntType(8, True)
LINEARS = ("local", "head1", "head2", "score1", "score2", "score3")
"""The selector's Linears, in the order the hardware runs them."""


@dataclass(frozen=True)
class GeluHw:
    """GELU8 = requant(GeluInt(q)) to int8: q_b, q_c of ``GeluInt`` and the requantiser's (M, sh)."""

    q_b: int
    q_c: int
    mult: int
    shift: int

    @staticmethod
    def of(g: IntGelu) -> "GeluHw":
        return GeluHw(g.gelu.q_b, g.gelu.q_c, g.mult, g.shift)

    @property
    def y_bound(self) -> int:
        """max |GeluInt(q)| over int8 q (sizes the product register)."""
        core = max(2 * self.q_c, abs(2 * self.q_c - self.q_b ** 2), self.q_b ** 2)
        return 128 * core


@dataclass(frozen=True)
class SoftmaxHw:
    """Two-way softmax keep probability from int8 logits (keep, drop), as ``SoftmaxInt`` computes it.

    With u = |keep − drop|: z = ⌊u / q_ln2⌋ = (u·z_mult) >> z_shift, e = ((z·q_ln2 − u + q_b)² + q_c) >> z,
    e0 = q_b² + q_c (the exp of the larger logit), total = e0 + e, r = ⌊2^R / total⌋ by a restoring
    divider of ``quotient_bits`` steps, p = (e_keep·r + 2^(R−F−1)) >> (R − F).
    """

    q_ln2: int
    q_b: int
    q_c: int
    recip_bits: int
    frac_bits: int
    z_mult: int
    z_shift: int

    @property
    def e0(self) -> int:
        return self.q_b ** 2 + self.q_c

    @property
    def max_z(self) -> int:
        return 255 // self.q_ln2

    @property
    def quotient_bits(self) -> int:
        """Quotient width: total ≥ e0, so ⌊2^R / total⌋ < 2^quotient_bits."""
        return ((1 << self.recip_bits) // self.e0).bit_length()

    @staticmethod
    def of(s: SoftmaxInt) -> "SoftmaxHw":
        e: ExpInt = s.exp
        z_mult, z_shift = _divide_by_constant(e.q_ln2, 255)
        hw = SoftmaxHw(e.q_ln2, e.q_b, e.q_c, s.recip_bits, s.frac_bits, z_mult, z_shift)
        if hw.e0 < 1 or hw.quotient_bits > hw.recip_bits or e.q_b < e.q_ln2:
            raise ValueError(f"softmax constants out of the hardware's range: {hw}")
        return hw


@dataclass(frozen=True)
class SigmoidHw:
    """``SigmoidInt``: xf = (|q|·mult + 2^(shift−1)) >> shift, three segments, F fraction bits."""

    mult: int
    shift: int
    frac_bits: int

    @staticmethod
    def of(s: SigmoidInt) -> "SigmoidHw":
        return SigmoidHw(s.mult, s.shift, s.frac_bits)


def _divide_by_constant(divisor: int, top: int) -> tuple[int, int]:
    """(K, s) with (u·K) >> s == u // divisor for every 0 ≤ u ≤ top (checked, smallest s)."""
    for shift in range(0, 40):
        mult = -(-(1 << shift) // divisor)
        if all((u * mult) >> shift == u // divisor for u in range(top + 1)):
            return mult, shift
    raise ValueError(f"no multiply-shift divides by {divisor} exactly")  # pragma: no cover


def linear_spec(layer: IntLinear, name: str, ident: str, lanes: int, macs: int) -> KernelSpec:
    """A dense ``KernelSpec`` (int8 in, int8 out, no ReLU) computing exactly ``IntLinear.__call__``."""
    weight = np.asarray(layer.weight, dtype=np.int64)
    out_features, in_features = weight.shape
    layout = dense_layout(in_features, macs)
    packed = pack_balanced(weight, np.ones(weight.shape, dtype=bool), layout)
    bias = [int(b) for b in layer.bias]
    acc = accumulator_bits(8, 8, in_features, max(abs(b) for b in bias), 128)
    return KernelSpec(
        name=name, ident=ident, kind="dense", pattern="dense", out_features=out_features,
        lanes=min(lanes, out_features), macs_per_lane=largest_divisor_at_most(layout.groups, macs),
        weights=packed, bias=tuple(bias), requant_mult=tuple(int(v) for v in layer.mult),
        requant_shift=tuple(int(v) for v in layer.shift), acc_bits=acc, weight_bits=8, in_type=INT8,
        out_type=INT8, relu=False,
    )


@dataclass(frozen=True)
class SelectorHardware:
    """One selector instance: shapes, the six Linear kernels, nonlinearity constants and widths."""

    ident: str
    dim: int
    heads: int
    head_dim: int
    max_tokens: int
    kernels: dict[str, KernelSpec]
    gelus: dict[str, GeluHw]  # local, head, score1, score2 (after the Linear of the same name)
    softmax: SoftmaxHw
    sigmoid: SigmoidHw
    mean_recip: tuple[int, ...]  # index n (candidates) → round(2^16 / n); index 0 unused (0)

    @property
    def half(self) -> int:
        return self.head_dim // 2

    @property
    def quarter(self) -> int:
        return self.head_dim // 4

    @property
    def one(self) -> int:
        """1.0 of the probabilities and head weights (2^F)."""
        return 1 << self.softmax.frac_bits

    @property
    def sum_bits(self) -> int:
        """Signed width of a sum of int8 over the candidates (means' numerators)."""
        return 8 + (self.max_tokens - 1).bit_length()

    @property
    def score_max(self) -> int:
        """Largest S_i = Σ_h w_h·p_hi."""
        return self.heads * self.one * self.one

    @property
    def den_max(self) -> int:
        return (self.max_tokens - 1) * self.score_max

    @property
    def num_bits(self) -> int:
        """Signed width of the package numerators Σ S_i·q_ic."""
        return (self.den_max * 128).bit_length() + 1

    @staticmethod
    def of(sel: IntSelector, max_tokens: int, ident: str = "token_selector", lanes: int = 8,
           macs: int = 4) -> "SelectorHardware":
        if not isinstance(max_tokens, int) or max_tokens < 2:
            raise ValueError(f"max_tokens must be an integer of at least 2, not {max_tokens!r}")
        if sel.head_dim < 4 or sel.head_dim % 4:
            raise ValueError(f"the hardware selector needs a head dim that is a multiple of 4, not {sel.head_dim}")
        if max_tokens > 1024:
            raise ValueError(f"max_tokens must be at most 1024 (the int8 means), not {max_tokens}")
        kernels = {name: linear_spec(getattr(sel, name), name, f"{ident}_{name}", lanes, macs) for name in LINEARS}
        gelus = {"local": GeluHw.of(sel.local_gelu), "head": GeluHw.of(sel.head_gelu),
                 "score1": GeluHw.of(sel.gelu1), "score2": GeluHw.of(sel.gelu2)}
        recips = (0, *(round_const((1 << MEAN_BITS) / n) for n in range(1, max_tokens)))
        return SelectorHardware(ident, sel.heads * sel.head_dim, sel.heads, sel.head_dim, max_tokens, kernels,
                                gelus, SoftmaxHw.of(sel.softmax), SigmoidHw.of(sel.sigmoid), recips)

    def renamed(self, ident: str) -> "SelectorHardware":
        """The same hardware under another identifier (kernel idents follow)."""
        kernels = {k: replace(v, ident=f"{ident}_{k}") for k, v in self.kernels.items()}
        return replace(self, ident=ident, kernels=kernels)

    def facts(self) -> dict[str, Any]:
        """Summary for manifests and reports."""
        return {
            "ident": self.ident, "dim": self.dim, "heads": self.heads, "head_dim": self.head_dim,
            "max_tokens": self.max_tokens,
            "engines": {k: {"in": s.in_features, "out": s.out_features, "lanes": s.lanes, "macs": s.macs_per_lane}
                        for k, s in self.kernels.items()},
            "softmax_quotient_bits": self.softmax.quotient_bits, "package_recip_bits": FUSE_RECIP_BITS + 1,
        }

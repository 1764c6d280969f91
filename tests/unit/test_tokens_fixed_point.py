"""The integer nonlinearities: equal to a plain-Python-int restatement on every 8-bit input, and within
measured error bounds of the exact functions (bounds = measured values + a margin, see docs/tokens.md)."""

from __future__ import annotations

import math

import pytest
import torch

from hwprune.tokens.errors_report import approximation_errors
from hwprune.tokens.fixed_point import (
    ExpInt,
    GeluInt,
    SigmoidInt,
    SoftmaxInt,
    exp_approx,
    gelu_approx,
    sigmoid_approx,
    softmax_approx,
)

INT8 = list(range(-128, 128))
SCALES = [1 / 16, 1 / 32, 0.05, 3 / 128]


# ---------------------------------------------------------------- plain Python restatements (no torch)


def py_gelu(q: int, s: float) -> int:
    su = s / math.sqrt(2)
    qb = max(1, math.floor(1.769 / su + 0.5))
    qc = math.floor(1 / (0.2888 * su * su) + 0.5)
    t = qb - min(abs(q), qb)
    sign = (q > 0) - (q < 0)
    return q * (qc + sign * (qc - t * t))


def py_exp(x: int, s: float) -> int:
    qln2 = max(1, math.floor(math.log(2) / s + 0.5))
    qb = math.floor(1.353 / s + 0.5)
    qc = math.floor(0.344 / (0.3585 * s * s) + 0.5)
    z = (-x) // qln2
    p = x + z * qln2
    return ((p + qb) ** 2 + qc) >> min(z, 62)


def py_softmax(row: list[int], s: float, frac: int = 8, rbits: int = 31) -> list[int]:
    top = max(row)
    e = [py_exp(v - top, s) for v in row]
    recip = (1 << rbits) // sum(e)
    drop = rbits - frac
    return [(v * recip + (1 << (drop - 1))) >> drop for v in e]


def py_sigmoid(q: int, s: float, frac: int = 8) -> int:
    mantissa, exponent = math.frexp(s * (1 << frac))
    shift = 15 - exponent
    mult = round(mantissa * (1 << 15))
    if mult == 1 << 15:
        mult, shift = mult // 2, shift - 1
    xf = (abs(q) * mult + (1 << (shift - 1))) >> shift
    one = 1 << frac
    if xf < one:
        y32 = 8 * xf + 16 * one
    elif 8 * xf < 19 * one:
        y32 = 4 * xf + 20 * one
    elif xf < 5 * one:
        y32 = xf + 27 * one
    else:
        y32 = 32 * one
    y = (y32 + 16) >> 5
    return one - y if q < 0 else y


# ---------------------------------------------------------------- bit-exactness on all 256 inputs


@pytest.mark.parametrize("scale", SCALES)
def test_gelu_int_matches_python_on_every_int8(scale: float) -> None:
    got = GeluInt.from_scale(scale)(torch.tensor(INT8)).tolist()
    assert got == [py_gelu(q, scale) for q in INT8]


@pytest.mark.parametrize("scale", SCALES)
def test_exp_int_matches_python_on_every_difference(scale: float) -> None:
    xs = list(range(-255, 1))  # every x − max of two int8 values
    assert ExpInt.from_scale(scale)(torch.tensor(xs)).tolist() == [py_exp(x, scale) for x in xs]


@pytest.mark.parametrize("scale", SCALES)
def test_sigmoid_int_matches_python_on_every_int8(scale: float) -> None:
    assert SigmoidInt.from_scale(scale)(torch.tensor(INT8)).tolist() == [py_sigmoid(q, scale) for q in INT8]


def test_softmax_int_matches_python_on_pairs_and_rows() -> None:
    scale = 1 / 16
    g = torch.Generator().manual_seed(3)
    pairs = torch.stack(torch.meshgrid(torch.arange(-128, 128, 5), torch.arange(-128, 128, 7), indexing="ij"), -1)
    rows = torch.cat([pairs.reshape(-1, 2)], dim=0)
    sm = SoftmaxInt.from_scale(scale)
    assert sm(rows).tolist() == [py_softmax(r, scale) for r in rows.tolist()]
    wide = torch.randint(-128, 128, (50, 17), generator=g)
    assert sm(wide).tolist() == [py_softmax(r, scale) for r in wide.tolist()]


def test_integer_forms_keep_their_structure() -> None:
    q = torch.tensor(INT8)
    sig = SigmoidInt.from_scale(1 / 16)(q)
    assert int(sig.min()) >= 0 and int(sig.max()) <= 256
    assert torch.equal(sig[q > 0].flip(0)[: 127], 256 - sig[(q < 0) & (q > -128)][:127])  # 1 − y symmetry
    assert torch.all(sig[1:] >= sig[:-1])  # monotone
    prob = SoftmaxInt.from_scale(1 / 16)(torch.tensor([[5, 5], [127, -128], [0, 0]]))
    assert prob.tolist()[0] == [128, 128] and prob.tolist()[2] == [128, 128]
    assert prob.tolist()[1][1] == 0 and prob.tolist()[1][0] == 256
    gelu = GeluInt.from_scale(1 / 16)(q)
    assert int(gelu[q == 0]) == 0 and bool(torch.all(gelu[q > 0] > 0))
    assert int(gelu.abs().max()) < 2**31


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="frac_bits must be at least 3"):
        SigmoidInt.from_scale(1 / 16, frac_bits=2)
    with pytest.raises(ValueError, match="x̃ ≤ 0"):
        ExpInt.from_scale(1 / 16)(torch.tensor([1]))


# ---------------------------------------------------------------- error bounds (measured + margin)


def test_float_approximations_are_close_to_exact() -> None:
    x = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    assert float((gelu_approx(x) - torch.nn.functional.gelu(x)).abs().max()) < 0.02  # measured 0.0181
    assert float((sigmoid_approx(x) - torch.sigmoid(x)).abs().max()) < 0.02  # measured 0.0189
    xn = torch.linspace(-16, 0, 4001, dtype=torch.float64)
    assert float((exp_approx(xn) - torch.exp(xn)).abs().max()) < 0.003  # measured 0.0021
    rows = torch.randn(200, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    assert float((softmax_approx(rows) - torch.softmax(rows, -1)).abs().max()) < 0.005


def test_error_table_bounds() -> None:
    rows = {r.name: r for r in approximation_errors()}
    bounds = {  # name: (max bound, mean bound) for the integer form; measured values are in docs/tokens.md
        "GELU": (0.025, 0.01),
        "GELU → int8": (0.06, 0.03),
        "exp": (0.03, 0.01),
        "softmax (2-way)": (0.01, 0.005),
        "sigmoid": (0.025, 0.01),
    }
    for name, (max_bound, mean_bound) in bounds.items():
        row = rows[name]
        assert row.int_max < max_bound and row.int_mean < mean_bound, row

"""Integer golden model of the selector: arithmetic, invariants, agreement with the float selector."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import torch

from hwprune.errors import QuantizationError
from hwprune.tokens.artefacts import load_vit
from hwprune.tokens.int_eval import calibrate_int_selectors, measure_agreement
from hwprune.tokens.reference import fuse_package_int, int_mean, quantize_selector


@pytest.fixture(scope="module")
def setup(examples_dir: Path, digits):
    torch.set_num_threads(1)
    model = load_vit(examples_dir / "vit_digits.npz")
    selectors = calibrate_int_selectors(model, torch.from_numpy(digits.x_train[:256]))
    return model, selectors


def test_int_mean_is_the_documented_formula() -> None:
    g = torch.Generator().manual_seed(0)
    for n in range(1, 18):
        q = torch.randint(-128, 128, (n, 5), generator=g)
        recip = (2 * (1 << 16) + n) // (2 * n)  # round(2^16 / n), halves up
        expect = [(int(s) * recip + (1 << 15)) >> 16 for s in q.sum(0)]
        assert int_mean(q, 0).tolist() == expect
        assert (int_mean(q, 0).double() - q.double().mean(0)).abs().max() <= 0.5 + 1e-9 + 128 * n / 2**16 * n


def test_package_fusion_arithmetic() -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(300):
        p = int(torch.randint(1, 18, (1,), generator=g))
        tokens = torch.randint(-128, 128, (p, 8), generator=g)
        weights = torch.randint(0, 1 << 18, (p,), generator=g)
        got = fuse_package_int(tokens, weights)
        den = int(weights.sum()) or p
        w = weights.tolist() if int(weights.sum()) else [1] * p
        recip = (1 << 32) // den
        for c in range(8):
            num = sum(wi * int(t) for wi, t in zip(w, tokens[:, c]))
            assert int(got[c]) == max(-128, min(127, (num * recip + (1 << 31)) >> 32))
            assert abs(Fraction(int(got[c])) - Fraction(num, den)) <= Fraction(3, 4)  # ≤ ¾ LSB from exact
    single = torch.tensor([[5, -7, 127, -128]])
    assert fuse_package_int(single, torch.tensor([123])).tolist() == [5, -7, 127, -128]
    assert fuse_package_int(torch.tensor([[1, 2], [3, 5]]), torch.tensor([0, 0])).tolist() == [2, 4]  # 3.5 → 4


def test_integer_select_invariants(setup) -> None:
    model, selectors = setup
    g = torch.Generator().manual_seed(2)
    for block, sel in selectors.items():
        for trial in range(120):
            t = int(torch.randint(2, 19, (1,), generator=g))
            q = torch.randint(-128, 128, (t, model.cfg.dim), generator=g)
            has_package = bool(trial % 2) and t > 2
            step = sel.select(q, has_package)
            kept = int(step.keep.sum())
            assert step.tokens.shape[0] == 1 + kept + int(step.has_package) <= t
            assert torch.equal(step.tokens[0], q[0])
            assert torch.equal(step.tokens[1 : 1 + kept], q[1:][step.keep])
            assert step.has_package == bool((~step.keep).any())
            if has_package:
                assert not bool(step.keep[-1])
            assert bool(((step.tokens >= -128) & (step.tokens <= 127)).all())
            rule = step.score >= 128 * step.weight_sum
            if has_package:
                rule[-1] = False
            assert torch.equal(step.keep, rule)
            again = sel.select(q.clone(), has_package)
            assert torch.equal(again.tokens, step.tokens)


def test_calibration_needs_data(setup) -> None:
    model, _ = setup
    with pytest.raises(QuantizationError, match="at least one"):
        quantize_selector(model.selectors["2"], [])


def test_agreement_with_float_selector(setup, digits) -> None:
    model, selectors = setup
    x, y = torch.from_numpy(digits.x_test[:120]), torch.from_numpy(digits.y_test[:120])
    r = measure_agreement(model, selectors, x, y)
    # measured on all 360 test images: agreement 95.1% / 98.1%, int 98.06% vs float 97.78% top-1
    assert min(r.agreement) >= 92.0
    assert r.int_accuracy >= r.float_accuracy - 2.0
    assert all(abs(a - b) < 0.05 for a, b in zip(r.float_keep, r.int_keep))

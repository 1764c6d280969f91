"""ADMM: the Z-step projection is exact and idempotent; ‖W − Z‖ falls on the digits MLP."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hwprune.prune.admm import ADMM, project
from hwprune.prune.patterns import PatternError, get_pattern
from hwprune.prune.patterns.base import kept_count

PROPS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

PATTERN_CASES = [
    ("unstructured", {}), ("nm", {"m": 4}), ("bank_balanced", {"banks": 2}),
    ("balanced_stochastic", {"group_size": 4, "p": 2}), ("block_punched", {"filters": 2, "channels": 2}),
    ("block_punched", {"filters": 2, "channels": 2, "balanced": True}), ("channel", {}),
]


@PROPS
@given(st.sampled_from(PATTERN_CASES), st.integers(1, 6), st.integers(1, 5), st.sampled_from([0.25, 0.5, 0.75]),
       st.integers(0, 10_000), st.booleans())
def test_projection_is_idempotent_and_exact(case, filters, channels, s, seed, ties):
    name, params = case
    pattern = get_pattern(name, **params)
    w = torch.randn(filters, channels, 2, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if ties:
        w = torch.round(w)  # many equal magnitudes and zeros: ties must still give the exact count
    try:
        z, mask = project(pattern, w, s)
    except PatternError:
        assume(False)
    pattern.check(mask.numpy())
    z2, _ = project(pattern, z, s)
    torch.testing.assert_close(z2, z, rtol=0, atol=0)
    if name == "unstructured":
        assert int(mask.sum()) == kept_count(w.numel(), s, minimum=0)
        a = w.abs()
        if mask.any() and (~mask).any():
            assert a[mask].min() >= a[~mask].max()


def test_projection_ties_go_to_the_lower_index():
    w = torch.ones(2, 8)
    _, mask = project(get_pattern("unstructured"), w, 0.5)
    assert mask[0].all() and not mask[1].any()
    _, mask = project(get_pattern("balanced_stochastic", group_size=4), w, 0.5)
    assert mask[:, [0, 1, 4, 5]].all() and not mask[:, [2, 3, 6, 7]].any()


def test_block_projection_is_the_euclidean_nearest_point():
    """Brute force over every balanced block-punched mask of a 2×2-block, 2×2-kernel weight."""
    pattern = get_pattern("block_punched", filters=2, channels=2, balanced=True)
    gen = torch.Generator().manual_seed(5)
    for _ in range(20):
        w = torch.randn(2, 2, 2, 2, generator=gen, dtype=torch.float64)
        z, _ = project(pattern, w, 0.5)
        best = min(
            float((w - w * torch.tensor([p in keep for p in range(4)]).reshape(1, 1, 2, 2)).pow(2).sum())
            for keep in itertools.combinations(range(4), 2)
        )
        assert float((w - z).pow(2).sum()) == pytest.approx(best)


def test_u_step_identity_and_penalty_gradient():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8))
    admm = ADMM(model, "nm", 0.5, rho=0.5)
    w = model[0].weight.detach().clone()
    u_old = admm.U["0"].clone()
    admm.update()
    torch.testing.assert_close(admm.U["0"], u_old + w - admm.Z["0"])
    admm.penalty().backward()
    expected = 1.0 * (w - admm.Z["0"] + admm.U["0"])  # rho doubled after the update
    torch.testing.assert_close(model[0].weight.grad, expected)
    assert admm.rho == pytest.approx(1.0)


@pytest.mark.slow
def test_admm_residual_falls_on_the_digits_mlp(examples_dir, digits):
    from hwprune.frontend import import_onnx
    from hwprune.prune.finetune import TrainConfig, accuracy, admm_prune
    from hwprune.prune.onnx_io import GraphModule

    torch.set_num_threads(1)
    model = GraphModule(import_onnx(str(examples_dir / "mlp_digits.onnx")))
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    masks, residuals = admm_prune(model, x, y, "balanced_stochastic", 0.75, TrainConfig(epochs=1), admm_epochs=5)
    print("ADMM ||W - Z|| per update:", [round(r, 3) for r in residuals])
    assert len(residuals) == 6
    assert residuals[-1] < 0.5 * residuals[0]
    assert residuals[-1] < residuals[1]
    for name, mask in masks.items():
        get_pattern("balanced_stochastic").check(mask)
        assert (getattr(model, name).weight.detach().numpy()[~mask] == 0).all()
    assert accuracy(model, torch.from_numpy(digits.x_test), torch.from_numpy(digits.y_test)) > 0.9

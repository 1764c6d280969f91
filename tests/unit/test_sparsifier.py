"""The torch-side Sparsifier: parametrized masks, schedules, overrides, determinism."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from hwprune.prune.patterns import PatternError, get_pattern
from hwprune.prune.schedules import Cubic, OneShot, make_schedule
from hwprune.prune.sparsifier import Sparsifier


def small_mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(fc0=nn.Linear(64, 32), relu=nn.ReLU(), fc1=nn.Linear(32, 16),
                                     relu1=nn.ReLU(), fc2=nn.Linear(16, 10)))


def small_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(conv0=nn.Conv2d(1, 8, 3, padding=1), relu=nn.ReLU(),
                                     conv1=nn.Conv2d(8, 16, 3, padding=1), flat=nn.Flatten(), fc=nn.Linear(1024, 10)))


def test_one_shot_masks_forward_gradients_and_finalize():
    model = small_mlp()
    dense = {n: m.weight.detach().clone() for n, m in model.named_children() if isinstance(m, nn.Linear)}
    sp = Sparsifier(model, "nm", 0.5, params={"m": 4})
    sp.step()
    masks = sp.masks()
    pattern = get_pattern("nm", m=4)
    for name, mask in masks.items():
        pattern.check(mask)
        np.testing.assert_array_equal(mask, pattern.mask(dense[name], 0.5).numpy())
        # the forward pass sees the masked weight; the optimizer's tensor is untouched
        torch.testing.assert_close(getattr(model, name).weight, dense[name] * torch.from_numpy(mask))
        torch.testing.assert_close(sp.original(name), dense[name])
    x = torch.randn(8, 64)
    model(x).pow(2).sum().backward()
    grad = model.fc0.parametrizations.weight.original.grad
    assert grad is not None and (grad[~torch.from_numpy(masks["fc0"])] == 0).all()
    assert (grad[torch.from_numpy(masks["fc0"])] != 0).any()
    final = sp.finalize()
    assert not hasattr(model.fc0, "parametrizations")
    for name, mask in final.items():
        w = getattr(model, name).weight.detach().numpy()
        assert (w[~mask] == 0).all() and (w[mask] != 0).all()
    with pytest.raises(PatternError, match="after finalize"):
        sp.step()


def test_cubic_ramp_follows_the_formula_then_freezes():
    sched = Cubic(steps=4)
    values = [sched.sparsity_at(t, 0.8) for t in range(6)]
    assert values[0] == 0.0 and values[4] == values[5] == pytest.approx(0.8)
    assert values[2] == pytest.approx(0.8 * (1 - 0.5**3))
    assert all(a < b for a, b in zip(values[:4], values[1:5]))
    assert isinstance(make_schedule("one_shot"), OneShot)
    with pytest.raises(PatternError, match="unknown schedule 'linear'"):
        make_schedule("linear")

    model = small_mlp()
    sp = Sparsifier(model, "balanced_stochastic", 0.75, Cubic(steps=4), params={"group_size": 8, "p": 1})
    seen = []
    for _ in range(6):
        sp.step()
        seen.append(sp.masks()["fc0"])
    kept = [int(m.sum()) for m in seen]
    assert kept[0] > kept[1] > kept[2] >= kept[3] == kept[4] == kept[5]
    assert kept[3] == 32 * 8 * 2  # 2 of every 8 in every row: the final 75%
    # stochastic masks are re-drawn at every ramp step (pruned weights can come back) ...
    assert ((~seen[1]) & seen[2]).any()
    # ... and frozen once the ramp is done
    np.testing.assert_array_equal(seen[3], seen[5])


def test_same_seed_same_masks_different_seed_different_masks():
    def run(seed: int) -> dict[str, np.ndarray]:
        sp = Sparsifier(small_mlp(), "balanced_stochastic", 0.75, Cubic(steps=3), seed=seed)
        for _ in range(3):
            sp.step()
        return sp.finalize()

    a, b, c = run(0), run(0), run(1)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[n], c[n]) for n in a)


def test_skip_overrides_and_unknown_names():
    model = small_cnn()
    sp = Sparsifier(model, "block_punched", 0.5, params={"balanced": True}, skip=["conv0"],
                    overrides={"fc": {"pattern": "balanced_stochastic", "group_size": 16, "sparsity": 0.75}})
    sp.step()
    assert not hasattr(model.conv0, "parametrizations")
    report = {row["layer"]: row for row in sp.report()}
    assert report["conv1"]["pattern"] == "block_punched" and report["fc"]["pattern"] == "balanced_stochastic"
    assert report["fc"]["reached"] == pytest.approx(0.75)
    assert report["conv1"]["layout"].group_size == 9
    with pytest.raises(PatternError, match="no prunable layer named 'conv9'; prunable layers: conv0, conv1, fc"):
        Sparsifier(small_cnn(), "nm", 0.5, skip=["conv9"])
    with pytest.raises(PatternError, match="cannot reach sparsity 0.9"):  # an impossible target fails at construction
        Sparsifier(small_cnn(), "nm", 0.9, params={"m": 4})
    # every layer shape has a balanced block-punched mask (the Dense fc: channels of the block)
    Sparsifier(small_cnn(), "block_punched", 0.5, params={"balanced": True}).finalize()


def test_channel_pattern_masks_bias_so_removed_channels_are_zero():
    model = small_mlp()
    sp = Sparsifier(model, "channel", 0.5, skip=["fc2"])
    sp.step()
    sp.finalize()
    rows = model.fc0.weight.detach().abs().sum(dim=1) == 0
    assert int(rows.sum()) == 16 and (model.fc0.bias.detach()[rows] == 0).all()
    out = torch.relu(model.fc0(torch.randn(4, 64)))
    assert (out[:, rows] == 0).all()


def test_finalize_before_the_ramp_ends_forces_the_target():
    sp = Sparsifier(small_mlp(), "unstructured", 0.9, Cubic(steps=10))
    sp.step()
    masks = sp.finalize()
    assert int(masks["fc0"].sum()) == round(0.1 * 64 * 32)

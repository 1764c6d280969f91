"""Token selector (torch), float compaction invariants, keep-ratio targets."""

from __future__ import annotations

import pytest
import torch

from hwprune.tokens.selector import TokenSelector, compact_tokens, fuse_package
from hwprune.tokens.training import cumulative_targets, targets_from_cycles
from hwprune.tokens.vit import gumbel_keep


def _random_case(g: torch.Generator, has_package: bool) -> tuple[torch.Tensor, torch.Tensor]:
    t = int(torch.randint(2, 19, (1,), generator=g))
    tokens = torch.randn(t, 8, generator=g, dtype=torch.float64)
    mode = int(torch.randint(0, 4, (1,), generator=g))
    score = torch.rand(t - 1, generator=g, dtype=torch.float64)
    if mode == 1:
        score = torch.ones(t - 1, dtype=torch.float64)  # all kept
    elif mode == 2:
        score = torch.zeros(t - 1, dtype=torch.float64)  # all pruned, zero weights
    elif mode == 3:
        score = torch.full((t - 1,), 0.5, dtype=torch.float64)  # ties at the threshold: kept
    return tokens, score


@pytest.mark.parametrize("has_package", [False, True])
def test_compaction_invariants_on_random_sets(has_package: bool) -> None:
    g = torch.Generator().manual_seed(7 + has_package)
    for _ in range(300):
        tokens, score = _random_case(g, has_package)
        step = compact_tokens(tokens, score, has_package)
        kept = int(step.keep.sum())
        assert step.tokens.shape[0] == 1 + kept + int(step.has_package)  # kept + package = output
        assert step.tokens.shape[0] <= tokens.shape[0]  # never grows
        assert torch.equal(step.tokens[0], tokens[0])  # class token kept, first
        assert 0 <= kept <= tokens.shape[0] - 1
        if has_package:
            assert not bool(step.keep[-1]) and step.has_package  # old package always folded in
        assert step.has_package == bool((~step.keep).any())
        assert torch.equal(step.tokens[1 : 1 + kept], tokens[1:][step.keep])  # kept rows in order
        if step.has_package:
            fused = tokens[1:][~step.keep]
            w = score[~step.keep]
            expect = fused.mean(0) if float(w.sum()) == 0 else (w[:, None] * fused).sum(0) / w.sum()
            assert torch.allclose(step.tokens[-1], expect)
            lo, hi = fused.min(0).values, fused.max(0).values
            assert bool(((step.tokens[-1] >= lo - 1e-12) & (step.tokens[-1] <= hi + 1e-12)).all())


def test_edge_cases() -> None:
    tokens = torch.arange(15, dtype=torch.float64).reshape(5, 3)
    all_kept = compact_tokens(tokens, torch.ones(4, dtype=torch.float64), False)
    assert torch.equal(all_kept.tokens, tokens) and not all_kept.has_package
    none_kept = compact_tokens(tokens, torch.zeros(4, dtype=torch.float64), False)
    assert none_kept.tokens.shape[0] == 2 and torch.equal(none_kept.tokens[1], tokens[1:].mean(0))
    only_old_package = compact_tokens(tokens, torch.ones(4, dtype=torch.float64), True)
    assert torch.equal(only_old_package.tokens[-1], tokens[-1]) and only_old_package.tokens.shape[0] == 5
    assert torch.equal(fuse_package(tokens[:2], torch.tensor([0.0, 0.0], dtype=torch.float64)), tokens[:2].mean(0))


def test_selector_scores_shape_range_determinism() -> None:
    torch.manual_seed(0)
    a = TokenSelector(64, 4)
    torch.manual_seed(0)
    b = TokenSelector(64, 4)
    x = torch.randn(3, 17, 64, generator=torch.Generator().manual_seed(1))
    sa, sb = a(x), b(x)
    assert sa.shape == (3, 17) and torch.equal(sa, sb)
    assert bool(((sa >= 0) & (sa <= 1)).all())
    tr = a.trace(x)
    assert tr.head_prob.shape == (3, 4, 17) and tr.head_weight.shape == (3, 4)
    present = torch.ones(3, 17)
    present[:, 5:] = 0
    assert torch.allclose(a(x, present)[:, :5], a(x[:, :5]))  # absent tokens do not leak into the means
    TokenSelector(66, 3)  # the HeatViT-like head count works with a 66-wide embedding


def test_selector_argument_errors() -> None:
    with pytest.raises(ValueError, match="positive multiple of heads"):
        TokenSelector(64, 3)
    with pytest.raises(ValueError, match="at least 4"):
        TokenSelector(12, 4)


def test_gumbel_keep_limits_and_seed() -> None:
    s = torch.tensor([0.1, 0.49, 0.5, 0.51, 0.9], requires_grad=True)
    hard = gumbel_keep(s, noise=0.0, tau=1.0)
    assert hard.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]  # noise 0 is the inference rule
    hard.sum().backward()
    assert bool((s.grad > 0).all())  # straight-through gradient
    torch.manual_seed(3)
    a = gumbel_keep(s.detach().expand(1000, 5), 1.0, 1.0)
    torch.manual_seed(3)
    b = gumbel_keep(s.detach().expand(1000, 5), 1.0, 1.0)
    assert torch.equal(a, b)
    assert abs(float(a[:, 4].mean()) - 0.9) < 0.05  # noise 1 samples Bernoulli(s)


def test_targets() -> None:
    assert cumulative_targets([0.5, 0.5]) == [0.5, 0.25]
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        cumulative_targets([0.0])
    cycles = {b: 1000 + 100 * b for b in range(6)}
    ratios = targets_from_cycles(cycles, [2, 4], budget=0.7, tokens=16)
    r = ratios[0]
    cost = sum(c * ((17 if b < 2 else 2 + 16 * r ** (1 if b < 4 else 2)) / 17) for b, c in cycles.items())
    assert abs(cost / sum(cycles.values()) - 0.7) < 1e-6 and 0 < r < 1
    heavier_early = targets_from_cycles({**cycles, 0: 2000}, [2, 4], budget=0.7, tokens=16)
    assert heavier_early[0] < r  # an expensive unprunable block → prune the rest harder for the same budget
    with pytest.raises(ValueError, match="out of reach"):
        targets_from_cycles(cycles, [2, 4], budget=0.2, tokens=16)
    with pytest.raises(ValueError, match="no cycle count"):
        targets_from_cycles({0: 1}, [2], budget=0.9, tokens=16)

"""Hardware-side selector pieces without a simulator: compaction invariants (hypothesis), the constants
the RTL derives (multiply-shift, reciprocal width), the cycle model's rules, beats and JSON forms."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hwprune.tokens.cycles import GELU_LATENCY, RECIP_CYCLES, SelectorModel, selector_cycles, softmax_latency
from hwprune.tokens.fixed_point import SoftmaxInt
from hwprune.tokens.hardware import SelectorHardware, SoftmaxHw
from hwprune.tokens.selector_json import int_selector_from_dict, int_selector_to_dict
from hwprune.tokens.reference import IntSelector, quantize_selector
from hwprune.tokens.selector import TokenSelector
from hwprune.tokens.token_sets import TokenSet, pack_set, random_sets, unpack_beats
from hwprune.tokens.vectors import case_stats, selector_case

DIM, HEADS, MAX_TOKENS = 16, 2, 10


@lru_cache(maxsize=None)
def selector(seed: int = 0) -> IntSelector:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    return quantize_selector(TokenSelector(DIM, HEADS), [torch.randn(7, DIM, generator=gen) for _ in range(8)])


token_sets = st.integers(2, MAX_TOKENS).flatmap(lambda t: st.tuples(
    st.lists(st.integers(-128, 127), min_size=t * DIM, max_size=t * DIM), st.booleans(), st.sampled_from([0, 1])))


@settings(max_examples=150, deadline=None)
@given(token_sets)
def test_compaction_invariants(drawn: tuple[list[int], bool, int]) -> None:
    """Class token kept and first; at most one package token, last; 1 ≤ kept ≤ N; never more tokens out."""
    values, has_package, seed = drawn
    q = torch.tensor(values, dtype=torch.int64).reshape(-1, DIM)
    step = selector(seed).select(q, has_package)
    t_in, t_out = q.shape[0], step.tokens.shape[0]
    kept = 1 + int(step.keep.sum())  # the class token counts as kept
    assert torch.equal(step.tokens[0], q[0])
    assert 1 <= kept <= t_in and t_out <= t_in
    assert t_out == kept + int(step.has_package)
    assert torch.equal(step.tokens[1:kept], q[1:][step.keep])  # kept candidates, in order
    if has_package:
        assert not bool(step.keep[-1])  # the previous package token is always fused
    assert step.has_package == (kept < t_in)
    beats = pack_set(step.tokens.numpy(), step.has_package)
    (tokens_back, package_back), = unpack_beats(beats, DIM)
    assert np.array_equal(tokens_back, step.tokens.numpy()) and package_back == step.has_package
    flagged = [i for i in range(t_out) if beats[i * DIM] >> 9 & 1]
    assert flagged == ([t_out - 1] if step.has_package else [])  # at most one package token, last


def test_softmax_hardware_constants_reproduce_softmax_int() -> None:
    """The RTL's exp/softmax (multiply-shift for ⌊u/q_ln2⌋, restoring divider from 2^(R−Q)) equals
    ``SoftmaxInt`` on every int8 logit pair, for fine and coarse logit scales."""
    for scale in (1 / 16, 0.0032, 0.13):
        ref = SoftmaxInt.from_scale(scale)
        hw = SoftmaxHw.of(ref)
        a, b = torch.meshgrid(torch.arange(-128, 128), torch.arange(-128, 128), indexing="ij")
        want = ref(torch.stack([a, b], dim=-1))[..., 0]
        u = (a - b).abs()
        z = (u * hw.z_mult) >> hw.z_shift
        assert torch.equal(z, u // hw.q_ln2)
        e = torch.bitwise_right_shift((z * hw.q_ln2 - u + hw.q_b) ** 2 + hw.q_c, z)
        total = hw.e0 + e
        rem = torch.full_like(total, 1 << (hw.recip_bits - hw.quotient_bits))
        quo = torch.zeros_like(total)
        for _ in range(hw.quotient_bits):
            rem = rem * 2
            take = rem >= total
            rem = torch.where(take, rem - total, rem)
            quo = quo * 2 + take.to(torch.int64)
        assert torch.equal(quo, (1 << hw.recip_bits) // total)
        drop = hw.recip_bits - hw.frac_bits
        keep = torch.where(a >= b, torch.full_like(e, hw.e0), e)
        assert torch.equal(torch.bitwise_right_shift(keep * quo + (1 << (drop - 1)), drop), want)


def test_int_selector_json_round_trip() -> None:
    sel = selector()
    back = int_selector_from_dict(int_selector_to_dict(sel))
    q = torch.randint(-128, 128, (7, DIM), generator=torch.Generator().manual_seed(4))
    assert int_selector_to_dict(back) == int_selector_to_dict(sel)
    assert torch.equal(back.select(q, True).tokens, sel.select(q, True).tokens)


def test_hardware_rejects_what_it_cannot_build() -> None:
    with pytest.raises(ValueError, match="max_tokens must be an integer of at least 2"):
        SelectorHardware.of(selector(), 1)
    torch.manual_seed(0)
    odd = quantize_selector(TokenSelector(18, 3), [torch.randn(5, 18)])
    with pytest.raises(ValueError, match="multiple of 4"):
        SelectorHardware.of(odd, 8)


def test_cycle_model_rules() -> None:
    hw = SelectorHardware.of(selector(), MAX_TOKENS, "t")
    model = SelectorModel(hw)
    first = model.push([0] * (5 * DIM), [True, False, True, False])
    # output: class + 2 kept + package, one beat per cycle within a token, in order
    assert len(first.outputs) == 4 * DIM
    o = first.phases["out"]
    assert first.outputs[:3 * DIM] == [o + 1 + k for k in range(DIM)] + [o + 1 + DIM + k for k in range(DIM)] + \
        [o + 1 + 3 * DIM + k for k in range(DIM)]
    assert first.outputs[3 * DIM:] == [o + 1 + 5 * DIM + k for k in range(DIM)]  # the package after the walk
    assert first.phases["out"] == first.phases["recip"] + RECIP_CYCLES
    assert first.phases["recip"] == first.phases["score"] + 4 * HEADS
    assert first.phases["head1"] == first.phases["means"] + HEADS * hw.half + DIM
    assert first.accepts[:DIM] == list(range(DIM))  # the class token streams in at once
    assert model.next_ready == o + 6 * DIM
    second = model.push([0] * (2 * DIM), [True])  # the next set waits for the first one's walk
    assert second.accepts[0] == o + 6 * DIM and len(second.outputs) == 2 * DIM
    assert selector_cycles(hw, 5, 2) == first.latency
    assert softmax_latency(hw.softmax) == 6 + hw.softmax.quotient_bits and GELU_LATENCY == 3
    with pytest.raises(ValueError, match="one keep bit per candidate"):
        model.push([0] * (3 * DIM), [True])


def test_case_carries_model_cycles_and_reference_values() -> None:
    sel = selector()
    hw = SelectorHardware.of(sel, MAX_TOKENS, "t")
    sets = random_sets(DIM, MAX_TOKENS, 12, seed=5, std=30.0)
    case = selector_case(hw, sel, sets, seed=5)
    assert len(case["expected"]) == len(case["expected_cycles"])
    assert all(b > a for a, b in zip(case["expected_cycles"], case["expected_cycles"][1:]))
    got = unpack_beats(case["expected"], DIM)
    for item, (tokens, package) in zip(sets, got):
        step = item.select(sel)
        assert np.array_equal(tokens, step.tokens.numpy()) and package == step.has_package
    assert case["stats"] == case_stats(sel, sets) and case["stats"]["sets"] == 12
    assert TokenSet(np.zeros((3, DIM), dtype=np.int64), True).select(sel).has_package

"""Property tests of every sparsity pattern: invariants, packing, determinism, reached sparsity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hwprune.prune.patterns import PATTERNS, GroupLayout, PatternError, as_matrix, get_pattern, pack_balanced
from hwprune.prune.patterns.base import BalancedPattern, kept_count, storage_report

PROPS = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

sparsities = st.sampled_from([0.0, 0.3, 0.5, 0.6, 0.75, 0.8, 0.9])


@st.composite
def weights(draw: st.DrawFn, conv: bool | None = None) -> torch.Tensor:
    """A random Dense [out, in] or Conv [F, C, kh, kw] weight, with some exact ties and zeros."""
    is_conv = draw(st.booleans()) if conv is None else conv
    shape = (
        (draw(st.integers(1, 20)), draw(st.integers(1, 9)), draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([1, 3])))
        if is_conv else (draw(st.integers(1, 20)), draw(st.integers(2, 70)))
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    w = torch.randn(shape, generator=gen)
    if draw(st.booleans()):  # quantized-looking weights: many exact ties and zeros
        w = torch.round(w * 2) / 2
    return w


def balanced_patterns() -> st.SearchStrategy:
    return st.one_of(
        st.builds(lambda m: get_pattern("nm", m=m), st.sampled_from([2, 4, 8, 16])),
        st.builds(lambda b: get_pattern("bank_balanced", banks=b), st.integers(1, 6)),
        st.builds(lambda g, p: get_pattern("balanced_stochastic", group_size=g, p=p),
                  st.integers(1, 16), st.sampled_from([0.0, 1.0, 2.0, "inf"])),
    )


def group_counts(mask: np.ndarray, layout: GroupLayout) -> np.ndarray:
    m = as_matrix(mask)
    m = np.pad(m, ((0, 0), (0, layout.padded_features - layout.in_features)))
    return m.reshape(m.shape[0], layout.groups, layout.group_size).sum(axis=2)


@PROPS
@given(balanced_patterns(), weights(), sparsities, st.integers(0, 1000))
def test_balanced_invariants_packing_and_determinism(pattern: BalancedPattern, w: torch.Tensor, s: float, seed: int):
    try:
        layout = pattern.layout(tuple(w.shape), s)
    except PatternError:
        assume(False)  # shape/sparsity the pattern rejects (covered by the error tests below)
    mask = pattern.mask(w, s, seed=seed).numpy()
    assert mask.shape == tuple(w.shape) and mask.dtype == bool
    pattern.check(mask)
    # the invariant, computed independently of the pattern: every group of every row keeps exactly k,
    # a short last group of r < k real inputs keeps all r (the short-group rule)
    last = layout.in_features - (layout.groups - 1) * layout.group_size
    expected = [layout.kept_per_group] * (layout.groups - 1) + [min(layout.kept_per_group, last)]
    assert (group_counts(mask, layout) == np.array(expected)).all()
    # within one weight per group of the target (the balanced grid's granularity); a layer narrower
    # than one group keeps at most its K inputs
    k = layout.kept_per_group
    assert abs(k - (1 - s) * layout.group_size) <= 0.5 or k == 1 or k == layout.in_features < layout.group_size
    # packing round-trips losslessly
    matrix, m2 = as_matrix(w.numpy()), as_matrix(mask)
    packed = pack_balanced(matrix, m2, layout)
    dense, back = packed.unpack()
    np.testing.assert_array_equal(back, m2)
    np.testing.assert_array_equal(dense, np.where(m2, matrix, 0))
    # same seed, same mask
    np.testing.assert_array_equal(pattern.mask(w, s, seed=seed).numpy(), mask)
    # the IR annotation carries the layout the lowering needs
    density = float(mask.mean())
    ir = pattern.to_ir(density, tuple(w.shape))
    assert GroupLayout(layout.in_features, int(ir.param("group_size")), int(ir.param("kept_per_group"))) == layout


@PROPS
@given(balanced_patterns(), weights(), sparsities)
def test_balanced_check_rejects_a_broken_group(pattern: BalancedPattern, w: torch.Tensor, s: float):
    try:
        layout = pattern.layout(tuple(w.shape), s)
    except PatternError:
        assume(False)
    assume(w.shape[0] * layout.groups >= 2 or layout.kept_per_group == 1)
    mask = as_matrix(pattern.mask(w, s).numpy()).copy()
    col = int(np.flatnonzero(mask[0])[0])
    mask[0, col] = False  # one group now keeps k - 1
    with pytest.raises(PatternError, match="group"):
        pattern.check(mask.reshape(w.shape))


@PROPS
@given(weights(), sparsities)
def test_unstructured_keeps_exactly_the_top_k(w: torch.Tensor, s: float):
    pattern = get_pattern("unstructured")
    mask = pattern.mask(w, s).numpy()
    assert int(mask.sum()) == kept_count(w.numel(), s, minimum=1)
    a = w.abs().numpy()
    if mask.any() and (~mask).any():
        assert a[mask].min() >= a[~mask].max()
    assert pattern.layout(tuple(w.shape), s) is None


@PROPS
@given(weights(), sparsities)
def test_channel_removes_whole_filters(w: torch.Tensor, s: float):
    pattern = get_pattern("channel")
    mask = pattern.mask(w, s).numpy()
    pattern.check(mask)
    rows = as_matrix(mask).all(axis=1)
    assert (as_matrix(mask).any(axis=1) == rows).all()
    assert int(rows.sum()) == kept_count(w.shape[0], s, minimum=1)
    norms = as_matrix(w.numpy()).astype(np.float64) ** 2
    norms = norms.sum(axis=1)
    if (~rows).any():
        assert norms[rows].min() >= norms[~rows].max()


def _brute_force_units(w: np.ndarray, f: int, c: int) -> dict[tuple[int, int, int], float]:
    """YOLObile's score, loop by loop: Σ over the block's channels of the L2 norm over its filters."""
    F, C = w.shape[:2]
    w = w.reshape(F, C, -1)
    scores = {}
    for bf in range(math.ceil(F / f)):
        for bc in range(math.ceil(C / c)):
            for pos in range(w.shape[2]):
                total = 0.0
                for ch in range(bc * c, min(C, (bc + 1) * c)):
                    total += math.sqrt(sum(float(w[fi, ch, pos]) ** 2 for fi in range(bf * f, min(F, (bf + 1) * f))))
                scores[(bf, bc, pos)] = total
    return scores


@PROPS
@given(weights(conv=True), sparsities, st.sampled_from([(8, 4), (2, 2), (4, 1), (3, 2)]))
def test_block_punched_per_layer(w: torch.Tensor, s: float, block: tuple[int, int]):
    pattern = get_pattern("block_punched", filters=block[0], channels=block[1])
    mask = pattern.mask(w, s).numpy()
    pattern.check(mask)
    scores = _brute_force_units(w.numpy(), *block)
    kept_units = [u for u in scores if mask.reshape(w.shape[0], w.shape[1], -1)[u[0] * block[0], u[1] * block[1], u[2]]]
    assert len(kept_units) == kept_count(len(scores), s, minimum=1)
    dropped = set(scores) - set(kept_units)
    if kept_units and dropped:
        assert min(scores[u] for u in kept_units) >= max(scores[u] for u in dropped) - 1e-9
    assert pattern.layout(tuple(w.shape), s) is None


@PROPS
@given(weights(conv=True), sparsities, st.sampled_from([(8, 4), (2, 2), (3, 2)]))
def test_block_punched_balanced(w: torch.Tensor, s: float, block: tuple[int, int]):
    pattern = get_pattern("block_punched", filters=block[0], channels=block[1], balanced=True)
    try:
        layout = pattern.layout(tuple(w.shape), s)
    except PatternError:
        assume(False)
    mask = pattern.mask(w, s).numpy()
    pattern.check(mask)
    assert (group_counts(mask, layout) == layout.real_kept()[None, :]).all()
    packed = pack_balanced(as_matrix(w.numpy()), as_matrix(mask), layout)
    np.testing.assert_array_equal(packed.unpack()[1], as_matrix(mask))
    # the coarser layout of the issue (channels·kh·kw groups) is balanced too when channels divides C
    p = w.shape[2] * w.shape[3]
    if w.shape[1] % block[1] == 0 and p > 1:
        coarse = GroupLayout(w.shape[1] * p, block[1] * p, block[1] * layout.kept_per_group)
        pack_balanced(as_matrix(w.numpy()), as_matrix(mask), coarse)


def test_block_punched_check_rejects_unshared_positions():
    pattern = get_pattern("block_punched")
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    mask = pattern.mask(w, 0.5).numpy().copy()
    mask[3, 2, 1, 1] = not mask[3, 2, 1, 1]
    with pytest.raises(PatternError, match="some of its filters/channels but not all"):
        pattern.check(mask)
    # kh·kw = 1 (Dense): the punched unit is a channel of the block, shared by the block's filters
    dense = get_pattern("block_punched", balanced=True).mask(torch.randn(16, 8), 0.5).numpy()
    assert (dense.reshape(2, 8, 8) == dense.reshape(2, 8, 8)[:, :1]).all() and (dense.sum(axis=1) == 4).all()


def test_stochastic_sampling_follows_the_magnitude_power():
    """k=1 of a pair (a, b) with p=1 keeps a with probability a / (a + b) (the Gumbel-top-k identity)."""
    w = torch.tensor([[1.0, 3.0]]).repeat(4000, 1)
    mask = get_pattern("balanced_stochastic", group_size=2, p=1).mask(w, 0.5, seed=7).numpy()
    assert (mask.sum(axis=1) == 1).all()
    assert abs(mask[:, 0].mean() - 0.25) < 0.03
    sharp = get_pattern("balanced_stochastic", group_size=2, p=4).mask(w, 0.5, seed=7).numpy()
    assert abs(sharp[:, 0].mean() - 1 / 82) < 0.01  # 1^4 / (1^4 + 3^4)
    assert not get_pattern("balanced_stochastic", group_size=2, p="inf").mask(w, 0.5).numpy()[:, 0].any()


def test_stochastic_seeds_differ_and_inf_is_top_k():
    w = torch.randn(32, 64, generator=torch.Generator().manual_seed(3))
    pattern = get_pattern("balanced_stochastic", group_size=8, p=2)
    assert not np.array_equal(pattern.mask(w, 0.75, seed=0).numpy(), pattern.mask(w, 0.75, seed=1).numpy())
    top = get_pattern("balanced_stochastic", group_size=8, p="inf").mask(w, 0.75).numpy()
    np.testing.assert_array_equal(top, get_pattern("nm", m=8).mask(w, 0.75).numpy())


def test_metadata_and_storage_accounting():
    shape = (32, 64)
    assert get_pattern("nm", m=4).metadata_bits_per_kept_weight(shape, 0.5) == 2
    assert get_pattern("bank_balanced", banks=4).metadata_bits_per_kept_weight(shape, 0.75) == 4
    assert get_pattern("balanced_stochastic", group_size=8).metadata_bits_per_kept_weight(shape, 0.75) == 3
    assert get_pattern("unstructured").metadata_bits_per_kept_weight(shape, 0.75) == 6
    assert get_pattern("channel").metadata_bits_per_kept_weight(shape, 0.75) == 0
    # block-punched: one 9-bit position mask per 8x4 block, shared by its 8·4·P kept weights
    assert get_pattern("block_punched", balanced=True).metadata_bits_per_kept_weight((16, 8, 3, 3), 0.75) == \
        pytest.approx(9 / (8 * 4 * 2))
    report = storage_report(get_pattern("nm", m=4), shape, 32 * 16, 0.75)
    assert report.total_bits == 32 * 16 * (8 + 2)
    assert report.ratio_vs_dense == pytest.approx(10 / 32)


def test_pattern_errors_are_exact():
    with pytest.raises(PatternError, match="unknown pattern 'nope'; known patterns: balanced_stochastic"):
        get_pattern("nope")
    with pytest.raises(PatternError, match="m must be an integer >= 2, not 1"):
        get_pattern("nm", m=1)
    with pytest.raises(PatternError, match="cannot reach sparsity 0.9"):
        get_pattern("nm", m=4).mask(torch.randn(4, 8), 0.9)
    with pytest.raises(PatternError, match=r"sparsity must be a number in \[0, 1\)"):
        get_pattern("nm").mask(torch.randn(4, 8), 1.0)
    # 9 inputs cannot make 4 non-empty banks of 3: the 3 non-empty ones are used
    assert get_pattern("bank_balanced", banks=4).layout((4, 9), 0.5) == GroupLayout(9, 3, 2)
    with pytest.raises(PatternError, match="p must be a non-negative number"):
        get_pattern("balanced_stochastic", p=-1)
    with pytest.raises(PatternError, match="sparsity must be 0"):
        get_pattern("dense").mask(torch.randn(4, 8), 0.5)
    assert set(PATTERNS) >= {"dense", "unstructured", "nm", "bank_balanced", "balanced_stochastic",
                             "block_punched", "channel"}


def test_shrink_channels_matches_the_masked_network(examples_dir):
    from hwprune.frontend import import_onnx
    from hwprune.ir.execute import run_float
    from hwprune.prune.patterns.channel import shrink_channels

    graph = import_onnx(str(examples_dir / "cnn_digits.onnx"))
    conv1 = next(n for n in graph.nodes if n.name == "/conv1/Conv")
    pattern = get_pattern("channel")
    w = graph.tensor(conv1.inputs[1])
    rows = pattern.mask(torch.tensor(w.data), 0.5).numpy()
    w.data = np.where(rows, w.data, 0).astype(np.float32)
    bias = graph.tensor(conv1.inputs[2])
    bias.data = np.where(rows[:, 0, 0, 0], bias.data, 0).astype(np.float32)
    shrunk, removed = shrink_channels(graph)
    assert removed == {"/conv1/Conv": 8}
    assert shrunk.tensor(conv1.inputs[1]).shape == [8, 8, 3, 3]
    assert shrunk.tensor("fc.weight").shape == [10, 32]
    x = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32)
    out_masked = run_float(graph, {"input": x})["logits"]
    out_shrunk = run_float(shrunk, {"input": x})["logits"]
    np.testing.assert_allclose(out_shrunk, out_masked, rtol=1e-5, atol=1e-5)

"""The selectors and token sets every hardware-selector test uses (RTL and HLS alike, same seeds).

Three selectors, each one Verilator build:
* ``small``: dim 16, 2 heads, random weights calibrated on random tokens — 200 random sets + extremes;
* ``edge``: ``small`` with a sharpened score Linear (logits at ±127, so keep probabilities of exactly 0
  and 1) and a head branch pushed to zero weights on most sets: all-kept, all-pruned, ties at the
  threshold, zero package denominators and the W = 0 fallback all occur (the tests count them); built
  with one MAC per engine, so its input stream is back-pressured by the local engine;
* ``vit``: the committed digits ViT's second selector (dim 64, 4 heads, up to 18 tokens) on the token
  sets it really sees for test images (with package tokens from the first selector).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from hwprune.tokens.hardware import SelectorHardware
from hwprune.tokens.reference import IntLinear, IntSelector, int_mean, quantize_selector
from hwprune.tokens.selector import TokenSelector
from hwprune.tokens.token_sets import TokenSet, edge_sets, random_sets

ROOT = Path(__file__).resolve().parents[2]
SMALL_TOKENS = 8
RANDOM_SETS = 200


@lru_cache(maxsize=None)
def small_selector() -> IntSelector:
    torch.manual_seed(0)
    selector = TokenSelector(16, 2)
    gen = torch.Generator().manual_seed(1)
    return quantize_selector(selector, [torch.randn(7, 16, generator=gen) for _ in range(8)])


def _sharpen(layer: IntLinear, bits: int, bias: int = 0) -> IntLinear:
    """The same weights, requantised ``2^bits`` times larger (shift lowered), bias moved by ``bias``."""
    return dataclasses.replace(layer, shift=np.maximum(layer.shift - bits, 1), bias=layer.bias + bias)


def _score_inputs(sel: IntSelector, sets: list[TokenSet]) -> torch.Tensor:
    """The inputs of the last score Linear over ``sets`` (every candidate and head)."""
    rows = []
    for item in sets:
        q = torch.from_numpy(item.tokens[1:])
        qh = q.reshape(q.shape[0], sel.heads, sel.head_dim).transpose(0, 1)
        local = sel.local_gelu(sel.local(qh))
        glob = int_mean(local, dim=1)[:, None, :].expand_as(local)
        hidden = sel.gelu2(sel.score2(sel.gelu1(sel.score1(torch.cat([local, glob], dim=-1)))))
        rows.append(hidden.reshape(-1, sel.head_dim // 4))
    return torch.cat(rows)


@lru_cache(maxsize=None)
def edge_selector() -> IntSelector:
    """Keep logit = −drop logit, centred on the data and steep (|keep − drop| mostly ≥ 100 at scale 1/16,
    so probabilities of exactly 0 and 1); the head logit pushed low so most sets have W = 0."""
    from hwprune.tokens.fixed_point import SigmoidInt, SoftmaxInt

    base = small_selector()
    weight = base.score3.weight.copy()
    weight[1] = -weight[0]
    acc = _score_inputs(base, random_sets(16, SMALL_TOKENS, 20, seed=2, std=30.0)) @ torch.from_numpy(weight[0])
    centre = int(acc.median())
    score3 = dataclasses.replace(base.score3, weight=weight, bias=np.array([-centre, centre]),
                                 mult=np.array([1 << 14] * 2), shift=np.array([18, 18]))
    head_bias = -int(np.abs(base.head2.weight).sum() * 20)
    return dataclasses.replace(base, score3=score3, softmax=SoftmaxInt.from_scale(1 / 16),
                               head2=_sharpen(base.head2, 4, head_bias), sigmoid=SigmoidInt.from_scale(1 / 16))


@lru_cache(maxsize=None)
def vit_selector() -> tuple[IntSelector, tuple[TokenSet, ...]]:
    """The ViT's block-4 selector and the int8 sets it sees on the first test images (integer path)."""
    from hwprune.datasets import load_digits_split
    from hwprune.tokens.artefacts import load_vit
    from hwprune.tokens.int_eval import IntSelectFn, calibrate_int_selectors

    torch.set_num_threads(1)
    data = load_digits_split(0)
    model = load_vit(ROOT / "examples" / "vit_digits.npz")
    selectors = calibrate_int_selectors(model, torch.from_numpy(data.x_train[:64]))
    block = model.cfg.selector_blocks[-1]
    fn = IntSelectFn(selectors)
    seen: list[TokenSet] = []

    def spy(index: int, tokens: torch.Tensor, has_package: bool):  # noqa: ANN202
        if index == block:
            q = selectors[index].quantize(tokens).numpy()
            seen.append(TokenSet(q, has_package))
        return fn(index, tokens, has_package)

    with torch.no_grad():
        for image in torch.from_numpy(data.x_test[:10]):
            model.forward_compact(image, spy)
    return selectors[block], tuple(seen)


def sets_for(name: str) -> tuple[SelectorHardware, IntSelector, list[TokenSet]]:
    """(hardware, golden model, token sets) of one named test selector."""
    if name == "small":
        sel = small_selector()
        sets = edge_sets(16, SMALL_TOKENS) + random_sets(16, SMALL_TOKENS, RANDOM_SETS, seed=1, std=30.0)
        return SelectorHardware.of(sel, SMALL_TOKENS, "tsel_small"), sel, sets
    if name == "edge":
        sel = edge_selector()
        sets = random_sets(16, SMALL_TOKENS, 60, seed=2, std=30.0)
        # one MAC per engine: the local engine is slower than the stream, so it back-pressures the input
        return SelectorHardware.of(sel, SMALL_TOKENS, "tsel_edge", lanes=1, macs=1), sel, sets
    if name == "vit":
        sel, seen = vit_selector()
        extremes = [s for s in edge_sets(sel.heads * sel.head_dim, 18) if s.tokens.shape[0] == 18][:2]
        return SelectorHardware.of(sel, 18, "tsel_vit"), sel, [*seen, *extremes]
    raise KeyError(name)


SELECTORS = ("small", "edge", "vit")

"""Golden vectors of the hardware selector: token sets, their beats, expected beats and cycles.

Values always come from the integer golden model (``IntSelector.select``) and cycles from the cycle
model (``hwprune.tokens.cycles``); this module turns token sets (``hwprune.tokens.token_sets``) into a
replayable case (``hwprune.sim.golden`` schema) with arrivals and the expected cycle of every output beat.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from hwprune.tokens.cycles import SelectorModel
from hwprune.tokens.hardware import SelectorHardware
from hwprune.sim.golden import make_case
from hwprune.tokens.reference import IntSelector, int_mean
from hwprune.tokens.token_sets import BEAT_BITS, TOKEN_PORTS, TokenSet, pack_set

__all__ = ["selector_case", "case_stats"]


def _arrivals(model: SelectorModel, beats: int, style: int, rng: np.random.Generator) -> list[int]:
    """Back-to-back (styles 0, 1), random gaps between beats (2) or a late start (3)."""
    if style < 2:
        return [0] * beats
    cycle = model.next_ready + (int(rng.integers(10, 40)) if style == 3 else int(rng.integers(0, 4)))
    arrival = []
    for _ in range(beats):
        arrival.append(cycle)
        cycle += 1 + (int(rng.integers(1, 4)) if style == 2 and rng.random() < 0.3 else 0)
    return arrival


def selector_case(hw: SelectorHardware, sel: IntSelector, sets: Sequence[TokenSet], seed: int,
                  name: str | None = None, ready_probability: float = 0.6) -> dict[str, Any]:
    """A replayable case: input beats with arrivals, expected beats (golden model) and cycles (model)."""
    rng = np.random.default_rng(seed)
    model = SelectorModel(hw)
    inputs: list[int] = []
    arrivals: list[int] = []
    expected: list[int] = []
    cycles: list[int] = []
    for index, item in enumerate(sets):
        step = item.select(sel)
        beats = pack_set(item.tokens, item.has_package)
        arrival = _arrivals(model, len(beats), index % 4, rng)
        schedule = model.push(arrival, [bool(k) for k in step.keep])
        out = pack_set(step.tokens.numpy(), step.has_package)
        if len(out) != len(schedule.outputs):
            raise AssertionError("cycle model and golden model disagree on the number of output beats")
        inputs += beats
        arrivals += arrival
        expected += out
        cycles += schedule.outputs
    return make_case(name or hw.ident, hw.ident, TOKEN_PORTS, BEAT_BITS, False, BEAT_BITS, False, inputs, arrivals,
                     expected, cycles, ready_probability, seed, dim=hw.dim, sets=len(sets),
                     stats=case_stats(sel, sets))


def _raw_head_weights(sel: IntSelector, cand: np.ndarray) -> np.ndarray:
    """w_h before the all-zero fallback."""
    q = torch.from_numpy(np.asarray(cand, dtype=np.int64))
    qh = q.reshape(q.shape[0], sel.heads, sel.head_dim).transpose(0, 1)
    head_in = int_mean(qh, dim=1)
    return sel.sigmoid(sel.head2(sel.head_gelu(sel.head1(head_in)))[:, 0]).numpy()


def case_stats(sel: IntSelector, sets: Sequence[TokenSet]) -> dict[str, int]:
    """How many sets exercise each edge case (the tests require every one to occur)."""
    stats = {"sets": len(sets), "all_kept": 0, "all_pruned": 0, "ties": 0, "zero_denominator": 0,
             "zero_head_weights": 0, "with_package_in": 0, "tokens_in": 0, "tokens_out": 0}
    for item in sets:
        step = item.select(sel)
        fused = ~step.keep
        threshold = (1 << (sel.softmax.frac_bits - 1)) * step.weight_sum
        stats["all_kept"] += int(bool(step.keep.all()))
        stats["all_pruned"] += int(not bool(step.keep.any()))
        stats["ties"] += int(bool((step.score == threshold).any()))
        stats["zero_denominator"] += int(bool(fused.any()) and int(step.score[fused].sum()) == 0)
        stats["zero_head_weights"] += int(_raw_head_weights(sel, item.tokens[1:]).sum() == 0)
        stats["with_package_in"] += int(item.has_package)
        stats["tokens_in"] += int(item.tokens.shape[0])
        stats["tokens_out"] += int(step.tokens.shape[0])
    return stats

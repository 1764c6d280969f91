"""Golden vectors of the hardware selector: token sets, their beats, expected beats and cycles.

Values always come from the integer golden model (``IntSelector.select``) and cycles from the cycle
model (``hwprune.tokens.cycles``); this module only generates inputs and lays them out as stream beats
(``hwprune.backends.rtl.token_selector.BEAT``: data [7:0], last [8], package [9]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from hwprune.tokens.cycles import SelectorModel
from hwprune.tokens.hardware import SelectorHardware
from hwprune.tokens.reference import IntCompaction, IntSelector, int_mean

__all__ = ["TokenSet", "pack_set", "unpack_beats", "random_sets", "edge_sets", "selector_case", "TOKEN_PORTS",
           "BEAT_BITS", "case_stats"]

BEAT_BITS = 10
TOKEN_PORTS = {
    "in": {"data": "i__payload", "valid": "i__valid", "ready": "i__ready", "last": None},
    "out": {"data": "o__payload", "valid": "o__valid", "ready": "o__ready", "last": None},
}


@dataclass(frozen=True)
class TokenSet:
    """One selector input: int8 tokens [T, D] (class first) and whether the last one is a package token."""

    tokens: np.ndarray
    has_package: bool

    def select(self, sel: IntSelector) -> IntCompaction:
        return sel.select(torch.from_numpy(np.asarray(self.tokens, dtype=np.int64)), self.has_package)


def pack_set(tokens: np.ndarray, package_last: bool) -> list[int]:
    """Beats of one set: D per token, ``last`` on the final beat, ``package`` on the last token if flagged."""
    t, d = tokens.shape
    beats = []
    for i in range(t):
        for c in range(d):
            beat = int(tokens[i, c]) & 0xFF
            beat |= int(i == t - 1 and c == d - 1) << 8
            beat |= int(package_last and i == t - 1) << 9
            beats.append(beat)
    return beats


def unpack_beats(beats: Sequence[int], dim: int) -> list[tuple[np.ndarray, bool]]:
    """Split a beat stream into sets: (int8 tokens [T, D], last token flagged as package)."""
    sets, current, flags = [], [], []
    for beat in beats:
        value = beat & 0xFF
        current.append(value - 256 if value > 127 else value)
        flags.append(bool(beat >> 9 & 1))
        if beat >> 8 & 1:
            usable = len(current) - len(current) % dim
            tokens = np.array(current[:usable], dtype=np.int64).reshape(-1, dim)
            sets.append((tokens, bool(flags[-1])))
            current, flags = [], []
    return sets


def random_sets(dim: int, max_tokens: int, count: int, seed: int, std: float = 40.0) -> list[TokenSet]:
    """``count`` sets with random sizes in [2, max_tokens], package flags and int8 values (normal, clipped)."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(count):
        t = int(rng.integers(2, max_tokens + 1))
        scale = std * float(rng.choice([0.25, 1.0, 1.0, 3.0]))
        tokens = np.clip(np.round(rng.normal(0.0, scale, size=(t, dim))), -128, 127).astype(np.int64)
        sets.append(TokenSet(tokens, bool(rng.random() < 0.5)))
    return sets


def edge_sets(dim: int, max_tokens: int) -> list[TokenSet]:
    """Extreme values and sizes: all zero, all max, all min, alternating, one candidate, the most tokens."""
    sets = []
    for t, pkg in ((max_tokens, False), (2, True), (2, False), (max_tokens, True)):
        sets.append(TokenSet(np.zeros((t, dim), dtype=np.int64), pkg))
        sets.append(TokenSet(np.full((t, dim), 127, dtype=np.int64), pkg))
        sets.append(TokenSet(np.full((t, dim), -128, dtype=np.int64), pkg))
        alternating = np.where(np.add.outer(np.arange(t), np.arange(dim)) % 2 == 0, 127, -128)
        sets.append(TokenSet(alternating.astype(np.int64), pkg))
    return sets


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
    from hwprune.sim.golden import make_case

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

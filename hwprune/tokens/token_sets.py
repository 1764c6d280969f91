"""Token sets, the selector's inputs, and their layout as stream beats.

A beat (``hwprune.tokens.rtl_parts.BEAT``) is data [7:0], last [8], package [9]; a set is D beats per token,
token-major, class token first. Used by the golden vectors (``hwprune.tokens.vectors``), the HLS
testbench data (``hwprune.tokens.hls_writer``) and the tests; it depends on the integer golden model only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from hwprune.tokens.reference import IntCompaction, IntSelector

__all__ = ["TokenSet", "pack_set", "unpack_beats", "random_sets", "edge_sets", "TOKEN_PORTS", "BEAT_BITS"]

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

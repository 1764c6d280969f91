"""Cycle model of the hardware token selector: the cycle of every input acceptance and output beat.

The timing half of the verification contract (docs/architecture.md section 5) for ``TokenSelectorRtl``, written
from the micro-architecture rules below (conventions of ``hwprune.lower.cycles``: cycle c starts at
rising edge c after reset; a beat at cycle c has valid and ready high during c). It reuses the MAC
engine's own model (``EngineModel``, one per Linear, stateful across token sets) for the engine phases.
The output stream is never back-pressured in the timed model.

Rules, for a set of T tokens (n = T − 1 candidates, H heads, D = H·d channels) entering phase IN at s:

1. IN: beat j (token j // D) is offered from ``arrivals[j]``; class-token beats are accepted at
   max(arrival, previous accept + 1, s); candidate beats are the local engine's input, d per vector,
   accepted as its ``EngineModel`` says (first beat of a vector no earlier than the previous accept + 1).
2. DRAIN: every local result is written ``GELU_LATENCY`` cycles after its engine beat; MEANS starts
   the cycle after the last one.
3. MEANS lasts H·d/2 + D cycles.
4. HEAD1, HEAD2, S1, S2, S3 (in this order; vectors H × d, H × d/4, nH × d, nH × d/2, nH × d/4 beats):
   every beat of the phase is offered from its first cycle, the engine accepts per its model; the
   phase ends in the cycle its last result is written (last engine beat + the unit's latency: GELU
   ``GELU_LATENCY``, sigmoid ``SIGMOID_LATENCY``, softmax ``softmax_latency`` after a pair's second
   logit); the next phase starts one cycle later.
5. SCORE lasts n·H cycles, RECIP ``RECIP_CYCLES``.
6. OUT walks T·D steps (one per cycle), PKG D more when anything was fused; step k (counted from the
   first OUT cycle o) that emits a beat puts it on the stream at cycle o + k + 1: the class token and
   the kept candidates, then the package. The next set's IN starts the cycle after the last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hwprune.lower.cycles import EngineModel, EngineTiming
from hwprune.tokens.hardware import SelectorHardware, SoftmaxHw
from hwprune.tokens.reference import FUSE_RECIP_BITS

__all__ = ["SelectorSchedule", "SelectorModel", "selector_cycles", "GELU_LATENCY", "SIGMOID_LATENCY",
           "SOFTMAX_FIXED_STAGES", "RECIP_CYCLES", "softmax_latency"]

GELU_LATENCY = 3
"""GELU8 stages: t = q_b − min(|q|, q_b); the product; the requantiser."""

SIGMOID_LATENCY = 2
"""Sigmoid stages: |x| in fixed point; segment, rounding and mirror."""

SOFTMAX_FIXED_STAGES = 6
"""Softmax stages besides the divider's: |keep − drop|, z, the reduced argument, exp, total, rounding."""

RECIP_CYCLES = FUSE_RECIP_BITS + 1
"""Package reciprocal ⌊2^32 / den⌋: one restoring-division step per bit of the dividend."""


def softmax_latency(hw: SoftmaxHw) -> int:
    """Cycles from a pair's second logit to its keep probability: fixed stages + one per quotient bit."""
    return SOFTMAX_FIXED_STAGES + hw.quotient_bits


@dataclass(frozen=True)
class SelectorSchedule:
    """Predicted cycles of one token set: input accepts, output beats, and the phase start cycles."""

    accepts: list[int]
    outputs: list[int]
    phases: dict[str, int]

    @property
    def latency(self) -> int:
        """Cycles from the first accepted input beat to the last output beat."""
        return self.outputs[-1] - self.accepts[0]


class SelectorModel:
    """Rules 1–6 applied one token set at a time; engine models persist across sets like the RTL."""

    def __init__(self, hw: SelectorHardware) -> None:
        self.hw = hw
        self.engines = {name: EngineModel(EngineTiming.of(spec)) for name, spec in hw.kernels.items()}
        self.start = 0  # first cycle of the next set's IN phase

    @property
    def next_ready(self) -> int:
        """First cycle at which the next set's first beat can be accepted."""
        return self.start

    def _phase(self, name: str, start: int, vectors: int, latency: int) -> int:
        """Feed ``vectors`` vectors from ``start``; returns the cycle after the last result is written."""
        engine = self.engines[name]
        last = start
        for _ in range(vectors):
            _, beats, _ = engine.push([start] * engine.timing.in_beats)
            last = beats[-1]
        return last + latency + 1

    def push(self, arrivals: Sequence[int], keep: Sequence[bool]) -> SelectorSchedule:
        """Schedule one set: ``arrivals`` of its T·D beats, ``keep`` the decision of each of its n candidates."""
        hw = self.hw
        d_, h = hw.dim, hw.heads
        tokens = len(arrivals) // d_
        n = tokens - 1
        if len(arrivals) != tokens * d_ or not 2 <= tokens <= hw.max_tokens or len(keep) != n:
            raise ValueError(f"a set has 2..{hw.max_tokens} tokens of {d_} beats and one keep bit per "
                             f"candidate, not {len(arrivals)} beats and {len(keep)} bits")
        phases = {"in": self.start}
        accepts: list[int] = []
        previous = self.start - 1
        for j in range(d_):  # rule 1: the class token
            previous = max(int(arrivals[j]), previous + 1)
            accepts.append(previous)
        local = self.engines["local"]
        last_local = 0
        for v in range(n * h):
            offered = [int(a) for a in arrivals[d_ + v * hw.head_dim: d_ + (v + 1) * hw.head_dim]]
            offered[0] = max(offered[0], previous + 1)
            taken, beats, _ = local.push(offered)
            accepts.extend(taken)
            previous = taken[-1]
            last_local = beats[-1]
        phases["means"] = last_local + GELU_LATENCY + 1  # rule 2
        phases["head1"] = phases["means"] + h * hw.half + d_  # rule 3
        phases["head2"] = self._phase("head1", phases["head1"], h, GELU_LATENCY)  # rule 4
        phases["s1"] = self._phase("head2", phases["head2"], h, SIGMOID_LATENCY)
        phases["s2"] = self._phase("score1", phases["s1"], n * h, GELU_LATENCY)
        phases["s3"] = self._phase("score2", phases["s2"], n * h, GELU_LATENCY)
        phases["score"] = self._phase("score3", phases["s3"], n * h, softmax_latency(hw.softmax))
        phases["recip"] = phases["score"] + n * h  # rule 5
        phases["out"] = phases["recip"] + RECIP_CYCLES
        o = phases["out"]  # rule 6
        emitting = [True, *keep]
        outputs = [o + t * d_ + c + 1 for t, emit in enumerate(emitting) if emit for c in range(d_)]
        steps = tokens * d_
        if not all(keep):
            outputs += [o + steps + c + 1 for c in range(d_)]
            steps += d_
        self.start = o + steps
        return SelectorSchedule(accepts, outputs, phases)


def selector_cycles(hw: SelectorHardware, tokens: int, kept: int) -> int:
    """Cycles of one set from its first input beat to its last output beat (inputs offered from cycle 0)."""
    model = SelectorModel(hw)
    keep = [True] * kept + [False] * (tokens - 1 - kept)
    return model.push([0] * (tokens * hw.dim), keep).latency

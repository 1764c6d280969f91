"""The cycle model: the exact clock cycle of every output beat of a kernel, given its input arrivals.

This is the timing half of the verification contract (docs/architecture.md section 5): the RTL testbench
records the cycle of every output beat and compares it, beat for beat, with what this module
predicts. The model is written from the documented micro-architecture rules below, not from the
RTL source, so a change of either one that is not mirrored in the other fails the tests.

Conventions
-----------
* Cycle ``c`` is the clock period that starts at rising edge ``c`` (edge 0 is the first rising edge
  after reset is released). A *beat at cycle c* means ``valid`` and ``ready`` are both high during
  cycle ``c``; the transfer commits at edge ``c + 1``.
* Streams carry one activation (one output) per beat, in the order of the flattened tensor
  (``x[k]`` for k = 0..K-1; ``y[r]`` for r = 0..out_features-1; C·H·W order for feature maps), or, on
  a wide stream, ``in_simd`` (``out_pe``) consecutive elements per beat; every rule below counts beats.
* ``arrivals[v][i]`` is the earliest cycle at which the source offers beat ``i`` of vector ``v``;
  the source holds it until it is taken and never offers beat ``i+1`` before the cycle after beat
  ``i`` was taken. The output stream is never back-pressured in the timed model.

Dot-product engine rules (``hwprune.backends.rtl.engine``)
----------------------------------------------------------
1. Two input banks; vector ``v`` is written into bank ``v % 2``. The first beat of a vector is
   accepted no earlier than the cycle after the previous vector's last beat, and no earlier than
   the cycle after the last compute step that read the bank's previous vector. A vector is
   ``ceil(K / in_simd)`` beats.
2. The compute counter issues one step per cycle; a vector has ``passes × cycles_per_pass`` steps.
   Its first step issues no earlier than the cycle after its last input beat, and no earlier than
   the cycle after the previous vector's last step.
3. Within a pass, steps issue on consecutive cycles, except the *last* step of a pass, which claims
   one of the two result banks (the engine's passes, counted over all vectors, alternate between
   them) and waits until that bank is free: no earlier than the cycle at which the last output beat
   of the bank's previous pass (two passes back) leaves. The first two passes never wait.
4. The outputs of a pass whose last step issued at cycle ``X`` leave at cycles ``F + j`` for
   ``j = 0..n-1`` (``n = lanes / out_pe`` beats, or ``ceil(remainder / out_pe)`` in the last pass),
   where ``F = max(X + PIPELINE_DEPTH, L' + 1)`` and ``L'`` is the cycle of the previous pass's last
   output beat: the serialiser drains the banks in pass order and moves on to the other bank in the
   cycle after a bank's last beat.

So with back-to-back inputs, ``cycles_per_pass ≥ max(n, ceil((n + 3) / 2))`` (``n = lanes / out_pe``:
no bank ever waits and no pass's outputs wait for the previous pass's) and compute at least as long as
the input (``passes × cycles_per_pass ≥ K``), one vector leaves every ``passes × cycles_per_pass``
cycles: no cycle is spent on a pruned weight, and the count is the one of docs/architecture.md
section 4. When the output stream is the bottleneck instead (short passes, ``n ≥ 3``), the lanes
finish pass ``p + 1`` into one bank while the other drains pass ``p``, and the output beats leave back
to back (``steady_state_closed_form``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from hwprune.lower.kernel_spec import KernelSpec

__all__ = [
    "BufferedModel",
    "FrameWriter",
    "PIPELINE_DEPTH",
    "RESULT_BANKS",
    "EngineTiming",
    "EngineModel",
    "KernelSchedule",
    "waits_for_nothing",
    "in_order",
    "in_order_array",
]

PIPELINE_DEPTH = 4
"""Cycles from the issue of a pass's last step to that pass's first output beat (ROM/bank read,
select + multiply, accumulate into the result register, requantise into the output register)."""

RESULT_BANKS = 2
"""Result banks between the lanes and the serialiser (ping-pong): a pass's last step may issue while the
previous pass still drains, so short passes cost their output beats, not beats + pipeline turnaround."""


_SHORT = 24
"""Below this many beats a plain loop is faster than numpy's call overhead (same results either way)."""


def in_order_array(offers: np.ndarray, first: int) -> np.ndarray:
    """``in_order`` on an int64 array, as an array: ``taken[i] = max(offers[i], taken[i-1] + 1)`` with
    ``taken[-1] = first - 1``, in closed form ``taken[i] = i + max(first, max_{j<=i}(offers[j] - j))``."""
    ramp = np.arange(offers.shape[0], dtype=np.int64)
    bound = np.maximum.accumulate(offers - ramp)
    np.maximum(bound, first, out=bound)
    bound += ramp
    return bound


def in_order(offers: Sequence[int], first: int) -> list[int]:
    """Cycles at which a one-beat-per-cycle, in-order reader takes beats offered from ``offers[i]``,
    starting no earlier than ``first`` (the recurrence of every write side and reader in the models)."""
    if len(offers) < _SHORT:
        taken: list[int] = []
        previous = first - 1
        for cycle in offers:
            previous = previous + 1 if previous + 1 > cycle else int(cycle)
            taken.append(previous)
        return taken
    return in_order_array(np.asarray(offers, dtype=np.int64), first).tolist()


@dataclass(frozen=True)
class EngineTiming:
    """The few integers the engine's timing depends on (derived from a ``KernelSpec``)."""

    in_beats: int
    out_features: int
    lanes: int
    cycles_per_pass: int
    out_pe: int = 1
    """Outputs per output beat (it divides ``lanes``): a pass of ``n`` rows leaves in ``ceil(n / out_pe)`` beats."""

    def __post_init__(self) -> None:
        for name in ("in_beats", "out_features", "lanes", "cycles_per_pass", "out_pe"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.lanes % self.out_pe:
            raise ValueError(f"out_pe {self.out_pe} must divide the {self.lanes} lanes")

    @property
    def passes(self) -> int:
        return math.ceil(self.out_features / self.lanes)

    @property
    def compute_cycles(self) -> int:
        return self.passes * self.cycles_per_pass

    @property
    def pass_beats(self) -> int:
        """Output beats of a full pass."""
        return self.lanes // self.out_pe

    @property
    def out_beats(self) -> int:
        """Output beats of one vector."""
        return math.ceil(self.out_features / self.out_pe)

    def outputs_of_pass(self, p: int) -> int:
        return min(self.lanes, self.out_features - p * self.lanes)

    def beats_of_pass(self, p: int) -> int:
        return math.ceil(self.outputs_of_pass(p) / self.out_pe)

    @staticmethod
    def of(spec: KernelSpec) -> "EngineTiming":
        """Timing of a kernel's dot-product engine: one input vector of ``ceil(K / in_simd)`` beats (for
        a grouped conv, one group's window, giving that group's ``F/g`` outputs)."""
        return EngineTiming(spec.in_beats, spec.group_outputs, spec.lanes, spec.cycles_per_pass, spec.engine_out_pe)


@dataclass(frozen=True)
class KernelSchedule:
    """Predicted cycles: ``accepts[v][i]`` of every input beat, ``outputs[v][r]`` of every output beat."""

    accepts: list[list[int]]
    outputs: list[list[int]]
    last_steps: list[list[int]]

    def flat_outputs(self) -> list[int]:
        return [c for vector in self.outputs for c in vector]


class FrameWriter:
    """The write side of every double buffer in the models (the engine's input banks, rule 1; the
    stream stages' frame halves, rule 7; the conv window generator has a row buffer instead, rule 5 in
    ``hwprune.lower.conv_cycles``): unit ``f`` goes into half
    ``f mod 2``, one beat per cycle as the beats arrive, once the previous unit is written and the
    reader has released that half (``release``, after its last read of unit ``f - 2``)."""

    def __init__(self, frame_beats: int, what: str, unit: str = "frame") -> None:
        self.frame_beats = frame_beats
        self.what = what
        self.unit = unit
        self.half_free = [0, 0]
        self.writer_free = 0
        self.frames = 0

    @property
    def next_ready(self) -> int:
        return max(self.writer_free, self.half_free[self.frames % 2])

    def accept(self, arrival: Sequence[int]) -> list[int]:
        """The accept cycle of every beat of the next frame, given when each is offered."""
        if len(arrival) != self.frame_beats:
            raise ValueError(f"{self.unit} {self.frames} has {len(arrival)} arrival cycles, the {self.what} "
                             f"takes {self.frame_beats} beats")
        accepted = in_order(arrival, self.next_ready)
        self.writer_free = accepted[-1] + 1
        return accepted

    def release(self, last_read: int) -> None:
        """The reader's last read of the frame just accepted was at ``last_read``."""
        self.half_free[self.frames % 2] = last_read + 1
        self.frames += 1


class BufferWriter(Protocol):
    """The write side of a stage's input buffer (``FrameWriter``, or the conv row buffer's ``RowWriter``)."""

    frame_beats: int

    @property
    def next_ready(self) -> int: ...


class BufferedModel:
    """What the network model asks of a stage whose input goes through a ``BufferWriter``: its frame
    size and when it can start."""

    writer: BufferWriter

    @property
    def frame_beats(self) -> int:
        return self.writer.frame_beats

    @property
    def next_ready(self) -> int:
        """First cycle at which the next frame's first beat can be accepted."""
        return self.writer.next_ready


def waits_for_nothing(cycles_per_pass: int, pass_beats: int) -> bool:
    """Whether rules 3-4 can never delay anything: a pass's outputs are gone before the next pass's
    begin (``cycles_per_pass ≥ n``) and its bank is free again two passes later (``2·cycles_per_pass ≥
    n + 3``: the issue-to-output pipeline plus the drain), for every pass (``n`` of a full pass bounds
    the rest). Then the last step of a pass issues ``cycles_per_pass`` after the previous one."""
    return cycles_per_pass >= pass_beats and 2 * cycles_per_pass >= pass_beats + PIPELINE_DEPTH - 1


class EngineModel:
    """Rules 1-4 applied one vector at a time (stateful, so a source can be scheduled on the fly)."""

    def __init__(self, timing: EngineTiming) -> None:
        self.timing = timing
        self.banks = FrameWriter(timing.in_beats, "kernel", unit="vector")
        self.issue_free = 0  # first cycle the compute counter may issue a vector's first step
        self.bank_free = [0] * RESULT_BANKS  # first cycle a pass's last step may issue into result bank b
        self.passes_done = 0  # passes issued so far: the next one goes into bank ``passes_done % 2``
        self.serial_free = 0  # first cycle the next pass's first output beat may leave (rule 4)
        self._batch_first: int | None = None  # ``serial_free`` before the passes ``output_cycles`` owes
        self._calm = waits_for_nothing(timing.cycles_per_pass, timing.pass_beats)

    @property
    def next_ready(self) -> int:
        """First cycle at which the next vector's first beat can be accepted."""
        return self.banks.next_ready

    def _finish_pass(self, last: int, n: int) -> int:
        """Rule 4 for a pass whose last step issued at ``last`` (``n`` output beats): its first output
        cycle; books the serialiser and the pass's bank (free from the cycle its last beat leaves)."""
        first = max(last + PIPELINE_DEPTH, self.serial_free)
        self.serial_free = first + n
        self.bank_free[self.passes_done % RESULT_BANKS] = first + n - 1
        self.passes_done += 1
        return first

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(accept cycles, output cycles, last-step cycles) of the next vector."""
        t = self.timing
        accepted = self.banks.accept(arrival)
        step = max(accepted[-1] + 1, self.issue_free)  # cycle of the pass's first step
        beats: list[int] = []
        lasts: list[int] = []
        for p in range(t.passes):
            last = max(step + t.cycles_per_pass - 1, self.bank_free[self.passes_done % RESULT_BANKS])
            n = t.beats_of_pass(p)
            first = self._finish_pass(last, n)
            beats.extend(range(first, first + n))
            lasts.append(last)
            step = last + 1
        self.issue_free = step
        self.banks.release(step - 1)  # the bank is free from ``step``, the cycle after the last step
        return accepted, beats, lasts

    def push_bounds(self, bounds: Sequence[int]) -> tuple[int, np.ndarray]:
        """``push`` for many vectors at once, each given only by ``max_i(offer[i] - i)`` over its beats'
        offer cycles (all rule 1 needs: by ``in_order``'s closed form its last beat is taken at
        ``K - 1 + max(next_ready, bound)``). Returns (the last vector's last accept cycle, the last-step
        cycles ``[vector, pass]``); ``output_cycles`` turns the latter into output beats."""
        if isinstance(bounds, np.ndarray):
            bounds = bounds.tolist()  # Python ints: every cycle the models keep stays an ``int``
        if self._batch_first is None:
            self._batch_first = self.serial_free
        if self._calm:
            return self._push_calm(bounds)
        t = self.timing
        banks = self.banks
        k1, cpp = t.in_beats - 1, t.cycles_per_pass
        free, halves, frames = banks.writer_free, banks.half_free, banks.frames
        issue, bank_free = self.issue_free, self.bank_free
        lasts = np.empty((len(bounds), t.passes), dtype=np.int64)
        taken = free - 1
        sizes = [t.beats_of_pass(p) for p in range(t.passes)]
        for v, bound in enumerate(bounds):
            start = max(free, halves[frames & 1])
            taken = k1 + max(start, int(bound))
            free = taken + 1
            step = max(free, issue)
            for p, n in enumerate(sizes):
                last = max(step + cpp - 1, bank_free[self.passes_done & 1])
                self._finish_pass(last, n)
                lasts[v, p] = last
                step = last + 1
            issue = step
            halves[frames & 1] = step
            frames += 1
        banks.writer_free, banks.frames = free, frames
        self.issue_free = issue
        return int(taken), lasts

    def _push_calm(self, bounds: list[int]) -> tuple[int, np.ndarray]:
        """``push_bounds`` when nothing ever waits for a result bank (``waits_for_nothing``): a vector's
        passes back to back, ``cycles_per_pass`` apart; the banks and the serialiser are booked after."""
        t = self.timing
        banks = self.banks
        k1, cpp, passes = t.in_beats - 1, t.cycles_per_pass, t.passes
        free, halves, frames = banks.writer_free, banks.half_free, banks.frames
        issue = self.issue_free
        firsts = np.empty(len(bounds), dtype=np.int64)
        taken = free - 1
        span = passes * cpp
        for v, bound in enumerate(bounds):
            start = halves[frames & 1]
            if free > start:
                start = free
            taken = k1 + (start if start > bound else bound)
            free = taken + 1
            step = free if free > issue else issue
            firsts[v] = step
            issue = step + span
            halves[frames & 1] = issue
            frames += 1
        banks.writer_free, banks.frames = free, frames
        self.issue_free = issue
        lasts = firsts[:, None] + np.arange(1, passes + 1, dtype=np.int64) * cpp - 1
        flat = lasts.reshape(-1)
        booked = max(0, flat.shape[0] - RESULT_BANKS)  # only the last two passes still hold a bank
        self.passes_done += booked
        for q in range(booked, flat.shape[0]):
            self._finish_pass(int(flat[q]), t.beats_of_pass(q % passes))
        return int(taken), lasts

    def output_cycles(self, lasts: np.ndarray) -> np.ndarray:
        """Rule 4 for the last steps ``push_bounds`` returned since the previous call (all of them, in
        order): every output beat's cycle, in order, flat. A pass's beats are offered from
        ``X + PIPELINE_DEPTH`` on and the serialiser takes them in order, one per cycle (``in_order``),
        carrying on from the passes before these."""
        t = self.timing
        beats = lasts[:, :, None] + (PIPELINE_DEPTH + np.arange(t.pass_beats, dtype=np.int64))
        offers = beats.reshape(lasts.shape[0], -1)[:, :t.out_beats].reshape(-1)
        first, self._batch_first = self._batch_first, None
        if self._calm or first is None:
            return offers
        return in_order_array(offers, first)

"""Whole schedules and steady-state figures of the dot-product engine's cycle model
(``hwprune.lower.cycles``, rules 1-4): what the fitter, the benchmarks and the testbenches ask of it.

Why apart from the model: these are questions about many vectors (a back-to-back source, the interval
it settles to, the first output's latency), answered by running ``EngineModel`` or by its closed form.
"""

from __future__ import annotations

from typing import Sequence

from hwprune.lower.cycles import PIPELINE_DEPTH, EngineModel, EngineTiming, KernelSchedule, waits_for_nothing

__all__ = ["engine_schedule", "back_to_back", "steady_state_closed_form", "steady_state_interval",
           "first_output_latency"]


def engine_schedule(timing: EngineTiming, arrivals: Sequence[Sequence[int]]) -> KernelSchedule:
    """Apply rules 1-4 to every vector in order; exact for an output stream that is always ready."""
    model = EngineModel(timing)
    accepts, outputs, last_steps = [], [], []
    for arrival in arrivals:
        accepted, beats, lasts = model.push(arrival)
        accepts.append(accepted)
        outputs.append(beats)
        last_steps.append(lasts)
    return KernelSchedule(accepts, outputs, last_steps)


def back_to_back(vectors: int, beats: int) -> list[list[int]]:
    """Arrivals of a source that always has data: every beat offered from cycle 0."""
    return [[0] * beats for _ in range(vectors)]


def steady_state_closed_form(timing: EngineTiming) -> int | None:
    """Cycles per vector with back-to-back inputs, in closed form, where there is one: ``max(K, passes ×
    cycles_per_pass, out_beats)`` (the input, the compute, or the output stream, whichever is slowest).

    It holds when no result bank ever waits (``waits_for_nothing``) and whenever every pass has at least
    3 output beats: then a bank's drain (``n`` beats) covers the ``PIPELINE_DEPTH - 1`` cycles between
    the next-but-one pass's last step and its write, so waiting for a bank never costs more than
    waiting for the serialiser does. None otherwise (passes of 1 or 2 beats, when the outputs or a
    pass's bank bound it; there the interval can alternate between two values)."""
    calm = waits_for_nothing(timing.cycles_per_pass, timing.pass_beats)
    if not calm and timing.beats_of_pass(timing.passes - 1) < PIPELINE_DEPTH - 1:  # the fewest beats
        return None
    return max(timing.in_beats, timing.compute_cycles, timing.out_beats)


def steady_state_interval(timing: EngineTiming) -> int:
    """Cycles between consecutive vectors with back-to-back inputs: ``steady_state_closed_form``, else
    measured on the model, over two vectors (the steady state repeats every two vectors at most: an odd
    number of passes per vector swaps the result banks' roles from one vector to the next) and rounded
    up, so a layer interval built on it is never optimistic."""
    closed = steady_state_closed_form(timing)
    if closed is not None:
        return closed
    outputs = engine_schedule(timing, back_to_back(8, timing.in_beats)).outputs
    return -(-(outputs[7][-1] - outputs[5][-1]) // 2)


def first_output_latency(timing: EngineTiming) -> int:
    """Cycle of the first output beat when the first input beat is taken at cycle 0."""
    return timing.in_beats + timing.cycles_per_pass - 1 + PIPELINE_DEPTH

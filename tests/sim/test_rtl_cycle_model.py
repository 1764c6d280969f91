"""The cycle model on its own (no simulator): the closed forms it promises, and its input checks."""

from __future__ import annotations

import pytest

from hwprune.lower.conv_cycles import window_sources
from hwprune.lower.cycles import EngineTiming
from hwprune.lower.engine_schedule import back_to_back, engine_schedule, first_output_latency, steady_state_interval
from hwprune.lower.kernel_spec import ConvGeometry


@pytest.mark.parametrize("lanes,cpp,out", [(4, 20, 64), (4, 7, 64), (8, 30, 10), (3, 9, 3)])
def test_no_stall_interval_is_passes_times_cycles_per_pass(lanes: int, cpp: int, out: int) -> None:
    timing = EngineTiming(in_beats=16, out_features=out, lanes=lanes, cycles_per_pass=cpp)
    assert cpp >= lanes + 3
    assert steady_state_interval(timing) == max(timing.passes * cpp, 16)


def test_first_output_and_beat_spacing() -> None:
    timing = EngineTiming(in_beats=12, out_features=10, lanes=4, cycles_per_pass=8)
    outputs = engine_schedule(timing, back_to_back(1, 12)).outputs[0]
    assert outputs[0] == first_output_latency(timing) == 12 + 8 - 1 + 4
    assert outputs[:4] == [outputs[0] + j for j in range(4)]  # a pass leaves back to back
    assert outputs[4] == outputs[0] + 8  # the next pass one pass later


def test_short_passes_overlap_the_previous_drain() -> None:
    timing = EngineTiming(in_beats=4, out_features=16, lanes=8, cycles_per_pass=2)
    outputs = engine_schedule(timing, back_to_back(1, 4)).outputs[0]
    assert outputs[8] - outputs[0] == 8  # n (the second pass waits in the other bank), not n + 3


def test_arrivals_are_validated() -> None:
    with pytest.raises(ValueError, match="takes 5 beats"):
        engine_schedule(EngineTiming(5, 2, 2, 1), [[0, 0]])
    with pytest.raises(ValueError, match="must be a positive integer"):
        EngineTiming(0, 2, 2, 1)


def test_window_sources_pad_and_order() -> None:
    g = ConvGeometry(2, 3, 3, (2, 2), (1, 1), (1, 1, 0, 0), (1, 1), 1, 3, 3)
    sources = window_sources(g)
    assert len(sources) == 9 * 2 * 4
    assert sources[:4] == [-1, -1, -1, 0]  # pixel (0,0), channel 0: three padded, then x[0,0]
    assert sources[4:8] == [-1, -1, -1, 1]  # channel 1 of the same pixel (channels inner in the stream)

"""The first-mismatch report (hwprune.sim.mismatch) from hand-made case files and traces: no simulator."""

from __future__ import annotations

import numpy as np

from hwprune.sim.golden import pack_beats
from hwprune.sim.mismatch import first_mismatch, mismatch_from_trace, trace_beats


def narrow_case() -> dict:
    """3 vectors of 20 input beats each, 2 output beats each (one value per beat)."""
    return {"name": "k", "vectors": 3, "inputs": list(range(60)), "expected": [5, -6, 7, -8, 9, -10],
            "expected_cycles": [30, 31, 50, 51, 70, 71]}


def trace_of(case: dict) -> list[list[int]]:
    return [[c, v] for c, v in zip(case["expected_cycles"], case["expected"])]


def test_a_matching_trace_has_no_mismatch() -> None:
    case = narrow_case()
    assert first_mismatch(case, trace_of(case)) is None


def test_a_wrong_value_names_vector_beat_values_cycles_and_input() -> None:
    case = narrow_case()
    beats = trace_of(case)
    beats[3][1] = 99
    found = first_mismatch(case, beats, layer="/fc1/Gemm")
    assert found is not None
    assert (found.what, found.index, found.vector, found.beat, found.beats_per_vector) == ("value", 3, 1, 1, 2)
    assert (found.expected_value, found.got_value, found.expected_cycle, found.got_cycle) == (-8, 99, 51, 51)
    assert found.inputs == tuple(range(20, 36)) and found.input_length == 20
    text = found.text()
    assert text.splitlines()[0] == ("first mismatch: /fc1/Gemm (timed): value differs at vector 1, "
                                    "output beat 1 of 2 (beat 3 of the stream)")
    assert "expected: -8 at cycle 51" in text and "got:      99 at cycle 51" in text
    assert "input vector 1 (20 values, first 16): [20, 21," in text and "35]" in text


def test_the_first_of_a_cycle_and_a_later_value_mismatch_is_reported() -> None:
    case = narrow_case()
    beats = trace_of(case)
    beats[4][0] += 2
    beats[5][1] = 0
    found = first_mismatch(case, beats)
    assert found is not None and (found.what, found.vector, found.beat) == ("cycle", 2, 0)
    assert (found.expected_cycle, found.got_cycle) == (70, 72)


def test_backpressure_ignores_cycles_but_not_values() -> None:
    case = narrow_case()
    late = [[c + 100, v] for c, v in trace_of(case)]
    assert first_mismatch(case, late, check_cycles=False) is None
    late[0][1] = 1
    found = first_mismatch(case, late, test="backpressure", check_cycles=False)
    assert found is not None and found.what == "value" and found.expected_cycle is None
    assert "(backpressure)" in found.text()


def test_lost_and_extra_beats() -> None:
    case = narrow_case()
    lost = first_mismatch(case, trace_of(case)[:4])
    assert lost is not None and (lost.what, lost.index, lost.vector, lost.got_value) == ("missing beat", 4, 2, None)
    extra = first_mismatch(case, trace_of(case) + [[90, 1]])
    assert extra is not None and (extra.what, extra.index, extra.expected_value, extra.got_value) == \
        ("extra beat", 6, None, 1)
    assert extra.vector == 2  # past the last vector: reported against the last one


def test_a_wide_beat_shows_its_elements_and_which_one_differs() -> None:
    expected = np.array([[1, -2, 3, -4], [5, -6, 7, -8]])
    words = pack_beats(expected, 2, 8)
    case = {"name": "w", "vectors": 2, "inputs": pack_beats(np.arange(12).reshape(2, 6), 4, 8),
            "expected": words, "expected_cycles": [10, 11, 20, 21],
            "elements": {"in": [4, 8, False], "out": [2, 8, True]}}
    got = pack_beats(np.array([[1, -2, 3, -4], [5, -6, 7, 8]]), 2, 8)
    beats = [[c, v] for c, v in zip(case["expected_cycles"], got)]
    found = first_mismatch(case, beats)
    assert found is not None and (found.vector, found.beat) == (1, 1)
    assert found.differing_elements() == [1]
    text = found.text()
    assert "[7, -8] at cycle 21" in text and "[7, 8] at cycle 21  (element 1 of the beat)" in text
    # the kernel case gives no value count: 2 beats of 4 (the padding of the last beat shown)
    assert found.inputs == (6, 7, 8, 9, 10, 11, 0, 0)


def network_case() -> dict:
    """2 vectors of 3 input values in 2 wide beats (lanes of 8 bits), 2 output beats each."""
    inputs = pack_beats(np.array([[1, 2, 3], [4, 5, 6]]), 2, 8)
    return {"name": "top", "vectors": 2, "in_beats": 2, "out_beats": 2, "in_values": 3,
            "elements": {"in": [2, 8, False], "out": [1, 8, True]}, "inputs": inputs,
            "expected": [1, 2, 3, 4], "expected_cycles": [9, 10, 13, 14], "expected_accepts": [0, 1, 4, 5]}


def test_network_case_input_is_trimmed_to_its_values_and_accepts_are_checked() -> None:
    case = network_case()
    beats = trace_of(case)
    assert first_mismatch(case, beats, accepts=[0, 1, 4, 5], lasts=[0, 1, 0, 1]) is None
    found = first_mismatch(case, beats, layer="network top", accepts=[0, 1, 4, 6])
    assert found is not None and (found.what, found.vector, found.beat) == ("s_axis accept cycle", 1, 1)
    assert (found.expected_cycle, found.got_cycle) == (5, 6) and found.inputs == (4, 5, 6)
    assert "s_axis input beat 1 of 2" in found.text()


def test_network_tlast_on_the_wrong_beat() -> None:
    case = network_case()
    found = first_mismatch(case, trace_of(case), lasts=[0, 1, 1, 1])
    assert found is not None and (found.what, found.index, found.vector, found.beat) == ("tlast", 2, 1, 0)
    assert (found.expected_value, found.got_value) == (0, 1)


def test_traces_of_both_testbench_formats() -> None:
    case = narrow_case()
    beats = trace_of(case)
    wrong = [list(b) for b in beats]
    wrong[2][1] = 0
    kernel = {"beats": beats, "timed": {"beats": beats}, "backpressure": {"beats": wrong}}
    assert trace_beats({"beats": beats}, "timed") == {"beats": beats}  # the older top-level form
    assert trace_beats({"beats": beats}, "backpressure") is None
    assert mismatch_from_trace(case, kernel, "timed") is None
    found = mismatch_from_trace(case, kernel, "backpressure", "/fc0/Gemm")
    assert found is not None and (found.test, found.layer, found.index) == ("backpressure", "/fc0/Gemm", 2)
    network = {"timed": {"beats": beats, "lasts": [0, 1, 0, 1, 0, 1], "accepts": []}}
    assert mismatch_from_trace(case, network, "backpressure") is None

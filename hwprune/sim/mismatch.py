"""The first-mismatch report of a failed replay: which vector, which output beat of it, expected
against received value and cycle, and the input vector that produced it.

Why a module of its own: the testbench's assertion says "beat 1017: expected 5, received 4", which a
hardware engineer still has to map back to a vector and an input to reproduce it; this does that
mapping from the case file and the measured trace alone (pure functions, no simulator), so
``hwprune sim`` can print it and put it into its JUnit report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from hwprune.sim.golden import unpack_beats

__all__ = ["Mismatch", "first_mismatch", "trace_beats", "mismatch_from_trace", "INPUT_PREVIEW"]

INPUT_PREVIEW = 16
"""Input values shown of the failing vector (and its length)."""


@dataclass(frozen=True)
class Mismatch:
    """The first beat at which a replay differs from its case. ``what`` is ``value``, ``cycle``,
    ``missing beat``, ``extra beat``, ``s_axis accept cycle`` or ``tlast``; ``index`` the beat in the
    whole stream, ``vector``/``beat`` the same beat as (vector, beat of that vector)."""

    layer: str
    test: str
    what: str
    index: int
    vector: int
    beat: int
    beats_per_vector: int
    expected_value: int | None
    got_value: int | None
    expected_cycle: int | None
    got_cycle: int | None
    inputs: tuple[int, ...]
    input_length: int
    out_layout: tuple[int, int, bool] | None = None

    def _value(self, value: int | None) -> str:
        if value is None:
            return "none"
        if self.out_layout is None or self.out_layout[0] == 1:
            return str(value)
        width, bits, signed = self.out_layout
        return f"0x{value:0{-(-width * bits // 4)}x} {unpack_beats([value], width, bits, signed)}"

    def differing_elements(self) -> list[int]:
        """Which elements of a wide beat differ (empty for a one-value beat or a beat with no value)."""
        if self.out_layout is None or self.out_layout[0] == 1 or None in (self.expected_value, self.got_value):
            return []
        width, bits, signed = self.out_layout
        want, got = (unpack_beats([v], width, bits, signed) for v in (self.expected_value, self.got_value))
        return [j for j in range(width) if want[j] != got[j]]

    def text(self) -> str:
        """Several lines, the first naming layer, vector and beat (what ``hwprune sim`` prints)."""
        side = "s_axis input beat" if self.what == "s_axis accept cycle" else "output beat"
        lines = [f"first mismatch: {self.layer} ({self.test}): {self.what} differs at vector {self.vector}, "
                 f"{side} {self.beat} of {self.beats_per_vector} (beat {self.index} of the stream)"]
        for label, value, cycle in (("expected", self.expected_value, self.expected_cycle),
                                    ("got", self.got_value, self.got_cycle)):
            at = "" if cycle is None else f" at cycle {cycle}"
            lines.append(f"  {label + ':':<9} {self._value(value)}{at}")
        differing = self.differing_elements()
        if differing:
            lines[-1] += f"  (element{'s' if len(differing) > 1 else ''} {', '.join(map(str, differing))} of the beat)"
        shown = list(self.inputs)
        more = f", first {len(shown)}" if len(shown) < self.input_length else ""
        lines.append(f"  input vector {self.vector} ({self.input_length} values{more}): {shown}")
        return "\n".join(lines)


def _vectors(case: Mapping[str, Any]) -> int:
    return max(1, int(case.get("vectors") or 1))


def _per_vector(total: int, case: Mapping[str, Any], key: str) -> int:
    """Beats per vector: the case's ``in_beats``/``out_beats`` (network cases), else an even share."""
    return max(1, int(case.get(key) or -(-total // _vectors(case))))


def _input_values(case: Mapping[str, Any], vector: int) -> list[int]:
    """The values of input ``vector`` (a wide stream's words unpacked, the last beat's padding dropped
    where the case says how many values a vector has)."""
    words = case["inputs"]
    per = _per_vector(len(words), case, "in_beats")
    beats = words[vector * per:(vector + 1) * per]
    layout = (case.get("elements") or {}).get("in")
    if not layout or layout[0] == 1:
        return [int(v) for v in beats]
    width, bits, signed = layout
    values = unpack_beats(beats, width, bits, signed)
    return values[:int(case["in_values"])] if case.get("in_values") else values


def _diff(expected: Sequence[int] | None, values: Sequence[int], expected_cycles: Sequence[int] | None,
          cycles: Sequence[int]) -> tuple[int, str] | None:
    """(first beat index, what differs) of an output stream, or None."""
    count = len(expected) if expected is not None else len(expected_cycles or values)
    for index in range(min(count, len(values))):
        if expected is not None and int(expected[index]) != int(values[index]):
            return index, "value"
        if expected_cycles is not None and int(expected_cycles[index]) != int(cycles[index]):
            return index, "cycle"
    if len(values) < count:
        return len(values), "missing beat"
    if len(values) > count and (expected is not None or expected_cycles is not None):
        return count, "extra beat"
    return None


def _at(values: Sequence[int] | None, index: int) -> int | None:
    return int(values[index]) if values is not None and 0 <= index < len(values) else None


def first_mismatch(case: Mapping[str, Any], beats: Sequence[Sequence[int]], layer: str = "", test: str = "timed",
                   check_cycles: bool = True, accepts: Sequence[int] | None = None,
                   lasts: Sequence[int] | None = None) -> Mismatch | None:
    """The first output beat of ``beats`` (``[[cycle, value], ...]`` as the testbench records them) that
    differs from ``case`` in value, or in cycle with ``check_cycles`` (a random-ready sink has no expected
    cycles); then, for a network case, the first wrong ``s_axis`` accept cycle (``accepts``) or ``tlast``
    (``lasts``). None when the trace agrees with the case everywhere it is checked."""
    expected = case.get("expected")
    expected_cycles = case.get("expected_cycles") if check_cycles else None
    cycles, values = [int(b[0]) for b in beats], [int(b[1]) for b in beats]
    out_layout = (case.get("elements") or {}).get("out")
    found = _diff(expected, values, expected_cycles, cycles)
    if found is not None:
        index, what = found
        per = _per_vector(len(expected) if expected is not None else len(values), case, "out_beats")
        return _report(case, layer, test, what, index, per, _at(expected, index), _at(values, index),
                       _at(expected_cycles, index), _at(cycles, index), out_layout)
    want_accepts = case.get("expected_accepts") if check_cycles else None
    if want_accepts is not None and accepts is not None:
        found = _diff(None, accepts, want_accepts, accepts)
        if found is not None:
            index, _ = found
            per = _per_vector(len(case["inputs"]), case, "in_beats")
            return _report(case, layer, test, "s_axis accept cycle", index, per, _at(case["inputs"], index),
                           None, _at(want_accepts, index), _at(accepts, index), (case.get("elements") or {}).get("in"))
    if lasts is not None and case.get("out_beats"):
        per = int(case["out_beats"])
        for index, last in enumerate(lasts):
            if bool(last) != (index % per == per - 1):
                return _report(case, layer, test, "tlast", index, per, int(index % per == per - 1), int(last),
                               _at(expected_cycles, index), _at(cycles, index), None)
    return None


def _report(case: Mapping[str, Any], layer: str, test: str, what: str, index: int, per: int,
            expected_value: int | None, got_value: int | None, expected_cycle: int | None, got_cycle: int | None,
            layout: Sequence[Any] | None) -> Mismatch:
    vector = min(index // per, _vectors(case) - 1)
    inputs = _input_values(case, vector)
    return Mismatch(layer or str(case.get("name", "")), test, what, index, vector, index - vector * per, per,
                    expected_value, got_value, expected_cycle, got_cycle, tuple(inputs[:INPUT_PREVIEW]), len(inputs),
                    (int(layout[0]), int(layout[1]), bool(layout[2])) if layout else None)


def trace_beats(trace: Mapping[str, Any], test: str) -> Mapping[str, Any] | None:
    """One test's entry of a trace file (``{"beats": ..., ["lasts", "accepts"]}``): under the test's
    name, or, for a kernel's timed test, at the top level (the format readers of ``beats`` know)."""
    entry = trace.get(test)
    if isinstance(entry, Mapping):
        return entry
    return trace if test == "timed" and "beats" in trace else None


def mismatch_from_trace(case: Mapping[str, Any], trace: Mapping[str, Any], test: str,
                        layer: str = "") -> Mismatch | None:
    """``first_mismatch`` of one test's beats in a trace file (None when the trace has none for it): the
    timed test's with cycles, a random-ready replay's by value and ``tlast`` only."""
    entry = trace_beats(trace, test)
    if entry is None:
        return None
    return first_mismatch(case, entry["beats"], layer, test, check_cycles=test == "timed",
                          accepts=entry.get("accepts"), lasts=entry.get("lasts"))

"""cocotb tests of a network top (AXI-Stream ``s_axis``/``m_axis`` with ``tlast``): replays a network
case written by ``hwprune.sim.network``.

The source sends each input vector as one packet (``s_axis_tlast`` on its last beat); the sink
records ``(cycle, value, tlast)`` of every ``m_axis`` beat. Checks, on top of the library's in-order
scoreboard and cycle checker:

* structure, always: exactly ``vectors × out_beats`` beats, ``tlast`` on the last beat of every
  vector and on no other beat;
* ``timed`` (sink always ready): values equal the integer reference of the whole network (when the
  case has expected values), every ``m_axis`` beat's cycle and every ``s_axis`` accept cycle equal
  the network cycle model (``hwprune.lower.network_cycles``);
* ``backpressure`` (sink ready with a seeded probability): values equal, in order, none lost or
  duplicated, ``tlast`` correct.

Both tests write their measured trace into ``HWPRUNE_TB_TRACE`` under the test's name
(``hwprune.sim.network`` reads it back).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cocotb

from hwprune_tb.checks import CycleChecker, Scoreboard, summary
from hwprune_tb.stream_tb import TAIL_CYCLES, load_case, reset
from hwprune_tb.streams import StreamDriver, StreamMonitor


def structure_errors(case: dict[str, Any], monitor: StreamMonitor) -> list[str]:
    """Beat count and packet ends: ``tlast`` exactly on every ``out_beats``-th beat."""
    per, vectors = int(case["out_beats"]), int(case["vectors"])
    errors = []
    if len(monitor.beats) != per * vectors:
        errors.append(f"{len(monitor.beats)} beats received, {per * vectors} expected "
                      f"({vectors} vectors of {per})")
    wrong = [i for i, last in enumerate(monitor.lasts) if bool(last) != (i % per == per - 1)]
    if wrong:
        errors.append(f"tlast wrong on beats {wrong[:8]}{' …' if len(wrong) > 8 else ''}")
    return errors


async def run(dut: Any, test: str, ready_probability: float,
              seed: int) -> tuple[dict[str, Any], StreamDriver, StreamMonitor]:
    """Reset, stream every input vector back to back (as the case's arrivals say), record the output."""
    case = load_case()
    clock, source, sink = await reset(dut, case)
    per_in = int(case["in_beats"])
    lasts = [i % per_in == per_in - 1 for i in range(len(case["inputs"]))]
    source.last.value = 0
    driver = StreamDriver(source, clock, case["in_bits"], lasts)
    monitor = StreamMonitor(sink, clock, case["out_signed"], ready_probability, seed)
    cocotb.start_soon(driver.run(case["inputs"], case["arrivals"]))
    await monitor.run(case["max_cycles"], int(case["out_beats"]) * int(case["vectors"]), TAIL_CYCLES)
    trace = os.environ.get("HWPRUNE_TB_TRACE")
    if trace:  # one entry per test, so a later test does not overwrite the timed trace
        path = Path(trace)
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        data[test] = {"beats": monitor.beats, "lasts": monitor.lasts, "accepts": driver.accepted}
        path.write_text(json.dumps(data) + "\n", encoding="utf-8")
    return case, driver, monitor


def value_errors(case: dict[str, Any], monitor: StreamMonitor) -> list[str]:
    if case.get("expected") is None:
        return []
    board = Scoreboard(case["expected"])
    board.check([value for _, value in monitor.beats])
    return board.errors


@cocotb.test()
async def timed(dut: Any) -> None:
    """Bit-exact with the network reference, cycle-exact with the network cycle model."""
    case, driver, monitor = await run(dut, "timed", 1.0, 0)
    errors = structure_errors(case, monitor) + value_errors(case, monitor)
    if case.get("expected_cycles") is not None:
        checker = CycleChecker(case["expected_cycles"])
        checker.check([cycle for cycle, _ in monitor.beats])
        errors += checker.errors
    if case.get("expected_accepts") is not None:
        accepts = CycleChecker(case["expected_accepts"])
        accepts.check(driver.accepted)
        errors += [f"s_axis {e}" for e in accepts.errors]
    assert not errors, f"{case['name']}: {summary(errors)}"
    dut._log.info("%s: %d vectors, %d beats, last at cycle %s", case["name"], case["vectors"],
                  len(monitor.beats), monitor.beats[-1][0] if monitor.beats else None)


@cocotb.test()
async def backpressure(dut: Any) -> None:
    """Random ``m_axis_tready``: values in order, nothing lost or duplicated, ``tlast`` correct."""
    bp = load_case()["backpressure"]
    case, _, monitor = await run(dut, "backpressure", bp["ready_probability"], bp["seed"])
    errors = structure_errors(case, monitor) + value_errors(case, monitor)
    assert not errors, f"{case['name']} (backpressure): {summary(errors)}"

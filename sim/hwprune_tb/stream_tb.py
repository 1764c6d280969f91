"""The cocotb test module: replays one case file (golden vectors + expected trace) on a stream design.

The case file (JSON, written by ``hwprune.sim.golden.write_case``) is named by the environment
variable ``HWPRUNE_TB_CASE``. Two tests:

* ``timed``: the source offers beats at the case's arrival cycles, the sink is always ready; every
  output value must equal the integer reference and every beat's cycle the cycle model;
* ``backpressure``: the sink's ready is random (seeded); values must still be equal, in order, with
  no beat lost or duplicated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge
from cocotb.utils import get_sim_time

from hwprune_tb.checks import CycleChecker, Scoreboard, summary
from hwprune_tb.streams import CycleClock, StreamDriver, StreamMonitor, StreamPorts

PERIOD_PS = 10_000
TAIL_CYCLES = 64  # cycles watched after the last expected beat, to catch duplicated beats


def load_case() -> dict[str, Any]:
    return json.loads(Path(os.environ["HWPRUNE_TB_CASE"]).read_text(encoding="utf-8"))


async def reset(dut: Any, case: dict[str, Any]) -> tuple[CycleClock, StreamPorts, StreamPorts]:
    """Start the clock, hold reset for 4 cycles, release it at a falling edge; returns the clock whose
    cycle 0 is the next rising edge."""
    ports = case["ports"]
    clk = getattr(dut, ports["clock"])
    # toggled by the simulator interface, not a Python task: with the driver and monitor asleep while
    # their stream is idle, no Python runs in a quiet cycle (ResNet-8's top, one vector, 221,572 cycles:
    # 5.2 s, against 11.6 s with a Python clock and a driver and monitor that woke every cycle)
    Clock(clk, PERIOD_PS, unit="ps", impl="gpi").start()
    source, sink = StreamPorts.of(dut, ports["in"]), StreamPorts.of(dut, ports["out"])
    rst = getattr(dut, ports["reset"])
    rst.value = 1
    source.valid.value = 0
    sink.ready.value = 0
    await ClockCycles(clk, 4)
    await FallingEdge(clk)
    rst.value = 0
    clock = CycleClock(clk, PERIOD_PS)
    clock.origin_ps = int(get_sim_time("ps")) + PERIOD_PS // 2
    return clock, source, sink


async def replay(dut: Any, ready_probability: float, seed: int) -> tuple[dict[str, Any], StreamMonitor]:
    case = load_case()
    clock, source, sink = await reset(dut, case)
    driver = StreamDriver(source, clock, case["in_bits"], case.get("in_lasts"))
    monitor = StreamMonitor(sink, clock, case["out_signed"], ready_probability, seed)
    cocotb.start_soon(driver.run(case["inputs"], case["arrivals"]))
    await monitor.run(case["max_cycles"], len(case["expected"]), TAIL_CYCLES)
    return case, monitor


def record_trace(test: str, monitor: StreamMonitor) -> None:
    """Write the measured beats into ``HWPRUNE_TB_TRACE`` under the test's name (so a later test keeps
    the timed trace), the timed test's also as top-level ``beats`` (what benchmarks and
    ``SimResult.measured_cycles`` read); ``hwprune sim``'s first-mismatch report reads both."""
    trace = os.environ.get("HWPRUNE_TB_TRACE")
    if not trace:
        return
    path = Path(trace)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[test] = {"beats": monitor.beats}
    if test == "timed":
        data["beats"] = monitor.beats
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")


def check_values(case: dict[str, Any], monitor: StreamMonitor) -> list[str]:
    board = Scoreboard(case["expected"])
    board.check([value for _, value in monitor.beats])
    if case.get("out_lasts") is not None and monitor.ports.last is not None:
        if monitor.lasts != case["out_lasts"][: len(monitor.lasts)]:
            board.errors.append("tlast differs from the expected packet ends")
    return board.errors


@cocotb.test()
async def timed(dut: Any) -> None:
    """Bit-exact and cycle-exact with an always-ready sink."""
    case, monitor = await replay(dut, 1.0, 0)
    record_trace("timed", monitor)
    errors = check_values(case, monitor)
    if case.get("expected_cycles") is not None:
        checker = CycleChecker(case["expected_cycles"])
        checker.check([cycle for cycle, _ in monitor.beats])
        errors += checker.errors
    assert not errors, f"{case['name']}: {summary(errors)}"
    dut._log.info("%s: %d beats bit-exact%s", case["name"], len(monitor.beats),
                  " and cycle-exact" if case.get("expected_cycles") is not None else "")


@cocotb.test()
async def backpressure(dut: Any) -> None:
    """Bit-exact, in order, nothing lost or duplicated, with a random-ready sink."""
    case = load_case()
    bp = case["backpressure"]
    case, monitor = await replay(dut, bp["ready_probability"], bp["seed"])
    record_trace("backpressure", monitor)
    errors = check_values(case, monitor)
    assert not errors, f"{case['name']} (backpressure): {summary(errors)}"

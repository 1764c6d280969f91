"""Stream driver and monitor: one beat per valid/ready handshake, stamped with its clock cycle.

Timing convention (the same as ``hwprune.lower.cycles``): cycle ``c`` starts at rising edge ``c``
after reset; inputs are driven just after the rising edge and sampled at the falling edge, so a
beat sampled during cycle ``c`` commits at edge ``c + 1`` and is recorded as "at cycle c".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Sequence

from cocotb.triggers import ClockCycles, FallingEdge, First, RisingEdge
from cocotb.utils import get_sim_time


@dataclass(frozen=True)
class StreamPorts:
    """Handles of one stream interface; ``last`` is None for streams without a packet end."""

    data: Any
    valid: Any
    ready: Any
    last: Any = None

    @staticmethod
    def of(dut: Any, names: dict[str, str | None]) -> "StreamPorts":
        last = names.get("last")
        return StreamPorts(getattr(dut, names["data"]), getattr(dut, names["valid"]),
                           getattr(dut, names["ready"]), getattr(dut, last) if last else None)


class CycleClock:
    """Turns simulation time into cycle numbers relative to rising edge 0."""

    def __init__(self, clk: Any, period_ps: int) -> None:
        self.clk = clk
        self.period_ps = period_ps
        self.origin_ps = 0

    def start_here(self) -> None:
        """Call at rising edge 0 (the first edge after reset is released)."""
        self.origin_ps = int(get_sim_time("ps"))

    def now(self) -> int:
        return int((int(get_sim_time("ps")) - self.origin_ps) // self.period_ps)


class StreamDriver:
    """Offers ``beats`` in order; beat ``i`` is offered from cycle ``arrivals[i]`` (and never before
    the cycle after beat ``i-1`` was taken) and held until taken. Records the accept cycles."""

    def __init__(self, ports: StreamPorts, clock: CycleClock, bits: int,
                 lasts: Sequence[bool] | None = None) -> None:
        self.ports = ports
        self.clock = clock
        self.mask = (1 << bits) - 1
        self.lasts = lasts
        self.accepted: list[int] = []

    async def run(self, beats: Sequence[int], arrivals: Sequence[int]) -> None:
        """Cycle by cycle only where something happens: before a beat's arrival cycle the source
        sleeps (``valid`` low) until that cycle's rising edge, and while an offered beat is refused it
        sleeps until ``ready`` rises, then samples it at the next falling edge, which is the cycle a
        per-cycle poll would take it in (``ready`` changes only after a rising edge)."""
        p, clk = self.ports, self.clock.clk
        index = 0
        while index < len(beats):
            await RisingEdge(clk)
            cycle = self.clock.now()
            if cycle < arrivals[index]:
                p.valid.value = 0
                await ClockCycles(clk, arrivals[index] - cycle)
                cycle = self.clock.now()
            p.valid.value = 1
            p.data.value = int(beats[index]) & self.mask
            if p.last is not None and self.lasts is not None:
                p.last.value = int(self.lasts[index])
            await FallingEdge(clk)
            while not int(p.ready.value):
                await RisingEdge(p.ready)
                await FallingEdge(clk)
            self.accepted.append(self.clock.now())
            index += 1
        await RisingEdge(clk)
        p.valid.value = 0


@dataclass
class StreamMonitor:
    """Sink: drives ``ready`` (always, or with probability ``ready_probability`` from a seeded RNG)
    and records ``(cycle, value[, last])`` of every beat.

    It works cycle by cycle only while ``valid`` is high: after a cycle with ``valid`` low it keeps
    ``ready`` as it is and sleeps until ``valid`` rises (or the cycle at which it stops), then draws
    ``ready`` for that cycle; so a random ``ready`` is drawn for every cycle in which a beat is offered,
    and an idle output costs no Python per cycle."""

    ports: StreamPorts
    clock: CycleClock
    signed: bool
    ready_probability: float = 1.0
    seed: int = 0
    beats: list[tuple[int, int]] = field(default_factory=list)
    lasts: list[int] = field(default_factory=list)

    async def run(self, stop_after: int, expected: int, tail: int) -> None:
        """Record until cycle ``stop_after``, or until ``tail`` cycles after the ``expected``-th beat
        (watching the tail catches duplicated beats)."""
        rng = random.Random(self.seed)
        always = self.ready_probability >= 1.0
        p, clk = self.ports, self.clock.clk
        await RisingEdge(clk)
        cycle = self.clock.now()
        while True:
            enough = bool(self.beats) and len(self.beats) >= expected
            stop = min(stop_after, self.beats[-1][0] + tail) + 1 if enough else stop_after + 1
            if cycle >= stop:
                break
            p.ready.value = int(always or rng.random() < self.ready_probability)
            await FallingEdge(clk)
            if int(p.valid.value):
                if int(p.ready.value):
                    value = p.data.value.to_signed() if self.signed else p.data.value.to_unsigned()
                    self.beats.append((cycle, int(value)))
                    if p.last is not None:
                        self.lasts.append(int(p.last.value))
                await RisingEdge(clk)
            elif cycle + 1 < stop:
                await First(RisingEdge(p.valid), ClockCycles(clk, stop - cycle))
            else:
                await RisingEdge(clk)
            cycle = self.clock.now()

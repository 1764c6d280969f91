"""The pieces the token selector's phases share (``rtl_selector``, ``rtl_score``, ``rtl_package``): the beat
layout, the phase numbers, small buffers and the context of signals handed from phase to phase.

Why a module of its own: the phases live in separate modules by responsibility, and all of them, as well
as the top that wires them, need these; keeping them here lets the imports run one way (parts <- phases
<- top).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, memory

from hwprune.backends.rtl.engine import DotEngine
from hwprune.tokens.hardware import SelectorHardware

__all__ = ["BEAT", "State", "Ram", "ram", "Ctx", "counter"]

BEAT = data.StructLayout({"data": signed(8), "last": 1, "package": 1})


class State:
    """Phase numbers of the sequencer (see ``hwprune.tokens.rtl_selector``)."""

    IN, DRAIN, MEANS, HEAD1, HEAD2, S1, S2, S3, SCORE, RECIP, OUT, PKG = range(12)


@dataclass
class Ram:
    """A small buffer: synchronous write port, combinational read ports (distributed RAM)."""

    mem: memory.Memory
    write: Any
    reads: list[Any] = field(default_factory=list)

    def read(self) -> Any:
        port = self.mem.read_port(domain="comb")
        self.reads.append(port)
        return port


def ram(m: Module, name: str, shape: Any, depth: int) -> Ram:
    """A buffer of ``depth`` words (at least 2, so no address port is zero bits wide)."""
    mem = memory.Memory(shape=shape, depth=max(2, depth), init=[])
    m.submodules[name] = mem
    return Ram(mem, mem.write_port())


@dataclass
class Ctx:
    """Signals shared by the phases (built in ``TokenSelectorRtl.elaborate``)."""

    hw: SelectorHardware
    state: Signal
    ncand: Signal  # T − 1 of the set being processed
    pkg_in: Signal  # the set's last token is a previous package token
    engines: dict[str, DotEngine]
    bufs: dict[str, Ram]
    goto: Any  # goto(state) in the sync domain
    mean_recip: Any = None  # R[n] of the set (IN)
    w_sum: Any = None  # W = Σ_h w_h (HEAD2)
    den: Any = None  # Σ S_i over the fused candidates (SCORE)
    fused: Any = None  # how many candidates are fused (SCORE)


def counter(count: int, name: str) -> Signal:
    return Signal(range(max(2, count)), name=name)

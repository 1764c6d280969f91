"""Depthwise channels side by side: ``m`` dot-product engines behind one wide window beat.

Why: a depthwise conv's engine is group-serial (one channel's window, one filter, then the next
channel), so however wide its frame, a pixel costs ``C`` engine vectors. With a frame of ``m`` channels
per beat the window generator already hands over the ``m`` channels' whole windows at once
(``WindowBlockGenerator(lanes=m)``); here engine ``j`` takes the window of channel ``b·m + j`` of beat
``b`` (elements ``[j·kh·kw, (j+1)·kh·kw)``) and computes that channel's filter from its own ROM
(``hwprune.lower.group_lanes.sub_specs``: channels ``j, j + m, …``), so a pixel costs ``C / m`` vectors. The ``m`` engines are the
same circuit on the same beats, so they run in lockstep: one input handshake for all, and their ``m``
outputs (channels ``b·m … b·m + m - 1``, consecutive) leave as one beat of ``out_pe = m``. The cycle
model is one engine's (``KernelSpec.group_lanes``, ``EngineTiming.of``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwprune.backends.rtl.engine import DotEngine, beat_shape
from hwprune.lower.group_lanes import sub_specs
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["GroupParallelEngine"]


class GroupParallelEngine(wiring.Component):
    """``m`` window beats' channels in (one beat of ``m·kh·kw`` elements), their ``m`` outputs out."""

    def __init__(self, spec: KernelSpec) -> None:
        self.spec = spec
        self.subs = sub_specs(spec)
        window = self.subs[0].in_simd
        t_in, t_out = spec.in_type, spec.out_type
        super().__init__({
            "i": In(stream.Signature(beat_shape(t_in.bits, t_in.signed, spec.group_lanes * window))),
            "o": Out(stream.Signature(beat_shape(t_out.bits, t_out.signed, spec.group_lanes))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        engines = []
        for j, sub in enumerate(self.subs):
            engine = DotEngine(sub)
            m.submodules[f"engine{j}"] = engine
            engines.append(engine)
        a, b = self.spec.in_type.bits * self.subs[0].in_simd, self.spec.out_type.bits
        all_ready = Cat(*(e.i.ready for e in engines)).all()
        all_valid = Cat(*(e.o.valid for e in engines)).all()
        m.d.comb += self.i.ready.eq(all_ready)
        m.d.comb += [self.o.valid.eq(all_valid), self.o.payload.eq(Cat(*(e.o.payload[:b] for e in engines)))]
        for j, engine in enumerate(engines):
            m.d.comb += [engine.i.payload.eq(self.i.payload[j * a:(j + 1) * a]),
                         engine.i.valid.eq(self.i.valid & all_ready),
                         engine.o.ready.eq(self.o.ready & all_valid)]
        return m

"""The widths of a network top's streams: which streams share one width (classes), which widths each
class's stages allow, and, once the kernels are fitted, the width of every stage that is not a kernel.

Why here, apart from the planner: the fitter needs the classes before it chooses the kernels' widths
(``hwprune.lower.stream_widths.StreamClasses``), and the planner needs them again afterwards to give
every fork, add, activation and global average the width of the kernels around it. A stage that is not
a kernel passes its input's width to its outputs, so its streams are one class; a kernel reads one class
and writes another.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from hwprune.lower.network_types import WIDE_STAGE_KINDS, NetworkPlan, NetworkUnsupported, StagePlan
from hwprune.lower.stream_widths import MAX_STREAM_WIDTH, StreamClasses, powers_of_two

__all__ = ["plan_classes", "stage_widths", "classes_of", "with_widths"]


def plan_classes(plan: NetworkPlan) -> tuple[list[int], list[int], int]:
    """Per stage, the class of its input streams and of its output streams, and the number of classes
    (numbered in stage order); the top's ``s_axis`` is stage 0's input class, ``m_axis`` the last
    stage's output class."""
    count = len(plan.stages)
    parent = list(range(2 * count))  # node s: stage s's inputs, node count + s: its outputs

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for s, stage in enumerate(plan.stages):
        if stage.kernel is None:
            parent[find(s)] = find(count + s)
    for src, _, dst, _ in plan.links():
        parent[find(count + src)] = find(dst)
    numbers: dict[int, int] = {}
    ins, outs = [], []
    for s in range(count):
        ins.append(numbers.setdefault(find(s), len(numbers)))
        outs.append(numbers.setdefault(find(count + s), len(numbers)))
    return ins, outs, len(numbers)


def _elements(stage: StagePlan) -> list[int]:
    """The elements per inference on each stream of a stage that is not a kernel (at width 1)."""
    ins = list(stage.merge.in_beats) if stage.merge is not None else [stage.in_beats]
    return [e * stage.width for e in ins] + [stage.out_beats * stage.width]


def stage_widths(stage: StagePlan, limit: int = MAX_STREAM_WIDTH) -> list[int]:
    """The widths a stage that is not a kernel can take: powers of two up to ``limit`` dividing every
    length (and, for a global average, the channels; for a concat, every input's channels) it must cut
    into whole beats; 1 for max and windowed average pooling and the reorder."""
    if stage.kind not in WIDE_STAGE_KINDS:
        return [1]
    counts = _elements(stage)
    if stage.kind == "globalavg" and stage.frame is not None:
        counts.append(stage.frame[0])
    if stage.kind == "concat" and stage.merge is not None:
        counts.extend(stage.merge.chunks)
    return [w for w in powers_of_two(limit) if all(n % w == 0 for n in counts)]


def classes_of(plan: NetworkPlan, kernel_order: Sequence[str], limit: int = MAX_STREAM_WIDTH) -> StreamClasses:
    """The ``StreamClasses`` of a plan built at width 1, kernels indexed as in ``kernel_order`` (names)."""
    ins, outs, count = plan_classes(plan)
    widths = [set(powers_of_two(limit)) for _ in range(count)]
    elements = [0] * count
    at = {stage.name: s for s, stage in enumerate(plan.stages) if stage.kernel is not None}
    for s, stage in enumerate(plan.stages):
        if stage.kernel is None:
            c = ins[s]
            widths[c] &= set(stage_widths(stage, limit))
            elements[c] = max([elements[c]] + _elements(stage))
    return StreamClasses(tuple(ins[at[name]] for name in kernel_order), tuple(outs[at[name]] for name in kernel_order),
                         tuple(tuple(sorted(w)) or (1,) for w in widths), tuple(elements), ins[0], outs[-1],
                         (plan.in_type.bits, plan.out_type.bits))


def _widened(stage: StagePlan, width: int) -> StagePlan:
    if width == stage.width:
        return stage
    if width not in stage_widths(stage, width):
        raise NetworkUnsupported(f"a {stage.kind} stage cannot take {width} elements per beat", node=stage.name)
    elements = _elements(stage)
    merge = stage.merge
    if merge is not None:
        merge = replace(merge, in_beats=tuple(e // width for e in elements[:-1]))
    return replace(stage, width=width, in_beats=elements[0] // width, out_beats=elements[-1] // width, merge=merge)


def with_widths(plan: NetworkPlan) -> NetworkPlan:
    """The plan with every stage that is not a kernel at the width of its class, which the kernels
    around it fix (their ``out_pe`` / input port width; a class no kernel touches stays at 1);
    ``NetworkUnsupported`` when two kernels of one class disagree."""
    ins, outs, count = plan_classes(plan)
    width: dict[int, tuple[int, str]] = {}
    for s, stage in enumerate(plan.stages):
        if stage.kernel is None:
            continue
        for c, w in ((ins[s], stage.in_width), (outs[s], stage.out_width)):
            if c in width and width[c][0] != w:
                raise NetworkUnsupported(f"streams of one width class carry {width[c][0]} elements per beat at "
                                         f"{width[c][1]!r} and {w} at {stage.name!r}")
            width.setdefault(c, (w, stage.name))
    stages = tuple(stage if stage.kernel is not None else _widened(stage, width.get(ins[s], (1, ""))[0])
                   for s, stage in enumerate(plan.stages))
    return replace(plan, stages=stages)

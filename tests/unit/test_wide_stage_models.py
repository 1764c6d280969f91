"""Wide stream stages (``StagePlan.width`` = m elements per beat) on the models alone: the cycle models
count beats of m (rules 13-15: an add of N elements takes N/m steps, a global average H·W·C/m), the
stages that stay one element wide refuse any other width, and the resource model scales the per-lane
datapath with m while width 1 keeps its calibrated figures."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwprune.backends.rtl.avgpool import AveragePoolStage, GlobalAverageStage
from hwprune.backends.rtl.elementwise import HardActivationStage, TableStage
from hwprune.backends.rtl.merge_stages import AddStage, ConcatStage, ForkStage
from hwprune.backends.rtl.network import NetworkTop
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.lower.network_cycles import NetworkTiming, isolated_interval, network_timing, stage_model
from hwprune.lower.network_plan import NetworkPlan
from hwprune.lower.network_resources import glue_breakdown
from hwprune.lower.network_types import MergeSpec, StagePlan
from hwprune.lower.stage_cycles import ElementwiseModel, GlobalAverageModel, MergeModel

U8, S8 = IntType(8, False), IntType(8, True)


def _add(elements: int, width: int) -> StagePlan:
    beats = elements // width
    return StagePlan("add", "add", "stage_add", S8, S8, beats, beats, sources=((0, 0), (0, 1)),
                     merge=MergeSpec((S8, S8), (beats, beats), mults=(3, 5), shift=4), width=width)


@pytest.mark.parametrize("width", [1, 2, 4, 8, 16])
def test_an_add_of_n_elements_takes_n_over_m_cycles(width: int) -> None:
    """16,384 elements (a 16×32×32 map) at width m: 16,384/m steps per vector, each output the cycle
    after its step; the interval falls by m."""
    model = stage_model(_add(16 * 32 * 32, width))
    beats = 16 * 32 * 32 // width
    taken, outs = model.push_ports([[0] * beats, [0] * beats])  # type: ignore[union-attr]
    assert taken[0] == taken[1] == list(range(beats))
    assert outs == [list(range(1, beats + 1))]
    assert isolated_interval(_add(16 * 32 * 32, width)) == beats


def test_a_wide_concat_reads_chunks_in_beats_of_m() -> None:
    """Chunks of 4 and 8 channels at width 4: per pixel 1 beat of input 0, then 2 of input 1."""
    model = MergeModel("concat", (2, 4), chunks=(4, 8), width=4)  # two pixels
    assert model.reads == [[(0, 0)], [(1, 0)], [(1, 1)], [(0, 1)], [(1, 2)], [(1, 3)]]
    taken, outs = model.push_ports([[0, 0], [0] * 4])
    assert taken == [[0, 3], [1, 2, 4, 5]] and outs == [[1, 2, 3, 4, 5, 6]]
    with pytest.raises(ValueError, match="must divide every concat chunk"):
        MergeModel("concat", (2, 4), chunks=(4, 8), width=8)
    with pytest.raises(ValueError, match="positive integer"):
        MergeModel("add", (4, 4), width=0)


def test_a_wide_global_average_puts_out_a_beat_of_m_sums() -> None:
    """C = 8, 3×4 at m = 2: 48 beats a frame, the last pixel's 4 beats each put out 2 channels."""
    model = GlobalAverageModel(8, 3, 4, beat_width=2)
    accepted, outs, _ = model.push([0] * 48)
    assert accepted == list(range(48)) and outs == [45, 46, 47, 48]
    frame = StagePlan("globalavg", "gap", "stage_gap", U8, U8, 48, 4, frame=(8, 3, 4), requant=(3, 5), width=2)
    assert isolated_interval(frame) == 48 and isolated_interval(replace(frame, width=1, in_beats=96, out_beats=8)) == 96
    with pytest.raises(ValueError, match="must divide the 8 channels"):
        GlobalAverageModel(8, 3, 4, beat_width=3)


def test_elementwise_model_counts_beats() -> None:
    stage = StagePlan("hardsigmoid", "hs", "stage_hs", S8, U8, 64, 64, requant=(1, 3, 5), width=4)
    assert isinstance(stage_model(stage), ElementwiseModel)
    plan = NetworkPlan("t", "x", "y", (256,), (256,), (stage,))
    assert network_timing(plan).interval == 64  # 256 elements in beats of 4


def _pool(kind: str, width: int) -> StagePlan:
    window = ConvGeometry(2, 4, 4, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, 2, 2)
    if kind == "reorder":
        return StagePlan(kind, kind, f"stage_{kind}", U8, U8, 32, 32, frame=(2, 4, 4), width=width)
    return StagePlan(kind, kind, f"stage_{kind}", U8, U8, 32, 8, window=window,
                     requant=(1, 2) if kind == "avgpool" else None, width=width)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool", "reorder"])
def test_pooling_and_reorder_refuse_wide_beats(kind: str) -> None:
    stage = _pool(kind, 2)
    with pytest.raises(ValueError, match=f"a {kind} stage takes one element per beat, not width 2"):
        stage_model(stage)
    plan = NetworkPlan("t", "x", "y", (2, 4, 4), (2, 2, 2), (stage,))
    with pytest.raises(ValueError, match="one element per beat"):
        NetworkTop(plan, NetworkTiming(8, ())).elaborate(None)
    stage_model(_pool(kind, 1))  # width 1 as before


def test_stage_constructors_check_the_width() -> None:
    window = ConvGeometry(2, 4, 4, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, 2, 2)
    with pytest.raises(ValueError, match="windowed average pooling stage takes one element per beat"):
        AveragePoolStage(window, U8, U8, 1, 2, width=2)
    with pytest.raises(ValueError, match="must divide the 6 channels"):
        GlobalAverageStage((6, 2, 2), U8, U8, 1, 2, width=4)
    with pytest.raises(ValueError, match="must divide every concat chunk"):
        ConcatStage(MergeSpec((S8, S8), (6, 6), chunks=(2, 4)), S8, width=4)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="width must be a positive integer"):
            AddStage(MergeSpec((S8, S8), (4, 4), mults=(1, 1), shift=1), S8, width=bad)  # type: ignore[arg-type]
    fork = ForkStage(MergeSpec((S8,), (4,), fanout=2), width=4)
    assert len(fork.i0.payload) == len(fork.o1.payload) == 32
    assert len(TableStage(S8, U8, tuple(range(256)), width=2).o.payload) == 16
    assert len(HardActivationStage("hardswish", S8, S8, (1, 2, 3, 4, 5), width=8).i.payload) == 64
    assert AddStage(MergeSpec((S8, S8), (4, 4), mults=(1, 1), shift=1), S8).i0.payload.shape().signed  # width 1


def test_resources_scale_the_lanes_with_the_width() -> None:
    """Per lane: an add's requantiser (DSPs, LUTs) and output register; a global average's adders,
    requantisers and sums (C/m words of m sums: RAM32M16 once 32 words or fewer); width 1 unchanged."""
    narrow = _add(64, 1)
    plan1 = NetworkPlan("t", "x", "y", (64,), (64,), (narrow,))
    plan4 = NetworkPlan("t", "x", "y", (64,), (64,), (_add(64, 4),))
    one, four = glue_breakdown(plan1, 64)["stage_add"], glue_breakdown(plan4, 16)["stage_add"]
    assert (one.dsp, one.lut, one.ff) == (2, 15 + 2 * 8 * 2, 8 + 8)  # the calibrated width-1 figure
    assert (four.dsp, four.lut, four.ff) == (8, (15 + 2 * 8 * 2) * 4, 8 * 4 + 8)  # Yosys: 8, 182, 33
    gap1 = StagePlan("globalavg", "gap", "stage_gap", U8, U8, 64 * 125, 64, frame=(64, 25, 5), requant=(3, 9))
    gap4 = replace(gap1, width=4, in_beats=16 * 125, out_beats=16)
    e1 = glue_breakdown(NetworkPlan("t", "x", "y", (64, 25, 5), (64, 1, 1), (gap1,)), 8000)["stage_gap"]
    e4 = glue_breakdown(NetworkPlan("t", "x", "y", (64, 25, 5), (64, 1, 1), (gap4,)), 2000)["stage_gap"]
    assert (e1.dsp, e1.lut, e1.lutram, e1.ff) == (1, 40, 16, 22)  # DS-CNN's tail, as calibrated
    assert (e4.dsp, e4.lut, e4.lutram, e4.ff) == (4, 136, 32, 44)  # Yosys: 4, 130, 4 RAM32M16, 44

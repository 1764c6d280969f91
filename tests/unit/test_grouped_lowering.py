"""Lowering of grouped and depthwise Conv into the group-serial conv kernel: each filter's row of
K = C/g·kh·kw inputs is packed as it stands (balanced per group), lanes never exceed a group's filters,
the engine's rows are laid out group by group, and the cycle model runs one engine vector per group."""

from __future__ import annotations

import numpy as np
import pytest

from hwprune.ir.types import SparsityPattern
from hwprune.lower.conv_cycles import ConvModel
from hwprune.lower.cycles import EngineTiming
from hwprune.lower.fitting import candidates, layer_interval
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.lower.lowering import lower_node
from hwprune.prune.patterns.base import GroupLayout
from hwprune.sim.vectors import random_spec, spec_graph


def depthwise(c: int = 4) -> ConvGeometry:
    return ConvGeometry(c, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), c, 5, 5)


def test_depthwise_conv_lowers_to_a_grouped_kernel() -> None:
    spec = random_spec(kind="conv", out_features=4, layout=GroupLayout(9, 9, 9), lanes=1, macs_per_lane=1, seed=1,
                       conv=depthwise())
    graph = spec_graph(spec)
    lowered = lower_node(graph, graph.nodes[0], "dw", lanes=8, macs=3)
    assert lowered.kind == "conv" and lowered.conv is not None and lowered.conv.group == 4
    assert lowered.in_features == 9 and lowered.group_outputs == 1 and lowered.lanes == 1
    assert lowered.macs_per_lane == 3 and lowered.passes == 4 and lowered.compute_cycles == 4 * 3
    assert lowered.useful_macs == 4 * 9  # no MAC on a cross-group zero
    np.testing.assert_array_equal(lowered.weights.unpack()[0], spec.weights.unpack()[0])
    assert KernelSpec.from_dict(lowered.to_dict()).to_dict() == lowered.to_dict()


def test_balanced_pattern_applies_per_group_row() -> None:
    """nm 1:3 on the 2·2·2 = 8 inputs of a g = 2 conv's rows: the mask the pattern left is packed as is."""
    g = ConvGeometry(4, 4, 4, (2, 2), (1, 1), (0, 0, 0, 0), (1, 1), 2, 3, 3)
    layout = GroupLayout(8, 3, 1)
    spec = random_spec(kind="conv", out_features=6, layout=layout, lanes=2, macs_per_lane=1, seed=2, conv=g)
    graph = spec_graph(spec)
    weight = graph.tensor("w")
    weight.sparsity = SparsityPattern("nm", 3 / 8, (("group_size", 3), ("kept_per_group", 1), ("m", 3), ("n", 1)))
    weight.mask = spec.weights.unpack()[1].reshape(weight.data.shape)
    lowered = lower_node(graph, graph.nodes[0], "g2", lanes=8, macs=3)
    assert lowered.pattern == "nm" and lowered.layout == layout
    assert lowered.lanes == 3 and lowered.group_passes == 1 and lowered.passes == 2
    np.testing.assert_array_equal(lowered.weights.offsets, spec.weights.offsets)


def test_row_slots_start_every_group_on_a_pass() -> None:
    g = ConvGeometry(4, 4, 4, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 2, 4, 4)
    spec = random_spec(kind="conv", out_features=6, layout=GroupLayout(2, 2, 2), lanes=2, macs_per_lane=1, seed=3,
                       conv=g)
    assert spec.group_passes == 2 and spec.passes == 4
    assert spec.row_slots == [0, 1, 2, 4, 5, 6]
    ungrouped = random_spec(kind="conv", out_features=5, layout=GroupLayout(4, 4, 4), lanes=2, macs_per_lane=1,
                            seed=3, conv=ConvGeometry(4, 4, 4, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, 4, 4))
    assert ungrouped.row_slots == list(range(5)) and ungrouped.passes == 3


def test_lanes_are_clamped_to_a_groups_filters_and_fitting_stays_valid() -> None:
    spec = random_spec(kind="conv", out_features=8, layout=GroupLayout(9, 3, 3), lanes=8, macs_per_lane=1, seed=4,
                       conv=ConvGeometry(4, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4, 5, 5))
    assert spec.lanes == 2  # multiplier 2: two filters per group
    for c in candidates(spec, "xcup"):
        assert c.lanes <= 8 and spec.layout.groups % c.macs_per_lane == 0


def test_cycle_model_runs_one_engine_vector_per_group() -> None:
    g = depthwise(3)
    spec = random_spec(kind="conv", out_features=3, layout=GroupLayout(9, 9, 9), lanes=1, macs_per_lane=1, seed=5,
                       conv=g)
    assert EngineTiming.of(spec) == EngineTiming(9, 1, 1, 9)
    model = ConvModel(spec)
    accepted, outputs, lasts = model.push([0] * (3 * 5 * 5))
    assert len(accepted) == 75 and len(outputs) == 3 * 25 and len(lasts) == 3 * 25
    assert outputs == sorted(outputs) and len(set(outputs)) == len(outputs)


def test_group_must_divide_filters_and_channels() -> None:
    with pytest.raises(ValueError, match="must divide"):
        random_spec(kind="conv", out_features=5, layout=GroupLayout(9, 9, 9), lanes=1, macs_per_lane=1, seed=6,
                    conv=depthwise(4))


@pytest.mark.parametrize("multiplier,lanes,macs", [(1, 1, 1), (1, 1, 3), (2, 1, 1), (2, 2, 3)])
def test_fitter_interval_is_the_cycle_models_frame_interval(multiplier, lanes, macs) -> None:
    """The fitter chooses lanes by ``layer_interval``: for a grouped conv it must be what the cycle
    model gives between back-to-back frames (groups x per-group vector interval per pixel)."""
    g = depthwise(3)
    spec = random_spec(kind="conv", out_features=3 * multiplier, layout=GroupLayout(9, 3, 3), lanes=lanes,
                       macs_per_lane=macs, seed=7, conv=g)
    model = ConvModel(spec)
    frame = [0] * (g.in_channels * g.in_height * g.in_width)
    lasts = [model.push(frame)[1][-1] for _ in range(4)]
    assert layer_interval(spec) == lasts[-1] - lasts[-2]

"""Shared pieces of the average-pooling tests: one-node reference graphs with the requantiser's
integers, stage case files (values from ``run_integer``, cycles from the stage models), and small torch
networks that end in an average pool (the DS-CNN / ResNet tail at toy size)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hwprune.backends.rtl.emit import KERNEL_PORTS
from hwprune.ir.graph import Graph
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.lower.stage_cycles import GlobalAverageModel, PoolModel
from hwprune.quant.reference import run_integer
from hwprune.sim.golden import make_case, source_arrivals, stream_order

from network_cases import frames, one_node_graph, pool_window

nn = torch.nn


def average_graph(window: ConvGeometry | None, frame: tuple[int, int, int], attrs: dict[str, Any],
                  dtype: IntType, requant: tuple[int, int]) -> Graph:
    """AveragePool (``window``) or GlobalAveragePool (``window`` None) of a ``frame`` = (C, H, W)."""
    c, h, w = frame
    attrs = {**attrs, "requant_mult": [requant[0]], "requant_shift": [requant[1]]}
    if window is None:
        return one_node_graph("GlobalAveragePool", attrs, [1, c, h, w], [1, c, 1, 1], dtype)
    return one_node_graph("AveragePool", {**attrs, "count_include_pad": 1}, [1, c, h, w],
                          [1, c, window.out_height, window.out_width], dtype)


def unclamped(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The requantised window sums before saturation (to show a case really saturates)."""
    node = graph.nodes[0]
    mult, shift = int(node.attrs["requant_mult"][0]), int(node.attrs["requant_shift"][0])
    t = torch.as_tensor(x, dtype=torch.float64)
    if node.op == "GlobalAveragePool":
        sums = t.sum(dim=(2, 3))
    else:
        top, left, bottom, right = node.attrs["pads"]
        padded = torch.nn.functional.pad(t, (left, right, top, bottom))
        sums = torch.nn.functional.avg_pool2d(padded, node.attrs["kernel"], node.attrs["strides"],
                                              divisor_override=1)
    sums = sums.round().to(torch.int64).numpy()
    return (sums * mult + (1 << (shift - 1))) >> shift


def stage_case(name: str, spec: tuple, count: int, seed: int) -> tuple[dict[str, Any], Graph, np.ndarray, Any]:
    """(case, reference graph, input frames, window or frame) of one average-stage spec
    ``(channels, height, width, kernel or None, strides, pads, dtype, requant)``."""
    c, h, w, kernel, strides, pads, dtype, requant = spec
    window = pool_window(c, h, w, kernel, strides, pads, False) if kernel is not None else None
    geometry, attrs = window if window is not None else (None, {})
    graph = average_graph(geometry, (c, h, w), attrs, dtype, requant)
    x = frames([c, h, w], dtype, count, seed)
    y = run_integer(graph, {"x": x})["y"]
    beats = stream_order(None, x)  # type: ignore[arg-type]
    model = PoolModel(geometry) if geometry is not None else GlobalAverageModel(c, h, w)
    arrivals, cycles = source_arrivals(model, beats.shape[0], beats.shape[1], seed)
    case = make_case(f"{name}_{seed}", "", KERNEL_PORTS, dtype.bits, dtype.signed, dtype.bits, dtype.signed,
                     beats.reshape(-1), arrivals, y.transpose(0, 2, 3, 1).reshape(-1), cycles, 0.6, seed)
    return case, graph, x, geometry if geometry is not None else (c, h, w)


class PoolThenDense(nn.Module):
    """conv3x3 (same) + ReLU → AvgPool 2×2/2 → Flatten → Linear: unsigned averages, then a reorder."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.pool = nn.AvgPool2d(2, 2)
        self.fc = nn.Linear(3 * 2 * 3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


class GlobalThenDense(nn.Module):
    """conv3x3 (same, no ReLU: signed) → GlobalAveragePool → Flatten → Linear (the DS-CNN tail)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))


class ResidualThenGlobal(nn.Module):
    """conv + ReLU, a residual block (identity shortcut, Add, ReLU), GlobalAveragePool, Linear (ResNet tail)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 3, 3, padding=1)
        self.body = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(x + self.body(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


NETWORKS = {"pool-dense": (PoolThenDense, (2, 4, 6)), "global-dense": (GlobalThenDense, (2, 4, 4)),
            "residual-global": (ResidualThenGlobal, (2, 4, 4))}


def quantized_network(name: str) -> Graph:
    """One of ``NETWORKS`` through the torch import and PTQ (64 seeded calibration frames)."""
    from hwprune.frontend import import_torch
    from hwprune.quant import quantize_graph

    cls, shape = NETWORKS[name]
    torch.manual_seed(0)
    graph = import_torch(cls().eval(), torch.randn(1, *shape), name=name.replace("-", "_"))
    feeds = {graph.inputs[0]: np.random.default_rng(0).normal(size=(64, *shape)).astype(np.float32)}
    return quantize_graph(graph, feeds)

"""Shared pieces of the network-top tests: quantized example graphs, one-node reference graphs for the
stream stages, and stage case files (values from ``run_integer``, cycles from ``stage_cycles``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwprune.backends.rtl.emit import KERNEL_PORTS, to_verilog
from hwprune.backends.rtl.stages import MaxPoolStage, ReorderStage
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.ops import pool_output_hw
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.lower.network_cycles import NetworkModel, NetworkTiming
from hwprune.lower.network_plan import NetworkPlan
from hwprune.lower.stage_cycles import PoolModel, ReorderModel
from hwprune.quant.reference import run_integer
from hwprune.sim.golden import make_case, source_arrivals, stream_order


def quantized(examples_dir: Path, name: str) -> Graph:
    from hwprune.frontend import import_model
    from hwprune.quant import quantize_graph
    from hwprune.quant.calibrate import load_calibration

    graph = import_model(str(examples_dir / name))
    return quantize_graph(graph, load_calibration(str(examples_dir / "calibration.npz"), graph))


def one_node_graph(op: str, attrs: dict[str, Any], in_shape: list[int], out_shape: list[int], dtype: IntType) -> Graph:
    graph = Graph(op.lower(), ["x"], ["y"], {"x": Tensor("x", in_shape, dtype, scale=[1.0]),
                                             "y": Tensor("y", out_shape, dtype, scale=[1.0])},
                  [Node(op.lower(), op, ["x"], ["y"], attrs)])
    graph.verify()
    return graph


def pool_window(channels: int, height: int, width: int, kernel: tuple[int, int], strides: tuple[int, int],
                pads: tuple[int, int, int, int], ceil_mode: bool) -> tuple[ConvGeometry, dict[str, Any]]:
    """The stage geometry and the IR attributes of one max pooling (output size by ONNX's rule)."""
    attrs = {"kernel": list(kernel), "strides": list(strides), "pads": list(pads), "ceil_mode": int(ceil_mode)}
    oh, ow = pool_output_hw([height, width], attrs)
    return ConvGeometry(channels, height, width, kernel, strides, pads, (1, 1), 1, oh, ow), attrs


def frames(shape: list[int], dtype: IntType, count: int, seed: int) -> np.ndarray:
    """All-min, all-max and alternating frames, then random ones ([count + 3, C, H, W])."""
    rng = np.random.default_rng(seed)
    alternating = np.where(np.arange(int(np.prod(shape))).reshape(shape) % 2 == 0, dtype.max, dtype.min)
    edges = [np.full(shape, dtype.min), np.full(shape, dtype.max), alternating]
    random = rng.integers(dtype.min, dtype.max + 1, size=(count, *shape))
    return np.concatenate([np.stack(edges), random]).astype(np.int64)


def pool_case(window: ConvGeometry, attrs: dict[str, Any], dtype: IntType, count: int, seed: int) -> dict[str, Any]:
    """Max-pool stage case: reference through ``run_integer``'s MaxPool, cycles through ``PoolModel``."""
    shape = [window.in_channels, window.in_height, window.in_width]
    graph = one_node_graph("MaxPool", attrs, [1, *shape], [1, window.in_channels, window.out_height,
                                                           window.out_width], dtype)
    x = frames(shape, dtype, count, seed)
    y = run_integer(graph, {"x": x})["y"]
    beats = stream_order(None, x)  # type: ignore[arg-type]
    arrivals, cycles = source_arrivals(PoolModel(window), beats.shape[0], beats.shape[1], seed)
    return make_case(f"maxpool_{seed}", "", KERNEL_PORTS, dtype.bits, dtype.signed, dtype.bits, dtype.signed,
                     beats.reshape(-1), arrivals, y.transpose(0, 2, 3, 1).reshape(-1), cycles, 0.6, seed)


def reorder_case(channels: int, height: int, width: int, dtype: IntType, count: int, seed: int) -> dict[str, Any]:
    """Reorder stage case: the reference is ``run_integer``'s Reshape (ONNX flatten, C·H·W order)."""
    shape = [channels, height, width]
    size = channels * height * width
    graph = one_node_graph("Reshape", {"shape": [1, size]}, [1, *shape], [1, size], dtype)
    x = frames(shape, dtype, count, seed)
    y = run_integer(graph, {"x": x})["y"]
    beats = stream_order(None, x)  # type: ignore[arg-type]
    arrivals, cycles = source_arrivals(ReorderModel(channels, height, width), beats.shape[0], size, seed)
    return make_case(f"reorder_{seed}", "", KERNEL_PORTS, dtype.bits, dtype.signed, dtype.bits, dtype.signed,
                     beats.reshape(-1), arrivals, y.reshape(-1), cycles, 0.6, seed)


def emit_stage(component: MaxPoolStage | ReorderStage, name: str, rtl_dir: Path) -> Path:
    rtl_dir.mkdir(parents=True, exist_ok=True)
    path = rtl_dir / f"{name}.v"
    path.write_text(to_verilog(component, name, f"stage test {name}"), encoding="utf-8")
    return path


def gapped_arrivals(plan: NetworkPlan, timing: NetworkTiming, vectors: int, seed: int) -> list[list[int]]:
    """``s_axis`` arrivals that take turns: two back-to-back vectors, one with random idle cycles
    between beats, one that starts up to two intervals late (after the previous vector went in)."""
    rng = np.random.default_rng(seed)
    model = NetworkModel(plan, timing.interval)
    arrivals: list[list[int]] = []
    free = 0
    for v in range(vectors):
        style = v % 4
        arrival = [0] * plan.in_beats
        if style >= 2:
            cycle = free + (int(rng.integers(1, 2 * timing.interval)) if style == 3 else int(rng.integers(0, 4)))
            for i in range(plan.in_beats):
                arrival[i] = cycle
                cycle += 1 + (int(rng.integers(1, 4)) if style == 2 and rng.random() < 0.3 else 0)
        accepts, _ = model.push(arrival)
        free = accepts[-1] + 1
        arrivals.append(arrival)
    return arrivals


def replay_and_check_network(build: Path) -> dict[str, Any]:
    """Replay a bundle's network case timed and under backpressure, and check the trace independently of
    the testbench's verdict: values, every output beat's cycle and every input accept; returns the case."""
    import json

    from hwprune.sim.golden import read_case
    from hwprune.sim.network import NETWORK_CASE, replay_network

    result = replay_network(build, build / "sim" / NETWORK_CASE, ("timed", "backpressure"))
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]
    case = read_case(build / "sim" / NETWORK_CASE)
    trace = json.loads(result.trace.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert [v for _, v in trace["timed"]["beats"]] == case["expected"]
    assert [c for c, _ in trace["timed"]["beats"]] == case["expected_cycles"]
    assert trace["timed"]["accepts"] == case["expected_accepts"]
    assert [v for _, v in trace["backpressure"]["beats"]] == case["expected"]
    return case

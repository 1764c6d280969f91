"""Fresh inputs through a build's network top (``hwprune sim BUILD --vectors N`` / ``--data FILE.npz``):
N seeded random input vectors, or the user's own samples, with the expected outputs computed now by the
same code path the compile uses for the bundle's network case (``hwprune.sim.network.network_reference``:
the integer reference of the quantized graph, ``ir_quant.json``) and the cycles by the network cycle model
(``network_case``); the replay is judged like the bundle's (``hwprune.sim.bundle.network_report``).

Why only the top: it checks every layer in context, and a layer's own case needs its own stimulus
layout; the bundle's per-layer cases stay what ``hwprune sim`` replays without these options.

``--quick`` replays the first ``QUICK_VECTORS`` vectors of the bundle's own network case the same way.

``--data``: an ``.npz`` in the form ``--eval-data`` reads: ``x`` holds model inputs (floats, the graph
input's per-sample shape or that many values flat), quantized by the build's own input quantizer;
``y`` (optional) integer labels, for the top-1 accuracy of the RTL's outputs (argmax per vector).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hwprune.errors import ConfigError, HwpruneError
from hwprune.ir.graph import Graph
from hwprune.sim.bundle import LayerReport, kernel_specs, network_report
from hwprune.sim.golden import read_case, write_case
from hwprune.sim.network import case_values, load_network, network_case, network_reference, output_values, to_stream

__all__ = ["Replay", "DEFAULT_SEED", "QUICK_VECTORS", "load_data", "random_inputs", "data_inputs", "quick_inputs",
           "replay_inputs", "RUNS_DIR"]

DEFAULT_SEED = 1
RUNS_DIR = "runs"
"""``BUILD/sim/runs/``: the case files of these replays (never the bundle's own ``network.case.json``)."""


@dataclass(frozen=True)
class Replay:
    """A replay's verdict and, with labels, the top-1 accuracy of the RTL's and of the reference's
    outputs (percent; the RTL's is None when the top did not deliver every beat)."""

    report: LayerReport
    labels: int = 0
    rtl_top1: float | None = None
    reference_top1: float | None = None


def _quantized_graph(build_dir: Path) -> Graph:
    path = build_dir / "ir_quant.json"
    if not path.is_file():
        raise HwpruneError("no ir_quant.json: the build's quantized graph gives the expected outputs", file=build_dir)
    return Graph.from_json(path.read_text(encoding="utf-8"))


def random_inputs(build_dir: Path, count: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``count`` uniformly random vectors over the top's input type, in stream order (seeded)."""
    if count < 1:
        raise HwpruneError(f"--vectors must be a positive integer, not {count}")
    plan, _, _ = load_network(build_dir)
    t = plan.in_type
    return np.random.default_rng(seed).integers(t.min, t.max + 1, size=(count, plan.in_values), dtype=np.int64)


QUICK_VECTORS = 8
"""``--quick``: this many vectors of the bundle's network case (its 4 edge vectors first, then random ones)."""


def quick_inputs(build_dir: Path, count: int = QUICK_VECTORS) -> np.ndarray:
    """The first ``count`` input vectors of the bundle's network case (``sim/network.case.json``), for a
    pull request's quick check: the top on the edge vectors and a few random ones, seconds not minutes."""
    from hwprune.sim.network import NETWORK_CASE

    inputs, _ = case_values(read_case(Path(build_dir) / "sim" / NETWORK_CASE))
    return inputs[:count]


def load_data(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(``x`` as float32, ``y`` as int64 or None) of an ``.npz``; a clear error naming the file otherwise."""
    if not path.is_file():
        raise ConfigError("no such file (--data wants an .npz with an array 'x' and optional labels 'y')", file=path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise ConfigError(f"--data needs an array 'x' (and optional labels 'y'), found {archive.files}",
                                  file=path)
            x, y = archive["x"], archive["y"] if "y" in archive.files else None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read --data: {exc}", file=path) from None
    if x.ndim < 2 or x.shape[0] < 1 or not np.issubdtype(x.dtype, np.number):
        raise ConfigError(f"'x' must be numbers, one sample per row, not {x.dtype} of shape {list(x.shape)}",
                          file=path)
    if y is not None and (y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer)):
        raise ConfigError(f"'y' must hold one integer label per sample of 'x' ({x.shape[0]}), "
                          f"not {y.dtype} of shape {list(y.shape)}", file=path)
    if not np.all(np.isfinite(x)):
        raise ConfigError("'x' holds NaN or Inf", file=path)
    return x.astype(np.float32), None if y is None else y.astype(np.int64)


def data_inputs(build_dir: Path, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(stream-order integer inputs of the top, labels) of ``--data``: ``x`` reshaped to the graph
    input's per-sample shape and quantized by the graph (its integer reference up to the top's input)."""
    from hwprune.quant.reference import run_integer

    x, y = load_data(path)
    graph = _quantized_graph(build_dir)
    plan, _, _ = load_network(build_dir)
    sample = list(graph.tensor(graph.inputs[0]).shape[1:])
    if int(np.prod(x.shape[1:])) != int(np.prod(sample)):
        raise ConfigError(f"'x' samples of shape {list(x.shape[1:])} do not fit the model input {sample}", file=path)
    if y is not None and len(plan.output_shape) != 1:
        raise ConfigError(f"labels 'y' need one score per class, but the top's output is {list(plan.output_shape)} "
                          "per vector", file=path)
    feeds = {graph.inputs[0]: x.reshape([x.shape[0], *sample])}
    quantized = run_integer(graph, feeds, keep_all=True)[plan.input_tensor]
    return to_stream(plan, quantized), y


def _top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return round(float(np.mean(np.argmax(scores, axis=1) == labels)) * 100, 4)


def replay_inputs(build_dir: Path, inputs: np.ndarray, tests: Sequence[str], name: str,
                  labels: np.ndarray | None = None, seed: int = DEFAULT_SEED) -> Replay:
    """Replay stream-order ``inputs`` [vectors, values] on the top of ``build_dir`` (case file
    ``sim/runs/<name>.case.json``), expected values from the integer reference now; with ``labels``
    also the top-1 accuracy of the RTL's outputs and of the reference's."""
    build_dir = Path(build_dir).resolve()
    plan, timing, entry = load_network(build_dir)
    expected = network_reference(_quantized_graph(build_dir), plan, inputs)
    case = network_case(plan, timing, inputs, expected, seed=seed, name=f"{plan.top} ({name})")
    runs = build_dir / "sim" / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    path = write_case(case, runs / f"{name}.case.json")
    report = network_report(build_dir, {**entry, "name": plan.top, "case": f"{RUNS_DIR}/{path.name}"}, tests,
                            list(kernel_specs(build_dir).values()))
    if labels is None:
        return Replay(report)
    _, reference = case_values(read_case(path))
    assert reference is not None
    rtl = _rtl_outputs(report, case)
    return Replay(report, len(labels), None if rtl is None else _top1(rtl, labels), _top1(reference, labels))


def _rtl_outputs(report: LayerReport, case: dict) -> np.ndarray | None:
    """[vectors, outputs] the top delivered in the timed replay (None unless it delivered every beat)."""
    if not report.beats_file:
        return None
    beats = json.loads(Path(report.beats_file).read_text(encoding="utf-8")).get("timed", {}).get("beats", [])
    if len(beats) != len(case["expected"]):
        return None
    return output_values([value for _, value in beats], case)

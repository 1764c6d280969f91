"""Run a build's network top (``rtl/<model>_top.v``) in a simulator: golden network cases for the
bundle, and ``simulate_network`` for any caller with integer input vectors (e.g. a driver test that
talks to the simulated design instead of a board).

Why here and not in the testbench: the values come from the integer reference of the whole network
(``hwprune.quant.reference.run_integer`` on the quantized graph) and the cycles from the network cycle
model (``hwprune.lower.network_cycles``); the testbench only replays and compares.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hwprune.lower.network_cycles import NetworkTiming, network_schedule
from hwprune.lower.network_plan import NetworkPlan
from hwprune.lower.network_types import axis_width
from hwprune.sim.golden import make_case, pack_beats, unpack_beats, write_case
from hwprune.sim.rtl_runner import NETWORK_TB_MODULE, SimResult, SimulatorError, build_design, run_case

__all__ = ["NetworkRun", "simulate_network", "load_network", "network_case", "network_reference",
           "network_stimulus", "build_network", "output_values", "replay_network", "to_stream", "case_values",
           "NETWORK_CASE", "SIMULATORS"]

NETWORK_CASE = "network.case.json"
SIMULATORS = ("verilator", "icarus")


@dataclass(frozen=True)
class NetworkRun:
    """What the top delivered: ``outputs[v]`` = the ``m_axis`` values of vector ``v``; ``cycles`` the
    cycle of every output beat (measured), ``predicted_cycles`` the network cycle model's for a
    back-to-back input and an always-ready sink (equal to ``cycles`` in timed mode)."""

    outputs: np.ndarray
    cycles: list[int]
    predicted_cycles: list[int]
    log: Path


def load_network(build_dir: Path) -> tuple[NetworkPlan, NetworkTiming, dict[str, Any]]:
    """The plan, timing and manifest entry of ``build_dir/rtl``'s network top."""
    rtl = Path(build_dir) / "rtl"
    manifest = rtl / "manifest.json"
    entry = json.loads(manifest.read_text(encoding="utf-8")).get("network") if manifest.is_file() else None
    if not entry or not entry.get("top"):
        reason = (entry or {}).get("skipped", "no network top in rtl/manifest.json")
        raise SimulatorError(f"{build_dir}: {reason}")
    description = json.loads((rtl / entry["description"]).read_text(encoding="utf-8"))
    return NetworkPlan.from_dict(description["plan"]), NetworkTiming.from_dict(description["timing"]), entry


def to_stream(plan: NetworkPlan, x: np.ndarray) -> np.ndarray:
    """Tensor batch ([N, K] or [N, C, H, W]) → beats per vector in stream order (H, W, C inner)."""
    x = np.asarray(x, dtype=np.int64)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


def _from_stream(shape: Sequence[int], beats: np.ndarray) -> np.ndarray:
    if len(shape) == 3:
        c, h, w = shape
        return beats.reshape(-1, h, w, c).transpose(0, 3, 1, 2)
    return beats.reshape(-1, *shape)


def network_reference(graph: Any, plan: NetworkPlan, inputs: np.ndarray) -> np.ndarray:
    """Expected ``m_axis`` beats [vectors, out_beats] for stream-order ``inputs``: the integer
    reference of the whole quantized graph, fed at the top's input tensor."""
    from hwprune.quant.reference import run_integer

    x = _from_stream(plan.input_shape, np.asarray(inputs, dtype=np.int64))
    y = run_integer(graph, {plan.input_tensor: x})[plan.output_tensor]
    return to_stream(plan, y)


def network_stimulus(plan: NetworkPlan, count: int, seed: int) -> np.ndarray:
    """``count`` input vectors in stream order: the edge vectors (all zero, all max, all min,
    alternating max/min) first, then random ones."""
    rng = np.random.default_rng(seed)
    t, beats = plan.in_type, plan.in_values
    edges = [np.zeros(beats), np.full(beats, t.max), np.full(beats, t.min),
             np.where(np.arange(beats) % 2 == 0, t.max, t.min)]
    random = rng.integers(t.min, t.max + 1, size=(max(count - len(edges), 0), beats))
    return np.concatenate([np.stack(edges), random]).astype(np.int64)[:count]


def network_case(plan: NetworkPlan, timing: NetworkTiming, inputs: np.ndarray, expected: np.ndarray | None,
                 seed: int = 0, name: str | None = None, ready_probability: float = 0.6,
                 arrivals: Sequence[Sequence[int]] | None = None) -> dict[str, Any]:
    """A case for the top: inputs [vectors, values] (back to back unless ``arrivals`` says when each beat
    is offered), expected values (or None: record only), predicted ``m_axis`` and ``s_axis`` cycles.
    Refuses arrivals for which the model says a FIFO would fill (its cycles would then not be exact).
    A wide port's beats travel as ``tdata`` words of byte lanes (``pack_beats``); the case keeps the
    lane layout (``elements``) and the values per vector so readers get the values back (``case_values``)."""
    from hwprune.backends.rtl.network import AXIS_PORTS

    inputs = np.asarray(inputs, dtype=np.int64)
    if inputs.ndim != 2 or inputs.shape[1] != plan.in_values:
        raise ValueError(f"inputs must be [vectors, {plan.in_values}] in stream order, not {list(inputs.shape)}")
    if arrivals is None:
        arrivals = [[0] * plan.in_beats for _ in range(inputs.shape[0])]
    schedule = network_schedule(plan, timing, arrivals)
    for index, (need, depth) in enumerate(zip(schedule.fifo_needs(), timing.fifo_depths)):
        if need > depth:
            raise ValueError(f"FIFO {index} would need {need} entries for these arrivals (it has {depth})")
    t_in, t_out, w_in, w_out = plan.in_type, plan.out_type, plan.in_width, plan.out_width
    lane_in, lane_out = axis_width(t_in.bits), axis_width(t_out.bits)
    words = pack_beats(inputs, w_in, lane_in)
    flat_expected = None if expected is None else \
        pack_beats(np.asarray(expected, dtype=np.int64).reshape(inputs.shape[0], plan.out_values), w_out, lane_out)
    wide = w_in > 1 or w_out > 1
    layout = {"elements": {"in": [w_in, lane_in if w_in > 1 else t_in.bits, t_in.signed],
                           "out": [w_out, lane_out if w_out > 1 else t_out.bits, t_out.signed]},
              "value_bits": {"in": t_in.bits, "out": t_out.bits},
              "in_values": plan.in_values, "out_values": plan.out_values} if wide else {}
    case = make_case(name or plan.top, plan.top, AXIS_PORTS, w_in * lane_in if w_in > 1 else t_in.bits,
                     t_in.signed and w_in == 1, w_out * lane_out if w_out > 1 else t_out.bits,
                     t_out.signed and w_out == 1, words, [int(c) for vector in arrivals for c in vector],
                     flat_expected if flat_expected is not None else [], schedule.flat_outputs(),
                     ready_probability, seed, vectors=int(inputs.shape[0]), in_beats=plan.in_beats,
                     out_beats=plan.out_beats, expected_accepts=schedule.flat_accepts(),
                     interval=timing.interval, fifo_depths=list(timing.fifo_depths), **layout)
    if flat_expected is None:
        case["expected"] = None
    return case


def _values(words: Sequence[int], case: dict[str, Any], side: str) -> np.ndarray:
    """[vectors, values] of one side of a network case (or of words the top delivered on it)."""
    vectors = int(case["vectors"])
    layout = case.get("elements")
    if layout is None:
        return np.asarray(words, dtype=np.int64).reshape(vectors, -1)
    width, lane, signed = layout[side]
    values = np.asarray(unpack_beats(words, width, lane, signed) if width > 1 else words, dtype=np.int64)
    return values.reshape(vectors, -1)[:, :int(case[f"{side}_values"])]


def case_values(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """(inputs, expected) of a network case as values [vectors, values per vector], whatever the
    ports' widths (a wide port's words unpacked, the last beat's padding dropped)."""
    expected = case.get("expected")
    return _values(case["inputs"], case, "in"), None if expected is None else _values(expected, case, "out")


def output_values(words: Sequence[int], case: dict[str, Any]) -> np.ndarray:
    """[vectors, output values] of the ``m_axis`` words a top delivered for ``case`` (a wide port's
    words unpacked, as ``case_values`` does for the expected ones)."""
    return _values(words, case, "out")


def build_network(build_dir: Path, simulator: str = "verilator", trace: str = "") -> tuple[str, Path]:
    """Compile the top of ``build_dir`` (cached in ``build_dir/sim/obj``); returns (top, object dir).
    ``trace`` (a waveform format) builds a traced model in its own ``obj/<top>-trace``."""
    if simulator not in SIMULATORS:
        raise SimulatorError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    _, _, entry = load_network(build_dir)
    suffix = ("" if simulator == "verilator" else f"-{simulator}") + ("-trace" if trace else "")
    obj = Path(build_dir) / "sim" / "obj" / (entry["top"] + suffix)
    build_design([Path(build_dir) / "rtl" / name for name in entry["verilog"]], entry["top"], obj, simulator, trace)
    return entry["top"], obj


def replay_network(build_dir: Path, case_path: Path, tests: Sequence[str], simulator: str = "verilator",
                   tag: str = "", trace: str = "", waves: Path | None = None) -> SimResult:
    """Build (cached) and replay a network case file with ``hwprune_tb.network_tb`` (on a traced build,
    writing the waveform to ``waves``, with ``trace``)."""
    top, obj = build_network(build_dir, simulator, trace)
    return run_case(case_path, top, obj, tests=tests, simulator=simulator, tag=tag, module=NETWORK_TB_MODULE,
                    waves=waves)


def simulate_network(build_dir: Path, inputs: np.ndarray, backpressure: bool = False,
                     simulator: str = "verilator") -> NetworkRun:
    """Run integer ``inputs`` [vectors, input values] (stream order) through ``build_dir``'s network top,
    back to back; with ``backpressure`` the sink's ``tready`` is random (seeded). Raises
    ``SimulatorError`` if the top did not deliver exactly one packet (``tlast``) per vector."""
    build_dir = Path(build_dir)
    plan, timing, _ = load_network(build_dir)
    inputs = np.asarray(inputs, dtype=np.int64)
    t = plan.in_type
    if inputs.ndim != 2 or inputs.shape[1] != plan.in_values or inputs.shape[0] < 1:
        raise ValueError(f"inputs must be [vectors ≥ 1, {plan.in_values}], not {list(inputs.shape)}")
    if inputs.min() < t.min or inputs.max() > t.max:
        raise ValueError(f"inputs must lie in [{t.min}, {t.max}] ({t})")
    case = network_case(plan, timing, inputs, None, name=f"{plan.top}-run")
    predicted = list(case["expected_cycles"])
    case["expected_cycles"] = case["expected_accepts"] = None  # record only: the caller compares
    runs = build_dir / "sim" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="network-", suffix=".json", dir=runs)
    os.close(handle)
    case_path = write_case(case, Path(name))
    test = "backpressure" if backpressure else "timed"
    result = replay_network(build_dir, case_path, (test,), simulator)
    if not result.passed or result.trace is None:
        raise SimulatorError(f"network {plan.top} ({simulator}, {test}) failed; see {result.log}")
    trace = json.loads(result.trace.read_text(encoding="utf-8"))[test]
    for leftover in (case_path, result.trace, result.results_xml):
        leftover.unlink(missing_ok=True)
    values = _values([value for _, value in trace["beats"]], case, "out")
    return NetworkRun(values, [int(c) for c, _ in trace["beats"]], predicted, result.log)

"""Case files: golden vectors, the source's arrival schedule and the expected output trace.

A case file is what the cocotb testbench (``sim/hwprune_tb/stream_tb.py``) replays and what
``hwprune sim BUILD_DIR`` reruns. Values always come from the integer reference (through
``hwprune.sim.vectors.kernel_reference`` or ``hwprune.quant.reference.run_integer``); cycles from
``hwprune.lower.cycles``. JSON, so users can read, diff and regenerate them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from hwprune.lower.kernel_spec import KernelSpec
from hwprune.sim.vectors import kernel_reference

__all__ = ["CASE_FORMAT", "TimingModel", "source_arrivals", "kernel_case", "write_case", "read_case",
           "mutate_value", "mutate_cycle", "stream_order", "pack_beats", "unpack_beats"]

CASE_FORMAT = "hwprune-sim-case/1"


class TimingModel(Protocol):
    """What the arrival generator needs from a cycle model (``hwprune.lower.cycles.EngineModel``)."""

    @property
    def next_ready(self) -> int: ...

    def push(self, arrival: Sequence[int]) -> tuple[list[int], list[int], list[int]]: ...


def source_arrivals(model: TimingModel, vectors: int, beats: int, seed: int) -> tuple[list[int], list[int]]:
    """A source that mixes back-to-back vectors, vectors with random gaps between beats and vectors
    that start late, so the timed test covers both a compute-bound and an input-bound engine.

    Returns (flat arrival cycles, flat predicted output cycles), pushing every vector into ``model``.
    """
    rng = np.random.default_rng(seed)
    arrivals: list[int] = []
    outputs: list[int] = []
    for v in range(vectors):
        style = v % 4
        if style < 2:
            arrival = [0] * beats
        else:
            cycle = model.next_ready + (int(rng.integers(10, 40)) if style == 3 else int(rng.integers(0, 4)))
            if style == 3:
                arrival = list(range(cycle, cycle + beats))
            else:  # a gap of 1-3 cycles after a beat with probability 0.3 (drawn for every beat, the last too)
                random, integers = rng.random, rng.integers
                gaps = [int(integers(1, 4)) if random() < 0.3 else 0 for _ in range(beats)]
                steps = np.ones(beats, dtype=np.int64)
                steps[0] = cycle
                steps[1:] += np.asarray(gaps[:-1], dtype=np.int64)
                arrival = np.cumsum(steps).tolist()
        _, beats_out, _ = model.push(arrival)
        arrivals.extend(arrival)
        outputs.extend(beats_out)
    return arrivals, outputs


def stream_order(spec: KernelSpec, x: np.ndarray) -> np.ndarray:
    """Flatten kernel inputs ([N, K] or [N, C, H, W]) into beats: feature maps go pixel by pixel
    (H, W), channels inner — the order a streaming line buffer consumes."""
    x = np.asarray(x)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


def kernel_case(spec: KernelSpec, x: np.ndarray, seed: int, name: str | None = None,
                ready_probability: float = 0.6) -> dict[str, Any]:
    """A case for one kernel: inputs ``x`` (batch), reference outputs, arrivals and predicted cycles."""
    from hwprune.backends.rtl.emit import KERNEL_PORTS
    from hwprune.lower.kernel_cycles import kernel_model

    expected = stream_order(spec, kernel_reference(spec, x))
    beats = stream_order(spec, x)
    w_in, w_out = spec.in_port_width, spec.out_pe  # a conv frame arrives one element per beat
    in_beats = -(-beats.shape[1] // w_in)  # a dense vector, or a conv frame
    arrivals, cycles = source_arrivals(kernel_model(spec), beats.shape[0], in_beats, seed)
    # a wide side travels as raw words (pack_beats); the case keeps its element layout for readers
    wide = w_in > 1 or w_out > 1
    layout = {"elements": {"in": [w_in, spec.in_type.bits, spec.in_type.signed],
                           "out": [w_out, spec.out_type.bits, spec.out_type.signed]}} if wide else {}
    t_in, t_out = spec.in_type, spec.out_type
    return make_case(name or spec.ident, spec.ident, KERNEL_PORTS, w_in * t_in.bits, t_in.signed and w_in == 1,
                     w_out * t_out.bits, t_out.signed and w_out == 1, pack_beats(beats, w_in, t_in.bits), arrivals,
                     pack_beats(expected, w_out, t_out.bits), cycles, ready_probability, seed, **layout)


def pack_beats(values: np.ndarray, width: int, bits: int) -> list[int] | np.ndarray:
    """``[vectors, n]`` elements into beats of ``width`` elements, element ``j`` of a beat in bits
    ``[j·bits, (j+1)·bits)`` (two's complement), each vector's last beat zero-filled: the words a wide
    stream carries (``hwprune.backends.rtl.engine.beat_shape``). Python ints: a beat may exceed 64 bits.
    Width 1 has nothing to pack: the values themselves, flat (an array, as cases of millions want)."""
    values = np.asarray(values, dtype=np.int64)
    if width == 1:
        return values.reshape(-1)
    vectors, n = values.shape
    beats = -(-n // width)
    padded = np.zeros((vectors, beats * width), dtype=np.int64)
    padded[:, :n] = values
    fields = (padded & ((1 << bits) - 1)).reshape(vectors * beats, width).tolist()
    return [sum(v << (j * bits) for j, v in enumerate(beat)) for beat in fields]


def unpack_beats(words: Sequence[int], width: int, bits: int, signed: bool) -> list[int]:
    """The elements of ``pack_beats``'s words, in order (padding included)."""
    out = []
    for word in words:
        for j in range(width):
            v = (int(word) >> (j * bits)) & ((1 << bits) - 1)
            out.append(v - (1 << bits) if signed and v >> (bits - 1) else v)
    return out


def make_case(name: str, top: str, ports: dict[str, Any], in_bits: int, in_signed: bool, out_bits: int,
              out_signed: bool, inputs: Sequence[int], arrivals: Sequence[int], expected: Sequence[int],
              cycles: Sequence[int] | None, ready_probability: float, seed: int, **extra: Any) -> dict[str, Any]:
    """Assemble a case dictionary (the JSON schema in one place)."""
    last = max(cycles) if cycles else len(inputs) + len(expected)
    return {
        "format": CASE_FORMAT, "name": name, "top": top,
        "ports": {**ports, "clock": "clk", "reset": "rst"},
        "in_bits": in_bits, "in_signed": in_signed, "out_bits": out_bits, "out_signed": out_signed,
        "inputs": _ints(inputs), "arrivals": _ints(arrivals), "expected": _ints(expected),
        "expected_cycles": _ints(cycles) if cycles is not None else None,
        "max_cycles": int(last / ready_probability * 2) + 2000,
        "backpressure": {"ready_probability": ready_probability, "seed": seed},
        **extra,
    }


def _ints(values: Sequence[int] | np.ndarray) -> list[int]:
    """``[int(v) for v in values]``, without a Python call per element for an array (cases hold millions)."""
    if isinstance(values, np.ndarray):
        return values.astype(np.int64, copy=False).reshape(-1).tolist()
    return list(map(int, values))


def write_case(case: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(case, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_case(path: Path) -> dict[str, Any]:
    case = json.loads(Path(path).read_text(encoding="utf-8"))
    if case.get("format") != CASE_FORMAT:
        raise ValueError(f"{path}: not a {CASE_FORMAT} case file")
    return case


def mutate_value(case: dict[str, Any], index: int) -> dict[str, Any]:
    """A copy with expected value ``index`` changed (a testbench that still passes is broken)."""
    mutated = json.loads(json.dumps(case))
    mutated["expected"][index] += 1 if mutated["expected"][index] < (1 << (case["out_bits"] - 1)) - 1 else -1
    mutated["name"] += f"-mutated-value-{index}"
    return mutated


def mutate_cycle(case: dict[str, Any], index: int, shift: int = 1) -> dict[str, Any]:
    """A copy with the expected cycle of beat ``index`` shifted by ``shift``."""
    mutated = json.loads(json.dumps(case))
    mutated["expected_cycles"][index] += shift
    mutated["name"] += f"-mutated-cycle-{index}"
    return mutated

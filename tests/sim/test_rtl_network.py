"""The chained network top (AXI-Stream) of the example MLP and CNN, and of their 75%-pruned variants
compiled by ``hwprune compile``: bit-exact with the integer reference of the whole network,
cycle-exact (every ``m_axis`` beat and every ``s_axis`` accept) with the network cycle model, and
under random ``m_axis_tready`` nothing lost or duplicated with ``tlast`` right. Plus the
``simulate_network`` entry point, Icarus as a second simulator, and mutations the testbench must
catch. One bundle (one Verilator build) per model serves all its tests in a worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hwprune.cli import main
from hwprune.lower.network_cycles import network_schedule
from hwprune.sim.bundle import write_sim_bundle
from hwprune.sim.golden import mutate_cycle, mutate_value, read_case, write_case
from hwprune.sim.network import (
    NETWORK_CASE,
    load_network,
    network_case,
    network_reference,
    network_stimulus,
    replay_network,
    simulate_network,
)

from network_cases import gapped_arrivals, quantized

pytestmark = pytest.mark.sim

VECTORS = 200


@pytest.fixture(scope="module")
def bundles(examples_dir: Path, sim_root: Path) -> dict[str, tuple[Path, object]]:
    """model → (build directory with rtl/ and sim/, quantized graph); written on first use."""
    cache: dict[str, tuple[Path, object]] = {}

    def get(model: str) -> tuple[Path, object]:
        if model not in cache:
            graph = quantized(examples_dir, f"{model}.onnx")
            build = sim_root / f"network-{model}"
            write_sim_bundle(graph, build, vectors=8, seed=1, source=f"{model}.onnx", network_vectors=VECTORS)
            cache[model] = (build, graph)
        return cache[model]

    return get  # type: ignore[return-value]


def _check_trace(build: Path, case: dict, trace: dict) -> list[int]:
    """Independent of the testbench's own verdict: values, cycles and accepts from the trace."""
    beats = trace["timed"]["beats"]
    assert [v for _, v in beats] == case["expected"]
    measured = [c for c, _ in beats]
    assert measured == case["expected_cycles"]
    assert trace["timed"]["accepts"] == case["expected_accepts"]
    per = case["out_beats"]
    for test in ("timed", "backpressure"):
        lasts = trace[test]["lasts"]
        assert lasts == [int(i % per == per - 1) for i in range(len(case["expected"]))]
    assert [v for _, v in trace["backpressure"]["beats"]] == case["expected"]
    return measured


@pytest.mark.parametrize("model", ["mlp_digits", "cnn_digits"])
def test_network_top_is_bit_and_cycle_exact(model: str, bundles, capsys) -> None:
    build, graph = bundles(model)
    plan, timing, entry = load_network(build)
    case = read_case(build / "sim" / NETWORK_CASE)
    assert case["vectors"] == VECTORS and entry["top"] == f"{model}_top"
    x = np.asarray(case["inputs"]).reshape(VECTORS, plan.in_beats)
    assert case["expected"] == network_reference(graph, plan, x).reshape(-1).tolist()
    start = time.monotonic()
    result = replay_network(build, build / "sim" / NETWORK_CASE, ("timed", "backpressure"))
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]
    measured = _check_trace(build, case, json.loads(result.trace.read_text()))
    # the FIFOs are deep enough for this run: no stage was stalled by a full FIFO
    schedule = network_schedule(plan, timing, [[0] * plan.in_beats] * VECTORS)
    assert all(need <= depth for need, depth in zip(schedule.fifo_needs(), timing.fifo_depths))
    # the pacer sets the steady rate: one vector per interval
    lasts = [measured[(v + 1) * plan.out_beats - 1] for v in range(VECTORS)]
    assert lasts[-1] - lasts[-2] == timing.interval
    with capsys.disabled():
        print(f"\n{model}: {VECTORS} vectors, last beat at cycle {measured[-1]} (model {case['expected_cycles'][-1]}), "
              f"interval {timing.interval}, FIFO depths {list(timing.fifo_depths)}, "
              f"replay {time.monotonic() - start:.1f} s")


def test_gapped_and_late_input_is_cycle_exact(bundles) -> None:
    """Not only back to back: idle cycles inside and between vectors move every beat as the model says."""
    build, graph = bundles("mlp_digits")
    plan, timing, _ = load_network(build)
    x = network_stimulus(plan, 60, seed=9)
    arrivals = gapped_arrivals(plan, timing, 60, seed=9)
    case = network_case(plan, timing, x, network_reference(graph, plan, x), seed=9, name="gapped", arrivals=arrivals)
    assert any(b - a > 1 for vector in arrivals for a, b in zip(vector, vector[1:]))  # idle cycles inside
    result = replay_network(build, write_case(case, build / "sim" / "gapped.case.json"), ("timed", "backpressure"))
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]
    assert json.loads(result.trace.read_text())["timed"]["accepts"] == case["expected_accepts"]


def test_simulate_network_entry_point(bundles) -> None:
    build, graph = bundles("mlp_digits")
    plan, _, _ = load_network(build)
    x = np.random.default_rng(11).integers(plan.in_type.min, plan.in_type.max + 1, size=(30, plan.in_beats))
    expected = network_reference(graph, plan, x)
    run = simulate_network(build, x)
    assert run.outputs.dtype == np.int64 and run.outputs.shape == (30, plan.out_beats)
    assert np.array_equal(run.outputs, expected)
    assert run.cycles == run.predicted_cycles and len(run.cycles) == 30 * plan.out_beats
    assert run.log.is_file()
    pressed = simulate_network(build, x, backpressure=True)
    assert np.array_equal(pressed.outputs, expected)
    assert pressed.cycles[-1] > run.cycles[-1]  # the stalls were real
    with pytest.raises(ValueError, match="inputs must lie in"):
        simulate_network(build, x + 1000)


def test_icarus_runs_the_mlp_top_bit_exact(bundles) -> None:
    build, graph = bundles("mlp_digits")
    plan, _, _ = load_network(build)
    x = np.random.default_rng(5).integers(plan.in_type.min, plan.in_type.max + 1, size=(40, plan.in_beats))
    run = simulate_network(build, x, simulator="icarus")
    assert np.array_equal(run.outputs, network_reference(graph, plan, x))
    assert run.cycles == run.predicted_cycles  # the same cycle convention in both simulators
    assert (build / "sim" / "obj" / f"{plan.top}-icarus").is_dir()


@pytest.mark.parametrize("mutation", ["value-first", "value-last", "cycle+1", "cycle-1"])
def test_network_testbench_catches_mutations(mutation: str, bundles) -> None:
    build, _ = bundles("mlp_digits")
    case = read_case(build / "sim" / NETWORK_CASE)
    if mutation.startswith("value"):
        index = 0 if mutation == "value-first" else len(case["expected"]) - 1
        bad, text = mutate_value(case, index), f"beat {index}: expected"
    else:
        shift = 1 if mutation == "cycle+1" else -1
        bad, text = mutate_cycle(case, 123, shift), "beat 123: model says cycle"
    path = write_case(bad, build / "sim" / f"mutated-{mutation}.json")
    result = replay_network(build, path, ("timed",), tag=mutation)
    assert result.tests == 1 and result.failures > 0
    assert text in result.log.read_text()
    if mutation == "value-last":  # the backpressure replay compares values too
        result = replay_network(build, path, ("backpressure",), tag=mutation + "-bp")
        assert result.tests == 1 and result.failures > 0


def _pruned_cnn(examples_dir: Path, out: Path) -> Path:
    pruned = out / "cnn_pruned.onnx"
    assert main(["prune", str(examples_dir / "cnn_digits.onnx"), "-o", str(pruned), "--pattern",
                 "balanced_stochastic", "--sparsity", "0.75", "--skip", "conv0", "--seed", "3"]) == 0
    return pruned


@pytest.mark.parametrize("model", ["mlp_digits_pruned_qonnx", "cnn_pruned"])
def test_compiled_pruned_network_top(model: str, examples_dir: Path, tmp_path: Path) -> None:
    """``hwprune compile`` (fitted lanes/MACs, 75% balanced sparsity) emits a top that passes."""
    source = _pruned_cnn(examples_dir, tmp_path) if model == "cnn_pruned" else examples_dir / f"{model}.onnx"
    build = tmp_path / "build"
    assert main(["compile", str(source), "-o", str(build), "--calibration", str(examples_dir / "calibration.npz"),
                 "--stop-after", "emit"]) == 0
    kernels = json.loads((build / "kernels.json").read_text())["kernels"]
    assert any(k["layout"]["kept_per_group"] * 4 == k["layout"]["group_size"] for k in kernels)
    case = read_case(build / "sim" / NETWORK_CASE)
    result = replay_network(build, build / "sim" / NETWORK_CASE, ("timed", "backpressure"))
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]
    trace = json.loads(result.trace.read_text())
    assert [c for c, _ in trace["timed"]["beats"]] == case["expected_cycles"]
    assert case["vectors"] >= (VECTORS if model.startswith("mlp") else 50)

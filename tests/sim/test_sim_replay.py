"""``hwprune sim BUILD --vectors N`` and ``--data FILE.npz`` on the digits MLP: fresh inputs through the
network top, expected outputs from the integer reference at that moment; seeded random vectors pass bit-
and cycle-exact; a labelled set prints the RTL's top-1 accuracy, which equals the integer reference's
accuracy computed here; bad data files exit 2 naming the file and the reason."""

from __future__ import annotations

import contextlib
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from hwprune.cli import main
from hwprune.demo import write_digits_eval
from hwprune.evaluate import evaluate_accuracy
from hwprune.ir.graph import Graph
from hwprune.quant.reference import run_integer
from hwprune.sim.golden import read_case
from hwprune.sim.network import case_values, load_network
from sim_builds import copy_build

pytestmark = pytest.mark.sim


def sim(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["sim", *args])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def build(mlp_digits_build: Path) -> Path:
    return copy_build(mlp_digits_build, "replay")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """24 held-out digits with their labels (the split ``--eval-data`` is given in the demo)."""
    with np.load(write_digits_eval(tmp_path_factory.mktemp("digits") / "test.npz")) as split:
        return split["x"][:24], split["y"][:24]


def test_five_seeded_random_vectors_pass_bit_and_cycle_exact(build: Path) -> None:
    bundle = (build / "sim" / "network.case.json").read_bytes()
    report = build / "replay.xml"
    code, out = sim(str(build), "--vectors", "5", "--junit-xml", str(report))
    assert code == 0, out
    assert "network: 5 vectors (random, seed 1): bit-exact and cycle-exact" in out
    assert "/fc0/Gemm" not in out  # the network top only
    case = read_case(build / "sim" / "runs" / "random-5-seed1.case.json")
    inputs, expected = case_values(case)
    plan, _, _ = load_network(build)
    assert inputs.shape == (5, 64) and inputs.min() >= plan.in_type.min and inputs.max() <= plan.in_type.max
    qgraph = Graph.from_json((build / "ir_quant.json").read_text())
    assert np.array_equal(expected, run_integer(qgraph, {plan.input_tensor: inputs})[plan.output_tensor])
    assert len(case["expected_cycles"]) == 5 * plan.out_beats
    cases = {c.get("name"): c.find("failure") for c in ET.parse(report).getroot().iter("testcase")}
    assert cases == {"network top timed": None, "network top backpressure": None}
    assert (build / "sim" / "network.case.json").read_bytes() == bundle  # the bundle's own case untouched
    code, out = sim(str(build), "--vectors", "5", "--seed", "7", "--no-backpressure")
    assert code == 0 and "(random, seed 7): bit-exact and cycle-exact" in out, out
    other, _ = case_values(read_case(build / "sim" / "runs" / "random-5-seed7.case.json"))
    assert not np.array_equal(other, inputs)


def test_labelled_data_prints_the_rtl_accuracy_equal_to_the_integer_references(
        build: Path, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, y = digits
    path = tmp_path / "digits24.npz"
    np.savez(path, x=x, y=y)
    graph = Graph.from_json((build / "ir.json").read_text())
    qgraph = Graph.from_json((build / "ir_quant.json").read_text())
    reference = evaluate_accuracy(graph, qgraph, x, y)["integer_top1"]
    assert 50 < reference < 100  # a real figure, not a trivial one
    code, out = sim(str(build), "--data", str(path))
    assert code == 0, out
    assert f"network: 24 vectors ({path}): bit-exact and cycle-exact" in out
    assert f"RTL top-1 accuracy: {reference:.2f}% on 24 labelled vectors (integer reference: {reference:.2f}%)" in out
    inputs, _ = case_values(read_case(build / "sim" / "runs" / "data-digits24.case.json"))
    plan, _, _ = load_network(build)
    quantized = run_integer(qgraph, {qgraph.inputs[0]: x}, keep_all=True)[plan.input_tensor]
    assert np.array_equal(inputs, quantized)  # the user's samples, through the build's own quantizer
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, x=x[:6].reshape(6, 1, 8, 8))  # the image shape fits too
    code, out = sim(str(build), "--data", str(unlabelled), "--no-backpressure")
    assert code == 0 and "network: 6 vectors" in out and "accuracy" not in out, out


@pytest.mark.parametrize(("arrays", "reason"), [
    ({"x": np.zeros((4, 60), np.float32)}, "'x' samples of shape [60] do not fit the model input [64]"),
    ({"inputs": np.zeros((4, 64), np.float32)}, "--data needs an array 'x' (and optional labels 'y'), found ['inputs']"),
    ({"x": np.zeros((4, 64), np.float32), "y": np.zeros(3, np.int64)},
     "'y' must hold one integer label per sample of 'x' (4), not int64 of shape [3]"),
    (None, "no such file (--data wants an .npz with an array 'x' and optional labels 'y')"),
])
def test_bad_data_exits_2_naming_the_file_and_the_reason(build: Path, tmp_path: Path, arrays: dict | None,
                                                         reason: str) -> None:
    path = tmp_path / "bad.npz"
    if arrays is not None:
        np.savez(path, **arrays)
    code, out = sim(str(build), "--data", str(path))
    assert code == 2
    assert f"hwprune: error: {path}: {reason}" in out


def test_vectors_and_data_together_or_zero_vectors_are_usage_errors(build: Path, tmp_path: Path) -> None:
    code, out = sim(str(build), "--vectors", "3", "--data", str(tmp_path / "x.npz"))
    assert code == 2 and "give one of them" in out
    code, out = sim(str(build), "--vectors", "0")
    assert code == 2 and "--vectors" in out
    code, out = sim(str(build), "--hls", "--vectors", "3")
    assert code == 2 and "without --hls or --trace" in out


def test_quick_replays_the_first_vectors_of_the_bundles_network_case_without_backpressure(build: Path) -> None:
    report = build / "quick.xml"
    code, out = sim(str(build), "--quick", "--junit-xml", str(report))
    assert code == 0, out
    assert "network: 8 vectors (quick, from sim/network.case.json): bit-exact and cycle-exact" in out
    assert "/fc0/Gemm" not in out
    bundle_inputs, bundle_expected = case_values(read_case(build / "sim" / "network.case.json"))
    inputs, expected = case_values(read_case(build / "sim" / "runs" / "quick.case.json"))
    assert np.array_equal(inputs, bundle_inputs[:8]) and np.array_equal(expected, bundle_expected[:8])
    assert [c.get("name") for c in ET.parse(report).getroot().iter("testcase")] == ["network top timed"]
    code, out = sim(str(build), "--quick", "--vectors", "3")
    assert code == 2 and "give one of them" in out


def test_layers_replayed_in_parallel_report_in_order_against_the_right_layer(mlp_digits_build: Path) -> None:
    from hwprune.sim.golden import mutate_value, write_case

    build = copy_build(mlp_digits_build, "parallel")
    path = build / "sim" / "fc1_Gemm.case.json"
    write_case(mutate_value(read_case(path), 5), path)
    report = build / "parallel.xml"
    code, out = sim(str(build), "-j", "3", "--no-backpressure", "--junit-xml", str(report))
    assert code == 1, out
    rows = [line.split()[0] for line in out.splitlines()[1:5]]
    assert rows == ["/fc0/Gemm", "/fc1/Gemm", "/fc2/Gemm", "network"]
    assert "first mismatch: /fc1/Gemm (timed): value differs at vector 1" in out
    cases = {c.get("name"): c.find("failure") is not None for c in ET.parse(report).getroot().iter("testcase")}
    assert cases == {"layer /fc0/Gemm rtl": False, "layer /fc1/Gemm rtl": True, "layer /fc2/Gemm rtl": False,
                     "network top timed": False}

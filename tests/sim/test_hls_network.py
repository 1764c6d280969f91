"""Network-level HLS C-sim: the example MLP and CNN (quantized, unpruned) bit-exact vs run_integer.

The whole digits test split (360 images) runs through one testbench binary per model. Each test
checks the testbench's verdict and, independently, the outputs it wrote against the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.hls import write_hls
from hwprune.datasets import as_images
from hwprune.lower.lowering import lower_graph
from hwprune.quant import run_integer
from hwprune.sim.csim import run_csim, to_stream, write_network_vectors

from hls_models import quantized

pytestmark = pytest.mark.sim


def _inputs(model: str, digits) -> np.ndarray:
    return as_images(digits.x_test) if model.startswith("cnn") else digits.x_test


@pytest.mark.parametrize("model", ["mlp_digits", "cnn_digits"])
def test_network_csim_bit_exact(model: str, digits, tmp_path: Path) -> None:
    graph = quantized(model)
    project = write_hls(lower_graph(graph), graph, "zcu102", tmp_path / "hls")
    assert project.project == model and project.mode == "network"
    x = _inputs(model, digits)
    assert write_network_vectors(project.root, graph, x) == len(x) >= 100
    result = run_csim(project.root)
    assert result.passed, result.summary() + "\n" + "\n".join(result.failures)
    top = result.tops[model]
    assert top.vectors == len(x) and top.failing == 0
    expected = to_stream(run_integer(graph, {graph.inputs[0]: x})[graph.outputs[0]])
    np.testing.assert_array_equal(top.actual, expected)
    accuracy = float((top.actual.argmax(axis=1) == digits.y_test).mean())
    assert accuracy > 0.9  # the C-sim is the int8 network, not a broken one that matches a broken reference


def test_cnn_csim_with_ap_int_roms(digits, tmp_path: Path) -> None:
    """C-sim with the weight ROMs declared as synthesis declares them (ap_int arrays), not host ints."""
    graph = quantized("cnn_digits")
    project = write_hls(lower_graph(graph), graph, "kv260", tmp_path / "hls")
    write_network_vectors(project.root, graph, as_images(digits.x_test[:120]))
    result = run_csim(project.root, defines=["HWPRUNE_AP_ROMS"])
    assert result.passed and result.tops["cnn_digits"].vectors == 120, result.summary()

"""The example MLP and CNN, quantized and lowered: every layer's emitted RTL passes `hwprune sim`
(bit-exact with the integer reference, cycle-exact with the cycle model, and under backpressure),
layer by layer and as the chained network top (the "network" line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwprune.cli import main
from hwprune.sim.bundle import write_sim_bundle

pytestmark = pytest.mark.sim


def quantized(examples_dir: Path, name: str):
    from hwprune.frontend import import_model
    from hwprune.quant import quantize_graph
    from hwprune.quant.calibrate import load_calibration

    graph = import_model(str(examples_dir / name))
    return quantize_graph(graph, load_calibration(str(examples_dir / "calibration.npz"), graph))


@pytest.mark.parametrize("model", ["mlp_digits.onnx", "cnn_digits.onnx"])
def test_example_layers_pass_hwprune_sim(model: str, examples_dir: Path, sim_root: Path, capsys) -> None:
    build = sim_root / f"bundle-{model.split('.')[0]}"
    sim_dir = write_sim_bundle(quantized(examples_dir, model), build, vectors=40, seed=1, source=model)
    assert (sim_dir / "manifest.json").is_file() and (build / "rtl" / "manifest.json").is_file()
    assert main(["sim", str(build)]) == 0
    out = capsys.readouterr().out
    assert "bit-exact and cycle-exact" in out and "NO" not in out and "MISMATCH" not in out
    assert out.count(" yes ") == 4  # three layers and the network top
    assert f"top {model.split('.')[0]}_top" in out and "all 3 layers and the network" in out


def test_sim_on_a_directory_without_bundle_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert main(["sim", str(tmp_path)]) == 2
    assert "sim/manifest.json" in capsys.readouterr().err

"""Models pruned at 75% with balanced patterns go through `hwprune compile` and pass `hwprune sim`
(RTL: every layer bit- and cycle-exact; HLS: the network bit-exact) with nothing typed in between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwprune.cli import main
from hwprune.lower.fitting import pe_utilisation
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.sim.network import load_network

pytestmark = pytest.mark.sim


def _compile_and_simulate(model: Path, build: Path, calibration: Path, capsys) -> dict:
    # 28 random + 4 edge vectors per layer: enough to exercise every lane and pass (the default 200 cost
    # most of the test's time in cocotb)
    assert main(["compile", str(model), "-o", str(build), "--calibration", str(calibration),
                 "--vectors", "28", "--no-estimate"]) == 0
    kernels = json.loads((build / "kernels.json").read_text())["kernels"]
    assert main(["sim", str(build), "--no-backpressure"]) == 0
    out = capsys.readouterr().out
    assert "bit-exact and cycle-exact" in out and "MISMATCH" not in out
    # the network line's PE utilisation: useful MACs per inference over (multipliers × the interval
    # measured between inferences in the RTL trace), which must be the network cycle model's interval
    _, timing, _ = load_network(build)
    network = next(line.split() for line in out.splitlines() if line.startswith("network "))
    expected = pe_utilisation([KernelSpec.from_dict(k) for k in kernels], timing.interval)
    assert 0 < expected <= 1 and network[4] == f"{expected:.3f}", (network, expected)
    assert main(["sim", str(build), "--hls"]) == 0
    assert "vectors bit-exact" in capsys.readouterr().out
    return {k["name"]: k for k in kernels}


def test_pruned_qat_mlp_compiles_and_simulates(examples_dir: Path, tmp_path: Path, capsys) -> None:
    kernels = _compile_and_simulate(examples_dir / "mlp_digits_pruned_qonnx.onnx", tmp_path / "mlp",
                                    examples_dir / "calibration.npz", capsys)
    for kernel in kernels.values():
        assert kernel["layout"]["kept_per_group"] * 4 == kernel["layout"]["group_size"]  # 75% balanced


def test_cnn_pruned_with_balanced_stochastic_compiles_and_simulates(examples_dir: Path, tmp_path: Path, capsys) -> None:
    pruned = tmp_path / "cnn_pruned.onnx"
    assert main(["prune", str(examples_dir / "cnn_digits.onnx"), "-o", str(pruned), "--pattern",
                 "balanced_stochastic", "--sparsity", "0.75", "--skip", "conv0", "--seed", "3"]) == 0
    kernels = _compile_and_simulate(pruned, tmp_path / "cnn", examples_dir / "calibration.npz", capsys)
    patterned = [k for k in kernels.values() if k["pattern"] != "dense"]
    assert len(patterned) == 2  # conv1 and fc; conv0 skipped (9 inputs per filter)
    for kernel in patterned:
        assert kernel["layout"]["kept_per_group"] * 4 == kernel["layout"]["group_size"]

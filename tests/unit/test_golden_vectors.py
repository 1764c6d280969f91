"""``hwprune compile --vectors N`` (``CompileConfig.vectors``): how many golden vectors a build's testbenches
replay. The default (200) keeps the builds of the bundled examples as they were (tools/golden_builds.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwprune.cli import main
from hwprune.config import CompileConfig
from hwprune.errors import ConfigError


@pytest.mark.parametrize("bad", [-1, 100_001, 2.0, True, "8"])
def test_vectors_must_be_a_small_non_negative_integer(bad) -> None:
    with pytest.raises(ConfigError, match=r"vectors must be an integer in 0\.\.100000, not "):
        CompileConfig(vectors=bad)


def test_vectors_sets_every_golden_set(examples_dir: Path, tmp_path: Path, capsys) -> None:
    build = tmp_path / "mlp"
    assert main(["compile", str(examples_dir / "mlp_digits.onnx"), "--no-estimate", "--vectors", "2",
                 "--stop-after", "report", "-o", str(build)]) == 0
    sim = build / "sim"
    manifest = json.loads((sim / "manifest.json").read_text())
    for entry in manifest["kernels"]:  # 2 random vectors + the 4 edge vectors
        assert json.loads((sim / entry["case"]).read_text())["vectors"] == 6, entry["name"]
    assert json.loads((sim / manifest["network"]["case"]).read_text())["vectors"] == 6  # min(8, 2 + 4)
    assert json.loads((build / "report.json").read_text())["emitted"]["hls"] == "hls/ (6 golden vectors)"
    capsys.readouterr()
    assert main(["compile", str(examples_dir / "mlp_digits.onnx"), "--vectors", "-1", "-o", str(build)]) == 2
    assert "vectors must be an integer in 0..100000, not -1" in capsys.readouterr().err


def test_sim_no_layers_refuses_a_build_without_a_network_case(tmp_path: Path, capsys) -> None:
    build = tmp_path / "build"
    (build / "sim").mkdir(parents=True)
    (build / "sim" / "manifest.json").write_text(json.dumps({"kernels": [], "network": {"skipped": "no top"}}))
    assert main(["sim", str(build), "--no-layers"]) == 2
    assert "--no-layers leaves nothing to replay (network: no top)" in capsys.readouterr().err

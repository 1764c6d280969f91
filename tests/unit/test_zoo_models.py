"""examples/zoo/build_zoo.py: the same command writes the same bytes, and the architectures defined
from torchvision's layer lists have exactly torchvision's parameter counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "examples" / "zoo"


def _build(out: Path, models: str) -> None:
    subprocess.run([sys.executable, str(ZOO / "build_zoo.py"), "--out", str(out), "--models", models],
                   check=True, capture_output=True)


def test_build_zoo_is_byte_identical(tmp_path: Path) -> None:
    _build(tmp_path / "a", "jet_mlp")
    _build(tmp_path / "b", "jet_mlp")
    for name in ("jet_mlp.onnx", "calibration.npz"):
        assert (tmp_path / "a" / "jet_mlp" / name).read_bytes() == (tmp_path / "b" / "jet_mlp" / name).read_bytes()
    x = np.load(tmp_path / "a" / "jet_mlp" / "calibration.npz")["x"]
    assert x.shape == (64, 16) and x.dtype == np.float32


def test_torchvision_architectures_match_published_parameter_counts() -> None:
    sys.path.insert(0, str(ZOO))
    try:
        from torchvision_arch import MobileNetV2, ResNet18
    finally:
        sys.path.remove(str(ZOO))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # torchvision's documented num_params of resnet18 and mobilenet_v2 (1000 classes)
    assert count(ResNet18(1000)) == 11_689_512
    assert count(MobileNetV2(1000)) == 3_504_872

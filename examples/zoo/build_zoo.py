"""Build the model zoo: public reference architectures as ONNX files with seeded random weights.

Run: ``python examples/zoo/build_zoo.py [--out DIR] [--models a,b]`` (default ``build/zoo``, every
model). Each model gets ``DIR/<name>/<name>.onnx`` (opset 17, batch 1, eval mode, input ``x``, output
``y``) and ``DIR/<name>/calibration.npz`` (key ``x``, 64 seeded samples), so that
``hwprune compile DIR/<name>/<name>.onnx`` finds its calibration set beside it. Why seeded random
weights: the zoo measures hardware (MACs, cycles, resources), which depends on the shapes, not on
trained values; BatchNorm gets non-trivial statistics so that its folding is exercised as in a trained
model. The same command writes byte-identical files. Sources: ``examples/zoo/README.md``.
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "bench"))

from _models import CALIBRATION_SAMPLES, fc_autoencoder, jet_mlp  # noqa: E402
from mlperf_tiny import ds_cnn, mobilenet_v1_025, resnet8  # noqa: E402
from torchvision_arch import MobileNetV2, ResNet18  # noqa: E402

OPSET = 17  # as the bundled examples (examples/train_digits.py)


@dataclass(frozen=True)
class ZooModel:
    """One entry: how to build it, its per-sample input shape, and how its calibration data is drawn."""

    build: Callable[[], nn.Module]
    shape: tuple[int, ...]
    data: str  # "uniform": images in [0, 1); "normal": standardised features (MFCCs, jet features, spectra)
    residual: bool  # has residual Adds (fork and add stages in the network top)
    summary: str


ZOO: dict[str, ZooModel] = {
    "jet_mlp": ZooModel(jet_mlp, (16,), "normal", False, "hls4ml jet tagging MLP 16-64-32-32-5"),
    "fc_autoencoder": ZooModel(fc_autoencoder, (640,), "normal", False,
                               "MLPerf Tiny anomaly detection FC autoencoder 640-128x4-8-128x4-640"),
    "ds_cnn": ZooModel(ds_cnn, (1, 49, 10), "normal", False, "MLPerf Tiny keyword spotting DS-CNN, 49x10x1"),
    "mobilenet_v1_025": ZooModel(mobilenet_v1_025, (3, 96, 96), "uniform", False,
                                 "MLPerf Tiny visual wake words MobileNetV1 0.25, 96x96x3"),
    "resnet8": ZooModel(resnet8, (3, 32, 32), "uniform", True, "MLPerf Tiny image classification ResNet-8, 32x32x3"),
    "mobilenet_v2": ZooModel(MobileNetV2, (3, 32, 32), "normal", True, "torchvision MobileNetV2, 32x32x3, 10 classes"),
    "resnet18": ZooModel(ResNet18, (3, 64, 64), "normal", True, "torchvision ResNet-18, 64x64x3, 10 classes"),
}


def randomise_batchnorm(model: nn.Module) -> None:
    """BatchNorm statistics and affine terms in the ranges bench/_models.py uses (as a trained model has)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` with a fixed zip timestamp: numpy stamps each member with the current time, which
    would make two builds differ in bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())


def calibration(entry: ZooModel, seed: int) -> np.ndarray:
    """64 seeded samples of the model's input shape."""
    rng = np.random.default_rng(seed)
    shape = (CALIBRATION_SAMPLES, *entry.shape)
    x = rng.random(shape) if entry.data == "uniform" else rng.standard_normal(shape)
    return x.astype(np.float32)


def write_zoo_model(name: str, out: Path, seed: int = 0) -> Path:
    """``out/<name>/<name>.onnx`` and ``out/<name>/calibration.npz``; returns the ONNX path."""
    entry = ZOO[name]
    torch.manual_seed(seed)
    model = entry.build()
    randomise_batchnorm(model)
    model.eval()
    directory = out / name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        torch.onnx.export(model, (torch.zeros(1, *entry.shape),), str(path), input_names=["x"], output_names=["y"],
                          opset_version=OPSET, dynamo=False)
    save_npz(directory / "calibration.npz", x=calibration(entry, seed))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "zoo")
    parser.add_argument("--models", default=",".join(ZOO), help=f"comma-separated, of: {', '.join(ZOO)}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(ZOO)}")
    for name in names:
        print(f"{name:18s} {write_zoo_model(name, args.out, args.seed)}  ({ZOO[name].summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

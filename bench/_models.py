"""Public reference architectures rebuilt from their published layer lists, with seeded random weights.

Why here: benchmarks must run offline, so the models are defined from their papers' shapes, not
downloaded. Each ``write_*`` writes ``<name>.onnx`` and a ``calibration.npz`` of 64 seeded samples into
a directory, ready for ``hwprune compile``.

- ``jet_mlp``: the hls4ml jet-tagging MLP, 16-64-32-32-5 with ReLU (Duarte et al., JINST 13 P07027, 2018).
- ``fc_autoencoder``: the MLPerf Tiny anomaly-detection FC autoencoder, 640-128x4-8-128x4-640, each hidden
  Dense followed by BatchNorm and ReLU (MLPerf Tiny v0.5 reference, ToyADMOS).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["jet_mlp", "fc_autoencoder", "write_model", "MODELS"]

CALIBRATION_SAMPLES = 64


def jet_mlp() -> nn.Module:
    layers: list[nn.Module] = []
    sizes = [16, 64, 32, 32]
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(32, 5))


def fc_autoencoder() -> nn.Module:
    sizes = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(128, 640))


MODELS = {"jet_mlp": (jet_mlp, 16), "fc_autoencoder": (fc_autoencoder, 640)}
"""Name -> (builder, input width)."""


def write_model(name: str, directory: Path, seed: int = 0) -> Path:
    """``directory/<name>.onnx`` (float, batch 1) and ``directory/calibration.npz`` (key ``x``)."""
    build, width = MODELS[name]
    torch.manual_seed(seed)
    model = build()
    with torch.no_grad():  # BatchNorm with non-trivial statistics, as a trained model has
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    model.eval()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    torch.onnx.export(model, torch.zeros(1, width), str(path), input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False)
    x = np.random.default_rng(seed).standard_normal((CALIBRATION_SAMPLES, width)).astype(np.float32)
    np.savez(directory / "calibration.npz", x=x)
    return path

"""A mini DS-CNN (depthwise 3x3 + ReLU, pointwise 1x1 + ReLU, flatten, Linear), built with torch in the
test, goes through ``hwprune compile --board zcu102`` and passes ``hwprune sim``: every layer (the
depthwise one a group-serial grouped kernel) bit- and cycle-exact, and the network top, which streams
the depthwise-separable chain like any other chain of kernels; the HLS project bit-exact too. The
analytic model's DSPs and LUTRAM of the depthwise kernel are checked against Yosys's estimate."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hwprune.cli import main
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.resource_model import kernel_resources

pytestmark = pytest.mark.sim


class MiniDSCNN(nn.Module):
    """DS-CNN's building block at toy size: 4 x 6 x 6 input, depthwise 3x3 (same), pointwise to 8."""

    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.pw = nn.Conv2d(4, 8, 1)
        self.fc = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.pw(torch.relu(self.dw(x))))
        return self.fc(torch.flatten(x, 1))


def _export(directory: Path) -> Path:
    torch.manual_seed(0)
    model = MiniDSCNN().eval()
    path = directory / "dscnn.onnx"
    example = torch.rand(1, 4, 6, 6)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    rng = np.random.default_rng(0)
    np.savez(directory / "calibration.npz", input=rng.random((64, 4, 6, 6), dtype=np.float32))
    return path


def test_mini_dscnn_compiles_and_simulates(tmp_path: Path, capsys) -> None:
    model = _export(tmp_path)
    build = tmp_path / "build"
    # 12 random vectors + 4 edge vectors per layer (the default 200 cost two minutes of cocotb here)
    assert main(["compile", str(model), "--board", "zcu102", "--vectors", "12", "-o", str(build)]) == 0
    kernels = [KernelSpec.from_dict(k) for k in json.loads((build / "kernels.json").read_text())["kernels"]]
    depthwise = next(k for k in kernels if k.conv is not None and k.conv.group > 1)
    assert depthwise.conv.group == 4 and depthwise.in_features == 9 and depthwise.group_outputs == 1  # type: ignore[union-attr]
    assert depthwise.lanes == 1  # lanes never exceed a group's filters
    manifest = json.loads((build / "rtl" / "manifest.json").read_text())
    assert "skipped" not in manifest["network"], manifest["network"]
    capsys.readouterr()
    assert main(["sim", str(build)]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and "all 3 layers and the network: bit-exact and cycle-exact" in out, out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("/", "network "))}
    for name in [k.name for k in kernels] + ["network"]:
        measured, predicted = rows[name][3].split("/")
        assert rows[name][2] == "yes" and measured == predicted, rows[name]
    # the depthwise layer takes its windows as window beats (one channel's 3x3 per beat): its case runs
    # faster than the one-element generator's C·kh·kw = 36 beats per pixel, 36 pixels a frame, allow
    vectors, last = int(rows[depthwise.name][1]), int(rows[depthwise.name][3].split("/")[0])
    assert depthwise.in_simd == 9 and last < 36 * 36 * vectors, (vectors, last)
    assert main(["sim", str(build), "--hls"]) == 0
    assert "vectors bit-exact" in capsys.readouterr().out
    # the analytic model against Yosys on every kernel, as for the bundled examples: DSPs and LUTRAM exact
    # (the depthwise row buffer, 96 x 8 bits, is three RAM32M16 in both)
    layers = json.loads((build / "estimate.json").read_text())["yosys"]["layers"]
    for spec in kernels:
        analytic = kernel_resources(spec, "xcup")
        assert (analytic.lutram, analytic.dsp) == (layers[spec.name]["lutram"], layers[spec.name]["dsp"]), spec.name

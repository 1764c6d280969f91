"""Sigmoid and Tanh as table stages (``hwprune.quant.tables``): the table is the function rounded once
per input code, and a torch-built conv → Sigmoid → conv → Tanh → Flatten → Linear network goes through
``hwprune compile`` and passes ``hwprune sim`` (every layer and the network top, bit- and cycle-exact,
with backpressure) and the HLS C-sim (bit-exact)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hwprune.cli import main
from hwprune.ir.types import IntType
from hwprune.quant.tables import activation_table, table_output

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("op,function", [("Sigmoid", lambda x: 1 / (1 + np.exp(-x))), ("Tanh", np.tanh)])
@pytest.mark.parametrize("in_type,scale", [(IntType(8, True), 0.05), (IntType(8, False), 0.02),
                                           (IntType(4, True), 0.5)])
def test_table_is_the_function_rounded_once(op, function, in_type: IntType, scale: float) -> None:
    out_type, out_scale = table_output(op, 8)
    table = np.array(activation_table(op, in_type, scale, out_type, out_scale))
    codes = np.arange(in_type.min, in_type.max + 1)
    assert table.shape == (1 << in_type.bits,)
    assert np.all(np.diff(table) >= 0)  # both functions rise
    error = np.abs(table * out_scale - function(codes * scale))
    assert error.max() <= 0.5 * out_scale + 1e-12, error.max()  # no error but the output's rounding
    assert out_type.min <= table.min() and table.max() <= out_type.max


class TableNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv2(torch.sigmoid(self.conv1(x))))
        return self.fc(torch.flatten(x, 1))


def test_sigmoid_and_tanh_network_compiles_and_simulates(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    model, path = TableNet().eval(), tmp_path / "tables.onnx"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        torch.onnx.export(model, (torch.rand(1, 1, 6, 6),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["y"],
                          dynamic_axes={"input": {0: "batch"}, "y": {0: "batch"}})
    np.savez(tmp_path / "calibration.npz", input=np.random.default_rng(0).random((32, 1, 6, 6), dtype=np.float32))
    build = tmp_path / "build"
    assert main(["compile", str(path), "--calibration", str(tmp_path / "calibration.npz"), "--no-estimate",
                 "--vectors", "12", "-o", str(build)]) == 0
    stages = json.loads((build / "rtl" / "network.json").read_text())["plan"]["stages"]
    tables = [s for s in stages if s["kind"] == "lut"]
    assert len(tables) == 2 and all(len(s["requant"]) == 256 for s in tables), [s["kind"] for s in stages]
    assert tables[0]["out_type"]["signed"] is False and tables[1]["out_type"]["signed"] is True
    capsys.readouterr()
    assert main(["sim", str(build)]) == 0
    out = capsys.readouterr().out
    assert "all 3 layers and the network: bit-exact and cycle-exact" in out and "MISMATCH" not in out, out
    assert main(["sim", str(build), "--hls"]) == 0
    assert "vectors bit-exact" in capsys.readouterr().out
    assert "hwprune::lookup<" in next((build / "hls" / "firmware").glob("*.cpp")).read_text()

"""QKeras models go through the same `hwprune compile` pipeline as ONNX files; the MLP's RTL passes
Verilator bit- and cycle-exact and its HLS C++ passes g++ C-simulation bit-exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwprune.cli import main
from hwprune.frontend.keras import model_digest
from keras_cases import MODELS

pytestmark = pytest.mark.sim


def test_qkeras_mlp_compiles_and_passes_rtl_and_hls_simulation(tmp_path: Path, capsys, digits) -> None:
    build = tmp_path / "mlp"  # an absolute path: `hwprune sim` runs cocotb in another directory
    eval_data = tmp_path / "test.npz"
    np.savez(eval_data, x=digits.x_test, y=digits.y_test)
    args = ["compile", str(MODELS["mlp"]), "-o", str(build), "--no-estimate", "--eval-data", str(eval_data)]
    assert main(args) == 0
    report = json.loads((build / "report.json").read_text())
    assert report["source"] == {"file": "qkeras_mlp_digits.h5", "sha256": model_digest(MODELS["mlp"])}
    assert report["accuracy"]["integer_top1"] == pytest.approx(97.5)  # = QKeras's own 97.50 %
    kernels = json.loads((build / "kernels.json").read_text())["kernels"]
    assert [k["name"] for k in kernels] == ["fc0/Gemm", "fc1/Gemm", "fc2/Gemm"]
    capsys.readouterr()
    assert main(["sim", str(build), "--no-backpressure"]) == 0
    out = capsys.readouterr().out
    assert "all 3 layers and the network: bit-exact and cycle-exact" in out and "MISMATCH" not in out
    assert main(["sim", str(build), "--hls"]) == 0
    assert "32/32 vectors bit-exact" in capsys.readouterr().out


def test_qkeras_cnn_compiles_through_emit(tmp_path: Path) -> None:
    build = tmp_path / "cnn"
    assert main(["compile", str(MODELS["cnn"]), "-o", str(build), "--stop-after", "emit"]) == 0
    kernels = json.loads((build / "kernels.json").read_text())["kernels"]
    assert [k["name"] for k in kernels] == ["conv0/Conv", "conv1/Conv", "fc/Gemm"]
    verilog = sorted(p.name for p in (build / "rtl").glob("*.v"))
    assert verilog == ["conv0_Conv.v", "conv1_Conv.v", "fc_Gemm.v", "qkeras_cnn_digits_top.v"]  # + network top
    assert (build / "hls").is_dir()


def test_savedmodel_directory_compiles(tmp_path: Path, keras_model) -> None:
    saved = tmp_path / "mlp_savedmodel"
    keras_model("mlp").save(saved, save_format="tf")
    (tmp_path / "calibration.npz").write_bytes((MODELS["mlp"].parent / "calibration.npz").read_bytes())
    build = tmp_path / "build"
    assert main(["compile", str(saved), "-o", str(build), "--no-estimate"]) == 0
    report = json.loads((build / "report.json").read_text())
    assert report["source"] == {"file": "mlp_savedmodel", "sha256": model_digest(saved)}
    # same integer IR as the .h5 it was saved from
    reference = tmp_path / "from_h5"
    assert main(["compile", str(MODELS["mlp"]), "-o", str(reference), "--stop-after", "quantize"]) == 0
    ours, theirs = (json.loads((d / "ir_quant.json").read_text()) for d in (build, reference))
    ours.pop("source", None), theirs.pop("source", None)
    assert ours == theirs

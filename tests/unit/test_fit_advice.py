"""A model that does not fit gets one actionable error (exit 2): the resource over budget with what it
needs and what is available, the smallest bundled board that holds it, and the balanced sparsity at
which it fits the board asked for; and both suggestions are true (the fitter accepts them)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwprune.boards import load_board
from hwprune.cli import main
from hwprune.lower.fitting import FitError, fit_kernels

from test_analytic import make_spec

WIDTH = 1024


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A Dense 1024→1024 float model (8 Mbit of 8-bit weights: over a PYNQ-Z2's BRAM) and calibration."""
    path = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(5)
    weight = rng.standard_normal((WIDTH, WIDTH)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc0", transB=1),
         helper.make_node("Relu", ["h"], ["y"], name="relu0")],
        "wide", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(weight, "w"),
                     numpy_helper.from_array(np.zeros(WIDTH, dtype=np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(onnx.shape_inference.infer_shapes(model), path / "wide.onnx")
    np.savez(path / "calibration.npz", x=rng.standard_normal((16, WIDTH)).astype(np.float32))
    return path / "wide.onnx", path / "calibration.npz"


def _compile(model: Path, calibration: Path, out: Path, board: str) -> int:
    return main(["compile", str(model), "-o", str(out), "--board", board, "--calibration", str(calibration),
                 "--no-estimate", "--stop-after", "lower"])


def test_too_big_for_the_board_says_what_would_fit(wide: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    model, calibration = wide
    assert _compile(model, calibration, tmp_path / "pynq", "pynq-z2") == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hwprune: error:"), err
    over = re.search(r"over on BRAM18 \(needs (\d+), available (\d+)\)", err)
    assert over and int(over.group(1)) > int(over.group(2)) == 224, err  # 0.8 × 2 × 140 BRAM36
    board = re.search(r"it fits board '([\w-]+)' as it is \(the smallest bundled board that holds it\)", err)
    sparsity = re.search(r"on 'pynq-z2' it fits pruned to sparsity ([\d.]+) \(\d+ of every (\d+) weights kept: "
                         r"hwprune prune -p balanced_stochastic -s [\d.]+(?: --param group_size=\d+)?\)", err)
    assert board and sparsity, err
    assert not (tmp_path / "pynq").exists()  # nothing published
    # the suggested board holds the model as it is
    assert _compile(model, calibration, tmp_path / "board", board.group(1)) == 0
    # ... and the smaller boards do not (it is the smallest)
    assert board.group(1) == "zcu104" and _compile(model, calibration, tmp_path / "kv", "kv260") == 2
    capsys.readouterr()
    # pruned at the suggested sparsity, it fits the board asked for
    pruned = tmp_path / "pruned.onnx"
    size = int(sparsity.group(2))
    assert main(["prune", str(model), "-o", str(pruned), "-p", "balanced_stochastic", "-s", sparsity.group(1),
                 "--param", f"group_size={size}"]) == 0
    assert float(sparsity.group(1)) == 0.75
    assert _compile(pruned, calibration, tmp_path / "pruned", "pynq-z2") == 0


def test_nothing_bundled_holds_it() -> None:
    """A layer too big for every bundled board and every tried sparsity says so, and names the way out."""
    specs = [make_spec(out=512, k_in=512, group=64, kept=64, lanes=8, macs=8, acc_bits=26)]
    with pytest.raises(FitError) as info:
        fit_kernels(specs, load_board("ultra96v2"), 0.001)  # a budget of 0.36 DSPs, 0.43 BRAM18
    message = str(info.value)
    assert "over on DSP (needs 2, available 0), BRAM18 (needs" in message
    assert "no bundled board holds it as it is" in message
    assert "no balanced sparsity up to 0.9375 makes it fit 'ultra96v2': use fewer bits or a bigger board" in message


def test_margin_advice_is_kept_for_small_overruns() -> None:
    """Over only because of the margin: the max_util hint stays, the board and sparsity hints follow."""
    specs = [make_spec(out=256, k_in=512, group=8, kept=8, lanes=8, macs=8, acc_bits=22)]
    with pytest.raises(FitError) as info:
        fit_kernels(specs, load_board("pynq-z2"), 0.05)
    message = str(info.value)
    assert re.search(r"it would fit with max_util 0\.\d+", message)
    # the other boards are judged at the same margin: 64 BRAM18 needs zcu102's 1824 × 0.05
    assert "it fits board 'zcu102' as it is" in message
    assert re.search(r"on 'pynq-z2' it fits pruned to sparsity 0\.[\d]+", message)

"""A model whose input widths are not multiples of the group size (Dense 10→6→3, 3:4) goes through
``hwprune prune`` → ``hwprune compile`` → ``hwprune sim``: every layer bit- and cycle-exact in RTL and
the network bit-exact in HLS, with the short last groups packed by the short-group rule (all real
inputs kept, the free MAC slots filled with padded positions of weight 0)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwprune.cli import main
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.prune.patterns import GroupLayout

pytestmark = pytest.mark.sim


def _mlp(path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(11)
    inits = {"w0": rng.standard_normal((6, 10)), "b0": rng.standard_normal(6) * 0.1,
             "w1": rng.standard_normal((3, 6)), "b1": rng.standard_normal(3) * 0.1}
    nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["h0"], name="fc0", transB=1),
             helper.make_node("Relu", ["h0"], ["r0"], name="relu0"),
             helper.make_node("Gemm", ["r0", "w1", "b1"], ["y"], name="fc1", transB=1)]
    graph = helper.make_graph(
        nodes, "short_groups", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(onnx.shape_inference.infer_shapes(model), path / "mlp.onnx")
    np.savez(path / "calibration.npz", x=rng.standard_normal((64, 10)).astype(np.float32))
    return path / "mlp.onnx", path / "calibration.npz"


def test_short_last_groups_simulate_bit_and_cycle_exact(tmp_path: Path, capsys) -> None:
    model, calibration = _mlp(tmp_path)
    pruned = tmp_path / "mlp_3of4.onnx"
    # 25% → N = 3 of M = 4: K = 10 and K = 6 both end in a group of 2 real inputs (< 3)
    assert main(["prune", str(model), "-o", str(pruned), "-p", "nm", "--param", "m=4", "-s", "0.25"]) == 0
    build = tmp_path / "build"
    assert main(["compile", str(pruned), "-o", str(build), "--calibration", str(calibration),
                 "--no-estimate"]) == 0
    kernels = json.loads((build / "kernels.json").read_text())["kernels"]
    layouts = [GroupLayout.from_dict(k["layout"]) for k in kernels]
    assert layouts == [GroupLayout(10, 4, 3), GroupLayout(6, 4, 3)]
    for kernel, layout in zip(kernels, layouts):
        spec = KernelSpec.from_dict(kernel)
        offsets = spec.weights.offsets
        assert (offsets[:, -1] == [0, 1, 2]).all() and (spec.weights.values[:, -1, 2] == 0).all()  # 2 real positions + the first padded one
        assert kernel["cycles"]["cycles_per_pass"] == layout.groups // kernel["macs_per_lane"] * 3
    capsys.readouterr()
    assert main(["sim", str(build), "--no-backpressure"]) == 0
    out = capsys.readouterr().out
    assert "bit-exact and cycle-exact" in out and "MISMATCH" not in out
    assert main(["sim", str(build), "--hls"]) == 0
    assert "vectors bit-exact" in capsys.readouterr().out

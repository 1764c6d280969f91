"""Every pattern on every layer shape: K = 1, 3, 5, 10, 27 (a 3×3×3 conv), K smaller than a group.

The short-group rule (docs/patterns.md, "Padding"): a last group of ``r < k`` real inputs keeps all
``r``; the packer fills its other MAC slots with padded positions (weight 0, input 0), so the layout
``GroupLayout(K, S, k)`` and its cycle count are those of any other group. Checked here: each
pattern's own invariant, the independent per-group counts, the reported density, the IR annotation,
packing, detection on re-import, and that ``hwprune prune`` → ``hwprune compile`` lowers and emits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from hwprune.cli import main
from hwprune.prune.detect import detect_pattern
from hwprune.prune.patterns import GroupLayout, as_matrix, get_pattern, pack_balanced

SHAPES = [(6, 1), (6, 3), (6, 5), (6, 10), (5, 3, 3, 3), (4, 1, 1, 1), (5, 3, 1, 1), (3, 2, 1, 3)]
PATTERNS = [("nm", {"m": 4}), ("nm", {"m": 8}), ("bank_balanced", {}), ("bank_balanced", {"banks": 3}),
            ("balanced_stochastic", {}), ("balanced_stochastic", {"group_size": 4, "p": "inf"}),
            ("block_punched", {}), ("block_punched", {"balanced": True}), ("channel", {}),
            ("unstructured", {}), ("dense", {})]


def expected_counts(layout: GroupLayout) -> np.ndarray:
    """Per-group kept counts by the short-group rule, computed without the library."""
    last = layout.in_features - (layout.groups - 1) * layout.group_size
    return np.array([layout.kept_per_group] * (layout.groups - 1) + [min(layout.kept_per_group, last)])


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name,params", PATTERNS, ids=lambda v: str(v))
@pytest.mark.parametrize("sparsity", [0.25, 0.5, 0.75])
def test_every_pattern_on_every_shape(name: str, params: dict, shape: tuple[int, ...], sparsity: float) -> None:
    pattern = get_pattern(name, **params)
    s = 0.0 if name == "dense" else sparsity
    w = torch.randn(shape, generator=torch.Generator().manual_seed(math.prod(shape)))
    try:
        mask = pattern.mask(w, s, seed=3).numpy()
    except Exception as exc:  # only a target finer than the user's own group size may be refused
        assert "cannot reach sparsity" in str(exc) and (1 - s) * params.get("m", params.get("group_size", 8)) < 0.5
        return
    assert mask.shape == shape and mask.dtype == bool and mask.any()
    pattern.check(mask)
    np.testing.assert_array_equal(pattern.mask(w, s, seed=3).numpy(), mask)  # deterministic
    layout = pattern.layout(shape, s)
    meta = pattern.metadata_bits_per_kept_weight(shape, s)
    assert math.isfinite(meta) and meta >= 0
    if layout is None:
        return
    matrix = as_matrix(mask)
    groups = np.pad(matrix, ((0, 0), (0, layout.padded_features - layout.in_features)))
    counts = groups.reshape(shape[0], layout.groups, layout.group_size).sum(axis=2)
    np.testing.assert_array_equal(counts, np.broadcast_to(expected_counts(layout), counts.shape))
    assert 1 <= layout.kept_per_group <= min(layout.group_size, layout.in_features)
    # density counts real kept weights only (padding is never stored)
    assert mask.mean() == pytest.approx(layout.real_kept_per_row / layout.in_features)
    ir = pattern.to_ir(float(mask.mean()), shape)
    assert (ir.param("group_size"), ir.param("kept_per_group")) == (layout.group_size, layout.kept_per_group)
    packed = pack_balanced(as_matrix(w.numpy()), matrix, layout)
    assert packed.values.shape == (shape[0], layout.groups, layout.kept_per_group)
    dense, back = packed.unpack()
    np.testing.assert_array_equal(back, matrix)
    np.testing.assert_array_equal(dense, np.where(matrix, as_matrix(w.numpy()), 0))
    # the filled slots of a short last group are padded positions holding weight 0, in increasing order
    assert (np.diff(packed.offsets, axis=2) > 0).all()
    padded_slot = (layout.groups - 1) * layout.group_size + packed.offsets[:, -1] >= layout.in_features
    assert (packed.values[:, -1][padded_slot] == 0).all()
    assert padded_slot.sum(axis=1).tolist() == [layout.kept_per_group - expected_counts(layout)[-1]] * shape[0]
    # a model pruned elsewhere: detection finds an exact layout the packer accepts (or none, if dense)
    found = detect_pattern(np.where(mask, w.numpy() + np.sign(w.numpy()) * 0.01, 0))
    if found is not None:
        pack_balanced(as_matrix(w.numpy()), matrix, found.layout)


def test_short_last_group_keeps_its_real_inputs() -> None:
    """2:4 on K = 9: groups of 4, 4 and 1; the last group keeps its one input plus one padded slot."""
    w = torch.arange(1.0, 10.0).repeat(2, 1)
    pattern = get_pattern("nm", m=4)
    mask = pattern.mask(w, 0.5).numpy()
    assert mask[0].tolist() == [False, False, True, True, False, False, True, True, True]
    layout = pattern.layout((2, 9), 0.5)
    assert layout == GroupLayout(9, 4, 2) and layout.real_kept_per_row == 5 and layout.kept_per_row == 6
    packed = pack_balanced(w.numpy(), mask, layout)
    assert packed.offsets[0].tolist() == [[2, 3], [2, 3], [0, 1]] and packed.values[0, 2].tolist() == [9.0, 0.0]
    # 3x3x3 conv, groups of 8 at 75%: 2 of 8 kept, the last group has 3 real inputs (enough);
    # a 5x5 kernel on one channel leaves the 25th input alone in its group: it keeps 1 real + 1 padded
    conv = get_pattern("balanced_stochastic").layout((4, 3, 3, 3), 0.75)
    assert conv == GroupLayout(27, 8, 2) and conv.real_kept_per_row == 8
    conv = get_pattern("balanced_stochastic").layout((4, 1, 5, 5), 0.75)
    assert conv == GroupLayout(25, 8, 2) and conv.real_kept_per_row == 7 and conv.kept_per_row == 8
    # narrower than one group: K = 3 with m = 4 is one padded group keeping 2 of the 3 inputs
    assert get_pattern("nm", m=4).layout((6, 3), 0.5) == GroupLayout(3, 4, 2)
    assert get_pattern("nm", m=4).layout((6, 1), 0.5) == GroupLayout(1, 4, 1)


def _model(path: Path, conv: bool) -> Path:
    """A float ONNX model with awkward K: Dense 5→6→3, or Conv 3→4 (3×3, K = 27) → 1×1 Conv → Gemm."""
    rng = np.random.default_rng(7)
    if conv:
        inits = {"w0": rng.standard_normal((4, 3, 3, 3)), "b0": rng.standard_normal(4),
                 "w1": rng.standard_normal((5, 4, 1, 1)), "b1": rng.standard_normal(5),
                 "w2": rng.standard_normal((3, 5 * 4 * 4)), "b2": rng.standard_normal(3)}
        nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["h0"], name="conv0", kernel_shape=[3, 3]),
                 helper.make_node("Relu", ["h0"], ["r0"], name="relu0"),
                 helper.make_node("Conv", ["r0", "w1", "b1"], ["h1"], name="conv1", kernel_shape=[1, 1]),
                 helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
                 helper.make_node("Flatten", ["r1"], ["f"], name="flatten"),
                 helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc", transB=1)]
        x = [1, 3, 6, 6]
    else:
        inits = {"w0": rng.standard_normal((6, 5)), "b0": rng.standard_normal(6),
                 "w1": rng.standard_normal((3, 6)), "b1": rng.standard_normal(3)}
        nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["h0"], name="fc0", transB=1),
                 helper.make_node("Relu", ["h0"], ["r0"], name="relu0"),
                 helper.make_node("Gemm", ["r0", "w1", "b1"], ["y"], name="fc1", transB=1)]
        x = [1, 5]
    graph = helper.make_graph(
        nodes, "shapes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(onnx.shape_inference.infer_shapes(model), path / "model.onnx")
    np.savez(path / "calibration.npz", x=rng.standard_normal((32, *x[1:])).astype(np.float32))
    return path / "model.onnx"


@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv"])
@pytest.mark.parametrize("name,params", [p for p in PATTERNS if p[0] not in ("dense",)], ids=lambda v: str(v))
def test_prune_then_compile_on_awkward_shapes(tmp_path: Path, conv: bool, name: str, params: dict) -> None:
    model = _model(tmp_path, conv)
    pruned = tmp_path / "pruned.onnx"
    args = [f"--param={k}={v}" for k, v in params.items()]
    assert main(["prune", str(model), "-o", str(pruned), "-p", name, "-s", "0.5", *args]) == 0
    build = tmp_path / "build"
    stop = "emit" if name == "nm" and params["m"] == 4 else "lower"
    assert main(["compile", str(pruned), "-o", str(build), "--calibration", str(tmp_path / "calibration.npz"),
                 "--no-estimate", "--stop-after", stop]) == 0
    kernels = json.loads((build / "kernels.json").read_text())["kernels"]
    assert len(kernels) == (3 if conv else 2)
    for kernel in kernels:
        layout = GroupLayout.from_dict(kernel["layout"])
        assert layout.groups % kernel["macs_per_lane"] == 0
        assert kernel["cycles"]["cycles_per_pass"] == layout.groups // kernel["macs_per_lane"] * layout.kept_per_group
    if stop == "emit":
        assert any((build / "rtl").iterdir())

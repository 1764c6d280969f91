"""User mistakes the frontend must report as one clear ``HwpruneError`` that starts with the file."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from onnx.external_data_helper import convert_model_to_external_data

import onnx_builders as ob
from hwprune.errors import GraphError, HwpruneError, ModelLoadError, UnsupportedOpError
from hwprune.frontend import import_onnx, import_torch, supported_ops
from hwprune.frontend.onnx_loader import load_onnx_bytes


def import_error(path: Path, kind: type[HwpruneError] = HwpruneError) -> HwpruneError:
    """Import ``path``, assert it fails with ``kind`` and the message starts with the path."""
    with pytest.raises(HwpruneError) as info:
        import_onnx(path)
    err = info.value
    assert isinstance(err, kind), repr(err)
    assert str(err).startswith(str(path)), str(err)
    assert err.file == str(path)
    return err


def f32(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


# ---- files that are not (whole) ONNX models --------------------------------------------------------------
def test_text_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("This is a README, not a model.\nline two\n")
    assert "not a valid ONNX model" in import_error(path, ModelLoadError).reason


def test_truncated_file(tmp_path, examples_dir):
    raw = (examples_dir / "mlp_digits.onnx").read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(raw[: len(raw) // 2])
    assert "truncated or not ONNX" in import_error(path, ModelLoadError).reason


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    assert "file is empty" in import_error(path, ModelLoadError).reason


def test_missing_file(tmp_path):
    assert import_error(tmp_path / "nope.onnx", ModelLoadError).reason == "file not found"


def test_directory(tmp_path):
    assert "is a directory" in import_error(tmp_path, ModelLoadError).reason


def test_bytes_in_memory_are_named_by_the_given_source():
    with pytest.raises(ModelLoadError) as info:
        load_onnx_bytes(b"\x00\xff garbage", "upload.onnx")
    assert str(info.value).startswith("upload.onnx: ")


def test_external_data_is_rejected(tmp_path):
    model = ob.single_op("MatMul", ["N", 64], f32(64, 64))
    convert_model_to_external_data(model, location="ext.bin", size_threshold=0)
    onnx.save(model, tmp_path / "ext.onnx")
    assert "external data" in import_error(tmp_path / "ext.onnx", ModelLoadError).reason


def test_old_opset_is_named(tmp_path):
    model = ob.single_op("Relu", ["N", 4], opset=11)
    err = import_error(ob.save(model, tmp_path), ModelLoadError)
    assert "opset 11" in err.reason and "13" in err.reason


# ---- unsupported ops: the node, the op type and the list of supported ops --------------------------------
def _lstm() -> onnx.ModelProto:
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="rnn_layer", hidden_size=3)
    return ob.make_model([node], {"x": [2, 1, 4]}, {"W": f32(1, 12, 4), "R": f32(1, 12, 3)})


def _softsign() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="first"),
             helper.make_node("Softsign", ["h"], ["y"], name="encoder.act7")]
    return ob.make_model(nodes, {"x": ["N", 4]})


@pytest.mark.parametrize("build,node,op", [(_softsign, "encoder.act7", "Softsign"), (_lstm, "rnn_layer", "LSTM")])
def test_unsupported_op_names_node_op_and_supported_list(build, node, op, tmp_path):
    path = ob.save(build(), tmp_path)
    err = import_error(path, UnsupportedOpError)
    message = str(err)
    assert f"node {node!r} ({op})" in message
    assert f"op type {op} is not supported" in message
    assert message.endswith("supported: " + ", ".join(supported_ops()))
    assert (err.node, err.op) == (node, op)
    assert {"Conv", "Gemm", "MatMul", "Relu"} <= set(supported_ops()) and op not in supported_ops()


def test_unnamed_node_gets_a_positional_name(tmp_path):
    model = ob.make_model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Softsign", ["h"], ["y"])],
                          {"x": ["N", 4]})
    assert import_error(ob.save(model, tmp_path), UnsupportedOpError).node == "Softsign_1"


def test_custom_domain_op_is_named(tmp_path):
    node = helper.make_node("Frob", ["x"], ["y"], name="custom0", domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    model.ir_version = 9
    err = import_error(ob.save(model, tmp_path), UnsupportedOpError)
    assert "domain 'com.example'" in err.reason and err.node == "custom0"


# ---- supported ops in variants hwprune cannot represent ---------------------------------------------------
def _two(op: str, a: list, b: list, **attrs: object) -> Callable[[], onnx.ModelProto]:
    return lambda: ob.two_input_op(op, a, b, **attrs)


def _one(op: str, shape: list, *consts: np.ndarray | None, **attrs: object) -> Callable[[], onnx.ModelProto]:
    return lambda: ob.single_op(op, shape, *consts, **attrs)


def _dropout_mask() -> onnx.ModelProto:
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"], name="dropout0"),
             helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["y", "m"], ["z"])]
    return ob.make_model(nodes, {"x": ["N", 4]}, outputs=("z",))


def _bn_training() -> onnx.ModelProto:
    node = helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y", "", ""], name="bn0",
                            training_mode=1)
    return ob.make_model([node], {"x": ["N", 2]}, {k: np.ones(2, np.float32) for k in "gbmv"})


def _int_input() -> onnx.ModelProto:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.INT8, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, ["N", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


VARIANTS: dict[str, tuple[Callable[[], onnx.ModelProto], type[HwpruneError], str | None, str]] = {
    "conv1d": (_one("Conv", ["N", 2, 8], f32(3, 2, 3)), UnsupportedOpError, "conv0",
               "only 2-D convolution (NCHW input) is supported, input is [1, 2, 8]"),
    "conv3d": (_one("Conv", ["N", 1, 4, 4, 4], f32(2, 1, 2, 2, 2)), UnsupportedOpError, "conv0", "only 2-D"),
    "conv-weight-activation": (_two("Conv", ["N", 2, 5, 5], [3, 2, 3, 3]), UnsupportedOpError, "conv0",
                               "the weight must be a constant"),
    "conv-same-dilated": (_one("Conv", ["N", 1, 9, 9], f32(2, 1, 3, 3), auto_pad="SAME_UPPER", dilations=[2, 2]),
                          UnsupportedOpError, "conv0", "auto_pad SAME_UPPER with dilations [2, 2] is not supported"),
    "clip-min-not-scalar": (_one("Clip", ["N", 4], f32(4)), UnsupportedOpError, "clip0", "must be a scalar"),
    "flatten-axis2": (_one("Flatten", ["N", 3, 4, 5], axis=2), UnsupportedOpError, "flatten0",
                      "Flatten axis 2 would merge"),
    "flatten-axis0": (_one("Flatten", ["N", 3, 4], axis=0), UnsupportedOpError, "flatten0", "only axis 1"),
    "gemm-b-activation": (_two("Gemm", ["N", 4], [4, 3]), UnsupportedOpError, "gemm0", "B must be a constant"),
    "gemm-transA": (_one("Gemm", [4, 2], f32(4, 3), transA=1), UnsupportedOpError, "gemm0", "transA=1"),
    "gemm-bias-per-row": (_one("Gemm", [3, 4], f32(4, 3), f32(3, 1)), UnsupportedOpError, "gemm0",
                          "varies along the batch axis"),
    "matmul-1d-weight": (_one("MatMul", ["N", 4], f32(4)), UnsupportedOpError, "matmul0", "must be 2-D"),
    "matmul-const-left": (lambda: ob.single_op("MatMul", ["N", 4], f32(3, 1), const_first=True),
                          UnsupportedOpError, "matmul0", "constant left operand"),
    "reshape-moves-batch": (_one("Reshape", ["N", 4, 6], np.array([4, -1], np.int64)), UnsupportedOpError,
                            "reshape0", "moves the batch axis"),
    "reshape-shape-activation": (_two("Reshape", ["N", 4, 6], [2]), UnsupportedOpError, "reshape0",
                                 "target shape must be a constant"),
    "transpose-moves-batch": (_one("Transpose", ["N", 4, 6], perm=[1, 0, 2]), UnsupportedOpError, "transpose0",
                              "moves the batch axis"),
    "softmax-batch-axis": (_one("Softmax", ["N", 4], axis=0), UnsupportedOpError, "softmax0", "batch axis"),
    "concat-batch-axis": (_two("Concat", ["N", 4], ["N", 4], axis=0), UnsupportedOpError, "concat0", "batch axis"),
    "layernorm-batch-axis": (_one("LayerNormalization", ["N", 4], f32(1, 4), axis=0), UnsupportedOpError,
                             "layernormalization0", "batch axis"),
    "maxpool-dilated": (_one("MaxPool", ["N", 1, 6, 6], kernel_shape=[2, 2], dilations=[2, 2]),
                        UnsupportedOpError, "maxpool0", "dilated pooling"),
    "pool-1d": (_one("MaxPool", ["N", 1, 6], kernel_shape=[2]), UnsupportedOpError, "maxpool0", "only 2-D"),
    "bn-training-mode": (_bn_training, UnsupportedOpError, "bn0", "export the model in eval mode"),
    "dropout-mask-used": (_dropout_mask, UnsupportedOpError, "dropout0", "only the first output"),
    "int8-input": (_int_input, UnsupportedOpError, None, "only FLOAT inputs are supported"),
    "dynamic-feature-dim": (lambda: ob.single_op("Relu", ["N", "C"]), GraphError, None, "no static shape"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_unsupported_variant_is_named(name, tmp_path):
    build, kind, node, text = VARIANTS[name]
    err = import_error(ob.save(build(), tmp_path), kind)
    assert text in str(err)
    assert err.node == node
    if node is not None:
        assert f"node {node!r}" in str(err)


def test_shape_inference_failure_is_a_load_error(tmp_path):
    model = ob.two_input_op("Add", ["N", 4], ["N", 4])
    model.graph.input[1].type.tensor_type.shape.dim[1].dim_value = 5  # [N,4] + [N,5] cannot broadcast
    err = import_error(ob.save(model, tmp_path), ModelLoadError)
    assert "shape inference failed" in err.reason


def test_import_torch_names_the_module_on_export_failure():
    class Bad(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.svd(x).S

    with pytest.raises(HwpruneError) as info:
        import_torch(Bad(), torch.randn(1, 3, 3), name="bad_model")
    assert str(info.value).startswith("bad_model: ")


def test_import_torch_names_the_module_on_unsupported_op():
    with pytest.raises(UnsupportedOpError) as info:
        import_torch(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Softplus()), torch.randn(1, 4), name="seq")
    assert str(info.value).startswith("seq: node ") and "(Softplus)" in str(info.value)

"""PTQ and the integer reference: the numerics contract of docs/architecture.md section 3."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwprune.frontend import import_onnx
from hwprune.ir.execute import run_float
from hwprune.ir.types import IntType
from hwprune.quant import QuantSpec, quantize_graph, run_integer
from hwprune.quant.calibrate import load_calibration
from hwprune.quant.reference import requantize
from hwprune.quant.requant import MULT_BITS, requant_params

MODELS = ["mlp_digits.onnx", "cnn_digits.onnx", "mlp_digits_qonnx.onnx"]


def _quantized(examples_dir, name):
    graph = import_onnx(examples_dir / name)
    feeds = load_calibration(str(examples_dir / "calibration.npz"), graph)
    return graph, quantize_graph(graph, feeds)


def _inputs(graph, digits):
    shape = graph.tensor(graph.inputs[0]).shape[1:]
    return digits.x_test.reshape([-1, *shape])


@pytest.mark.parametrize("real", [1e-6, 3.3e-4, 0.0123, 0.5, 0.999, 1.0, 7.25, 1000.0])
def test_requant_params_are_exact_to_multiplier_precision(real):
    mult, shift = requant_params(real)
    assert (1 << (MULT_BITS - 2)) <= mult < (1 << (MULT_BITS - 1))
    assert shift >= 1
    assert abs(mult / 2**shift - real) / real <= 2.0 ** -(MULT_BITS - 1)


def test_requantize_rounds_half_up_and_saturates():
    acc = torch.tensor([1, 2, 3, -1, -3, 10_000, -10_000])
    # M = 1, sh = 1 divides by two: 0.5 -> 1, 1.5 -> 2, -0.5 -> 0, -1.5 -> -1 (round half up)
    got = requantize(acc, torch.tensor(1), torch.tensor(1), IntType(8, True), relu=False)
    assert got.tolist() == [1, 1, 2, 0, -1, 127, -128]
    got_relu = requantize(acc, torch.tensor(1), torch.tensor(1), IntType(8, False), relu=True)
    assert got_relu.tolist() == [1, 1, 2, 0, 0, 255, 0]


def _numpy_dense(x, w, b, mult, shift, lo, hi):
    """An independent, plain-Python-integer statement of the formula of docs/architecture.md section 3."""
    out = np.zeros((x.shape[0], w.shape[0]), dtype=object)
    for n in range(x.shape[0]):
        for c in range(w.shape[0]):
            acc = int(np.dot(x[n].astype(object), w[c].astype(object))) + int(b[c])
            y = (acc * int(mult[c]) + (1 << (int(shift[c]) - 1))) >> int(shift[c])
            out[n, c] = min(max(y, lo), hi)
    return out.astype(np.int64)


def test_dense_reference_matches_plain_integer_arithmetic(examples_dir, digits):
    graph, q = _quantized(examples_dir, "mlp_digits.onnx")
    values = run_integer(q, {q.inputs[0]: digits.x_test[:40]}, keep_all=True)
    for node in (n for n in q.nodes if n.op == "Dense"):
        x = values[node.inputs[0]]
        w = q.tensor(node.inputs[1]).data
        b = q.tensor(node.inputs[2]).data
        out = q.tensor(node.outputs[0]).dtype
        lo = 0 if node.attrs["activation"] == "relu" else out.min
        expected = _numpy_dense(x, w, b, node.attrs["requant_mult"], node.attrs["requant_shift"], lo, out.max)
        np.testing.assert_array_equal(values[node.outputs[0]], expected)


def test_conv_reference_matches_direct_loops(examples_dir, digits):
    graph, q = _quantized(examples_dir, "cnn_digits.onnx")
    values = run_integer(q, {q.inputs[0]: _inputs(q, digits)[:3]}, keep_all=True)
    node = next(n for n in q.nodes if n.op == "Conv")
    x = values[node.inputs[0]]
    w = q.tensor(node.inputs[1]).data
    b = q.tensor(node.inputs[2]).data
    top, left, bottom, right = node.attrs["pads"]
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out = q.tensor(node.outputs[0])
    kh, kw = w.shape[2:]
    expected = np.zeros(values[node.outputs[0]].shape, dtype=np.int64)
    for n in range(x.shape[0]):
        for c in range(w.shape[0]):
            mult, shift = node.attrs["requant_mult"][c], node.attrs["requant_shift"][c]
            for i in range(expected.shape[2]):
                for j in range(expected.shape[3]):
                    acc = int((xp[n, :, i : i + kh, j : j + kw] * w[c]).sum()) + int(b[c])
                    y = (acc * mult + (1 << (shift - 1))) >> shift
                    expected[n, c, i, j] = min(max(y, 0), out.dtype.max)
    np.testing.assert_array_equal(values[node.outputs[0]], expected)


@pytest.mark.parametrize("name", MODELS)
def test_integer_accuracy_within_one_point_of_float(examples_dir, digits, name):
    graph, q = _quantized(examples_dir, name)
    x = _inputs(graph, digits)
    float_acc = np.mean(run_float(graph, {graph.inputs[0]: x})[graph.outputs[0]].argmax(1) == digits.y_test)
    int_acc = np.mean(run_integer(q, {q.inputs[0]: x})[q.outputs[0]].argmax(1) == digits.y_test)
    assert float_acc > 0.9
    assert int_acc >= float_acc - 0.01, (float_acc, int_acc)


@pytest.mark.parametrize("name", MODELS)
def test_quantized_graph_types_follow_the_contract(examples_dir, name):
    _, q = _quantized(examples_dir, name)
    for node in q.nodes:
        if node.op not in ("Dense", "Conv"):
            continue
        w, out = q.tensor(node.inputs[1]), q.tensor(node.outputs[0])
        assert w.dtype == IntType(8, True) and len(w.scale) in (1, w.shape[0])
        assert np.abs(w.data).max() <= 127
        assert out.dtype == IntType(8, node.attrs["activation"] != "relu")
        kept = int(np.count_nonzero(w.data.reshape(w.shape[0], -1), axis=1).max())
        assert node.attrs["acc_bits"] >= 8 + 8 + int(np.ceil(np.log2(kept))) + 1
        assert len(node.attrs["requant_mult"]) == w.shape[0]


def test_accumulator_never_exceeds_its_width(examples_dir, digits):
    graph, q = _quantized(examples_dir, "cnn_digits.onnx")
    extreme = np.concatenate([np.zeros((1, 1, 8, 8)), np.ones((1, 1, 8, 8)), _inputs(q, digits)[:50]])
    values = run_integer(q, {q.inputs[0]: extreme.astype(np.float32)}, keep_all=True)
    for node in (n for n in q.nodes if n.op in ("Dense", "Conv")):
        bound = (1 << (node.attrs["acc_bits"] - 1))
        x = values[node.inputs[0]]
        w = q.tensor(node.inputs[1]).data
        worst = int(np.abs(w.reshape(w.shape[0], -1)).sum(axis=1).max()) * max(abs(q.tensor(node.inputs[0]).dtype.min),
                                                                               q.tensor(node.inputs[0]).dtype.max)
        assert worst + int(np.abs(q.tensor(node.inputs[2]).data).max()) < bound
        assert x.size


def test_qonnx_weights_are_exactly_brevitas_integers(examples_dir):
    graph = import_onnx(examples_dir / "mlp_digits_qonnx.onnx")
    expected = np.load(examples_dir / "mlp_digits_qonnx_intweights.npz")
    dense = [n for n in graph.nodes if n.op == "Dense"]
    assert len(dense) == 3
    for index, node in enumerate(dense):
        weight = graph.tensor(node.inputs[1])
        assert weight.dtype == IntType(8, True)
        np.testing.assert_array_equal(weight.data, expected[f"fc{index}_int"])
        assert weight.scale == [float(expected[f"fc{index}_scale"])]


def test_qonnx_activation_scales_are_kept(examples_dir):
    graph = import_onnx(examples_dir / "mlp_digits_qonnx.onnx")
    quant_scales = [n.attrs["scale"][0] for n in graph.nodes if n.op == "Quant"]
    _, q = _quantized(examples_dir, "mlp_digits_qonnx.onnx")
    kept = [q.tensor(q.nodes[0].outputs[0]).scale[0]]
    kept += [q.tensor(n.outputs[0]).scale[0] for n in q.nodes if n.op == "Dense"][:2]
    assert kept == quant_scales
    assert not any(n.op == "Quant" for n in q.nodes)


def test_bad_bit_widths_are_refused():
    from hwprune.errors import QuantizationError

    with pytest.raises(QuantizationError, match="weight_bits must be an integer in 2..16"):
        QuantSpec(weight_bits=0)
    with pytest.raises(QuantizationError, match="act_bits"):
        QuantSpec(act_bits=65)

"""Integer kernels of the reference beyond Dense/Conv, each against plain Python integer arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwprune.frontend import import_onnx_model
from hwprune.frontend.onnx_loader import load_onnx_bytes
from hwprune.quant import quantize_graph, run_integer

from onnx_builders import random_feeds, single_op, two_input_op


def _quantized(model, seed=0, batch=16):
    graph = import_onnx_model(load_onnx_bytes(model.SerializeToString(), "m.onnx"), "m.onnx")
    feeds = random_feeds(model, batch, seed)
    return graph, quantize_graph(graph, feeds), feeds


def _round_shift(value: int, mult: int, shift: int) -> int:
    return (value * mult + (1 << (shift - 1))) >> shift


@pytest.mark.parametrize("kernel,strides,pads,ceil", [([2, 2], [2, 2], [0, 0, 0, 0], 0), ([3, 3], [2, 2], [1, 1, 1, 1], 0),
                                                      ([2, 2], [2, 2], [0, 0, 0, 0], 1), ([3, 2], [1, 2], [1, 0, 0, 1], 0)])
def test_maxpool_commutes_with_quantization(kernel, strides, pads, ceil):
    model = single_op("MaxPool", [1, 3, 7, 7], kernel_shape=kernel, strides=strides, pads=pads, ceil_mode=ceil)
    graph, q, feeds = _quantized(model)
    values = run_integer(q, feeds, keep_all=True)
    x_int = values[q.nodes[0].outputs[0]]
    y = values[q.outputs[0]]
    # max is monotonic, so pooling the integers equals pooling in float then quantizing
    top, left, bottom, right = pads
    padded = np.pad(x_int, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=np.iinfo(np.int64).min)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            window = padded[:, :, i * strides[0] : i * strides[0] + kernel[0], j * strides[1] : j * strides[1] + kernel[1]]
            np.testing.assert_array_equal(y[:, :, i, j], window.max(axis=(2, 3)))


def test_global_average_pool_rounds_half_up():
    model = single_op("GlobalAveragePool", [1, 4, 3, 5])
    graph, q, feeds = _quantized(model)
    node = q.nodes[-1]
    values = run_integer(q, feeds, keep_all=True)
    x_int, y = values[node.inputs[0]], values[node.outputs[0]]
    mult, shift = node.attrs["requant_mult"][0], node.attrs["requant_shift"][0]
    assert abs(mult / 2**shift - 1 / 15) < 2**-15
    out = q.tensor(node.outputs[0]).dtype
    for n in range(x_int.shape[0]):
        for c in range(4):
            expected = min(max(_round_shift(int(x_int[n, c].sum()), mult, shift), out.min), out.max)
            assert y[n, c, 0, 0] == expected


def test_average_pool_with_count_include_pad():
    model = single_op("AveragePool", [1, 2, 6, 6], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
                      count_include_pad=1)
    graph, q, feeds = _quantized(model)
    node = q.nodes[-1]
    values = run_integer(q, feeds, keep_all=True)
    x_int, y = values[node.inputs[0]], values[node.outputs[0]]
    padded = np.pad(x_int, ((0, 0), (0, 0), (1, 1), (1, 1)))
    mult, shift = node.attrs["requant_mult"][0], node.attrs["requant_shift"][0]
    for i in range(6):
        for j in range(6):
            sums = padded[:, :, i : i + 3, j : j + 3].sum(axis=(2, 3))
            expected = np.vectorize(lambda s: _round_shift(int(s), mult, shift))(sums)
            np.testing.assert_array_equal(y[:, :, i, j], expected)


def test_average_pool_without_constant_divisor_is_refused():
    from hwprune.errors import QuantizationError

    model = single_op("AveragePool", [1, 2, 6, 6], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0)
    with pytest.raises(QuantizationError, match="no constant divisor"):
        _quantized(model)


def test_add_of_two_activations_uses_one_shared_shift():
    model = two_input_op("Add", [1, 12], [1, 12])
    graph, q, feeds = _quantized(model, batch=64)
    node = q.nodes[-1]
    values = run_integer(q, feeds, keep_all=True)
    a, b, y = (values[name] for name in (*node.inputs, node.outputs[0]))
    (ma, mb), shift = node.attrs["requant_mult"], node.attrs["requant_shift"][0]
    out = q.tensor(node.outputs[0]).dtype
    for index in np.ndindex(y.shape):
        acc = int(a[index]) * ma + int(b[index]) * mb
        assert y[index] == min(max((acc + (1 << (shift - 1))) >> shift, out.min), out.max)
    real = (a * q.tensor(node.inputs[0]).scale[0] + b * q.tensor(node.inputs[1]).scale[0])
    assert np.abs(y * q.tensor(node.outputs[0]).scale[0] - real).max() <= q.tensor(node.outputs[0]).scale[0]


def test_unsupported_integer_op_names_the_node():
    from hwprune.errors import QuantizationError

    model = single_op("Softmax", [1, 10], axis=1)
    with pytest.raises(QuantizationError, match=r"node 'softmax0' \(Softmax\): has no integer implementation yet"):
        _quantized(model)


def test_quantize_is_round_half_even_and_saturates():
    model = single_op("Relu", [1, 6])
    graph = import_onnx_model(load_onnx_bytes(model.SerializeToString(), "m.onnx"), "m.onnx")
    feeds = {"x": np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float32)}
    q = quantize_graph(graph, feeds)
    scale = q.nodes[0].attrs["scale"]
    assert math.isclose(scale, 5.0 / 255)
    probe = np.array([[0.5 * scale, 1.5 * scale, 2.5 * scale, 1e9, -1.0, 0.0]], dtype=np.float32)
    got = run_integer(q, {"x": probe}, keep_all=True)[q.nodes[0].outputs[0]]
    expected = np.round(probe.astype(np.float64) / scale).clip(0, 255)
    np.testing.assert_array_equal(got, expected)

"""hwprune's integer reference against QKeras's own quantized forward pass, on all 360 digits test samples.

What is compared, exactly (docs/keras.md, "Rounding"):

1. Each Dense/Conv layer is run by hwprune's integer reference on QKeras's own integer input to that
   layer. Its **accumulator** (input × weight + bias, before any scaling; for the last layer these are the
   integer logits) equals QKeras's layer output ÷ (input step × weight step) bit for bit, on every sample.
   QKeras computes in float32, but every value is a multiple of a power of two well inside float32's
   24-bit mantissa, so its float results are exact integers times the step.
2. Each hidden layer's 8-bit **output** equals that accumulator divided by 2**k (k = log2(output step ÷
   accumulator step)) and rounded half *up*, bit for bit: hwprune's requantiser (docs/architecture.md section 3).
   QKeras's ``quantized_relu`` rounds with ``tf.round``, half to *even*; the two differ by exactly +1 where
   the accumulator sits exactly on a .5 tie with an even integer part, and nowhere else.
3. The last layer's int8 output equals the requantiser applied to QKeras's integer logits, bit for bit.
4. End to end (float pixels in), the tie differences of 2. propagate (the MLP's integer logits are
   identical to QKeras's on 182 of 360 samples, the CNN's on 1), yet the predicted class agrees with
   QKeras's on every sample and the accuracy is the same.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hwprune.frontend.keras import import_keras
from hwprune.ir.types import IntType
from hwprune.quant import quantize_graph, run_integer
from hwprune.quant.calibrate import load_calibration
from keras_cases import MODELS, layer_outputs


@pytest.fixture(scope="module")
def case(request, keras_model, test_inputs):
    """(integer graph, hwprune input, QKeras's per-layer outputs) of one bundled model."""
    name = request.param
    graph = import_keras(MODELS[name])
    qgraph = quantize_graph(graph, load_calibration(str(MODELS[name].parent / "calibration.npz"), graph))
    x_hw, x_keras = test_inputs[name]
    return qgraph, x_hw, layer_outputs(keras_model(name), x_keras)


def _keras_layer(tensor: str) -> str:
    """IR tensors are named ``<Keras layer>/<op>...`` by the frontend."""
    return tensor.split("/")[0]


def _as_integers(values: np.ndarray, step: float) -> np.ndarray:
    scaled = values.astype(np.float64) / step
    assert np.array_equal(scaled, np.rint(scaled)), "QKeras's values are exact multiples of the step"
    return scaled.astype(np.int64)


def _layer_feed(qgraph, node, x: np.ndarray, keras: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph input plus QKeras's integers at the layer's input (before a Flatten: it only moves data)."""
    tensor = node.inputs[0]
    producer = qgraph.producer(tensor)
    if producer is not None and producer.op == "Reshape":
        tensor = producer.inputs[0]
    integers = _as_integers(keras[_keras_layer(tensor)], qgraph.tensor(tensor).scale[0])
    return {qgraph.inputs[0]: x, tensor: integers}


def _accumulators(qgraph, node, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The layer's accumulator, from hwprune's own integer kernel: a copy of the graph, cut after this
    layer, whose requantiser is the identity ((acc * 2**14 + 2**13) >> 14 == acc) into a 48-bit type."""
    probe = copy.deepcopy(qgraph)
    index = next(i for i, n in enumerate(probe.nodes) if n.name == node.name)
    layer = probe.nodes[index]
    probe.nodes, probe.outputs = probe.nodes[:index + 1], [layer.outputs[0]]
    channels = len(layer.attrs["requant_mult"])
    layer.attrs.update(requant_mult=[1 << 14] * channels, requant_shift=[14] * channels, activation="none")
    probe.tensor(layer.outputs[0]).dtype = IntType(48, True)
    return run_integer(probe, feeds, keep_all=True)[layer.outputs[0]]


def _layers(qgraph):
    return [node for node in qgraph.nodes if node.op in ("Dense", "Conv")]


@pytest.mark.parametrize("case", ["mlp", "cnn"], indirect=True)
def test_every_layer_matches_qkeras_given_the_same_input(case):
    qgraph, x, keras = case
    ties_total = 0
    for node in _layers(qgraph):
        feeds = _layer_feed(qgraph, node, x, keras)
        acc_step = qgraph.tensor(node.inputs[0]).scale[0] * qgraph.tensor(node.inputs[1]).scale[0]
        acc = _as_integers(keras[_keras_layer(node.name)], acc_step)  # QDense/QConv2D output: pre-activation
        assert np.array_equal(_accumulators(qgraph, node, feeds), acc), node.name  # 1.
        out = run_integer(qgraph, feeds, keep_all=True)[node.outputs[0]]
        out_type = qgraph.tensor(node.outputs[0]).dtype
        if node.attrs["activation"] == "relu":
            k = round(float(np.log2(qgraph.tensor(node.outputs[0]).scale[0] / acc_step)))
            half_up = np.clip((acc + (1 << (k - 1))) >> k, 0, out_type.max)
            assert np.array_equal(out, half_up), node.name  # 2.
            out_step = qgraph.tensor(node.outputs[0]).scale[0]
            qkeras = _as_integers(keras[_keras_layer(node.outputs[0])], out_step)
            half_even = np.clip(np.rint(acc / 2.0**k), 0, out_type.max)  # tf.round and np.rint: half to even
            assert np.array_equal(qkeras, half_even), node.name
            floor = acc >> k
            tie = acc % (1 << k) == 1 << (k - 1)
            even_tie = tie & (floor % 2 == 0) & (acc > 0) & (floor < out_type.max)
            assert np.array_equal(out - qkeras, even_tie.astype(np.int64)), node.name
            ties_total += int(even_tie.sum())
        else:  # the logits: hwprune's int8 requantisation of QKeras's exact integer logits
            mult = np.asarray(node.attrs["requant_mult"], dtype=np.int64)
            shift = np.asarray(node.attrs["requant_shift"], dtype=np.int64)
            rounded = (acc * mult + (np.int64(1) << (shift - 1))) >> shift
            expected = np.clip(rounded, out_type.min, out_type.max)
            assert np.array_equal(out, expected), node.name  # 3.
    assert ties_total > 0  # the bundled models do hit ties: the difference is real, and accounted for


@pytest.mark.parametrize("case", ["mlp", "cnn"], indirect=True)
def test_end_to_end_predictions_agree_with_qkeras(case, digits):
    qgraph, x, keras = case
    last = _layers(qgraph)[-1]
    hw_logits = run_integer(qgraph, {qgraph.inputs[0]: x})[qgraph.outputs[0]]
    qk_logits = keras[_keras_layer(last.name)]
    hw_pred, qk_pred = hw_logits.argmax(axis=1), qk_logits.argmax(axis=1)
    agree = int((hw_pred == qk_pred).sum())
    assert agree == len(x), f"{agree}/{len(x)} predictions agree"  # measured: 360/360 for both models
    hw_acc, qk_acc = float(np.mean(hw_pred == digits.y_test)), float(np.mean(qk_pred == digits.y_test))
    assert hw_acc == qk_acc > 0.97  # MLP 97.50 %, CNN 97.78 %

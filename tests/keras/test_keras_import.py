"""QKeras models import with exactly the integers QKeras holds; every format gives the same IR; what
is not supported fails with one line naming the layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hwprune.errors import ModelLoadError, UnsupportedOpError
from hwprune.frontend import import_model
from hwprune.frontend.keras import import_keras
from hwprune.ir.types import IntType
from hwprune.quant import quantize_graph

from keras_cases import MODELS

STEP = 2.0**-7  # quantized_bits(8, 0, alpha=1): integers in [-128, 127] times 2**-7


def _quantized_layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ in ("QDense", "QConv2D")]


def _expected_weight(layer, previous_shape) -> np.ndarray:
    """QKeras's quantized kernel ÷ step, in hwprune's layout: Dense [out, in] with inputs in
    channels-first flatten order, Conv [out, in, kh, kw]."""
    quantized = layer.kernel_quantizer_internal(tf.constant(layer.get_weights()[0])).numpy() / STEP
    if quantized.ndim == 4:
        return quantized.transpose(3, 2, 0, 1)
    if previous_shape is not None:  # after Flatten: hwprune's column (c, h, w) is Keras's row (h*W + w)*C + c
        h, w, c = previous_shape
        keras_row = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
        quantized = quantized[keras_row]
    return quantized.T


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_integer_weights_are_the_ones_qkeras_holds(name, keras_model):
    model = keras_model(name)
    graph = import_keras(MODELS[name])
    nodes = {node.name.split("/")[0]: node for node in graph.nodes if node.op in ("Dense", "Conv")}
    layers = _quantized_layers(model)
    assert sorted(nodes) == sorted(layer.name for layer in layers)
    flatten = {layer.name: layer for layer in model.layers if type(layer).__name__ == "Flatten"}
    for layer in layers:
        node = nodes[layer.name]
        weight, bias = graph.tensor(node.inputs[1]), graph.tensor(node.inputs[2])
        before = None
        if flatten and name == "cnn" and type(layer).__name__ == "QDense":
            before = tuple(next(iter(flatten.values())).input_shape[1:])
        expected = _expected_weight(layer, before)
        assert np.array_equal(expected, np.rint(expected)), "QKeras's weights are on the 2**-7 grid"
        assert weight.dtype == IntType(8, True) and weight.scale == [STEP], layer.name
        assert np.array_equal(weight.data, expected.astype(np.int64)), layer.name
        assert np.count_nonzero(weight.data) > 0.5 * weight.data.size
        qbias = layer.bias_quantizer_internal(tf.constant(layer.get_weights()[1])).numpy()
        assert np.array_equal(bias.real_values(), qbias), layer.name


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_biases_reach_the_accumulator_domain_exactly(name, keras_model):
    """quantize_graph puts each bias at weight step × input step: QKeras's bias ÷ that is an integer."""
    from hwprune.quant.calibrate import load_calibration

    graph = import_keras(MODELS[name])
    qgraph = quantize_graph(graph, load_calibration(str(MODELS[name].parent / "calibration.npz"), graph))
    for layer in _quantized_layers(keras_model(name)):
        node = next(n for n in qgraph.nodes if n.name.split("/")[0] == layer.name)
        x_scale = qgraph.tensor(node.inputs[0]).scale[0]
        qbias = layer.bias_quantizer_internal(tf.constant(layer.get_weights()[1])).numpy().astype(np.float64)
        in_acc = qbias / (STEP * x_scale)
        assert np.array_equal(in_acc, np.rint(in_acc))
        assert np.array_equal(qgraph.tensor(node.inputs[2]).data, in_acc.astype(np.int64)), layer.name


def _ir(graph) -> dict:
    data = graph.to_dict()
    data.pop("source", None)
    return data


def test_h5_keras_and_savedmodel_give_the_same_ir(keras_model, tmp_path: Path):
    model = keras_model("cnn")
    model.save(tmp_path / "cnn.keras")
    model.save(tmp_path / "cnn_savedmodel", save_format="tf")
    reference = _ir(import_model(str(MODELS["cnn"])))
    assert _ir(import_model(str(tmp_path / "cnn.keras"))) == reference
    assert _ir(import_model(str(tmp_path / "cnn_savedmodel"))) == reference


def test_per_channel_auto_po2_weights_import_with_their_scales(tmp_path: Path):
    from qkeras import QDense

    tf.keras.utils.set_random_seed(3)
    inputs = tf.keras.Input(shape=(12,))
    layer = QDense(5, kernel_quantizer="quantized_bits(4, 0, alpha='auto_po2')",
                   bias_quantizer="quantized_bits(8, 3, alpha=1)", name="dense")
    model = tf.keras.Model(inputs, layer(inputs))
    kernel = np.random.default_rng(0).normal(0, 1.0, size=(12, 5)).astype(np.float32) * [0.1, 0.5, 1, 2, 4]
    model.layers[1].set_weights([kernel.astype(np.float32), np.linspace(-2, 2, 5).astype(np.float32)])
    path = tmp_path / "po2.h5"
    model.save(path)
    graph = import_keras(path)
    weight = graph.tensor(next(n for n in graph.nodes if n.op == "Dense").inputs[1])
    quantized = layer.kernel_quantizer_internal(tf.constant(kernel.astype(np.float32))).numpy()
    assert weight.dtype == IntType(4, True) and weight.scale_axis == 0 and len(set(weight.scale)) > 1
    assert np.array_equal(weight.real_values(), quantized.T)


def _save(model, tmp_path: Path, name: str = "m.h5") -> Path:
    path = tmp_path / name
    model.save(path)
    return path


def test_unsupported_layer_is_named(tmp_path: Path):
    inputs = tf.keras.Input(shape=(8,))
    x = tf.keras.layers.Dense(4, name="fc")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    with pytest.raises(UnsupportedOpError) as info:
        import_keras(_save(tf.keras.Model(inputs, x), tmp_path))
    assert "node 'bn' (BatchNormalization): layer type BatchNormalization is not supported" in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "m.h5"))


def test_branching_model_is_refused(tmp_path: Path):
    inputs = tf.keras.Input(shape=(8,))
    a = tf.keras.layers.Dense(4, name="a")(inputs)
    b = tf.keras.layers.Dense(4, name="b")(inputs)
    merged = tf.keras.layers.Add(name="add")([a, b])
    with pytest.raises(UnsupportedOpError, match="only a single chain of layers"):
        import_keras(_save(tf.keras.Model(inputs, merged), tmp_path))


def test_stochastic_rounding_is_refused(tmp_path: Path):
    from qkeras import QDense

    inputs = tf.keras.Input(shape=(8,))
    quantizer = "quantized_bits(8, 0, alpha=1, use_stochastic_rounding=True)"
    out = QDense(4, kernel_quantizer=quantizer, name="fc")(inputs)
    with pytest.raises(UnsupportedOpError, match="node 'fc' \\(QDense\\): .*stochastic rounding"):
        import_keras(_save(tf.keras.Model(inputs, out), tmp_path))


def test_float_keras_model_goes_through_ptq(tmp_path: Path, digits):
    """Plain Keras (no QKeras quantizers): float weights in the IR, quantized by hwprune's PTQ; a final
    softmax is dropped (the hardware returns logits)."""
    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input(shape=(64,)), layers.Dense(16, activation="relu"),
                                 layers.Dropout(0.1), layers.Dense(10, activation="softmax")])
    graph = import_keras(_save(model, tmp_path, "float.keras"))
    assert [node.op for node in graph.nodes] == ["Dense", "Dense"]
    assert graph.nodes[0].attrs["activation"] == "relu"
    qgraph = quantize_graph(graph, {graph.inputs[0]: digits.x_train[:64]})
    assert qgraph.tensor(qgraph.nodes[1].inputs[1]).dtype == IntType(8, True)


def test_corrupt_h5_is_a_load_error(tmp_path: Path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(ModelLoadError, match="cannot load the Keras model"):
        import_model(str(path))


def test_cli_error_on_a_keras_model_is_one_line(tmp_path: Path):
    """TensorFlow's start-up messages (written by C++ straight to stderr) do not break the CLI's
    one-line error contract."""
    import subprocess
    import sys

    inputs = tf.keras.Input(shape=(8,))
    path = _save(tf.keras.Model(inputs, tf.keras.layers.BatchNormalization(name="bn")(inputs)), tmp_path)
    result = subprocess.run([sys.executable, "-m", "hwprune.cli", "compile", str(path), "-o", str(tmp_path / "b")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"hwprune: error: {path}: node 'bn' (BatchNormalization): layer type BatchNormalization is not supported; "
        "supported: Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, InputLayer, MaxPooling2D, "
        "QActivation, QConv2D, QDense, ReLU"]


@pytest.mark.parametrize("padding,strides,pool", [("same", 1, "max"), ("valid", 2, "average"), ("same", 2, "max")])
def test_float_cnn_runs_like_keras(padding: str, strides: int, pool: str, tmp_path: Path):
    """The layout mapping (channels last → first, SAME padding, strides, dilation, pooling, the Flatten
    reordering) is checked numerically: hwprune's float execution of the import equals Keras's output."""
    from hwprune.ir.execute import run_float

    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(1)
    pooling = layers.MaxPooling2D(2, padding=padding) if pool == "max" else layers.AveragePooling2D(2)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(11, 10, 3)),
        layers.Conv2D(5, (3, 2), strides=strides, padding=padding, activation="relu"),
        layers.ReLU(),
        pooling,
        layers.Conv2D(4, 2, padding=padding, dilation_rate=1 if strides > 1 else 2),
        layers.Flatten(),
        layers.Dense(6),
    ])
    x = np.random.default_rng(0).normal(size=(4, 11, 10, 3)).astype(np.float32)
    graph = import_keras(_save(model, tmp_path, "float_cnn.keras"))
    ours = run_float(graph, {graph.inputs[0]: x.transpose(0, 3, 1, 2)})[graph.outputs[0]]
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

"""Train a small QKeras MLP and CNN on sklearn's 8x8 digits (quantization-aware) and save them as HDF5.

Needs the keras extra (``tools/setup_keras.sh`` makes ``.venv-keras``):

    .venv-keras/bin/python examples/train_qkeras_digits.py --out examples --seed 0   # ~20 s

Outputs (in --out):
  qkeras_mlp_digits.h5   8-bit input quantizer, QDense 64-64-32-10, quantized_relu(8,2) activations
  qkeras_cnn_digits.h5   8-bit input quantizer, QConv2D(8)+relu, MaxPool, QConv2D(16)+relu, MaxPool,
                         Flatten, QDense(10); input [N, 8, 8, 1] (channels last, as Keras has it)

Weights and biases use ``quantized_bits(8, 0, alpha=1)`` (integers in [-128, 127], step 2**-7), the
input ``quantized_bits(8, 1, keep_negative=False, alpha=1)`` (step 2**-7, so every digits pixel k/16 is
exact), hidden activations ``quantized_relu(8, 2)`` (step 2**-6, range [0, 4)). Every scale is a power of
two, so QKeras's float32 forward pass is exact and hwprune's integer reference reproduces it
(docs/keras.md). The models output logits (no softmax). HDF5 is written without the optimizer state;
rerunning with the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # QKeras is built on Keras 2 (tf_keras)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

try:
    from hwprune.datasets import load_digits_split
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwprune.datasets import load_digits_split

WEIGHT_Q = "quantized_bits(8, 0, alpha=1)"
INPUT_Q = "quantized_bits(8, 1, keep_negative=False, alpha=1)"
ACT_Q = "quantized_relu(8, 2)"


def make_deterministic(seed: int) -> None:
    """One thread and deterministic ops: the same seed gives the same weights, bit for bit."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_mlp():  # -> tf.keras.Model
    """64-64-32-10 with quantized weights, biases, input and ReLU activations."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    inputs = tf.keras.Input(shape=(64,), name="input")
    x = QActivation(INPUT_Q, name="quant_in")(inputs)
    for index, width in enumerate((64, 32)):
        x = QDense(width, kernel_quantizer=WEIGHT_Q, bias_quantizer=WEIGHT_Q, name=f"fc{index}")(x)
        x = QActivation(ACT_Q, name=f"relu{index}")(x)
    logits = QDense(10, kernel_quantizer=WEIGHT_Q, bias_quantizer=WEIGHT_Q, name="fc2")(x)
    return tf.keras.Model(inputs, logits, name="qkeras_mlp_digits")


def build_cnn():  # -> tf.keras.Model
    """Two quantized 3x3 convolutions with ReLU and 2x2 max pooling, then a quantized Dense."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    inputs = tf.keras.Input(shape=(8, 8, 1), name="input")
    x = QActivation(INPUT_Q, name="quant_in")(inputs)
    for index, filters in enumerate((8, 16)):
        x = QConv2D(filters, 3, padding="same", kernel_quantizer=WEIGHT_Q, bias_quantizer=WEIGHT_Q,
                    name=f"conv{index}")(x)
        x = QActivation(ACT_Q, name=f"relu{index}")(x)
        x = tf.keras.layers.MaxPooling2D(2, name=f"pool{index}")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    logits = QDense(10, kernel_quantizer=WEIGHT_Q, bias_quantizer=WEIGHT_Q, name="fc")(x)
    return tf.keras.Model(inputs, logits, name="qkeras_cnn_digits")


def train(model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    """Adam on cross-entropy over logits; no shuffling randomness beyond the seeded generator."""
    import tensorflow as tf

    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=3e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    logits = model.predict(x, batch_size=512, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_digits_split(args.seed)
    images_train = data.x_train.reshape(-1, 8, 8, 1)
    images_test = data.x_test.reshape(-1, 8, 8, 1)
    for name, build, x_train, x_test in (
        ("qkeras_mlp_digits", build_mlp, data.x_train, data.x_test),
        ("qkeras_cnn_digits", build_cnn, images_train, images_test),
    ):
        start = time.monotonic()
        make_deterministic(args.seed)
        model = build()
        train(model, x_train, data.y_train, args.epochs, args.seed)
        path = args.out / f"{name}.h5"
        model.save(path, include_optimizer=False, save_format="h5")
        print(f"{path}: QKeras test accuracy {accuracy(model, x_test, data.y_test):.2%} "
              f"({model.count_params()} parameters, {time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

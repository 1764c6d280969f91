"""Shared by the Keras tests: the bundled QKeras models and QKeras's own per-layer forward pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODELS = {"mlp": EXAMPLES / "qkeras_mlp_digits.h5", "cnn": EXAMPLES / "qkeras_cnn_digits.h5"}


def layer_outputs(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output of QKeras's own forward pass, images turned to channels first (N, C, H, W)."""
    import tensorflow as tf

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    probe = tf.keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe.predict(x, batch_size=512, verbose=0)
    return {layer.name: (out.transpose(0, 3, 1, 2) if out.ndim == 4 else out)
            for layer, out in zip(layers, outputs)}

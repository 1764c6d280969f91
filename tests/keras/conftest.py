"""Fixtures of the Keras/QKeras tests, which run only in the keras venv (``make test-keras``).

QKeras is written for Keras 2: TensorFlow ≥ 2.16 provides it as ``tf_keras`` only when
``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow is first imported, so it is set here, at collection.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any  # noqa: E402

import pytest  # noqa: E402

from keras_cases import MODELS  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    # tf_keras warns when saving QKeras quantizers (they are not Keras constraints) and about HDF5 being
    # "legacy"; both are about TensorFlow's own serialisation, which the tests exercise on purpose.
    config.addinivalue_line("filterwarnings",
                            "ignore:The `keras.constraints.serialize\\(\\)` API:UserWarning")
    config.addinivalue_line("filterwarnings", "ignore:You are saving your model as an HDF5 file:UserWarning")


@pytest.fixture(scope="session")
def keras_model():
    """name → the loaded QKeras model (cached: loading TensorFlow graphs takes a second each)."""
    from hwprune.frontend.keras import load_keras_model

    cache: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            cache[name] = load_keras_model(MODELS[name])
        return cache[name]

    return get


@pytest.fixture(scope="session")
def test_inputs(digits):
    """name → (hwprune's input [N, 64] or [N, 1, 8, 8], Keras's input [N, 64] or [N, 8, 8, 1])."""
    return {"mlp": (digits.x_test, digits.x_test),
            "cnn": (digits.x_test.reshape(-1, 1, 8, 8), digits.x_test.reshape(-1, 8, 8, 1))}

"""Small, offline datasets for examples and tests.

The 8x8 digits set ships with scikit-learn, so examples and tests can train
real models without a network connection and in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DigitsSplit", "load_digits_split", "as_images"]


@dataclass(frozen=True)
class DigitsSplit:
    """A train/test split of sklearn's digits: x is float32 in [0, 1], shape [N, 64]; y is int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> DigitsSplit:
    """Return a deterministic, stratified split of the bundled digits data.

    Stratifying keeps every class in both halves, and a fixed seed makes the
    split (and so any accuracy quoted from it) reproducible.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (np.asarray(data.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(data.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return DigitsSplit(
        x_train=np.ascontiguousarray(x_tr),
        y_train=np.ascontiguousarray(y_tr),
        x_test=np.ascontiguousarray(x_te),
        y_test=np.ascontiguousarray(y_te),
    )


def as_images(x: np.ndarray) -> np.ndarray:
    """Reshape flat [N, 64] digits to [N, 1, 8, 8] (NCHW) for convolutional models."""
    return x.reshape(-1, 1, 8, 8)

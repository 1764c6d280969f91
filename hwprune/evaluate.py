"""Accuracy of the float graph and of the integer reference on labelled data."""

from __future__ import annotations

import numpy as np

from hwprune.errors import ConfigError
from hwprune.ir.execute import run_float
from hwprune.ir.graph import Graph
from hwprune.quant.reference import run_integer

__all__ = ["load_eval_data", "evaluate_accuracy", "reshape_for"]


def load_eval_data(path: str) -> tuple[np.ndarray, np.ndarray]:
    """An ``.npz`` with ``x`` (inputs) and ``y`` (integer labels)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files or "y" not in archive.files:
                raise ConfigError(f"evaluation data needs arrays 'x' and 'y', found {archive.files}", file=path)
            return archive["x"].astype(np.float32), archive["y"].astype(np.int64)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read evaluation data: {exc}", file=path) from None


def reshape_for(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Flat samples reshaped to the graph input's per-sample shape (digits: [64] or [1, 8, 8])."""
    sample = graph.tensor(graph.inputs[0]).shape[1:]
    try:
        return x.reshape([x.shape[0], *sample])
    except ValueError:
        raise ConfigError(f"evaluation inputs of shape {list(x.shape)} do not fit the model input {sample}") from None


def evaluate_accuracy(graph: Graph, qgraph: Graph, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy of the float model and of the integer reference, in percent."""
    x = reshape_for(graph, x)
    float_logits = run_float(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    int_logits = run_integer(qgraph, {qgraph.inputs[0]: x})[qgraph.outputs[0]]
    return {
        "float_top1": round(float(np.mean(float_logits.argmax(axis=1) == y)) * 100, 4),
        "integer_top1": round(float(np.mean(int_logits.argmax(axis=1) == y)) * 100, 4),
        "samples": int(len(y)),
    }

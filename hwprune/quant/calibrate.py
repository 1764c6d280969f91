"""Observe activation ranges on calibration data (float graph), for post-training quantization."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from hwprune.errors import QuantizationError
from hwprune.ir.execute import FLOAT_KERNELS
from hwprune.ir.graph import Graph

__all__ = ["observe_ranges", "load_calibration"]


def observe_ranges(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Max |x| of every activation tensor over the calibration batch (a min/max observer)."""
    values: dict[str, torch.Tensor] = {t.name: torch.as_tensor(t.real_values()) for t in graph.constants()}
    ranges: dict[str, float] = {}
    for name in graph.inputs:
        values[name] = torch.as_tensor(np.asarray(feeds[name], dtype=np.float32))
        ranges[name] = float(values[name].abs().max())
    with torch.no_grad():
        for node in graph.nodes:
            out = FLOAT_KERNELS[node.op](node, [values[n] for n in node.inputs])
            values[node.outputs[0]] = out
            ranges[node.outputs[0]] = float(out.abs().max())
    return ranges


def load_calibration(path: str, graph: Graph) -> dict[str, np.ndarray]:
    """Read an ``.npz`` of calibration inputs, matched to the graph's inputs by name or shape.

    A key equal to the input name wins; otherwise the first array whose per-sample shape equals
    the input's is taken (so one file serves the MLP's [N, 64] and the CNN's [N, 1, 8, 8]).
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise QuantizationError(f"cannot read calibration data: {exc}", file=path) from None
    with archive:
        arrays = {key: archive[key] for key in archive.files}
    feeds: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        sample_shape = list(graph.tensor(name).shape[1:])
        chosen = arrays.get(name)
        if chosen is None or list(chosen.shape[1:]) != sample_shape:
            chosen = next((a for a in arrays.values() if list(a.shape[1:]) == sample_shape), None)
        if chosen is None:
            shapes = {k: list(v.shape) for k, v in arrays.items()}
            raise QuantizationError(
                f"no array for graph input {name!r} of per-sample shape {sample_shape} (found {shapes})", file=path
            )
        if not np.all(np.isfinite(chosen)):
            raise QuantizationError(f"calibration array for {name!r} holds NaN or Inf", file=path)
        feeds[name] = chosen.astype(np.float32)
    return feeds

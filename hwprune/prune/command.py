"""``hwprune prune``: prune an ONNX model with a hardware pattern, optionally fine-tuning on data.

Without data: one-shot masks from the trained weights. With ``--data train.npz`` (arrays ``x`` and
``y``): the model is converted to torch through the IR (``onnx_io``), pruned with the chosen method
(``one_shot`` + fine-tune, ``gradual`` cubic ramp, or ``admm``) and trained with masked gradients.
The output is a plain ONNX file whose zeros carry the pattern; ``hwprune.prune.detect`` recovers it
on import. The file appears atomically (temporary file + rename); on any error nothing is written.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from hwprune.errors import HwpruneError
from hwprune.prune.patterns.base import PATTERNS, PatternError, get_pattern

__all__ = ["PruneOptions", "PruneResult", "prune_model", "parse_params", "load_training_data", "METHODS"]

log = logging.getLogger(__name__)

METHODS = ("one_shot", "gradual", "admm")


class DataError(HwpruneError):
    """The training data file is missing, unreadable or does not fit the model."""


@dataclass(frozen=True)
class PruneOptions:
    """Everything ``hwprune prune`` can be told; one field per CLI flag."""

    pattern: str = "balanced_stochastic"
    sparsity: float = 0.75
    params: dict[str, Any] = field(default_factory=dict)
    skip: tuple[str, ...] = ()
    data: Path | None = None
    epochs: int = 5
    method: str = "one_shot"
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0


@dataclass
class PruneResult:
    """Per-layer report rows, and accuracy on the training data before/after (when data was given)."""

    layers: list[dict[str, Any]]
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    admm_residuals: list[float] = field(default_factory=list)
    channels_removed: dict[str, int] = field(default_factory=dict)


def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if not (isinstance(value, float) and math.isnan(value)) else text
    return text


def parse_params(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["m=4", "p=inf"]`` → ``{"m": 4, "p": inf}``; numbers become int/float, the rest stays text."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise PatternError(f"--param must look like NAME=VALUE, not {item!r}")
        params[key.strip()] = _value(text.strip())
    return params


def check_pattern_params(name: str, params: dict[str, Any]) -> None:
    """Exact error for an unknown pattern or parameter, before any work is done."""
    import hwprune.prune.patterns  # noqa: F401

    if name not in PATTERNS:
        raise PatternError(f"unknown pattern {name!r}; known patterns: {', '.join(sorted(PATTERNS))}")
    accepted = [p for p in inspect.signature(PATTERNS[name].__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise PatternError(f"pattern {name!r} has no parameter {unknown[0]!r}; its parameters: "
                           f"{', '.join(accepted) or 'none'}")
    get_pattern(name, **params)  # constructor validation (exact messages)


def load_training_data(path: Path, input_shape: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (reshaped to the model's input shape) and integer labels ``y`` from an .npz file."""
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read training data: {exc}", file=path) from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"training data needs arrays 'x' and 'y'; it has {sorted(arrays)}", file=path)
    x, y = np.asarray(arrays["x"], dtype=np.float32), np.asarray(arrays["y"])
    per_sample = int(np.prod(input_shape[1:]))
    if x.shape[0] != y.shape[0] or x[0].size != per_sample or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"x {list(x.shape)} / y {list(y.shape)} ({y.dtype}) do not fit the model input "
            f"{['N', *input_shape[1:]]} with integer class labels", file=path,
        )
    x = np.ascontiguousarray(x.reshape([x.shape[0], *input_shape[1:]]))
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """One CPU thread and a fixed seed, restored afterwards: reruns give byte-identical files."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def prune_model(model_path: str | Path, out_path: str | Path, options: PruneOptions) -> PruneResult:
    """Prune ``model_path`` and write ``out_path`` (see the module doc)."""
    from hwprune.frontend import import_onnx
    from hwprune.prune import finetune as ft
    from hwprune.prune.onnx_io import GraphModule, check_supported, graph_to_onnx, module_to_graph, save_onnx_atomic
    from hwprune.prune.patterns.channel import shrink_channels

    model_path = Path(model_path)
    if options.method not in METHODS:
        raise PatternError(f"unknown method {options.method!r}; known: {', '.join(METHODS)}")
    if options.epochs < 0:
        raise PatternError(f"epochs must be >= 0, not {options.epochs}")
    check_pattern_params(options.pattern, options.params)
    if not model_path.is_file():
        raise DataError("no such model file", file=model_path)
    try:
        graph = import_onnx(str(model_path))
        check_supported(graph)
        with _deterministic(options.seed):
            module = GraphModule(graph)
            kw = ft.layer_kwargs(list(options.skip), None, options.params)
            result = PruneResult(layers=[])
            cfg = ft.TrainConfig(options.epochs if options.data else 0, options.lr, options.batch_size, options.seed)
            x = y = None
            if options.data is not None:
                x, y = load_training_data(Path(options.data), graph.tensor(graph.inputs[0]).shape)
                result.accuracy_before = ft.accuracy(module, x, y)
            if options.method == "admm" and x is not None:
                admm_epochs = max(1, cfg.epochs)
                masks, result.admm_residuals = ft.admm_prune(
                    module, x, y, options.pattern, options.sparsity, cfg, admm_epochs=admm_epochs, **kw)
            elif options.method == "gradual" and x is not None:
                masks = ft.gradual_prune(module, x, y, options.pattern, options.sparsity, cfg,
                                         ramp_epochs=max(1, cfg.epochs // 2), **kw)
            else:
                if options.method != "one_shot":
                    log.warning("--method %s needs --data; pruning one-shot", options.method)
                masks = ft.one_shot_finetune(module, x, y, options.pattern, options.sparsity, cfg, **kw)
            if x is not None:
                result.accuracy_after = ft.accuracy(module, x, y)
        pattern = get_pattern(options.pattern, **options.params)
        for name, mask in masks.items():
            shape = tuple(mask.shape)
            result.layers.append({
                "layer": name, "pattern": pattern.name, "shape": list(shape), "sparsity": float(1 - mask.mean()),
                "metadata_bits_per_kept_weight": pattern.metadata_bits_per_kept_weight(shape, options.sparsity),
            })
        pruned = module_to_graph(module)
        if getattr(pattern, "masks_bias", False):
            pruned, result.channels_removed = shrink_channels(pruned)
        save_onnx_atomic(graph_to_onnx(pruned), out_path)
    except HwpruneError as exc:
        raise exc.with_file(model_path) from None
    return result

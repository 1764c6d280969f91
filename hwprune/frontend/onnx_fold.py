"""Fold constant and shape sub-graphs of an ONNX model before translation, with onnxslim.

Why: exporters compute reshape targets and fill values at run time (``x.view(x.size(0), -1)`` gives
``Shape → Gather → Unsqueeze → Concat → Reshape``; ``torch.zeros_like`` gives ``ConstantOfShape``). With
hwprune's static shapes (batch fixed to 1 by the loader) every such sub-graph is a constant. A maintained
folder (onnxslim's constant folding, which runs onnxruntime on the constant part) computes them instead of
one hand-written evaluator per op.

The folder runs only when the graph has something to fold (a non-``Constant`` node whose inputs are all
constant, or a ``Shape``/``Size`` of a statically shaped tensor): a graph without such a sub-graph is
returned as it came, so the bundled examples' builds stay byte-identical. Unnamed nodes are named
``{op_type}_{index}`` first, so errors still name them as in the original file.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference

from hwprune.errors import ModelLoadError
from hwprune.frontend import limits

__all__ = ["foldable_nodes", "fold_constant_subgraphs", "SHAPE_OPS", "NEVER_FOLDED"]

SHAPE_OPS = ("Shape", "Size")
"""Ops whose output is a constant whenever their input's shape is static (always, after the loader)."""
NEVER_FOLDED = ("Constant", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                "Multinomial", "Bernoulli")
"""Constants are already folded; random ops must stay random (and are refused by the importer)."""


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int] | None]:
    """Every value ONNX inferred a shape for: its dims, or None where one is unknown."""
    shapes: dict[str, list[int] | None] = {}
    for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        tensor_type = value.type.tensor_type
        if value.type.HasField("tensor_type") and tensor_type.HasField("shape"):
            dims = tensor_type.shape.dim
            shapes[value.name] = [d.dim_value for d in dims] if all(d.HasField("dim_value") for d in dims) else None
    return shapes


def foldable_nodes(model: onnx.ModelProto) -> list[int]:
    """Indices of the nodes a constant folder would replace by initializers (in graph order)."""
    graph = model.graph
    shapes = _static_shapes(model)
    constant = {t.name for t in graph.initializer} | {""}  # "" is an omitted optional input
    found: list[int] = []
    for index, node in enumerate(graph.node):
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            constant.update(node.output)
            continue
        if node.domain not in ("", "ai.onnx") or node.op_type in NEVER_FOLDED or not node.input:
            continue
        by_shape = node.op_type in SHAPE_OPS and shapes.get(node.input[0]) is not None
        if by_shape or all(name in constant for name in node.input):
            constant.update(node.output)
            found.append(index)
    return found


def _name_nodes(model: onnx.ModelProto, names: list[str]) -> None:
    """Give every node the name the importer would (the folder renumbers the unnamed ones it keeps)."""
    for node, name in zip(model.graph.node, names):
        node.name = name


def _check_sizes(model: onnx.ModelProto, found: list[int]) -> None:
    """Folding executes the nodes: every value whose size ONNX inferred must be within the limits.

    A value whose shape inference could not size (an ``Expand`` to a target computed by ``Where``, as
    torch exports a class token) is folded anyway and checked with the rest of the folded model.
    """
    shapes = _static_shapes(model)
    for index in found:
        node = model.graph.node[index]
        for out in (name for name in node.output if name):
            shape = shapes.get(out)
            if shape is not None:
                limits.check_shape(f"tensor {out!r}", shape, node=node.name, op=node.op_type)


def _slim(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnxslim's constant folding and dead-node clean-up only: no fusion, no merging of equal constants
    (which would rename tensors), so what is left keeps its names and order."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # a compile writes nothing outside its build
    import onnxslim
    from onnxslim.core.pattern.registry import DEFAULT_FUSION_PATTERNS

    logger = logging.getLogger("onnxslim")
    level = logger.level
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = onnxslim.slim(model, skip_fusion_patterns=sorted(DEFAULT_FUSION_PATTERNS),
                                   skip_optimizations=["graph_fusion", "subexpression_elimination", "weight_tying"])
    finally:
        logger.setLevel(level or logging.ERROR)
    if not isinstance(result, onnx.ModelProto):
        raise RuntimeError("onnxslim returned no model")
    return result


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def fold_constant_subgraphs(model: onnx.ModelProto, path: str | Path, names: list[str]) -> onnx.ModelProto:
    """``model`` with its constant sub-graphs folded to initializers and shapes inferred again; the model
    itself when there is nothing to fold. ``names`` are the importer's names of the nodes
    (``onnx_loader.node_names``). Raises ``ModelLoadError`` (naming the node where known)."""
    path = Path(path)
    found = foldable_nodes(model)
    if not found:
        return model
    _name_nodes(model, names)
    _check_sizes(model, found)
    first = model.graph.node[found[0]]
    try:
        folded = _slim(model)
    except Exception as exc:  # the folder runs onnxruntime on untrusted nodes: any failure is the model's
        raise ModelLoadError(f"constant folding failed: {_first_line(exc)}", file=path, node=first.name,
                             op=first.op_type) from None
    try:
        folded = shape_inference.infer_shapes(folded, strict_mode=True, data_prop=True)
        onnx.checker.check_model(folded)
    except Exception as exc:
        raise ModelLoadError(f"the model after constant folding is invalid: {_first_line(exc)}", file=path) from None
    left = foldable_nodes(folded)
    if left:
        node = folded.graph.node[left[0]]
        raise ModelLoadError("this constant sub-graph could not be folded", file=path, node=node.name,
                             op=node.op_type)
    return folded

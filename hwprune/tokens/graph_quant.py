"""The graph quantizer's (``hwprune.quant.ptq``) handling of TokenSelector nodes.

Why here and not in ``ptq``: a selector's integers (scales of every intermediate, GELU/exp/sigmoid
constants) come from the selector's own calibration (``quantize_selector``) on the candidate sets it
sees, which needs the float graph run one sample at a time (``hwprune.tokens.dynamic.trace_float``).

What a quantized selector node is:
- its token input is the graph's int8 tensor, and the selector is calibrated **at that tensor's scale**
  (so the integers the previous layer writes are exactly what ``IntSelector`` reads);
- its token output has the input's type and scale (kept tokens pass through unchanged; the package token
  is a weighted average, at the same scale); the package flag and the count are int64;
- the 12 float weights are dropped from the node and the graph: the integers live in the attribute
  ``int_selector`` (JSON of ``IntSelector``), the one copy RTL, HLS and the integer reference read.

``register()`` is the token feature's plug-in of stage ``quant`` (``hwprune.plugins``): the integer kernel
(``hwprune.quant.reference.INT_KERNELS``) and the node quantizer with its calibration tracer
(``hwprune.quant.ptq.NODE_QUANTIZERS``).
"""

from __future__ import annotations

import copy
import json
from typing import Mapping

import numpy as np
import torch

from hwprune.errors import GraphError, QuantizationError
from hwprune.ir.graph import Graph, Node
from hwprune.ir.types import IntType
from hwprune.quant.ptq import NODE_QUANTIZERS, NodeQuantizer
from hwprune.quant.reference import INT_KERNELS
from hwprune.tokens.dynamic import trace_float
from hwprune.tokens.ir_node import ATTR, float_selector, int_selector_of, selector_nodes
from hwprune.tokens.reference import quantize_selector
from hwprune.tokens.selector_json import int_selector_to_dict

__all__ = ["quantize_selector_node", "quantize_token_selectors", "SELECTOR_INT_TYPE", "FLAG_TYPE", "register"]

SELECTOR_INT_TYPE = IntType(8, True)
"""What the hardware selector streams: signed 8-bit tokens (``hwprune.tokens.reference.INT8``)."""
FLAG_TYPE = IntType(64, True)


def _fail(node: Node, reason: str) -> QuantizationError:
    return QuantizationError(reason, node=node.name, op=node.op)


def _package_input(graph: Graph, node: Node) -> None:
    """The package flag: a constant 0/1 (made an int64 constant) or another selector's flag output."""
    flag = graph.tensor(node.inputs[1])
    if flag.is_constant:
        flag.data = flag.data.astype("int64")  # type: ignore[union-attr]
        flag.dtype, flag.scale = FLAG_TYPE, [1.0]
        return
    producer = graph.producer(flag.name)
    if producer is None or producer.op != "TokenSelector" or producer.outputs[1] != flag.name:
        raise _fail(node, f"package flag {flag.name!r} must be a constant or a TokenSelector's flag output")


def quantize_selector_node(graph: Graph, node: Node, calibration: list[torch.Tensor]) -> None:
    """Calibrate ``node``'s ``IntSelector`` at its input's scale on ``calibration`` (candidate sets [n, D],
    float) and rewrite the node and its outputs in place (see the module docstring)."""
    x = graph.tensor(node.inputs[0])
    if x.dtype != SELECTOR_INT_TYPE or x.scale is None or len(x.scale) != 1:
        raise _fail(node, f"takes signed 8-bit tokens with one scale, not {x.dtype} {x.name!r} (needs act_bits 8; "
                          "a ReLU or a never-negative graph input right before it makes the tokens unsigned)")
    if len(node.inputs) != 14:
        raise _fail(node, "has no float weights to calibrate (already quantized?)")
    if not calibration:
        raise _fail(node, "saw no token sets on the calibration data")
    _package_input(graph, node)
    sel = quantize_selector(float_selector(graph, node), calibration, in_scale=float(x.scale[0]))
    node.attrs[ATTR] = json.loads(json.dumps(int_selector_to_dict(sel)))
    weights, node.inputs = node.inputs[2:], node.inputs[:2]
    for name in sorted(set(weights)):  # an exporter may share one initializer between weights
        if not graph.consumers(name) and name not in graph.outputs:
            del graph.tensors[name]
    tokens, flag, count = (graph.tensor(name) for name in node.outputs)
    tokens.dtype, tokens.scale = x.dtype, list(x.scale)
    for tensor in (flag, count):
        tensor.dtype, tensor.scale = FLAG_TYPE, None


def quantize_token_selectors(graph: Graph, feeds: Mapping[str, np.ndarray], max_samples: int = 256) -> Graph:
    """A copy of ``graph`` whose TokenSelector nodes carry their calibrated ``IntSelector`` (JSON attr).

    Selector-only: each selector picks its own input scale. ``hwprune.quant.quantize_graph`` quantizes a
    whole graph instead (selectors at their input tensor's scale, ``hwprune.tokens.graph_quant``).
    """
    nodes = selector_nodes(graph)
    if not nodes:
        raise GraphError("the graph has no TokenSelector node")
    missing = [name for name in graph.inputs if name not in feeds]
    if missing:
        raise QuantizationError(f"no calibration data for graph inputs {missing}")
    feeds = {k: np.asarray(v)[:max_samples] for k, v in feeds.items()}
    _, calibration = trace_float(graph, feeds)
    out = copy.deepcopy(graph)
    for node in selector_nodes(out):
        sel = quantize_selector(float_selector(graph, node), calibration[node.name])
        node.attrs[ATTR] = json.loads(json.dumps(int_selector_to_dict(sel)))
    return out


_SELECTORS: dict[int, tuple[object, object]] = {}


def _int_kernel(graph: Graph, node: Node, xs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``IntSelector.select`` on one sample: (tokens [1, T', D], package flag [1], count [1])."""
    if xs[0].shape[0] != 1:
        raise GraphError("TokenSelector runs one sample at a time (run_integer splits the batch)",
                         node=node.name, op=node.op)
    attr = node.attrs.get("int_selector")
    cached = _SELECTORS.get(id(node))
    if cached is None or cached[0] is not attr:  # the attr object is kept alive, so its id stays unique
        if len(_SELECTORS) >= 64:
            _SELECTORS.clear()
        cached = _SELECTORS[id(node)] = (attr, int_selector_of(node))
    step = cached[1].select(xs[0][0], bool(int(xs[1].reshape(-1)[0])))  # type: ignore[attr-defined]
    return (step.tokens[None], torch.tensor([int(step.has_package)], dtype=torch.int64),
            torch.tensor([step.tokens.shape[0]], dtype=torch.int64))


def register() -> None:
    """Plug-in of stage ``quant``: the integer kernel and the node quantizer (idempotent)."""
    INT_KERNELS.setdefault("TokenSelector", _int_kernel)  # type: ignore[arg-type]
    NODE_QUANTIZERS.setdefault("TokenSelector", NodeQuantizer(quantize_selector_node, trace_float))

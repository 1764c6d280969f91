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
"""

from __future__ import annotations

import json

import torch

from hwprune.errors import QuantizationError
from hwprune.ir.graph import Graph, Node
from hwprune.ir.types import IntType

__all__ = ["quantize_selector_node", "SELECTOR_INT_TYPE", "FLAG_TYPE"]

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
    from hwprune.tokens.emit import ATTR, float_selector
    from hwprune.tokens.hardware import int_selector_to_dict
    from hwprune.tokens.reference import quantize_selector

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

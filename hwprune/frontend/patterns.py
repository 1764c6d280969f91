"""Rewrites on the ONNX graph before translation: multi-node idioms that are one IR op.

Exporters without a ``Gelu`` op (opset < 20) write GELU as ``x * 0.5 * (1 + erf(x / sqrt 2))``;
recognising it here keeps the IR op set small and lets the integer path use one approximation.
"""

from __future__ import annotations

import math

import onnx
from onnx import helper, numpy_helper

__all__ = ["fuse_onnx_patterns"]


def _scalar(tensor: onnx.TensorProto) -> float | None:
    """The value of a one-element numeric tensor; ``None`` for anything else, including tensors that
    cannot be read (the importer reports those against their node; a pattern just does not match)."""
    if math.prod(tensor.dims) != 1:
        return None
    try:
        data = numpy_helper.to_array(tensor)
        return float(data.reshape(())) if data.size == 1 and data.dtype.kind in "fiub" else None
    except Exception:  # unknown data types, sizes that do not match the dims
        return None


def _scalar_constants(model: onnx.ModelProto) -> dict[str, float]:
    values: dict[str, float] = {}
    for init in model.graph.initializer:
        value = _scalar(init)
        if value is not None:
            values[init.name] = value
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value" and node.output:
            value = _scalar(node.attribute[0].t)
            if value is not None:
                values[node.output[0]] = value
    return values


def _close(value: float | None, target: float) -> bool:
    return value is not None and abs(value - target) <= 1e-4 * max(1.0, abs(target))


class _Matcher:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.nodes = list(model.graph.node)
        self.consts = _scalar_constants(model)
        self.producer = {out: n for n in self.nodes for out in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)
        self.graph_outputs = {v.name for v in model.graph.output}

    def sole_consumer(self, name: str, op_type: str) -> onnx.NodeProto | None:
        users = self.consumers.get(name, [])
        if len(users) == 1 and users[0].op_type == op_type and name not in self.graph_outputs:
            return users[0]
        return None

    def split_const(self, node: onnx.NodeProto, skip: str) -> tuple[str | None, float | None]:
        """For a binary node, the non-``skip`` input and its scalar value (if constant)."""
        others = [name for name in node.input if name != skip]
        if len(others) != 1:
            return None, None
        return others[0], self.consts.get(others[0])


def _match_gelu(m: _Matcher, erf: onnx.NodeProto) -> tuple[str, str, list[onnx.NodeProto]] | None:
    scaled = m.producer.get(erf.input[0])
    if scaled is None or scaled.op_type not in ("Div", "Mul") or m.sole_consumer(scaled.output[0], "Erf") is None:
        return None
    x = scaled.input[0]
    if scaled.op_type == "Mul" and x in m.consts:  # Mul is commutative: (1/sqrt 2) * x
        x = scaled.input[1]
    factor = m.split_const(scaled, x)[1]
    if not (_close(factor, math.sqrt(2)) if scaled.op_type == "Div" else _close(factor, 1 / math.sqrt(2))):
        return None
    add = m.sole_consumer(erf.output[0], "Add")
    if add is None or not _close(m.split_const(add, erf.output[0])[1], 1.0):
        return None
    mul1 = m.sole_consumer(add.output[0], "Mul")
    if mul1 is None:
        return None
    other, _ = m.split_const(mul1, add.output[0])
    if other == x:  # x * (1 + erf) then * 0.5
        mul2 = m.sole_consumer(mul1.output[0], "Mul")
        if mul2 is None or not _close(m.split_const(mul2, mul1.output[0])[1], 0.5):
            return None
        return x, mul2.output[0], [scaled, erf, add, mul1, mul2]
    half = m.producer.get(other or "")
    if half is not None and half.op_type == "Mul" and x in half.input and _close(m.split_const(half, x)[1], 0.5):
        shared = m.sole_consumer(half.output[0], "Mul") is not mul1  # x * 0.5 read elsewhere must stay
        return x, mul1.output[0], [scaled, erf, add, mul1] + ([] if shared else [half])
    return None


def fuse_onnx_patterns(model: onnx.ModelProto) -> None:
    """Replace every erf-form GELU subgraph in ``model`` by one ``Gelu`` node (in place)."""
    while True:
        m = _Matcher(model)
        for erf in (n for n in m.nodes if n.op_type == "Erf"):
            found = _match_gelu(m, erf)
            if found is None:
                continue
            x, y, matched = found
            ids = {id(n) for n in matched}
            first = min(i for i, n in enumerate(m.nodes) if id(n) in ids)
            kept = [n for n in m.nodes if id(n) not in ids]
            gelu = helper.make_node("Gelu", [x], [y], name=erf.name or f"Gelu_{first}", approximate="none")
            kept.insert(sum(1 for n in m.nodes[:first] if id(n) not in ids), gelu)
            del model.graph.node[:]
            model.graph.node.extend(kept)
            break
        else:
            return



"""Template contexts of the network top's stream stages that are not Dense/Conv kernels.

One builder per op (``NODE_STAGES``): it checks the node's integer types and parameters, sizes every
intermediate of the library function so the arithmetic is exact (the integer reference's, in
``hwprune.quant.reference``), and returns the stage dict the templates print. The pre-existing stages
(max pool, ReLU) keep their own template forms, so chains render exactly as before; the others are
``call`` stages: one ``<ident>_config`` struct (typedefs, ``static const int`` values, ``static const
bool`` flags) and one call ``hwprune::<function><config>(inputs..., outputs...)``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from hwprune.errors import BuildError
from hwprune.ir.graph import Graph, Node
from hwprune.ir.types import IntType

from .context import MAX_PRODUCT_BITS, ctype

__all__ = ["NODE_STAGES", "FRAME_FUNCTIONS", "call_stage", "count", "int_type", "fork_stage", "concat_stage"]

FRAME_FUNCTIONS = ("avgpool2d", "global_avgpool")
"""Call stages that read their whole input before writing (a fork port into one needs no deep FIFO)."""
_INT32 = 2**31


def count(graph: Graph, name: str) -> int:
    """Elements one inference puts on the stream of tensor ``name``."""
    return math.prod(graph.tensor(name).shape[1:])


def int_type(graph: Graph, name: str, node: Node) -> IntType:
    dtype = graph.tensor(name).dtype
    if not isinstance(dtype, IntType):
        raise BuildError(f"tensor {name!r} is not an integer tensor (graph not quantized?)", node=node.name,
                         op=node.op)
    return dtype


def _magnitude(t: IntType) -> int:
    return max(abs(t.min), abs(t.max))


def _signed_bits(bound: int) -> int:
    """Bits of a signed integer holding every value in [-bound, bound]."""
    return max(2, int(bound).bit_length() + 1)


def _requant(node: Node, prefix: str = "requant_") -> tuple[int, int]:
    """(M, sh) of a single-multiplier requantiser in the node's attributes, checked as the kernels need."""
    where = {"node": node.name, "op": node.op}
    if f"{prefix}mult" not in node.attrs or f"{prefix}shift" not in node.attrs:
        raise BuildError(f"has no {prefix}mult/{prefix}shift (graph not quantized?)", **where)
    mult, shift = int(node.attrs[f"{prefix}mult"][0]), int(node.attrs[f"{prefix}shift"][0])
    if mult <= 0 or not 1 <= shift <= 62:
        raise BuildError(f"requantiser M={mult}, sh={shift}: the kernels need M > 0 and 1 <= sh <= 62", **where)
    return mult, shift


def call_stage(node: Node, function: str, doc: str, types: dict[str, str], config: dict[str, int],
               flags: dict[str, bool], out: IntType, *, drains: bool = False) -> dict[str, Any]:
    """A stage run by ``hwprune::<function><<ident>_config>`` (widths checked: products stay in int64)."""
    for name, value in config.items():
        if not -_INT32 <= int(value) < _INT32:
            raise BuildError(f"{name} = {value} does not fit a 32-bit int constant", node=node.name, op=node.op)
    for name in [n for n in config if n.endswith("acc_bits") or n == "sum_bits"]:
        mult_bits = config.get(name.replace("acc_bits", "mult_bits").replace("sum_bits", "mult_bits"), 2)
        if config[name] + mult_bits > MAX_PRODUCT_BITS:
            raise BuildError(f"{name} {config[name]} + multiplier bits {mult_bits} exceed {MAX_PRODUCT_BITS}; "
                             "the requantiser product would not fit int64 exactly", node=node.name, op=node.op)
    return {"node": node.name, "op": node.op, "kind": "call", "function": function, "doc": doc, "types": types,
            "config": {k: int(v) for k, v in config.items()}, "flags": flags, "out_type": out, "drains": drains}


def _requant_config(mult: int, shift: int, prefix: str = "") -> dict[str, int]:
    return {f"{prefix}mult": mult, f"{prefix}mult_bits": _signed_bits(mult), f"{prefix}shift": shift,
            f"{prefix}shift_bits": shift.bit_length()}


def fork_stage(tensor: str, dtype: IntType, elements: int) -> dict[str, Any]:
    """One fork2 copying tensor ``tensor`` to two streams (the graph walk chains them for more readers)."""
    return {"node": tensor, "op": "fork", "kind": "call", "function": "fork2", "doc": "copied to two streams",
            "types": {"data_t": ctype(dtype)}, "config": {"count": elements}, "flags": {}, "out_type": dtype,
            "drains": True, "ports": 2, "base": f"{tensor}_fork", "count": elements}


def _maxpool(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    out_name = node.outputs[0]
    dtype = int_type(graph, out_name, node)
    if int_type(graph, xs[0], node) != dtype:
        raise BuildError("MaxPool input and output types differ", node=node.name, op=node.op)
    x, y, a = graph.tensor(xs[0]).shape, graph.tensor(out_name).shape, node.attrs
    return {"kind": "maxpool", "data_t": ctype(dtype), "drains": True, "config": {
        "channels": x[1], "in_height": x[2], "in_width": x[3], "kernel_h": a["kernel"][0],
        "kernel_w": a["kernel"][1], "stride_h": a["strides"][0], "stride_w": a["strides"][1],
        "pad_top": a["pads"][0], "pad_left": a["pads"][1], "out_height": y[2], "out_width": y[3]}}


def _relu(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    return {"kind": "relu", "in_t": ctype(int_type(graph, xs[0], node)),
            "out_t": ctype(int_type(graph, node.outputs[0], node)), "count": count(graph, node.outputs[0])}


def _avgpool(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    a, where = node.attrs, {"node": node.name, "op": node.op}
    if a.get("ceil_mode"):
        raise BuildError("ceil_mode windows have no constant divisor (the integer reference refuses them)", **where)
    if any(a["pads"]) and not a.get("count_include_pad"):
        raise BuildError("padding without count_include_pad has no constant divisor", **where)
    tin, tout = int_type(graph, xs[0], node), int_type(graph, node.outputs[0], node)
    x, y = graph.tensor(xs[0]).shape, graph.tensor(node.outputs[0]).shape
    (kh, kw), (sh, sw), pads = a["kernel"], a["strides"], a["pads"]
    for axis, (size, k, s, lo, hi, o) in enumerate(((x[2], kh, sh, pads[0], pads[2], y[2]),
                                                    (x[3], kw, sw, pads[1], pads[3], y[3]))):
        if o != (size + lo + hi - k) // s + 1:
            raise BuildError(f"output size {o} on axis {axis + 2} is not the floor-mode pooling size", **where)
    mult, shift = _requant(node)
    config = {"channels": x[1], "in_height": x[2], "in_width": x[3], "kernel_h": kh, "kernel_w": kw,
              "stride_h": sh, "stride_w": sw, "pad_top": pads[0], "pad_left": pads[1], "out_height": y[2],
              "out_width": y[3], "sum_bits": _signed_bits(_magnitude(tin) * kh * kw), **_requant_config(mult, shift)}
    return call_stage(node, "avgpool2d", f"{kh}x{kw} average pool (stride {sh}x{sw})",
                      {"in_t": ctype(tin), "out_t": ctype(tout)}, config, {}, tout, drains=True)


def _global_avg(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    tin, tout = int_type(graph, xs[0], node), int_type(graph, node.outputs[0], node)
    x = graph.tensor(xs[0]).shape
    if len(x) != 4:
        raise BuildError(f"GlobalAveragePool of a rank-{len(x)} tensor", node=node.name, op=node.op)
    pixels = x[2] * x[3]
    mult, shift = _requant(node)
    config = {"channels": x[1], "pixels": pixels, "sum_bits": _signed_bits(_magnitude(tin) * pixels),
              **_requant_config(mult, shift)}
    return call_stage(node, "global_avgpool", f"global average pool over {x[2]}x{x[3]} pixels",
                      {"in_t": ctype(tin), "out_t": ctype(tout)}, config, {}, tout, drains=True)


def _add(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    where = {"node": node.name, "op": node.op}
    if len(xs) != 2 or graph.tensor(xs[0]).shape != graph.tensor(xs[1]).shape:
        raise BuildError("an Add stage needs two activations of one shape", **where)
    mults = [int(m) for m in node.attrs.get("requant_mult", ())]
    if len(mults) != 2 or "requant_shift" not in node.attrs or any(m < 0 for m in mults):
        raise BuildError("has no two non-negative requant_mult and a requant_shift (graph not quantized?)", **where)
    shift = int(node.attrs["requant_shift"][0])
    if not 1 <= shift <= 62:
        raise BuildError(f"requant_shift {shift} is outside 1..62", **where)
    ta, tb = (int_type(graph, x, node) for x in xs)
    tout = int_type(graph, node.outputs[0], node)
    relu = node.attrs.get("activation") == "relu"
    bound = _magnitude(ta) * mults[0] + _magnitude(tb) * mults[1]
    config = {"count": count(graph, node.outputs[0]), "mult_a": mults[0], "mult_b": mults[1], "shift": shift,
              "acc_bits": _signed_bits(max(bound, *mults)), "shift_bits": shift.bit_length()}
    return call_stage(node, "add2", "residual Add" + (" with fused ReLU" if relu else ""),
                      {"a_t": ctype(ta), "b_t": ctype(tb), "out_t": ctype(tout)}, config, {"relu": relu}, tout)


def concat_stage(node: Node, parts: list[tuple[IntType, int, int | None]], pixels: int, shift: int,
                 out: IntType, index: int) -> dict[str, Any]:
    """``concat2`` of two parts (type, channels, multiplier or None = copy) into ``out``; ``index`` > 0
    for the later links of a chained Concat of more than two inputs."""
    for dtype, _, mult in parts:
        if mult is None and dtype != out:
            raise BuildError(f"a Concat input of type {dtype} copied into {out} without requantisation",
                             node=node.name, op=node.op)
    mults = [mult or 0 for _, _, mult in parts]
    bound = max(_magnitude(t) * m for (t, _, _), m in zip(parts, mults))
    (ta, ca, ma), (tb, cb, mb) = parts
    config = {"pixels": pixels, "chunk_a": ca, "chunk_b": cb, "mult_a": mults[0], "mult_b": mults[1],
              "shift": shift, "acc_bits": _signed_bits(max(bound, *mults)), "shift_bits": max(1, shift.bit_length())}
    doc = "channel Concat" + (f" (link {index + 1})" if index else "")
    stage = call_stage(node, "concat2", doc, {"a_t": ctype(ta), "b_t": ctype(tb), "out_t": ctype(out)}, config,
                       {"requant_a": ma is not None, "requant_b": mb is not None}, out)
    return {**stage, "count": pixels * (ca + cb), **({"base": f"{node.name}_link{index}"} if index else {})}


def _hard_sigmoid(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    tin, tout = int_type(graph, xs[0], node), int_type(graph, node.outputs[0], node)
    offset = int(node.attrs["offset"])
    mult, shift = _requant(node)
    config = {"count": count(graph, node.outputs[0]), "offset": offset,
              "acc_bits": _signed_bits(_magnitude(tin) + abs(offset)), **_requant_config(mult, shift)}
    return call_stage(node, "hard_sigmoid", "HardSigmoid", {"in_t": ctype(tin), "out_t": ctype(tout)}, config, {},
                      tout)


def _hard_swish(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    tin, tout = int_type(graph, xs[0], node), int_type(graph, node.outputs[0], node)
    gate = IntType(tout.bits, False)
    offset = int(node.attrs["gate_offset"])
    gate_mult, gate_shift = _requant(node, "gate_")
    mult, shift = _requant(node)
    config = {"count": count(graph, node.outputs[0]), "gate_offset": offset,
              "gate_acc_bits": _signed_bits(_magnitude(tin) + abs(offset)),
              **_requant_config(gate_mult, gate_shift, "gate_"), "acc_bits": _signed_bits(_magnitude(tin) * gate.max),
              **_requant_config(mult, shift)}
    return call_stage(node, "hard_swish", "HardSwish", {"in_t": ctype(tin), "gate_t": ctype(gate), "out_t": ctype(tout)},
                      config, {}, tout)


def _table(graph: Graph, node: Node, xs: list[str]) -> dict[str, Any]:
    """Sigmoid / Tanh: ``lookup`` of the node's table (``hwprune.quant.tables``)."""
    tin, tout = int_type(graph, xs[0], node), int_type(graph, node.outputs[0], node)
    table = [int(v) for v in node.attrs["table"]]
    if len(table) != 1 << tin.bits:
        raise BuildError(f"a {tin.bits}-bit input needs {1 << tin.bits} table entries, not {len(table)}",
                         node=node.name, op=node.op)
    stage = call_stage(node, "lookup", f"{node.op} (a table over every input code)",
                       {"in_t": ctype(tin), "out_t": ctype(tout)},
                       {"count": count(graph, node.outputs[0]), "in_min": tin.min}, {}, tout)
    return {**stage, "tables": {"table": table}}


StageBuilder = Callable[[Graph, Node, "list[str]"], "dict[str, Any]"]
NODE_STAGES: dict[str, StageBuilder] = {
    "MaxPool": _maxpool, "Relu": _relu, "AveragePool": _avgpool, "GlobalAveragePool": _global_avg, "Add": _add,
    "HardSigmoid": _hard_sigmoid, "HardSwish": _hard_swish, "Sigmoid": _table, "Tanh": _table,
}
"""Op -> builder of its stream stage (activation input names in, stage dict out). Dense/Conv (kernels),
Reshape (aliases, flatten) and Concat (chained ``concat2`` links) are handled by the graph walk."""

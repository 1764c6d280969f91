"""Template contexts for the HLS writer: KernelSpecs and the quantized graph → plain dicts.

Everything the Jinja templates print is decided here (types, widths, array contents, the stage
chain), so the templates stay declarative and the numbers are checked once, in Python, with
messages that name the layer. Arrays are laid out exactly as ``hls/include/hwprune/balanced.h``
reads them (rows padded to ``passes × lanes``; offsets stored once per pass when the lanes of a pass
share them, i.e. block-punched balanced).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from hwprune.errors import BuildError, UnsupportedOpError
from hwprune.ir.graph import Graph, Node
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.names import identifier

__all__ = ["ctype", "host_ctype", "c_array", "mac_layer", "network_stages", "MAX_PRODUCT_BITS", "KERNEL_KINDS"]

MAX_PRODUCT_BITS = 62
"""acc_bits + mult_bits bound of the requantiser (requant.h keeps acc*M + 2^(sh-1) inside int64)."""


def ctype(t: IntType) -> str:
    """The ap_int type of an IR integer type."""
    if t.bits > 63:
        raise BuildError(f"{t} is wider than the 63 bits the HLS kernels support")
    return f"ap_int<{t.bits}>" if t.signed else f"ap_uint<{t.bits}>"


def host_ctype(bits: int, signed: bool) -> str:
    """The smallest plain C integer type holding an ap_int of ``bits`` bits (C-sim ROM storage)."""
    for width, name in ((8, "char"), (16, "short"), (32, "int"), (64, "long long")):
        if bits <= width:
            return f"{'signed' if signed else 'unsigned'} {name}" if name == "char" else (
                name if signed else f"unsigned {name}")
    raise BuildError(f"{bits}-bit constants are wider than the kernels support")


def _check_range(where: str, what: str, values: np.ndarray, bits: int, signed: bool) -> None:
    """Every constant must fit its ap_int type, so host-typed and ap_int-typed ROMs hold equal values."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    values = np.asarray(values, dtype=np.int64)
    if values.size and (int(values.min()) < lo or int(values.max()) > hi):
        raise BuildError(f"{where}: {what} values {int(values.min())}..{int(values.max())} do not fit "
                         f"{'' if signed else 'u'}int{bits}")


def _literal(value: int) -> str:
    return f"{value}LL" if not -(2**31) <= value < 2**31 else str(value)


def c_array(array: np.ndarray, indent: str = "    ") -> str:
    """A C brace initialiser of an integer array: one outermost element per line, deterministic."""
    array = np.asarray(array, dtype=np.int64)

    def inner(a: np.ndarray) -> str:
        if a.ndim == 1:
            return "{" + ", ".join(_literal(int(v)) for v in a) + "}"
        return "{" + ", ".join(inner(sub) for sub in a) + "}"

    if array.ndim == 1:
        return inner(array)
    lines = [f"{indent}{inner(sub)}" for sub in array]
    return "{\n" + ",\n".join(lines) + "\n}"


def _offsets(spec: KernelSpec, rows: int) -> tuple[np.ndarray, bool]:
    """(offset array as the kernel reads it, whether the lanes of each pass share one list)."""
    layout, lanes = spec.layout, spec.lanes
    offsets = np.asarray(spec.weights.offsets, dtype=np.int64)
    if layout.kept_per_group == layout.group_size:  # keep all: positions are implicit
        return np.zeros((1, 1, 1), dtype=np.int64), False
    slots = np.asarray(spec.row_slots)
    blocks = [offsets[(slots >= p * lanes) & (slots < (p + 1) * lanes)] for p in range(spec.passes)]
    shared = lanes > 1 and all(bool((block == block[0]).all()) for block in blocks)
    if shared:
        return np.stack([block[0] for block in blocks]), True
    return _by_slot(spec, offsets, rows, 0), False


def _by_slot(spec: KernelSpec, per_row: np.ndarray, rows: int, pad: int) -> np.ndarray:
    """Per-row data laid out in the engine's ``rows`` slots (``KernelSpec.row_slots``: a grouped conv's
    groups each start a pass), padding slots filled with ``pad``."""
    per_row = np.asarray(per_row, dtype=np.int64)
    out = np.full((rows, *per_row.shape[1:]), pad, dtype=np.int64)
    out[np.asarray(spec.row_slots, dtype=np.int64)] = per_row
    return out


def _dense_kind(spec: KernelSpec, where: str, config: dict[str, Any]) -> tuple[str, int, int]:
    config["flatten_channels"] = 1  # network_stages sets C when a Flatten of a C x H x W map precedes
    return "dense", spec.in_features, spec.out_features


def _conv_kind(spec: KernelSpec, where: str, config: dict[str, Any]) -> tuple[str, int, int]:
    g = spec.conv
    assert g is not None
    config.update(
        in_channels=g.in_channels, in_height=g.in_height, in_width=g.in_width, kernel_h=g.kernel[0],
        kernel_w=g.kernel[1], stride_h=g.strides[0], stride_w=g.strides[1], pad_top=g.pads[0],
        pad_left=g.pads[1], dilation_h=g.dilations[0], dilation_w=g.dilations[1], out_height=g.out_height,
        out_width=g.out_width,
    )
    function = "conv2d"
    if g.group != 1:  # group-serial (hls/include/hwprune/grouped_conv.h)
        function = "grouped_conv2d"
        config.update(conv_groups=g.group, group_channels=g.in_channels // g.group,
                      group_outputs=spec.group_outputs, group_passes=spec.group_passes)
    return function, g.in_channels * g.in_height * g.in_width, spec.out_features * g.out_height * g.out_width


KindConfig = Callable[[KernelSpec, str, "dict[str, Any]"], "tuple[str, int, int]"]
KERNEL_KINDS: dict[str, KindConfig] = {"dense": _dense_kind, "conv": _conv_kind}
"""The HLS kernel-writer table: KernelSpec kind -> what that kind adds to the layer's config struct,
returning (library function of ``hls/include/hwprune``, input count, output count). A new kernel kind
adds its entry here beside its header function (docs/architecture.md, "Adding a backend kernel")."""


def mac_layer(spec: KernelSpec) -> dict[str, Any]:
    """Config + arrays of one Dense/Conv KernelSpec (the ``*_config`` struct and its weights)."""
    where = f"layer {spec.name!r}"
    layout = spec.layout
    rows = spec.passes * spec.lanes
    if spec.weights.values.shape != (spec.out_features, layout.groups, layout.kept_per_group):
        raise BuildError(f"{where}: packed values have shape {list(spec.weights.values.shape)}, not "
                         f"[{spec.out_features}, {layout.groups}, {layout.kept_per_group}]")
    shifts = [int(s) for s in spec.requant_shift]
    if any(not 1 <= s <= 62 for s in shifts):
        raise BuildError(f"{where}: requantiser shifts must lie in 1..62, got {min(shifts)}..{max(shifts)}")
    mults = [int(m) for m in spec.requant_mult]
    mult_bits = max(2, max(abs(m) for m in mults).bit_length() + 1)
    if spec.acc_bits + mult_bits > MAX_PRODUCT_BITS:
        raise BuildError(f"{where}: acc_bits {spec.acc_bits} + multiplier bits {mult_bits} exceed "
                         f"{MAX_PRODUCT_BITS}; the requantiser product would not fit int64 exactly")
    values = _by_slot(spec, spec.weights.values, rows, 0)
    offsets, shared = _offsets(spec, rows)
    dense = layout.kept_per_group == layout.group_size
    shift_bits = max(shifts).bit_length()
    offset_bits = max(1, layout.offset_bits)
    _check_range(where, "weight", values, spec.weight_bits, True)
    _check_range(where, "offset", offsets, offset_bits, False)
    _check_range(where, "bias", np.array(spec.bias), spec.acc_bits, True)
    config: dict[str, Any] = {
        "in_features": spec.in_features, "out_features": spec.out_features, "lanes": spec.lanes,
        "macs": spec.macs_per_lane, "groups": layout.groups, "group_size": layout.group_size,
        "kept": layout.kept_per_group, "passes": spec.passes, "offset_rows": offsets.shape[0],
        "offset_groups": offsets.shape[1], "offset_kept": offsets.shape[2],
    }
    kind = KERNEL_KINDS.get(spec.kind)
    if kind is None:
        raise BuildError(f"{where}: kernel kind {spec.kind!r} has no HLS kernel; known: {', '.join(KERNEL_KINDS)}")
    function, in_count, out_count = kind(spec, where, config)
    return {
        "ident": spec.ident, "name": spec.name, "kind": spec.kind, "pattern": spec.pattern,
        "pattern_params": ", ".join(f"{k}={v}" for k, v in sorted(spec.pattern_params.items())),
        "function": function,
        "types": {
            "in_t": ctype(spec.in_type), "out_t": ctype(spec.out_type),
            "weight_t": ctype(IntType(spec.weight_bits, True)), "acc_t": f"ap_int<{spec.acc_bits}>",
            "mult_t": f"ap_int<{mult_bits}>", "shift_t": f"ap_uint<{shift_bits}>",
            "offset_t": f"ap_uint<{offset_bits}>",
        },
        "host_types": {
            "weight_t": host_ctype(spec.weight_bits, True), "offset_t": host_ctype(offset_bits, False),
            "acc_t": host_ctype(spec.acc_bits, True), "mult_t": host_ctype(mult_bits, True),
            "shift_t": host_ctype(shift_bits, False),
        },
        "config": config,
        "flags": {"relu": spec.relu, "dense": dense, "shared_offsets": shared},
        "arrays": {
            "weights": c_array(values), "offsets": c_array(offsets),
            "bias": c_array(_by_slot(spec, np.array(spec.bias), rows, 0)),
            "mult": c_array(_by_slot(spec, np.array(mults), rows, 0)),
            "shift": c_array(_by_slot(spec, np.array(shifts), rows, 1)),
        },
        "dims": {
            "weights": f"[{rows}][{layout.groups}][{layout.kept_per_group}]",
            "offsets": "[{}][{}][{}]".format(*offsets.shape), "rows": f"[{rows}]",
        },
        "in_count": in_count, "out_count": out_count,
        "macs_per_vector": spec.useful_macs, "cycles_per_vector": spec.compute_cycles,
    }


def _count(graph: Graph, name: str) -> int:
    return math.prod(graph.tensor(name).shape[1:])


def _int_type(graph: Graph, name: str, node: Node) -> IntType:
    dtype = graph.tensor(name).dtype
    if not isinstance(dtype, IntType):
        raise BuildError(f"tensor {name!r} is not an integer tensor (graph not quantized?)", node=node.name,
                         op=node.op)
    return dtype


def _reshape_channels(graph: Graph, node: Node, src: str, dst: str) -> int:
    """How a Reshape acts on channels-last streams: 1 = same beat order (alias the stream), C = a Flatten
    of a C x H x W map (beats must be reordered to (c, h, w)); anything else has no HLS stage."""
    x, y = graph.tensor(src).shape[1:], graph.tensor(dst).shape[1:]
    if math.prod(x) != math.prod(y):
        raise BuildError("Reshape changes the element count", node=node.name, op=node.op)
    def trivial(shape: list[int]) -> bool:  # channels-last order equals row-major order
        return len(shape) != 3 or shape[0] == 1 or shape[1] * shape[2] == 1
    if trivial(x) and trivial(y):
        return 1
    if len(x) == 3 and len(y) == 1:
        return x[0]
    raise UnsupportedOpError(f"Reshape {list(x)} -> {list(y)} has no HLS stage (only Flatten)",
                             node=node.name, op=node.op)


def network_stages(graph: Graph, kernels: Sequence[KernelSpec]) -> dict[str, Any]:
    """The stream chain of a quantized graph: Quantize output in, Dense/Conv/MaxPool/Relu stages, out.

    Feature maps stream channels-last. A Reshape that keeps that beat order reuses its input stream;
    a Flatten of a C x H x W map is folded into the next Dense's input read (``flatten_channels``) or,
    when no Dense follows, becomes a ``flatten`` stage. Graphs that are not a single chain, or use ops
    without an HLS stage, are rejected naming the node.
    """
    by_name = {spec.name: spec for spec in kernels}
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise BuildError("the HLS network top needs one input and one output, "
                         f"not {graph.inputs} → {graph.outputs}")
    first = graph.nodes[0] if graph.nodes else None
    if first is None or first.op != "Quantize" or first.inputs[0] != graph.inputs[0]:
        raise BuildError("the HLS network top starts at the input's Quantize node; the graph has none first")
    current = first.outputs[0]
    taken = {spec.ident.lower() for spec in kernels}
    stages: list[dict[str, Any]] = []
    pending_flatten: dict[str, Any] | None = None  # a Flatten not yet folded or emitted
    for node in graph.nodes[1:]:
        if node.inputs[0] != current or len(graph.consumers(current)) != 1:
            raise UnsupportedOpError("the HLS writer handles a single chain of layers; this node branches",
                                     node=node.name, op=node.op)
        out_name = node.outputs[0]
        if pending_flatten is not None and node.op != "Dense":
            stages.append(pending_flatten)
            pending_flatten = None
        stage: dict[str, Any] = {"node": node.name, "op": node.op}
        if node.op == "Reshape":
            channels = _reshape_channels(graph, node, current, out_name)
            if channels > 1:
                dtype = _int_type(graph, out_name, node)
                pending_flatten = {**stage, "kind": "flatten", "data_t": ctype(dtype), "channels": channels,
                                   "pixels": _count(graph, out_name) // channels, "out_type": dtype}
            current = out_name
            continue
        if node.op in ("Dense", "Conv"):
            spec = by_name.get(node.name)
            where = {"node": node.name, "op": node.op}
            if spec is None:
                raise BuildError("no KernelSpec for this layer (lower the graph first)", **where)
            types = (_int_type(graph, current, node), _int_type(graph, out_name, node))
            if (spec.in_type, spec.out_type) != types:
                raise BuildError("KernelSpec types do not match the graph tensors", **where)
            layer = mac_layer(spec)
            if (layer["in_count"], layer["out_count"]) != (_count(graph, current), _count(graph, out_name)):
                raise BuildError("KernelSpec shapes do not match the graph tensors", **where)
            if pending_flatten is not None:
                layer["config"]["flatten_channels"] = pending_flatten["channels"]
                pending_flatten = None
            stage.update(kind="mac", layer=layer, ident=spec.ident)
        elif node.op == "MaxPool":
            dtype = _int_type(graph, out_name, node)
            if _int_type(graph, current, node) != dtype:
                raise BuildError("MaxPool input and output types differ", node=node.name, op=node.op)
            x, y, a = graph.tensor(current).shape, graph.tensor(out_name).shape, node.attrs
            stage.update(kind="maxpool", data_t=ctype(dtype), config={
                "channels": x[1], "in_height": x[2], "in_width": x[3], "kernel_h": a["kernel"][0],
                "kernel_w": a["kernel"][1], "stride_h": a["strides"][0], "stride_w": a["strides"][1],
                "pad_top": a["pads"][0], "pad_left": a["pads"][1], "out_height": y[2], "out_width": y[3]})
        elif node.op == "Relu":
            stage.update(kind="relu", in_t=ctype(_int_type(graph, current, node)),
                         out_t=ctype(_int_type(graph, out_name, node)), count=_count(graph, out_name))
        else:
            raise UnsupportedOpError(
                "has no HLS stage (supported: Dense, Conv, MaxPool, Relu, Reshape/Flatten)",
                node=node.name, op=node.op)
        stage["out_type"] = _int_type(graph, out_name, node)
        stages.append(stage)
        current = out_name
    if pending_flatten is not None:
        stages.append(pending_flatten)
    if current != graph.outputs[0]:
        raise BuildError(f"the chain ends at {current!r}, not at the graph output {graph.outputs[0]!r}")
    if not stages:
        raise BuildError("the graph has no layer after its Quantize node")
    streams: list[dict[str, Any]] = []
    for index, stage in enumerate(stages):
        if "ident" not in stage:
            base = identifier(stage["node"], prefix="stage")
            ident, n = base, 1
            while ident.lower() in taken:
                ident, n = f"{base}_{n}", n + 1
            taken.add(ident.lower())
            stage["ident"] = ident
        stage["in_stream"] = streams[-1]["var"] if streams else "x_in"
        if index == len(stages) - 1:
            stage["out_stream"] = "y_out"
        else:
            streams.append({"var": f"s{index}_{stage['ident']}", "type": ctype(stage["out_type"]),
                            "count": _stage_count(stage)})
            stage["out_stream"] = streams[-1]["var"]
    return {
        "stages": stages, "streams": streams, "in_t": ctype(_int_type(graph, first.outputs[0], first)),
        "out_t": ctype(stages[-1]["out_type"]), "in_count": _count(graph, first.outputs[0]),
        "out_count": _count(graph, current),
    }


def _stage_count(stage: dict[str, Any]) -> int:
    """Elements one inference puts on a stage's output stream."""
    if stage["kind"] == "mac":
        return int(stage["layer"]["out_count"])
    if stage["kind"] == "maxpool":
        c = stage["config"]
        return int(c["channels"] * c["out_height"] * c["out_width"])
    if stage["kind"] == "flatten":
        return int(stage["channels"] * stage["pixels"])
    return int(stage["count"])

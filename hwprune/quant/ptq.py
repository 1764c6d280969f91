"""Post-training quantization of an IR graph to the integer form of docs/architecture.md section 3.

Weights: symmetric, one scale per output channel. Activations: one scale per tensor from a
min/max observer on calibration data, unsigned after ReLU. Every layer gets the integer
multiplier/shift of its requantiser and the accumulator width that cannot overflow. Scales that a
QONNX model fixes (its ``Quant`` nodes, its integer weights) are kept, not re-derived.

Ops with a quantizer of their own come from plug-ins (``NODE_QUANTIZERS``, stage ``quant`` of
``hwprune.plugins``). TokenSelector nodes (``hwprune.tokens.graph_quant``): the float graph is observed
one sample at a time (the token count after a selector is data-dependent), each selector is calibrated at
its int8 input's scale, and its token output passes through at that scale.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from hwprune import plugins
from hwprune.errors import QuantizationError
from hwprune.frontend.fold_affine import affine_operands
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType
from hwprune.quant.calibrate import observe_ranges
from hwprune.quant.hard_act import hard_sigmoid_params, hard_swish_params
from hwprune.quant.input_affine import apply_chain, input_chain, remove_chain
from hwprune.quant.merge import fuse_add_relu, quantize_add, quantize_concat
from hwprune.quant.requant import requant_params
from hwprune.quant.tables import MAX_TABLE_BITS, TABLE_OPS, activation_table, table_output

__all__ = ["QuantSpec", "quantize_graph", "INTEGER_OPS", "accumulator_bits", "NODE_QUANTIZERS", "NodeQuantizer",
           "integer_ops"]

INTEGER_OPS = ("Quantize", "Dense", "Conv", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Reshape",
               "Transpose", "Add", "Concat", "HardSigmoid", "HardSwish", *TABLE_OPS)
"""The ops this module quantizes itself; ``integer_ops()`` adds the plug-ins'."""
PASS_THROUGH = ("Relu", "MaxPool", "Reshape", "Transpose")

Ranges = dict[str, float]
Feeds = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class NodeQuantizer:
    """How a plug-in op is quantized: ``quantize(graph, node, calibration)`` rewrites the node in place;
    ``trace(graph, feeds)``, when the op is present, replaces the range observer and also returns each
    such node's calibration (e.g. the token sets a selector saw)."""

    quantize: Callable[[Graph, Node, Any], None]
    trace: Callable[[Graph, Feeds], tuple[Ranges, dict[str, Any]]] | None = None


NODE_QUANTIZERS: dict[str, NodeQuantizer] = {}
"""Op type -> its quantizer (filled by plug-ins of stage ``quant``)."""


def integer_ops() -> tuple[str, ...]:
    """Every op with an integer implementation: the built-in ones, then the plug-ins' (sorted)."""
    plugins.load("quant")
    return INTEGER_OPS + tuple(sorted(NODE_QUANTIZERS))


@dataclass(frozen=True)
class QuantSpec:
    """Bit widths of the integer graph."""

    weight_bits: int = 8
    act_bits: int = 8
    bias_bits: int = 32

    def __post_init__(self) -> None:
        for name in ("weight_bits", "act_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 2 <= value <= 16:
                raise QuantizationError(f"{name} must be an integer in 2..16, not {value!r}")


def accumulator_bits(weight_bits: int, act_bits: int, kept_per_output: int, bias_abs_max: int, act_max: int) -> int:
    """The formula of docs/architecture.md section 3, widened if a large bias could still overflow it."""
    width = weight_bits + act_bits + math.ceil(math.log2(max(kept_per_output, 1))) + 1
    bound = kept_per_output * (1 << (weight_bits - 1)) * act_max + bias_abs_max
    return max(width, bound.bit_length() + 1)


def _act_type(bits: int, signed: bool) -> IntType:
    return IntType(bits, signed)


class _Quantizer:
    def __init__(self, graph: Graph, ranges: dict[str, float], spec: QuantSpec,
                 calibration: Mapping[str, Any] | None = None) -> None:
        self.g = graph
        self.ranges = ranges
        self.spec = spec
        self.calibration = dict(calibration or {})  # per plug-in node: what its tracer saw (token sets)

    def fail(self, node: Node, reason: str) -> QuantizationError:
        return QuantizationError(reason, node=node.name, op=node.op)

    def act_scale(self, name: str, signed: bool) -> float:
        qmax = (1 << (self.spec.act_bits - 1)) - 1 if signed else (1 << self.spec.act_bits) - 1
        observed = self.ranges.get(name, 0.0)
        return (observed if observed > 0 else 1.0) / qmax

    def set_output(self, node: Node, signed: bool) -> Tensor:
        """Give the node's output a type and scale, unless a QONNX Quant already fixed them."""
        out = self.g.tensor(node.outputs[0])
        if out.scale is None:
            out.dtype = _act_type(self.spec.act_bits, signed)
            out.scale = [self.act_scale(out.name, signed)]
        return out

    def int_input(self, node: Node, index: int = 0) -> Tensor:
        tensor = self.g.tensor(node.inputs[index])
        if not tensor.is_quantized or tensor.scale is None:
            raise self.fail(node, f"input {tensor.name!r} is not an integer tensor")
        return tensor

    def weight(self, node: Node) -> Tensor:
        w = self.g.tensor(node.inputs[1])
        if w.is_quantized:
            return w
        data = np.asarray(w.data, dtype=np.float64)
        if not np.all(np.isfinite(data)):
            raise self.fail(node, f"weight {w.name!r} holds NaN or Inf")
        qmax = (1 << (self.spec.weight_bits - 1)) - 1
        peak = np.abs(data.reshape(data.shape[0], -1)).max(axis=1)
        scale = np.where(peak > 0, peak / qmax, 1.0)
        shape = [-1] + [1] * (data.ndim - 1)
        w.data = np.clip(np.rint(data / scale.reshape(shape)), -qmax, qmax).astype(np.int64)
        w.dtype = IntType(self.spec.weight_bits, True)
        w.scale, w.scale_axis = [float(s) for s in scale], 0
        return w

    def layer(self, node: Node) -> None:
        x = self.int_input(node)
        w = self.weight(node)
        out_channels = w.shape[0]
        w_scale = np.broadcast_to(np.asarray(w.scale, dtype=np.float64), (out_channels,))
        acc_scale = w_scale * x.scale[0]
        bias_int = np.zeros(out_channels, dtype=np.int64)
        if len(node.inputs) > 2:
            b = self.g.tensor(node.inputs[2])
            bias_int = np.rint(b.real_values().astype(np.float64) / acc_scale).astype(np.int64)
            limit = 1 << (self.spec.bias_bits - 1)
            if np.any(np.abs(bias_int) >= limit):
                raise self.fail(node, f"bias does not fit {self.spec.bias_bits} bits in the accumulator domain")
            b.data, b.dtype = bias_int, IntType(self.spec.bias_bits, True)
            b.scale, b.scale_axis = [float(s) for s in acc_scale], 0
        out = self.layer_output(node)
        mults, shifts = zip(*(requant_params(float(s / out.scale[0])) for s in acc_scale))
        data = np.asarray(w.data)
        kept = int(np.count_nonzero(data.reshape(out_channels, -1), axis=1).max()) if data.size else 0
        act_max = max(abs(x.dtype.min), x.dtype.max)  # type: ignore[union-attr]
        node.attrs.update(
            requant_mult=[int(m) for m in mults],
            requant_shift=[int(s) for s in shifts],
            acc_bits=accumulator_bits(w.dtype.bits, x.dtype.bits, kept, int(np.abs(bias_int).max(initial=0)),
                                      act_max),
        )

    def layer_output(self, node: Node) -> Tensor:
        """The layer's output type and scale; with ``clip_max`` (a folded ReLU6) the scale that maps the
        clip maximum to the largest unsigned code, so the output clamp is the clip (docs/numerics.md)."""
        if "clip_max" not in node.attrs:
            return self.set_output(node, signed=node.attrs["activation"] != "relu")
        clip_max = float(node.attrs["clip_max"])
        out = self.g.tensor(node.outputs[0])
        if out.scale is None:
            out.dtype = _act_type(self.spec.act_bits, False)
            out.scale = [clip_max / out.dtype.max]
        elif abs(out.scale[0] * out.dtype.max - clip_max) > 1e-6 * clip_max:  # type: ignore[union-attr]
            raise self.fail(node, f"a Quant fixes the output scale {out.scale[0]:.6g}, whose largest code is not "
                                  f"the folded Clip maximum {clip_max:g}")
        return out

    def hard(self, node: Node) -> None:
        x = self.int_input(node)
        bits = self.spec.act_bits
        if node.op == "HardSigmoid":
            out = self.g.tensor(node.outputs[0])
            out.dtype, out.scale = _act_type(bits, False), [1.0 / ((1 << bits) - 1)]
            node.attrs.update(hard_sigmoid_params(x.scale[0], float(node.attrs["alpha"]), float(node.attrs["beta"]),
                                                  bits))
            return
        out = self.set_output(node, signed=True)
        node.attrs.update(hard_swish_params(x.scale[0], out.scale[0], bits))

    def table(self, node: Node) -> None:
        """Sigmoid / Tanh: a table over every input code (``hwprune.quant.tables``)."""
        x = self.int_input(node)
        assert isinstance(x.dtype, IntType) and x.scale is not None
        if x.dtype.bits > MAX_TABLE_BITS:
            raise self.fail(node, f"its {x.dtype.bits}-bit input would need a {1 << x.dtype.bits}-entry table "
                                  f"(tables take inputs of up to {MAX_TABLE_BITS} bits)")
        out = self.g.tensor(node.outputs[0])
        out.dtype, scale = table_output(node.op, self.spec.act_bits)
        out.scale = [scale]
        node.attrs["table"] = activation_table(node.op, x.dtype, x.scale[0], out.dtype, scale)

    def unfoldable(self, node: Node) -> QuantizationError:
        """Why an op that only folds into a neighbour is still here (the passes left it alone)."""
        if node.op == "Clip":
            return self.fail(node, f"Clip(min={node.attrs['min']:g}, max={node.attrs['max']:g}) has no integer "
                                   "implementation: only a Clip with min 0 right after a Dense/Conv whose output "
                                   "nothing else reads (ReLU6) folds into the layer's output quantization")
        return self.fail(node, f"{node.op} by a constant could not be folded into the quantization: it is "
                               "neither on the graph input's path to the first layer (folded into the input "
                               "quantizer) nor next to a Dense/Conv whose weights and bias can absorb it "
                               "(the constant must be one value per channel or a scalar, the tensor between "
                               "them read only there, and an offset before a Conv needs the Conv unpadded)")

    def average(self, node: Node) -> None:
        x = self.int_input(node)
        if node.op == "AveragePool":
            if node.attrs["ceil_mode"]:
                raise self.fail(node, "ceil_mode windows cut short have no constant divisor in integers")
            if any(node.attrs["pads"]) and not node.attrs["count_include_pad"]:
                raise self.fail(node, "padding without count_include_pad has no constant divisor in integers")
            count = math.prod(node.attrs["kernel"])
        else:
            count = math.prod(x.shape[2:])
        mult, shift = requant_params(1.0 / count)
        node.attrs.update(requant_mult=[mult], requant_shift=[shift])
        out = self.g.tensor(node.outputs[0])
        out.dtype, out.scale = x.dtype, list(x.scale)  # type: ignore[arg-type]

    def add(self, node: Node) -> None:
        """Two activations to one scale, summed (``hwprune.quant.merge``; a following Relu is fused)."""
        self.int_input(node, 0), self.int_input(node, 1)
        quantize_add(self.g, node, self.spec.act_bits, self.act_scale)

    def run(self) -> None:
        for node in self.g.nodes:
            if node.op == "Quantize":
                continue
            if node.op in ("Dense", "Conv"):
                self.layer(node)
            elif node.op in ("AveragePool", "GlobalAveragePool"):
                self.average(node)
            elif node.op in ("Clip", "Add", "Mul") and (node.op == "Clip" or affine_operands(self.g, node)):
                raise self.unfoldable(node)
            elif node.op == "Add":
                self.add(node)
            elif node.op == "Concat":
                quantize_concat(self.g, node, self.spec.act_bits, self.act_scale)
            elif node.op in ("HardSigmoid", "HardSwish"):
                self.hard(node)
            elif node.op in TABLE_OPS:
                self.table(node)
            elif node.op in NODE_QUANTIZERS:
                NODE_QUANTIZERS[node.op].quantize(self.g, node, self.calibration.get(node.name, []))
            elif node.op in PASS_THROUGH:
                x = self.int_input(node)
                out = self.g.tensor(node.outputs[0])
                out.dtype, out.scale = x.dtype, list(x.scale)  # type: ignore[arg-type]
            else:
                raise self.fail(
                    node, f"has no integer implementation yet; integer ops: {', '.join(integer_ops())}"
                )


def _absorb_quant_nodes(graph: Graph) -> None:
    """QONNX activation Quant nodes fix their input's type and scale, then disappear.

    A Quant on a graph input becomes that input's ``Quantize`` node instead.
    """
    for node in list(graph.nodes):
        if node.op != "Quant":
            continue
        attrs = node.attrs
        if len(attrs["scale"]) != 1:
            raise QuantizationError("per-channel activation quantization is not supported", node=node.name, op="Quant")
        x, y = node.inputs[0], node.outputs[0]
        qtype = IntType(int(attrs["bits"]), bool(attrs["signed"]))
        if x in graph.inputs:
            node.op = "Quantize"
            node.attrs = {"scale": float(attrs["scale"][0]), "bits": qtype.bits, "signed": int(qtype.signed)}
            graph.tensor(y).dtype, graph.tensor(y).scale = qtype, [float(attrs["scale"][0])]
            continue
        source = graph.tensor(x)
        source.dtype, source.scale = qtype, [float(attrs["scale"][0])]
        graph.nodes.remove(node)
        for other in graph.nodes:
            other.inputs = [x if name == y else name for name in other.inputs]
        graph.outputs = [x if name == y else name for name in graph.outputs]
        del graph.tensors[y]


def _insert_input_quantizers(graph: Graph, ranges: dict[str, float], feeds: Feeds, spec: QuantSpec) -> None:
    """A ``Quantize`` node for each float graph input; an input normalisation (``Add``/``Mul`` by constants
    per channel, ``hwprune.quant.input_affine``) right after the input folds into it."""
    for name in graph.inputs:
        if any(n.op == "Quantize" and n.inputs == [name] for n in graph.nodes):
            continue
        chain = input_chain(graph, name)
        values = apply_chain(chain, feeds[name])
        signed = float(values.min()) < 0
        qmax = (1 << (spec.act_bits - 1)) - 1 if signed else (1 << spec.act_bits) - 1
        peak = float(np.abs(values).max()) if chain.nodes else ranges.get(name, 0.0)
        scale = (peak or 1.0) / qmax
        q_name = f"{name}/quantized"
        graph.tensors[q_name] = Tensor(q_name, list(graph.tensor(name).shape), IntType(spec.act_bits, signed),
                                       scale=[scale])
        attrs: dict[str, Any] = {"scale": scale, "bits": spec.act_bits, "signed": int(signed)}
        if chain.nodes:
            attrs.update(pre_scale=[float(v) for v in chain.scale], pre_offset=[float(v) for v in chain.offset])
            remove_chain(graph, chain, q_name)
        for node in graph.nodes:
            node.inputs = [q_name if n == name else n for n in node.inputs]
        graph.nodes.insert(0, Node(f"{name}/quantize", "Quantize", [name], [q_name], attrs))


def quantize_graph(graph: Graph, feeds: Mapping[str, np.ndarray] | None, spec: QuantSpec = QuantSpec()) -> Graph:
    """Return the integer version of ``graph``; ``feeds`` are the calibration inputs."""
    if feeds is None:
        raise QuantizationError("post-training quantization needs calibration data (give --calibration FILE.npz)")
    plugins.load("quant")
    calibration: dict[str, Any] = {}
    tracers = [NODE_QUANTIZERS[op].trace for op in sorted({n.op for n in graph.nodes} & set(NODE_QUANTIZERS))]
    tracers = [trace for trace in tracers if trace is not None]
    if len(tracers) > 1:
        raise QuantizationError("the graph mixes plug-in ops that each need their own calibration run")
    if tracers:
        ranges, calibration = tracers[0](graph, feeds)  # e.g. one sample at a time: token counts vary
    else:
        ranges = observe_ranges(graph, feeds)
    q = copy.deepcopy(graph)
    _absorb_quant_nodes(q)
    _insert_input_quantizers(q, ranges, feeds, spec)
    fuse_add_relu(q)
    _Quantizer(q, ranges, spec, calibration).run()
    q.verify()
    return q

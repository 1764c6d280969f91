"""Quantization of the ops that merge two activation streams: the residual ``Add`` and ``Concat``.

Why a module of its own: a merge is the one place where two tensors of different scales meet, so each
input is brought to the common output scale with the project's requantiser (an integer multiplier and
one shared right shift, round half up; docs/numerics.md) before the sum or the concatenation. The
integer kernels (``hwprune.quant.reference``) and the hardware compute exactly these integers.

* ``Add``: ``y = sat((a·M_a + b·M_b + 2^(sh-1)) >> sh)``, the sum taken before the one rounding
  (``M_i / 2^sh ≈ s_i / s_out``). An Add whose only reader is a Relu takes it in
  (``activation=relu``): the output is then unsigned at the Relu output's scale and the clamp at 0 is
  the saturation's lower bound, as for a layer with a fused ReLU.
* ``Concat``: each input ``y_i = sat((x_i·M_i + 2^(sh-1)) >> sh)`` at the common output scale; when
  every input already has the same type and scale, the concatenation is a pure pass-through (no
  requantisation attributes).
"""

from __future__ import annotations

from typing import Callable

from hwprune.errors import QuantizationError
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType
from hwprune.quant.requant import shared_shift_params

__all__ = ["fuse_add_relu", "quantize_add", "quantize_concat"]

ScaleOf = Callable[[str, bool], float]


def fuse_add_relu(graph: Graph) -> None:
    """An ``Add`` of two activations read only by a ``Relu`` (not a graph output) → the Add with
    ``activation=relu`` writing the Relu's output."""
    outputs = set(graph.outputs)
    for node in list(graph.nodes):
        if node.op != "Add" or node.attrs.get("activation") == "relu":
            continue
        if any(graph.tensor(name).is_constant for name in node.inputs):
            continue
        users = graph.consumers(node.outputs[0])
        if len(users) != 1 or users[0].op != "Relu" or node.outputs[0] in outputs:
            continue
        relu = users[0]
        del graph.tensors[node.outputs[0]]
        node.outputs[0] = relu.outputs[0]
        node.attrs["activation"] = "relu"
        graph.nodes.remove(relu)


def _check_ints(node: Node, tensors: list[Tensor]) -> None:
    for t in tensors:
        if not t.is_quantized or t.scale is None or len(t.scale) != 1:
            raise QuantizationError(f"input {t.name!r} is not an integer tensor with one scale",
                                    node=node.name, op=node.op)


def _ratios(node: Node, tensors: list[Tensor], out_scale: float) -> tuple[list[int], int]:
    try:
        return shared_shift_params([float(t.scale[0]) / out_scale for t in tensors])  # type: ignore[index]
    except QuantizationError as error:
        raise QuantizationError(f"input scales do not requantise to the output scale: {error}",
                                node=node.name, op=node.op) from None


def quantize_add(graph: Graph, node: Node, bits: int, scale_of: ScaleOf) -> None:
    """Type, scale and requantiser of an integer ``Add`` of two activations (shapes equal)."""
    a, b = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    _check_ints(node, [a, b])
    if list(a.shape) != list(b.shape):
        raise QuantizationError(f"an integer Add of two activations needs equal shapes, not {a.shape} and {b.shape}",
                                node=node.name, op=node.op)
    relu = node.attrs.get("activation") == "relu"
    out = graph.tensor(node.outputs[0])
    if out.scale is None:
        out.dtype = IntType(bits, not relu)
        out.scale = [scale_of(out.name, not relu)]
    mults, shift = _ratios(node, [a, b], float(out.scale[0]))
    node.attrs.update(requant_mult=[int(m) for m in mults], requant_shift=[int(shift)])


def quantize_concat(graph: Graph, node: Node, bits: int, scale_of: ScaleOf) -> None:
    """Type and scale of an integer ``Concat``; each input requantised to the output scale unless all
    inputs already share one type and scale."""
    inputs = [graph.tensor(name) for name in node.inputs]
    _check_ints(node, inputs)
    out = graph.tensor(node.outputs[0])
    first = inputs[0]
    if out.scale is None and all(t.dtype == first.dtype and list(t.scale) == list(first.scale)  # type: ignore[arg-type]
                                 for t in inputs):
        out.dtype, out.scale = first.dtype, list(first.scale)  # type: ignore[arg-type]
        return
    if out.scale is None:
        signed = any(t.dtype.signed for t in inputs)  # type: ignore[union-attr]
        out.dtype = IntType(bits, signed)
        out.scale = [scale_of(out.name, signed)]
    mults, shift = _ratios(node, inputs, float(out.scale[0]))
    node.attrs.update(requant_mult=[int(m) for m in mults], requant_shift=[int(shift)])

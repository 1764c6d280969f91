"""QONNX ``Quant`` nodes (Brevitas ``export_qonnx``) → integer types and scales in the IR.

A ``Quant`` on a constant (a weight) is resolved at import: the IR weight holds the integers and
the scale, exactly as Brevitas holds them. A ``Quant`` on an activation stays as an IR ``Quant``
node (fake quantization in the float path) whose scale and bit width the quantizer adopts.
"""

from __future__ import annotations

import numpy as np
import onnx

from hwprune.frontend.onnx_context import ImportContext, handler
from hwprune.ir.graph import Tensor
from hwprune.ir.types import IntType

__all__ = ["quant"]

SUPPORTED_ROUNDING = ("ROUND",)


def _int_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def _per_channel_axis(ctx: ImportContext, scale: np.ndarray, x_shape: list[int]) -> int | None:
    if scale.size == 1:
        return None
    dims = [i for i, d in enumerate(scale.shape) if d != 1]
    offset = len(x_shape) - scale.ndim
    if len(dims) != 1 or scale.shape[dims[0]] != x_shape[dims[0] + offset]:
        raise ctx.fail(f"scale of shape {list(scale.shape)} is neither per-tensor nor per-channel")
    return dims[0] + offset


@handler("Quant")
def quant(ctx: ImportContext, node: onnx.NodeProto) -> None:
    # A custom op: ONNX's checker does not know its arity, so it is checked here.
    if len(node.input) != 4 or not all(node.input) or len(node.output) != 1:
        raise ctx.fail("Quant takes 4 inputs (x, scale, zero point, bit width) and gives 1 output, "
                       f"not {len(node.input)} and {len(node.output)}")
    scale = ctx.constant(node.input[1]).astype(np.float64)
    zero_point = ctx.constant(node.input[2])
    bits_value = ctx.constant(node.input[3])
    if np.any(zero_point != 0):
        raise ctx.fail("a non-zero zero point is not supported (hwprune quantization is symmetric)")
    if (bits_value.size != 1 or not np.isfinite(float(bits_value.reshape(())))
            or float(bits_value.reshape(())) != int(bits_value.reshape(()))):
        raise ctx.fail(f"bit width {bits_value.tolist()} is not a single integer")
    bits = int(bits_value.reshape(()))
    if not 2 <= bits <= 32:
        raise ctx.fail(f"bit width {bits} is outside the supported range 2..32")
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise ctx.fail("scales must be finite and positive")
    signed, narrow = bool(ctx.attr("signed", 1)), bool(ctx.attr("narrow", 0))
    rounding = ctx.attr("rounding_mode", b"ROUND")
    rounding = rounding.decode() if isinstance(rounding, bytes) else str(rounding)
    if rounding not in SUPPORTED_ROUNDING:
        raise ctx.fail(f"rounding_mode {rounding!r} is not supported; supported: {', '.join(SUPPORTED_ROUNDING)}")
    x_shape = ctx.shape(node.input[0])
    axis = _per_channel_axis(ctx, scale, x_shape)
    lo, hi = _int_range(bits, signed, narrow)
    if ctx.is_constant(node.input[0]):
        # QONNX computes in float32 with round-half-to-even (numpy's rint); doing the same keeps
        # values that sit within float32 rounding of a .5 tie on Brevitas's side of it.
        values = ctx.constant(node.input[0]).astype(np.float32)
        with np.errstate(over="ignore"):  # a tiny scale overflows to inf, which the clip saturates
            integers = np.clip(np.rint(values / scale.astype(np.float32)), lo, hi).astype(np.int64)
        flat_scale = [float(s) for s in scale.reshape(-1)]
        ctx.graph.tensors[node.output[0]] = Tensor(
            node.output[0], list(integers.shape), IntType(bits, signed), data=integers, scale=flat_scale,
            scale_axis=axis,
        )
        return
    if axis is not None and axis != 1:
        raise ctx.fail("per-channel activation quantization is only supported along the channel axis")
    attrs = {"scale": [float(s) for s in scale.reshape(-1)], "bits": bits, "signed": int(signed), "narrow": int(narrow)}
    ctx.emit("Quant", [ctx.name(node.input[0])], node.output[0], attrs)

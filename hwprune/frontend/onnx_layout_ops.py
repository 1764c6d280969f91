"""Handlers for layout-only ops (Squeeze, Unsqueeze: IR ``Reshape``) and the zero ``Pad`` that folds into
the pads of the Conv or AveragePool reading it.

Why: exporters write ``F.pad`` + conv, ``nn.ZeroPad2d`` and squeeze/unsqueeze around linear layers; none
needs a hardware stage of its own, so each becomes what the IR already has.
"""

from __future__ import annotations

import onnx

from hwprune.frontend.onnx_context import ImportContext, handler
from hwprune.frontend.onnx_ops import _out

PAD_READERS = ("Conv", "AveragePool")
"""Ops whose zero padding is the same as a zero ``Pad`` before them (MaxPool pads with -inf)."""


def _axes(ctx: ImportContext, node: onnx.NodeProto, rank: int) -> list[int] | None:
    """The axes of Squeeze/Unsqueeze (input 1 from opset 13, else the attribute), made non-negative."""
    name = ctx.optional_input(1)
    if name is not None:
        if not ctx.is_constant(name):
            raise ctx.fail("the axes must be a constant")
        raw = [int(a) for a in ctx.constant(name).reshape(-1)]
    else:
        attr = ctx.attr("axes")
        if attr is None:
            return None
        raw = [int(a) for a in attr]  # type: ignore[union-attr]
    axes = []
    for axis in raw:
        if not -rank <= axis < rank:
            raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
        axes.append(axis + rank if axis < 0 else axis)
    if len(set(axes)) != len(axes):
        raise ctx.fail(f"axes {raw} repeat an axis")
    return axes


@handler("Squeeze")
def squeeze(ctx: ImportContext, node: onnx.NodeProto) -> None:
    shape = ctx.shape(node.input[0])
    axes = _axes(ctx, node, len(shape))
    if axes is None:
        raise ctx.fail("Squeeze without axes would remove the batch axis too (hwprune fixes it to 1); "
                       "give the axes")
    if 0 in axes:
        raise ctx.fail("squeezing the batch axis is not supported; axis 0 must stay the batch")
    if any(shape[a] != 1 for a in axes):
        raise ctx.fail(f"axes {axes} of shape {shape} are not all of size 1")
    out_shape = [d for i, d in enumerate(shape) if i not in axes]
    ctx.emit("Reshape", [ctx.name(node.input[0])], _out(node), {"shape": out_shape})


@handler("Unsqueeze")
def unsqueeze(ctx: ImportContext, node: onnx.NodeProto) -> None:
    shape = ctx.shape(node.input[0])
    name = ctx.optional_input(1)
    count = ctx.constant(name).size if name is not None and ctx.is_constant(name) else len(ctx.attr("axes", []))
    axes = _axes(ctx, node, len(shape) + int(count))
    if not axes:
        raise ctx.fail("Unsqueeze needs axes")
    if 0 in axes:
        raise ctx.fail("inserting an axis before the batch axis is not supported; axis 0 must stay the batch")
    rest = iter(shape)
    out_shape = [1 if i in axes else next(rest) for i in range(len(shape) + len(axes))]
    ctx.emit("Reshape", [ctx.name(node.input[0])], _out(node), {"shape": out_shape})


def _pad_amounts(ctx: ImportContext, node: onnx.NodeProto, rank: int) -> list[int]:
    """ONNX pads [x1_begin, x2_begin, …, x1_end, …] over all ``rank`` axes (``axes`` input of opset 18)."""
    name = ctx.optional_input(1)
    if name is None or not ctx.is_constant(name):
        raise ctx.fail("the pads must be a constant")
    pads = [int(p) for p in ctx.constant(name).reshape(-1)]
    axes_name = ctx.optional_input(3)
    axes = list(range(rank))
    if axes_name is not None:
        if not ctx.is_constant(axes_name):
            raise ctx.fail("the axes must be a constant")
        axes = [int(a) + rank if int(a) < 0 else int(a) for a in ctx.constant(axes_name).reshape(-1)]
        if any(not 0 <= a < rank for a in axes) or len(set(axes)) != len(axes):
            raise ctx.fail(f"axes {axes} are not distinct axes of a rank-{rank} tensor")
    if len(pads) != 2 * len(axes):
        raise ctx.fail(f"pads {pads} do not match {len(axes)} axes")
    full = [0] * (2 * rank)
    for i, axis in enumerate(axes):
        full[axis], full[rank + axis] = pads[i], pads[len(axes) + i]
    return full


@handler("Pad")
def pad(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """A zero ``constant`` pad of H and W, read only by a Conv/AveragePool: folded into the reader's pads."""
    mode = ctx.attr("mode", "constant")
    if mode != "constant":
        raise ctx.fail(f"mode {mode!r} is not supported; only a constant zero pad folds into a Conv's pads")
    value_name = ctx.optional_input(2)
    if value_name is not None:
        value = ctx.constant(value_name)
        if value.size != 1 or float(value.reshape(())) != 0.0:
            raise ctx.fail("only a zero pad value is supported (it folds into the following layer's pads)")
    shape = ctx.shape(node.input[0])
    full = _pad_amounts(ctx, node, len(shape))
    x = ctx.name(node.input[0])
    if not any(full):
        ctx.alias(_out(node), x)
        return
    if len(shape) != 4 or any(full[i] for i in (0, 1, 4, 5)):
        raise ctx.fail(f"pads {full} of a rank-{len(shape)} tensor are not spatial (H, W of NCHW) only")
    if any(p < 0 for p in full):
        raise ctx.fail(f"negative pads {full} (cropping) are not supported")
    readers = ctx.readers(_out(node))
    if not ctx.used_once(_out(node)) or len(readers) != 1 or readers[0].op_type not in PAD_READERS:
        raise ctx.fail(f"a Pad is supported only when its one reader is a {' or '.join(PAD_READERS)} "
                       "(it folds into the reader's pads)")
    ctx.pending_pads[_out(node)] = [full[2], full[3], full[6], full[7]]
    ctx.alias(_out(node), x)

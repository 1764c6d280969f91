"""Handlers for the ONNX normalisation ops: BatchNormalization (folded into the preceding layer when
it can be) and LayerNormalization. Kept apart from ``onnx_ops`` so each module stays small."""

from __future__ import annotations

import numpy as np
import onnx

from hwprune.frontend.onnx_context import ImportContext, handler
from hwprune.frontend.onnx_ops import _axis, _only_first_output, _out


@handler("BatchNormalization")
def batch_norm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """Fold into the preceding Conv/Dense when it feeds only this node; else a per-channel Mul + Add."""
    _only_first_output(ctx, node)
    if int(ctx.attr("training_mode", 0)):
        raise ctx.fail("training_mode=1 is not supported; export the model in eval mode")
    gamma, beta, mean, var = (ctx.constant(name).astype(np.float64).reshape(-1) for name in node.input[1:5])
    epsilon = float(ctx.attr("epsilon", 1e-5))
    if not np.all(np.isfinite(var + epsilon)) or np.any(var + epsilon <= 0):
        # sqrt of a negative would fold NaN into the weights (and print a numpy warning)
        raise ctx.fail(f"variance + epsilon ({epsilon!r}) must be positive in every channel")
    scale = gamma / np.sqrt(var + epsilon)
    shift = beta - mean * scale
    x = ctx.name(node.input[0])
    producer = ctx.producer(x)
    foldable = (
        producer is not None
        and producer.op in ("Conv", "Dense")
        and producer.attrs.get("activation") == "none"
        and not ctx.graph.tensors[producer.inputs[1]].is_quantized
        and ctx.used_once(node.input[0])
        and ctx.graph.tensors[producer.inputs[1]].shape[0] == scale.size
        # BN's channel axis is 1; a Dense's output features are the last axis: the same only in 2-D
        and (producer.op == "Conv" or len(ctx.shape(node.input[0])) == 2)
    )
    if producer is not None and foldable:
        weight = ctx.graph.tensors[producer.inputs[1]].data.astype(np.float64)
        bias = (ctx.graph.tensors[producer.inputs[2]].data.astype(np.float64) if len(producer.inputs) > 2
                else np.zeros(scale.size))
        folded_w = weight * scale.reshape([-1] + [1] * (weight.ndim - 1))
        producer.inputs[1] = ctx.add_constant(ctx.fresh("folded_weight"), folded_w.astype(np.float32))
        bias_name = ctx.add_constant(ctx.fresh("folded_bias"), (bias * scale + shift).astype(np.float32))
        producer.inputs[2:] = [bias_name]
        ctx.alias(_out(node), x)
        return
    rank = len(ctx.shape(node.input[0]))
    channel_shape = [-1] + [1] * (rank - 2)
    mul_c = ctx.add_constant(ctx.fresh("bn_scale"), scale.reshape(channel_shape).astype(np.float32))
    add_c = ctx.add_constant(ctx.fresh("bn_shift"), shift.reshape(channel_shape).astype(np.float32))
    scaled = ctx.fresh("scaled")
    ctx.emit("Mul", [x, mul_c], scaled, suffix="/scale")
    ctx.emit("Add", [scaled, add_c], _out(node), suffix="/shift")


@handler("LayerNormalization")
def layer_norm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    _only_first_output(ctx, node)
    rank = len(ctx.shape(node.input[0]))
    axis = _axis(ctx, rank, -1)
    if axis == 0:
        raise ctx.fail("normalising over the batch axis is not supported")
    inputs = [ctx.name(node.input[0])]
    norm_shape = ctx.shape(node.input[0])[axis:]
    for index, default in ((1, 1.0), (2, 0.0)):
        name = ctx.optional_input(index)
        value = ctx.constant(name) if name else np.full(norm_shape, default, dtype=np.float32)
        try:
            value = np.broadcast_to(value.astype(np.float32), norm_shape)
        except ValueError:
            raise ctx.fail(f"{'scale' if index == 1 else 'bias'} of shape {list(value.shape)} does not "
                           f"broadcast to the normalised shape {norm_shape}") from None
        inputs.append(ctx.add_constant(ctx.fresh("scale" if index == 1 else "bias"), np.ascontiguousarray(value)))
    ctx.emit("LayerNorm", inputs, _out(node), {"axis": axis, "epsilon": float(ctx.attr("epsilon", 1e-5))})

"""Handlers for the standard ONNX ops hwprune supports (one function per op family)."""

from __future__ import annotations

import math

import numpy as np
import onnx

from hwprune.frontend.onnx_context import ImportContext, handler
from hwprune.ir.graph import Tensor

FLOAT_MAX = float(np.finfo(np.float32).max)


def _out(node: onnx.NodeProto) -> str:
    return node.output[0]


def _only_first_output(ctx: ImportContext, node: onnx.NodeProto) -> None:
    if any(name for name in node.output[1:]):
        raise ctx.fail("only the first output is supported (extra outputs are used by the graph)")


def _weight_tensor(ctx: ImportContext, onnx_name: str, stem: str, transpose: bool = False) -> str:
    """A constant weight as an IR tensor, transposed to [out, in] if asked; keeps integer types."""
    source = ctx.constant_tensor(onnx_name)
    data = np.asarray(source.data)
    axis = source.scale_axis
    if transpose:
        if data.ndim != 2:
            raise ctx.fail(f"weight {onnx_name!r} must be 2-D, not {list(data.shape)}")
        data = data.T.copy()
        axis = None if axis is None else 1 - axis
    if not source.is_quantized:
        data = data.astype(np.float32)
    if not transpose:
        return source.name
    return ctx.add_constant(
        ctx.fresh(stem), data, dtype=source.dtype, scale=source.scale, scale_axis=axis if source.scale else None
    )


@handler("Gemm")
def gemm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    if ctx.attr("transA", 0):
        raise ctx.fail("transA=1 is not supported")
    if not ctx.is_constant(node.input[1]):
        raise ctx.fail("B must be a constant weight (a Gemm of two activations is not supported)")
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_b = bool(ctx.attr("transB", 0))
    weight = _weight_tensor(ctx, node.input[1], "weight", transpose=not trans_b)
    if alpha != 1.0:
        if ctx.graph.tensors[weight].is_quantized:
            raise ctx.fail("alpha != 1 on an integer weight is not supported")
        weight = ctx.add_constant(ctx.fresh("weight"), ctx.graph.tensors[weight].data * np.float32(alpha))
    out_features = ctx.graph.tensors[weight].shape[0]
    inputs = [ctx.name(node.input[0]), weight]
    bias_name = ctx.optional_input(2)
    if bias_name is not None and beta != 0.0:
        bias = ctx.constant(bias_name).astype(np.float32) * np.float32(beta)
        # C broadcasts to [batch, out]; only a C constant along the batch axis is a per-output bias
        if bias.ndim > 2 or (bias.ndim == 2 and bias.shape[0] != 1):
            raise ctx.fail(f"bias of shape {list(bias.shape)} varies along the batch axis; "
                           f"only a scalar, [{out_features}] or [1, {out_features}] bias is supported")
        try:
            bias = np.broadcast_to(bias.reshape(bias.shape[-1:]), (out_features,))
        except ValueError:
            raise ctx.fail(f"bias of shape {list(bias.shape)} does not broadcast to [{out_features}]") from None
        inputs.append(ctx.add_constant(ctx.fresh("bias"), np.ascontiguousarray(bias, dtype=np.float32)))
    if len(ctx.shape(node.input[0])) != 2:
        raise ctx.fail("Gemm input must be 2-D")
    ctx.emit("Dense", inputs, _out(node), {"activation": "none"})


@handler("MatMul")
def matmul(ctx: ImportContext, node: onnx.NodeProto) -> None:
    a, b = node.input[0], node.input[1]
    if ctx.is_constant(a):
        raise ctx.fail("a constant left operand is not supported")
    if ctx.is_constant(b):
        if len(ctx.shape(b)) != 2:
            raise ctx.fail(f"constant right operand must be 2-D, not {ctx.shape(b)}")
        weight = _weight_tensor(ctx, b, "weight", transpose=True)
        ctx.emit("Dense", [ctx.name(a), weight], _out(node), {"activation": "none"})
        return
    ctx.emit("MatMul", [ctx.name(a), ctx.name(b)], _out(node))


def _elementwise_input(ctx: ImportContext, onnx_name: str) -> str:
    if ctx.is_constant(onnx_name):
        tensor = ctx.constant_tensor(onnx_name)
        if tensor.data is not None and tensor.data.dtype != np.float32 and not tensor.is_quantized:
            return ctx.add_constant(ctx.fresh("const"), tensor.data.astype(np.float32))
    return ctx.name(onnx_name)


def _try_fold_bias(ctx: ImportContext, node: onnx.NodeProto) -> bool:
    """MatMul + Add(constant [out]) → Dense with bias (how exporters write Linear layers)."""
    x, c = node.input
    if ctx.is_constant(x):
        x, c = c, x
    if not ctx.is_constant(c) or ctx.is_constant(x):
        return False
    producer = ctx.producer(ctx.name(x))
    if producer is None or producer.op != "Dense" or len(producer.inputs) != 2:
        return False
    if not ctx.used_once(x):
        return False
    out_features = ctx.graph.tensors[producer.inputs[1]].shape[0]
    bias = ctx.constant(c)
    if bias.size != out_features or (bias.ndim > 1 and bias.shape[-1] != out_features):
        return False
    if ctx.shape(node.output[0]) != ctx.shape(x):
        return False
    producer.inputs.append(ctx.add_constant(ctx.fresh("bias"), bias.reshape(-1).astype(np.float32)))
    ctx.alias(node.output[0], ctx.name(x))
    return True


@handler("Add", "Mul")
def add_mul(ctx: ImportContext, node: onnx.NodeProto) -> None:
    if node.op_type == "Add" and _try_fold_bias(ctx, node):
        return
    ctx.emit(node.op_type, [_elementwise_input(ctx, name) for name in node.input], _out(node))


@handler("Relu", "Sigmoid", "Tanh")
def unary(ctx: ImportContext, node: onnx.NodeProto) -> None:
    ctx.emit(node.op_type, [ctx.name(node.input[0])], _out(node))


def _scalar(ctx: ImportContext, onnx_name: str) -> float:
    value = ctx.constant(onnx_name)
    if value.size != 1:
        raise ctx.fail(f"input {onnx_name!r} must be a scalar, not of shape {list(value.shape)}")
    return float(value.reshape(()))


def _clip_bound(ctx: ImportContext, onnx_name: str | None, default: float) -> float:
    """A Clip bound as a finite float: omitted or infinite means unbounded, i.e. +-float32 max
    (the IR is written as JSON, which has no infinity)."""
    if onnx_name is None:
        return default
    value = _scalar(ctx, onnx_name)
    if np.isnan(value):
        raise ctx.fail(f"bound {onnx_name!r} is NaN")
    return float(np.clip(value, -FLOAT_MAX, FLOAT_MAX))


@handler("Clip")
def clip(ctx: ImportContext, node: onnx.NodeProto) -> None:
    lo = _clip_bound(ctx, ctx.optional_input(1), -FLOAT_MAX)
    hi = _clip_bound(ctx, ctx.optional_input(2), FLOAT_MAX)
    if lo == 0.0 and hi == FLOAT_MAX:
        ctx.emit("Relu", [ctx.name(node.input[0])], _out(node))
        return
    ctx.emit("Clip", [ctx.name(node.input[0])], _out(node), {"min": lo, "max": hi})


@handler("Identity", "Dropout")
def passthrough(ctx: ImportContext, node: onnx.NodeProto) -> None:
    if node.op_type == "Dropout":
        _only_first_output(ctx, node)
    ctx.alias(_out(node), ctx.name(node.input[0]))


@handler("Flatten")
def flatten(ctx: ImportContext, node: onnx.NodeProto) -> None:
    shape = ctx.shape(node.input[0])
    axis = int(ctx.attr("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis
    if axis != 1:
        raise ctx.fail(f"Flatten axis {axis} would merge the batch axis with others; only axis 1 is supported")
    ctx.emit("Reshape", [ctx.name(node.input[0])], _out(node), {"shape": [shape[0], math.prod(shape[1:])]})


@handler("Reshape")
def reshape(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """The target comes from the constant and the IR input shape, not from ONNX shape inference.

    ONNX inference can size a pooling output differently from onnxruntime and the IR (ceil_mode
    windows that start in the end padding); the IR shape is the one the executors produce.
    """
    if not ctx.is_constant(node.input[1]):
        raise ctx.fail("the target shape must be a constant")
    in_shape = ctx.shape(node.input[0])
    target = [int(d) for d in ctx.constant(node.input[1]).reshape(-1)]
    keep_zero = bool(ctx.attr("allowzero", 0))
    out_shape = [in_shape[i] if d == 0 and not keep_zero and i < len(in_shape) else d
                 for i, d in enumerate(target)]
    if -1 in out_shape and out_shape.count(-1) == 1:
        known = math.prod(d for d in out_shape if d != -1)
        out_shape[out_shape.index(-1)] = math.prod(in_shape) // known if known > 0 else -1
    if any(d <= 0 for d in out_shape) or math.prod(out_shape) != math.prod(in_shape):
        raise ctx.fail(f"cannot reshape {in_shape} to {target}")
    if out_shape[0] != in_shape[0]:
        raise ctx.fail(f"reshape {in_shape} -> {out_shape} moves the batch axis; axis 0 must stay the batch")
    ctx.emit("Reshape", [ctx.name(node.input[0])], _out(node), {"shape": out_shape})


@handler("Transpose")
def transpose(ctx: ImportContext, node: onnx.NodeProto) -> None:
    rank = len(ctx.shape(node.input[0]))
    perm = [int(p) for p in ctx.attr("perm", list(reversed(range(rank))))]
    if perm[0] != 0:
        raise ctx.fail(f"perm {perm} moves the batch axis; axis 0 must stay first")
    ctx.emit("Transpose", [ctx.name(node.input[0])], _out(node), {"perm": perm})


def _pads(ctx: ImportContext, in_hw: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    auto_pad = ctx.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad in ("NOTSET", ""):
        pads = [int(p) for p in ctx.attr("pads", [0, 0, 0, 0])]
        if len(pads) != 4:
            raise ctx.fail(f"pads {pads} are not 2-D")
        return pads
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if dilations != [1, 1]:  # onnxruntime refuses it too, so there is no reference to match
            raise ctx.fail(f"auto_pad {auto_pad} with dilations {dilations} is not supported; "
                           "write explicit pads")
        begin, end = [], []
        for i in range(2):
            out = -(-in_hw[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - in_hw[i])
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        return [*begin, *end]
    raise ctx.fail(f"auto_pad {auto_pad!r} is not supported")


def _pads_with_folded(ctx: ImportContext, onnx_input: str, in_hw: list[int], kernel: list[int],
                      strides: list[int], dilations: list[int]) -> list[int]:
    """The node's pads plus those of a zero ``Pad`` folded into it (``onnx_layout_ops.pad``); SAME
    padding is computed on the padded size, as ONNX would."""
    extra = ctx.pending_pads.get(onnx_input, [0, 0, 0, 0])
    padded = [in_hw[0] + extra[0] + extra[2], in_hw[1] + extra[1] + extra[3]]
    return [p + e for p, e in zip(_pads(ctx, padded, kernel, strides, dilations), extra)]


def _spatial(ctx: ImportContext, name: str, default: list[int]) -> list[int]:
    value = [int(v) for v in ctx.attr(name, default)]  # type: ignore[union-attr]
    if len(value) != 2:
        raise ctx.fail(f"{name} {value} is not 2-D (only 2-D windows are supported)")
    return value


@handler("Conv")
def conv(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x_shape = ctx.shape(node.input[0])
    if len(x_shape) != 4:
        raise ctx.fail(f"only 2-D convolution (NCHW input) is supported, input is {x_shape}")
    if not ctx.is_constant(node.input[1]):
        raise ctx.fail("the weight must be a constant")
    weight = ctx.constant_tensor(node.input[1])
    kernel = list(weight.shape[2:])
    strides = _spatial(ctx, "strides", [1, 1])
    dilations = _spatial(ctx, "dilations", [1, 1])
    pads = _pads_with_folded(ctx, node.input[0], x_shape[2:], kernel, strides, dilations)
    inputs = [ctx.name(node.input[0]), _weight_tensor(ctx, node.input[1], "weight")]
    bias_name = ctx.optional_input(2)
    if bias_name is not None:
        inputs.append(ctx.add_constant(ctx.fresh("bias"), ctx.constant(bias_name).astype(np.float32)))
    attrs = {"strides": strides, "pads": pads, "dilations": dilations, "group": int(ctx.attr("group", 1)),
             "activation": "none"}
    ctx.emit("Conv", inputs, _out(node), attrs)


@handler("MaxPool", "AveragePool")
def pool(ctx: ImportContext, node: onnx.NodeProto) -> None:
    _only_first_output(ctx, node)
    x_shape = ctx.shape(node.input[0])
    if len(x_shape) != 4:
        raise ctx.fail(f"only 2-D pooling (NCHW input) is supported, input is {x_shape}")
    kernel = _spatial(ctx, "kernel_shape", [])
    strides = _spatial(ctx, "strides", [1, 1])
    if _spatial(ctx, "dilations", [1, 1]) != [1, 1]:
        raise ctx.fail("dilated pooling is not supported")
    if int(ctx.attr("storage_order", 0)) != 0:
        raise ctx.fail("storage_order=1 is not supported")
    attrs = {"kernel": kernel, "strides": strides,
             "pads": _pads_with_folded(ctx, node.input[0], x_shape[2:], kernel, strides, [1, 1]),
             "ceil_mode": int(ctx.attr("ceil_mode", 0))}
    if node.op_type == "AveragePool":
        attrs["count_include_pad"] = int(ctx.attr("count_include_pad", 0))
        folded = ctx.pending_pads.get(node.input[0])
        if folded is not None:
            own = [p - f for p, f in zip(attrs["pads"], folded)]  # type: ignore[call-overload]
            if any(own) and not attrs["count_include_pad"]:
                raise ctx.fail("a folded zero Pad counts in the window but the pool's own pads do not "
                               "(count_include_pad=0): the two cannot be one pool")
            attrs["count_include_pad"] = 1  # the Pad's zeros are values the window averages
    ctx.emit(node.op_type, [ctx.name(node.input[0])], _out(node), attrs)


@handler("GlobalAveragePool")
def global_average_pool(ctx: ImportContext, node: onnx.NodeProto) -> None:
    if len(ctx.shape(node.input[0])) != 4:
        raise ctx.fail("only NCHW input is supported")
    ctx.emit("GlobalAveragePool", [ctx.name(node.input[0])], _out(node))


def _axis(ctx: ImportContext, rank: int, default: int | None) -> int:
    """The node's ``axis`` attribute made non-negative, refused when outside ``[-rank, rank)``.

    ONNX shape inference does not check every op's axis (a corrupt file can hold any int64), and
    the executors would fail on it with an IndexError deep inside torch.
    """
    value = ctx.attr("axis", default)
    if not isinstance(value, int):
        raise ctx.fail(f"axis must be an integer, not {value!r}")
    if not -rank <= value < rank:
        raise ctx.fail(f"axis {value} is out of range for an input of rank {rank}")
    return value + rank if value < 0 else value


@handler("Concat")
def concat(ctx: ImportContext, node: onnx.NodeProto) -> None:
    rank = len(ctx.shape(node.input[0]))
    axis = _axis(ctx, rank, None)
    if axis == 0:
        raise ctx.fail("concatenation along the batch axis is not supported")
    ctx.emit("Concat", [_elementwise_input(ctx, name) for name in node.input], _out(node), {"axis": axis})


@handler("Softmax")
def softmax(ctx: ImportContext, node: onnx.NodeProto) -> None:
    rank = len(ctx.shape(node.input[0]))
    axis = _axis(ctx, rank, -1)
    if axis == 0:
        raise ctx.fail("softmax across the batch axis is not supported")
    ctx.emit("Softmax", [ctx.name(node.input[0])], _out(node), {"axis": axis})


@handler("Gelu")
def gelu(ctx: ImportContext, node: onnx.NodeProto) -> None:
    approximate = ctx.attr("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else str(approximate)
    if approximate not in ("none", "tanh"):
        raise ctx.fail(f"approximate={approximate!r} is not supported")
    ctx.emit("Gelu", [ctx.name(node.input[0])], _out(node), {"approximate": approximate})


@handler("Constant")
def constant(ctx: ImportContext, node: onnx.NodeProto) -> None:
    value = ctx.attr("value")
    if value is None:
        raise ctx.fail("only the 'value' form of Constant is supported")
    try:
        data = onnx.numpy_helper.to_array(value)
    except Exception:  # unknown data types, inconsistent sizes
        raise ctx.fail("the constant's value cannot be read") from None
    if data.dtype.kind not in "fiub":
        raise ctx.fail(f"a constant of {data.dtype} values is not supported; only numeric constants are")
    if data.dtype == np.float64:
        with np.errstate(over="ignore"):
            data = data.astype(np.float32)
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise ctx.fail("the constant holds non-finite values (NaN or infinity)")
    ctx.graph.tensors[_out(node)] = Tensor(_out(node), list(data.shape), data=data)

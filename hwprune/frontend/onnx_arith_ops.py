"""Handlers for elementwise arithmetic by constants (Sub, Div) and the hard activations.

Why here and in this form: ``x - c`` becomes ``Add(x, -c)`` and ``x / c`` becomes ``Mul(x, 1/c)``, so the
IR keeps one affine form that the import passes (``hwprune.frontend.fold_affine``) fold into a
neighbouring Dense/Conv and PTQ folds into the input quantizer (docs/numerics.md). Anything that is not
"activation by constant" has no integer form and is refused here, naming the node.
"""

from __future__ import annotations

import numpy as np
import onnx

from hwprune.frontend.onnx_context import ImportContext, handler
from hwprune.frontend.onnx_ops import _out


def _float_constant(ctx: ImportContext, onnx_name: str, stem: str, data: np.ndarray) -> str:
    with np.errstate(all="ignore"):
        values = np.ascontiguousarray(data, dtype=np.float32)
    if not np.all(np.isfinite(values)):
        raise ctx.fail(f"constant {onnx_name!r} gives non-finite values once folded")
    return ctx.add_constant(ctx.fresh(stem), values)


def _operands(ctx: ImportContext, node: onnx.NodeProto, what: str) -> tuple[str, str, bool]:
    """(activation, constant, constant_first) of a binary node, or a failure naming the node."""
    a, b = node.input[0], node.input[1]
    a_const, b_const = ctx.is_constant(a), ctx.is_constant(b)
    if a_const and b_const:
        raise ctx.fail(f"both operands are constants; {what} needs one activation operand")
    if not a_const and not b_const:
        raise ctx.fail(f"{what} of two activations is not supported: only a constant operand can be folded "
                       "into the quantization")
    return (b, a, True) if a_const else (a, b, False)


@handler("Sub")
def sub(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """``x - c`` → ``Add(x, -c)``; ``c - x`` → ``Add(Mul(x, -1), c)``."""
    x, c, constant_first = _operands(ctx, node, "Sub")
    value = ctx.constant(c).astype(np.float64)
    if not constant_first:
        ctx.emit("Add", [ctx.name(x), _float_constant(ctx, c, "negated", -value)], _out(node))
        return
    negated = ctx.fresh("negated")
    ctx.emit("Mul", [ctx.name(x), _float_constant(ctx, c, "minus_one", np.float32(-1.0))], negated,
             suffix="/negate")
    ctx.emit("Add", [negated, _float_constant(ctx, c, "const", value)], _out(node))


@handler("Div")
def div(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """``x / c`` → ``Mul(x, 1/c)``; a constant divided by an activation has no affine form."""
    x, c, constant_first = _operands(ctx, node, "Div")
    if constant_first:
        raise ctx.fail("dividing a constant by an activation is not supported: only x / constant folds "
                       "into the quantization")
    value = ctx.constant(c).astype(np.float64)
    if np.any(value == 0):
        raise ctx.fail(f"divisor {c!r} holds zeros")
    ctx.emit("Mul", [ctx.name(x), _float_constant(ctx, c, "reciprocal", 1.0 / value)], _out(node))


def _finite_attr(ctx: ImportContext, name: str, default: float) -> float:
    value = float(ctx.attr(name, default))  # type: ignore[arg-type]
    if not np.isfinite(value):
        raise ctx.fail(f"attribute {name!r} is not a finite number: {value!r}")
    return value


@handler("HardSigmoid")
def hard_sigmoid(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """``max(0, min(1, alpha·x + beta))``; ONNX defaults alpha 0.2, beta 0.5 (torch exports 1/6, 0.5)."""
    alpha, beta = _finite_attr(ctx, "alpha", 0.2), _finite_attr(ctx, "beta", 0.5)
    if alpha <= 0:
        raise ctx.fail(f"alpha {alpha} must be positive (a falling hard sigmoid has no integer form here)")
    ctx.emit("HardSigmoid", [ctx.name(node.input[0])], _out(node), {"alpha": alpha, "beta": beta})


@handler("HardSwish")
def hard_swish(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """``x · HardSigmoid(x)`` with alpha 1/6, beta 0.5 (the ONNX definition)."""
    ctx.emit("HardSwish", [ctx.name(node.input[0])], _out(node))

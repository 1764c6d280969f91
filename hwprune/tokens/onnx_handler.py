"""Frontend support for the ``hwprune.TokenSelector`` ONNX node (written by ``hwprune.tokens.export``).

``register()`` is the token feature's plug-in of stage ``frontend`` (``hwprune.plugins``): it adds the
ONNX handler to ``hwprune.frontend.onnx_context.HANDLERS`` (an op of domain ``hwprune``). The IR op it produces is ``hwprune.tokens.ir_node``'s.
"""

from __future__ import annotations

import onnx

from hwprune.frontend.onnx_context import CUSTOM_DOMAIN_OPS, HANDLERS
from hwprune.ir.graph import Node, Tensor
from hwprune.ir.types import IntType
from hwprune.tokens.dynamic import count_name
from hwprune.tokens.export import DOMAIN, OP_TYPE, SELECTOR_PARAMS
from hwprune.tokens.ir_node import selector_shapes

__all__ = ["token_selector_handler", "register"]

_FLAG = IntType(64)


def token_selector_handler(ctx, node: onnx.NodeProto) -> None:  # noqa: ANN001 - ImportContext
    """Translate one ``hwprune.TokenSelector`` node (weights must be initializers)."""
    if node.domain != DOMAIN:
        raise ctx.fail(f"TokenSelector must be in domain {DOMAIN!r}, not {node.domain!r}")
    if len(node.input) != 2 + len(SELECTOR_PARAMS) or len(node.output) != 2:
        raise ctx.fail(f"TokenSelector takes {2 + len(SELECTOR_PARAMS)} inputs and 2 outputs")
    heads = int(ctx.attr("heads", 0))
    if heads <= 0:
        raise ctx.fail("attribute 'heads' must be a positive integer")
    weights = []
    for onnx_name, role in zip(node.input[2:], SELECTOR_PARAMS):
        if not ctx.is_constant(onnx_name):
            raise ctx.fail(f"selector weight {role} ({onnx_name!r}) must be an initializer")
        weights.append(ctx.name(onnx_name))
    shape = ctx.shape(node.input[0])
    tokens_out, flag_out = node.output
    attrs = {"heads": heads, "threshold": float(ctx.attr("threshold", 0.5)), "max_tokens": int(shape[1])}
    ir_node = Node(ctx._unique_node_name(ctx.node_name), "TokenSelector",
                   [ctx.name(node.input[0]), ctx.name(node.input[1]), *weights], [tokens_out, flag_out], attrs)
    count_out = count_name(tokens_out)
    ir_node.outputs.append(count_out)
    out_shape, flag_shape, count_shape = selector_shapes([shape], attrs)
    ctx.graph.tensors[tokens_out] = Tensor(tokens_out, out_shape)
    ctx.graph.tensors[flag_out] = Tensor(flag_out, flag_shape, _FLAG)
    ctx.graph.tensors[count_out] = Tensor(count_out, count_shape, _FLAG)
    ctx.graph.nodes.append(ir_node)


def register() -> None:
    """Plug-in of stage ``frontend``: the ONNX handler (idempotent)."""
    HANDLERS.setdefault(OP_TYPE, token_selector_handler)
    CUSTOM_DOMAIN_OPS.add(OP_TYPE)

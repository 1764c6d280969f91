"""Frontend support for the ``hwprune.TokenSelector`` ONNX node (written by ``hwprune.tokens.export``).

Not wired in by itself: the frontend dispatches only default-domain ops today. ``register()`` adds the IR
op spec (``hwprune.ir.ops.OPS``), the float kernel (``hwprune.ir.execute.FLOAT_KERNELS``) and the ONNX
handler (``hwprune.frontend.onnx.HANDLERS``); the frontend's dispatch must then also look up nodes of
domain ``hwprune`` (docs/tokens.md, "Wiring").

IR node: inputs [tokens [1, T, D], package_present [1], 12 float weight constants]; outputs
[tokens [1, T, D], package_present [1], count [1]]; attrs heads, threshold, max_tokens. The IR records the
*upper bound* T for the output rows (shapes are static in the IR); the real count is data-dependent, ≤ T,
and is the third output (``<tokens>/count``, int64; not in the ONNX node — see ``hwprune.tokens.dynamic``
for how executors pad a batch to T). Once quantized (``hwprune.tokens.graph_quant``) the node drops its
12 float weights: its integers live in the attribute ``int_selector``.
"""

from __future__ import annotations

import onnx
import torch

from hwprune.ir.graph import Node, Tensor
from hwprune.ir.ops import OPS, OpSpec
from hwprune.ir.types import IntType
from hwprune.tokens.dynamic import count_name
from hwprune.tokens.export import DOMAIN, OP_TYPE, SELECTOR_PARAMS, run_selector_node

__all__ = ["TOKEN_SELECTOR_SPEC", "token_selector_handler", "register", "float_kernel"]

_FLAG = IntType(64)


def _shapes(shapes: list[list[int]], attrs: dict) -> list[list[int]]:
    from hwprune.errors import GraphError

    tokens = shapes[0]
    if len(tokens) != 3 or tokens[0] != 1:
        raise GraphError(f"TokenSelector takes tokens [1, T, D], not {tokens}")
    heads = int(attrs["heads"])
    if tokens[2] % heads:
        raise GraphError(f"token width {tokens[2]} is not a multiple of heads={heads}")
    return [list(tokens), [1], [1]]


TOKEN_SELECTOR_SPEC = OpSpec(
    "TokenSelector", 2, 2 + len(SELECTOR_PARAMS), ("heads", "threshold", "max_tokens"),
    _shapes, "HeatViT token selector: keep, compact, fuse the rest into a package token (rows ≤ input rows)",
)


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
    out_shape, flag_shape, count_shape = _shapes([shape], attrs)
    ctx.graph.tensors[tokens_out] = Tensor(tokens_out, out_shape)
    ctx.graph.tensors[flag_out] = Tensor(flag_out, flag_shape, _FLAG)
    ctx.graph.tensors[count_out] = Tensor(count_out, count_shape, _FLAG)
    ctx.graph.nodes.append(ir_node)


def float_kernel(node: Node, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The float selector on one sample; a batch would silently use its first sample, so it is refused."""
    from hwprune.errors import GraphError

    if xs[0].shape[0] != 1 or len(xs) != 2 + len(SELECTOR_PARAMS):
        why = "runs one sample at a time" if xs[0].shape[0] != 1 else "has no float weights (quantized node)"
        raise GraphError(f"TokenSelector {why}; run the graph with hwprune.ir.execute.run_float",
                         node=node.name, op=node.op)
    tokens, flag = run_selector_node(xs[0], xs[1], int(node.attrs["heads"]), [x.to(torch.float32) for x in xs[2:]])
    return tokens, flag, torch.tensor([tokens.shape[1]], dtype=torch.int64)


def register() -> None:
    """Make the IR, the float executor and the ONNX frontend know the node (idempotent)."""
    from hwprune.frontend.onnx import HANDLERS
    from hwprune.ir.execute import FLOAT_KERNELS

    OPS.setdefault(TOKEN_SELECTOR_SPEC.name, TOKEN_SELECTOR_SPEC)
    FLOAT_KERNELS.setdefault(TOKEN_SELECTOR_SPEC.name, float_kernel)
    HANDLERS.setdefault(OP_TYPE, token_selector_handler)

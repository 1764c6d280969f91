"""The TokenSelector IR op: its spec, its float kernel, and the node's integer selector.

IR node: inputs [tokens [1, T, D], package_present [1], 12 float weight constants]; outputs
[tokens [1, T, D], package_present [1], count [1]]; attrs heads, threshold, max_tokens. The IR records the
*upper bound* T for the output rows (shapes are static in the IR); the real count is data-dependent, ≤ T,
and is the third output (``<tokens>/count``, int64; not in the ONNX node — see ``hwprune.tokens.dynamic``
for the row-count rule and ``hwprune.ir.dynamic`` for how executors pad a batch to T). Once quantized
(``hwprune.tokens.graph_quant``) the node drops its 12 float weights: its integers live in the attribute
``int_selector`` (``hwprune.tokens.selector_json``).

``register()`` is the token feature's plug-in of stage ``ir`` (``hwprune.plugins``): it adds the op spec
(``hwprune.ir.ops.OPS``), the float kernel (``hwprune.ir.execute.FLOAT_KERNELS``) and the row-count rule
(``hwprune.ir.dynamic.DYNAMIC_ROWS``).
"""

from __future__ import annotations

import numpy as np
import torch

from hwprune.errors import GraphError
from hwprune.ir.dynamic import DYNAMIC_ROWS
from hwprune.ir.execute import FLOAT_KERNELS
from hwprune.ir.graph import Graph, Node
from hwprune.ir.ops import OPS, OpSpec
from hwprune.tokens.dynamic import token_counts
from hwprune.tokens.export import SELECTOR_PARAMS, run_selector_node
from hwprune.tokens.reference import IntSelector
from hwprune.tokens.selector import TokenSelector
from hwprune.tokens.selector_json import int_selector_from_dict

__all__ = ["TOKEN_SELECTOR_SPEC", "ATTR", "float_kernel", "selector_nodes", "float_selector", "int_selector_of",
           "register"]


def selector_shapes(shapes: list[list[int]], attrs: dict) -> list[list[int]]:
    tokens = shapes[0]
    if len(tokens) != 3 or tokens[0] != 1:
        raise GraphError(f"TokenSelector takes tokens [1, T, D], not {tokens}")
    heads = int(attrs["heads"])
    if tokens[2] % heads:
        raise GraphError(f"token width {tokens[2]} is not a multiple of heads={heads}")
    return [list(tokens), [1], [1]]


TOKEN_SELECTOR_SPEC = OpSpec(
    "TokenSelector", 2, 2 + len(SELECTOR_PARAMS), ("heads", "threshold", "max_tokens"),
    selector_shapes, "HeatViT token selector: keep, compact, fuse the rest into a package token (rows ≤ input rows)",
)


def float_kernel(node: Node, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The float selector on one sample; a batch would silently use its first sample, so it is refused."""
    if xs[0].shape[0] != 1 or len(xs) != 2 + len(SELECTOR_PARAMS):
        why = "runs one sample at a time" if xs[0].shape[0] != 1 else "has no float weights (quantized node)"
        raise GraphError(f"TokenSelector {why}; run the graph with hwprune.ir.execute.run_float",
                         node=node.name, op=node.op)
    tokens, flag = run_selector_node(xs[0], xs[1], int(node.attrs["heads"]), [x.to(torch.float32) for x in xs[2:]])
    return tokens, flag, torch.tensor([tokens.shape[1]], dtype=torch.int64)


ATTR = "int_selector"


def selector_nodes(graph: Graph) -> list[Node]:
    return [node for node in graph.nodes if node.op == "TokenSelector"]


def float_selector(graph: Graph, node: Node) -> TokenSelector:
    """The torch selector of a float node (its 12 weight constants)."""
    weights = {role: torch.as_tensor(np.asarray(graph.tensor(name).real_values(), dtype=np.float32))
               for role, name in zip(SELECTOR_PARAMS, node.inputs[2:])}
    dim = int(graph.tensor(node.inputs[0]).shape[-1])
    selector = TokenSelector(dim, int(node.attrs["heads"]))
    with torch.no_grad():
        named = dict(selector.named_parameters())
        for role, value in weights.items():
            named[role].copy_(value)
    return selector.eval()


def int_selector_of(node: Node) -> IntSelector:
    if ATTR not in node.attrs:
        raise GraphError("TokenSelector node is not quantized (run quantize_token_selectors first)",
                         node=node.name, op=node.op)
    return int_selector_from_dict(node.attrs[ATTR])  # type: ignore[arg-type]


def register() -> None:
    """Plug-in of stage ``ir``: the op spec, the float kernel and the row-count rule (idempotent)."""
    OPS.setdefault(TOKEN_SELECTOR_SPEC.name, TOKEN_SELECTOR_SPEC)
    FLOAT_KERNELS.setdefault(TOKEN_SELECTOR_SPEC.name, float_kernel)
    DYNAMIC_ROWS.setdefault(TOKEN_SELECTOR_SPEC.name, token_counts)

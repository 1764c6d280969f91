"""The hwprune.TokenSelector ONNX handler: IR node, op spec, error messages (frontend wiring is the lead's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from hwprune.errors import UnsupportedOpError
from hwprune.frontend.onnx_context import HANDLERS, ImportContext
from hwprune.frontend.onnx_loader import load_onnx
from hwprune import plugins
from hwprune.ir.graph import Graph, Tensor, check_node
from hwprune.ir.ops import OPS
from hwprune.tokens.export import OP_TYPE
from hwprune.tokens.onnx_handler import register, token_selector_handler


def _context(path: Path) -> tuple[ImportContext, list[onnx.NodeProto]]:
    model = load_onnx(path)
    graph = Graph(name="vit", inputs=[], outputs=[], tensors={}, nodes=[], source=path.name)
    for init in model.graph.initializer:
        data = numpy_helper.to_array(init)
        graph.tensors[init.name] = Tensor(init.name, list(data.shape), data=np.asarray(data))
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    return ImportContext(model, graph, shapes), [n for n in model.graph.node if n.op_type == OP_TYPE]


@pytest.fixture
def registered() -> None:
    """The token feature's plug-ins of stages ir and frontend, as the importer loads them (entry points)."""
    plugins.load("ir")
    plugins.load("frontend")


def test_handler_emits_a_checked_ir_node(examples_dir: Path, registered: None) -> None:
    register()  # idempotent (the fixture registered once already)
    assert HANDLERS[OP_TYPE] is token_selector_handler and "TokenSelector" in OPS
    ctx, nodes = _context(examples_dir / "vit_digits.onnx")
    ctx.node, ctx.node_name = nodes[0], "selector_before_block_2"
    ctx.graph.tensors[nodes[0].input[0]] = Tensor(nodes[0].input[0], [1, 17, 64])
    ctx.graph.tensors[nodes[0].input[1]] = Tensor(nodes[0].input[1], [1])
    token_selector_handler(ctx, nodes[0])
    ir = ctx.graph.nodes[-1]
    assert ir.op == "TokenSelector" and ir.attrs == {"heads": 4, "threshold": 0.5, "max_tokens": 17}
    assert len(ir.inputs) == 14 and ctx.graph.tensors[ir.outputs[0]].shape == [1, 17, 64]
    check_node(ctx.graph, ir)


def test_handler_rejects_non_constant_weights(examples_dir: Path) -> None:
    ctx, nodes = _context(examples_dir / "vit_digits.onnx")
    node = onnx.NodeProto()
    node.CopyFrom(nodes[0])
    node.input[5] = "not_an_initializer"
    ctx.node, ctx.node_name = node, "sel"
    with pytest.raises(UnsupportedOpError, match="must be an initializer"):
        token_selector_handler(ctx, node)

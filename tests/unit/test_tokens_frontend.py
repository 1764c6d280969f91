"""A TokenSelector node goes through the real frontend (custom domain ``hwprune``) and the float executor."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from hwprune.frontend import import_onnx
from hwprune.ir.execute import run_float
from hwprune.tokens.export import DOMAIN, OP_TYPE, run_selector_node


def _selector_only_model(examples_dir, path):
    vit = onnx.load(examples_dir / "vit_digits.onnx")
    node = next(n for n in vit.graph.node if n.op_type == OP_TYPE)
    inits = {t.name: t for t in vit.graph.initializer}
    weights = [inits[name] for name in node.input[2:]]
    package = numpy_helper.from_array(np.array([0], dtype=np.int64), "package_in")
    selector = helper.make_node(OP_TYPE, ["tokens", "package_in", *node.input[2:]], ["kept", "package_out"],
                                domain=DOMAIN, name="selector0", **{a.name: helper.get_attribute_value(a)
                                                                    for a in node.attribute})
    graph = helper.make_graph(
        [selector], "selector",
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1, 17, 64])],
        [helper.make_tensor_value_info("kept", TensorProto.FLOAT, [1, 17, 64]),
         helper.make_tensor_value_info("package_out", TensorProto.INT64, [1])],
        [package, *weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)])
    onnx.save(model, path)
    return [numpy_helper.to_array(w) for w in weights]


def test_selector_imports_and_runs_like_its_torch_semantics(examples_dir, tmp_path):
    """A batch runs one sample at a time: each sample's kept tokens, zero-padded to the IR bound (17 rows),
    with the count of valid rows as the node's third output (hwprune.tokens.dynamic)."""
    weights = _selector_only_model(examples_dir, tmp_path / "sel.onnx")
    graph = import_onnx(tmp_path / "sel.onnx")
    assert [n.op for n in graph.nodes] == ["TokenSelector"]
    count = "kept/count"
    assert graph.nodes[0].outputs == ["kept", "package_out", count] and graph.tensor(count).shape == [1]
    tokens = np.random.default_rng(0).normal(size=(3, 17, 64)).astype(np.float32)
    got = run_float(graph, {"tokens": tokens})
    assert sorted(got) == sorted(["kept", "package_out", count]) and got["kept"].shape == (3, 17, 64)
    for i in range(3):
        expected, flag = run_selector_node(torch.from_numpy(tokens[i:i + 1]), torch.tensor([0]),
                                           int(graph.nodes[0].attrs["heads"]), [torch.tensor(w) for w in weights])
        rows = expected.shape[1]
        assert got[count][i] == rows
        np.testing.assert_allclose(got["kept"][i, :rows], expected.numpy()[0], atol=1e-6)
        assert not got["kept"][i, rows:].any()  # padding is zero
        assert got["package_out"][i] == flag.item()

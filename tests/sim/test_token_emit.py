"""Emission of selector hardware from an IR graph: a selector-only ONNX model (written with
``hwprune.tokens.export``) goes through the real frontend, ``quantize_token_selectors`` and
``emit_token_selectors``; the emitted RTL simulates bit- and cycle-exact, the emitted HLS project passes
its C-sim, and the output is byte-identical on a rerun.

(The whole digits ViT does not import: the frontend has no ConstantOfShape/Shape-driven reshapes yet.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from hwprune.tokens.csim import run_token_csim
from hwprune.frontend import import_onnx
from hwprune.tokens.emit import emit_token_selectors
from hwprune.tokens.graph_quant import quantize_token_selectors
from hwprune.tokens.ir_node import int_selector_of
from hwprune.tokens.export import DOMAIN, OP_TYPE, export_vit_onnx
from hwprune.tokens.selector_json import int_selector_to_dict
from hwprune.tokens.rtl_sim import run_token_case
from hwprune.tokens.vit import DigitsViT, ViTConfig
from hwprune.sim.rtl_runner import build_design

pytestmark = pytest.mark.sim


def selector_only_model(vit_onnx: Path, index: int, tokens: int, dim: int, path: Path) -> Path:
    """The ``index``-th selector node of an exported ViT alone, input [1, tokens, dim], no package."""
    vit = onnx.load(vit_onnx)
    node = [n for n in vit.graph.node if n.op_type == OP_TYPE][index]
    inits = {t.name: t for t in vit.graph.initializer}
    package = numpy_helper.from_array(np.array([0], dtype=np.int64), "package_in")
    selector = helper.make_node(OP_TYPE, ["tokens", "package_in", *node.input[2:]], ["kept", "package_out"],
                                domain=DOMAIN, name="selector0",
                                **{a.name: helper.get_attribute_value(a) for a in node.attribute})
    graph = helper.make_graph(
        [selector], "selector", [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1, tokens, dim])],
        [helper.make_tensor_value_info("kept", TensorProto.FLOAT, [1, tokens, dim]),
         helper.make_tensor_value_info("package_out", TensorProto.INT64, [1])],
        [package, *[inits[name] for name in node.input[2:]]])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)]),
              path)
    return path


def test_vit_selector_emits_the_golden_model(examples_dir: Path, digits, tmp_path: Path) -> None:
    """The first selector of the committed ViT: the emitted hardware carries exactly the integer selector
    the accuracy figures use (same calibration images), and its HLS C-sim passes on the emitted sets."""
    from hwprune.tokens.artefacts import load_vit
    from hwprune.tokens.int_eval import selector_inputs, calibrate_int_selectors

    torch.set_num_threads(1)
    model = load_vit(examples_dir / "vit_digits.npz")
    x = torch.from_numpy(digits.x_train[:64])
    graph = import_onnx(selector_only_model(examples_dir / "vit_digits.onnx", 0, 17, 64, tmp_path / "sel.onnx"))
    block = model.cfg.selector_blocks[0]
    seen = selector_inputs(model, x)[block]  # the float tokens entering the selector, 17 per image
    qgraph = quantize_token_selectors(graph, {"tokens": torch.stack([t for t, _ in seen]).numpy()})
    expected = calibrate_int_selectors(model, x)[block]
    assert int_selector_to_dict(int_selector_of(qgraph.nodes[0])) == int_selector_to_dict(expected)
    first = emit_token_selectors(qgraph, tmp_path / "a", vectors=8, source="sel.onnx")
    emit_token_selectors(qgraph, tmp_path / "b", vectors=8, source="sel.onnx")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert Path("rtl/selector0.v") in files and Path("sim/selector0.case.json") in files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert first[0].facts["dim"] == 64 and first[0].facts["max_tokens"] == 17
    result = run_token_csim(first[0].hls_project)
    assert result.passed and result.tops == {"selector0": (first[0].sets, 0)}, result.log[-2000:]


def test_small_selector_model_end_to_end(tmp_path: Path, sim_root: Path) -> None:
    """A tiny ViT exported with export.py → its selector alone → import, quantize, emit → Verilator."""
    torch.manual_seed(3)
    vit = DigitsViT(ViTConfig(dim=16, heads=2, depth=2, mlp_hidden=16, selector_blocks=(1,)))
    export_vit_onnx(vit.eval(), tmp_path / "vit.onnx")
    graph = import_onnx(selector_only_model(tmp_path / "vit.onnx", 0, 6, 16, tmp_path / "sel.onnx"))
    feeds = {"tokens": np.random.default_rng(0).normal(size=(32, 6, 16)).astype(np.float32)}
    design = emit_token_selectors(quantize_token_selectors(graph, feeds), tmp_path / "build", vectors=40)[0]
    build_design([design.verilog], design.ident, sim_root / "emitted" / "obj")
    result = run_token_case(design.case, design.ident, sim_root / "emitted" / "obj")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]

"""Digits ViT with selectors: masked path = compacted path, deterministic training, artefacts, ONNX export."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from hwprune.tokens.artefacts import load_vit, save_vit
from hwprune.tokens.export import DOMAIN, OP_TYPE, TokenSelectorRun, export_vit_onnx
from hwprune.tokens.training import TrainConfig, evaluate, train_selectors, warm_start_selectors
from hwprune.tokens.vit import DigitsViT, ViTConfig

TINY = ViTConfig(dim=32, heads=2, depth=3, mlp_hidden=32, selector_blocks=(1, 2))


@pytest.fixture(scope="module")
def vit(examples_dir: Path) -> DigitsViT:
    return load_vit(examples_dir / "vit_digits.npz")


@pytest.fixture(scope="module")
def test_images(digits) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(digits.x_test), torch.from_numpy(digits.y_test)


def test_committed_vit_accuracy_and_keep_ratios(vit: DigitsViT, test_images) -> None:
    x, y = test_images
    pruned = evaluate(vit, x, y, use_selectors=True)
    full = evaluate(vit, x, y, use_selectors=False)
    # measured by examples/train_vit_digits.py: 97.78% pruned, 98.33% unpruned, alive 0.661 then 0.230
    assert pruned.accuracy >= 97.0 and full.accuracy >= 97.5
    assert full.accuracy - pruned.accuracy <= 1.0
    assert 0.55 < pruned.keep_ratios[0] < 0.75 and 0.15 < pruned.keep_ratios[1] < 0.35


def test_masked_path_equals_compacted_path(vit: DigitsViT, test_images) -> None:
    x, _ = test_images
    with torch.no_grad():
        out = vit.forward_masked(x[:40])
        for i in range(40):
            logits, steps = vit.forward_compact(x[i])
            assert torch.allclose(logits[0], out.logits[i], atol=1e-4)
            for step, alive in zip(steps, out.keep):
                assert int(step.keep[:16].sum()) == int(alive[i].sum())
                assert step.tokens.shape[0] == 1 + int(step.keep.sum()) + int(step.has_package)


def test_token_count_never_grows_and_class_token_first(vit: DigitsViT, test_images) -> None:
    x, _ = test_images
    with torch.no_grad():
        for image in x[:30]:
            rows = 17
            _, steps = vit.forward_compact(image)
            for step in steps:
                assert step.tokens.shape[0] <= rows
                rows = step.tokens.shape[0]


def test_tiny_training_is_deterministic(digits) -> None:
    x, y = torch.from_numpy(digits.x_train[:96]), torch.from_numpy(digits.y_train[:96])
    cfg = TrainConfig(batch_size=32, selector_epochs=1, warm_epochs=1)
    params = []
    for _ in range(2):
        torch.manual_seed(0)
        model = DigitsViT(TINY)
        warm_start_selectors(model, x, [0.5, 0.5], cfg)
        train_selectors(model, x, y, [0.5, 0.5], cfg)
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(params[0], params[1])
    assert not model.training


def test_save_load_roundtrip_is_byte_stable(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = DigitsViT(TINY)
    save_vit(model, tmp_path / "a.npz")
    again = load_vit(tmp_path / "a.npz")
    save_vit(again, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert again.cfg == TINY


def test_onnx_export_runs_with_reference_evaluator(tmp_path: Path, vit: DigitsViT, test_images) -> None:
    x, _ = test_images
    torch.manual_seed(2)
    model = DigitsViT(TINY).eval()
    with torch.no_grad():
        model.selectors["1"].score3.bias.copy_(torch.tensor([0.0, 0.1]))  # some tokens pruned, some kept
    proto = export_vit_onnx(model, tmp_path / "tiny.onnx")
    custom = [n for n in proto.graph.node if n.domain == DOMAIN]
    assert [n.op_type for n in custom] == [OP_TYPE, OP_TYPE]
    evaluator = ReferenceEvaluator(proto, new_ops=[TokenSelectorRun])
    with torch.no_grad():
        for image in x[:3]:
            expect, _ = model.forward_compact(image)
            got = evaluator.run(None, {"input": image[None].numpy()})[0]
            assert torch.allclose(torch.from_numpy(got), expect, atol=1e-4)


def test_committed_onnx_has_two_selector_nodes(examples_dir: Path) -> None:
    proto = onnx.load(str(examples_dir / "vit_digits.onnx"))
    nodes = [n for n in proto.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    assert len(nodes) == 2
    assert {o.domain for o in proto.opset_import} >= {"", DOMAIN}
    assert all(len(n.input) == 14 and len(n.output) == 2 for n in nodes)


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="multiple of heads"):
        ViTConfig(dim=64, heads=3)
    with pytest.raises(ValueError, match="selector_blocks"):
        ViTConfig(selector_blocks=(0, 2))

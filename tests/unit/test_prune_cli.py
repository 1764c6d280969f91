"""``hwprune prune`` end to end: one-shot and fine-tuned, detection on re-import, errors, atomic output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hwprune.cli import main
from hwprune.frontend import import_onnx
from hwprune.prune.detect import annotate_patterns, detect_pattern
from hwprune.prune.patterns import get_pattern


@pytest.fixture(scope="module")
def train_npz(tmp_path_factory, digits) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.npz"
    np.savez(path, x=digits.x_train, y=digits.y_train)
    return path


def test_one_shot_nm_is_detected_exactly(tmp_path, examples_dir, capsys):
    out = tmp_path / "mlp_nm.onnx"
    assert main(["prune", str(examples_dir / "mlp_digits.onnx"), "--pattern", "nm", "--param", "m=4",
                 "--sparsity", "0.5", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp_nm.onnx"]  # no temporary file left
    original = import_onnx(str(examples_dir / "mlp_digits.onnx"))
    graph = import_onnx(str(out))
    found = annotate_patterns(graph)
    assert set(found) == {"fc0.weight", "fc1.weight", "fc2.weight"}
    for name, pattern in found.items():
        assert pattern.kind == "nm" and pattern.param("n") == 2 and pattern.param("m") == 4
        assert pattern.param("group_size") == 4 and pattern.param("kept_per_group") == 2
        tensor = graph.tensor(name)
        expected = get_pattern("nm", m=4).mask(torch.tensor(original.tensor(name).data), 0.5).numpy()
        np.testing.assert_array_equal(tensor.mask, expected)
        # one-shot without data keeps the kept weights bit for bit
        np.testing.assert_array_equal(tensor.data, np.where(expected, original.tensor(name).data, 0))


@pytest.mark.slow
def test_finetuned_block_punched_cnn_detects_and_lowers(tmp_path, examples_dir, train_npz, digits):
    from hwprune.lower.lowering import lower_graph
    from hwprune.quant import quantize_graph

    out = tmp_path / "cnn_bp.onnx"
    code = main(["prune", str(examples_dir / "cnn_digits.onnx"), "-p", "block_punched", "--param", "balanced=true",
                 "-s", "0.75", "--skip", "conv0", "--skip", "fc", "--data", str(train_npz), "--epochs", "2",
                 "-o", str(out)])
    assert code == 0
    graph = import_onnx(str(out))
    found = annotate_patterns(graph)
    assert list(found) == ["conv1.weight"]
    pattern = found["conv1.weight"]
    assert (pattern.kind, pattern.param("group_size"), pattern.param("kept_per_group")) == ("block_punched", 9, 2)
    calib = dict(np.load(examples_dir / "calibration.npz"))
    qgraph = quantize_graph(graph, {graph.inputs[0]: calib["input_images"]})
    specs = {spec.name: spec for spec in lower_graph(qgraph)}
    conv1 = next(s for s in specs.values() if s.pattern == "block_punched")
    assert conv1.weights.layout.kept_per_group == 2 and conv1.weights.layout.group_size == 9


@pytest.mark.slow
def test_rerun_is_byte_identical_and_detection_sees_the_stochastic_layout(tmp_path, examples_dir, train_npz):
    outs = []
    for i in range(2):
        out = tmp_path / f"mlp_bs{i}.onnx"
        assert main(["prune", str(examples_dir / "mlp_digits.onnx"), "-p", "balanced_stochastic", "-s", "0.75",
                     "--param", "group_size=8", "--data", str(train_npz), "--epochs", "1", "--method", "gradual",
                     "-o", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    graph = import_onnx(str(tmp_path / "mlp_bs0.onnx"))
    for name in ("fc0.weight", "fc1.weight", "fc2.weight"):
        detected = detect_pattern(graph.tensor(name).data)
        assert detected is not None and (detected.layout.group_size, detected.layout.kept_per_group) == (8, 2)


def test_channel_pruning_shrinks_the_written_model(tmp_path, examples_dir):
    out = tmp_path / "mlp_ch.onnx"
    assert main(["prune", str(examples_dir / "mlp_digits.onnx"), "-p", "channel", "-s", "0.5", "--skip", "fc2",
                 "-o", str(out)]) == 0
    graph = import_onnx(str(out))
    assert [graph.tensor(n).shape for n in ("fc0.weight", "fc1.weight", "fc2.weight")] == [[32, 64], [16, 32], [10, 16]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.onnx", "-p", "nm"], "no such model file"),
        (["{mlp}", "-p", "diagonal"], "unknown pattern 'diagonal'; known patterns: balanced_stochastic"),
        (["{mlp}", "-p", "nm", "--param", "m"], "--param must look like NAME=VALUE, not 'm'"),
        (["{mlp}", "-p", "nm", "--param", "q=3"], "pattern 'nm' has no parameter 'q'; its parameters: m"),
        (["{mlp}", "-p", "nm", "-s", "0.9"], "cannot reach sparsity 0.9"),
        (["{mlp}", "-p", "nm", "--skip", "conv9"], "no prunable layer named 'conv9'; prunable layers: fc0, fc1, fc2"),
        (["{qonnx}", "-p", "nm"], "node '/quant_in/act_quant/export_handler/Quant' (Quant): pruning through ONNX"),
        (["{mlp}", "-p", "nm", "--data", "{bad}"], "training data needs arrays 'x' and 'y'"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_write_nothing(args, message, tmp_path, examples_dir, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((2, 64), dtype=np.float32))
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous")
    subs = {"{mlp}": str(examples_dir / "mlp_digits.onnx"), "{qonnx}": str(examples_dir / "mlp_digits_qonnx.onnx"),
            "{bad}": str(bad)}
    argv = ["prune", *[subs.get(a, a) for a in args], "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hwprune: error: ") and message in err[0], err
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz", "out.onnx"]


def test_pruned_qat_qonnx_keeps_the_exact_pattern(examples_dir):
    """examples/train_pruned_qat.py: integer weights are non-zero exactly on the training mask."""
    graph = import_onnx(str(examples_dir / "mlp_digits_pruned_qonnx.onnx"))
    masks = np.load(examples_dir / "mlp_digits_pruned_qonnx_masks.npz")
    found = annotate_patterns(graph)
    layers = [n for n in graph.nodes if n.op == "Dense"]
    assert len(found) == len(layers) == 3
    for node in layers:
        weight = graph.tensor(node.inputs[1])
        assert weight.is_quantized
        pattern = found[weight.name]
        assert (pattern.param("group_size"), pattern.param("kept_per_group"), pattern.density) == (8, 2, 0.25)
        np.testing.assert_array_equal(weight.mask, masks[node.name.split("/")[1]])
        get_pattern("balanced_stochastic", group_size=8).check(weight.mask)

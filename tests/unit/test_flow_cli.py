"""The compile pipeline and the CLI: outputs, determinism, and every bad input failing cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwprune.config import CompileConfig
from hwprune.flow import BUILD_MARKER, compile_model


def run_cli(*args: str, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwprune.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, **kwargs)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_compile_writes_checkpoints_and_report(tmp_path, examples_dir):
    out = tmp_path / "build" / "mlp"
    # the PYNQ-Z2: the default steps, estimate included, on kernels small enough for Yosys in seconds
    result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), "--board", "pynq-z2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {BUILD_MARKER, "ir.json", "ir_quant.json", "kernels.json", "rtl",
                                              "sim", "hls", "estimate.json", "report.json",
                                              "report.html", "board", "ci"}
    assert sorted(p.name for p in (out / "rtl").glob("*.v")) == ["fc0_Gemm.v", "fc1_Gemm.v", "fc2_Gemm.v",
                                                              "mlp_digits_top.v"]
    report = json.loads((out / "report.json").read_text())
    dense = [layer for layer in report["layers"] if layer["op"] == "Dense"]
    assert [layer["weight_shape"] for layer in dense] == [[64, 64], [32, 64], [10, 32]]
    assert [layer["macs"] for layer in dense] == [64 * 64, 32 * 64, 10 * 32]
    assert all(layer["nonzero_macs"] == layer["nonzero_weights"] for layer in dense)
    assert all(layer["weight_bits"] == 8 for layer in dense)
    assert report["totals"]["macs"] == 64 * 64 + 32 * 64 + 10 * 32
    assert report["board"]["name"] == "pynq-z2"
    assert _leftovers(out.parent) == []


def test_same_command_twice_gives_identical_files(tmp_path, examples_dir):
    outs = []
    for index in range(2):
        out = tmp_path / f"b{index}"
        result = run_cli("compile", str(examples_dir / "cnn_digits.onnx"), "--board", "zcu102", "-o", str(out))
        assert result.returncode == 0, result.stderr
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert {"ir.json", "ir_quant.json", "kernels.json", "report.json"} <= {str(f) for f in files}
    assert any(str(f).startswith("hls/") for f in files)
    assert files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file())
    for name in files:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_recompiling_replaces_a_previous_build(tmp_path, examples_dir):
    out = tmp_path / "b"
    config = CompileConfig(estimate=False)  # what is replaced does not depend on the Yosys step
    compile_model(examples_dir / "mlp_digits.onnx", out, config)
    (out / "stale.txt").write_text("from an older build")
    compile_model(examples_dir / "mlp_digits.onnx", out, config)
    assert not (out / "stale.txt").exists()
    assert _leftovers(tmp_path) == []


def test_stop_after_import_writes_only_the_ir(tmp_path, examples_dir):
    out = tmp_path / "b"
    result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), "-o", str(out), "--stop-after", "import")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {BUILD_MARKER, "ir.json"}


def test_eval_data_reports_accuracy(tmp_path, examples_dir):
    from hwprune.demo import write_digits_eval

    data = write_digits_eval(tmp_path / "eval.npz")
    result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), "-o", str(tmp_path / "b"),
                     "--eval-data", str(data), "--no-estimate")  # accuracy needs no Yosys figures
    assert result.returncode == 0, result.stderr
    accuracy = json.loads((tmp_path / "b" / "report.json").read_text())["accuracy"]
    assert accuracy["samples"] == 360
    assert accuracy["integer_top1"] >= accuracy["float_top1"] - 1.0
    assert "integer" in result.stdout


def _unsupported_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Softsign", ["x"], ["y"], name="my_softsign")], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _bad_inputs(tmp_path: Path, examples_dir: Path) -> dict[str, tuple[list[str], str]]:
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    truncated = tmp_path / "truncated.onnx"
    raw = (examples_dir / "mlp_digits.onnx").read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    unsupported = tmp_path / "softsign.onnx"
    _unsupported_model(unsupported)
    mlp = str(examples_dir / "mlp_digits.onnx")
    return {
        "non-onnx": ([str(text)], "not a valid ONNX model"),
        "truncated": ([str(truncated)], "not a valid ONNX model"),
        "unsupported-op": ([str(unsupported)], "node 'my_softsign' (Softsign): op type Softsign is not supported; supported:"),
        "unknown-board": ([mlp, "--board", "zcu999"], "unknown board 'zcu999'; known boards:"),
        "missing-file": ([str(tmp_path / "nope.onnx")], "model file not found"),
        "bad-stop-step": ([mlp, "--stop-after", "emit-everything"], "unknown step 'emit-everything'"),
        "bad-lanes": ([mlp, "--lanes", "0"], "lanes must be an integer in 1..4096, not 0"),
        "bad-target": ([mlp, "--target-interval", "0"], "target_interval must be a positive integer (cycles), not 0"),
        "unreachable-target": ([mlp, "--target-interval", "2"], "cannot reach an interval of 2 cycles"),
        "too-many-lanes": ([mlp, "--board", "pynq-z2", "--max-util", "0.1", "--lanes", "64"],
                           "does not fit board 'pynq-z2' at max_util 0.1 (budget DSP 22, BRAM18 28, LUT 5320, "
                           "FF 10640) at 64 lanes: its smallest configuration at that lane count needs DSP 109/22"),
    }


@pytest.mark.parametrize("case", ["non-onnx", "truncated", "unsupported-op", "unknown-board", "missing-file",
                                  "bad-stop-step", "bad-lanes", "too-many-lanes", "bad-target",
                                  "unreachable-target"])
def test_bad_input_gives_one_line_and_no_build_dir(tmp_path, examples_dir, case):
    args, message = _bad_inputs(tmp_path, examples_dir)[case]
    out = tmp_path / "out" / "build"
    (tmp_path / "out").mkdir()
    result = run_cli("compile", *args, "-o", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwprune: error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_lanes_pins_every_layer(tmp_path, examples_dir):
    out = tmp_path / "pinned"
    result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), "--lanes", "4", "--stop-after", "lower",
                     "-o", str(out))
    assert result.returncode == 0, result.stderr
    kernels = json.loads((out / "kernels.json").read_text())["kernels"]
    assert [(k["lanes"], k["out_features"]) for k in kernels] == [(4, 64), (4, 32), (4, 10)]


def test_target_interval_builds_the_cheapest_design_reaching_it(tmp_path, examples_dir):
    from hwprune.lower.fitting import layer_interval
    from hwprune.lower.kernel_spec import KernelSpec

    def fitted(*flags: str) -> list[KernelSpec]:
        out = tmp_path / "-".join(flags or ("fastest",))
        result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), *flags, "--stop-after", "lower",
                         "-o", str(out))
        assert result.returncode == 0, result.stderr
        return [KernelSpec.from_dict(k) for k in json.loads((out / "kernels.json").read_text())["kernels"]]

    fastest = fitted()
    slow = fitted("--target-interval", "256")
    assert max(map(layer_interval, fastest)) < 256
    assert max(map(layer_interval, slow)) <= 256
    assert sum(k.lanes * k.macs_per_lane for k in slow) < sum(k.lanes * k.macs_per_lane for k in fastest)


def test_failure_keeps_the_previous_build(tmp_path, examples_dir):
    out = tmp_path / "b"
    compile_model(examples_dir / "mlp_digits.onnx", out, CompileConfig())
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    result = run_cli("compile", str(bad), "-o", str(out))
    assert result.returncode == 2
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert _leftovers(tmp_path) == []


def test_refuses_to_overwrite_a_directory_that_is_not_a_build(tmp_path, examples_dir):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), "-o", str(out))
    assert result.returncode == 2
    assert "not an hwprune build directory" in result.stderr
    assert (out / "thesis.tex").read_text() == "precious"


def test_unwritable_directory_fails_cleanly(tmp_path, examples_dir):
    """Root ignores permission bits, so as root the CLI runs without CAP_DAC_OVERRIDE (setpriv)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    command = [sys.executable, "-m", "hwprune.cli", "compile", str(examples_dir / "mlp_digits.onnx"),
               "-o", str(locked / "build")]
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "no permission to write here" in result.stderr
    assert list(locked.iterdir()) == []


def test_config_file_sets_options_and_rejects_unknown_keys(tmp_path, examples_dir):
    good = tmp_path / "good.yaml"
    good.write_text("board: kv260\nstop_after: import\n")
    result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), "--config", str(good), "-o", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    assert "for kv260" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("board: kv260\nweigth_bits: 4\n")
    result = run_cli("compile", str(examples_dir / "mlp_digits.onnx"), "--config", str(bad), "-o", str(tmp_path / "c"))
    assert result.returncode == 2
    assert "unknown keys ['weigth_bits']" in result.stderr and str(bad) in result.stderr


@pytest.mark.parametrize("command", [[], ["compile"], ["boards"]])
def test_help_explains_each_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout


@pytest.mark.parametrize("args", [["compile", "model.onnx", "--no-such-option"], ["sim"], ["nosuchcommand"]])
def test_a_bad_command_line_is_a_usage_error(args, tmp_path):
    """Exit 2 with click's usage message, not an 'internal error' (typer 0.29 carries its own click)."""
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "internal error" not in result.stderr and ("Usage" in result.stderr or "Error" in result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_boards_lists_every_board():
    result = run_cli("boards")
    assert result.returncode == 0
    for name in ("zcu102", "zcu104", "kv260", "ultra96v2", "pynq-z2", "alveo-u250", "generic-asic"):
        assert name in result.stdout


def test_pruned_qat_model_compiles_with_its_pattern_recognised(tmp_path, examples_dir):
    import numpy as np

    out = tmp_path / "b"
    result = run_cli("compile", str(examples_dir / "mlp_digits_pruned_qonnx.onnx"), "-o", str(out),
                     "--calibration", str(examples_dir / "calibration.npz"))
    assert result.returncode == 0, result.stderr
    ir = json.loads((out / "ir.json").read_text())
    masks = np.load(examples_dir / "mlp_digits_pruned_qonnx_masks.npz")
    patterned = [t for t in ir["tensors"] if "sparsity" in t]
    assert len(patterned) == len(masks.files) == 3
    for tensor in patterned:
        assert tensor["sparsity"]["params"]["kept_per_group"] * 4 == tensor["sparsity"]["params"]["group_size"]
    from hwprune.ir.graph import Graph

    graph = Graph.from_dict(ir)
    dense = [n for n in graph.nodes if n.op == "Dense"]
    for index, node in enumerate(dense):
        np.testing.assert_array_equal(graph.tensor(node.inputs[1]).mask, masks[f"fc{index}"].astype(bool))
    kernels = json.loads((out / "kernels.json").read_text())["kernels"]
    assert [k["layout"]["kept_per_group"] * 4 == k["layout"]["group_size"] for k in kernels] == [True] * 3
    report = json.loads((out / "report.json").read_text())
    assert all(layer["kernel"]["pe_utilisation"] > 0 for layer in report["layers"] if "kernel" in layer)

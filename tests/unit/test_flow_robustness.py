"""Interrupted and concurrent compiles: the previous build survives, no temp directory remains."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwprune import flow
from hwprune.config import CompileConfig
from hwprune.flow import compile_model


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def previous_build(tmp_path_factory, examples_dir) -> Path:
    """One finished build, copied into each test as the build a failing compile must not touch."""
    out = tmp_path_factory.mktemp("previous") / "b"
    compile_model(examples_dir / "mlp_digits.onnx", out, CompileConfig())
    return out


@pytest.mark.parametrize("failing_step", flow.step_names())
@pytest.mark.parametrize("exception", [KeyboardInterrupt, RuntimeError])
def test_interrupt_in_any_step_keeps_the_previous_build(tmp_path, previous_build, monkeypatch, examples_dir,
                                                        failing_step, exception):
    out = tmp_path / "b"
    shutil.copytree(previous_build, out)
    before = _snapshot(out)

    def boom(ctx):
        raise exception("stop here")

    steps = [flow.Step(s.name, s.checkpoint, boom if s.name == failing_step else s.run, s.doc) for s in flow.STEPS]
    monkeypatch.setattr(flow, "STEPS", steps)
    with pytest.raises(exception):
        compile_model(examples_dir / "cnn_digits.onnx", out, CompileConfig())
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


SLOW_COMPILE = """
import sys, time
from hwprune import flow
from hwprune.cli import main
slow = flow.Step("slow", "", lambda ctx: time.sleep(60), "waits to be interrupted")
flow.STEPS.insert(1, slow)
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_compile_keeps_previous_build_and_no_temp_directory(tmp_path, examples_dir, signum):
    out = tmp_path / "b"
    compile_model(examples_dir / "mlp_digits.onnx", out, CompileConfig())
    before = _snapshot(out)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_COMPILE, "compile", str(examples_dir / "cnn_digits.onnx"),
                             "-o", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".b.tmp-") for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, "the compile never started its build"
        time.sleep(0.01)
    time.sleep(0.2)  # let the import step run into the slow step
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_concurrent_compiles_into_one_directory_do_not_corrupt_it(tmp_path, examples_dir):
    out = tmp_path / "b"
    models = ["mlp_digits.onnx", "cnn_digits.onnx", "mlp_digits.onnx"]
    procs = [subprocess.Popen([sys.executable, "-m", "hwprune.cli", "compile", str(examples_dir / m), "-o", str(out)],
                              stderr=subprocess.PIPE, text=True) for m in models]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    reference = tmp_path / "reference"
    import json

    source = json.loads((out / "report.json").read_text())["source"]["file"]
    compile_model(examples_dir / source, reference, CompileConfig())
    assert _snapshot(out) == _snapshot(reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "reference"]
    assert os.listdir(out)

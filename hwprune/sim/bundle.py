"""The build-directory side of RTL verification: emit ``rtl/``, write ``sim/`` (golden vectors and
expected traces, per kernel), and rerun them (``hwprune sim BUILD_DIR``).

Layout written into a build directory::

    rtl/<ident>.v, rtl/<ident>_{weights,params}.hex, rtl/manifest.json
    sim/<ident>.case.json      inputs, arrivals, reference outputs, predicted cycle of every beat
    sim/manifest.json          which case belongs to which top module and Verilog files

Today every Dense/Conv layer is verified as its own kernel (layer by layer, inputs from
``stimulus``); the chained network top is not emitted yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hwprune.backends.rtl.emit import RtlDesign, emit_kernel
from hwprune.ir.graph import Graph
from hwprune.lower.cycles import steady_state_interval
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.sim.golden import kernel_case, read_case, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import stimulus

__all__ = ["emit_rtl", "write_sim_bundle", "run_sim", "LayerReport"]


def _kernels(design: Sequence[KernelSpec] | Graph) -> list[KernelSpec]:
    if isinstance(design, Graph):
        from hwprune.lower.lowering import lower_graph

        return lower_graph(design)
    return list(design)


def emit_rtl(design: Sequence[KernelSpec] | Graph, out_dir: Path, source: str = "") -> list[RtlDesign]:
    """Write every kernel's Verilog and ROM images into ``out_dir`` (a build's ``rtl/``), and the
    manifest listing them. ``design`` is a list of KernelSpecs or a quantized graph (lowered here)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    designs = [emit_kernel(spec, out_dir, source) for spec in _kernels(design)]
    manifest = {"kernels": [d.to_dict() for d in designs]}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return designs


def write_sim_bundle(design: Sequence[KernelSpec] | Graph, build_dir: Path, vectors: int = 200,
                     seed: int = 0, source: str = "") -> Path:
    """Emit ``rtl/`` (if missing) and write one case per kernel into ``build_dir/sim``; returns it."""
    build_dir = Path(build_dir)
    kernels = _kernels(design)
    rtl_dir = build_dir / "rtl"
    designs = emit_rtl(kernels, rtl_dir, source) if not (rtl_dir / "manifest.json").exists() else [
        RtlDesign.from_dict(d) for d in json.loads((rtl_dir / "manifest.json").read_text())["kernels"]]
    sim_dir = build_dir / "sim"
    entries = []
    for index, (spec, rtl) in enumerate(zip(kernels, designs)):
        x = stimulus(spec, vectors, seed + index)
        case = kernel_case(spec, x, seed=seed + index)
        case["vectors"] = int(x.shape[0])
        case["facts"] = {**rtl.kernels[0], "interval": steady_state_interval_of(spec)}
        path = write_case(case, sim_dir / f"{spec.ident}.case.json")
        entries.append({"name": spec.name, "case": path.name, "top": rtl.top, "verilog": rtl.verilog})
    (sim_dir / "manifest.json").write_text(json.dumps({"kernels": entries}, indent=1, sort_keys=True) + "\n",
                                           encoding="utf-8")
    return sim_dir


def steady_state_interval_of(spec: KernelSpec) -> int | None:
    """Cycles per vector with back-to-back input (dense kernels; None for conv, whose input rate
    depends on the frame)."""
    from hwprune.lower.cycles import EngineTiming

    return steady_state_interval(EngineTiming.of(spec)) if spec.kind == "dense" else None


@dataclass(frozen=True)
class LayerReport:
    """One kernel's verdict, as ``hwprune sim`` prints it."""

    name: str
    vectors: int
    beats: int
    bit_exact: bool
    cycle_exact: bool
    measured_last_cycle: int | None
    predicted_last_cycle: int | None
    utilisation: float | None
    log: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_sim(build_dir: Path, tests: Sequence[str] = ("timed", "backpressure")) -> list[LayerReport]:
    """Build (Verilator) and replay every case of ``build_dir/sim``; one report per kernel."""
    build_dir = Path(build_dir)
    sim_dir = build_dir / "sim"
    manifest = json.loads((sim_dir / "manifest.json").read_text(encoding="utf-8"))
    reports = []
    for entry in manifest["kernels"]:
        case_path = sim_dir / entry["case"]
        case = read_case(case_path)
        obj = sim_dir / "obj" / entry["top"]
        build_design([build_dir / "rtl" / name for name in entry["verilog"]], entry["top"], obj)
        result = run_case(case_path, entry["top"], obj, tests=tests)
        measured = result.measured_cycles()
        predicted = case["expected_cycles"] or []
        facts = case.get("facts", {})
        utilisation = None
        if facts.get("interval"):
            utilisation = facts["useful_macs"] / (facts["lanes"] * facts["macs_per_lane"] * facts["interval"])
        reports.append(LayerReport(
            name=entry["name"], vectors=int(case.get("vectors", 0)), beats=len(case["expected"]),
            bit_exact=result.passed, cycle_exact=result.passed and measured == predicted,
            measured_last_cycle=measured[-1] if measured else None,
            predicted_last_cycle=predicted[-1] if predicted else None, utilisation=utilisation, log=str(result.log),
        ))
    return reports


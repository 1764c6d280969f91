"""The build-directory side of RTL verification: emit ``rtl/``, write ``sim/`` (golden vectors and
expected traces, per kernel), and rerun them (``hwprune sim BUILD_DIR``).

Layout written into a build directory::

    rtl/<ident>.v, rtl/<ident>_{weights,params}.hex, rtl/manifest.json
    rtl/<model>_top.v, rtl/network.json   the chained network top (AXI-Stream) and its plan + timing
    sim/<ident>.case.json      inputs, arrivals, reference outputs, predicted cycle of every beat
    sim/network.case.json      the top's case: network inputs, whole-network reference, predicted cycles
    sim/manifest.json          which case belongs to which top module and Verilog files

Every Dense/Conv layer is verified as its own kernel (inputs from ``stimulus``), and the whole
network through its top (``hwprune.sim.network``). The network needs the quantized graph (for its
max-pool/flatten stages and its reference): given as ``graph``, or as the design itself, or found
as ``ir_quant.json`` in the build directory (the quantize step's checkpoint). A graph that is not
one chain of supported ops gets no top; the manifest says why, and layers are still verified.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import logging

from hwprune import plugins, progress
from hwprune.backends.rtl.emit import RtlDesign, banner, emit_kernel
from hwprune.ir.graph import Graph
from hwprune.lower.engine_schedule import steady_state_interval
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.sim.golden import kernel_case, read_case, write_case
from hwprune.sim.mismatch import mismatch_from_trace
from hwprune.sim.rom_images import rom_difference
from hwprune.sim.rtl_runner import Outcome, SimResult, build_design, run_case
from hwprune.sim.vectors import stimulus

__all__ = ["emit_rtl", "write_sim_bundle", "run_sim", "layer_report", "network_report", "kernel_specs", "LayerReport",
           "NETWORK_CYCLE_BUDGET", "BUILD_CHECKS"]

log = logging.getLogger(__name__)

NETWORK_CYCLE_BUDGET = 120_000
"""Network vectors in a bundle are capped so the timed replay stays under about this many cycles
(a CNN frame takes a thousand cycles or more; every layer is still checked on all ``vectors``)."""


def _kernels(design: Sequence[KernelSpec] | Graph) -> list[KernelSpec]:
    if isinstance(design, Graph):
        from hwprune.lower.lowering import lower_graph

        return lower_graph(design)
    return list(design)


def _graph_for(design: Sequence[KernelSpec] | Graph, graph: Graph | None, build_dir: Path) -> Graph | None:
    if graph is not None:
        return graph
    if isinstance(design, Graph):
        return design
    checkpoint = build_dir / "ir_quant.json"
    return Graph.from_json(checkpoint.read_text(encoding="utf-8")) if checkpoint.is_file() else None


def _emit_network(graph: Graph | None, kernels: list[KernelSpec], out_dir: Path, source: str) -> dict[str, Any]:
    """The network top's manifest entry, or ``{"skipped": reason}``."""
    from hwprune.backends.rtl.network import emit_network
    from hwprune.lower.network_cycles import network_timing
    from hwprune.lower.network_plan import NetworkUnsupported, plan_network, top_name

    if graph is None:
        return {"skipped": "no quantized graph (ir_quant.json) to chain the kernels with"}
    try:
        plan = plan_network(graph, kernels, top_name(source, [k.ident for k in kernels]))
    except NetworkUnsupported as error:
        log.info("no network top: %s", error)
        return {"skipped": f"no network top: {error}"}
    header = banner(f"network top {plan.top} ({len(plan.stages)} stages)", source)
    return emit_network(plan, network_timing(plan), out_dir, header)


def emit_rtl(design: Sequence[KernelSpec] | Graph, out_dir: Path, source: str = "",
             graph: Graph | None = None) -> list[RtlDesign]:
    """Write every kernel's Verilog and ROM images into ``out_dir`` (a build's ``rtl/``), the network
    top when the graph is known (see the module docstring), and the manifest listing them.
    ``design`` is a list of KernelSpecs or a quantized graph (lowered here)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kernels = _kernels(design)
    designs = []
    for index, spec in enumerate(kernels):
        progress.advance(index + 1, len(kernels), "layer", "RTL")
        designs.append(emit_kernel(spec, out_dir, source))
    network = _emit_network(_graph_for(design, graph, out_dir.parent), kernels, out_dir, source)
    manifest = {"kernels": [d.to_dict() for d in designs], "network": network}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return designs


def write_sim_bundle(design: Sequence[KernelSpec] | Graph, build_dir: Path, vectors: int = 200,
                     seed: int = 0, source: str = "", graph: Graph | None = None,
                     network_vectors: int | None = None) -> Path:
    """Emit ``rtl/`` (if missing) and write one case per kernel, and the network case, into
    ``build_dir/sim``; returns it. ``network_vectors`` defaults to ``vectors`` + 4 edge vectors,
    capped by ``NETWORK_CYCLE_BUDGET`` (but never fewer than ``min(8, vectors + 4)``)."""
    build_dir = Path(build_dir)
    kernels = _kernels(design)
    rtl_dir = build_dir / "rtl"
    if not (rtl_dir / "manifest.json").exists():
        emit_rtl(kernels, rtl_dir, source, graph=_graph_for(design, graph, build_dir))
    rtl_manifest = json.loads((rtl_dir / "manifest.json").read_text(encoding="utf-8"))
    designs = [RtlDesign.from_dict(d) for d in rtl_manifest["kernels"]]
    sim_dir = build_dir / "sim"
    sim_dir.mkdir(parents=True, exist_ok=True)  # also for a graph with no Dense/Conv kernel
    entries = []
    for index, (spec, rtl) in enumerate(zip(kernels, designs)):
        progress.advance(index + 1, len(kernels), "layer", "golden case")
        x = stimulus(spec, vectors, seed + index)
        case = kernel_case(spec, x, seed=seed + index)
        case["vectors"] = int(x.shape[0])
        case["facts"] = {**rtl.kernels[0], "interval": steady_state_interval_of(spec)}
        path = write_case(case, sim_dir / f"{spec.ident}.case.json")
        entries.append({"name": spec.name, "case": path.name, "top": rtl.top, "verilog": rtl.verilog})
    manifest: dict[str, Any] = {"kernels": entries}
    network = rtl_manifest.get("network") or {}
    if network.get("top"):
        manifest["network"] = _write_network_case(build_dir, _graph_for(design, graph, build_dir), vectors,
                                                   network_vectors, seed)
    else:
        manifest["network"] = {"skipped": network.get("skipped", "no network top emitted")}
    (sim_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                           encoding="utf-8")
    return sim_dir


def _write_network_case(build_dir: Path, graph: Graph | None, vectors: int, count: int | None,
                        seed: int) -> dict[str, Any]:
    from hwprune.sim.network import NETWORK_CASE, load_network, network_case, network_reference, network_stimulus

    plan, timing, entry = load_network(build_dir)
    if graph is None:
        return {"skipped": "no quantized graph for the network reference"}
    if count is None:
        count = max(min(8, vectors + 4), min(vectors + 4, NETWORK_CYCLE_BUDGET // timing.interval))
    x = network_stimulus(plan, count, seed + 1000)
    case = network_case(plan, timing, x, network_reference(graph, plan, x), seed=seed)
    path = write_case(case, build_dir / "sim" / NETWORK_CASE)
    return {"name": plan.top, "case": path.name, "top": entry["top"], "verilog": entry["verilog"]}


def steady_state_interval_of(spec: KernelSpec) -> int | None:
    """Cycles per vector with back-to-back input (dense kernels; None for conv, whose input rate
    depends on the frame)."""
    from hwprune.lower.cycles import EngineTiming

    return steady_state_interval(EngineTiming.of(spec)) if spec.kind == "dense" else None


@dataclass(frozen=True)
class LayerReport:
    """One kernel's (or, with ``kind="network"``, the network top's) verdict, as ``hwprune sim`` prints
    it; ``passed`` also covers the backpressure replay and, for the network, ``tlast``. ``seconds`` (build
    and replay), ``checks`` (each cocotb test) and ``mismatches`` (per failed test, ``hwprune.sim.mismatch``'s
    report) feed the JUnit report and the text under the table; ``beats_file`` is the testbench's
    ``*.trace.json`` (the beats it received, per test), for a caller that wants the RTL's values."""

    name: str
    vectors: int
    beats: int
    bit_exact: bool
    cycle_exact: bool
    measured_last_cycle: int | None
    predicted_last_cycle: int | None
    utilisation: float | None
    log: str
    kind: str = "layer"
    passed: bool = True
    seconds: float = 0.0
    checks: tuple[Outcome, ...] = ()
    mismatches: dict[str, str] = field(default_factory=dict)
    beats_file: str | None = None

    @property
    def mismatch(self) -> str | None:
        """The first failed test's first-mismatch report (None when every test passed)."""
        return next(iter(self.mismatches.values()), None)

    @property
    def ok(self) -> bool:
        """Bit-exact, cycle-exact and every replay passed (what ``hwprune sim`` exits 0 on)."""
        return self.bit_exact and self.cycle_exact and self.passed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BuildCheck = Callable[[Path, Sequence[str]], "list[LayerReport]"]
BUILD_CHECKS: dict[str, BuildCheck] = {}
"""Manifest file in ``sim/`` -> the check that replays what it lists (an op with its own hardware, e.g. the
token selectors' ``token_selectors.json``); filled by plug-ins of stage ``sim`` (``hwprune.plugins``)."""


def run_sim(build_dir: Path, tests: Sequence[str] = ("timed", "backpressure"), layers: bool = True,
            jobs: int = 1) -> list[LayerReport]:
    """Build (Verilator) and replay every case of ``build_dir/sim``; one report per kernel (none with
    ``layers=False``: a large model's layers take minutes, its network top checks them all in context),
    in ``jobs`` processes at once, then one for the network top (when the bundle has one)."""
    build_dir = Path(build_dir).resolve()  # cocotb runs in the build's obj/ directory: no relative paths
    sim_dir = build_dir / "sim"
    manifest = json.loads((sim_dir / "manifest.json").read_text(encoding="utf-8"))
    reports = []
    specs = kernel_specs(build_dir)
    progress.step("sim")
    reports.extend(_layer_reports(build_dir, manifest["kernels"] if layers else [], tests, specs, jobs))
    if manifest.get("network", {}).get("case"):
        reports.append(network_report(build_dir, manifest["network"], tests, list(specs.values())))
    plugins.load("sim")
    for manifest_name, check in sorted(BUILD_CHECKS.items()):
        if (sim_dir / manifest_name).is_file():
            reports.extend(check(build_dir, tests))
    progress.finish()  # the caller prints the table next
    return reports


def _layer_reports(build_dir: Path, entries: Sequence[dict[str, Any]], tests: Sequence[str],
                   specs: dict[str, KernelSpec], jobs: int) -> list[LayerReport]:
    """``layer_report`` of every entry, in order; with ``jobs`` > 1 in that many worker processes (spawned:
    each layer's build and replay is its own make and simulator, and the parent holds no threads' state to
    fork). Why processes: the runner sets PATH and ``sys.path`` around each call, which threads would share."""
    if jobs <= 1 or len(entries) <= 1:
        reports = []
        for index, entry in enumerate(entries):
            progress.advance(index + 1, len(entries), "layer", "Verilator")
            reports.append(layer_report(build_dir, entry, tests, specs))
        return reports
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    found: dict[int, LayerReport] = {}
    workers = min(jobs, len(entries))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(layer_report, build_dir, entry, tuple(tests), specs): index
                   for index, entry in enumerate(entries)}
        for done, future in enumerate(as_completed(futures), start=1):
            progress.advance(done, len(entries), "layer", f"Verilator, {workers} at once")
            found[futures[future]] = future.result()
    return [found[index] for index in range(len(entries))]


def layer_report(build_dir: Path, entry: dict[str, Any], tests: Sequence[str], specs: dict[str, KernelSpec],
                 trace: str = "", waves: Path | None = None) -> LayerReport:
    """Build (Verilator, cached) and replay one kernel's case (``entry`` of ``sim/manifest.json``) and
    judge it; ``trace`` (a waveform format) replays a traced build (its own ``obj/<top>-trace``) and
    writes the waveform to ``waves``."""
    sim_dir = build_dir / "sim"
    case_path = sim_dir / entry["case"]
    case = read_case(case_path)
    obj = sim_dir / "obj" / (entry["top"] + ("-trace" if trace else ""))
    start = time.monotonic()
    build_design([build_dir / "rtl" / name for name in entry["verilog"]], entry["top"], obj, trace=trace)
    result = run_case(case_path, entry["top"], obj, tests=tests, waves=waves)
    rom = _rom_mismatch(build_dir / "rtl", entry)
    measured = result.measured_cycles()
    predicted = case["expected_cycles"] or []
    facts = case.get("facts", {})
    utilisation = None
    if facts.get("interval"):
        utilisation = facts["useful_macs"] / (facts["lanes"] * facts["macs_per_lane"] * facts["interval"])
    elif entry["name"] in specs:  # conv: one inference is a frame; the layer's interval per frame
        from hwprune.lower.fitting import layer_interval, pe_utilisation

        spec = specs[entry["name"]]
        utilisation = pe_utilisation([spec], layer_interval(spec))
    return LayerReport(
        name=entry["name"], vectors=int(case.get("vectors", 0)), beats=len(case["expected"]),
        bit_exact=_bit_exact(result, case["expected"]), cycle_exact=measured == predicted,
        measured_last_cycle=measured[-1] if measured else None,
        predicted_last_cycle=predicted[-1] if predicted else None, utilisation=utilisation, log=str(result.log),
        passed=result.passed and not rom, seconds=time.monotonic() - start,
        checks=tuple(result.outcomes().values()),
        mismatches={**rom, **_mismatches(case, result, tests, entry["name"], measured != predicted)},
    )


def _bit_exact(result: SimResult, expected: Sequence[int]) -> bool:
    """The timed trace's values are the expected ones and every other replay (backpressure) passed:
    so a layer that is only late or early reads bit-exact, with its cycles marked as mismatching."""
    others = [o.passed for o in result.outcomes().values() if o.name != "timed"]
    return result.tests > 0 and result.measured_values() == list(expected) and all(others)


def _rom_mismatch(rtl_dir: Path, entry: dict[str, Any]) -> dict[str, str]:
    """``{"rom": report}`` when a ROM image of the kernel is not the ROM its Verilog holds (and simulates)."""
    for verilog in entry["verilog"]:
        difference = rom_difference(rtl_dir, entry["top"], verilog)
        if difference is not None:
            return {"rom": f"first mismatch: {entry['name']} (ROM image): {difference}"}
    return {}


def _mismatches(case: dict[str, Any], result: SimResult, tests: Sequence[str], name: str,
                trace_differs: bool) -> dict[str, str]:
    """Per failed test (in ``tests``' order), its first-mismatch report, or why there is none to give;
    the timed test also counts as failed when ``trace_differs`` (the caller compared its trace)."""
    trace = json.loads(result.trace.read_text(encoding="utf-8")) if result.trace else {}
    outcomes = result.outcomes()
    found = {}
    for test in tests:
        outcome = outcomes.get(test)
        if outcome is not None and outcome.passed and not (test == "timed" and trace_differs):
            continue
        mismatch = mismatch_from_trace(case, trace, test, name)
        why = f": {outcome.message}" if outcome is not None and outcome.message else \
            "" if outcome is not None else " (no result: did the simulator start?)"
        found[test] = mismatch.text() if mismatch is not None else \
            f"{name} ({test}): failed with no value or cycle mismatch in the trace{why}; see {result.log}"
    return found


def kernel_specs(build_dir: Path) -> dict[str, KernelSpec]:
    """The build's fitted kernels by name (empty for a bundle written without ``kernels.json``)."""
    path = build_dir / "kernels.json"
    if not path.is_file():
        return {}
    specs = [KernelSpec.from_dict(k) for k in json.loads(path.read_text(encoding="utf-8"))["kernels"]]
    return {spec.name: spec for spec in specs}


def _measured_interval(cycles: Sequence[int], vectors: int, out_beats: int) -> float | None:
    """Steady-state cycles per inference: the distance between the last beats of the second half's
    inferences (back-to-back input, so the pipeline is full there)."""
    if vectors < 2 or len(cycles) != vectors * out_beats:
        return None
    last = [cycles[(v + 1) * out_beats - 1] for v in range(vectors)]
    half = vectors // 2
    return (last[-1] - last[half - 1]) / (vectors - half)


def network_report(build_dir: Path, entry: dict[str, Any], tests: Sequence[str],
                   specs: Sequence[KernelSpec] = (), trace: str = "", waves: Path | None = None) -> LayerReport:
    """Replay ``sim/network.case.json`` (or the case ``entry`` names) on the top; values and cycles
    compared from the timed trace; PE utilisation over every kernel of the network at the interval
    measured in that trace. ``trace``/``waves`` as for ``layer_report``."""
    from hwprune.sim.network import replay_network

    case_path = build_dir / "sim" / entry["case"]
    case = read_case(case_path)
    start = time.monotonic()
    result = replay_network(build_dir, case_path, tests, trace=trace, waves=waves)
    seconds = time.monotonic() - start
    traces = json.loads(result.trace.read_text(encoding="utf-8")) if result.trace else {}
    beats = traces.get("timed", {}).get("beats", [])
    measured = [int(c) for c, _ in beats]
    predicted = case["expected_cycles"] or []
    interval = _measured_interval(measured, int(case["vectors"]), int(case["out_beats"]))
    utilisation = None
    if specs and interval:
        from hwprune.lower.fitting import pe_utilisation

        utilisation = pe_utilisation(specs, interval)
    bit_exact = bool(beats) and [v for _, v in beats] == case["expected"]
    return LayerReport(
        name=entry["name"], vectors=int(case["vectors"]), beats=len(case["expected"]),
        bit_exact=bit_exact, cycle_exact=measured == predicted,
        measured_last_cycle=measured[-1] if measured else None, predicted_last_cycle=predicted[-1] if predicted else None,
        utilisation=utilisation, log=str(result.log), kind="network", passed=result.passed, seconds=seconds,
        checks=tuple(result.outcomes().values()),
        mismatches=_mismatches(case, result, tests, f"network {entry['name']}",
                               not (bit_exact and measured == predicted)),
        beats_file=str(result.trace) if result.trace else None,
    )


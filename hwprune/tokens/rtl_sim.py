"""Emit, build and simulate the hardware token selector (Verilator through cocotb's Python runner).

Why not ``hwprune.sim.rtl_runner.run_case``: it replays the kernel testbench (``hwprune_tb.stream_tb``);
the selector's testbench (``hwprune_tb.token_tb``) adds per-set checks, so this module runs that one,
with the same environment, lock and result parsing discipline (cocotb's ``test()`` does not raise on
a failing test: the results XML is read and returned).

``register()`` is the token feature's plug-in of stage ``sim`` (``hwprune.plugins``): ``hwprune sim`` replays
a build's ``sim/token_selectors.json`` through ``selector_reports`` (``hwprune.sim.bundle.BUILD_CHECKS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from hwprune.backends.rtl.emit import banner, to_verilog
from hwprune.sim.bundle import BUILD_CHECKS, LayerReport
from hwprune.sim.golden import read_case
from hwprune.sim.rtl_runner import SimResult, build_design, run_case
from hwprune.tokens.hardware import SelectorHardware
from hwprune.tokens.rtl_selector import TokenSelectorRtl

__all__ = ["TOKEN_TB_MODULE", "TOKEN_TESTS", "emit_selector_verilog", "build_selector", "run_token_case",
           "run_build_selectors", "selector_reports", "register"]

TOKEN_TB_MODULE = "hwprune_tb.token_tb"
TOKEN_TESTS = ("token_timed", "token_backpressure")


def emit_selector_verilog(hw: SelectorHardware, rtl_dir: Path, source: str = "") -> Path:
    """Write ``<ident>.v`` (top module ``<ident>``, engines and units as submodules)."""
    rtl_dir.mkdir(parents=True, exist_ok=True)
    header = banner(f"token selector {hw.ident!r} (dim {hw.dim}, {hw.heads} heads, up to {hw.max_tokens} tokens)",
                    source)
    path = rtl_dir / f"{hw.ident}.v"
    path.write_text(to_verilog(TokenSelectorRtl(hw), hw.ident, header), encoding="utf-8")
    return path


def build_selector(hw: SelectorHardware, root: Path) -> Path:
    """Emit into ``root/rtl`` and build with Verilator (-Wall, the shared waivers) into ``root/obj``."""
    source = emit_selector_verilog(hw, root / "rtl")
    build_design([source], hw.ident, root / "obj")
    return root / "obj"


def run_token_case(case: Path, top: str, build_dir: Path, tests: Sequence[str] = TOKEN_TESTS,
                   tag: str = "") -> SimResult:
    """Replay ``case`` on the design built in ``build_dir`` with the selector testbench."""
    return run_case(case, top, build_dir, tests, tag=tag, module=TOKEN_TB_MODULE)


def run_build_selectors(build_dir: Path, tests: Sequence[str] = TOKEN_TESTS) -> dict[str, SimResult]:
    """Rebuild and replay every selector of a compiled build (``sim/token_selectors.json``): Verilator in
    ``sim/obj/<top>``, the emitted case on the emitted Verilog; one result per selector top."""
    import json

    build_dir = Path(build_dir)
    manifest = build_dir / "sim" / "token_selectors.json"
    if not manifest.is_file():
        from hwprune.errors import BuildError

        raise BuildError("sim/token_selectors.json is missing: the build has no token selectors", file=build_dir)
    results = {}
    for entry in json.loads(manifest.read_text(encoding="utf-8"))["selectors"]:
        obj = build_dir / "sim" / "obj" / entry["top"]
        build_design([build_dir / "rtl" / name for name in entry["verilog"]], entry["top"], obj)
        results[entry["top"]] = run_token_case(build_dir / "sim" / entry["case"], entry["top"], obj, tests)
    return results


def selector_reports(build_dir: Path, tests: Sequence[str]) -> list[LayerReport]:
    """Replay every token selector of the build; its testbench checks values and cycles itself."""
    reports = []
    for top, result in run_build_selectors(build_dir, tuple(f"token_{test}" for test in tests)).items():
        case = read_case(build_dir / "sim" / result.case)
        predicted = case["expected_cycles"] or []
        measured = result.measured_cycles()
        reports.append(LayerReport(
            name=top, vectors=int(case.get("sets", 0)), beats=len(case["expected"]), bit_exact=result.passed,
            cycle_exact=result.passed and measured == predicted, measured_last_cycle=measured[-1] if measured else None,
            predicted_last_cycle=predicted[-1] if predicted else None, utilisation=None, log=str(result.log),
            kind="selector", passed=result.passed,
        ))
    return reports


def register() -> None:
    """Plug-in of stage ``sim``: replay the build's selectors in ``hwprune sim`` (idempotent)."""
    BUILD_CHECKS.setdefault("token_selectors.json", selector_reports)

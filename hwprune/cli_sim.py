"""``hwprune sim BUILD_DIR``: rerun a build's RTL verification (Verilator + cocotb) and print, per
layer, the vectors, whether the outputs are bit-exact, measured vs predicted cycles and PE
utilisation, then the same for the chained network top (``network`` line). Exit code 0 only if
every layer and the network are bit-exact and cycle-exact (and pass the backpressure replay).
``--no-layers`` replays the network top alone: for a large model (a zoo CNN's layers take seconds each
per frame), the top checks every layer in context, at a fraction of the time. When something fails,
the first failing case's first mismatch (vector, beat, expected/got value and cycle, input) follows
the table (``hwprune.sim.mismatch``); ``--junit-xml FILE`` writes the verdicts for a CI server
(``hwprune.sim.junit``). ``--trace [CASE]`` writes a waveform (``hwprune.sim.waves``): of the first failing
case after the replay, or of CASE alone. ``--vectors N``, ``--data FILE.npz`` and ``--quick`` replay other
inputs through the network top alone (``hwprune.sim.replay``); ``-j N`` replays N layers at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import typer

if TYPE_CHECKING:
    from hwprune.sim.bundle import LayerReport

DEFAULT_SEED = 1
"""``--seed``'s default (``hwprune.sim.replay.DEFAULT_SEED``; here so the CLI imports no simulator code to parse)."""

__all__ = ["register"]


def _run_hls(build_dir: Path, junit: Path | None) -> None:
    from hwprune.errors import HwpruneError
    from hwprune.sim.csim import run_csim

    if not (build_dir / "hls" / "hls.json").is_file():
        raise HwpruneError(f"{build_dir}: no hls/hls.json (was it built with `hwprune compile` for an FPGA board?)")
    result = run_csim(build_dir / "hls")
    typer.echo(result.summary())
    if junit is not None:
        from hwprune.sim.junit import JUnitCase, write_junit

        model = _model_name(build_dir)
        seconds = result.compile.seconds + result.run_seconds
        write_junit(junit, [JUnitCase(f"hwprune.{model}", "hls csim", seconds,
                                      None if result.passed else result.summary())], model)
    if not result.passed:
        raise typer.Exit(1)


def _model_name(build_dir: Path) -> str:
    """The model a build was compiled from (``report.json``'s source file, without its suffix), for
    the JUnit class names; the build directory's name when the report does not say."""
    import json

    try:
        source = json.loads((build_dir / "report.json").read_text(encoding="utf-8"))["source"]["file"]
    except (OSError, ValueError, KeyError, TypeError):
        return build_dir.resolve().name
    return Path(str(source)).stem or build_dir.resolve().name


def _check_junit_path(path: Path | None) -> None:
    """Refuse a report path that cannot be written before minutes of simulation, not after."""
    from hwprune.errors import HwpruneError

    if path is not None and (path.is_dir() or not path.parent.is_dir()):
        why = "is a directory" if path.is_dir() else f"its directory {path.parent} does not exist"
        raise HwpruneError(f"--junit-xml {path}: {why}")


def register(app: typer.Typer) -> None:
    @app.command("sim")
    def sim_command(
        build_dir: Path = typer.Argument(..., help="A build directory written by `hwprune compile` (has rtl/ and sim/)."),
        no_backpressure: bool = typer.Option(False, "--no-backpressure", help="Skip the random-ready replay."),
        hls: bool = typer.Option(False, "--hls", help="Run the HLS C-simulation (g++) of BUILD_DIR/hls instead."),
        no_layers: bool = typer.Option(
            False, "--no-layers", help="Replay only the network top (and token selectors), not each layer's case."
        ),
        junit_xml: Optional[Path] = typer.Option(
            None, "--junit-xml", metavar="FILE",
            help="Also write a JUnit XML report: one test case per layer and per network check.",
        ),
        trace: Optional[str] = typer.Option(
            None, "--trace", metavar="[CASE]",
            help="Write a waveform (BUILD_DIR/sim/waves/CASE.fst, or .vcd) with Verilator's tracing: alone, of the "
                 "first failing case after the replay; with CASE (a layer name, e.g. /fc0/Gemm or fc0_Gemm, or "
                 "'network'), of that case only. Give it after BUILD_DIR.",
        ),
        vectors: Optional[int] = typer.Option(
            None, "--vectors", metavar="N", min=1,
            help="Replay N seeded random input vectors through the network top instead, expected outputs from "
                 "the integer reference now.",
        ),
        data: Optional[Path] = typer.Option(
            None, "--data", metavar="FILE.npz",
            help="Replay your own inputs through the network top instead: an .npz with 'x' (model inputs, as "
                 "--eval-data) and optional labels 'y' (prints the RTL's top-1 accuracy).",
        ),
        seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of --vectors' inputs and of the backpressure."),
        quick: bool = typer.Option(
            False, "--quick",
            help="For pull-request CI: the network top only, on the first 8 vectors of its case, no backpressure.",
        ),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, metavar="N", help="Replay N layers at once (processes)."),
    ) -> None:
        """Replay the golden vectors of BUILD_DIR/sim on the Verilator-built RTL (or, with --hls, the
        golden vectors of BUILD_DIR/hls through the g++ C-simulation)."""
        from hwprune.errors import HwpruneError
        from hwprune.sim.bundle import run_sim
        from hwprune.sim.waves import FAILING

        _check_junit_path(junit_xml)
        fresh = [vectors is not None, data is not None, quick]
        if any(fresh) and (hls or trace is not None or fresh.count(True) > 1):
            raise HwpruneError("--vectors, --data and --quick replay the network top: give one of them, "
                               "without --hls or --trace")
        if hls:
            _run_hls(build_dir, junit_xml)
            return

        if not (build_dir / "sim" / "manifest.json").is_file():
            raise HwpruneError(f"{build_dir}: no sim/manifest.json (was it built with `hwprune compile`?)")
        tests = ("timed",) if no_backpressure else ("timed", "backpressure")
        if no_layers and not _has_network_case(build_dir) and not _has_plugin_cases(build_dir):
            raise HwpruneError(f"{build_dir}: --no-layers leaves nothing to replay (network: "
                               f"{_network_skipped(build_dir)})")
        if any(fresh):
            _replay(build_dir, vectors, data, seed, ("timed",) if quick else tests, junit_xml)
            return
        if trace not in (None, FAILING):
            _traced_only(build_dir, trace, tests, junit_xml)
            return
        reports = run_sim(build_dir, tests, layers=not no_layers, jobs=jobs)
        _print_table(reports)
        layers = [r for r in reports if r.kind == "layer"]
        network = [r for r in reports if r.kind == "network"]
        ok = all(r.ok for r in reports)
        selectors = [r for r in reports if r.kind == "selector"]
        what = ("the network" if network else "") if no_layers else \
            f"all {len(layers)} layers" + (" and the network" if network else "")
        what += (" and " if what else "") + f"{len(selectors)} token selector(s)" if selectors else ""
        typer.echo(f"{what}: {'bit-exact and cycle-exact' if ok else 'FAILED'}")
        if not network:
            skipped = _network_skipped(build_dir)
            if skipped:
                typer.echo(f"network: not simulated ({skipped})")
        first = next((r.mismatch for r in reports if not r.ok and r.mismatch), None)
        if first is not None:
            typer.echo(first)
        _write_junit(build_dir, junit_xml, reports)
        if trace is not None:
            _trace_first_failure(build_dir, reports, tests)
        if not ok:
            raise typer.Exit(1)


def _print_table(reports: Sequence[LayerReport]) -> None:
    typer.echo(f"{'layer':<24} {'vectors':>7} {'bit-exact':>9} {'cycles (RTL/model)':>20} {'PE util.':>8}")
    for r in reports:
        cycles = f"{r.measured_last_cycle}/{r.predicted_last_cycle}" + ("" if r.cycle_exact else " MISMATCH")
        util = f"{r.utilisation:.3f}" if r.utilisation is not None else "-"
        label, note = {"network": ("network", f"  top {r.name}"),
                       "selector": ("token selector", f"  top {r.name}")}.get(r.kind, (r.name[:24], ""))
        why = "its ROM image differs from the Verilog" if "rom" in r.mismatches else f"see {r.log}"
        note += "" if r.passed else f"  FAILED ({why})"
        typer.echo(f"{label:<24} {r.vectors:>7} {'yes' if r.bit_exact else 'NO':>9} {cycles:>20} {util:>8}{note}")


def _write_junit(build_dir: Path, junit_xml: Path | None, reports: Sequence[LayerReport]) -> None:
    if junit_xml is not None:
        from hwprune.sim.junit import cases_of, write_junit

        model = _model_name(build_dir)
        write_junit(junit_xml, cases_of(reports, f"hwprune.{model}"), model)


def _traced_only(build_dir: Path, name: str, tests: Sequence[str], junit_xml: Path | None) -> None:
    """``--trace CASE``: replay that case alone on a traced build, print its verdict and the waveform."""
    from hwprune.sim.waves import find_case, how_to_open, trace_case

    find_case(build_dir, name)  # an unknown name fails before any build
    traced = trace_case(build_dir, name, tests)
    _print_table([traced.report])
    if traced.report.mismatch:
        typer.echo(traced.report.mismatch)
    typer.echo(how_to_open(traced.waves))
    _write_junit(build_dir, junit_xml, [traced.report])
    if not traced.report.ok:
        raise typer.Exit(1)


def _replay(build_dir: Path, vectors: int | None, data: Path | None, seed: int, tests: Sequence[str],
            junit_xml: Path | None) -> None:
    """``--vectors N`` / ``--data FILE`` / ``--quick`` (neither given): inputs through the network top
    alone (``hwprune.sim.replay``)."""
    from hwprune.errors import HwpruneError
    from hwprune.sim.replay import data_inputs, quick_inputs, random_inputs, replay_inputs

    if not _has_network_case(build_dir):
        raise HwpruneError(f"{build_dir}: --vectors, --data and --quick replay the network top, and it has none "
                           f"({_network_skipped(build_dir)})")
    if data is not None:
        inputs, labels = data_inputs(build_dir, data)
        name, what = f"data-{data.stem}", str(data)
    elif vectors is None:
        inputs, labels = quick_inputs(build_dir), None
        name, what = "quick", "quick, from sim/network.case.json"
    else:
        assert vectors is not None
        inputs, labels = random_inputs(build_dir, vectors, seed), None
        name, what = f"random-{vectors}-seed{seed}", f"random, seed {seed}"
    replay = replay_inputs(build_dir, inputs, tests, name, labels, seed)
    report = replay.report
    _print_table([report])
    typer.echo(f"network: {report.vectors} vectors ({what}): "
               f"{'bit-exact and cycle-exact' if report.ok else 'FAILED'}")
    if report.mismatch:
        typer.echo(report.mismatch)
    if replay.labels:
        rtl = "not measured (the top did not deliver every beat)" if replay.rtl_top1 is None else \
            f"{replay.rtl_top1:.2f}%"
        typer.echo(f"RTL top-1 accuracy: {rtl} on {replay.labels} labelled vectors "
                   f"(integer reference: {replay.reference_top1:.2f}%)")
    _write_junit(build_dir, junit_xml, [report])
    if not report.ok:
        raise typer.Exit(1)


def _trace_first_failure(build_dir: Path, reports: Sequence[LayerReport], tests: Sequence[str]) -> None:
    """``--trace`` alone: rerun the first failing layer or network case traced, with the tests it failed."""
    from hwprune.sim.waves import how_to_open, trace_case

    failed = next((r for r in reports if not r.ok and r.kind in ("layer", "network")), None)
    if failed is None:
        why = "every case passed" if all(r.ok for r in reports) else "only a token selector failed"
        typer.echo(f"--trace: {why}; no waveform written (name a case to trace it: --trace CASE)")
        return
    again = [t for t in tests if t in failed.mismatches] or list(tests)
    traced = trace_case(build_dir, "network" if failed.kind == "network" else failed.name, again)
    typer.echo(how_to_open(traced.waves))


def fill_optional_values(argv: list[str]) -> list[str]:
    """``hwprune sim BUILD --trace`` with no case: typer has no options with an optional value, so a
    ``--trace`` that ends the line or is followed by another option becomes ``--trace failing``."""
    if not argv or argv[0] != "sim" or "--trace" not in argv:
        return argv
    from hwprune.sim.waves import FAILING

    out = list(argv)
    for index, arg in enumerate(argv):
        if arg == "--trace" and (index + 1 == len(argv) or argv[index + 1].startswith("-")):
            out[index] = f"--trace={FAILING}"
    return out


def _network_skipped(build_dir: Path) -> str:
    """Why the bundle has no network case (empty when it has one)."""
    import json

    manifest = json.loads((build_dir / "sim" / "manifest.json").read_text(encoding="utf-8"))
    return str(manifest.get("network", {}).get("skipped", "no network case in sim/manifest.json"))


def _has_network_case(build_dir: Path) -> bool:
    import json

    manifest = json.loads((build_dir / "sim" / "manifest.json").read_text(encoding="utf-8"))
    return bool(manifest.get("network", {}).get("case"))


def _has_plugin_cases(build_dir: Path) -> bool:
    """Whether ``sim/`` holds a manifest a plug-in replays (token selectors'), beside the layers'."""
    from hwprune import plugins
    from hwprune.sim.bundle import BUILD_CHECKS

    plugins.load("sim")
    return any((build_dir / "sim" / name).is_file() for name in BUILD_CHECKS)

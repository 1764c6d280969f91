"""Compile time per step, with the Yosys estimate cold and warm, against hls4ml's convert + compile.

Run: ``.venv/bin/python bench/compile_speed.py [--models a,b] [--no-sim] [--no-hls4ml]`` (part of
``make bench``). Models: the bundled examples and the public architectures of ``bench/_models.py`` (the
hls4ml jet-tagging MLP and the MLPerf Tiny FC autoencoder, seeded random weights). For each model, in
one process, one after the other:

- a **cold** compile for the ZCU102 (an empty Yosys cache; the compiled Yosys WebAssembly itself is an
  install-time cache and stays warm), every step timed (``hwprune.flow.STEPS``, wrapped here only);
- a **warm** compile into the same cache (every kernel's figure is reused);
- ``hwprune sim`` of the build (RTL: every layer and the network top in Verilator; Verilator builds
  cached like a user's second run is not: a fresh cache each model);
- hls4ml 1.3 on the same ONNX file: qonnx clean-up + ``convert_from_onnx_model`` (Vitis, io_parallel,
  default precision) + ``write``, then ``compile()`` (g++ of its C-sim library).

The ratio is (the cold compile) / (the same compile without its estimate step), measured in one run:
the cost of estimates on a user's first compile.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _doc import publish  # noqa: E402
from _models import MODELS, write_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {name: ROOT / "examples" / f"{name}.onnx"
            for name in ("mlp_digits", "cnn_digits", "mlp_digits_qonnx", "mlp_digits_pruned_qonnx")}
SIM_SKIPPED = {"fc_autoencoder": "its 640-lane output layer takes Verilator longer than this benchmark's budget"}


def timed_compile(model: Path, out: Path, cache: Path, calibration: str | None) -> dict[str, float]:
    """Seconds per step of one ``compile_model`` (the steps wrapped with a clock, nothing else changed)."""
    from hwprune import flow
    from hwprune.config import CompileConfig

    times: dict[str, float] = {}
    original = list(flow.STEPS)

    def clocked(step: flow.Step) -> flow.Step:
        def run(ctx: flow.BuildContext) -> None:
            start = time.perf_counter()
            step.run(ctx)
            times[step.name] = time.perf_counter() - start
        return replace(step, run=run)

    flow.STEPS[:] = [clocked(step) for step in original]
    try:
        start = time.perf_counter()
        flow.compile_model(model, out, CompileConfig(board="zcu102", cache_dir=str(cache), calibration=calibration))
        times["total"] = time.perf_counter() - start
    finally:
        flow.STEPS[:] = original
    return times


def timed_sim(build: Path) -> tuple[float, bool]:
    from hwprune.sim.bundle import run_sim

    start = time.perf_counter()
    reports = run_sim(build)
    return time.perf_counter() - start, all(r.passed for r in reports)


def timed_hls4ml(model: Path, work: Path) -> dict[str, Any]:
    import hls4ml
    from vs_hls4ml import _hls4ml_onnx

    try:
        start = time.perf_counter()
        onnx_model = _hls4ml_onnx(model)
        config = hls4ml.utils.config_from_onnx_model(onnx_model, granularity="model", backend="Vitis")
        hls_model = hls4ml.converters.convert_from_onnx_model(
            onnx_model, output_dir=str(work / "hls4ml_prj"), backend="Vitis", io_type="io_parallel",
            hls_config=config)
        hls_model.write()
        convert = time.perf_counter() - start
        start = time.perf_counter()
        hls_model.compile()
        return {"convert": convert, "compile": time.perf_counter() - start}
    except Exception as exc:  # record what hls4ml said
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}


def measure(name: str, model: Path, work: Path, sim: bool, hls4ml: bool) -> dict[str, Any]:
    calibration = str(model.parent / "calibration.npz")
    cache = work / "cache"
    row: dict[str, Any] = {"model": name}
    row["cold"] = timed_compile(model, work / "build", cache, calibration)
    row["warm"] = timed_compile(model, work / "build", cache, calibration)
    if sim and name not in SIM_SKIPPED:
        os.environ["HWPRUNE_CACHE_DIR"] = str(work / "sim-cache")
        row["sim"], row["sim_passed"] = timed_sim(work / "build")
    if hls4ml:
        row["hls4ml"] = timed_hls4ml(model, work)
    print(name, row, flush=True)
    return row


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| model | import | quantize | lower | emit | estimate cold | estimate warm | report + bring-up | "
             "total cold | without estimate | ratio | total warm | sim (RTL) | hls4ml convert | hls4ml compile |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cold, warm = r["cold"], r["warm"]
        without = cold["total"] - cold.get("estimate", 0.0)
        theirs = r.get("hls4ml", {})
        sim = r.get("sim")
        sim_text = (f"{sim:.1f}" + ("" if r.get("sim_passed") else " (FAILED)")) if sim is not None else "not run"
        lines.append(
            f"| `{r['model']}` | {_fmt(cold.get('import'))} | {_fmt(cold.get('quantize'))} | {_fmt(cold.get('lower'))} | "
            f"{_fmt(cold.get('emit'))} | {_fmt(cold.get('estimate'))} | {_fmt(warm.get('estimate'))} | "
            f"{_fmt(cold.get('report', 0) + cold.get('bringup', 0))} | {_fmt(cold['total'])} | {_fmt(without)} | "
            f"{cold['total'] / without:.2f} | {_fmt(warm['total'])} | {sim_text} | "
            f"{_fmt(theirs.get('convert')) if 'error' not in theirs else theirs['error']} | "
            f"{_fmt(theirs.get('compile'))} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join([*EXAMPLES, *MODELS]))
    parser.add_argument("--no-sim", action="store_true")
    parser.add_argument("--no-hls4ml", action="store_true")
    args = parser.parse_args(argv)
    import hls4ml  # noqa: F401  (import cost outside the clocks)
    import hwprune.flow  # noqa: F401
    import hwprune.sim.bundle  # noqa: F401

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            work = Path(tmp) / name
            model = EXAMPLES[name] if name in EXAMPLES else write_model(name, work / "model")
            rows.append(measure(name, model, work, not args.no_sim, not args.no_hls4ml))
    lines = [
        "## Compile speed: steps, estimates cold and warm, vs hls4ml",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/compile_speed.py` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, seconds of wall time, ZCU102, default options (Yosys jobs: one per CPU; kernels "
        "of 16+ lanes composed from 4- and 8-lane cuts). *ratio* = cold compile / the same compile without its "
        "estimate step. sim = `hwprune sim` (Verilator builds included).",
        "",
        *table(rows),
    ]
    skipped = [f"`{m}`: {why}" for m, why in SIM_SKIPPED.items() if m in args.models.split(",")]
    if skipped:
        lines += ["", "sim not run for " + "; ".join(skipped) + "."]
    publish("compile_speed", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The model zoo on two boards: MACs, kept MACs dense and at 75% balanced sparsity, interval, latency and
resources, beside the published hls4ml/FINN figures for the same architectures.

Run: ``.venv/bin/python bench/zoo.py [--models a,b] [--boards zcu102,pynq-z2] [--yosys]`` (not part of
``make bench`` by default: minutes per convolutional model). Models: ``examples/zoo/build_zoo.py``
(public architectures, seeded random weights). For each model and board: ``hwprune compile
--no-estimate --vectors 0 --stop-after report`` of the dense model (no random golden vectors and no
bring-up files: nothing here reads them, and a conv layer's 200 golden frames were most of a compile),
``hwprune prune --pattern balanced_stochastic --sparsity 0.75`` and the same compile of the pruned one. MACs are counted on the torch model (every Conv/Linear, dense);
kept MACs come from each build's ``report.json`` (``totals.nonzero_macs``); interval and latency from
the network top's cycle model (``rtl/network.json``, what ``hwprune sim`` checks the RTL against);
DSP/LUT/BRAM18 from the analytic model (kernels + the top's glue, what the fitter budgets with), or
Yosys's estimate (``estimate.json``, ``design``) with ``--yosys``. A model that does not compile gets
the first error line; every model's MACs are listed even when it is not compiled in this run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "examples" / "zoo"))

from _doc import publish  # noqa: E402
from build_zoo import ZOO, write_zoo_model  # noqa: E402

HWPRUNE = str(Path(sys.executable).with_name("hwprune"))
BOARDS = ("zcu102", "pynq-z2")
RESULTS_V07 = "MLPerf Tiny v0.7 open division, hls4ml-finn, `mlcommons/tiny_results_v0.7`"
"""Where the published figures come from: each submission's ``results/<board>/<task>/<model>/performance/
results.txt`` (median throughput over five windows, on the board, 100 MHz fabric clock)."""

PUBLISHED: dict[str, str] = {
    # Only figures read from the submissions' own result files are quoted; the architectures differ from
    # the reference networks here, so each entry says how. Everything else says "not found".
    "jet_mlp": "hls4ml: the reference model of Duarte et al. (JINST 13 P07027, 2018); per-configuration "
               "latency/DSP tables there, not quoted here (not verified offline)",
    "fc_autoencoder": f"hls4ml AD08, a reduced variant (64-72-72-8-72-72-64, 12-bit weights, BatchNorm folded): "
                      f"53,365 inf/s on the Pynq-Z2 ({RESULTS_V07}, pynq-z2/ad/AD08)",
    "ds_cnn": "not found (the v0.7 FPGA keyword-spotting submission, FINN KWS-W3A3, is an MLP: 57,268 inf/s on "
              f"the Pynq-Z2, {RESULTS_V07}, pynq-z2/kws/KWS-W3A3)",
    "mobilenet_v1_025": "not found (no hls4ml/FINN visual-wake-words submission known)",
    "resnet8": f"hls4ml RN07, a reduced ResNet-8 without skip connections (filters 32/4/32/32, 8-bit): 36.6 inf/s "
               f"on the Pynq-Z2 ({RESULTS_V07}, pynq-z2/ic/RN07)",
    "mobilenet_v2": "not found",
    "resnet18": "not found",
}


def count_macs(name: str) -> int:
    """Dense MACs of one inference: every Conv2d (outputs × C/g·kh·kw) and Linear (in × out)."""
    entry = ZOO[name]
    model = entry.build().eval()
    total = 0

    def hook(module: nn.Module, _: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += out.numel() * module.weight[0].numel()
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *entry.shape))
    for handle in handles:
        handle.remove()
    return total


def _first_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("hwprune: error:")]
    return (lines[0] if lines else (stderr.strip().splitlines() or ["(no message)"])[-1])[len("hwprune: error: "):]


def measure_build(build: Path, yosys: bool) -> dict[str, Any]:
    """Kept MACs, interval, latency (cycle model) and resources of one finished build."""
    from hwprune.lower.fitting import DEFAULT_MAX_UTIL
    from hwprune.lower.kernel_spec import KernelSpec
    from hwprune.lower.network_cycles import network_schedule
    from hwprune.lower.network_resources import glue_resources
    from hwprune.lower.network_types import axis_width
    from hwprune.lower.stream_widths import port_width
    from hwprune.lower.resource_model import design_resources
    from hwprune.sim.network import load_network

    report = json.loads((build / "report.json").read_text())
    row: dict[str, Any] = {"kept": report["totals"]["nonzero_macs"], "clock": report["board"]["pl_clock_mhz"]}
    plan, timing, _ = load_network(build)
    schedule = network_schedule(plan, timing, [[0] * plan.in_beats])
    row.update(interval=timing.interval, latency=schedule.outputs[0][-1] + 1)
    dsp_budget = DEFAULT_MAX_UTIL * report["board"]["dsp"]
    row["limit"] = math.ceil(row["kept"] / dsp_budget) if dsp_budget else None  # one kept MAC per DSP per cycle
    widest = lambda t: port_width(report["board"]["dma_width_bits"], axis_width(t.bits))  # noqa: E731
    row["stream_limit"] = max(math.ceil(plan.in_values / widest(plan.in_type)),
                              math.ceil(plan.out_values / widest(plan.out_type)))  # the AXI ports at their widest
    if yosys:
        design = json.loads((build / "estimate.json").read_text())["yosys"]
        design = design.get("design", design["total"])
        row.update(dsp=design["dsp"], lut=design["lut"] + design["lutram"], bram18=design["bram18"] + 2 * design["bram36"])
    else:
        kernels = [KernelSpec.from_dict(k) for k in json.loads((build / "kernels.json").read_text())["kernels"]]
        family = report["board"]["yosys_family"]
        usage = (design_resources(kernels, family) + glue_resources(plan, timing.interval, timing.fifo_depths,
                                                                    family)).usage()
        row.update(dsp=usage["dsp"], lut=usage["lut"], bram18=usage["bram18"])
    return row


def compile_one(model: Path, calibration: Path, board: str, build: Path, yosys: bool) -> dict[str, Any]:
    """``hwprune compile`` in a child process (the CLI's own error line); the measured row or the error."""
    command = [HWPRUNE, "compile", str(model), "--board", board, "-o", str(build), "--calibration", str(calibration),
               "--vectors", "0", "--stop-after", "report"]
    start = time.perf_counter()
    done = subprocess.run(command + ([] if yosys else ["--no-estimate"]), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": _first_error(done.stderr), "rc": done.returncode, "seconds": seconds}
    return {**measure_build(build, yosys), "seconds": seconds}


def measure(name: str, boards: list[str], work: Path, yosys: bool) -> list[dict[str, Any]]:
    model = write_zoo_model(name, work)
    calibration = model.parent / "calibration.npz"
    rows = []
    pruned = model.with_name(f"{name}_pruned.onnx")
    for board in boards:
        row: dict[str, Any] = {"model": name, "board": board, "dense": compile_one(model, calibration, board,
                                                                                   work / f"{name}-{board}", yosys)}
        if "error" not in row["dense"]:
            if not pruned.exists():
                subprocess.run([HWPRUNE, "prune", str(model), "-o", str(pruned), "--pattern", "balanced_stochastic",
                                "--sparsity", "0.75", "--seed", "0"], check=True, capture_output=True)
            row["pruned"] = compile_one(pruned, calibration, board, work / f"{name}-{board}-pruned", yosys)
        print(name, board, row, flush=True)
        rows.append(row)
    return rows


def _cell(result: dict[str, Any] | None, key: str, scale: float = 1.0) -> str:
    if result is None or key not in result:
        return "–"
    return f"{result[key] / scale:.2f}" if scale != 1.0 else str(result[key])


def _limit(row: dict[str, Any] | None) -> str:
    """The DSP-bound and stream-bound limits and the interval's ratio to the larger."""
    if row is None or not row.get("limit"):
        return "–"
    bound = max(row["limit"], row["stream_limit"])
    return f"{row['limit']} / {row['stream_limit']} ({row['interval'] / bound:.1f}x)"


def _rate(row: dict[str, Any]) -> float:
    """Inferences per second at the board clock: one every ``interval`` cycles (clock in MHz)."""
    return row["clock"] * 1e6 / row["interval"]


def table(macs: dict[str, int], rows: list[dict[str, Any]], yosys: bool) -> list[str]:
    source = "Yosys" if yosys else "analytic"
    lines = [f"| model | board | MACs | kept MACs dense | kept MACs 75% | interval dense / 75% (cycles) | "
             "limits DSP / stream, dense; 75% (ratio) | "
             f"latency dense / 75% (µs) | inf/s dense / 75% | DSP dense / 75% ({source}) | LUT dense / 75% | "
             "BRAM18 dense / 75% | compile dense / 75% (s) | hls4ml / FINN (published) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    done = {r["model"] for r in rows}
    for r in rows:
        d, p = r["dense"], r.get("pruned")
        if "error" in d:
            lines.append(f"| `{r['model']}` | {r['board']} | {macs[r['model']]} | does not compile (exit {d['rc']}): "
                         f"{d['error'][:160]} | | | | | | | | | {d['seconds']:.0f} | {PUBLISHED[r['model']]} |")
            continue
        if p is not None and "error" in p:
            p = {"kept": f"pruned build failed: {p['error'][:120]}", "seconds": p["seconds"]}
        pair = lambda k, s=1.0: f"{_cell(d, k, s)} / {_cell(p, k, s)}"  # noqa: E731
        lat = f"{d['latency'] / d['clock']:.2f} / " + (f"{p['latency'] / p['clock']:.2f}" if p and "latency" in p else "–")
        rate = f"{_rate(d):,.0f} / " + (f"{_rate(p):,.0f}" if p and "interval" in p else "–")
        lines.append(f"| `{r['model']}` | {r['board']} | {macs[r['model']]} | {d['kept']} | {_cell(p, 'kept')} | "
                     f"{pair('interval')} | {_limit(d)}; {_limit(p)} | {lat} | {rate} | {pair('dsp')} | {pair('lut')} | {pair('bram18')} | "
                     f"{d['seconds']:.0f} / " + (f"{p['seconds']:.0f}" if p else "–") + f" | {PUBLISHED[r['model']]} |")
    for name in macs:
        if name not in done:
            lines.append(f"| `{name}` | – | {macs[name]} | not compiled in this run (today's result per board: "
                         f"`tests/sim/test_zoo.py`, `CASES`) | | | | | | | | | | {PUBLISHED[name]} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO))
    parser.add_argument("--boards", default=",".join(BOARDS))
    parser.add_argument("--yosys", action="store_true", help="compile with the Yosys estimate and report its figures")
    args = parser.parse_args(argv)
    names, boards = args.models.split(","), args.boards.split(",")
    macs = {name: count_macs(name) for name in ZOO}
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows += measure(name, boards, Path(tmp), args.yosys)
    minutes = (time.perf_counter() - start) / 60
    lines = [
        "## Model zoo: public architectures on the ZCU102 and the PYNQ-Z2",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/zoo.py` ({minutes:.1f} min, {platform.machine()}, "
        f"{os.cpu_count()} CPUs) on the models of `examples/zoo/` (seeded random weights, int8 PTQ on their 64-sample "
        "calibration sets), default fit (the fastest design within 80% of the board). *kept MACs* = non-zero MACs "
        "per inference (dense: the random weights that quantize to 0 drop out too; 75%: `hwprune prune --pattern "
        "balanced_stochastic --sparsity 0.75`). *interval* = cycles between inferences and *latency* = cycles from "
        "the first input beat to the last output beat of one inference, both from the network top's cycle model "
        "(which `hwprune sim` checks the RTL against cycle for cycle), latency in µs at the board's PL clock. "
        "*limits*: DSP-bound = ceil(kept MACs / (0.8 × the board's DSPs)), one kept MAC per DSP per cycle; "
        "stream-bound = the input or output values per inference over the most values an AXI port beat of the "
        "board's DMA width carries (16 int8 on 128 bits, 8 on 64; the ports are that wide only where a dense "
        "layer sits behind them, inner conv frames carry one element per beat); in brackets the interval's ratio "
        "to the larger (issue 18's target: within 1.25x). "
        f"Resources: {'Yosys estimates (`estimate.json`, design = kernels + network glue)' if args.yosys else 'the analytic model (kernels + the network top glue; `--yosys` for Yosys figures)'}. "
        "MACs: every Conv and Linear of the torch model, dense. *compile* = wall seconds of `hwprune compile "
        f"{'' if args.yosys else '--no-estimate '}--vectors 0 --stop-after report` (no random golden vectors, "
        "no bring-up files).",
        "",
        *table(macs, rows, args.yosys),
        "",
        "Published FPGA figures: the MLPerf Tiny v0.7 hls4ml and FINN submissions (Borras et al., \"Open-source "
        "FPGA-ML codesign for the MLPerf Tiny Benchmark\", arXiv:2206.11791) ran on the Pynq-Z2 and Arty A7-100T and "
        "report latencies as low as 20 µs and 30 µJ per inference across their tasks. The throughputs quoted in the "
        "last column are the median of each submission's own performance log (`results/pynq-z2/<task>/<model>/"
        "performance/results.txt` in `mlcommons/tiny_results_v0.7`, 100 MHz); their models are their own reduced, "
        "quantized variants (named in each cell), so they stand beside these rows, not against them. *inf/s* here "
        "= board clock / interval (one inference every interval cycles, streaming).",
    ]
    publish("zoo", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

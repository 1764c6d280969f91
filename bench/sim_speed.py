"""Simulation regression speed: 1,000 vectors through the whole network top of each bundled example and of
zoo models, the Verilator build and the replay timed apart.

Run: ``.venv/bin/python bench/sim_speed.py [--models a,b] [--vectors N]`` (part of ``make bench``). For each
model: ``hwprune compile --board zcu102 --no-estimate --vectors 0`` (the fastest fit), then ``hwprune sim
BUILD --vectors N`` twice, both in a child process with an empty cache directory of its own
(``HWPRUNE_CACHE_DIR``) for the first: *cold* = building the Verilated model (the runtime objects too) and
replaying; *warm* = the same command again, the model now a copy from the design cache, i.e. the replay alone
(the two cocotb tests on the N vectors: ``timed`` and the random-ready ``backpressure``). *build* = cold −
warm. Issue 21's target: the digits CNN at most 60 s cold on two cores. The Verilated models are compiled
at hwprune's default ``-Os``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "examples" / "zoo"))

from _doc import publish  # noqa: E402

HWPRUNE = str(Path(sys.executable).with_name("hwprune"))
BUNDLED = ("mlp_digits", "cnn_digits", "mlp_digits_qonnx", "mlp_digits_pruned_qonnx")
ZOO_MODELS = ("jet_mlp", "ds_cnn", "resnet8")
"""The zoo models timed by default: an MLP, a depthwise and a residual CNN (MobileNets and the FC
autoencoder's 640-value output take minutes a vector set here; ``--models`` adds them)."""
TARGET_SECONDS = 60.0


def _source(name: str, work: Path) -> tuple[Path, Path | None]:
    """The model's ONNX file and its calibration set (None: the compile's default)."""
    if name in BUNDLED:
        calibration = ROOT / "examples" / "calibration.npz" if "qonnx" in name else None
        return ROOT / "examples" / f"{name}.onnx", calibration
    from build_zoo import write_zoo_model

    onnx = write_zoo_model(name, work / "zoo")
    return onnx, onnx.parent / "calibration.npz"


def _run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, done


def _first_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return next((line for line in lines if "error" in line.lower()), lines[-1] if lines else f"exit {done.returncode}")


def measure(name: str, vectors: int, work: Path) -> dict[str, Any]:
    onnx, calibration = _source(name, work)
    build = work / f"{name}-build"
    command = [HWPRUNE, "compile", str(onnx), "--board", "zcu102", "--no-estimate", "--vectors", "0", "-o", str(build)]
    seconds, done = _run(command + (["--calibration", str(calibration)] if calibration else []))
    if done.returncode != 0:
        return {"model": name, "error": _first_error(done)}
    env = {**os.environ, "HWPRUNE_CACHE_DIR": str(work / f"{name}-cache")}
    env.pop("HWPRUNE_VERILATOR_OPT", None)
    sim = [HWPRUNE, "sim", str(build), "--vectors", str(vectors)]
    cold, first = _run(sim, env)
    if first.returncode != 0:
        return {"model": name, "compile": seconds, "error": _first_error(first)}
    warm, second = _run(sim, env)
    if second.returncode != 0:
        return {"model": name, "compile": seconds, "error": _first_error(second)}
    network = next((line.split() for line in first.stdout.splitlines() if line.startswith("network ")), None)
    cycles = network[3].split("/")[0] if network else "?"
    return {"model": name, "compile": seconds, "cold": cold, "warm": warm, "cycles": cycles}


def table(rows: list[dict[str, Any]], vectors: int) -> list[str]:
    lines = [f"| model | compile | sim cold (build + replay) | build | replay ({vectors} vectors, 2 tests) | "
             "last output cycle (timed) |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| `{row['model']}` | {row.get('compile', 0):.1f} | {row['error']} | | | |")
            continue
        lines.append(f"| `{row['model']}` | {row['compile']:.1f} | {row['cold']:.1f} | {row['cold'] - row['warm']:.1f} "
                     f"| {row['warm']:.1f} | {row['cycles']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(BUNDLED + ZOO_MODELS))
    parser.add_argument("--vectors", type=int, default=1000)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hwprune-sim-speed-") as tmp:
        rows = [measure(name, args.vectors, Path(tmp)) for name in args.models.split(",")]
    minutes = (time.perf_counter() - start) / 60
    cnn = next((r for r in rows if r["model"] == "cnn_digits" and "cold" in r), None)
    verdict = (f"The digits CNN: {cnn['cold']:.1f} s cold, build included (target: at most {TARGET_SECONDS:.0f} s): "
               f"{'met' if cnn['cold'] <= TARGET_SECONDS else 'not met'}." if cnn else "")
    lines = [
        "## Simulation regression: 1,000 vectors through the network top",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/sim_speed.py` ({minutes:.1f} min, {platform.machine()}, "
        f"{os.cpu_count()} CPUs), seconds of wall time, ZCU102 (the fastest fit). *compile* = `hwprune compile "
        f"--no-estimate --vectors 0`; *sim cold* = `hwprune sim BUILD --vectors {args.vectors}` with an empty cache "
        "(Verilator builds the model and its runtime, then the replay); *replay* = the same command again (the "
        "model copied from the design cache): the `timed` and the random-ready `backpressure` cocotb tests, bit- "
        "and cycle-exact against the integer reference and the cycle model; *build* = cold − replay. Models "
        "compiled at Verilator's `-Os`.",
        "",
        *table(rows, args.vectors),
        "",
        verdict,
    ]
    publish("sim_speed", lines)
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

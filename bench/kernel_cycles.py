"""Cycles and PE utilisation of the sparse dot-product engine, measured in Verilator.

One run, one array (the same lanes L and MACs per lane P for every row of the table): a dense layer,
the balanced layout at 50/75/90 % sparsity, and — the foil — the same array fed an *unstructured*
mask of equal sparsity, padded to its worst group (every group then costs as many cycles as the
fullest group of any row, the zeros included). Each configuration streams back-to-back vectors;
the cycles per vector are the steady-state distance between the last output beats of consecutive
vectors, read from the RTL trace (cycle stamps of the output monitor), and the run must also be
bit-exact and cycle-exact against the integer reference and the cycle model.

PE utilisation = useful MACs (non-zero weights) / (L × P × cycles per vector).

Run: ``.venv/bin/python bench/kernel_cycles.py`` (part of ``make bench``); about two minutes.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _doc import publish  # noqa: E402

from hwprune.backends.rtl.emit import emit_kernel  # noqa: E402
from hwprune.lower.cycles import EngineTiming  # noqa: E402
from hwprune.lower.engine_schedule import steady_state_interval  # noqa: E402
from hwprune.lower.kernel_spec import KernelSpec  # noqa: E402
from hwprune.prune.patterns.base import GroupLayout, pack_balanced  # noqa: E402
from hwprune.sim.golden import kernel_case, write_case  # noqa: E402
from hwprune.sim.rtl_runner import build_design, run_case  # noqa: E402
from hwprune.sim.vectors import random_spec, stimulus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HWPRUNE_CACHE_DIR", str(ROOT / ".venv" / ".hwprune-cache"))

IN_FEATURES, GROUP, OUT_FEATURES, LANES, MACS = 320, 20, 192, 4, 4
SPARSITIES = (0.5, 0.75, 0.9)
VECTORS = 4  # random vectors after the 4 edge-case vectors of stimulus()


def unstructured_foil(base: KernelSpec, sparsity: float, seed: int) -> tuple[KernelSpec, int]:
    """``base``'s weights under a random unstructured mask of the given sparsity, padded so every
    group keeps as many positions as the fullest group (padding positions carry weight 0).
    Returns the spec and its number of non-zero weights."""
    rng = np.random.default_rng(seed)
    rows, k = OUT_FEATURES, IN_FEATURES
    keep = round(rows * k * (1 - sparsity))
    mask = np.zeros(rows * k, dtype=bool)
    mask[rng.choice(rows * k, size=keep, replace=False)] = True
    mask = mask.reshape(rows, k)
    weights = rng.integers(-127, 128, size=(rows, k))
    weights[weights == 0] = 1
    weights = np.where(mask, weights, 0)
    groups = mask.reshape(rows, k // GROUP, GROUP)
    worst = int(groups.sum(axis=2).max())
    padded = groups.copy()
    for r in range(rows):
        for g in range(k // GROUP):
            missing = worst - int(padded[r, g].sum())
            if missing:
                free = np.flatnonzero(~padded[r, g])[:missing]
                padded[r, g, free] = True
    layout = GroupLayout(k, GROUP, worst)
    packed = pack_balanced(weights, padded.reshape(rows, k), layout)
    spec = dataclasses.replace(base, name=f"foil_{int(sparsity * 100)}", ident=f"foil_{int(sparsity * 100)}",
                               weights=packed, pattern="unstructured-padded", acc_bits=32)
    return spec, int(mask.sum())


def measure(spec: KernelSpec, useful: int, work: Path) -> dict[str, float | int | str]:
    """Build, run back-to-back vectors, and read cycles per vector from the RTL trace."""
    where = work / spec.ident
    design = emit_kernel(spec, where / "rtl")
    x = stimulus(spec, VECTORS, 1)
    case = kernel_case(spec, x, seed=1)
    case["arrivals"] = [0] * len(case["arrivals"])  # back-to-back source
    from hwprune.lower.engine_schedule import back_to_back, engine_schedule

    case["expected_cycles"] = engine_schedule(EngineTiming.of(spec), back_to_back(len(x), spec.in_features)).flat_outputs()
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj")
    result = run_case(path, design.top, where / "obj", tests=("timed",))
    if not result.passed:
        raise SystemExit(f"{spec.ident}: RTL run failed (see {result.log})")
    cycles = result.measured_cycles()
    last = [cycles[(v + 1) * spec.out_features - 1] for v in range(len(x))]
    interval = (last[-1] - last[1]) // (len(x) - 2)
    if interval != steady_state_interval(EngineTiming.of(spec)):
        raise SystemExit(f"{spec.ident}: measured {interval} cycles/vector, the model says otherwise")
    return {"cycles": interval, "useful": useful, "util": useful / (LANES * MACS * interval),
            "kept": spec.layout.kept_per_group}


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dense = random_spec(out_features=OUT_FEATURES, layout=GroupLayout(IN_FEATURES, GROUP, GROUP), lanes=LANES,
                            macs_per_lane=MACS, seed=1, pattern="dense")
        dense = dataclasses.replace(dense, ident="dense_ref", name="dense_ref")
        base = measure(dense, OUT_FEATURES * IN_FEATURES, work)
        rows.append(("dense", 0.0, base, 1.0))
        for s in SPARSITIES:
            kept = round(GROUP * (1 - s))
            spec = random_spec(out_features=OUT_FEATURES, layout=GroupLayout(IN_FEATURES, GROUP, kept), lanes=LANES,
                               macs_per_lane=MACS, seed=2, pattern="balanced")
            spec = dataclasses.replace(spec, ident=f"balanced_{int(s * 100)}", name=f"balanced_{int(s * 100)}")
            rows.append((f"balanced {kept}:{GROUP}", s, measure(spec, OUT_FEATURES * spec.layout.kept_per_row, work),
                         1 / (1 - s)))
            foil, nonzero = unstructured_foil(dense, s, seed=3)
            rows.append((f"unstructured, padded to worst group ({foil.layout.kept_per_group}:{GROUP})", s,
                         measure(foil, nonzero, work), 1 / (1 - s)))
    lines = [
        "## Sparse engine: cycles and PE utilisation (Verilator)",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/kernel_cycles.py`: one dense-kind kernel, "
        f"K = {IN_FEATURES} inputs in groups of {GROUP}, {OUT_FEATURES} outputs, L = {LANES} lanes × "
        f"P = {MACS} MACs per lane (the same array in every row), {VECTORS + 4} vectors streamed back to back; "
        "cycles per vector = steady-state distance between the last output beats of consecutive vectors in the "
        "RTL trace (every run also bit-exact with the integer reference and cycle-exact with the cycle model). "
        "Utilisation = useful (non-zero) MACs / (L × P × cycles).",
        "",
        "| configuration | sparsity | cycles / vector | speed-up vs dense | ideal 1/(1−s) | speed-up / ideal "
        "| PE utilisation |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s, m, ideal in rows:
        speedup = base["cycles"] / m["cycles"]  # type: ignore[operator]
        lines.append(f"| {name} | {s:.0%} | {m['cycles']} | {speedup:.2f}× | {ideal:.1f}× | {speedup / ideal:.2f} "
                     f"| {m['util']:.3f} |")
    lines += ["", "Targets: balanced speed-up ≥ 0.9 × 1/(1−s), balanced utilisation ≥ 0.98. The unstructured "
              "mask keeps the same number of weights but the array must provision every group for the "
              "fullest one, so its cycles follow the worst group, not the sparsity."]
    publish("kernel_cycles", lines)
    failed = [n for n, s, m, ideal in rows if n.startswith("balanced")
              and (base["cycles"] / m["cycles"] < 0.9 * ideal or m["util"] < 0.98)]  # type: ignore[operator]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

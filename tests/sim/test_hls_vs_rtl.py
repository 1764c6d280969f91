"""HLS C-sim against RTL simulation, directly, on identical vectors (docs/architecture.md §5.5).

Both backends are checked against the integer reference elsewhere; this file closes the triangle:
for every dense and conv kernel shape of the HLS suite, the values the Verilator-built RTL put on its
output stream equal, beat for beat, the values the g++-built HLS top wrote for the same inputs. One
HLS project holds every kernel as its own top (one g++ build per test process); each kernel's RTL is
built and replayed in its own test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.hls import write_hls
from hwprune.backends.rtl.emit import emit_kernel
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.sim.csim import run_csim, to_stream, write_vectors
from hwprune.sim.golden import kernel_case, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import kernel_reference, stimulus

from hls_cases import conv_specs, dense_specs

pytestmark = pytest.mark.sim

VECTORS = 60  # random vectors per kernel (plus stimulus()'s 4 edge cases); the full 200 run per backend
SPECS = dense_specs() + conv_specs()


def _params() -> list:
    """One kernel per (kind, pattern) in ``make test``, the rest of the HLS suite's shapes ``exhaustive``:
    each backend is checked against the integer reference on every shape elsewhere, so a shape here adds
    only the direct comparison."""
    seen: set[tuple[str, str]] = set()
    params = []
    for index, spec in enumerate(SPECS):
        first = (spec.kind, spec.pattern) not in seen
        seen.add((spec.kind, spec.pattern))
        params.append(pytest.param(index, id=spec.ident, marks=() if first else (pytest.mark.exhaustive,)))
    return params


def _inputs(index: int, spec: KernelSpec) -> np.ndarray:
    return stimulus(spec, VECTORS, seed=3000 + index)


@pytest.fixture(scope="module")
def hls_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Every kernel's C-sim output stream, from one HLS project built once."""
    project = write_hls(SPECS, None, "zcu102", tmp_path_factory.mktemp("hls-vs-rtl") / "hls")
    for index, spec in enumerate(SPECS):
        x = _inputs(index, spec)
        write_vectors(project.root, f"{spec.ident}_top", x, kernel_reference(spec, x))
    result = run_csim(project.root)
    assert result.passed, result.summary() + "\n" + "\n".join(result.failures)
    return {name: np.asarray(top.actual) for name, top in result.tops.items()}


def _rtl_output_stream(spec: KernelSpec, x: np.ndarray, where: Path) -> np.ndarray:
    """The values of every output beat the RTL produced (timed run: no backpressure)."""
    design = emit_kernel(spec, where / "rtl")
    path = write_case(kernel_case(spec, x, seed=0), where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj")
    result = run_case(path, design.top, where / "obj", tests=("timed",))
    assert result.passed and result.trace is not None, result.log.read_text()[-3000:]
    beats = json.loads(result.trace.read_text(encoding="utf-8"))["beats"]
    return np.array([int(value) for _, value in beats], dtype=np.int64)


def test_every_pattern_and_kind_is_compared() -> None:
    patterns = {"dense", "nm", "bank", "stochastic", "block-punched"}
    assert {s.pattern for s in SPECS if s.kind == "dense"} == patterns
    assert {s.pattern for s in SPECS if s.kind == "conv"} == patterns


@pytest.mark.parametrize("index", _params())
def test_hls_equals_rtl_on_the_same_vectors(index: int, hls_outputs: dict[str, np.ndarray],
                                            sim_root: Path) -> None:
    spec = SPECS[index]
    x = _inputs(index, spec)
    rtl = _rtl_output_stream(spec, x, sim_root / f"hls-vs-rtl-{spec.ident}")
    hls = hls_outputs[f"{spec.ident}_top"].reshape(-1)
    assert rtl.shape == hls.shape, (rtl.shape, hls.shape)
    mismatches = np.flatnonzero(rtl != hls)
    assert mismatches.size == 0, f"{mismatches.size} beats differ, first at {mismatches[0]}: " \
                                 f"RTL {rtl[mismatches[0]]} vs HLS {hls[mismatches[0]]}"
    np.testing.assert_array_equal(rtl, to_stream(kernel_reference(spec, x)).reshape(-1))

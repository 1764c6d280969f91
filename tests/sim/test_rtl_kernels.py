"""Every balanced pattern family × three shapes: the Verilator-built dot-product engine is bit-exact
with the integer reference and cycle-exact with the cycle model, on 200 random vectors plus the edge
cases (all zero, all max, all min, alternating), and bit-exact under random backpressure."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.sim.golden import kernel_case, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import random_spec, stimulus

from kernel_cases import DENSE_SHAPES, Shape

pytestmark = pytest.mark.sim

VECTORS = 200


def build_and_run(shape: Shape, root: Path, seed: int, single_kept_value: bool = False,
                  simulator: str = "verilator"):
    spec = random_spec(out_features=shape.out_features, layout=shape.layout, lanes=shape.lanes,
                       macs_per_lane=shape.macs, seed=seed, relu=shape.relu, in_type=shape.in_type,
                       pattern=shape.family, single_kept_value=single_kept_value)
    where = root / (shape.id + ("" if simulator == "verilator" else f"-{simulator}"))
    design = emit_kernel(spec, where / "rtl")
    case = kernel_case(spec, stimulus(spec, VECTORS, seed), seed=seed)
    assert len(case["expected"]) == (VECTORS + 4) * spec.out_features
    path = write_case(case, where / "case.json")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj", simulator)
    return run_case(path, design.top, where / "obj", simulator=simulator)


@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=lambda s: s.id)
def test_dense_kernel_bit_and_cycle_exact(shape: Shape, sim_root: Path) -> None:
    result = build_and_run(shape, sim_root, seed=sum(map(ord, shape.id)) % 1000)
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]


def test_single_kept_weight_saturates(sim_root: Path) -> None:
    """k = 1 with every kept weight at the maximum: the max-input edge case saturates the output."""
    shape = Shape("nm-single", 16, 4, 1, 6, 3, 2)
    result = build_and_run(shape, sim_root, seed=11, single_kept_value=True)
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]


@pytest.mark.parametrize("shape", [DENSE_SHAPES[2], DENSE_SHAPES[4], DENSE_SHAPES[11]], ids=lambda s: s.id)
def test_icarus_agrees_bit_and_cycle_exact(shape: Shape, sim_root: Path) -> None:
    """The second simulator: the same generated Verilog and testbench on Icarus Verilog, cycle checker
    included (several passes, a single kept weight per group, stalling passes)."""
    result = build_and_run(shape, sim_root, seed=sum(map(ord, shape.id)) % 1000, simulator="icarus")
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-4000:]
    assert (sim_root / f"{shape.id}-icarus" / "obj" / "sim.vvp").is_file()  # Icarus's compiled design

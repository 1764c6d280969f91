"""The testbench must catch a wrong expectation: one corrupted expected value, or one expected cycle
shifted by one, makes the replay fail (failure count from the results XML > 0), while the
untouched case passes on the same build."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwprune.backends.rtl.emit import emit_kernel
from hwprune.prune.patterns.base import GroupLayout
from hwprune.sim.golden import kernel_case, mutate_cycle, mutate_value, write_case
from hwprune.sim.rtl_runner import build_design, run_case
from hwprune.sim.vectors import random_spec, stimulus

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def built(sim_root: Path) -> tuple[dict, str, Path, Path]:
    spec = random_spec(out_features=6, layout=GroupLayout(16, 4, 2), lanes=3, macs_per_lane=2, seed=5)
    where = sim_root / "mutation"
    design = emit_kernel(spec, where / "rtl")
    build_design([where / "rtl" / name for name in design.verilog], design.top, where / "obj")
    return kernel_case(spec, stimulus(spec, 20, 5), seed=5), design.top, where, where / "obj"


def test_unmutated_case_passes(built) -> None:
    case, top, where, obj = built
    result = run_case(write_case(case, where / "good.json"), top, obj, tests=("timed",))
    assert result.tests == 1 and result.failures == 0


@pytest.mark.parametrize("index", [0, 37, -1])
def test_corrupted_value_fails(built, index: int) -> None:
    case, top, where, obj = built
    index = index % len(case["expected"])
    path = write_case(mutate_value(case, index), where / f"bad_value_{index}.json")
    result = run_case(path, top, obj, tests=("timed",))
    assert result.tests == 1 and result.failures > 0
    assert f"beat {index}: expected" in result.log.read_text()


@pytest.mark.parametrize("shift", [1, -1])
def test_shifted_cycle_fails(built, shift: int) -> None:
    case, top, where, obj = built
    path = write_case(mutate_cycle(case, 11, shift), where / f"bad_cycle_{shift}.json")
    result = run_case(path, top, obj, tests=("timed",))
    assert result.tests == 1 and result.failures > 0
    assert "beat 11: model says cycle" in result.log.read_text()


def test_corrupted_value_fails_under_backpressure(built) -> None:
    case, top, where, obj = built
    path = write_case(mutate_value(case, 5), where / "bad_value_bp.json")
    result = run_case(path, top, obj, tests=("backpressure",))
    assert result.tests == 1 and result.failures > 0
